-- health-check.lua: the lesson's fan-out health check, for real.  It starts
-- three small HTTP servers on loopback (one healthy, one too slow, and one
-- address where nothing listens), then checks the three endpoints at once,
-- each with its own deadline, and prints UP or DOWN for each.
-- Rust -> corun:
--   tokio::spawn(check(url))                  -> set:spawn(check, endpoint)
--   tokio::time::timeout(d, client.get(url))  -> corun.timeout(d, http_get, ..)
--   join_all(handles).await                   -> set:join_next() in a loop
-- Run it with: build/corun examples/health-check.lua
local corun = require "corun"

local DEADLINE = 0.5   -- seconds each check may take

-- A tiny HTTP/1.0 server: answers every request after 'delay' seconds.
local function http_server(delay)
  local server = assert(corun.net.listen("127.0.0.1", 0))
  local _, port = server:address()
  corun.spawn(function(server, delay)
    while true do
      local conn = server:accept()
      if not conn then return end
      corun.spawn(function(conn)
        repeat local line = conn:read_line() until line == nil or line == ""
        corun.sleep(delay)
        conn:write("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
        conn:close()
      end, conn)
    end
  end, server, delay)
  return port
end

-- A port where nothing listens: bound once, then closed.
local function closed_port()
  local server = assert(corun.net.listen("127.0.0.1", 0))
  local _, port = server:address()
  server:close()
  return port
end

-- GET http://host:port/path; returns the status line, or nil and why.
local function http_get(host, port, path)
  local conn, err = corun.net.connect(host, port)
  if not conn then return nil, err end
  local ok, werr = conn:write(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n")
                              :format(path, host))
  if not ok then conn:close() return nil, werr end
  local status, rerr = conn:read_line()
  conn:close()
  if not status then return nil, rerr or "connection closed early" end
  return status
end

local endpoints = {
  { name = "healthy", port = http_server(0) },
  { name = "slow", port = http_server(2) },
  { name = "down", port = closed_port() },
}

local function check(e)
  local started = corun.now()
  local ok, status, err = corun.timeout(DEADLINE, http_get, "127.0.0.1",
                                        e.port, "/health")
  local ms = (corun.now() - started) * 1000
  if not ok then
    return ("DOWN (no answer within %.1f s)"):format(DEADLINE)
  elseif not status then
    return ("DOWN (%s)"):format(err)
  elseif status:match("^HTTP/1%.%d 2%d%d") then
    return ("UP (%s, %.0f ms)"):format(status, ms)
  end
  return ("DOWN (%s)"):format(status)
end

local started = corun.now()
local set = corun.JoinSet()
local results = {}
for i, e in ipairs(endpoints) do
  set:spawn(function(i, e) return i, check(e) end, i, e)
end
while true do
  local ok, i, verdict = set:join_next()
  if ok == nil then break end
  results[i] = verdict
end
for i, e in ipairs(endpoints) do
  print(("%-8s http://127.0.0.1:%d/health  %s"):format(e.name, e.port,
                                                       results[i]))
end
print(("checked %d endpoints in %.2f s"):format(#endpoints,
                                               corun.now() - started))
