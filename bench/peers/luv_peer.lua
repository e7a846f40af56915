-- bench/peers/luv_peer.lua: the peer benchmarks (W1..W6) on luv (Debian
-- package lua-luv), with the small coroutine scheduler a luv program
-- would write for itself, defined below.
--
--   lua5.4 bench/peers/luv_peer.lua W1 [N]
--
-- Prints one line, as corun_peer.lua does.  Time: uv.hrtime() around the
-- workload only; memory: VmHWM after minus VmRSS before (VmHWM reset
-- through /proc/self/clear_refs), over N.
--
-- The scheduler: a task is a coroutine; ready tasks sit in a FIFO run
-- queue (a table) drained by a uv idle handle, which is started while the
-- queue is not empty (so the loop polls without blocking) and stopped when
-- it is.  Each drain runs the tasks that were ready when it began, then
-- returns to the loop (timers and I/O get their turn).  sleep() uses one
-- uv timer per call (uv.new_timer, closed when it fires).  Waits park the
-- running coroutine in the waited-for object and yield to the scheduler;
-- waking puts it back on the run queue, with a value to resume it with.
--   handle     done flag, value, one waiter
--   JoinSet    a completion queue plus one waiter
--   channel    unbounded queue plus one waiting receiver (hand-off)
--   Semaphore  counter plus a FIFO of waiters (release hands the permit on)
--   Event      a list of waiters, all woken by set()

local uv = require "luv"

local create, resume, yield, running =
  coroutine.create, coroutine.resume, coroutine.yield, coroutine.running

---------------------------------------------------------------- scheduler
local rq, rv, rhead, rtail = {}, {}, 1, 0   -- run queue: coroutine, value
local idle = uv.new_idle()
local idle_on = false

local function run_ready()
  local last = rtail
  while rhead <= last do
    local co, v = rq[rhead], rv[rhead]
    rq[rhead], rv[rhead] = nil, nil
    rhead = rhead + 1
    local ok, err = resume(co, v)
    if not ok then error(debug.traceback(co, err), 0) end
  end
  if rhead > rtail then
    idle:stop()
    idle_on = false
  end
end

local function ready(co, v)
  rtail = rtail + 1
  rq[rtail], rv[rtail] = co, v
  if not idle_on then
    idle_on = true
    idle:start(run_ready)
  end
end

