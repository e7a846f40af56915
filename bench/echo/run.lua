-- bench/echo/run.lua: echo throughput, corun next to the same server
-- written with raw luv callbacks (`make bench` runs it after bench/run.lua).
--
--   lua5.4 bench/echo/run.lua [-s SECONDS] [-r REPS] [-c CONNECTIONS] [-v]
--
-- Two workloads, each with CONNECTIONS (100) concurrent connections doing
-- request/reply in a closed loop (send one message, wait for its echo,
-- send the next):
--   64 B messages     requests/s
--   16 KiB messages   MB/s of echoed payload (MB = 10^6 bytes)
-- Each server runs REPS times (3) per workload for SECONDS (2) each, the
-- two alternating (corun, luv, corun, luv, ...), every run in a fresh
-- server process; the table shows the medians and the ratio luv/corun of
-- the throughputs, i.e. corun's time per request over luv's (above 1:
-- corun is slower).  Target: at most 1.3x.  Under each workload, without
-- a target: the server process's CPU time (user + system, /proc/<pid>/stat)
-- per request while the client ran, corun over luv; it depends much less
-- on the machine's noise than the throughput.  -v prints every sample.
--
-- The servers (bench/echo/server_corun.lua under build/corun, and
-- bench/echo/server_luv.lua under this Lua interpreter with lua-luv) print
-- `ready <port> <pid>` once they listen; the load generator is
-- build/bench/echo-client (bench/echo/client.c), a separate process in C
-- on libuv, the same for both.
--
-- Environment:
--   CORUN_BUILD        build directory holding corun and bench/echo-client
--                      ("build"); relative to the repository root
--   CORUN_BENCH_STRICT if set to 1, exit with status 1 when the target is
--                      missed

local TARGET = 1.3
local WORKLOADS = {
  { name = "64 B messages", bytes = 64, unit = "req/s",
    value = function(r) return r.requests / r.seconds end },
  { name = "16 KiB messages", bytes = 16384, unit = "MB/s",
    value = function(r) return r.bytes / r.seconds / 1e6 end },
}

local seconds, reps, conns, verbose = 2, 3, 100, false
do
  local function usage()
    io.stderr:write("usage: lua5.4 bench/echo/run.lua [-s SECONDS] "
                    .. "[-r REPS] [-c CONNECTIONS] [-v]\n")
    os.exit(2)
  end
  local i = 1
  while i <= #arg do
    local a, v = arg[i], tonumber(arg[i + 1])
    if a == "-s" and v and v > 0 then seconds = v i = i + 1
    elseif a == "-r" and math.tointeger(v) and v > 0 then reps = v i = i + 1
    elseif a == "-c" and math.tointeger(v) and v > 0 then conns = v i = i + 1
    elseif a == "-v" then verbose = true
    else usage() end
    i = i + 1
  end
end

------------------------------------------------------------------------
-- Paths: the repository root is two levels above this file.
local script = arg and arg[0] or "bench/echo/run.lua"
local dir = script:match("^(.*)/[^/]*$") or "."
local root = dir .. "/../.."
local build = os.getenv("CORUN_BUILD") or "build"
if build:sub(1, 1) ~= "/" then build = root .. "/" .. build end
local lua = "lua5.4"                 -- the interpreter running this script
for i = -1, -math.huge, -1 do
  if arg[i] == nil then break end
  lua = arg[i]
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local function need(path, how)
  local f = io.open(path, "rb")
  if not f then
    io.stderr:write("bench/echo: ", path, " not found (", how, ")\n")
    os.exit(1)
  end
  f:close()
end

local client = build .. "/bench/echo-client"
need(build .. "/corun", "run `make` first")
need(client, "run `make " .. build .. "/bench/echo-client` first")

local SERVERS = {
  { name = "corun",
    cmd = "exec " .. q(build .. "/corun") .. " "
          .. q(dir .. "/server_corun.lua") },
  { name = "luv",
    cmd = "exec " .. q(lua) .. " " .. q(dir .. "/server_luv.lua") },
}

------------------------------------------------------------------------
-- One run: a fresh server, the client against it; returns the client's
-- { requests =, bytes =, seconds = } and the server's CPU time (user +
-- system) while the client ran, in seconds, or raises.

local TICK = 1 / 100                 -- /proc clock tick, CLK_TCK
do
  local g = io.popen("getconf CLK_TCK 2>/dev/null")
  if g then TICK = 1 / (tonumber(g:read("l")) or 100) g:close() end
