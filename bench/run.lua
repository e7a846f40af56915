-- bench/run.lua: corun's benchmark harness (`make bench`).
--
--   lua5.4 bench/run.lua [-v] [name ...]
--
-- Runs the benchmark modules listed in BENCHES (bench/<name>.lua), or only
-- the ones named on the command line, and prints one table: each workload
-- measured under corun next to its floor (the same work done with plain
-- Lua 5.4 coroutines in the same process), the ratio, and the target.
--
-- Environment:
--   CORUN_BUILD        build directory holding lib/corun/core.so ("build");
--                      relative to the repository root
--   CORUN_BENCH_REPS   repetitions per measurement (5); medians are shown
--   CORUN_BENCH_SCALE  multiplies every task/iteration count (1); use e.g.
--                      0.1 for a quick smoke run (targets still printed)
--   CORUN_BENCH_STRICT if set to 1, exit with status 1 when a target is
--                      missed (by default the table is only informative)
--   -v                 also print every sample, the spread and the time
--                      each measurement took
--
-- A benchmark module returns function(H); it calls H.compare{...} once per
-- measurement (see below and bench/spawn.lua), always in the same order:
-- an isolated measurement re-runs the module in a child process, which
-- picks the measurement by its position.  Keep heavy work inside the
-- functions given to H.compare.  To add a module, write bench/<name>.lua
-- and append "<name>" to BENCHES.

local BENCHES = {
  "spawn",  -- spawn+await, memory per pending task, yield/resume switch
  "transfer",  -- spawn cost by upvalue kind, copy throughput of arguments
  "sync",  -- JoinSet spawn+join_next, Semaphore fan-out, channel ping-pong
}

-- The raw coroutine library, taken before corun is loaded: requiring corun
-- replaces coroutine.resume and coroutine.wrap with versions that let
-- corun's waits pass through, and the floors must use the standard ones.
local raw = {}
for k, v in pairs(coroutine) do raw[k] = v end

------------------------------------------------------------------------
-- Paths: the repository root is the parent of this file's directory.
local script = arg and arg[0] or "bench/run.lua"
local dir = script:match("^(.*)/[^/]*$") or "."
local root
if dir == "bench" then root = "."
else root = dir:match("^(.*)/bench$") or (dir .. "/..") end
local build = os.getenv("CORUN_BUILD") or "build"
if build:sub(1, 1) ~= "/" and root ~= "." then build = root .. "/" .. build end

package.path = table.concat({
  root .. "/lua/?.lua", root .. "/lua/?/init.lua", package.path }, ";")
package.cpath = build .. "/lib/?.so;" .. package.cpath

-- Measure this checkout's build, never an installed corun further along
-- the search paths.
local core_so = build .. "/lib/corun/core.so"
local f = io.open(core_so, "rb")
if not f then
  io.stderr:write("bench: ", core_so, " not found (run `make` first?)\n")
  os.exit(1)
end
f:close()

local ok, corun = pcall(require, "corun")
if not ok then
  io.stderr:write("bench: cannot load corun from ", build,
                  "/lib (run `make` first?):\n", tostring(corun), "\n")
  os.exit(1)
end

------------------------------------------------------------------------
-- Options.
local verbose, only, child = false, {}, nil
if arg and arg[1] == "--child" then
  -- internal: run one side of one measurement in this fresh process and
  -- print its values (see H.compare, spec.isolate)
  child = { bench = arg[2], index = tonumber(arg[3]), side = arg[4] }
