-- bench/peers/floor_peer.lua: the floor for the peer benchmarks: the same
-- workloads with raw Lua 5.4 coroutines (coroutine.create/resume, a table
-- as run queue), no runtime at all.
--
--   lua5.4 bench/peers/floor_peer.lua W1 [N]
--
-- Prints one line, as corun_peer.lua does.  W3 (sleeping tasks) needs a
-- real timer, which plain Lua does not have: the floor prints `W3 n/a`.
-- W6 parks the coroutines on a wait list (one yield each), no timer needed.
-- Clock: uv.hrtime() when luv is installed (wall, monotonic), else
-- os.clock() (CPU time: equal to wall time for these CPU-bound loops on an
-- idle machine, but not a wall clock).  Memory: VmHWM after minus VmRSS
-- before (VmHWM reset through /proc/self/clear_refs), over N.

local create, resume, yield = coroutine.create, coroutine.resume, coroutine.yield

local now
do
  local ok, uv = pcall(require, "luv")
  if ok then
    local hrtime = uv.hrtime
    now = function() return hrtime() * 1e-9 end
  else
    now = os.clock
  end
end

local common = dofile(((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".")
                      .. "/common.lua")
local W, N = common.workload("floor_peer")

local mem_begin, mem_peak = common.mem_begin, common.mem_peak

local function task(i) return i end

local workloads = {}

-- W1: create all, then resume each to completion in spawn order.
function workloads.W1()
  local q, sum = {}, 0
  local t0 = now()
  for i = 1, N do q[i] = create(task) end
  for i = 1, N do
    local _, v = resume(q[i], i)
    q[i] = nil
    sum = sum + v
  end
  local dt = now() - t0
  assert(sum == N * (N + 1) // 2, "W1: wrong sum")
  return string.format("W1 %.1f ns/task", dt * 1e9 / N)
end

-- W2: create all; run each from the run queue, appending its result to a
-- completion queue; then take the results in completion order.
function workloads.W2()
  local q, head, tail = {}, 1, 0
  local done, dhead, dtail, sum = {}, 1, 0, 0
  local t0 = now()
  for _ = 1, N do
    tail = tail + 1
    q[tail] = create(task)
  end
  while head <= tail do
    local co, i = q[head], head
    q[head] = nil
    head = head + 1
    local _, v = resume(co, i)
    dtail = dtail + 1
    done[dtail] = v
  end
  while dhead <= dtail do
    sum = sum + done[dhead]
    done[dhead] = nil
    dhead = dhead + 1
  end
  local dt = now() - t0
  assert(sum == N * (N + 1) // 2, "W2: wrong sum")
  return string.format("W2 %.1f ns/task", dt * 1e9 / N)
end

function workloads.W3()
  return "W3 n/a (no timer in plain Lua)"
end

-- W4: two coroutines handing a value back and forth through resume/yield.
function workloads.W4()
  local M2 = math.max(1, N // 2)
  local function relay()
    local v = yield()
    while true do v = yield(v + 1) end
  end
  local a, b = create(relay), create(relay)
  resume(a)
  resume(b)
  local v, _ = 0, nil
  local t0 = now()
  for _ = 1, M2 do
    _, v = resume(a, v)
    _, v = resume(b, v)
  end
  local dt = now() - t0
  assert(v == 2 * M2, "W4: wrong value")
  return string.format("W4 %.1f ns/msg", dt * 1e9 / (2 * M2))
end

-- W5: a scheduler loop over a run queue, a counting semaphore with a FIFO
-- of waiters (hand-off), a spawner coroutine acquiring before each create,
-- each coroutine yielding once while it holds its permit.
function workloads.W5()
  local LIMIT = 64
  local rq, rhead, rtail = {}, 1, 0
  local wq, whead, wtail = {}, 1, 0
  local permits, done, running = LIMIT, 0, nil
  local function acquire()
    if permits > 0 and whead > wtail then
      permits = permits - 1
      return
    end
    wtail = wtail + 1
    wq[wtail] = running
    yield(false)
  end
  local function release()
    if whead <= wtail then
      local co = wq[whead]
      wq[whead] = nil
      whead = whead + 1
      rtail = rtail + 1
      rq[rtail] = co
    else
      permits = permits + 1
    end
  end
  local function body()
    yield(true)
    done = done + 1
    release()
  end
  local spawner = create(function()
    for _ = 1, N do
      acquire()
      rtail = rtail + 1
      rq[rtail] = create(body)
    end
  end)
  local t0 = now()
  rtail = rtail + 1
  rq[rtail] = spawner
  while rhead <= rtail do
    local co = rq[rhead]
    rq[rhead] = nil
    rhead = rhead + 1
    running = co
    local ok, again = resume(co)
    if not ok then error(again, 0) end
    if again then
      rtail = rtail + 1
      rq[rtail] = co
    end
  end
  local dt = now() - t0
  assert(done == N and permits == LIMIT, "W5: wrong count")
  return string.format("W5 %.1f ns/task", dt * 1e9 / N)
end

-- W6: N coroutines, each resumed once to park on a wait list (a yield);
-- RSS growth while they are all parked; then all woken and finished.
function workloads.W6()
  local function waiter() yield() return true end
  local rss0 = mem_begin()
  local parked = {}
  for i = 1, N do
    local co = create(waiter)
    resume(co)
    parked[i] = co
  end
  local peak = mem_peak()
  for i = 1, N do
    assert(select(2, resume(parked[i])))
    parked[i] = nil
  end
  return string.format("W6 %.0f B/task", (peak - rss0) / N)
end

print(workloads[W]())
