-- bench/peers/cqueues_peer.lua: the peer benchmarks (W1..W6) with
-- lua-cqueues (Debian package lua-cqueues).
--
--   lua5.4 bench/peers/cqueues_peer.lua W1 [N]
--
-- Prints one line, as corun_peer.lua does.  Time: cqueues.monotime()
-- around the workload only; memory: VmHWM after minus VmRSS before (VmHWM
-- reset through /proc/self/clear_refs), over N.
--
-- cqueues has no join handles, JoinSet, channels or semaphores; they are
-- built here the way cqueues code usually builds them, from cq:wrap
-- coroutines and cqueues.condition variables:
--   handle    a table the task fills in; its condition is made only when
--             someone has to wait for it
--   JoinSet   a completion queue plus one condition
--   channel   a queue plus one condition (unbounded)
--   Semaphore a counter plus one condition (signal one on release)
-- A task's yield is cqueues.sleep(0).

local cqueues = require "cqueues"
local condition = require "cqueues.condition"
local monotime = cqueues.monotime

local common = dofile(((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".")
                      .. "/common.lua")
local W, N = common.workload("cqueues_peer")

local mem_begin, mem_peak = common.mem_begin, common.mem_peak

local cq = cqueues.new()

-- spawn(fn, a) -> handle, running fn(a) (one argument is all these
-- workloads need); await(handle) -> value
local function spawn(fn, a)
  local h = {}
  cq:wrap(function()
    h.value = fn(a)
    h.done = true
    if h.cond then h.cond:signal() end
  end)
  return h
end
local function await(h)
  while not h.done do
    h.cond = h.cond or condition.new()
    h.cond:wait()
  end
  return h.value
end

local function task(i) return i end

local out
local workloads = {}

function workloads.W1()
  local hs, sum = {}, 0
  local t0 = monotime()
  for i = 1, N do hs[i] = spawn(task, i) end
  for i = 1, N do
    sum = sum + await(hs[i])
    hs[i] = nil
  end
  local dt = monotime() - t0
  assert(sum == N * (N + 1) // 2, "W1: wrong sum")
  out = string.format("W1 %.1f ns/task", dt * 1e9 / N)
end

function workloads.W2()
  -- the JoinSet: tasks append their results to a queue and signal
  local done, dhead, dtail = {}, 1, 0
  local cond = condition.new()
  local sum, joined = 0, 0
  local t0 = monotime()
  for i = 1, N do
    cq:wrap(function()
      local v = task(i)
      dtail = dtail + 1
      done[dtail] = v
      cond:signal(1)
    end)
  end
  while joined < N do                -- join_next until the set is empty
    while dhead > dtail do cond:wait() end
    local v = done[dhead]
    done[dhead] = nil
    dhead = dhead + 1
    joined = joined + 1
    sum = sum + v
  end
  local dt = monotime() - t0
  assert(sum == N * (N + 1) // 2, "W2: wrong sum")
  out = string.format("W2 %.1f ns/task", dt * 1e9 / N)
end

local function sleeper() cqueues.sleep(0.1) return true end

function workloads.W3()
  local rss0 = mem_begin()
  local hs = {}
  local t0 = monotime()
  for i = 1, N do hs[i] = spawn(sleeper) end
  for i = 1, N do assert(await(hs[i])) hs[i] = nil end
  local dt = monotime() - t0
  local peak = mem_peak()
  out = string.format("W3 %.2f ms %.0f B/task", (dt - 0.1) * 1e3,
                      (peak - rss0) / N)
end

local function channel()
  local ch = { q = {}, head = 1, tail = 0, cond = condition.new() }
  function ch.send(v)
    ch.tail = ch.tail + 1
    ch.q[ch.tail] = v
    ch.cond:signal(1)
  end
  function ch.recv()
    while ch.head > ch.tail do ch.cond:wait() end
    local v = ch.q[ch.head]
    ch.q[ch.head] = nil
    ch.head = ch.head + 1
    return v
  end
  return ch
end

function workloads.W4()
  local M2 = math.max(1, N // 2)
  local c1, c2 = channel(), channel()
  local t0 = monotime()
  local a = spawn(function()
    for i = 1, M2 do
      c1.send(i)
      if c2.recv() ~= i then error("ping-pong: wrong reply") end
    end
    return M2
  end)
  local b = spawn(function()
    for _ = 1, M2 do c2.send(c1.recv()) end
    return M2
  end)
  local na, nb = await(a), await(b)
  local dt = monotime() - t0
  assert(na == M2 and nb == M2, "W4 failed")
  out = string.format("W4 %.1f ns/msg", dt * 1e9 / (2 * M2))
end

function workloads.W5()
  local LIMIT = 64
  local permits, cond, done = LIMIT, condition.new(), 0
  local function acquire()
    while permits == 0 do cond:wait() end
    permits = permits - 1
  end
  local function release()
    permits = permits + 1
    cond:signal(1)
  end
  local function body()
    cqueues.sleep(0)                 -- one yield, holding the permit
    done = done + 1
    release()
  end
  local t0 = monotime()
  for _ = 1, N do
    acquire()
    cq:wrap(body)
  end
  for _ = 1, LIMIT do acquire() end  -- every task has released
  local dt = monotime() - t0
  assert(done == N, "W5: wrong count")
  out = string.format("W5 %.1f ns/task", dt * 1e9 / N)
end

function workloads.W6()
  local cond, parked = condition.new(), 0
  local function waiter() parked = parked + 1 cond:wait() return true end
  local rss0 = mem_begin()
  local hs = {}
  for i = 1, N do hs[i] = spawn(waiter) end
  while parked < N do cqueues.sleep(0) end  -- every task has parked
  local peak = mem_peak()
  cond:signal()                              -- wake them all
  for i = 1, N do assert(await(hs[i])) hs[i] = nil end
  out = string.format("W6 %.0f B/task", (peak - rss0) / N)
end

local fn = workloads[W]
cq:wrap(fn)
assert(cq:loop())
print(out)
