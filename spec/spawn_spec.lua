local corun = require "corun"

describe("corun.spawn", function()
  it("returns a JoinHandle", function()
    local name = run(function()
      local h = corun.spawn(function() end)
      local mt = getmetatable(h)
      h:await()
      return mt.__name
    end)
    assert.equal("corun.JoinHandle", name)
  end)

  it("returns before the task has run", function()
    local s = shared()
    local ran_before = run(function()
      local h = corun.spawn(function() SHARED.ran = true end)
      local ran = SHARED.ran
      h:await()
      return ran
    end)
    assert.is_nil(ran_before)
    assert.is_true(s.ran)
  end)

  it("starts the task at the spawner's next yield", function()
    local s = shared()
    run(function()
      local h = corun.spawn(function() SHARED.ran = true end)
      corun.yield_now()
      SHARED.seen = SHARED.ran
      h:await()
    end)
    assert.is_true(s.seen)
  end)

  it("starts the task at the spawner's next wait", function()
    local s = shared()
    run(function()
      local h = corun.spawn(function() SHARED.ran = true end)
      corun.sleep(0.001)
      SHARED.seen = SHARED.ran
      h:await()
    end)
    assert.is_true(s.seen)
  end)

  it("passes the arguments to fn", function()
    local r = run(function()
      return select(2, corun.spawn(function(...)
        return table.pack(...)
      end, 1, nil, "x", false):await())
    end)
    assert.same({ n = 4, 1, nil, "x", false }, r)
  end)

  it("runs tasks spawned from spawned tasks", function()
    local ok, v = run(function()
      return corun.spawn(function()
        local _, v = corun.spawn(function() return "inner" end):await()
        return v
      end):await()
    end)
    assert.is_true(ok)
    assert.equal("inner", v)
  end)

  it("runs many tasks to completion", function()
    local sum = run(function()
      local hs, sum = {}, 0
      for i = 1, 1000 do
        hs[i] = corun.spawn(function(n) corun.yield_now() return n end, i)
      end
      for i = 1, 1000 do sum = sum + select(2, hs[i]:await()) end
      return sum
    end)
    assert.equal(500500, sum)
  end)

  it("keeps the runtime running when a task raises", function()
    local ok, v = run(function()
      local h = corun.spawn(function() error("boom") end)
      local failed = not h:await()
      corun.sleep(0.001)
      return failed, "main goes on"
    end)
    assert.is_true(ok)
    assert.equal("main goes on", v)
  end)

  it("does not cancel a task whose handle is dropped", function()
    local s = shared()
    paused(function()
      corun.spawn(function()
        corun.sleep(0.02)
        SHARED.finished = true
      end)
      corun.yield_now()
      collectgarbage()
      collectgarbage()
      corun.sleep(0.1)
      SHARED.seen = SHARED.finished
    end)
    assert.is_true(s.seen)
  end)

  it("writes an unobserved task error to stderr by shutdown", function()
    local status, _, err = corun_script [[
      local corun = require "corun"
      local h = corun.spawn(function() error("oops!", 0) end)
      corun.sleep(0.01)
    ]]
    assert.equal(0, status)
    assert.truthy(err:find("corun: task 2 panicked: oops!\n", 1, true), err)
    assert.truthy(err:find("stack traceback", 1, true), err)
  end)

  it("writes the error of a task whose handle was dropped to stderr",
     function()
    local status, out, err = corun_script [[
      local corun = require "corun"
      corun.spawn(function() error("dropped!", 0) end)
      corun.sleep(0.01)
      collectgarbage()
      collectgarbage()
      print("after gc")
    ]]
    assert.equal(0, status)
    assert.equal("after gc\n", out)
    assert.truthy(err:find("corun: task 2 panicked: dropped!\n", 1, true),
                  err)
  end)

  it("writes an unobserved error only once", function()
    local _, _, err = corun_script [[
      local corun = require "corun"
      local h = corun.spawn(function() error("once!", 0) end)
      corun.sleep(0.01)
      h = nil
      collectgarbage()
      collectgarbage()
    ]]
    local _, count = err:gsub("panicked: once!", "")
    assert.equal(1, count, err)
  end)

  it("does not write an awaited task error to stderr", function()
    local status, _, err = corun_script [[
      local corun = require "corun"
      local ok = corun.spawn(function() error("seen", 0) end):await()
      assert(ok == false)
    ]]
    assert.equal(0, status)
    assert.equal("", err)
  end)

  it("raises when fn is not a function", function()
    local ok, err = run(function() return pcall(corun.spawn, "nope") end)
    assert.is_false(ok)
    assert.equal("corun.spawn: bad argument #1 (function expected, got string)",
                 err)
  end)

  it("raises outside a runtime", function()
    local ok, err = pcall(corun.spawn, function() end)
    assert.is_false(ok)
    assert.equal("corun.spawn: must be called from a task (inside corun.run)",
                 err)
  end)
end)

