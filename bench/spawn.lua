-- bench/spawn.lua: the cost of a task, next to the raw-coroutine floor.
--
-- (a) spawn+await: N tasks that each return an integer, all spawned first,
--     then awaited in spawn order; ns per task, with the spawn and await
--     phases of the same runs shown below it.
--     Floor: coroutine.create per task, all created first, then each
--     resumed to completion, taken from a table used as run queue.
-- (b) memory per pending task: growth while N tasks are spawned and not yet
--     run (peak RSS: VmHWM after spawning - VmRSS before, with VmHWM
--     reset just before; and Lua heap), bytes per task, each sample in a
--     fresh process.  Floor: N coroutines created, not resumed.
-- (c) yield/resume switch: one task calling corun.yield_now() M times; two
--     tasks alternating, M/2 yields each; ns per switch.
--     Floor: a raw coroutine yielding M times to a plain resume loop; two
--     raw coroutines resumed alternately.
-- Each function below times (or measures) its workload only: runtime
-- start/stop and the full GC between runs are outside.
return function(H)
  local corun, raw, now = H.corun, H.raw, H.now
  local create, resume, yield = raw.create, raw.resume, raw.yield
  local N = H.count(1000000)
  local M = H.count(1000000)
  local M2 = math.max(1, M // 2)
  local sum_N = N * (N + 1) // 2

  local function task(i) return i end

  ---------------------------------------------------------------- (a)
  local function corun_spawn_await()
    local dt
    corun.run(function()
      local spawn, hs, sum = corun.spawn, {}, 0
      local t0 = now()
      for i = 1, N do hs[i] = spawn(task, i) end
      local t1 = now()
      for i = 1, N do
        local h = hs[i]
        hs[i] = nil
        local _, v = h:await()
        sum = sum + v
      end
      local t2 = now()
      assert(sum == sum_N, "spawn+await: wrong results")
      dt = { t2 - t0, t1 - t0, t2 - t1 }
    end)
    return dt[1] * 1e9 / N, dt[2] * 1e9 / N, dt[3] * 1e9 / N
  end

  local function floor_spawn_await()
    local q, head, tail, sum = {}, 1, 0, 0
    local t0 = now()
    for _ = 1, N do
      tail = tail + 1
      q[tail] = create(task)
    end
    local t1 = now()
    while head <= tail do
      local co, i = q[head], head
      q[head] = nil
      head = head + 1
      local _, v = resume(co, i)
      sum = sum + v
    end
    local t2 = now()
    assert(sum == sum_N, "floor spawn+await: wrong results")
    return (t2 - t0) * 1e9 / N, (t1 - t0) * 1e9 / N, (t2 - t1) * 1e9 / N
  end

  H.compare {
    rows = {
      { workload = string.format("(a) spawn+await, N=%d", N),
        unit = "ns/task", target = { corun = 300 } },
      -- the two phases of the same runs (no targets): where the time goes
      { workload = "    spawn phase (floor: create)", unit = "ns/task" },
      { workload = "    await phase (floor: resume)", unit = "ns/task" },
    },
    corun = corun_spawn_await, floor = floor_spawn_await,
  }

  ---------------------------------------------------------------- (b)
  -- Returns peak-RSS growth and Lua-heap growth per pending task.
  local function growth(before, after)
    return (after.hwm - before.rss) / N, (after.lua - before.lua) / N
  end

  local function corun_pending_mem()
    local b, l
    corun.run(function()
      local spawn, hs = corun.spawn, {}
      H.gc()
      H.reset_peak()
      local before = H.mem()
      for i = 1, N do hs[i] = spawn(task, i) end
      local after = H.mem()
      b, l = growth(before, after)
      for i = 1, N do hs[i]:await() end  -- let them run and finish
    end)
    return b, l
  end

  local function floor_pending_mem()
    local q = {}
    H.reset_peak()
    local before = H.mem()
    for i = 1, N do q[i] = create(task) end
    local after = H.mem()
    return growth(before, after)
  end

  H.compare {
    rows = {
      { workload = string.format("(b) peak RSS per pending task, N=%d", N),
        unit = "B/task", target = { corun = 300 } },
      { workload = "    Lua heap per pending task", unit = "B/task" },
    },
    corun = corun_pending_mem, floor = floor_pending_mem,
    isolate = true,  -- a fresh process per sample: see H.compare
    -- Allocation is deterministic (the samples agree to the byte) and a
    -- fresh 1M-task process costs 1-2 s: 3 samples are enough.
    reps = math.min(H.reps, 3),
  }

  ---------------------------------------------------------------- (c)
  local function corun_switch_one()
    local dt
    corun.run(function()
      local h = corun.spawn(function()
        local yield_now = corun.yield_now
        local t0 = now()
        for _ = 1, M do yield_now() end
        return now() - t0
      end)
      local _
      _, dt = h:await()
    end)
    return dt * 1e9 / M
  end

  local function floor_switch_one()
    local co = create(function()
      for _ = 1, M do yield(true) end
    end)
    local t0 = now()
    local _, more = resume(co)
    while more do _, more = resume(co) end
    return (now() - t0) * 1e9 / M
  end

  H.compare {
    workload = string.format("(c) yield/resume switch, 1 task, M=%d", M),
    unit = "ns/switch", target = { ratio = 1.5 },
    corun = corun_switch_one, floor = floor_switch_one,
  }

  local function yielder()
    local yield_now = corun.yield_now
    for _ = 1, M2 do yield_now() end
  end

  local function corun_switch_two()
    local dt
    corun.run(function()
      local t0 = now()
      local a, b = corun.spawn(yielder), corun.spawn(yielder)
      a:await()
      b:await()
      dt = now() - t0
    end)
    return dt * 1e9 / (2 * M2)
  end

  local function floor_switch_two()
    local function body() for _ = 1, M2 do yield(true) end end
    local a, b = create(body), create(body)
    local t0 = now()
    local _, ma = resume(a)
    local _, mb = resume(b)
    while ma or mb do
      if ma then _, ma = resume(a) end
      if mb then _, mb = resume(b) end
    end
    return (now() - t0) * 1e9 / (2 * M2)
  end

  H.compare {
    workload = string.format("    2 tasks alternating, %d yields each", M2),
    unit = "ns/switch", target = { ratio = 1.5 },
    corun = corun_switch_two, floor = floor_switch_two,
  }
end
