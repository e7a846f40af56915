local corun = require "corun"

-- Tasks report through the global SHARED (what they capture is copied;
-- an RwLock they capture is shared).

-- Does a write lock of 'rw' come within 'seconds' (on the paused clock)?
local function writable_within(rw, seconds)
  return (corun.timeout(seconds, function()
    local g <close> = rw:write()
  end))
end

-- Spawn a task that takes the lock of 'rw' in 'mode' ("read" or "write"),
-- appends 'name' to SHARED.order, holds it for 'hold' seconds (0: a
-- yield) and unlocks; it is waiting (or holding) when this returns.
local function locker(rw, mode, name, hold)
  local h = corun.spawn(function(mode, name, hold)
    local g <close> = rw[mode](rw)
    SHARED.order[#SHARED.order + 1] = name
    if hold and hold > 0 then corun.sleep(hold) else corun.yield_now() end
  end, mode, name, hold)
  settle(2)
  return h
end

describe("corun.RwLock", function()
  it("returns an RwLock", function()
    local name = run(function()
      return getmetatable(corun.RwLock(0)).__name
    end)
    assert.equal("corun.RwLock", name)
  end)

  it("protects the value it is given", function()
    local v = run(function()
      local g <close> = corun.RwLock("hello"):read()
      return g.value
    end)
    assert.equal("hello", v)
  end)

  it("protects nil when given nothing", function()
    local v = run(function()
      local g <close> = corun.RwLock():write()
      return g.value
    end)
    assert.is_nil(v)
  end)

  it("keeps the table it is given, not a copy", function()
    local same = run(function()
      local t = {}
      local g <close> = corun.RwLock(t):read()
      return rawequal(g.value, t)
    end)
    assert.is_true(same)
  end)

  it("can be made outside a runtime", function()
    local ok, rw = pcall(corun.RwLock, 1)
    assert.is_true(ok)
    assert.equal("corun.RwLock", getmetatable(rw).__name)
  end)
end)

describe("RwLock:read", function()
  it("returns a read guard", function()
    local name = run(function()
      local g <close> = corun.RwLock(0):read()
      return getmetatable(g).__name
    end)
    assert.equal("corun.RwLockReadGuard", name)
  end)

  it("lets many readers hold the lock at once, without waiting", function()
    local n, elapsed = paused(function()
      local rw = corun.RwLock(0)
      local t0 = corun.now()
      local guards = {}
      for i = 1, 5 do guards[i] = rw:read() end
      local n = tostring(rw)
      for i = 1, 5 do guards[i]:unlock() end
      return n, corun.now() - t0
    end)
    assert.equal("corun.RwLock (5 readers)", n)
    near(0, elapsed)
  end)

  it("lets readers of several tasks in together", function()
    local s = shared()
    s.inside, s.max = 0, 0
    paused(function()
      local rw = corun.RwLock(0)
      local hs = {}
      for i = 1, 4 do
        hs[i] = corun.spawn(function()
          local g <close> = rw:read()
          SHARED.inside = SHARED.inside + 1
          SHARED.max = math.max(SHARED.max, SHARED.inside)
          corun.sleep(0.01)
          SHARED.inside = SHARED.inside - 1
        end)
      end
      for i = 1, 4 do hs[i]:await() end
    end)
    assert.equal(4, s.max)
  end)

  it("waits while a writer holds the lock", function()
    local waited = paused(function()
      local rw = corun.RwLock(0)
      local h = corun.spawn(function()
        local g <close> = rw:write()
        corun.sleep(0.02)
      end)
      settle(2)
      local t0 = corun.now()
      local g <close> = rw:read()
      h:await()
      return corun.now() - t0
    end)
    near(0.02, waited)
  end)

  it("lets every reader waiting behind a writer in when it unlocks",
     function()
    local s = shared()
    s.order = {}
    paused(function()
      local rw = corun.RwLock(0)
      local w = rw:write()
      local hs = { locker(rw, "read", "r1", 0.01),
                   locker(rw, "read", "r2", 0.01),
                   locker(rw, "read", "r3", 0.01) }
      w:unlock()
      settle()
      SHARED.together = #SHARED.order  -- all three hold it now
      for _, h in ipairs(hs) do h:await() end
    end)
    assert.equal(3, s.together)
  end)

  it("waits behind a waiting writer, even while readers hold the lock",
     function()
    local s = shared()
    s.order = {}
    paused(function()
      local rw = corun.RwLock(0)
      local r = rw:read()
      local w = locker(rw, "write", "writer", 0.01)
      local late = locker(rw, "read", "late reader")
      SHARED.before = #SHARED.order  -- the late reader did not get in
      r:unlock()
      w:await()
      late:await()
    end)
    assert.equal(0, s.before)
    assert.same({ "writer", "late reader" }, s.order)
  end)

  it("raises outside a task", function()
    local rw = corun.RwLock(0)
    local ok, err = pcall(rw.read, rw)
    assert.is_false(ok)
    assert.equal("RwLock:read: must be called from a task (inside corun.run)",
                 err)
  end)

  it("raises when called with '.'", function()
    local ok, err = run(function()
      local rw = corun.RwLock(0)
      return pcall(rw.read)
    end)
    assert.is_false(ok)
    assert.equal("RwLock:read: bad argument #1 (RwLock expected, got no value)",
                 err)
  end)

  it("is stopped when the waiting task is cancelled", function()
    local s = shared()
    local ok, err = run(function()
      local rw = corun.RwLock(0)
      local w = rw:write()
      local h = corun.spawn(function()
        rw:read()
        SHARED.resumed = true
      end)
      settle(2)
      h:abort()
      return h:await()
    end)
    assert.is_false(ok)
    assert.is_true(err:is_cancelled())
    assert.is_nil(s.resumed)
  end)

  it("gives the read lock back when a granted reader is cancelled before it "
     .. "runs", function()
    local s = shared()
    local free = paused(function()
      local rw = corun.RwLock(0)
      local w = rw:write()
      local a = corun.spawn(function()
        rw:read()
        SHARED.resumed = true
      end)
      settle(2)
      w:unlock(); a:abort()  -- granted and cancelled in the same step
      a:await()
      return writable_within(rw, 1)
    end)
    assert.is_true(free)
    assert.is_nil(s.resumed)
  end)

  it("leaves the queue when corun.timeout expires", function()
    local ok, free, elapsed = paused(function()
      local rw = corun.RwLock(0)
      local w = rw:write()
      local t0 = corun.now()
      local ok = corun.timeout(0.01, function() rw:read() end)
      local elapsed = corun.now() - t0
      w:unlock()
      return ok, writable_within(rw, 1), elapsed
    end)
    assert.is_false(ok)
    assert.is_true(free)
    near(0.01, elapsed)
  end)

  it("is stopped in a branch that corun.select cancels", function()
    local i, free = paused(function()
      local rw = corun.RwLock(0)
      local w = rw:write()
      local i = corun.select(function() return rw:read() end,
                             function() corun.sleep(0.01) end)
      w:unlock()
      return i, writable_within(rw, 1)
    end)
    assert.equal(2, i)
    assert.is_true(free)
  end)
end)

describe("RwLock:write", function()
  it("returns a write guard", function()
    local name = run(function()
      local g <close> = corun.RwLock(0):write()
      return getmetatable(g).__name
    end)
    assert.equal("corun.RwLockWriteGuard", name)
  end)

  it("does not wait when the lock is free", function()
    local elapsed = paused(function()
      local rw = corun.RwLock(0)
      local t0 = corun.now()
      local g <close> = rw:write()
      return corun.now() - t0
    end)
    near(0, elapsed)
  end)

  it("waits until every reader has unlocked", function()
    local waited = paused(function()
      local rw = corun.RwLock(0)
      local hs = {}
      for i = 1, 3 do
        hs[i] = corun.spawn(function(i)
          local g <close> = rw:read()
          corun.sleep(0.01 * i)
        end, i)
      end
      settle(2)
      local t0 = corun.now()
      local g <close> = rw:write()
      for i = 1, 3 do hs[i]:await() end
      return corun.now() - t0
    end)
    near(0.03, waited)
  end)

  it("waits while another writer holds the lock", function()
    local waited = paused(function()
      local rw = corun.RwLock(0)
      local h = corun.spawn(function()
        local g <close> = rw:write()
        corun.sleep(0.02)
      end)
      settle(2)
      local t0 = corun.now()
      local g <close> = rw:write()
      h:await()
      return corun.now() - t0
    end)
    near(0.02, waited)
  end)

  it("serves readers and writers first in, first out", function()
    local s = shared()
    s.order = {}
    paused(function()
      local rw = corun.RwLock(0)
      local w = rw:write()
      local hs = { locker(rw, "read", "r1"), locker(rw, "write", "w1"),
                   locker(rw, "read", "r2"), locker(rw, "read", "r3"),
                   locker(rw, "write", "w2"), locker(rw, "read", "r4") }
      w:unlock()
      for _, h in ipairs(hs) do h:await() end
    end)
    assert.same({ "r1", "w1", "r2", "r3", "w2", "r4" }, s.order)
  end)

  it("is not starved by a stream of readers", function()
    local s = shared()
    s.order = {}
    local waited = paused(function()
      local rw = corun.RwLock(0)
      -- readers arrive every 5 ms, each holding the lock for 10 ms: the
      -- lock is never free of readers, yet the writer gets in
      local readers = corun.spawn(function()
        local set = corun.JoinSet()
        for i = 1, 20 do
          set:spawn(function(i)
            local g <close> = rw:read()
            SHARED.order[#SHARED.order + 1] = "r" .. i
            corun.sleep(0.01)
          end, i)
          corun.sleep(0.005)
        end
        set:join_all()
      end)
      corun.sleep(0.012)
      local t0 = corun.now()
      local g = rw:write()
      SHARED.order[#SHARED.order + 1] = "writer"
      local waited = corun.now() - t0
      g:unlock()
      readers:await()
      return waited
    end)
    -- at 12 ms readers 2 and 3 hold it (until 15 and 20 ms); reader 4
    -- (15 ms) queues behind the writer, which gets in at 20 ms
    near(0.008, waited)
    assert.equal("writer", s.order[4])
  end)

  it("lets the readers behind a cancelled writer in", function()
    local s = shared()
    s.order = {}
    paused(function()
      local rw = corun.RwLock(0)
      local r = rw:read()
      local w = locker(rw, "write", "writer")
      local late = locker(rw, "read", "late reader")
      w:abort()
      w:await()
      settle()
      SHARED.before_unlock = table.concat(SHARED.order, ",")
      r:unlock()
      late:await()
    end)
    assert.equal("late reader", s.before_unlock)
  end)

  it("hands the lock on when a granted writer is cancelled before it runs",
     function()
    local s = shared()
    s.order = {}
    local free = paused(function()
      local rw = corun.RwLock(0)
      local r = rw:read()
      local a = locker(rw, "write", "a")
      local b = locker(rw, "read", "b")
      r:unlock(); a:abort()  -- granted and cancelled in the same step
      a:await()
      b:await()
      return writable_within(rw, 1)
    end)
    assert.same({ "b" }, s.order)
    assert.is_true(free)
  end)

  it("leaves the queue when corun.timeout expires, letting readers in",
     function()
    local ok, got_read, elapsed = paused(function()
      local rw = corun.RwLock(0)
      local r = rw:read()
      local t0 = corun.now()
      local reader = corun.spawn(function()
        corun.sleep(0.001)  -- arrives while the writer waits
        local g <close> = rw:read()
        return corun.now()
      end)
      local ok = corun.timeout(0.01, function() rw:write() end)
      local elapsed = corun.now() - t0
      local _, at = reader:await()
      r:unlock()
      return ok, at - t0, elapsed
    end)
    assert.is_false(ok)
    near(0.01, got_read)  -- let in when the writer left
    near(0.01, elapsed)
  end)

  it("raises outside a task", function()
    local rw = corun.RwLock(0)
    local ok, err = pcall(rw.write, rw)
    assert.is_false(ok)
    assert.equal("RwLock:write: must be called from a task (inside corun.run)",
                 err)
  end)
end)

describe("RwLock:try_read", function()
  it("returns a read guard when no writer holds or waits", function()
    local name, v = run(function()
      local rw = corun.RwLock(7)
      local r <close> = rw:read()
      local g <close> = rw:try_read()
      return getmetatable(g).__name, g.value
    end)
    assert.equal("corun.RwLockReadGuard", name)
    assert.equal(7, v)
  end)

  it("returns nil while a writer holds the lock", function()
    local g = run(function()
      local rw = corun.RwLock(0)
      local w <close> = rw:write()
      return rw:try_read()
    end)
    assert.is_nil(g)
  end)

  it("returns nil while a writer waits", function()
    local g = run(function()
      local rw = corun.RwLock(0)
      local r = rw:read()
      local h = corun.spawn(function() local w <close> = rw:write() end)
      settle(2)
      local g = rw:try_read()
      r:unlock()
      h:await()
      return g
    end)
    assert.is_nil(g)
  end)

  it("does not wait", function()
    local elapsed = paused(function()
      local rw = corun.RwLock(0)
      local w <close> = rw:write()
      local t0 = corun.now()
      rw:try_read()
      return corun.now() - t0
    end)
    near(0, elapsed)
  end)

  it("raises outside a task", function()
    local rw = corun.RwLock(0)
    local ok, err = pcall(rw.try_read, rw)
    assert.is_false(ok)
    assert.equal("RwLock:try_read: must be called from a task (inside "
                 .. "corun.run)", err)
  end)
end)

describe("RwLock:try_write", function()
  it("returns a write guard when the lock is free", function()
    local name = run(function()
      local g <close> = corun.RwLock(0):try_write()
      return getmetatable(g).__name
    end)
    assert.equal("corun.RwLockWriteGuard", name)
  end)

  it("returns nil while a reader holds the lock", function()
    local g = run(function()
      local rw = corun.RwLock(0)
      local r <close> = rw:read()
      return rw:try_write()
    end)
    assert.is_nil(g)
  end)

  it("returns nil while a writer holds the lock", function()
    local g = run(function()
      local rw = corun.RwLock(0)
      local w <close> = rw:write()
      return rw:try_write()
    end)
    assert.is_nil(g)
  end)

  it("succeeds again once the lock is free", function()
    local ok = run(function()
      local rw = corun.RwLock(0)
      rw:read():unlock()
      rw:write():unlock()
      local g <close> = rw:try_write()
      return g ~= nil
    end)
    assert.is_true(ok)
  end)
end)

describe("RwLockReadGuard.value", function()
  it("reads the protected value", function()
    local v = run(function()
      local g <close> = corun.RwLock(42):read()
      return g.value
    end)
    assert.equal(42, v)
  end)

  it("cannot be set", function()
    local ok, err, v = run(function()
      local rw = corun.RwLock(1)
      local ok, err = pcall(function()
        local g <close> = rw:read()
        g.value = 2
      end)
      local g <close> = rw:read()
      return ok, err, g.value
    end)
    assert.is_false(ok)
    assert.equal("RwLockReadGuard.value: a read guard cannot set the value "
                 .. "(lock with write())", err)
    assert.equal(1, v)
  end)

  it("raises after unlock", function()
    local ok, err = run(function()
      local g = corun.RwLock(0):read()
      g:unlock()
      return pcall(function() return g.value end)
    end)
    assert.is_false(ok)
    assert.equal("RwLockReadGuard.value: the lock was already released", err)
  end)

  it("refuses to set another field", function()
    local ok, err = run(function()
      local g <close> = corun.RwLock(0):read()
      return pcall(function() g.other = 1 end)
    end)
    assert.is_false(ok)
    assert.equal("RwLockReadGuard: only 'value' can be set", err)
  end)
end)

describe("RwLockWriteGuard.value", function()
  it("reads and writes the protected value, kept for the next lock",
     function()
    local v = run(function()
      local rw = corun.RwLock(1)
      do
        local g <close> = rw:write()
        g.value = g.value + 1
      end
      local g <close> = rw:read()
      return g.value
    end)
    assert.equal(2, v)
  end)

  it("is the same value in every task", function()
    local v = run(function()
      local rw = corun.RwLock(0)
      corun.spawn(function()
        local g <close> = rw:write()
        g.value = "from task"
      end):await()
      local g <close> = rw:read()
      return g.value
    end)
    assert.equal("from task", v)
  end)

  it("cannot be set after unlock", function()
    local ok, err = run(function()
      local g = corun.RwLock(0):write()
      g:unlock()
      return pcall(function() g.value = 5 end)
    end)
    assert.is_false(ok)
    assert.equal("RwLockWriteGuard.value: the lock was already released", err)
  end)
end)

describe("RwLock guards: unlock", function()
  it("raises when called twice", function()
    local ok1, err1, ok2, err2 = run(function()
      local rw = corun.RwLock(0)
      local r = rw:read()
      r:unlock()
      local ok1, err1 = pcall(r.unlock, r)
      local w = rw:write()
      w:unlock()
      return ok1, err1, pcall(w.unlock, w)
    end)
    assert.is_false(ok1)
    assert.equal("RwLockReadGuard:unlock: the lock was already released", err1)
    assert.is_false(ok2)
    assert.equal("RwLockWriteGuard:unlock: the lock was already released",
                 err2)
  end)

  it("called twice on a read guard, does not unlock for another reader",
     function()
    local held = run(function()
      local rw = corun.RwLock(0)
      local r = rw:read()
      r:unlock()
      local r2 = rw:read()
      pcall(r.unlock, r)
      return rw:try_write() == nil
    end)
    assert.is_true(held)
  end)

  it("<close> unlocks when the scope ends, also by an error", function()
    local after_scope, after_error = run(function()
      local rw = corun.RwLock(0)
      do local g <close> = rw:write() end
      local after_scope = rw:try_write()
      after_scope:unlock()
      pcall(function()
        local g <close> = rw:read()
        error("leave")
      end)
      return after_scope ~= nil, rw:try_write() ~= nil
    end)
    assert.is_true(after_scope)
    assert.is_true(after_error)
  end)

  it("<close> does nothing after an explicit unlock", function()
    local held = run(function()
      local rw = corun.RwLock(0)
      local w2
      do
        local g <close> = rw:write()
        g:unlock()
        w2 = rw:write()
      end
      return rw:try_read() == nil
    end)
    assert.is_true(held)
  end)
end)

describe("RwLockWriteGuard:downgrade", function()
  it("returns a read guard and releases the write guard", function()
    local name, v, wtext, state = run(function()
      local rw = corun.RwLock("v")
      local w = rw:write()
      local r <close> = w:downgrade()
      return getmetatable(r).__name, r.value, tostring(w), tostring(rw)
    end)
    assert.equal("corun.RwLockReadGuard", name)
    assert.equal("v", v)
    assert.equal("corun.RwLockWriteGuard (released)", wtext)
    assert.equal("corun.RwLock (1 reader)", state)
  end)

  it("lets the waiting readers in, but not a writer", function()
    local s = shared()
    s.order = {}
    paused(function()
      local rw = corun.RwLock(0)
      local w = rw:write()
      local r1 = locker(rw, "read", "r1", 0.01)
      local w1 = locker(rw, "write", "w1")
      local r = w:downgrade()
      settle()
      SHARED.after_downgrade = table.concat(SHARED.order, ",")
      r:unlock()
      r1:await()
      w1:await()
    end)
    assert.equal("r1", s.after_downgrade)
    assert.same({ "r1", "w1" }, s.order)
  end)

  it("raises on a released guard", function()
    local ok, err = run(function()
      local w = corun.RwLock(0):write()
      w:unlock()
      return pcall(w.downgrade, w)
    end)
    assert.is_false(ok)
    assert.equal("RwLockWriteGuard:downgrade: the lock was already released",
                 err)
  end)
end)

describe("RwLock guards: ownership", function()
  it("are released when their task returns, raises or is cancelled",
     function()
    local free = run(function()
      local rw = corun.RwLock(0)
      local free = {}
      corun.spawn(function() local g = rw:write() end):await()
      free[1] = rw:try_write() ~= nil and "returns"
      rw = corun.RwLock(0)
      corun.spawn(function() local g = rw:read() error("x") end):await()
      free[2] = rw:try_write() ~= nil and "raises"
      rw = corun.RwLock(0)
      local h = corun.spawn(function()
        local g = rw:write()
        corun.sleep(math.huge)
      end)
      settle(2)
      h:abort()
      h:await()
      free[3] = rw:try_write() ~= nil and "is cancelled"
      return table.concat(free, ",")
    end)
    assert.equal("returns,raises,is cancelled", free)
  end)

  it("are released when collected", function()
    local free = run(function()
      local rw = corun.RwLock(0)
      rw:write()  -- dropped at once
      collectgarbage()
      collectgarbage()
      return rw:try_write() ~= nil
    end)
    assert.is_true(free)
  end)

  it("a write guard moved into a task is unlocked at that task's end",
     function()
    local held, ok, v, after = paused(function()
      local rw = corun.RwLock(0)
      local h
      do
        local g <close> = rw:write()
        h = corun.spawn(function(g)
          corun.sleep(0.05)
          g.value = 5
          return g.value
        end, g)
      end
      local held = rw:try_read() == nil  -- the spawner's <close> left it
      local ok, v = h:await()
      local r <close> = rw:try_read()
      return held, ok, v, r and r.value
    end)
    assert.is_true(held)
    assert.is_true(ok)
    assert.equal(5, v)
    assert.equal(5, after)
  end)

  it("a guard moved into a task cannot be used by the spawner", function()
    local ok, err, id = run(function()
      local rw = corun.RwLock(0)
      local g = rw:read()
      local h = corun.spawn(function(g) corun.sleep(0.01) end, g)
      local ok, err = pcall(g.unlock, g)
      h:await()
      return ok, err, h:id()
    end)
    assert.is_false(ok)
    assert.equal("corun: read guard was moved to task " .. id, err)
  end)

  it("a guard reached through a global belongs to its task", function()
    local err = run(function()
      local rw = corun.RwLock(0)
      RW_GUARD = rw:write()
      local _, e = corun.spawn(function()
        return select(2, pcall(function() return RW_GUARD.value end))
      end):await()
      RW_GUARD:unlock()
      RW_GUARD = nil
      return e
    end)
    assert.truthy(err:find("^corun: write guard belongs to task %d+$"), err)
  end)

  it("taken inside corun.timeout, stays held after timeout returns",
     function()
    local ok, held = paused(function()
      local rw = corun.RwLock(0)
      local ok, g = corun.timeout(1, function() return rw:write() end)
      return ok, rw:try_read() == nil
    end)
    assert.is_true(ok)
    assert.is_true(held)
  end)
end)

describe("RwLock sharing", function()
  it("is shared, not copied, with a spawned task", function()
    shared()
    local same = run(function()
      SHARED.rw = corun.RwLock(0)
      return select(2, corun.spawn(function(rw)
        return rawequal(rw, SHARED.rw)
      end, SHARED.rw):await())
    end)
    assert.is_true(same)
  end)
end)

describe("RwLock:__tostring", function()
  it("says who holds it", function()
    local t = run(function()
      local rw = corun.RwLock(0)
      local t = { tostring(rw) }
      local r1, r2 = rw:read(), rw:read()
      t[2] = tostring(rw)
      r1:unlock()
      t[3] = tostring(rw)
      r2:unlock()
      local w = rw:write()
      t[4] = tostring(rw)
      t[5] = tostring(w)
      w:unlock()
      t[6] = tostring(w)
      return table.concat(t, "|")
    end)
    assert.equal("corun.RwLock (unlocked)|corun.RwLock (2 readers)|"
                 .. "corun.RwLock (1 reader)|corun.RwLock (write locked)|"
                 .. "corun.RwLockWriteGuard (held)|"
                 .. "corun.RwLockWriteGuard (released)", t)
  end)
end)

describe("RwLock (stress)", function()
  it("1 000 tasks reading and writing, some aborted at random, leave the "
     .. "lock free", function()
    local s = shared()
    s.readers, s.writers, s.bad = 0, 0, 0
    local stats = paused(function()
      local rw = corun.RwLock({ writes = 0 })
      local rng = 20240611
      local function random(n)  -- a seeded generator of our own
        rng = (rng * 1103515245 + 12345) % 2147483648
        return rng % n + 1
      end
      local hs = {}
      for i = 1, 1000 do
        local mode = random(4) == 1 and "write" or "read"
        local hold = random(3) == 1 and 0.001 * random(5) or 0
        hs[i] = corun.spawn(function(mode, hold)
          local g <close> = rw[mode](rw)
          if mode == "write" then
            SHARED.writers = SHARED.writers + 1
            if SHARED.writers > 1 or SHARED.readers > 0 then
              SHARED.bad = SHARED.bad + 1
            end
            g.value.writes = g.value.writes + 1
          else
            SHARED.readers = SHARED.readers + 1
            if SHARED.writers > 0 then SHARED.bad = SHARED.bad + 1 end
          end
          if hold > 0 then corun.sleep(hold) else corun.yield_now() end
          if mode == "write" then
            SHARED.writers = SHARED.writers - 1
          else
            SHARED.readers = SHARED.readers - 1
          end
        end, mode, hold)
        if random(5) == 1 then corun.yield_now() end
        if random(4) == 1 then hs[random(i)]:abort() end  -- any state
      end
      local ok, cancelled = 0, 0
      for i = 1, 1000 do
        local done, err = hs[i]:await()
        if done then ok = ok + 1
        elseif err:is_cancelled() then cancelled = cancelled + 1 end
      end
      local t0 = corun.now()
      local g <close> = rw:write()
      return { ok = ok, cancelled = cancelled, at_once = corun.now() - t0,
               state = tostring(rw), writes = g.value.writes }
    end)
    assert.equal(0, s.bad)
    assert.equal(1000, stats.ok + stats.cancelled)
    assert.is_true(stats.cancelled > 50, stats.cancelled)
    assert.is_true(stats.ok > 100, stats.ok)
    assert.is_true(stats.writes > 10, stats.writes)
    near(0, stats.at_once)
    assert.equal("corun.RwLock (write locked)", stats.state)
  end)
end)