describe("JoinHandle:await", function()
  it("returns true and the task's results", function()
    local r = run(function()
      return table.pack(corun.spawn(function()
        return 1, nil, "three"
      end):await())
    end)
    assert.same({ n = 4, true, 1, nil, "three" }, r)
  end)

  it("returns only true for a task that returned nothing", function()
    local r = run(function()
      return table.pack(corun.spawn(function() end):await())
    end)
    assert.same({ n = 1, true }, r)
  end)

  it("waits for the task to finish", function()
    local elapsed, v = paused(function()
      local t0 = corun.now()
      local _, v = corun.spawn(function()
        corun.sleep(0.05)
        return "late"
      end):await()
      return corun.now() - t0, v
    end)
    assert.equal("late", v)
    near(0.05, elapsed)
  end)

  it("returns at once for a task that has already finished", function()
    local ok, v = run(function()
      local h = corun.spawn(function() return "done" end)
      corun.sleep(0.01)
      assert.is_true(h:is_finished())
      return h:await()
    end)
    assert.is_true(ok)
    assert.equal("done", v)
  end)

  it("returns false and a JoinError for a task that raised", function()
    local ok, err = run(function()
      return corun.spawn(function() error("bad", 0) end):await()
    end)
    assert.is_false(ok)
    assert.equal("corun.JoinError", getmetatable(err).__name)
    assert.is_true(err:is_panic())
  end)

  it("returns false and a JoinError for a cancelled task", function()
    local ok, err = run(function()
      local h = corun.spawn(function() corun.sleep(100) end)
      corun.yield_now()
      h:abort()
      return h:await()
    end)
    assert.is_false(ok)
    assert.is_true(err:is_cancelled())
  end)

  it("raises when the handle is awaited a second time", function()
    local ok, err = run(function()
      local h = corun.spawn(function() return 1 end)
      h:await()
      return pcall(h.await, h)
    end)
    assert.is_false(ok)
    assert.matches("^JoinHandle:await: task %d+ was already awaited", err)
  end)

  it("raises when a task awaits its own handle", function()
    local s = shared()
    local ok, err = run(function()
      local h = corun.spawn(function()
        corun.yield_now()
        return pcall(SHARED.h.await, SHARED.h)
      end)
      SHARED.h = h
      return select(2, h:await())
    end)
    assert.is_false(ok)
    assert.matches("^JoinHandle:await: task %d+ cannot await itself", err)
  end)

  it("raises outside a runtime", function()
    local h = run(function()
      local h = corun.spawn(function() end)
      corun.yield_now()
      return h
    end)
    local ok, err = pcall(h.await, h)
    assert.is_false(ok)
    assert.equal(
      "JoinHandle:await: must be called from a task (inside corun.run)", err)
  end)

  it("raises when called on something that is not a JoinHandle", function()
    local ok, err = run(function()
      local h = corun.spawn(function() end)
      local r = table.pack(pcall(h.await, {}))
      h:await()
      return table.unpack(r)
    end)
    assert.is_false(ok)
    assert.equal(
      "JoinHandle:await: bad argument #1 (JoinHandle expected, got table)",
      err)
  end)
end)

describe("JoinHandle:is_finished", function()
  it("is false while the task runs", function()
    local before = paused(function()
      local h = corun.spawn(function() corun.sleep(0.01) end)
      corun.yield_now()
      local before = h:is_finished()
      h:await()
      return before
    end)
    assert.is_false(before)
  end)

  it("is false before the task has started", function()
    local before = run(function()
      local h = corun.spawn(function() end)
      local before = h:is_finished()
      h:await()
      return before
    end)
    assert.is_false(before)
  end)

  it("is true once the task has returned", function()
    assert.is_true(run(function()
      local h = corun.spawn(function() return 1 end)
      corun.sleep(0.01)
      return h:is_finished()
    end))
  end)

  it("is true once the task has raised", function()
    assert.is_true(run(function()
      local h = corun.spawn(function() error("x") end)
      corun.sleep(0.01)
      local finished = h:is_finished()
      h:await()
      return finished
    end))
  end)

  it("is true once the task has been cancelled", function()
    assert.is_true(run(function()
      local h = corun.spawn(function() corun.sleep(100) end)
      corun.yield_now()
      h:abort()
      corun.yield_now()
      return h:is_finished()
    end))
  end)
end)

describe("JoinHandle:id", function()
  it("returns the task's id", function()
    local id, inside = run(function()
      local h = corun.spawn(function() return corun.task_id() end)
      return h:id(), select(2, h:await())
    end)
    assert.equal("integer", math.type(id))
    assert.equal(inside, id)
  end)

  it("still returns the id once the task has finished", function()
    local before, after = run(function()
      local h = corun.spawn(function() end)
      local before = h:id()
      h:await()
      return before, h:id()
    end)
    assert.equal(before, after)
  end)
end)

