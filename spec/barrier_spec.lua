local corun = require "corun"

-- Tasks report through the global SHARED (what they capture is copied;
-- a Barrier they capture is shared).

-- Spawn a task that waits at 'b' and then appends 'name' and what wait
-- returned to SHARED.passed; it is waiting when this returns.
local function arrive(b, name)
  local h = corun.spawn(function(name)
    local leader = b:wait()
    SHARED.passed[#SHARED.passed + 1] = name .. "=" .. tostring(leader)
    return leader
  end, name)
  settle(2)
  return h
end

describe("corun.Barrier", function()
  it("returns a Barrier", function()
    local name = run(function()
      return getmetatable(corun.Barrier(2)).__name
    end)
    assert.equal("corun.Barrier", name)
  end)

  it("can be made outside a runtime", function()
    local ok, b = pcall(corun.Barrier, 3)
    assert.is_true(ok)
    assert.equal("corun.Barrier (0 of 3 waiting)", tostring(b))
  end)

  it("raises on a count that is not a non-negative integer", function()
    local e1 = select(2, pcall(corun.Barrier))
    local e2 = select(2, pcall(corun.Barrier, 1.5))
    local e3 = select(2, pcall(corun.Barrier, -1))
    assert.equal("corun.Barrier: bad argument #1 (integer expected, got no "
                 .. "value)", e1)
    assert.equal("corun.Barrier: bad argument #1 (integer expected, got "
                 .. "number)", e2)
    assert.equal("corun.Barrier: bad argument #1 (must be at least 0, got -1)",
                 e3)
  end)

  it("with n = 0 behaves as with n = 1 (as Tokio's)", function()
    local a, b, text = run(function()
      local b = corun.Barrier(0)
      return b:wait(), b:wait(), tostring(b)
    end)
    assert.is_true(a)
    assert.is_true(b)
    assert.equal("corun.Barrier (0 of 1 waiting)", text)
  end)
end)

describe("Barrier:wait", function()
  it("returns at once, as the leader, with n = 1", function()
    local leader, elapsed = paused(function()
      local t0 = corun.now()
      local leader = corun.Barrier(1):wait()
      return leader, corun.now() - t0
    end)
    assert.is_true(leader)
    near(0, elapsed)
  end)

  it("waits until n tasks have arrived", function()
    local s = shared()
    s.passed = {}
    local before = run(function()
      local b = corun.Barrier(3)
      local hs = { arrive(b, "a"), arrive(b, "b") }
      settle()
      local before = #SHARED.passed
      b:wait()
      for _, h in ipairs(hs) do h:await() end
      return before
    end)
    assert.equal(0, before)
    assert.equal(2, #s.passed)
  end)

  it("returns true in exactly one task, the last to arrive", function()
    local s = shared()
    s.passed = {}
    local last = run(function()
      local b = corun.Barrier(4)
      local hs = { arrive(b, "a"), arrive(b, "b"), arrive(b, "c") }
      local last = b:wait()
      for _, h in ipairs(hs) do h:await() end
      return last
    end)
    assert.is_true(last)
    assert.same({ "a=false", "b=false", "c=false" }, s.passed)
  end)

  it("releases the waiters in the order they arrived", function()
    local s = shared()
    s.passed = {}
    run(function()
      local b = corun.Barrier(4)
      local hs = { arrive(b, "c"), arrive(b, "a"), arrive(b, "b") }
      b:wait()
      for _, h in ipairs(hs) do h:await() end
    end)
    assert.same({ "c=false", "a=false", "b=false" }, s.passed)
  end)

  it("waits as long as the last task takes to arrive", function()
    local waited = paused(function()
      local b = corun.Barrier(2)
      local h = corun.spawn(function()
        corun.sleep(0.25)
        return b:wait()
      end)
      local t0 = corun.now()
      b:wait()
      h:await()
      return corun.now() - t0
    end)
    near(0.25, waited)
  end)

  it("is reusable: each generation has its own leader", function()
    local s = shared()
    s.leaders = {}
    run(function()
      local b = corun.Barrier(3)
      local hs = {}
      for i = 1, 3 do
        hs[i] = corun.spawn(function(i)
          for gen = 1, 4 do
            if b:wait() then
              SHARED.leaders[#SHARED.leaders + 1] = gen
            end
            for _ = 1, i do corun.yield_now() end  -- arrive in any order
          end
        end, i)
      end
      for i = 1, 3 do hs[i]:await() end
    end)
    assert.same({ 1, 2, 3, 4 }, s.leaders)
  end)

  it("keeps the generations apart: a fast task waits for the next one",
     function()
    local s = shared()
    s.log = {}
    paused(function()
      local b = corun.Barrier(2)
      local t0 = corun.now()
      local fast = corun.spawn(function()
        for gen = 1, 3 do
          b:wait()
          SHARED.log[#SHARED.log + 1] = ("fast %d at %.3f"):format(gen,
                                                          corun.now() - t0)
        end
      end)
      for gen = 1, 3 do
        corun.sleep(1)
        b:wait()
      end
      fast:await()
    end)
    assert.same({ "fast 1 at 1.000", "fast 2 at 2.000", "fast 3 at 3.000" },
                s.log)
  end)

  it("lets other tasks run while it waits", function()
    local s = shared()
    run(function()
      local b = corun.Barrier(2)
      corun.spawn(function()
        SHARED.other = true
        b:wait()
      end)
      b:wait()
      SHARED.seen = SHARED.other
    end)
    assert.is_true(s.seen)
  end)

  it("raises outside a task", function()
    local b = corun.Barrier(2)
    local ok, err = pcall(b.wait, b)
    assert.is_false(ok)
    assert.equal("Barrier:wait: must be called from a task (inside corun.run)",
                 err)
  end)

  it("raises when called with '.'", function()
    local ok, err = run(function()
      return pcall(corun.Barrier(2).wait)
    end)
    assert.is_false(ok)
    assert.equal("Barrier:wait: bad argument #1 (Barrier expected, got no "
                 .. "value)", err)
  end)

  it("is stopped when the waiting task is cancelled", function()
    local s = shared()
    local ok, err = run(function()
      local b = corun.Barrier(2)
      local h = corun.spawn(function()
        b:wait()
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

  it("does not count a waiter cancelled before the generation completes",
     function()
    local s = shared()
    s.passed = {}
    local text, completed_by_two, leader = run(function()
      local b = corun.Barrier(3)
      local a = arrive(b, "a")
      local c = arrive(b, "c")
      a:abort()
      a:await()
      local text = tostring(b)
      local d = arrive(b, "d")
      local completed_by_two = #SHARED.passed > 0  -- c and d: not yet 3
      local leader = b:wait()
      c:await()
      d:await()
      return text, completed_by_two, leader
    end)
    assert.equal("corun.Barrier (1 of 3 waiting)", text)
    assert.is_false(completed_by_two)
    assert.is_true(leader)
    assert.same({ "c=false", "d=false" }, s.passed)
  end)

  it("still counts a waiter released and cancelled before it runs",
     function()
    local s = shared()
    s.passed = {}
    local leader, text = run(function()
      local b = corun.Barrier(3)
      local a = arrive(b, "a")
      local c = arrive(b, "c")
      local leader = b:wait(); a:abort()  -- released, then cancelled
      local _, err = a:await()
      c:await()
      return leader and err:is_cancelled(), tostring(b)
    end)
    assert.is_true(leader)
    assert.equal("corun.Barrier (0 of 3 waiting)", text)  -- a new generation
    assert.same({ "c=false" }, s.passed)
  end)

  it("counts a waiter aborted but not yet stopped when the generation "
     .. "completes, and takes nothing from the next generation", function()
    local s = shared()
    s.passed = {}
    local leader, text, next_leader = run(function()
      local b = corun.Barrier(2)
      local a = arrive(b, "a")
      a:abort()                 -- a stops when the scheduler reaches it...
      local leader = b:wait()   -- ...after this arrival completed its round
      a:await()
      local text = tostring(b)
      local c = arrive(b, "c")  -- the next generation needs 2 again
      local next_leader = b:wait()
      c:await()
      return leader, text, next_leader
    end)
    assert.is_true(leader)
    assert.equal("corun.Barrier (0 of 2 waiting)", text)
    assert.is_true(next_leader)
    assert.same({ "c=false" }, s.passed)
  end)

  it("leaves the barrier when corun.timeout expires", function()
    local ok, err, text, elapsed = paused(function()
      local b = corun.Barrier(2)
      local t0 = corun.now()
      local ok, err = corun.timeout(0.5, b.wait, b)
      return ok, tostring(err), tostring(b), corun.now() - t0
    end)
    assert.is_false(ok)
    assert.equal("deadline has elapsed", err)
    assert.equal("corun.Barrier (0 of 2 waiting)", text)
    near(0.5, elapsed)
  end)

  it("is stopped in a branch that corun.select cancels", function()
    local i, text = paused(function()
      local b = corun.Barrier(2)
      local i = corun.select(function() return b:wait() end,
                             function() corun.sleep(0.01) end)
      return i, tostring(b)
    end)
    assert.equal(2, i)
    assert.equal("corun.Barrier (0 of 2 waiting)", text)
  end)

  it("works across branches of one task (corun.join)", function()
    local a, b = run(function()
      local bar = corun.Barrier(2)
      return corun.join(function() return bar:wait() end,
                        function() return bar:wait() end)
    end)
    assert.is_false(a)
    assert.is_true(b)
  end)
end)

describe("Barrier sharing", function()
  it("is shared, not copied, with a spawned task", function()
    shared()
    local same = run(function()
      SHARED.b = corun.Barrier(1)
      return select(2, corun.spawn(function(b)
        return rawequal(b, SHARED.b)
      end, SHARED.b):await())
    end)
    assert.is_true(same)
  end)
end)

describe("Barrier:__tostring", function()
  it("says how many of n wait", function()
    local texts = run(function()
      local b = corun.Barrier(3)
      local t = { tostring(b) }
      local h = corun.spawn(function() return b:wait() end)
      settle(2)
      t[2] = tostring(b)
      local h2 = corun.spawn(function() return b:wait() end)
      settle(2)
      t[3] = tostring(b)
      b:wait()
      t[4] = tostring(b)
      h:await()
      h2:await()
      return table.concat(t, "|")
    end)
    assert.equal("corun.Barrier (0 of 3 waiting)|corun.Barrier (1 of 3 "
                 .. "waiting)|corun.Barrier (2 of 3 waiting)|corun.Barrier "
                 .. "(0 of 3 waiting)", texts)
  end)
end)

describe("Barrier (many tasks)", function()
  it("100 tasks through 10 generations: one leader each, nobody early",
     function()
    local s = shared()
    s.leaders, s.early = 0, 0
    s.count = {}
    paused(function()
      local b = corun.Barrier(100)
      local set = corun.JoinSet()
      for i = 1, 100 do
        set:spawn(function(i)
          for gen = 1, 10 do
            SHARED.count[gen] = (SHARED.count[gen] or 0) + 1
            corun.sleep(0.001 * (i % 7))
            if b:wait() then SHARED.leaders = SHARED.leaders + 1 end
            if SHARED.count[gen] ~= 100 then SHARED.early = SHARED.early + 1 end
          end
        end, i)
      end
      set:join_all()
    end)
    assert.equal(10, s.leaders)
    assert.equal(0, s.early)
  end)
end)