else
  for _, a in ipairs(arg or {}) do
    if a == "-v" then verbose = true else only[#only + 1] = a end
  end
end
local reps = math.tointeger(tonumber(os.getenv("CORUN_BENCH_REPS") or "5"))
local scale = tonumber(os.getenv("CORUN_BENCH_SCALE") or "1")
assert(reps and reps >= 1, "CORUN_BENCH_REPS must be a positive integer")
assert(scale and scale > 0, "CORUN_BENCH_SCALE must be a positive number")

------------------------------------------------------------------------
-- The harness handed to every benchmark module.
local H = {
  corun = corun,
  raw = raw,          -- the standard coroutine functions
  now = corun.now,    -- wall clock (uv_hrtime), seconds; works outside run
  reps = reps,
  verbose = verbose,
}

-- A task/iteration count scaled by CORUN_BENCH_SCALE.
function H.count(n)
  return math.max(1, math.floor(n * scale + 0.5))
end

-- Full collection; twice, so that objects with finalizers (join handles)
-- are freed and not only finalized.
function H.gc()
  collectgarbage("collect")
  collectgarbage("collect")
end

-- { rss = bytes, hwm = bytes, lua = bytes of Lua heap } of this process.
function H.mem()
  local m = { lua = collectgarbage("count") * 1024 }
  local f = io.open("/proc/self/status", "r")
  if f then
    for line in f:lines() do
      local k, v = line:match("^(Vm%u%u%u):%s*(%d+) kB")
      if k == "VmRSS" then m.rss = tonumber(v) * 1024
      elseif k == "VmHWM" then m.hwm = tonumber(v) * 1024 end
    end
    f:close()
  end
  return m
end

-- Reset VmHWM to the current RSS (Linux: "5" > /proc/self/clear_refs).
-- Returns false when that is not possible; VmHWM is then the process's
-- peak so far.
function H.reset_peak()
  local f = io.open("/proc/self/clear_refs", "w")
  if not f then return false end
  local okw = f:write("5")
  return f:close() and okw ~= nil
end

local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) // 2] end
  return (s[n // 2] + s[n // 2 + 1]) / 2
end
H.median = median

------------------------------------------------------------------------
-- Results and printing.
local rows = {}

local function fmt(v, unit)
  if v == nil then return "-" end
  local s
  if v >= 100 then s = string.format("%.0f", v)
  elseif v >= 10 then s = string.format("%.1f", v)
  else s = string.format("%.2f", v) end
  return s .. " " .. unit
end

local function target_text(row)
  local t = row.target
  if not t then return "", "" end
  if t.corun then
    return string.format("corun <= %g %s", t.corun, row.unit),
           row.corun <= t.corun and "ok" or "MISS"
  elseif t.ratio then
    return string.format("ratio <= %gx", t.ratio),
           (row.ratio and row.ratio <= t.ratio) and "ok" or "MISS"
  end
  return "", ""
end

local COLS = { 44, 14, 14, 6, 20 }
local function line(cells)
  local out = {}
  for i, c in ipairs(cells) do
    local w = COLS[i]
    if w then
      if i == 1 then out[i] = c .. string.rep(" ", w - #c)
      else out[i] = string.rep(" ", w - #c) .. c end
    else out[i] = c end
  end
  return (table.concat(out, "  "):gsub("%s+$", ""))
end

local function print_header()
  print(line { "workload", "corun", "floor", "c/f", "target", "" })
  print(line { string.rep("-", COLS[1]), string.rep("-", COLS[2]),
               string.rep("-", COLS[3]), string.rep("-", COLS[4]),
               string.rep("-", COLS[5]), "----" })
end

local function print_row(row)
  local ttext, status = target_text(row)
  print(line { row.workload, fmt(row.corun, row.unit), fmt(row.floor, row.unit),
               row.ratio and string.format("%.2fx", row.ratio) or "-",
               ttext, status })
end

local function samples_text(t, unit)
  local s = {}
  for i, v in ipairs(t) do s[i] = string.format("%.1f", v) end
  local lo, hi = math.min(table.unpack(t)), math.max(table.unpack(t))
  local m = median(t)
  return string.format("%s %s  (spread %.0f%%)", table.concat(s, " "), unit,
                       m ~= 0 and (hi - lo) / m * 100 or 0)
end

--[[
H.compare(spec): run spec.corun() and spec.floor() spec.reps (H.reps)
times, alternating, with a full GC before each run, and record the
medians.  Each function returns one number per row (ns, bytes...), timed
or measured by the function itself around its workload only.
  spec.rows = { { workload = "...", unit = "ns/task",
                  target = { corun = 300 } | { ratio = 1.5 } | nil }, ... }
  (or workload/unit/target directly in spec for a single row)
  spec.floor may be nil: the row then has no floor and no ratio.
  spec.isolate = true runs every sample in a fresh process (for memory
  figures: a process that has already freed memory reuses it without its
  RSS growing).  The child re-runs this module with the same H.count
  scale and only runs the one side of the one measurement.
]]
local compare_index = 0  -- H.compare calls so far in the current module
local current_bench      -- its name

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- The interpreter running this file (arg[-1] onwards, up to arg[0]).
local function interpreter()
  local i = -1
  while arg[i - 1] ~= nil do i = i - 1 end
  local parts = {}
  for j = i, -1 do parts[#parts + 1] = shell_quote(arg[j]) end
  return #parts > 0 and table.concat(parts, " ") or "lua5.4"
end

local function run_child(index, side)
  local cmd = string.format("%s %s --child %s %d %s", interpreter(),
                            shell_quote(script), shell_quote(current_bench),
                            index, side)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local okc, how, code = p:close()
  if not okc then
    error(string.format("bench: child failed (%s %s): %s", how, code, cmd))
  end
  return out
end

function H.compare(spec)
  local defs = spec.rows or { { workload = spec.workload, unit = spec.unit,
                                target = spec.target } }
  compare_index = compare_index + 1
  if child then
    if compare_index == child.index then
      H.gc()
      local out = table.pack(spec[child.side]())
      for i = 1, out.n do out[i] = string.format("%.17g", out[i]) end
      print(table.concat(out, " "))
      os.exit(0)
    end
    return
  end
  local cs, fs = {}, {}
  for i = 1, #defs do cs[i], fs[i] = {}, {} end
  local function record(into, ...)
    local n = select("#", ...)
    assert(n >= #defs, "benchmark function returned too few values")
    for i = 1, #defs do into[i][#into[i] + 1] = (select(i, ...)) end
  end
  local function run_side(side)
    if not spec.isolate then
      H.gc()
      return spec[side]()
    end
    local values = {}
    for v in run_child(compare_index, side):gmatch("%S+") do
      values[#values + 1] = tonumber(v)
    end
    return table.unpack(values)
  end
  local started = H.now()
  for _ = 1, spec.reps or H.reps do
    record(cs, run_side("corun"))
    if spec.floor then record(fs, run_side("floor")) end
  end
  H.gc()
  local took = H.now() - started
  for i, d in ipairs(defs) do
    local row = { workload = d.workload, unit = d.unit, target = d.target,
                  corun = median(cs[i]) }
    if spec.floor then
      row.floor = median(fs[i])
      if row.floor > 0 then row.ratio = row.corun / row.floor end
    end
    rows[#rows + 1] = row
    print_row(row)
    if verbose then
      print("    corun: " .. samples_text(cs[i], d.unit))
      if spec.floor then print("    floor: " .. samples_text(fs[i], d.unit)) end
      if i == #defs then print(string.format("    (%.1f s)", took)) end
    end
    io.stdout:flush()
  end
end

------------------------------------------------------------------------
-- Run.
local selected = {}
if #only > 0 then
  local known = {}
  for _, name in ipairs(BENCHES) do known[name] = true end
  for _, name in ipairs(only) do
    if not known[name] then
      io.stderr:write("bench: unknown benchmark '", name, "' (known: ",
                      table.concat(BENCHES, ", "), ")\n")
      os.exit(2)
    end
    selected[#selected + 1] = name
  end
else
  selected = BENCHES
end

if child then
  current_bench = child.bench
  assert(loadfile(root .. "/bench/" .. child.bench .. ".lua"))()(H)
  error("bench: child: no measurement " .. tostring(child.index))
end

print(string.format("corun %s (%s), %s; %d repetitions, medians; scale %g",
                    corun.version, core_so, _VERSION, reps, scale))
print_header()
local t0 = corun.now()
for _, name in ipairs(selected) do
  current_bench, compare_index = name, 0
  local bench = assert(loadfile(root .. "/bench/" .. name .. ".lua"))()
  bench(H)
end
local misses = 0
for _, row in ipairs(rows) do
  local _, status = target_text(row)
  if status == "MISS" then misses = misses + 1 end
end
print(string.format("%d measurement(s), %d target(s) missed, %.1f s",
                    #rows, misses, corun.now() - t0))
if misses > 0 and os.getenv("CORUN_BENCH_STRICT") == "1" then os.exit(1) end
