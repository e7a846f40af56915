-- bench/peers/run.lua: corun next to its peers on the workloads W1..W6.
--
--   lua5.4 bench/peers/run.lua [-r REPS] [-s SCALE] [-v] [W1 W4 ...]
--
-- Each system runs each workload REPS times (default 3), every run in a
-- fresh process, the systems alternating (corun, tokio, cqueues, luv,
-- floor, corun, ...).  The table shows the medians and each system's ratio
-- to corun (below 1: faster or smaller than corun).  SCALE (default 1)
-- multiplies every N.  -v prints every sample.
--
-- Systems: corun_peer.lua, the Tokio peer (bench/peers/tokio/target/release/
-- tokio-peer, only if it has been built), cqueues_peer.lua (lua-cqueues),
-- luv_peer.lua (lua-luv, with its own small scheduler), floor_peer.lua
-- (raw coroutines) and, for W1 only, apifloor_peer.lua (the least a C
-- module can do per task: build/bench/apifloor.so, if built).  Each is run as `<program> W N` and prints one line
-- `W <value> <unit> [<value> <unit>]`.
--
-- The workloads (N at scale 1):
--   W1 spawn N=1 000 000 tasks returning an integer, await each handle in
--      spawn order; ns/task
--   W2 the same through a JoinSet (or the system's equivalent), collected
--      in completion order, N=200 000; ns/task
--   W3 N=100 000 tasks each sleeping 0.1 s concurrently: wall time over
--      0.1 s (ms), and peak RSS growth per task (B/task)
--   W4 ping-pong: 1 000 000 one-way hand-offs between two tasks over
--      channels; ns/msg
--   W5 200 000 tasks behind a semaphore of 64 permits, each yielding once
--      while it holds its permit; ns/task
--   W6 100 000 tasks parked on a wait: peak RSS growth per task (B/task)

local script = arg and arg[0] or "bench/peers/run.lua"
local dir = script:match("^(.*)/[^/]*$") or "."

local reps, scale, verbose, only = 3, 1, false, {}
do
  local i = 1
  while i <= #arg do
    local a = arg[i]
    if a == "-r" then reps = assert(math.tointeger(tonumber(arg[i + 1])), "-r REPS") i = i + 1
    elseif a == "-s" then scale = assert(tonumber(arg[i + 1]), "-s SCALE") i = i + 1
    elseif a == "-v" then verbose = true
    elseif a:match("^W%d$") then only[#only + 1] = a
    else
      io.stderr:write("usage: lua5.4 bench/peers/run.lua [-r REPS] [-s SCALE] [-v] [W1 ...]\n")
      os.exit(2)
    end
    i = i + 1
  end
end

local DEFAULT_N = { W1 = 1000000, W2 = 200000, W3 = 100000, W4 = 1000000,
                    W5 = 200000, W6 = 100000 }
local ALL = { "W1", "W2", "W3", "W4", "W5", "W6" }
local workloads = #only > 0 and only or ALL

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end
local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local systems = {}
local function add(name, cmd) systems[#systems + 1] = { name = name, cmd = cmd } end
add("corun", "lua5.4 " .. q(dir .. "/corun_peer.lua"))
local tokio = dir .. "/tokio/target/release/tokio-peer"
if exists(tokio) then add("tokio", q(tokio)) end
add("cqueues", "lua5.4 " .. q(dir .. "/cqueues_peer.lua"))
add("luv", "lua5.4 " .. q(dir .. "/luv_peer.lua"))
add("floor", "lua5.4 " .. q(dir .. "/floor_peer.lua"))
if exists(dir .. "/../../build/bench/apifloor.so") then
  add("apifloor", "lua5.4 " .. q(dir .. "/apifloor_peer.lua"))
end

-- Runs one sample; returns { [unit] = value, ... }, or nil and why.
local function sample(sys, w, n)
  local cmd = string.format("%s %s %d 2>&1", sys.cmd, w, n)
  local p = io.popen(cmd, "r")
  local text = p:read("a")
  local ok = p:close()
  local line
  for l in text:gmatch("[^\n]+") do
    if l:sub(1, #w + 1) == w .. " " then line = l end
  end
  if not ok or not line then
    return nil, (text:gsub("%s+$", ""):match("[^\n]*$"))
  end
  if line:match("n/a") then return {}, "n/a" end
  local m = {}
  for v, unit in line:sub(#w + 2):gmatch("(%-?[%d.]+)%s+(%S+)") do m[unit] = tonumber(v) end
  return m
end

local function median(t)
  if #t == 0 then return nil end
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local k = #s
  if k % 2 == 1 then return s[(k + 1) // 2] end
  return (s[k // 2] + s[k // 2 + 1]) / 2
end

-- rows: one per (workload, unit)
local rows = {}
local t_start = os.time()
for _, w in ipairs(workloads) do
  local n = math.max(2, math.floor(DEFAULT_N[w] * scale + 0.5))
  local units = w == "W3" and { "ms", "B/task" }
             or w == "W4" and { "ns/msg" }
             or w == "W6" and { "B/task" } or { "ns/task" }
  local samples, notes = {}, {}     -- samples[unit][sys] = { ... }
  for _, u in ipairs(units) do samples[u] = {} end
  for r = 1, reps do
    for _, sys in ipairs(systems) do
      local m, why = sample(sys, w, n)
      if not m then notes[sys.name] = why or "failed"
      elseif why == "n/a" then notes[sys.name] = "n/a"
      end
      for _, u in ipairs(units) do
        local list = samples[u][sys.name] or {}
        samples[u][sys.name] = list
        if m and m[u] then list[#list + 1] = m[u] end
      end
      if verbose then
        local parts = {}
        for _, u in ipairs(units) do
          parts[#parts + 1] = (m and m[u]) and string.format("%g %s", m[u], u) or (why or "?")
        end
        io.stderr:write(string.format("  %s N=%d rep %d %-8s %s\n", w, n, r, sys.name,
                                      table.concat(parts, ", ")))
      end
    end
  end
  for _, u in ipairs(units) do
    local label = w .. (w == "W3" and (u == "ms" and " overhead" or " memory") or "")
    local row = { label = string.format("%s N=%d", label, n), unit = u, cells = {} }
    for _, sys in ipairs(systems) do
      row.cells[sys.name] = { med = median(samples[u][sys.name]), note = notes[sys.name] }
    end
    rows[#rows + 1] = row
  end
end

-- The table.
local head = { string.format("%-22s %-7s", "workload", "unit") }
for _, sys in ipairs(systems) do head[#head + 1] = string.format("%18s", sys.name) end
print(table.concat(head, " "))
print(string.rep("-", #table.concat(head, " ")))
local function fmt(v)
  if math.abs(v) >= 100 then return string.format("%.0f", v) end
  return string.format("%.3g", v)
end
for _, row in ipairs(rows) do
  local base = row.cells.corun.med
  local line = { string.format("%-22s %-7s", row.label, row.unit) }
  for _, sys in ipairs(systems) do
    local c = row.cells[sys.name]
    local s
    if c.med == nil then s = c.note == "n/a" and "n/a" or "failed"
    elseif sys.name == "corun" or not base or base == 0 then s = fmt(c.med)
    else s = string.format("%s (%.2fx)", fmt(c.med), c.med / base) end
    line[#line + 1] = string.format("%18s", s)
  end
  print(table.concat(line, " "))
end
print(string.format("medians of %d runs per cell, each in a fresh process; " ..
  "(x) = ratio to corun; scale %g; %d s", reps, scale, os.time() - t_start))
for _, row in ipairs(rows) do
  for _, sys in ipairs(systems) do
    local c = row.cells[sys.name]
    if c.note and c.note ~= "n/a" then
      io.stderr:write(string.format("%s %s: %s\n", row.label, sys.name, c.note))
    end
  end
end
