local corun = require "corun"

describe("JoinHandle:abort", function()
  it("stops the task at the point where it waits", function()
    local s = shared()
    run(function()
      local h = corun.spawn(function()
        SHARED.before = true
        corun.sleep(100)
        SHARED.after = true
      end)
      corun.yield_now()
      h:abort()
      h:await()
    end)
    assert.is_true(s.before)
    assert.is_nil(s.after)
  end)

  it("never resumes the task, even once its wait would have ended",
     function()
    local s = shared()
    local waited = paused(function()
      local t0 = corun.now()
      local h = corun.spawn(function()
        corun.sleep(0.02)
        SHARED.resumed = true
      end)
      corun.yield_now()
      h:abort()
      corun.sleep(0.1)
      return corun.now() - t0
    end)
    near(0.1, waited)             -- well past the task's 0.02 s
    assert.is_nil(s.resumed)
  end)

  it("stops a task that waits in JoinHandle:await", function()
    local s = shared()
    local ok, err = run_leaving(function()
      local h = corun.spawn(function()
        local inner = corun.spawn(function() corun.sleep(100) end)
        inner:await()
        SHARED.resumed = true
      end)
      corun.yield_now()
      corun.yield_now()
      h:abort()
      return h:await()
    end)
    assert.is_false(ok)
    assert.is_true(err:is_cancelled())
    assert.is_nil(s.resumed)
  end)

  it("leaves running the task that the cancelled task was awaiting",
     function()
    -- paused clock: inner cannot end before outer is aborted, however
    -- slow the machine
    local ok, v, at = paused(function()
      local t0 = corun.now()
      local inner = corun.spawn(function()
        corun.sleep(0.05)
        return "inner done"
      end)
      shared().inner = inner
      local outer = corun.spawn(function()
        return SHARED.inner:await()
      end)
      corun.yield_now()
      outer:abort()
      outer:await()
      local ok, v = inner:await()
      return ok, v, corun.now() - t0
    end)
    assert.is_true(ok)
    assert.equal("inner done", v)
    near(0.05, at)                -- it ran its whole sleep
  end)

  it("closes the task's pending to-be-closed variables", function()
    local s = shared()
    run(function()
      local h = corun.spawn(function()
        local a <close> = closer("a")
        local b <close> = closer("b")
        corun.sleep(100)
      end)
      corun.yield_now()
      h:abort()
      h:await()
    end)
    assert.same({ "b", "a" }, s.closed)
  end)

  it("closes the to-be-closed variables of the functions the task is in",
     function()
    local s = shared()
    run(function()
      local h = corun.spawn(function()
        local outer <close> = closer("outer")
        local function inner()
          local c <close> = closer("inner")
          corun.sleep(100)
        end
        inner()
      end)
      corun.yield_now()
      h:abort()
      h:await()
    end)
    assert.same({ "inner", "outer" }, s.closed)
  end)

  it("closes the to-be-closed variables before await returns", function()
    local closed = run(function()
      local h = corun.spawn(function()
        local c <close> = closer("c")
        corun.sleep(100)
      end)
      corun.yield_now()
      shared()
      h:abort()
      h:await()
      return SHARED.closed
    end)
    assert.same({ "c" }, closed)
  end)

  it("cannot be caught by pcall inside the task", function()
    local s = shared()
    local ok, err = run(function()
      local h = corun.spawn(function()
        local ok = pcall(corun.sleep, 100)
        SHARED.caught = true
        return ok
      end)
      corun.yield_now()
      h:abort()
      return h:await()
    end)
    assert.is_nil(s.caught)
    assert.is_false(ok)
    assert.is_true(err:is_cancelled())
  end)

  it("cannot be caught by xpcall inside the task", function()
    local s = shared()
    run(function()
      local h = corun.spawn(function()
        xpcall(corun.sleep, function(e) SHARED.handler = e end, 100)
        SHARED.caught = true
      end)
      corun.yield_now()
      h:abort()
      h:await()
    end)
    assert.is_nil(s.handler)
    assert.is_nil(s.caught)
  end)

  it("stops a running task that aborts itself at its next wait", function()
    local s = shared()
    local ok, err = run(function()
      local h = corun.spawn(function()
        corun.yield_now()
        SHARED.h:abort()
        SHARED.after_abort = true
        corun.yield_now()
        SHARED.after_wait = true
      end)
      SHARED.h = h
      return h:await()
    end)
    assert.is_true(s.after_abort)
    assert.is_nil(s.after_wait)
    assert.is_false(ok)
    assert.is_true(err:is_cancelled())
  end)

  -- In a child process: cancelling a task that never started has crashed
  -- the runtime, and a crash must fail this test, not kill the runner.
  it("makes a task that never started never run", function()
    local status, out, err = corun_script [[
      local corun = require "corun"
      local h = corun.spawn(function() print("ran") end)
      h:abort()
      corun.sleep(0.01)
      print("main done")
    ]]
    assert.equal(0, status, err)
    assert.equal("main done\n", out)
    assert.equal("", err)
  end)

  -- In a child process, for the same reason.
  it("gives a cancelled JoinError for a task that never started", function()
    local status, out, err = corun_script [[
      local corun = require "corun"
      local h = corun.spawn(function() end)
      h:abort()
      local ok, e = h:await()
      print(ok, e:is_cancelled(), h:is_finished())
    ]]
    assert.equal(0, status, err)
    assert.equal("false\ttrue\ttrue\n", out)
    assert.equal("", err)
  end)

  it("is a no-op on a task that has finished", function()
    local ok, v = run(function()
      local h = corun.spawn(function() return "result" end)
      corun.sleep(0.01)
      assert(h:is_finished())
      h:abort()
      return h:await()
    end)
    assert.is_true(ok)
    assert.equal("result", v)
  end)

  it("is a no-op on a task that has already been cancelled", function()
    local ok, err = run(function()
      local h = corun.spawn(function() corun.sleep(100) end)
      corun.yield_now()
      h:abort()
      corun.yield_now()
      h:abort()
      return h:await()
    end)
    assert.is_false(ok)
    assert.is_true(err:is_cancelled())
  end)

  it("does not cancel the task that calls it", function()
    local v = run(function()
      local h = corun.spawn(function() corun.sleep(100) end)
      corun.yield_now()
      h:abort()
      h:await()
      corun.sleep(0.001)
      return "caller goes on"
    end)
    assert.equal("caller goes on", v)
  end)

  it("does not report a cancelled task's end as an error", function()
    local status, _, err = corun_script [[
      local corun = require "corun"
      local h = corun.spawn(function() corun.sleep(100) end)
      corun.yield_now()
      h:abort()
      corun.sleep(0.01)
    ]]
    assert.equal(0, status)
    assert.equal("", err)
  end)

  it("raises when called on something that is not a JoinHandle", function()
    local ok, err = run(function()
      local h = corun.spawn(function() end)
      local r = table.pack(pcall(h.abort, 1))
      h:await()
      return table.unpack(r)
    end)
    assert.is_false(ok)
    assert.equal(
      "JoinHandle:abort: bad argument #1 (JoinHandle expected, got number)",
      err)
  end)
end)