-- What the spawner may move: only what it owns (API.md, Ownership).  A
-- moved object belongs to the task it moved to; moving it again from its
-- old owner is refused before anything moves.
describe("corun.spawn", function()
  it("refuses to move a Receiver again once it moved to another task",
     function()
    local ok, err, id, got, second = run(function()
      local tx, rx = corun.channel()
      local h = corun.spawn(function(r) return r:recv() end, rx)
      local ok, err = pcall(corun.spawn, function(r) return r:recv() end,
                            rx)
      tx:send("one")
      local _, got = h:await()
      return ok, err, h:id(), got, select(2, pcall(tx.send, tx, "two"))
    end)
    assert.is_false(ok)
    assert.equal("corun.spawn: cannot move a corun.Receiver into a task "
                 .. "(argument 2): it was moved to task " .. id, err)
    assert.equal("one", got)
    assert.is_false(second)  -- its owner ended: the channel is closed
  end)

  it("refuses a moved Receiver found in a table argument or an upvalue",
     function()
    local in_table, in_upvalue, id = run(function()
      local _, rx = corun.channel()
      local h = corun.spawn(function(r) corun.sleep(0.01) end, rx)
      local _, e1 = pcall(corun.spawn, function(t) return t end,
                          { a = { rx } })
      local _, e2 = pcall(corun.spawn, function() return rx end)
      h:await()
      return e1, e2, h:id()
    end)
    assert.equal("corun.spawn: cannot move a corun.Receiver into a task "
                 .. "(argument 2, field 'a[1]'): it was moved to task " .. id,
                 in_table)
    assert.equal("corun.spawn: cannot move a corun.Receiver into a task "
                 .. "(upvalue 'rx'): it was moved to task " .. id, in_upvalue)
  end)

  it("refuses to move a Permit twice; the permit stays with its owner",
     function()
    local ok, err, id, avail = run(function()
      local sem = corun.Semaphore(1)
      local p = sem:acquire()
      local h = corun.spawn(function(p) corun.sleep(0.01) end, p)
      local ok, err = pcall(corun.spawn, function(p) end, p)
      h:await()
      return ok, err, h:id(), sem:available_permits()
    end)
    assert.is_false(ok)
    assert.equal("corun.spawn: cannot move a corun.Permit into a task "
                 .. "(argument 2): it was moved to task " .. id, err)
    assert.equal(1, avail)  -- released once, at the end of its owner
  end)

  it("refuses to move a connection twice: it stays open for its owner",
     function()
    local ok, err, id, echoed = run(function()
      local server = assert(corun.net.listen("127.0.0.1", 0))
      local c = assert(corun.net.connect(server:address()))
      local s = server:accept()
      local h = corun.spawn(function(conn)
        corun.sleep(0.01)
        assert(conn:write("ping\n"))
        return conn:read_line()
      end, c)
      local ok, err = pcall(corun.spawn, function(conn) conn:close() end, c)
      assert(s:read_line() == "ping")
      s:write("pong\n")
      local _, echoed = h:await()
      s:close()
      server:close()
      return ok, err, h:id(), echoed
    end)
    assert.is_false(ok)
    assert.equal("corun.spawn: cannot move a corun.Stream into a task "
                 .. "(argument 2): it belongs to task " .. id, err)
    assert.equal("pong", echoed)
  end)

  it("refuses to move a JoinHandle twice", function()
    local ok, err, id = run(function()
      local inner = corun.spawn(function() return 1 end)
      local h = corun.spawn(function(x) return x:await() end, inner)
      local ok, err = pcall(corun.spawn, function(x) return x end, inner)
      h:await()
      return ok, err, h:id()
    end)
    assert.is_false(ok)
    assert.equal("corun.spawn: cannot move a corun.JoinHandle into a task "
                 .. "(argument 2): it was moved to task " .. id, err)
  end)

  it("lets the task an object moved to move it on", function()
    local ok, v = run(function()
      local tx, rx = corun.channel()
      local h = corun.spawn(function(r)
        return corun.spawn(function(r2) return r2:recv() end, r):await()
      end, rx)
      tx:send("relayed")
      local _, ok, v = h:await()
      return ok, v
    end)
    assert.is_true(ok)
    assert.equal("relayed", v)
  end)

  it("refuses a result or a message holding an object the task does not "
     .. "own", function()
    local sent, returned = run(function()
      rawset(_G, "SMUGGLED", corun.Semaphore(1):acquire())
      local tx, rx = corun.channel()
      local _, e1 = corun.spawn(function()
        return tx:send({ p = rawget(_G, "SMUGGLED") })
      end):await()
      local _, e2 = corun.spawn(function()
        return rawget(_G, "SMUGGLED")
      end):await()
      rawset(_G, "SMUGGLED", nil)
      return tostring(e1), tostring(e2)
    end)
    assert.matches("^task %d+ panicked: Sender:send: cannot move a "
                   .. "corun%.Permit into a channel %(argument 2, field 'p'%)"
                   .. ": it belongs to task 1$", sent)
    assert.matches("^task %d+ panicked: corun: cannot move a corun%.Permit "
                   .. "out of a task %(result 1%): it belongs to task 1$",
                   returned)
  end)
end)
