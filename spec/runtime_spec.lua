local corun = require "corun"

describe("corun.run", function()
  it("runs fn as the main task and returns its results", function()
    local r = table.pack(corun.run(function() return 1, nil, "three" end))
    assert.same({ n = 3, 1, nil, "three" }, r)
  end)

  it("passes its extra arguments to fn", function()
    local a, b, c = corun.run(function(...) return ... end, "x", 2, true)
    assert.same({ "x", 2, true }, { a, b, c })
  end)

  it("gives fn its arguments without copying them", function()
    local t = {}
    assert.equal(t, corun.run(function(x) return x end, t))
  end)

  it("raises the same error value the main task raised", function()
    local e = { code = 42 }
    local ok, err = pcall(corun.run, function() error(e) end)
    assert.is_false(ok)
    assert.equal(e, err)
  end)

  it("raises the main task's error only after cancelling the other tasks",
     function()
    local s = shared()
    local ok = pcall(corun.run, function()
      corun.spawn(function()
        local c <close> = closer("task")
        corun.sleep(100)
      end)
      corun.yield_now()
      error("main failed")
    end)
    assert.is_false(ok)
    assert.same({ "task" }, s.closed)
  end)

  it("cancels every task still alive when the main task ends", function()
    local s = shared()
    run_leaving(function()
      for i = 1, 3 do
        corun.spawn(function()
          local c <close> = closer(i)
          corun.sleep(100)
        end)
      end
      corun.yield_now()
      assert.is_nil(s.closed)
    end)
    table.sort(s.closed)
    assert.same({ 1, 2, 3 }, s.closed)
  end)

  it("never resumes the tasks it cancels at the end of the main task",
     function()
    local s = shared()
    run_leaving(function()
      corun.spawn(function()
        corun.sleep(0.05)
        SHARED.resumed = true
      end)
      corun.yield_now()
    end)
    assert.is_nil(s.resumed)
  end)

  it("cancels tasks waiting on other tasks when the main task ends",
     function()
    local s = shared()
    run_leaving(function()
      corun.spawn(function()
        local c <close> = closer("awaiter")
        local inner = corun.spawn(function()
          local c2 <close> = closer("sleeper")
          corun.sleep(100)
        end)
        inner:await()
      end)
      corun.sleep(0.01)
    end)
    table.sort(s.closed)
    assert.same({ "awaiter", "sleeper" }, s.closed)
  end)

  -- In a child process: cancelling a task that never started has crashed
  -- the runtime, and a crash must fail this test, not kill the runner.
  it("cancels a task that never started without running it", function()
    local status, out, err = corun_script [[
      local corun = require "corun"
      corun.spawn(function() print("ran") end)
      print("main done")
    ]]
    assert.equal(0, status, err)
    assert.equal("main done\n", out)
    assert.equal("", err)
  end)

  it("can start a new runtime after the previous one returned", function()
    assert.equal(1, corun.run(function() return 1 end))
    assert.equal(2, corun.run(function() return 2 end))
  end)

  it("can start a new runtime after the previous one raised", function()
    assert.is_false(pcall(corun.run, function() error("x") end))
    assert.equal("ok", corun.run(function() return "ok" end))
  end)

  it("raises when called from within a runtime", function()
    local ok, err = run(function()
      return pcall(corun.run, function() end)
    end)
    assert.is_false(ok)
    assert.equal("corun.run: cannot start a runtime from within a runtime",
                 err)
  end)

  it("raises when called from a spawned task", function()
    local ok, err = run(function()
      local _, ok, err = corun.spawn(function()
        return pcall(corun.run, function() end)
      end):await()
      return ok, err
    end)
    assert.is_false(ok)
    assert.equal("corun.run: cannot start a runtime from within a runtime",
                 err)
  end)

  it("leaves the outer runtime working after a nested call failed",
     function()
    local ok, v = run(function()
      pcall(corun.run, function() end)
      corun.sleep(0.001)
      return corun.spawn(function() return "still here" end):await()
    end)
    assert.is_true(ok)
    assert.equal("still here", v)
  end)

  it("raises when fn is not a function", function()
    local ok, err = pcall(corun.run, 42)
    assert.is_false(ok)
    assert.equal("corun.run: bad argument #1 (function expected, got number)",
                 err)
  end)
end)

describe("corun.task_id", function()
  it("is 1 in the main task", function()
    assert.equal(1, corun.run(corun.task_id))
  end)

  it("returns an integer", function()
    assert.equal("integer", math.type(run(corun.task_id)))
  end)

  it("returns the id of the running spawned task", function()
    local id, inside = run(function()
      local h = corun.spawn(corun.task_id)
      local _, inside = h:await()
      return h:id(), inside
    end)
    assert.equal(id, inside)
    assert.not_equal(1, inside)
  end)

  it("gives distinct ids to distinct tasks", function()
    local ids = run(function()
      local hs, seen = {}, {}
      for i = 1, 10 do hs[i] = corun.spawn(corun.task_id) end
      for i = 1, 10 do
        local _, id = hs[i]:await()
        seen[#seen + 1] = id
      end
      return seen
    end)
    local set = {}
    for _, id in ipairs(ids) do
      assert.is_nil(set[id])
      set[id] = true
    end
    assert.equal(10, #ids)
  end)

  it("raises outside a runtime", function()
    local ok, err = pcall(corun.task_id)
    assert.is_false(ok)
    assert.equal("corun.task_id: must be called from a task (inside corun.run)",
                 err)
  end)
end)

describe("corun.yield_now", function()
  it("lets every other ready task run once, then continues", function()
    local s = shared()
    s.log = {}
    run(function()
      local hs = {}
      for i = 1, 3 do
        hs[i] = corun.spawn(function()
          local log = SHARED.log
          log[#log + 1] = "t" .. i
          corun.yield_now()
          log[#log + 1] = "t" .. i .. " again"
        end)
      end
      corun.yield_now()
      s.log[#s.log + 1] = "main"
      for i = 1, 3 do hs[i]:await() end
    end)
    assert.same({ "t1", "t2", "t3", "main", "t1 again", "t2 again",
                  "t3 again" }, s.log)
  end)

  it("returns nothing", function()
    assert.equal(0, run(function() return select("#", corun.yield_now()) end))
  end)

  it("returns at once when no other task is ready", function()
    local elapsed = paused(function()
      local t0 = corun.now()
      corun.yield_now()
      return corun.now() - t0
    end)
    near(0, elapsed)                   -- no wait the clock could jump to
  end)

  it("raises outside a runtime", function()
    local ok, err = pcall(corun.yield_now)
    assert.is_false(ok)
    assert.equal(
      "corun.yield_now: must be called from a task (inside corun.run)", err)
  end)
end)
