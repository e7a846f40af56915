-- bench/http/run.lua: corun's HTTP client next to curl --parallel and
-- lua-http, against a local nginx started here (bench/http/nginx.lua),
-- in one run.
--   lua5.4 bench/http/run.lua [-r REPS] [-n N]
-- Rows: N GETs of a 13-byte file over HTTPS (HTTP/2 where the client
-- speaks it, keep-alive otherwise) and over plain HTTP (keep-alive);
-- medians of REPS (default 5) runs, each in a fresh process.  corun runs
-- build/corun bench/http/corun_client.lua (the default client: 8
-- connections per host, HTTP/2 multiplexed); curl runs `curl --parallel
-- --parallel-max 8`; lua-http makes 8 requests at a time, a connection
-- each (it pools none).  Last row: corun's peak memory per queued request
-- with 10 000 requests queued.
-- Targets (issue 16): HTTPS median <= 0.3 s and >= 10x faster than
-- lua-http; plain HTTP <= 0.25 s; <= 16 KiB per queued request.

local reps, n = 5, 1000
do
  local i = 1
  while arg[i] do
    if arg[i] == "-r" then reps, i = tonumber(arg[i + 1]), i + 1
    elseif arg[i] == "-n" then n, i = tonumber(arg[i + 1]), i + 1 end
    i = i + 1
  end
end
local build = os.getenv("CORUN_BUILD") or "build"
local corun = build .. "/corun"

local function wall()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("a"))
  p:close()
  return t
end

local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  assert(ok, cmd .. ":\n" .. out)
  return out
end

local function median(t)
  table.sort(t)
  return t[(#t + 1) // 2]
end

local nginx = dofile("bench/http/nginx.lua").start { workers = 1 }
local ok, err = pcall(function()
  local conf = nginx.dir .. "/urls"
  local function curl_conf(base)
    local f = assert(io.open(conf, "w"))
    for _ = 1, n do
      f:write(('url = "%s/hello"\noutput = "/dev/null"\n'):format(base))
    end
    f:close()
  end
  local rows = {}
  local function measure(name, what, fn)
    local samples = {}
    for r = 1, reps do samples[r] = fn() end
    rows[#rows + 1] = { name, what, median(samples) }
  end
  for _, proto in ipairs { "https", "http" } do
    local base = nginx[proto]
    local ca = proto == "https" and nginx.ca or "-"
    measure("corun", proto, function()
      return tonumber(run(("%s bench/http/corun_client.lua get %s/hello %s %d")
                          :format(corun, base, ca, n)))
    end)
    measure("curl --parallel", proto, function()
      curl_conf(base)
      local t0 = wall()
      run(("curl -s --parallel --parallel-max 8 %s -K %s"):format(
          proto == "https" and "--http2 --cacert " .. nginx.ca or "", conf))
      return wall() - t0
    end)
    measure("lua-http", proto, function()
      return tonumber(run(("lua5.4 bench/http/luahttp_client.lua %s/hello %s %d 8")
                          :format(base, ca, n)))
    end)
  end
  local mem = tonumber(run(("%s bench/http/corun_client.lua queued %s/hello %s 10000")
                           :format(corun, nginx.https, nginx.ca)))
  print(("%d GETs of a 13-byte file against nginx (1 worker), median of %d runs")
        :format(n, reps))
  print(("%-16s %-6s %10s %10s"):format("client", "proto", "seconds", "vs corun"))
  local corun_t = {}
  for _, r in ipairs(rows) do
    if r[1] == "corun" then corun_t[r[2]] = r[3] end
  end
  for _, r in ipairs(rows) do
    print(("%-16s %-6s %10.3f %9.1fx"):format(r[1], r[2], r[3],
          r[3] / corun_t[r[2]]))
  end
  print(("corun: %.0f bytes of peak memory per queued request (10 000 queued)")
        :format(mem))
end)
nginx.stop()
assert(ok, err)
