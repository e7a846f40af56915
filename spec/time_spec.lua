local corun = require "corun"

-- Seconds that fn(...) takes on the paused clock (exact, whatever the
-- machine's load), run as the main task; then fn's results.
local function timed(fn, ...)
  return paused(function(...)
    local t0 = corun.now()
    local r = table.pack(fn(...))
    return corun.now() - t0, table.unpack(r, 1, r.n)
  end, ...)
end

-- pcall(fn, ...) inside a task.
local function task_pcall(fn, ...)
  return run(function(...) return pcall(fn, ...) end, ...)
end

describe("corun.sleep", function()
  it("waits at least the given time", function()
    near(0.05, timed(corun.sleep, 0.05))
  end)

  it("waits at least the given time in real time when the clock runs",
     function()
    local w0 = wall()
    local elapsed = run(function()
      local t0 = corun.now()
      corun.sleep(0.05)
      return corun.now() - t0
    end)
    local real = wall() - w0
    -- Lower bounds only: a busy machine makes it later, never sooner.
    assert.is_true(elapsed >= 0.05, elapsed)
    assert.is_true(real >= 0.05, real)
  end)

  it("returns nothing", function()
    assert.equal(0, run(function() return select("#", corun.sleep(0.001)) end))
  end)

  it("lets other tasks run while it waits", function()
    local s = shared()
    run(function()
      local h = corun.spawn(function() SHARED.ran = true end)
      corun.sleep(0.01)
      SHARED.seen = SHARED.ran
      h:await()
    end)
    assert.is_true(s.seen)
  end)

  it("runs the sleeps of many tasks concurrently", function()
    local elapsed = timed(function()
      local hs = {}
      for i = 1, 10 do hs[i] = corun.spawn(corun.sleep, 0.1) end
      for i = 1, 10 do hs[i]:await() end
    end)
    near(0.1, elapsed)                 -- one after the other: 1 s
  end)

  it("wakes shorter sleeps first", function()
    local s = shared()
    s.order, s.at = {}, {}
    paused(function()
      local t0 = corun.now()
      local hs = {}
      for i, d in ipairs { 0.06, 0.02, 0.04 } do
        hs[i] = corun.spawn(function(t0)
          corun.sleep(d)
          SHARED.order[#SHARED.order + 1] = d
          SHARED.at[#SHARED.at + 1] = corun.now() - t0
        end, t0)
      end
      for i = 1, 3 do hs[i]:await() end
    end)
    assert.same({ 0.02, 0.04, 0.06 }, s.order)
    for k, d in ipairs { 0.02, 0.04, 0.06 } do near(d, s.at[k]) end
  end)

  it("yields like yield_now when given 0", function()
    local s = shared()
    s.log = {}
    run(function()
      local hs = {}
      for i = 1, 2 do
        hs[i] = corun.spawn(function()
          local log = SHARED.log
          log[#log + 1] = "t" .. i
          corun.sleep(0)
          log[#log + 1] = "t" .. i .. " again"
        end)
      end
      corun.sleep(0)
      s.log[#s.log + 1] = "main"
      for i = 1, 2 do hs[i]:await() end
    end)
    assert.same({ "t1", "t2", "main", "t1 again", "t2 again" }, s.log)
  end)

  it("waits forever when given math.huge", function()
    local ok, elapsed = paused(function()
      local t0 = corun.now()
      local ok = corun.timeout(1e6, corun.sleep, math.huge)
      return ok, corun.now() - t0
    end)
    assert.is_false(ok)                -- still asleep after 11.6 days
    near(1e6, elapsed)
  end)

  it("raises on a negative duration", function()
    local ok, err = task_pcall(corun.sleep, -1)
    assert.is_false(ok)
    assert.matches("^corun%.sleep: bad argument #1 %(duration must be a " ..
                   "non%-negative number of seconds", err)
  end)

  it("raises on NaN", function()
    local ok, err = task_pcall(corun.sleep, 0 / 0)
    assert.is_false(ok)
    assert.matches("^corun%.sleep: bad argument #1 %(duration must be a " ..
                   "non%-negative number of seconds", err)
  end)

  it("raises on a duration that is not a number", function()
    local ok, err = task_pcall(corun.sleep, "1")
    assert.is_false(ok)
    assert.equal("corun.sleep: bad argument #1 (number expected, got string)",
                 err)
  end)

  it("raises on a missing duration", function()
    local ok, err = task_pcall(corun.sleep)
    assert.is_false(ok)
    assert.equal(
      "corun.sleep: bad argument #1 (number expected, got no value)", err)
  end)

  it("raises outside a runtime", function()
    local ok, err = pcall(corun.sleep, 0.01)
    assert.is_false(ok)
    assert.equal("corun.sleep: must be called from a task (inside corun.run)",
                 err)
  end)
end)

describe("corun.now", function()
  it("returns a float number of seconds", function()
    assert.equal("float", math.type(run(corun.now)))
  end)

  it("never goes backwards", function()
    local ok = run(function()
      local last = corun.now()
      for _ = 1, 1000 do
        local t = corun.now()
        if t < last then return false end
        last = t
      end
      return true
    end)
    assert.is_true(ok)
  end)

  it("advances by the time slept", function()
    near(0.05, timed(corun.sleep, 0.05))
  end)

  it("advances like the wall clock", function()
    local w0 = wall()
    local t0 = corun.now()
    os.execute("sleep 0.2")
    local elapsed = corun.now() - t0
    local real = wall() - w0           -- read around corun.now()'s reads
    assert.is_true(elapsed >= 0.2, elapsed)
    assert.is_true(elapsed <= real, elapsed .. " s > " .. real .. " s")
  end)

  it("can be called outside a runtime", function()
    assert.equal("number", type(corun.now()))
  end)
end)

describe("corun.timeout", function()
  -- regression: a pass of the scheduler ran up to 4096 resumes before
  -- timers fired, so this deadline came after about 4 s
  -- On real time: the paused clock stands still while fn works, and never
  -- jumps while fn is ready.  Each round takes at least 1 ms of real time,
  -- so a timer checked every few resumes lets at most about 0.1 / 0.001 +
  -- 16 rounds run (fewer on a slow machine); with the bug, 4096 did.
  it("fires around a function that keeps working and yielding", function()
    local ok, err, elapsed, rounds = run(function()
      local t0 = corun.now()
      local rounds = 0
      local ok, err = corun.timeout(0.1, function()
        while true do
          local t1 = corun.now()
          while corun.now() - t1 < 0.001 do end  -- 1 ms of work
          rounds = rounds + 1
          corun.yield_now()
        end
      end)
      return ok, err, corun.now() - t0, rounds
    end)
    assert.is_false(ok)
    assert.equal("deadline has elapsed", err)
    assert.is_true(elapsed >= 0.1, "took " .. elapsed)
    assert.is_true(rounds < 1000, rounds .. " rounds of work")
  end)

  it("returns true and fn's results when fn finishes in time", function()
    local r = run(function()
      return table.pack(corun.timeout(1, function()
        corun.sleep(0.01)
        return 1, nil, "three"
      end))
    end)
    assert.same({ n = 4, true, 1, nil, "three" }, r)
  end)

  it("passes its extra arguments to fn", function()
    local ok, a, b = run(function()
      return corun.timeout(1, function(x, y) return y, x end, "x", "y")
    end)
    assert.is_true(ok)
    assert.same({ "y", "x" }, { a, b })
  end)

  it("gives fn its arguments without copying them", function()
    local same = run(function()
      local t = {}
      local _, got = corun.timeout(1, function(x) return x end, t)
      return got == t
    end)
    assert.is_true(same)
  end)

  it("runs fn in the current task", function()
    local outer, inner = run(function()
      local id = corun.task_id()
      local _, inner_id = corun.timeout(1, function()
        corun.sleep(0.001)
        return corun.task_id()
      end)
      return id, inner_id
    end)
    assert.equal(outer, inner)
  end)

  it("succeeds with a zero deadline when fn does not wait", function()
    local ok, v = run(function()
      return corun.timeout(0, function() return "at once" end)
    end)
    assert.is_true(ok)
    assert.equal("at once", v)
  end)

  it("returns false and an error when the deadline passes", function()
    local elapsed, ok, err = timed(corun.timeout, 0.02, corun.sleep, 10)
    assert.is_false(ok)
    assert.equal("deadline has elapsed", tostring(err))
    near(0.02, elapsed)
  end)

  it("returns once the deadline has passed", function()
    near(0.05, timed(corun.timeout, 0.05, corun.sleep, 10))
  end)

  it("cancels fn when the deadline passes", function()
    local s = shared()
    paused(function()
      corun.timeout(0.02, function()
        corun.sleep(0.05)
        SHARED.resumed = true
      end)
      corun.sleep(0.1)                 -- past fn's own wake-up time
    end)
    assert.is_nil(s.resumed)
  end)

  it("closes fn's to-be-closed variables when the deadline passes",
     function()
    shared()
    local closed = paused(function()
      corun.timeout(0.02, function()
        local a <close> = closer("a")
        local b <close> = closer("b")
        corun.sleep(10)
      end)
      return SHARED.closed
    end)
    assert.same({ "b", "a" }, closed)
  end)

  it("does not let pcall inside fn catch the expiry", function()
    local s = shared()
    local ok = paused(function()
      return corun.timeout(0.02, function()
        pcall(corun.sleep, 10)
        SHARED.caught = true
      end)
    end)
    assert.is_false(ok)
    assert.is_nil(s.caught)
  end)

  it("propagates an error fn raises before waiting", function()
    local e = {}
    local ok, err = run(function()
      return pcall(corun.timeout, 1, function() error(e) end)
    end)
    assert.is_false(ok)
    assert.equal(e, err)
  end)

  it("propagates an error fn raises after waiting", function()
    local e = {}
    local ok, err = run(function()
      return pcall(corun.timeout, 1, function()
        corun.sleep(0.01)
        error(e)
      end)
    end)
    assert.is_false(ok)
    assert.equal(e, err)
  end)

  it("does not report an error fn raises as a task error", function()
    local status, _, err = corun_script [[
      local corun = require "corun"
      pcall(corun.timeout, 1, function() corun.sleep(0.001) error("x") end)
      pcall(corun.timeout, 1, function() error("y") end)
    ]]
    assert.equal(0, status)
    assert.equal("", err)
  end)

  it("lets the inner of two nested timeouts expire first", function()
    local elapsed, outer_ok, inner_ok = timed(corun.timeout, 1, function()
      return (corun.timeout(0.02, corun.sleep, 10))
    end)
    assert.is_true(outer_ok)
    assert.is_false(inner_ok)
    near(0.02, elapsed)
  end)

  it("cancels fn when the calling task is cancelled", function()
    local s = shared()
    run(function()
      local h = corun.spawn(function()
        corun.timeout(100, function()
          local c <close> = closer("fn")
          corun.sleep(100)
        end)
        SHARED.resumed = true
      end)
      corun.yield_now()
      h:abort()
      h:await()
    end)
    assert.same({ "fn" }, s.closed)
    assert.is_nil(s.resumed)
  end)

  it("raises on a duration that is not a number", function()
    local ok, err = task_pcall(corun.timeout, "1", function() end)
    assert.is_false(ok)
    assert.equal(
      "corun.timeout: bad argument #1 (number expected, got string)", err)
  end)

  it("raises on a negative duration", function()
    local ok, err = task_pcall(corun.timeout, -1, function() end)
    assert.is_false(ok)
    assert.matches("^corun%.timeout: bad argument #1 %(duration must be a " ..
                   "non%-negative number of seconds", err)
  end)

  it("raises on NaN", function()
    local ok, err = task_pcall(corun.timeout, 0 / 0, function() end)
    assert.is_false(ok)
    assert.matches("^corun%.timeout: bad argument #1 %(duration must be a " ..
                   "non%-negative number of seconds", err)
  end)

  it("raises when fn is not a function", function()
    local ok, err = task_pcall(corun.timeout, 1, {})
    assert.is_false(ok)
    assert.equal(
      "corun.timeout: bad argument #2 (function expected, got table)", err)
  end)

  it("raises outside a runtime", function()
    local ok, err = pcall(corun.timeout, 1, function() end)
    assert.is_false(ok)
    assert.equal(
      "corun.timeout: must be called from a task (inside corun.run)", err)
  end)
end)

describe("corun.interval", function()
  it("returns an Interval", function()
    assert.equal("corun.Interval", getmetatable(corun.interval(1)).__name)
  end)

  it("ticks the first time at once", function()
    near(0, timed(function() corun.interval(1):tick() end))
  end)

  it("ticks every period after the first tick", function()
    local elapsed = timed(function()
      local iv = corun.interval(0.05)
      for _ = 1, 3 do iv:tick() end
    end)
    near(0.1, elapsed)
  end)

  it("waits in tick like any other wait", function()
    local elapsed, ok = timed(function()
      local iv = corun.interval(10)
      iv:tick()
      return corun.timeout(0.02, iv.tick, iv)
    end)
    assert.is_false(ok)
    near(0.02, elapsed)
  end)

  it("raises on a zero period", function()
    local ok, err = pcall(corun.interval, 0)
    assert.is_false(ok)
    assert.equal("corun.interval: bad argument #1 (period must be " ..
                 "positive, got 0.0)", err)
  end)

  it("raises on a negative period", function()
    local ok, err = pcall(corun.interval, -1)
    assert.is_false(ok)
    assert.equal("corun.interval: bad argument #1 (period must be " ..
                 "positive, got -1.0)", err)
  end)

  it("raises on a NaN or infinite period, saying which", function()
    local e1 = select(2, pcall(corun.interval, 0 / 0))
    local e2 = select(2, pcall(corun.interval, math.huge))
    assert.equal("corun.interval: bad argument #1 (period is NaN)", e1)
    assert.equal("corun.interval: bad argument #1 (period must be " ..
                 "finite, got inf)", e2)
  end)

  it("raises on a period that is not a number", function()
    local ok, err = pcall(corun.interval, "1")
    assert.is_false(ok)
    assert.equal(
      "corun.interval: bad argument #1 (number expected, got string)", err)
  end)

  it("raises when tick is called outside a runtime", function()
    local iv = corun.interval(1)
    local ok, err = pcall(iv.tick, iv)
    assert.is_false(ok)
    assert.equal("Interval:tick: must be called from a task (inside corun.run)",
                 err)
  end)

  it("accepts every positive finite period, centuries included", function()
    local r = paused(function()
      local r = {}
      for i, p in ipairs { 1e-12, 1.8e10, 1e11, 1e300 } do
        local iv = corun.interval(p)
        r[i] = { iv:period(), corun.timeout(3600, function()
          iv:tick()
          return iv:tick()
        end) }
      end
      return r
    end)
    assert.is_true(r[1][1] > 0)
    assert.is_true(r[1][2])  -- ticks as fast as the clock allows
    for i = 2, 4 do
      assert.is_true(r[i][1] > 1e9, "period " .. i)
      assert.is_false(r[i][2], "period " .. i)  -- no second tick in an hour
    end
  end)

  it("loses no tick when a wait in tick is cancelled", function()
    local r = paused(function()
      local t0 = corun.now()
      local iv = corun.interval(0.3)
      iv:tick()
      assert(not corun.timeout(0.1, iv.tick, iv))
      assert(not corun.timeout(0.1, iv.tick, iv))
      local due = iv:tick()  -- the tick at 0.3 s, on time
      return { due = due - t0, at = corun.now() - t0 }
    end)
    near(0.3, r.due)
    near(0.3, r.at)
  end)

  it("loses no tick when the task waiting in tick is aborted", function()
    local r = paused(function()
      local t0 = corun.now()
      local iv = corun.interval(1)
      iv:tick()
      -- an Interval cannot cross into a task: a branch waits in it instead
      corun.select(function() iv:tick() end, function() corun.sleep(0.5) end)
      return iv:tick() - t0, corun.now() - t0
    end)
    near(1, r)
  end)
end)

-- Whether iv:tick() has a tick ready now: its due time, or nil if it would
-- wait (the wait is then cancelled, which must take no tick).
local function poll(iv)
  local ok, due = corun.timeout(0, iv.tick, iv)
  return ok and due or nil
end

-- Check that the ticks ready now are due at 'start' + each of 'deltas'
-- (milliseconds), and that no more is ready.
local function check_ticks(iv, start, ...)
  for _, ms in ipairs { ... } do
    local due = poll(iv)
    assert(due, ("expected a tick due at +%d ms, none was ready"):format(ms))
    near(start + ms / 1000, due)
  end
  local extra = poll(iv)
  assert(extra == nil, ("expected no tick ready, got one due at +%.3f s")
         :format((extra or 0) - start))
end

-- Translations of Tokio's tests/time_interval.rs (burst, reset): the
-- interval starts at the first tick, which comes at once.
describe("corun.interval, as Tokio's time_interval tests", function()
  it("burst: missed ticks fire at once, then the schedule goes on", function()
    paused(function()
      local adv = corun.clock.advance
      local start = corun.now()
      local iv = corun.interval(0.3)
      check_ticks(iv, start, 0)
      adv(0.1)  check_ticks(iv, start)
      adv(0.2)  check_ticks(iv, start, 300)
      adv(0.65) check_ticks(iv, start, 600, 900)
      adv(0.2)  check_ticks(iv, start)
      adv(0.1)  check_ticks(iv, start, 1200)
      adv(0.25) check_ticks(iv, start, 1500)
      adv(0.3)  check_ticks(iv, start, 1800)
    end)
  end)

  it("reset: the next tick comes one period after the reset", function()
    paused(function()
      local adv = corun.clock.advance
      local start = corun.now()
      local iv = corun.interval(0.3)
      check_ticks(iv, start, 0)
      adv(0.1)  check_ticks(iv, start)
      adv(0.2)  check_ticks(iv, start, 300)
      adv(0.1)  check_ticks(iv, start)
      iv:reset()
      adv(0.25) check_ticks(iv, start)
      adv(0.05) check_ticks(iv, start, 700)
      adv(0.3)  check_ticks(iv, start, 1000)
    end)
  end)
end)

describe("corun.sleep_until", function()
  it("waits until corun.now() reaches the given time", function()
    local target, woke = paused(function()
      local target = corun.now() + 0.05
      corun.sleep_until(target)
      return target, corun.now()
    end)
    near(target, woke)                 -- exactly then, on the paused clock
    assert.is_true(woke >= target)     -- and never before
    -- On the real clock: at that time or later (a lower bound only).
    target, woke = run(function()
      local target = corun.now() + 0.05
      corun.sleep_until(target)
      return target, corun.now()
    end)
    assert.is_true(woke >= target, woke - target)
  end)

  it("never wakes before the time named, whatever its rounding", function()
    local early = paused(function()
      local early = 0
      for i = 1, 1000 do
        local t = corun.now() + 0.05 + i * 1e-4
        corun.sleep_until(t)
        if corun.now() < t then early = early + 1 end
      end
      return early
    end)
    assert.equal(0, early)
  end)

  it("returns promptly for a time in the past", function()
    near(0, timed(function() corun.sleep_until(corun.now() - 10) end))
  end)

  it("yields for a time in the past", function()
    local s = shared()
    run(function()
      local h = corun.spawn(function() SHARED.ran = true end)
      corun.sleep_until(0)
      SHARED.seen = SHARED.ran
      h:await()
    end)
    assert.is_true(s.seen)
  end)

  it("raises on NaN", function()
    local ok, err = task_pcall(corun.sleep_until, 0 / 0)
    assert.is_false(ok)
    assert.matches("^corun%.sleep_until: bad argument #1", err)
  end)

  it("raises on a time that is not a number", function()
    local ok, err = task_pcall(corun.sleep_until, "1")
    assert.is_false(ok)
    assert.equal(
      "corun.sleep_until: bad argument #1 (number expected, got string)", err)
  end)

  it("raises outside a runtime", function()
    local ok, err = pcall(corun.sleep_until, 0)
    assert.is_false(ok)
    assert.equal(
      "corun.sleep_until: must be called from a task (inside corun.run)", err)
  end)
end)
