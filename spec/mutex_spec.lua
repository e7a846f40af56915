local corun = require "corun"

-- Tasks report through the global SHARED (what they capture is copied;
-- a Mutex they capture is shared).

describe("corun.Mutex", function()
  it("returns a Mutex", function()
    local name = run(function() return getmetatable(corun.Mutex(0)).__name end)
    assert.equal("corun.Mutex", name)
  end)

  it("protects the value it is given", function()
    local v = run(function()
      local m = corun.Mutex("hello")
      local g <close> = m:lock()
      return g.value
    end)
    assert.equal("hello", v)
  end)

  it("protects nil when given nothing", function()
    local v = run(function()
      local g <close> = corun.Mutex():lock()
      return g.value
    end)
    assert.is_nil(v)
  end)

  it("keeps the table it is given, not a copy", function()
    local same = run(function()
      local t = { n = 0 }
      local g <close> = corun.Mutex(t):lock()
      return rawequal(g.value, t)
    end)
    assert.is_true(same)
  end)

  it("can be made outside a runtime", function()
    local ok, m = pcall(corun.Mutex, 1)
    assert.is_true(ok)
    assert.equal("corun.Mutex", getmetatable(m).__name)
  end)
end)

describe("Mutex:lock", function()
  it("returns a guard", function()
    local name = run(function()
      local g <close> = corun.Mutex(0):lock()
      return getmetatable(g).__name
    end)
    assert.equal("corun.MutexGuard", name)
  end)

  it("does not wait when the mutex is unlocked", function()
    local elapsed = paused(function()
      local m = corun.Mutex(0)
      local t0 = corun.now()
      local g <close> = m:lock()
      return corun.now() - t0
    end)
    near(0, elapsed)
  end)

  it("waits while another task holds the lock", function()
    local s = shared()
    run(function()
      local m = corun.Mutex(0)
      local g = m:lock()
      local h = corun.spawn(function()
        local g <close> = m:lock()
        SHARED.got = true
      end)
      settle()
      SHARED.before = SHARED.got
      g:unlock()
      h:await()
    end)
    assert.is_nil(s.before)
    assert.is_true(s.got)
  end)

  it("serves waiters first in, first out", function()
    local s = shared()
    s.order = {}
    run(function()
      local m = corun.Mutex(0)
      local g = m:lock()
      local hs = {}
      for _, name in ipairs { "a", "b", "c" } do
        hs[#hs + 1] = corun.spawn(function(name)
          local g <close> = m:lock()
          SHARED.order[#SHARED.order + 1] = name
          corun.yield_now()
        end, name)
        settle(2)  -- each is waiting before the next one arrives
      end
      g:unlock()
      for _, h in ipairs(hs) do h:await() end
    end)
    assert.same({ "a", "b", "c" }, s.order)
  end)

  it("hands the lock to the waiter, not to a later try_lock", function()
    local stolen, v = run(function()
      local m = corun.Mutex(0)
      local g = m:lock()
      local h = corun.spawn(function()
        local g <close> = m:lock()
        return "waiter"
      end)
      settle(2)
      g:unlock()
      local stolen = m:try_lock()
      local _, v = h:await()
      return stolen, v
    end)
    assert.is_nil(stolen)
    assert.equal("waiter", v)
  end)

  it("lets other tasks run while it waits", function()
    local s = shared()
    local waited = paused(function()
      local m = corun.Mutex(0)
      local h = corun.spawn(function()
        local g = m:lock()
        corun.sleep(0.02)
        SHARED.other = true
        g:unlock()
      end)
      settle(2)
      local t0 = corun.now()
      local g <close> = m:lock()
      SHARED.seen = SHARED.other
      h:await()
      return corun.now() - t0
    end)
    assert.is_true(s.seen)
    near(0.02, waited)  -- until the holder unlocked, after its sleep
  end)

  it("raises outside a task", function()
    local m = corun.Mutex(0)
    local ok, err = pcall(m.lock, m)
    assert.is_false(ok)
    assert.equal("Mutex:lock: must be called from a task (inside corun.run)",
                 err)
  end)

  it("is stopped when the waiting task is cancelled", function()
    local s = shared()
    local ok, err = run(function()
      local m = corun.Mutex(0)
      local g = m:lock()
      local h = corun.spawn(function()
        m:lock()
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

  it("does not give the lock to a task cancelled while waiting", function()
    local v = paused(function()
      local m = corun.Mutex(0)
      local g = m:lock()
      local a = corun.spawn(function() m:lock() end)
      settle(2)
      local b = corun.spawn(function()
        local g <close> = m:lock()
        return "b"
      end)
      settle(2)
      a:abort()
      a:await()
      g:unlock()
      local ok, v = corun.timeout(1, b.await, b)
      return ok and v and "b" or "b never got the lock"
    end)
    assert.equal("b", v)
  end)

  it("hands the lock on when a granted waiter is cancelled before it runs",
     function()
    local s = shared()
    local v, free = paused(function()
      local m = corun.Mutex(0)
      local g = m:lock()
      local a = corun.spawn(function()
        m:lock()
        SHARED.resumed = true
      end)
      settle(2)
      local b = corun.spawn(function()
        local g <close> = m:lock()
        return "b"
      end)
      settle(2)
      g:unlock(); a:abort()  -- granted and cancelled in the same step
      local ok, v = corun.timeout(1, b.await, b)
      local free = m:try_lock()
      return ok and v and "b" or "b never got the lock", free ~= nil
    end)
    assert.equal("b", v)
    assert.is_true(free)
    assert.is_nil(s.resumed)
  end)

  it("unlocks when the only waiter is granted and cancelled before it runs",
     function()
    local free = run(function()
      local m = corun.Mutex(0)
      local g = m:lock()
      local a = corun.spawn(function() m:lock() end)
      settle(2)
      g:unlock(); a:abort()
      a:await()
      return m:try_lock() ~= nil
    end)
    assert.is_true(free)
  end)

  it("leaves the queue when corun.timeout expires", function()
    local ok, free, elapsed = paused(function()
      local m = corun.Mutex(0)
      local g = m:lock()
      local t0 = corun.now()
      local ok = corun.timeout(0.01, function() m:lock() end)
      local elapsed = corun.now() - t0
      g:unlock()
      return ok, m:try_lock() ~= nil, elapsed
    end)
    assert.is_false(ok)
    assert.is_true(free)
    near(0.01, elapsed)
  end)
end)

describe("Mutex:try_lock", function()
  it("returns a guard when the mutex is unlocked", function()
    local name, v = run(function()
      local g <close> = corun.Mutex(7):try_lock()
      return getmetatable(g).__name, g.value
    end)
    assert.equal("corun.MutexGuard", name)
    assert.equal(7, v)
  end)

  it("returns nil when the mutex is locked", function()
    local g2 = run(function()
      local m = corun.Mutex(0)
      local g <close> = m:lock()
      return m:try_lock()
    end)
    assert.is_nil(g2)
  end)

  it("returns nil while another task holds the lock", function()
    local g = run(function()
      local m = corun.Mutex(0)
      local h = corun.spawn(function()
        local g = m:lock()
        corun.sleep(math.huge)
      end)
      settle(2)
      local g = m:try_lock()
      h:abort()
      return g
    end)
    assert.is_nil(g)
  end)

  it("succeeds again once the lock is released", function()
    local ok = run(function()
      local m = corun.Mutex(0)
      m:lock():unlock()
      local g <close> = m:try_lock()
      return g ~= nil
    end)
    assert.is_true(ok)
  end)

  it("does not wait", function()
    local elapsed = paused(function()
      local m = corun.Mutex(0)
      local g <close> = m:lock()
      local t0 = corun.now()
      m:try_lock()
      return corun.now() - t0
    end)
    near(0, elapsed)
  end)
end)

describe("MutexGuard.value", function()
  it("reads the protected value", function()
    local v = run(function()
      local g <close> = corun.Mutex(42):lock()
      return g.value
    end)
    assert.equal(42, v)
  end)

  it("writes the protected value", function()
    local v = run(function()
      local g <close> = corun.Mutex(1):lock()
      g.value = g.value + 1
      return g.value
    end)
    assert.equal(2, v)
  end)

  it("keeps what was written for the next lock", function()
    local v = run(function()
      local m = corun.Mutex(1)
      do
        local g <close> = m:lock()
        g.value = "changed"
      end
      local g <close> = m:lock()
      return g.value
    end)
    assert.equal("changed", v)
  end)

  it("can be set to nil", function()
    local v = run(function()
      local m = corun.Mutex(1)
      m:lock().value = nil
      return "done"
    end)
    assert.equal("done", v)
  end)

  it("is the same value in every task", function()
    local v = run(function()
      local m = corun.Mutex(0)
      corun.spawn(function()
        local g <close> = m:lock()
        g.value = "from task"
      end):await()
      local g <close> = m:lock()
      return g.value
    end)
    assert.equal("from task", v)
  end)

  it("shares a protected table between tasks, not copies", function()
    local s = shared()
    local n, same = run(function()
      SHARED.t = { n = 0 }
      local m = corun.Mutex(SHARED.t)
      local hs = {}
      for i = 1, 3 do
        hs[i] = corun.spawn(function()
          local g <close> = m:lock()
          g.value.n = g.value.n + 1
          SHARED.same = (SHARED.same ~= false) and rawequal(g.value, SHARED.t)
        end)
      end
      for i = 1, 3 do hs[i]:await() end
      return SHARED.t.n, SHARED.same
    end)
    assert.equal(3, n)
    assert.is_true(same)
  end)

  it("raises after unlock", function()
    local ok, err = run(function()
      local g = corun.Mutex(0):lock()
      g:unlock()
      return pcall(function() return g.value end)
    end)
    assert.is_false(ok)
    assert.equal("MutexGuard.value: the lock was already released", err)
  end)

  it("cannot be set after unlock", function()
    local ok, err, v = run(function()
      local m = corun.Mutex(0)
      local g = m:lock()
      g:unlock()
      local ok, err = pcall(function() g.value = 5 end)
      local g2 <close> = m:lock()
      return ok, err, g2.value
    end)
    assert.is_false(ok)
    assert.equal("MutexGuard.value: the lock was already released", err)
    assert.equal(0, v)
  end)

  it("refuses to set another field", function()
    local ok, err = run(function()
      local g <close> = corun.Mutex(0):lock()
      return pcall(function() g.other = 1 end)
    end)
    assert.is_false(ok)
    assert.matches("^MutexGuard", err)
  end)
end)

describe("MutexGuard:unlock", function()
  it("raises in a task that reached the guard without owning it " ..
     "(through a global)", function()
    local err = run(function()
      local m = corun.Mutex({ n = 0 })
      GUARD_GLOBAL = m:lock()
      local h = corun.spawn(function()
        return select(2, pcall(GUARD_GLOBAL.unlock, GUARD_GLOBAL))
      end)
      local _, e = h:await()
      GUARD_GLOBAL:unlock()
      GUARD_GLOBAL = nil
      return e
    end)
    assert.truthy(err:find("^corun: mutex guard belongs to task %d+$"), err)
  end)


  it("unlocks the mutex", function()
    local ok = run(function()
      local m = corun.Mutex(0)
      m:lock():unlock()
      local g = m:try_lock()
      return g ~= nil
    end)
    assert.is_true(ok)
  end)

  it("wakes the first waiter", function()
    local ok, v = run(function()
      local m = corun.Mutex(0)
      local g = m:lock()
      local h = corun.spawn(function()
        local g <close> = m:lock()
        return "next"
      end)
      settle(2)
      g:unlock()
      return h:await()
    end)
    assert.is_true(ok)
    assert.equal("next", v)
  end)

  it("raises when called twice", function()
    local ok, err = run(function()
      local g = corun.Mutex(0):lock()
      g:unlock()
      return pcall(g.unlock, g)
    end)
    assert.is_false(ok)
    assert.equal("MutexGuard:unlock: the lock was already released", err)
  end)

  it("called twice, does not unlock for the next holder", function()
    local held = run(function()
      local m = corun.Mutex(0)
      local g = m:lock()
      g:unlock()
      local g2 = m:lock()
      pcall(g.unlock, g)
      return m:try_lock() == nil
    end)
    assert.is_true(held)
  end)
end)

describe("MutexGuard <close>", function()
  it("unlocks when the scope ends", function()
    local inside, after = run(function()
      local m = corun.Mutex(0)
      local inside
      do
        local g <close> = m:lock()
        inside = m:try_lock()
      end
      return inside, m:try_lock() ~= nil
    end)
    assert.is_nil(inside)
    assert.is_true(after)
  end)

  it("unlocks when the scope is left by an error", function()
    local ok, free = run(function()
      local m = corun.Mutex(0)
      local ok = pcall(function()
        local g <close> = m:lock()
        error("leave")
      end)
      return ok, m:try_lock() ~= nil
    end)
    assert.is_false(ok)
    assert.is_true(free)
  end)

  it("does nothing after an explicit unlock", function()
    local ok, held = run(function()
      local m = corun.Mutex(0)
      local g2
      local ok = pcall(function()
        local g <close> = m:lock()
        g:unlock()
        g2 = m:lock()
      end)
      return ok, m:try_lock() == nil
    end)
    assert.is_true(ok)
    assert.is_true(held)
  end)
end)

describe("MutexGuard ownership", function()
  it("is released when its task returns without unlocking", function()
    local ok = run(function()
      local m = corun.Mutex(0)
      corun.spawn(function() local g = m:lock() end):await()
      local g = m:try_lock()
      return g ~= nil
    end)
    assert.is_true(ok)
  end)

  it("is released when its task raises", function()
    local ok, v = run(function()
      local m = corun.Mutex(0)
      local h = corun.spawn(function()
        local g = m:lock()
        g.value = 1
        error("boom", 0)
      end)
      local ok = h:await()
      local g <close> = m:lock()  -- no deadlock
      return ok, g.value
    end)
    assert.is_false(ok)
    assert.equal(1, v)
  end)

  it("is released when its task is cancelled", function()
    local cancelled, v = run(function()
      local m = corun.Mutex(0)
      local h = corun.spawn(function()
        local g = m:lock()
        corun.sleep(math.huge)
      end)
      settle(2)
      h:abort()
      local _, err = h:await()
      local g <close> = m:lock()  -- no deadlock
      return err:is_cancelled(), "locked"
    end)
    assert.is_true(cancelled)
    assert.equal("locked", v)
  end)

  it("lets a waiter through when the holding task is cancelled", function()
    local ok, v = run(function()
      local m = corun.Mutex(0)
      local holder = corun.spawn(function()
        local g = m:lock()
        corun.sleep(math.huge)
      end)
      settle(2)
      local waiter = corun.spawn(function()
        local g <close> = m:lock()
        return "waiter"
      end)
      settle(2)
      holder:abort()
      return waiter:await()
    end)
    assert.is_true(ok)
    assert.equal("waiter", v)
  end)

  it("moved into a task, is usable by that task", function()
    local ok, v, after = run(function()
      local m = corun.Mutex(1)
      local g = m:lock()
      local h = corun.spawn(function(g)
        g.value = g.value + 10
        return g.value
      end, g)
      local ok, v = h:await()
      local g2 <close> = m:lock()
      return ok, v, g2.value
    end)
    assert.is_true(ok)
    assert.equal(11, v)
    assert.equal(11, after)
  end)

  it("moved into a task, is released when that task ends", function()
    local held, free = paused(function()
      local m = corun.Mutex(0)
      local g = m:lock()
      local h = corun.spawn(function(g) corun.sleep(0.02) end, g)
      settle(2)
      local held = m:try_lock() == nil
      h:await()
      return held, m:try_lock() ~= nil
    end)
    assert.is_true(held)
    assert.is_true(free)
  end)

  it("moved into a task, cannot be used by the spawner", function()
    local ok, err, id = run(function()
      local m = corun.Mutex(0)
      local g = m:lock()
      local h = corun.spawn(function(g) corun.sleep(0.02) end, g)
      local ok, err = pcall(function() return g.value end)
      h:await()
      return ok, err, h:id()
    end)
    assert.is_false(ok)
    assert.equal("corun: mutex guard was moved to task " .. id, err)
  end)

  it("moved into a task, cannot be unlocked by the spawner", function()
    local ok, err, id = run(function()
      local m = corun.Mutex(0)
      local g = m:lock()
      local h = corun.spawn(function(g) corun.sleep(0.02) end, g)
      local ok, err = pcall(g.unlock, g)
      h:await()
      return ok, err, h:id()
    end)
    assert.is_false(ok)
    assert.equal("corun: mutex guard was moved to task " .. id, err)
  end)

  it("moved into a task, is not unlocked by the spawner's <close>",
     function()
    local held, ok, v = paused(function()
      local m = corun.Mutex(0)
      local h
      do
        local g <close> = m:lock()
        h = corun.spawn(function(g)
          corun.sleep(0.05)
          g.value = 5
          return g.value
        end, g)
      end
      local held = m:try_lock() == nil
      local ok, v = h:await()
      return held, ok, v
    end)
    assert.is_true(held)
    assert.is_true(ok)
    assert.equal(5, v)
  end)

  it("locked inside corun.timeout, stays held after timeout returns",
     function()
    local ok, held = paused(function()
      local m = corun.Mutex(0)
      local ok, g = corun.timeout(1, function() return m:lock() end)
      return ok, m:try_lock() == nil
    end)
    assert.is_true(ok)
    assert.is_true(held)
  end)
end)

describe("Mutex sharing", function()
  it("is shared, not copied, with a spawned task", function()
    shared()
    local same = run(function()
      SHARED.m = corun.Mutex(0)
      return select(2, corun.spawn(function(m)
        return rawequal(m, SHARED.m)
      end, SHARED.m):await())
    end)
    assert.is_true(same)
  end)
end)

describe("Mutex (shared counter)", function()
  it("counts to 10 with 10 tasks incrementing it", function()
    local out = run(function()
      local counter = corun.Mutex(0)
      local hs = {}
      for i = 1, 10 do
        hs[i] = corun.spawn(function()
          local g <close> = counter:lock()
          local v = g.value
          corun.yield_now()  -- others run here, and must wait for the lock
          g.value = v + 1
        end)
      end
      for i = 1, 10 do hs[i]:await() end
      local g <close> = counter:lock()
      return "Counter: " .. g.value
    end)
    assert.equal("Counter: 10", out)
  end)

  it("never lets two tasks hold the lock at once", function()
    local s = shared()
    s.inside, s.max = 0, 0
    run(function()
      local m = corun.Mutex(0)
      local hs = {}
      for i = 1, 20 do
        hs[i] = corun.spawn(function()
          local g <close> = m:lock()
          SHARED.inside = SHARED.inside + 1
          if SHARED.inside > SHARED.max then SHARED.max = SHARED.inside end
          corun.sleep(0.001)
          SHARED.inside = SHARED.inside - 1
        end)
      end
      for i = 1, 20 do hs[i]:await() end
    end)
    assert.equal(1, s.max)
    assert.equal(0, s.inside)
  end)
end)
