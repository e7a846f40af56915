-- bench/sync.lua: JoinSet, Semaphore and channels, next to the
-- raw-coroutine floor.
--
-- (f) JoinSet spawn + join_next: N tasks that each return an integer, all
--     spawned into one JoinSet first, then joined with join_next until it
--     returns nil; ns per task, with the spawn and join phases of the
--     same runs below it.  Floor: coroutine.create per task, all created
--     first, then each resumed to completion from a table used as run
--     queue, its result appended to a second table queue (completion
--     order), from which the results are then taken.
-- (g) bounded fan-out: N tasks behind Semaphore(64); the spawner acquires
--     a permit before each spawn and moves it into the task, which yields
--     once (corun.yield_now()) while it holds it and releases it (<close>)
--     at its end; the clock stops when all 64 permits are back.  ns per
--     task.  Floor: the same in plain Lua: a scheduler loop over a run
--     queue table, a counting semaphore with a FIFO of waiting coroutines
--     (release hands the permit to the first waiter), a spawner coroutine
--     that acquires before each coroutine.create, and each coroutine
--     yielding once (back to the end of the run queue) while it holds its
--     permit.
-- (h) ping-pong: M one-way hand-offs (M/2 round trips) between two tasks
--     over two unbounded channels: one sends i and receives the reply, the
--     other receives and sends it back; timed from spawning both to
--     awaiting both; ns per message.  Floor: two raw coroutines handing a
--     value back and forth through resume/yield (a plain loop resumes
--     each in turn with what the other yielded).
-- No targets yet.  Each function below times its workload only: runtime
-- start/stop and the full GC between runs are outside.
return function(H)
  local corun, raw, now = H.corun, H.raw, H.now
  local create, resume, yield = raw.create, raw.resume, raw.yield
  local N = H.count(200000)
  local M = H.count(1000000)
  local M2 = math.max(1, M // 2)
  local LIMIT = 64
  local sum_N = N * (N + 1) // 2

  local function task(i) return i end

  ---------------------------------------------------------------- (f)
  local function corun_joinset()
    local dt
    corun.run(function()
      local set, sum = corun.JoinSet(), 0
      local t0 = now()
      for i = 1, N do set:spawn(task, i) end
      local t1 = now()
      while true do
        local ok, v = set:join_next()
        if ok == nil then break end
        assert(ok, "JoinSet: a task failed")
        sum = sum + v
      end
      local t2 = now()
      assert(sum == sum_N, "JoinSet: wrong results")
      dt = { t2 - t0, t1 - t0, t2 - t1 }
    end)
    return dt[1] * 1e9 / N, dt[2] * 1e9 / N, dt[3] * 1e9 / N
  end

  local function floor_joinset()
    local q, head, tail = {}, 1, 0
    local done, dhead, dtail, sum = {}, 1, 0, 0
    local t0 = now()
    for _ = 1, N do
      tail = tail + 1
      q[tail] = create(task)
    end
    local t1 = now()
    while head <= tail do   -- run each, in order; results as they complete
      local co, i = q[head], head
      q[head] = nil
      head = head + 1
      local _, v = resume(co, i)
      dtail = dtail + 1
      done[dtail] = v
    end
    while dhead <= dtail do -- then join them, in completion order
      sum = sum + done[dhead]
      done[dhead] = nil
      dhead = dhead + 1
    end
    local t2 = now()
    assert(sum == sum_N, "floor JoinSet: wrong results")
    return (t2 - t0) * 1e9 / N, (t1 - t0) * 1e9 / N, (t2 - t1) * 1e9 / N
  end

  H.compare {
    rows = {
      { workload = string.format("(f) JoinSet spawn+join_next, N=%d", N),
        unit = "ns/task" },
      { workload = "    spawn phase (floor: create)", unit = "ns/task" },
      { workload = "    join phase (floor: resume, queue)", unit = "ns/task" },
    },
    corun = corun_joinset, floor = floor_joinset,
  }

  ---------------------------------------------------------------- (g)
  local yield_now = corun.yield_now  -- a C function: passes by identity

  local function fan_task(permit)
    local p <close> = permit
    yield_now()
    SYNC_BENCH_DONE = SYNC_BENCH_DONE + 1  -- global: shared by all tasks
  end

  local function corun_fanout()
    local dt
    SYNC_BENCH_DONE = 0
    corun.run(function()
      local sem = corun.Semaphore(LIMIT)
      local spawn = corun.spawn
      local t0 = now()
      for _ = 1, N do
        local permit = sem:acquire()
        spawn(fan_task, permit)
      end
      local all <close> = sem:acquire(LIMIT)  -- every task has released
      dt = now() - t0
    end)
    assert(SYNC_BENCH_DONE == N, "fan-out: wrong count")
    SYNC_BENCH_DONE = nil
    return dt * 1e9 / N
  end

  local function floor_fanout()
    local rq, rhead, rtail = {}, 1, 0     -- run queue
    local wq, whead, wtail = {}, 1, 0     -- the semaphore's waiters (FIFO)
    local permits, done, running = LIMIT, 0, nil
    local function acquire()
      if permits > 0 and whead > wtail then
        permits = permits - 1
        return
      end
      wtail = wtail + 1
      wq[wtail] = running
      yield(false)  -- blocked: resumed holding the permit
    end
    local function release()
      if whead <= wtail then  -- hand the permit to the first waiter
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
      yield(true)  -- once, holding the permit: back to the run queue
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
    assert(done == N and permits == LIMIT, "floor fan-out: wrong count")
    return dt * 1e9 / N
  end

  H.compare {
    workload = string.format("(g) fan-out, Semaphore(%d), N=%d", LIMIT, N),
    unit = "ns/task",
    corun = corun_fanout, floor = floor_fanout,
  }

  ---------------------------------------------------------------- (h)
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

  local function corun_pingpong()
    local dt
    corun.run(function()
      local tx1, rx1 = corun.channel()
      local tx2, rx2 = corun.channel()
      local t0 = now()
      local a = corun.spawn(ping, tx1, rx2, M2)
      local b = corun.spawn(pong, rx1, tx2, M2)
      local oka, na = a:await()
      local okb, nb = b:await()
      dt = now() - t0
      assert(oka and okb and na == M2 and nb == M2,
             "ping-pong: " .. tostring(oka and nb or na))
    end)
    return dt * 1e9 / (2 * M2)
  end

  local function floor_pingpong()
    local function relay()
      local v = yield()
      while true do v = yield(v + 1) end
    end
    local a, b = create(relay), create(relay)
    resume(a)  -- both wait at their first yield
    resume(b)
    local v, _ = 0, nil
    local t0 = now()
    for _ = 1, M2 do
      _, v = resume(a, v)
      _, v = resume(b, v)
    end
    local dt = now() - t0
    assert(v == 2 * M2, "floor ping-pong: wrong value")
    return dt * 1e9 / (2 * M2)
  end

  H.compare {
    workload = string.format("(h) ping-pong, 2 channels, M=%d", 2 * M2),
    unit = "ns/msg",
    corun = corun_pingpong, floor = floor_pingpong,
  }
end