-- spawn(fn, arg) -> handle: runs fn(arg) as a task (one argument is all
-- these workloads need: it is the value of the task's first resume).
local function spawn(fn, a, set)
  local h = {}
  ready(create(function(x)
    local v = fn(x)
    h.value, h.done = v, true
    if h.waiter then
      local w = h.waiter
      h.waiter = nil
      ready(w)
    end
    if set then set:_done(v) end
  end), a)
  return h
end

local function await(h)
  if not h.done then
    h.waiter = running()
    yield()
  end
  return h.value
end

local function yield_now()
  ready(running())
  yield()
end

local function sleep(s)
  local co = running()
  local t = uv.new_timer()
  t:start(math.ceil(s * 1000), 0, function()
    t:close()
    ready(co)
  end)
  yield()
end

local JoinSet = {}
JoinSet.__index = JoinSet
local function new_joinset()
  return setmetatable({ q = {}, head = 1, tail = 0, n = 0 }, JoinSet)
end
function JoinSet:spawn(fn, a)
  self.n = self.n + 1
  return spawn(fn, a, self)
end
function JoinSet:_done(v)
  self.tail = self.tail + 1
  self.q[self.tail] = v
  if self.waiter then
    local w = self.waiter
    self.waiter = nil
    ready(w)
  end
end
function JoinSet:join_next()   -- the next result to complete; nil when empty
  if self.n == 0 then return nil end
  if self.head > self.tail then
    self.waiter = running()
    yield()
  end
  local v = self.q[self.head]
  self.q[self.head] = nil
  self.head = self.head + 1
  self.n = self.n - 1
  return v
end

local function channel()
  local q, head, tail, waiter = {}, 1, 0, nil
  local function send(v)
    if waiter then                  -- hand it straight to the receiver
      local w = waiter
      waiter = nil
      ready(w, v)
    else
      tail = tail + 1
      q[tail] = v
    end
  end
  local function recv()
    if head <= tail then
      local v = q[head]
      q[head] = nil
      head = head + 1
      return v
    end
    waiter = running()
    return yield()
  end
  return send, recv
end

local function semaphore(n)
  local permits, wq, whead, wtail = n, {}, 1, 0
  local function acquire()
    if permits > 0 and whead > wtail then
      permits = permits - 1
      return
    end
    wtail = wtail + 1
    wq[wtail] = running()
    yield()                         -- resumed holding the permit
  end
  local function release()
    if whead <= wtail then
      local co = wq[whead]
      wq[whead] = nil
      whead = whead + 1
      ready(co)
    else
      permits = permits + 1
    end
  end
  return acquire, release
end

local function event()
  local waiters, n = {}, 0
  local function wait()
    n = n + 1
    waiters[n] = running()
    yield()
  end
  local function set()
    for i = 1, n do ready(waiters[i]) waiters[i] = nil end
    n = 0
  end
  return wait, set
end

---------------------------------------------------------------- workloads
local hrtime = uv.hrtime
local function now() return hrtime() * 1e-9 end

local common = dofile(((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".")
                      .. "/common.lua")
local W, N = common.workload("luv_peer")

local mem_begin, mem_peak = common.mem_begin, common.mem_peak

local function task(i) return i end

local out
local workloads = {}

function workloads.W1()
  local hs, sum = {}, 0
  local t0 = now()
  for i = 1, N do hs[i] = spawn(task, i) end
  for i = 1, N do
    sum = sum + await(hs[i])
    hs[i] = nil
  end
  local dt = now() - t0
  assert(sum == N * (N + 1) // 2, "W1: wrong sum")
  out = string.format("W1 %.1f ns/task", dt * 1e9 / N)
end

function workloads.W2()
  local set, sum = new_joinset(), 0
  local t0 = now()
  for i = 1, N do set:spawn(task, i) end
  while true do
    local v = set:join_next()
    if v == nil then break end
    sum = sum + v
  end
  local dt = now() - t0
  assert(sum == N * (N + 1) // 2, "W2: wrong sum")
  out = string.format("W2 %.1f ns/task", dt * 1e9 / N)
end

local function sleeper() sleep(0.1) return true end

function workloads.W3()
  local rss0 = mem_begin()
  local hs = {}
  local t0 = now()
  for i = 1, N do hs[i] = spawn(sleeper) end
  for i = 1, N do assert(await(hs[i])) hs[i] = nil end
  local dt = now() - t0
  local peak = mem_peak()
  out = string.format("W3 %.2f ms %.0f B/task", (dt - 0.1) * 1e3,
                      (peak - rss0) / N)
end

function workloads.W4()
  local M2 = math.max(1, N // 2)
  local send1, recv1 = channel()
  local send2, recv2 = channel()
  local t0 = now()
  local a = spawn(function()
    for i = 1, M2 do
      send1(i)
      if recv2() ~= i then error("ping-pong: wrong reply") end
    end
    return M2
  end)
  local b = spawn(function()
    for _ = 1, M2 do send2(recv1()) end
    return M2
  end)
  local na, nb = await(a), await(b)
  local dt = now() - t0
  assert(na == M2 and nb == M2, "W4 failed")
  out = string.format("W4 %.1f ns/msg", dt * 1e9 / (2 * M2))
end

function workloads.W5()
  local LIMIT = 64
  local acquire, release = semaphore(LIMIT)
  local done = 0
  local function body()
    yield_now()                     -- one yield, holding the permit
    done = done + 1
    release()
  end
  local t0 = now()
  for _ = 1, N do
    acquire()
    spawn(body)
  end
  for _ = 1, LIMIT do acquire() end -- every task has released
  local dt = now() - t0
  assert(done == N, "W5: wrong count")
  out = string.format("W5 %.1f ns/task", dt * 1e9 / N)
end

function workloads.W6()
  local wait, set = event()
  local function waiter() wait() return true end
  local rss0 = mem_begin()
  local hs = {}
  for i = 1, N do hs[i] = spawn(waiter) end
  yield_now()                       -- every task runs once and parks
  local peak = mem_peak()
  set()
  for i = 1, N do assert(await(hs[i])) hs[i] = nil end
  out = string.format("W6 %.0f B/task", (peak - rss0) / N)
end

spawn(workloads[W])
uv.run()
print(out)