end

local function cpu_time(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return nil end
  local stat = f:read("a")
  f:close()
  local fields = {}
  for v in stat:match("%)%s+(.*)$"):gmatch("%S+") do fields[#fields + 1] = v end
  return (tonumber(fields[12]) + tonumber(fields[13])) * TICK
end

local function run(server, bytes)
  local p = assert(io.popen(server.cmd, "r"))
  local line = p:read("l")
  local port, pid = (line or ""):match("^ready (%d+) (%d+)$")
  if not port then
    p:close()
    error(("%s server did not start (it printed %q)"):format(server.name,
                                                              line), 0)
  end
  local cpu0 = cpu_time(pid)
  local c = assert(io.popen(("%s %s %d %d %s 2>&1"):format(q(client), port,
    conns, bytes, tostring(seconds))))
  local out = c:read("a")
  local ok = c:close()
  local cpu1 = cpu_time(pid)
  os.execute("kill " .. pid)
  p:close()
  local r = {}
  r.requests, r.bytes, r.seconds = out:match(
    "^requests (%d+) bytes (%d+) seconds ([%d.]+)\n$")
  if not ok or not r.requests then
    error(("echo-client against the %s server failed:\n%s"):format(
      server.name, out), 0)
  end
  for k, v in pairs(r) do r[k] = tonumber(v) end
  return r, cpu0 and cpu1 and cpu1 - cpu0
end

local function median(list)
  local s = {}
  for i, v in ipairs(list) do s[i] = v end
  table.sort(s)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) // 2] end
  return (s[n // 2] + s[n // 2 + 1]) / 2
end

local function fmt(v, unit)
  local s = v >= 1000 and ("%.0f"):format(v)
            or v >= 10 and ("%.1f"):format(v) or ("%.2f"):format(v)
  return s .. " " .. unit
end

------------------------------------------------------------------------
print(("echo throughput: %d connections, %g s per run, %d runs per "
       .. "server, medians; client and server in separate processes")
      :format(conns, seconds, reps))
local started = os.time()
local rows, misses = {}, 0
for _, w in ipairs(WORKLOADS) do
  local samples, cpu = {}, {}
  for _, s in ipairs(SERVERS) do samples[s.name], cpu[s.name] = {}, {} end
  for i = 1, reps do
    for _, s in ipairs(SERVERS) do
      local r, t = run(s, w.bytes)
      local v = w.value(r)
      table.insert(samples[s.name], v)
      if t then table.insert(cpu[s.name], t / r.requests * 1e6) end
      if verbose then
        print(("  %-16s %-6s run %d: %s, server CPU %s"):format(w.name,
          s.name, i, fmt(v, w.unit),
          t and fmt(t / r.requests * 1e6, "us/req") or "?"))
        io.stdout:flush()
      end
    end
  end
  local c, l = median(samples.corun), median(samples.luv)
  local ratio = l / c
  if ratio > TARGET then misses = misses + 1 end
  rows[#rows + 1] = { w.name, fmt(c, w.unit), fmt(l, w.unit),
                      ("%.2fx"):format(ratio),
                      ratio <= TARGET and "ok" or "MISS" }
  if #cpu.corun == reps and #cpu.luv == reps then
    c, l = median(cpu.corun), median(cpu.luv)
    rows[#rows + 1] = { "  server CPU", fmt(c, "us/req"), fmt(l, "us/req"),
                        ("%.2fx"):format(c / l), "" }
  end
end

local head = { "workload", "corun", "luv", "luv/corun",
               ("<= %.1fx"):format(TARGET) }
local fmtrow = "%-18s  %14s  %14s  %9s  %8s"
print(fmtrow:format(table.unpack(head)))
print(fmtrow:format(("-"):rep(18), ("-"):rep(14), ("-"):rep(14),
                    ("-"):rep(9), ("-"):rep(8)))
for _, r in ipairs(rows) do
  print((fmtrow:format(table.unpack(r)):gsub("%s+$", "")))
end
print(("(luv/corun: luv's throughput over corun's, i.e. corun's time per "
       .. "request over luv's;\n server CPU: the server process's user + "
       .. "system time per request, corun over luv;\n above 1: corun is "
       .. "slower.  %d s)"):format(os.time() - started))
if misses > 0 and os.getenv("CORUN_BENCH_STRICT") == "1" then os.exit(1) end
