-- bench/http/corun_client.lua: corun's side of the HTTP client benchmark.
--   corun bench/http/corun_client.lua get URL CA N       -> "<seconds>"
--   corun bench/http/corun_client.lua queued URL CA N    -> "<bytes per request>"
-- get: N GETs of URL at once (one task each, the default client: its
-- connection pool and HTTP/2 multiplexing), timed from the first spawn to
-- the last answer; every answer is checked (status 200, body).
-- queued: the growth of the peak RSS per request while N requests are
-- spawned and queued (the client allows 8 connections to the host).
local corun = require "corun"
local mode, url, ca, n = arg[1], arg[2], arg[3], tonumber(arg[4] or "1000")
if ca == "-" then ca = nil end

local function status_kb(field)
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("a")
  f:close()
  return tonumber(s:match(field .. ":%s*(%d+) kB"))
end

if mode == "get" then
  local t0 = corun.now()
  local set = corun.JoinSet()
  for _ = 1, n do
    set:spawn(function(url, ca)
      local resp, err = corun.http.get(url, { ca_file = ca })
      assert(resp, err)
      assert(resp.status == 200, resp.status)
      return #resp.body
    end, url, ca)
  end
  local got = 0
  while true do
    local ok, len = set:join_next()
    if ok == nil then break end
    assert(ok, len)
    got = got + 1
  end
  assert(got == n)
  print(("%.4f"):format(corun.now() - t0))
elseif mode == "queued" then
  collectgarbage()
  local f = io.open("/proc/self/clear_refs", "w")
  if f then f:write("5") f:close() end
  local before = status_kb("VmRSS")
  local set = corun.JoinSet()
  for _ = 1, n do
    set:spawn(function(url, ca) return corun.http.get(url, { ca_file = ca }) end,
              url, ca)
  end
  corun.yield_now()  -- every task starts its request
  corun.yield_now()
  local peak = status_kb("VmHWM")
  print(("%.0f"):format((peak - before) * 1024 / n))
  set:shutdown()
else
  io.stderr:write("usage: corun_client.lua get|queued URL CA|- N\n")
  os.exit(2)
end
