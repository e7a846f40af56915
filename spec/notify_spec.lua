local corun = require "corun"

-- Tasks report through the global SHARED (what they capture is copied;
-- a Notify they capture is shared).

-- Spawn a task that waits in n:notified() and then appends 'name' to
-- SHARED.woken; it is waiting when this returns.
local function waiter(n, name)
  local h = corun.spawn(function(name)
    n:notified()
    SHARED.woken[#SHARED.woken + 1] = name
  end, name)
  settle(2)
  return h
end

-- Does n:notified() return within 'seconds'?  (On the paused clock, where
-- the specs that use it run, 'seconds' is exact whatever the machine's
-- load.)
local function returns_within(n, seconds)
  return (corun.timeout(seconds, function() n:notified() end))
end

describe("corun.Notify", function()
  it("returns a Notify", function()
    local name = run(function() return getmetatable(corun.Notify()).__name end)
    assert.equal("corun.Notify", name)
  end)

  it("returns a new Notify each time", function()
    local same = run(function() return corun.Notify() == corun.Notify() end)
    assert.is_false(same)
  end)

  it("starts without a stored permit", function()
    local returned = paused(function()
      return returns_within(corun.Notify(), 0.05)
    end)
    assert.is_false(returned)
  end)

  it("can be made outside a runtime", function()
    local ok, n = pcall(corun.Notify)
    assert.is_true(ok)
    assert.equal("corun.Notify", getmetatable(n).__name)
  end)
end)

describe("Notify:notified", function()
  it("waits until notified", function()
    local s = shared()
    s.woken = {}
    run(function()
      local n = corun.Notify()
      local h = waiter(n, "a")
      settle()
      SHARED.before = #SHARED.woken
      n:notify_one()
      h:await()
    end)
    assert.equal(0, s.before)
    assert.same({ "a" }, s.woken)
  end)

  it("lets other tasks run while it waits", function()
    local s = shared()
    run(function()
      local n = corun.Notify()
      corun.spawn(function()
        SHARED.other = true
        n:notify_one()
      end)
      n:notified()
      SHARED.seen = SHARED.other
    end)
    assert.is_true(s.seen)
  end)

  it("raises outside a task", function()
    local n = corun.Notify()
    local ok, err = pcall(n.notified, n)
    assert.is_false(ok)
    assert.equal(
      "Notify:notified: must be called from a task (inside corun.run)", err)
  end)

  it("is stopped when the waiting task is cancelled", function()
    local s = shared()
    local ok, err = run(function()
      local n = corun.Notify()
      local h = corun.spawn(function()
        n:notified()
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

  it("ends with corun.timeout when nobody notifies", function()
    local ok, err, elapsed = paused(function()
      local t0 = corun.now()
      local ok, err = corun.timeout(0.01, function()
        corun.Notify():notified()
      end)
      return ok, err, corun.now() - t0
    end)
    assert.is_false(ok)
    assert.equal("deadline has elapsed", tostring(err))
    near(0.01, elapsed)
  end)
end)

describe("Notify:notify_one", function()
  it("wakes a waiting task", function()
    local ok = run(function()
      local n = corun.Notify()
      local h = corun.spawn(function() n:notified() return "woken" end)
      settle(2)
      n:notify_one()
      return select(2, h:await())
    end)
    assert.equal("woken", ok)
  end)

  it("wakes only one of several waiters", function()
    local s = shared()
    s.woken = {}
    local after_one, after_two = run(function()
      local n = corun.Notify()
      local hs = { waiter(n, "a"), waiter(n, "b"), waiter(n, "c") }
      n:notify_one()
      settle()
      local after_one = #SHARED.woken
      n:notify_one()
      settle()
      local after_two = #SHARED.woken
      for _, h in ipairs(hs) do h:abort() end
      return after_one, after_two
    end)
    assert.equal(1, after_one)
    assert.equal(2, after_two)
  end)

  it("wakes the waiters first in, first out", function()
    local s = shared()
    s.woken = {}
    run(function()
      local n = corun.Notify()
      local hs = { waiter(n, "a"), waiter(n, "b"), waiter(n, "c") }
      for _ = 1, 3 do
        n:notify_one()
        settle()
      end
      for _, h in ipairs(hs) do h:await() end
    end)
    assert.same({ "a", "b", "c" }, s.woken)
  end)

  it("stores a permit when nobody waits: the next notified returns at once",
     function()
    local elapsed = paused(function()
      local n = corun.Notify()
      n:notify_one()
      local t0 = corun.now()
      n:notified()
      return corun.now() - t0
    end)
    near(0, elapsed)
  end)

  it("stores a permit that a task waiting later takes", function()
    local ok, v = run(function()
      local n = corun.Notify()
      n:notify_one()
      return corun.spawn(function() n:notified() return "at once" end):await()
    end)
    assert.is_true(ok)
    assert.equal("at once", v)
  end)

  it("stores only one permit", function()
    local first, second = paused(function()
      local n = corun.Notify()
      n:notify_one()
      n:notify_one()
      return returns_within(n, 1), returns_within(n, 0.05)
    end)
    assert.is_true(first)
    assert.is_false(second)
  end)

  it("uses up the stored permit once it is taken", function()
    local again = paused(function()
      local n = corun.Notify()
      n:notify_one()
      n:notified()
      return returns_within(n, 0.05)
    end)
    assert.is_false(again)
  end)

  it("wakes a waiter rather than storing a permit", function()
    local s = shared()
    s.woken = {}
    local later = paused(function()
      local n = corun.Notify()
      local h = waiter(n, "a")
      n:notify_one()
      h:await()
      return returns_within(n, 0.05)
    end)
    assert.same({ "a" }, s.woken)
    assert.is_false(later)
  end)

  it("is not swallowed by a waiter cancelled before the notify", function()
    local s = shared()
    s.woken = {}
    paused(function()
      local n = corun.Notify()
      local a = waiter(n, "a")
      local b = waiter(n, "b")
      a:abort()
      a:await()
      n:notify_one()
      corun.timeout(1, b.await, b)
    end)
    assert.same({ "b" }, s.woken)
  end)

  it("is passed on when the woken waiter is cancelled before it runs",
     function()
    local s = shared()
    s.woken = {}
    local cancelled = paused(function()
      local n = corun.Notify()
      local a = waiter(n, "a")
      local b = waiter(n, "b")
      n:notify_one(); a:abort()  -- granted and cancelled in the same step
      local _, err = a:await()
      corun.timeout(1, b.await, b)
      return err:is_cancelled()
    end)
    assert.is_true(cancelled)
    assert.same({ "b" }, s.woken)
  end)

  it("is stored when the only woken waiter is cancelled before it runs",
     function()
    local s = shared()
    s.woken = {}
    local later = paused(function()
      local n = corun.Notify()
      local a = waiter(n, "a")
      n:notify_one(); a:abort()
      a:await()
      return returns_within(n, 1)
    end)
    assert.same({}, s.woken)
    assert.is_true(later)
  end)

  it("works outside a task", function()
    local n = corun.Notify()
    assert.is_true(pcall(n.notify_one, n))
  end)
end)

describe("Notify:notify_waiters", function()
  it("wakes every waiting task", function()
    local s = shared()
    s.woken = {}
    paused(function()
      local n = corun.Notify()
      local hs = { waiter(n, "a"), waiter(n, "b"), waiter(n, "c") }
      n:notify_waiters()
      for _, h in ipairs(hs) do corun.timeout(1, h.await, h) end
    end)
    table.sort(s.woken)
    assert.same({ "a", "b", "c" }, s.woken)
  end)

  it("wakes them in the order they started waiting", function()
    local s = shared()
    s.woken = {}
    paused(function()
      local n = corun.Notify()
      local hs = { waiter(n, "a"), waiter(n, "b"), waiter(n, "c") }
      n:notify_waiters()
      for _, h in ipairs(hs) do corun.timeout(1, h.await, h) end
    end)
    assert.same({ "a", "b", "c" }, s.woken)
  end)

  it("stores no permit when nobody waits", function()
    local later = paused(function()
      local n = corun.Notify()
      n:notify_waiters()
      return returns_within(n, 0.05)
    end)
    assert.is_false(later)
  end)

  it("stores no permit after waking the waiters", function()
    local s = shared()
    s.woken = {}
    local later = paused(function()
      local n = corun.Notify()
      local h = waiter(n, "a")
      n:notify_waiters()
      h:await()
      return returns_within(n, 0.05)
    end)
    assert.same({ "a" }, s.woken)
    assert.is_false(later)
  end)

  it("does not wake a task that starts waiting after it", function()
    local s = shared()
    s.woken = {}
    local woken = run(function()
      local n = corun.Notify()
      local a = waiter(n, "a")
      n:notify_waiters()
      local b = waiter(n, "b")
      a:await()
      settle()
      local woken = table.concat(SHARED.woken, ",")
      b:abort()
      return woken
    end)
    assert.equal("a", woken)
  end)

  it("stores no permit when a woken waiter is cancelled before it runs",
     function()
    local s = shared()
    s.woken = {}
    local later = paused(function()
      local n = corun.Notify()
      local a = waiter(n, "a")
      n:notify_waiters(); a:abort()
      a:await()
      return returns_within(n, 0.05)
    end)
    assert.same({}, s.woken)
    assert.is_false(later)
  end)

  it("keeps a permit stored before it", function()
    local later = paused(function()
      local n = corun.Notify()
      n:notify_one()
      n:notify_waiters()
      return returns_within(n, 1)
    end)
    assert.is_true(later)
  end)
end)

describe("Notify sharing", function()
  it("is shared, not copied, with a spawned task", function()
    shared()
    local same = run(function()
      SHARED.n = corun.Notify()
      return select(2, corun.spawn(function(n)
        return rawequal(n, SHARED.n)
      end, SHARED.n):await())
    end)
    assert.is_true(same)
  end)

  it("wakes a task that received it as an argument", function()
    local ok, v = run(function()
      local n = corun.Notify()
      local h = corun.spawn(function(n) n:notified() return "woken" end, n)
      settle(2)
      n:notify_one()
      return h:await()
    end)
    assert.is_true(ok)
    assert.equal("woken", v)
  end)
end)

describe("Notify:__tostring", function()
  it("says whether a permit is stored", function()
    local empty, stored, taken = run(function()
      local n = corun.Notify()
      local empty = tostring(n)
      n:notify_one()
      local stored = tostring(n)
      n:notified()
      return empty, stored, tostring(n)
    end)
    assert.equal("corun.Notify (no permit)", empty)
    assert.equal("corun.Notify (permit stored)", stored)
    assert.equal("corun.Notify (no permit)", taken)
  end)
end)
