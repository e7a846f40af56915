-- clock_spec.lua: corun.clock, the test clock (paused time), and
-- `corun --paused-clock`.  Times on the paused clock are exact: they are
-- compared with near() (helper.lua), which allows only the rounding of a
-- float.
local corun = require "corun"

describe("corun.clock.pause", function()
  it("stops corun.now()", function()
    local a, b = run(function()
      corun.clock.pause()
      local a = corun.now()
      corun.yield_now()
      for _ = 1, 1e5 do end
      return a, corun.now()
    end)
    assert.equal(a, b)
  end)

  it("makes a long sleep return at once, with now() moved by exactly its " ..
     "length", function()
    local w0 = wall()
    local elapsed = paused(function()
      local t0 = corun.now()
      corun.sleep(3600)
      return corun.now() - t0
    end)
    near(3600, elapsed)
    assert.is_true(wall() - w0 < 600)  -- an hour did not pass for real
  end)

  it("fires sleeps in deadline order, equal deadlines in the order set",
     function()
    local s = shared()
    s.log = {}
    paused(function()
      local t0 = corun.now()
      local set = corun.JoinSet()
      for i, d in ipairs { 3, 1, 2, 1, 0.5 } do
        set:spawn(function()
          corun.sleep(d)
          SHARED.log[#SHARED.log + 1] = { i, corun.now() - t0 }
        end)
      end
      set:join_all()
    end)
    local order, at = {}, {}
    for k, e in ipairs(s.log) do order[k], at[k] = e[1], e[2] end
    assert.same({ 5, 2, 4, 3, 1 }, order)
    for k, d in ipairs { 0.5, 1, 1, 2, 3 } do near(d, at[k]) end
  end)

  it("does nothing on a paused clock", function()
    local a, b = paused(function()
      local a = corun.now()
      corun.clock.pause()
      corun.sleep(1)
      return a, corun.now()
    end)
    near(1, b - a)
  end)

  it("raises outside a task", function()
    local ok, err = pcall(corun.clock.pause)
    assert.is_false(ok)
    assert.equal("corun.clock.pause: must be called from a task (inside " ..
                 "corun.run)", err)
  end)

  it("belongs to one runtime: the next one starts on the real clock",
     function()
    paused(function() end)
    assert.is_false(run(function() return corun.clock.is_paused() end))
  end)
end)

describe("corun.clock.is_paused", function()
  it("tells whether the clock is paused", function()
    local r = run(function()
      local r = { corun.clock.is_paused() }
      corun.clock.pause()
      r[2] = corun.clock.is_paused()
      corun.clock.resume()
      r[3] = corun.clock.is_paused()
      return r
    end)
    assert.same({ false, true, false }, r)
  end)

  it("is false outside a runtime", function()
    assert.is_false(corun.clock.is_paused())
  end)
end)

describe("corun.clock.advance", function()
  it("moves the clock by exactly s, firing the deadlines due meanwhile " ..
     "in order", function()
    local s = shared()
    s.log = {}
    local r = paused(function()
      local t0 = corun.now()
      local set = corun.JoinSet()
      for _, d in ipairs { 2.5, 1, 4, 2 } do
        set:spawn(function()
          corun.sleep(d)
          SHARED.log[#SHARED.log + 1] = d
        end)
      end
      corun.yield_now()  -- they start and sleep
      corun.clock.advance(2.5)
      local r = { now = corun.now() - t0, log = { table.unpack(SHARED.log) } }
      set:abort_all()
      while set:join_next() do end
      return r
    end)
    near(2.5, r.now)
    assert.same({ 1, 2, 2.5 }, r.log)
  end)

  it("returns after the woken tasks have run to their next wait, at the " ..
     "time their deadline named", function()
    local s = shared()
    local r = paused(function()
      local t0 = corun.now()
      local h = corun.spawn(function(t0)
        corun.sleep(1)
        SHARED.first = corun.now() - t0
        corun.sleep(1)
        SHARED.second = corun.now() - t0
      end, t0)
      corun.yield_now()
      corun.clock.advance(1)
      local after_one = SHARED.first
      local second_before = SHARED.second
      corun.clock.advance(1)
      h:await()
      return { after_one, second_before }
    end)
    near(1, r[1])
    assert.is_nil(r[2])
    near(1, s.first)
    near(2, s.second)
  end)

  it("fires a deadline set by a woken task when it falls within the " ..
     "advance", function()
    local s = shared()
    local elapsed = paused(function()
      local t0 = corun.now()
      local h = corun.spawn(function(t0)
        corun.sleep(1)
        corun.sleep(1)
        SHARED.at = corun.now() - t0
      end, t0)
      corun.yield_now()
      corun.clock.advance(5)
      assert(h:is_finished())
      h:await()
      return corun.now() - t0
    end)
    near(2, s.at)
    near(5, elapsed)
  end)

  it("moves time by exactly s: no auto-advance while it runs", function()
    local r = paused(function()
      local t0 = corun.now()
      local h = corun.spawn(function() corun.sleep(100) end)
      corun.clock.advance(0.25)
      local r = corun.now() - t0
      h:abort()
      h:await()
      return r
    end)
    near(0.25, r)
  end)

  it("with 0 fires what is due now and leaves the time as it is",
     function()
    local t = paused(function()
      local t0 = corun.now()
      corun.clock.advance(0)
      return corun.now() - t0
    end)
    assert.equal(0, t)
  end)

  it("raises when the clock is not paused", function()
    local ok, err = run(function() return pcall(corun.clock.advance, 1) end)
    assert.is_false(ok)
    assert.equal("corun.clock.advance: the clock is not paused (call " ..
                 "corun.clock.pause first)", err)
  end)

  it("raises on a negative or non-number duration", function()
    local e1, e2 = paused(function()
      return select(2, pcall(corun.clock.advance, -1)),
             select(2, pcall(corun.clock.advance, "1"))
    end)
    assert.matches("^corun.clock.advance: bad argument #1 %(duration must " ..
                   "be a non%-negative number of seconds", e1)
    assert.equal("corun.clock.advance: bad argument #1 (number expected, " ..
                 "got string)", e2)
  end)
end)

describe("corun.clock.resume", function()
  it("goes on from the paused value: now() stays monotonic", function()
    local r = paused(function()
      local t0 = corun.now()
      corun.sleep(7200)  -- jumps two hours ahead of the real clock
      local paused_at = corun.now()
      corun.clock.resume()
      local a = corun.now()
      corun.sleep(0.01)
      local b = corun.now()
      return { t0 = t0, paused_at = paused_at, a = a, b = b }
    end)
    near(7200, r.paused_at - r.t0)
    assert.is_true(r.a >= r.paused_at)
    assert.is_true(r.b - r.a >= 0.01)
  end)

  it("lets a sleep begun while paused end on real time", function()
    local elapsed = run(function()
      corun.clock.pause()
      local h = corun.spawn(function()
        local t0 = corun.now()
        corun.sleep(0.05)
        return corun.now() - t0
      end)
      corun.yield_now()
      corun.clock.resume()
      local ok, e = h:await()
      return e
    end)
    assert.is_true(elapsed >= 0.05)
  end)

  it("does nothing on a running clock", function()
    local ok = run(function()
      corun.clock.resume()
      return corun.clock.is_paused()
    end)
    assert.is_false(ok)
  end)
end)

describe("corun.timeout on the paused clock", function()
  it("expires after exactly its deadline", function()
    local ok, err, elapsed = paused(function()
      local t0 = corun.now()
      local ok, err = corun.timeout(30, corun.sleep, 60)
      return ok, err, corun.now() - t0
    end)
    assert.is_false(ok)
    assert.equal("deadline has elapsed", tostring(err))
    near(30, elapsed)
  end)

  it("lets fn finish when it ends first, at its own time", function()
    local ok, v, elapsed = paused(function()
      local t0 = corun.now()
      local ok, v = corun.timeout(30, function()
        corun.sleep(29.999)
        return "done"
      end)
      return ok, v, corun.now() - t0
    end)
    assert.is_true(ok)
    assert.equal("done", v)
    near(29.999, elapsed)
  end)

  it("expires under corun.clock.advance", function()
    local r = paused(function()
      local h = corun.spawn(function()
        return corun.timeout(2, corun.sleep, 10)
      end)
      corun.yield_now()
      corun.clock.advance(1.999)
      local early = h:is_finished()
      corun.clock.advance(0.001)
      local ok, tok = h:await()
      return { early = early, ok = ok, tok = tok }
    end)
    assert.is_false(r.early)
    assert.is_true(r.ok)
    assert.is_false(r.tok)
  end)
end)

describe("corun.interval on the paused clock", function()
  it("ticks at exact multiples of its period", function()
    local ticks = paused(function()
      local t0 = corun.now()
      local iv = corun.interval(0.25)
      local ticks = {}
      for i = 1, 5 do ticks[i] = iv:tick() - t0 end
      return ticks
    end)
    for i, want in ipairs { 0, 0.25, 0.5, 0.75, 1 } do near(want, ticks[i]) end
  end)

  it("fires the missed ticks at once after a long wait (burst)", function()
    local r = paused(function()
      local t0 = corun.now()
      local iv = corun.interval(1)
      iv:tick()
      corun.sleep(3.5)
      local at = {}
      for i = 1, 4 do
        iv:tick()
        at[i] = corun.now() - t0
      end
      return at
    end)
    near(3.5, r[1])
    near(3.5, r[2])
    near(3.5, r[3])
    near(4, r[4])
  end)
end)

describe("corun.sleep_until on the paused clock", function()
  it("wakes at exactly the time named", function()
    local at, want = paused(function()
      local want = corun.now() + 12.5
      corun.sleep_until(want)
      return corun.now(), want
    end)
    assert.equal(want, at)
  end)
end)

describe("the paused clock and I/O", function()
  it("stands still while an I/O operation is in progress", function()
    local w0 = wall()
    local r = paused(function()
      local t0 = corun.now()
      local h = corun.spawn(function()
        return corun.process.run("sleep", { "0.3" })
      end)
      corun.sleep(1)  -- cannot jump while the child runs
      return { finished = h:is_finished(), at = corun.now() - t0,
               ok = h:await() }
    end)
    assert.is_true(r.finished)
    near(1, r.at)
    assert.is_true(wall() - w0 >= 0.3)
  end)

  it("keeps a timeout around a read from firing while the read waits",
     function()
    local r = paused(function()
      local p = assert(corun.process.spawn("sh", { "-c", "sleep 0.2; echo hi" },
                                           { stdio = { stdout = "pipe" } }))
      local t0 = corun.now()
      local ok, line = corun.timeout(0.001, p.stdout.read_line, p.stdout)
      p:wait()
      return { ok = ok, line = line, at = corun.now() - t0 }
    end)
    assert.is_true(r.ok)
    assert.equal("hi", r.line)
    assert.equal(0, r.at)
  end)

  it("jumps while a task waits in accept (a client may never come)",
     function()
    local elapsed = paused(function()
      local server = assert(corun.net.listen("127.0.0.1", 0))
      local t0 = corun.now()
      local i = corun.select(function() return server:accept() end,
                             function() corun.sleep(600) end)
      server:close()
      return corun.now() - t0, i
    end)
    near(600, elapsed)
  end)

  it("jumps while a task waits for a signal", function()
    local i, elapsed = paused(function()
      local t0 = corun.now()
      local i = corun.select(function() corun.signal.wait("SIGUSR2") end,
                             function() corun.sleep(60) end)
      return i, corun.now() - t0
    end)
    assert.equal(2, i)
    near(60, elapsed)
  end)
end)

describe("corun --paused-clock", function()
  it("runs the script with the clock paused from its first line",
     function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write([[
      local corun = require "corun"
      local t0 = corun.now()
      print(corun.clock.is_paused())
      corun.sleep(86400)
      print(string.format("%.3f", corun.now() - t0))
    ]])
    f:close()
    local status, out, err = corun_exec({ "--paused-clock", path })
    os.remove(path)
    assert.equal("", err)
    assert.equal(0, status)
    assert.equal("true\n86400.000\n", out)
  end)

  it("is listed in the usage", function()
    local status, _, err = corun_exec({ "-x" })
    assert.equal(1, status)
    assert.matches("%-%-paused%-clock", err)
  end)

  it("leaves the clock running without it", function()
    local status, out = corun_exec({ "-e",
      "print(require('corun').clock.is_paused())" })
    assert.equal(0, status)
    assert.equal("false\n", out)
  end)
end)

describe("corun.live_tasks", function()
  it("counts the tasks that have not ended, the caller included",
     function()
    local r = run(function()
      local r = { corun.live_tasks() }
      local h = corun.spawn(function() corun.sleep(0.01) end)
      r[2] = corun.live_tasks()
      corun.join(function() r[3] = corun.live_tasks() end,
                 function() end)
      h:await()
      r[4] = corun.live_tasks()
      return r
    end)
    assert.same({ 1, 2, 2, 1 }, r)
  end)

  it("raises outside a task", function()
    local ok, err = pcall(corun.live_tasks)
    assert.is_false(ok)
    assert.equal("corun.live_tasks: must be called from a task (inside " ..
                 "corun.run)", err)
  end)
end)

describe("run (the spec helper)", function()
  it("fails a spec that leaves a task alive", function()
    local ok, err = pcall(run, function()
      corun.spawn(function() corun.sleep(100) end)
    end)
    assert.is_false(ok)
    assert.matches("the spec left 1 task alive", err)
  end)

  it("passes a spec whose tasks ended, aborted ones included", function()
    assert.has_no.errors(function()
      run(function()
        corun.spawn(function() corun.sleep(100) end):abort()
        corun.spawn(function() end):await()
      end)
    end)
  end)

  it("fails a paused spec that leaves a task alive", function()
    local ok, err = pcall(paused, function()
      corun.spawn(function() corun.sleep(100) end)
    end)
    assert.is_false(ok)
    assert.matches("the spec left 1 task alive", err)
  end)
end)
