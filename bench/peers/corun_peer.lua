-- bench/peers/corun_peer.lua: corun's side of the peer benchmarks (W1..W6).
--
--   lua5.4 bench/peers/corun_peer.lua W1 [N]
--
-- Runs ONE workload and prints one line: `W1 <ns> ns/task`, ... (see
-- bench/peers/run.lua for the workloads).  Time is taken with corun.now()
-- (uv_hrtime) around the workload only; memory is VmHWM after minus VmRSS
-- before (VmHWM reset first through /proc/self/clear_refs), over N.
-- lua/ and build/lib/ are found from this file's location.

local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local root = dir .. "/../.."
package.path = table.concat({ root .. "/lua/?.lua", root .. "/lua/?/init.lua",
  package.path }, ";")
package.cpath = root .. "/build/lib/?.so;" .. package.cpath
do
  local f = io.open(root .. "/build/lib/corun/core.so", "rb")
  if not f then
    io.stderr:write("corun_peer: ", root, "/build/lib/corun/core.so not found (run make)\n")
    os.exit(1)
  end
  f:close()
end

local corun = require "corun"
local now = corun.now

local common = dofile(((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".")
                      .. "/common.lua")
local W, N = common.workload("corun_peer")

local mem_begin, mem_peak = common.mem_begin, common.mem_peak

local function task(i) return i end

local out
local workloads = {}

function workloads.W1()
  corun.run(function()
    local hs, sum = {}, 0
    local t0 = now()
    for i = 1, N do hs[i] = corun.spawn(task, i) end
    for i = 1, N do
      local ok, v = hs[i]:await()
      hs[i] = nil
      sum = sum + v
    end
    local dt = now() - t0
    assert(sum == N * (N + 1) // 2, "W1: wrong sum")
    out = string.format("W1 %.1f ns/task", dt * 1e9 / N)
  end)
end

function workloads.W2()
  corun.run(function()
    local set, sum = corun.JoinSet(), 0
    local t0 = now()
    for i = 1, N do set:spawn(task, i) end
    while true do
      local ok, v = set:join_next()
      if ok == nil then break end
      sum = sum + v
    end
    local dt = now() - t0
    assert(sum == N * (N + 1) // 2, "W2: wrong sum")
    out = string.format("W2 %.1f ns/task", dt * 1e9 / N)
  end)
end

local function sleeper() corun.sleep(0.1) end

function workloads.W3()
  corun.run(function()
    local rss0 = mem_begin()
    local hs = {}
    local t0 = now()
    for i = 1, N do hs[i] = corun.spawn(sleeper) end
    for i = 1, N do assert(hs[i]:await()) hs[i] = nil end
    local dt = now() - t0
    local peak = mem_peak()
    out = string.format("W3 %.2f ms %.0f B/task", (dt - 0.1) * 1e3,
                        (peak - rss0) / N)
  end)
end

local function ping(tx, rx, m)
  for i = 1, m do
    tx:send(i)
    if rx:recv() ~= i then error("ping-pong: wrong reply") end
  end
  return m
end
local function pong(rx, tx, m)
  for _ = 1, m do tx:send(rx:recv()) end
  return m
end

function workloads.W4()
  local M2 = math.max(1, N // 2)
  corun.run(function()
    local tx1, rx1 = corun.channel()
    local tx2, rx2 = corun.channel()
    local t0 = now()
    local a = corun.spawn(ping, tx1, rx2, M2)
    local b = corun.spawn(pong, rx1, tx2, M2)
    local oka, na = a:await()
    local okb, nb = b:await()
    local dt = now() - t0
    assert(oka and okb and na == M2 and nb == M2, "W4 failed")
    out = string.format("W4 %.1f ns/msg", dt * 1e9 / (2 * M2))
  end)
end

local yield_now = corun.yield_now
local function fan_task(permit)
  local p <close> = permit
  yield_now()
  PEER_DONE = PEER_DONE + 1   -- global: shared by the tasks
end

function workloads.W5()
  PEER_DONE = 0
  corun.run(function()
    local sem = corun.Semaphore(64)
    local spawn = corun.spawn
    local t0 = now()
    for _ = 1, N do
      local permit = sem:acquire()
      spawn(fan_task, permit)
    end
    local all <close> = sem:acquire(64)   -- every task has released
    local dt = now() - t0
    assert(PEER_DONE == N, "W5: wrong count")
    out = string.format("W5 %.1f ns/task", dt * 1e9 / N)
  end)
end

local function parked(n) n:notified() end

function workloads.W6()
  corun.run(function()
    local n = corun.Notify()
    local rss0 = mem_begin()
    local hs = {}
    for i = 1, N do hs[i] = corun.spawn(parked, n) end
    corun.yield_now()                 -- every task runs once and parks
    local peak = mem_peak()
    n:notify_waiters()
    for i = 1, N do assert(hs[i]:await()) hs[i] = nil end
    out = string.format("W6 %.0f B/task", (peak - rss0) / N)
  end)
end

local fn = workloads[W]
fn()
print(out)
