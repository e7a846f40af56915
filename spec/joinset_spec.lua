local corun = require "corun"

-- Members report through the global SHARED (what they capture is copied).

-- A member that records its start, closes closer(name) when it ends, and
-- waits 'seconds' (default: forever) before it records that it resumed.
local function sleeper(name, seconds)
  return function()
    local c <close> = closer(name)
    SHARED.started = (SHARED.started or 0) + 1
    corun.sleep(seconds or math.huge)
    SHARED.resumed = (SHARED.resumed or 0) + 1
  end
end

-- The names closed so far, sorted.
local function closed(s)
  local t = {}
  for i, v in ipairs(s.closed or {}) do t[i] = v end
  table.sort(t)
  return t
end

-- Wait until every AbortHandle in 'hs' reports that its task finished.
local function wait_finished(hs)
  for _, h in ipairs(hs) do
    while not h:is_finished() do corun.sleep(0.001) end
  end
end

describe("corun.JoinSet", function()
  it("returns a JoinSet", function()
    local name = run(function()
      return getmetatable(corun.JoinSet()).__name
    end)
    assert.equal("corun.JoinSet", name)
  end)

  it("returns an empty set", function()
    local len, n, empty, next = run(function()
      local set = corun.JoinSet()
      return set:len(), #set, set:is_empty(), set:join_next()
    end)
    assert.equal(0, len)
    assert.equal(0, n)
    assert.is_true(empty)
    assert.is_nil(next)
  end)

  it("returns a new set each time", function()
    local same = run(function() return corun.JoinSet() == corun.JoinSet() end)
    assert.is_false(same)
  end)

  it("raises outside a runtime", function()
    local ok, err = pcall(corun.JoinSet)
    assert.is_false(ok)
    assert.equal(
      "corun.JoinSet: must be called from a task (inside corun.run)", err)
  end)
end)

describe("JoinSet:spawn", function()
  -- regression: refused values were numbered from fn, not from self
  it("names a refused value by the method's argument number", function()
    local ok, err = run(function()
      local set = corun.JoinSet()
      return pcall(set.spawn, set, function() end, 1, set)
    end)
    assert.is_false(ok)
    assert.equal("JoinSet:spawn: cannot move a corun.JoinSet into a task " ..
                 "(argument 4)", err)
  end)

  it("returns an AbortHandle", function()
    local name = run(function()
      local set = corun.JoinSet()
      local ah = set:spawn(function() end)
      set:join_all()
      return getmetatable(ah).__name
    end)
    assert.equal("corun.AbortHandle", name)
  end)

  it("returns an AbortHandle with abort, id and is_finished", function()
    local types = run(function()
      local set = corun.JoinSet()
      local ah = set:spawn(function() end)
      local t = { type(ah.abort), type(ah.id), type(ah.is_finished) }
      set:join_all()
      return t
    end)
    assert.same({ "function", "function", "function" }, types)
  end)

  it("returns before the task has run", function()
    local s = shared()
    local ran_before = run(function()
      local set = corun.JoinSet()
      set:spawn(function() SHARED.ran = true end)
      local ran = SHARED.ran
      set:join_next()
      return ran
    end)
    assert.is_nil(ran_before)
    assert.is_true(s.ran)
  end)

  it("starts the task at the spawner's next yield", function()
    local s = shared()
    run(function()
      local set = corun.JoinSet()
      set:spawn(function() SHARED.ran = true end)
      corun.yield_now()
      SHARED.seen = SHARED.ran
      set:join_next()
    end)
    assert.is_true(s.seen)
  end)

  it("passes the arguments to fn", function()
    local ok, r = run(function()
      local set = corun.JoinSet()
      set:spawn(function(...) return table.pack(...) end, 1, nil, "x", false)
      return set:join_next()
    end)
    assert.is_true(ok)
    assert.same({ n = 4, 1, nil, "x", false }, r)
  end)

  it("copies a table argument into the task", function()
    local t = { n = 1, sub = { "a" } }
    local ok, inside_n, outside = run(function(t)
      local set = corun.JoinSet()
      set:spawn(function(c)
        c.n = 2
        c.sub[1] = "changed"
        return c.n
      end, t)
      local ok, n = set:join_next()
      return ok, n, t
    end, t)
    assert.is_true(ok)
    assert.equal(2, inside_n)
    assert.same({ n = 1, sub = { "a" } }, outside)
  end)

  it("copies fn's upvalues into the task", function()
    local ok, inside, outside = run(function()
      local cell = { n = 1 }
      local set = corun.JoinSet()
      set:spawn(function()
        cell.n = cell.n + 1
        return cell.n
      end)
      local ok, v = set:join_next()
      return ok, v, cell.n
    end)
    assert.is_true(ok)
    assert.equal(2, inside)
    assert.equal(1, outside)
  end)

  it("raises when fn is not a function", function()
    local ok, err = run(function()
      local set = corun.JoinSet()
      return pcall(set.spawn, set, nil)
    end)
    assert.is_false(ok)
    assert.matches("^JoinSet:spawn: bad argument #%d %(function expected, " ..
                   "got nil%)", err)
  end)

  it("refuses a JoinSet argument", function()
    local ok, err = run(function()
      local set = corun.JoinSet()
      return pcall(set.spawn, set, function() end, set)
    end)
    assert.is_false(ok)
    assert.matches("^JoinSet:spawn: cannot move a corun%.JoinSet into a task",
                   err)
  end)

  it("raises on a closed set", function()
    local ok, err = run(function()
      local set = corun.JoinSet()
      set:close()
      return pcall(set.spawn, set, function() end)
    end)
    assert.is_false(ok)
    assert.equal("JoinSet:spawn: the JoinSet is closed", err)
  end)

  it("starts no task when the set is closed", function()
    local s = shared()
    run(function()
      local set = corun.JoinSet()
      set:close()
      pcall(set.spawn, set, function() SHARED.ran = true end)
      corun.sleep(0.01)
    end)
    assert.is_nil(s.ran)
  end)
end)

describe("JoinSet:join_next", function()
  it("returns the results in completion order", function()
    local order, at = paused(function()
      local set = corun.JoinSet()
      local t0 = corun.now()
      for id = 1, 5 do
        set:spawn(function(id)
          corun.sleep(0.02 * (6 - id))
          return id
        end, id)
      end
      local order, at = {}, {}
      while true do
        local ok, id = set:join_next()
        if ok == nil then break end
        assert(ok)
        order[#order + 1] = id
        at[#at + 1] = corun.now() - t0
      end
      return order, at
    end)
    assert.same({ 5, 4, 3, 2, 1 }, order)
    for k = 1, 5 do near(0.02 * k, at[k], "join_next " .. k) end
  end)

  it("returns true and every result of the task", function()
    local r = run(function()
      local set = corun.JoinSet()
      set:spawn(function() return 1, nil, "three" end)
      return table.pack(set:join_next())
    end)
    assert.same({ n = 4, true, 1, nil, "three" }, r)
  end)

  it("returns just true for a task that returned nothing", function()
    local r = run(function()
      local set = corun.JoinSet()
      set:spawn(function() end)
      return table.pack(set:join_next())
    end)
    assert.same({ n = 1, true }, r)
  end)

  it("returns false and a JoinError for a task that raised", function()
    local ok, err = run(function()
      local set = corun.JoinSet()
      set:spawn(function() error("oops!", 0) end)
      return set:join_next()
    end)
    assert.is_false(ok)
    assert.equal("corun.JoinError", getmetatable(err).__name)
    assert.is_true(err:is_panic())
    assert.is_false(err:is_cancelled())
    assert.equal("oops!", err:into_panic())
  end)

  it("returns nil when the set is empty", function()
    local r = run(function()
      return table.pack(corun.JoinSet():join_next())
    end)
    assert.is_nil(r[1])
  end)

  it("returns nil once every task has been joined", function()
    local first, second = run(function()
      local set = corun.JoinSet()
      set:spawn(function() return "v" end)
      local _, v = set:join_next()
      return v, set:join_next()
    end)
    assert.equal("v", first)
    assert.is_nil(second)
  end)

  it("waits for a task that has not finished", function()
    local elapsed, ok, v = paused(function()
      local set = corun.JoinSet()
      local t0 = corun.now()
      set:spawn(function() corun.sleep(0.05) return "late" end)
      local ok, v = set:join_next()
      return corun.now() - t0, ok, v
    end)
    assert.is_true(ok)
    assert.equal("late", v)
    near(0.05, elapsed)
  end)

  it("returns as soon as one task finishes", function()
    local elapsed, v = paused(function()
      local set = corun.JoinSet()
      local t0 = corun.now()
      set:spawn(function() corun.sleep(0.01) return "fast" end)
      set:spawn(function() corun.sleep(math.huge) end)
      local _, v = set:join_next()
      local elapsed = corun.now() - t0
      set:shutdown()
      return elapsed, v
    end)
    assert.equal("fast", v)
    near(0.01, elapsed)
  end)

  it("copies the results out of the task", function()
    shared()
    local ok, same = run(function()
      local set = corun.JoinSet()
      set:spawn(function()
        SHARED.inner = { 1, 2 }
        return SHARED.inner
      end)
      local ok, t = set:join_next()
      return ok, t == SHARED.inner
    end)
    assert.is_true(ok)
    assert.is_false(same)
  end)

  it("lets other tasks run while it waits", function()
    local s = shared()
    run(function()
      local set = corun.JoinSet()
      local h = corun.spawn(function() SHARED.other = true end)
      set:spawn(function() corun.sleep(0.01) end)
      set:join_next()
      SHARED.seen = SHARED.other
      h:await()
    end)
    assert.is_true(s.seen)
  end)

  it("is stopped when the waiting task is cancelled", function()
    local s = shared()
    local ok, err = run(function()
      local h = corun.spawn(function()
        local set = corun.JoinSet()
        set:spawn(function() corun.sleep(math.huge) end)
        set:join_next()
        SHARED.resumed = true
      end)
      corun.sleep(0.01)
      h:abort()
      return h:await()
    end)
    assert.is_false(ok)
    assert.is_true(err:is_cancelled())
    assert.is_nil(s.resumed)
  end)
end)

describe("JoinSet:join_next_with_id", function()
  it("returns the task id first, then true and the results", function()
    local r, id = run(function()
      local set = corun.JoinSet()
      local ah = set:spawn(function() return "a", "b" end)
      return table.pack(set:join_next_with_id()), ah:id()
    end)
    assert.same({ n = 4, id, true, "a", "b" }, r)
  end)

  it("returns the id, false and a JoinError for a task that raised",
     function()
    local id, ok, err, ah_id = run(function()
      local set = corun.JoinSet()
      local ah = set:spawn(function() error("bad", 0) end)
      local id, ok, err = set:join_next_with_id()
      return id, ok, err, ah:id()
    end)
    assert.equal(ah_id, id)
    assert.is_false(ok)
    assert.is_true(err:is_panic())
    assert.equal(id, err:id())
  end)

  it("returns the ids in completion order", function()
    local got, want = paused(function()
      local set = corun.JoinSet()
      local ids = {}
      for i = 1, 3 do
        ids[i] = set:spawn(function(i) corun.sleep(0.02 * (4 - i)) end, i):id()
      end
      local got = {}
      for i = 1, 3 do got[i] = set:join_next_with_id() end
      return got, { ids[3], ids[2], ids[1] }
    end)
    assert.same(want, got)
  end)

  it("returns nil when the set is empty", function()
    local r = run(function()
      return table.pack(corun.JoinSet():join_next_with_id())
    end)
    assert.is_nil(r[1])
  end)
end)

describe("JoinSet:try_join_next", function()
  it("returns nil when no task has finished yet", function()
    local r, len = run(function()
      local set = corun.JoinSet()
      set:spawn(function() corun.sleep(math.huge) end)
      corun.yield_now()
      local r = table.pack(set:try_join_next())
      local len = set:len()
      set:shutdown()
      return r, len
    end)
    assert.is_nil(r[1])
    assert.equal(1, len)
  end)

  it("does not wait", function()
    local elapsed = paused(function()
      local set = corun.JoinSet()
      set:spawn(function() corun.sleep(0.5) end)
      local t0 = corun.now()
      set:try_join_next()
      local elapsed = corun.now() - t0
      set:shutdown()
      return elapsed
    end)
    near(0, elapsed)
  end)

  it("does not run a task that has not started", function()
    local s = shared()
    local r = run(function()
      local set = corun.JoinSet()
      set:spawn(function() SHARED.ran = true end)
      local r = table.pack(set:try_join_next())
      SHARED.ran_before = SHARED.ran
      set:join_all()
      return r
    end)
    assert.is_nil(r[1])
    assert.is_nil(s.ran_before)
  end)

  it("returns true and the results of a finished task", function()
    local r = run(function()
      local set = corun.JoinSet()
      local ah = set:spawn(function() return 1, 2 end)
      wait_finished { ah }
      return table.pack(set:try_join_next())
    end)
    assert.same({ n = 3, true, 1, 2 }, r)
  end)

  it("returns false and a JoinError for a task that raised", function()
    local ok, err = run(function()
      local set = corun.JoinSet()
      local ah = set:spawn(function() error("bad", 0) end)
      wait_finished { ah }
      return set:try_join_next()
    end)
    assert.is_false(ok)
    assert.is_true(err:is_panic())
  end)

  it("returns nil when the set is empty", function()
    local r = run(function()
      return table.pack(corun.JoinSet():try_join_next())
    end)
    assert.is_nil(r[1])
  end)

  it("takes the finished task out of the set", function()
    local before, after = run(function()
      local set = corun.JoinSet()
      local ah = set:spawn(function() end)
      wait_finished { ah }
      local before = set:len()
      set:try_join_next()
      return before, set:len()
    end)
    assert.equal(1, before)
    assert.equal(0, after)
  end)
end)

describe("JoinSet:join_all", function()
  it("returns the first results in completion order", function()
    local r = paused(function()
      local set = corun.JoinSet()
      for id = 1, 5 do
        set:spawn(function(id)
          corun.sleep(0.02 * (6 - id))
          return id, "second result"
        end, id)
      end
      return set:join_all()
    end)
    assert.same({ 5, 4, 3, 2, 1 }, r)
  end)

  it("returns an empty table for an empty set", function()
    local r = run(function() return corun.JoinSet():join_all() end)
    assert.same({}, r)
  end)

  it("leaves the set empty", function()
    local len, next = run(function()
      local set = corun.JoinSet()
      for i = 1, 3 do set:spawn(function() return i end) end
      set:join_all()
      return set:len(), set:join_next()
    end)
    assert.equal(0, len)
    assert.is_nil(next)
  end)

  it("re-raises the error of a task that raised", function()
    local ok, err = run(function()
      local set = corun.JoinSet()
      set:spawn(function() return 1 end)
      set:spawn(function() corun.sleep(0.01) error("boom", 0) end)
      return pcall(set.join_all, set)
    end)
    assert.is_false(ok)
    assert.equal("boom", err)
  end)

  it("re-raises a table error value", function()
    local ok, err = run(function()
      local set = corun.JoinSet()
      set:spawn(function() error({ code = 42 }) end)
      return pcall(set.join_all, set)
    end)
    assert.is_false(ok)
    assert.same({ code = 42 }, err)
  end)

  it("aborts the other tasks when one raises", function()
    local s = shared()
    local ok, err, at = paused(function()
      local set = corun.JoinSet()
      local t0 = corun.now()
      for i = 1, 3 do set:spawn(sleeper("rest" .. i, 0.05)) end
      set:spawn(function() corun.sleep(0.01) error("boom", 0) end)
      local ok, err = pcall(set.join_all, set)
      local at = corun.now() - t0
      corun.sleep(0.1)  -- past the end of the others' sleeps
      return ok, err, at
    end)
    assert.is_false(ok)
    assert.equal("boom", err)
    near(0.01, at)  -- join_all raised when the task raised
    assert.equal(3, s.started)
    assert.same({ "rest1", "rest2", "rest3" }, closed(s))
    assert.is_nil(s.resumed)
  end)

  it("raises a JoinError for a task that was cancelled", function()
    local ok, err = run(function()
      local set = corun.JoinSet()
      set:spawn(function() corun.sleep(math.huge) end):abort()
      return pcall(set.join_all, set)
    end)
    assert.is_false(ok)
    assert.equal("corun.JoinError", getmetatable(err).__name)
    assert.is_true(err:is_cancelled())
  end)
end)

describe("JoinSet:len", function()
  it("counts the spawned tasks", function()
    local len = run(function()
      local set = corun.JoinSet()
      for _ = 1, 3 do set:spawn(function() end) end
      local len = set:len()
      set:join_all()
      return len
    end)
    assert.equal(3, len)
  end)

  it("counts tasks that finished but were not joined", function()
    local len = run(function()
      local set = corun.JoinSet()
      local hs = {}
      for i = 1, 3 do hs[i] = set:spawn(function() end) end
      wait_finished(hs)
      return set:len()
    end)
    assert.equal(3, len)
  end)

  it("goes down as tasks are joined", function()
    local lens = run(function()
      local set = corun.JoinSet()
      for _ = 1, 3 do set:spawn(function() end) end
      local lens = { set:len() }
      while set:join_next() do lens[#lens + 1] = set:len() end
      return lens
    end)
    assert.same({ 3, 2, 1, 0 }, lens)
  end)

  it("is what the length operator # gives", function()
    local lens = run(function()
      local set = corun.JoinSet()
      local lens = { #set }
      for _ = 1, 2 do set:spawn(function() end) end
      lens[#lens + 1] = #set
      set:join_next()
      lens[#lens + 1] = #set
      set:join_next()
      lens[#lens + 1] = #set
      return lens
    end)
    assert.same({ 0, 2, 1, 0 }, lens)
  end)
end)

describe("JoinSet:is_empty", function()
  it("is true until a task is spawned and after all are joined",
     function()
    local r = run(function()
      local set = corun.JoinSet()
      local r = { set:is_empty() }
      set:spawn(function() end)
      r[2] = set:is_empty()
      local h = set:spawn(function() end)
      wait_finished { h }
      set:join_next()
      r[3] = set:is_empty()
      set:join_next()
      r[4] = set:is_empty()
      return r
    end)
    assert.same({ true, false, false, true }, r)
  end)
end)

describe("JoinSet:abort_all", function()
  it("makes every running task come out of join_next as cancelled",
     function()
    local r = run(function()
      local set = corun.JoinSet()
      for _ = 1, 3 do set:spawn(function() corun.sleep(math.huge) end) end
      corun.yield_now()
      set:abort_all()
      local r = {}
      while true do
        local ok, err = set:join_next()
        if ok == nil then break end
        r[#r + 1] = (not ok) and err:is_cancelled()
      end
      return r
    end)
    assert.same({ true, true, true }, r)
  end)

  it("cancels tasks that have not started yet", function()
    local s = shared()
    local cancelled = run(function()
      local set = corun.JoinSet()
      set:spawn(function() SHARED.ran = true end)
      set:abort_all()
      local ok, err = set:join_next()
      return not ok and err:is_cancelled()
    end)
    assert.is_true(cancelled)
    assert.is_nil(s.ran)
  end)

  it("closes the tasks' to-be-closed variables; they never resume",
     function()
    local s = shared()
    paused(function()
      local set = corun.JoinSet()
      for i = 1, 3 do set:spawn(sleeper("m" .. i, 0.03)) end
      corun.yield_now()
      set:abort_all()
      while set:join_next() ~= nil do end
      corun.sleep(0.08)
    end)
    assert.same({ "m1", "m2", "m3" }, closed(s))
    assert.is_nil(s.resumed)
  end)

  it("returns without waiting", function()
    local elapsed = paused(function()
      local set = corun.JoinSet()
      set:spawn(function() corun.sleep(math.huge) end)
      corun.yield_now()
      local t0 = corun.now()
      set:abort_all()
      local elapsed = corun.now() - t0
      set:join_next()
      return elapsed
    end)
    near(0, elapsed)
  end)

  it("keeps the tasks in the set until they are joined", function()
    local len = run(function()
      local set = corun.JoinSet()
      for _ = 1, 2 do set:spawn(function() corun.sleep(math.huge) end) end
      set:abort_all()
      local len = set:len()
      while set:join_next() ~= nil do end
      return len
    end)
    assert.equal(2, len)
  end)

  it("leaves the results of tasks that already finished", function()
    local ok, v = run(function()
      local set = corun.JoinSet()
      local h = set:spawn(function() return "done" end)
      wait_finished { h }
      set:abort_all()
      return set:join_next()
    end)
    assert.is_true(ok)
    assert.equal("done", v)
  end)

  it("leaves the set open for new tasks", function()
    local ok, v = run(function()
      local set = corun.JoinSet()
      set:spawn(function() corun.sleep(math.huge) end)
      set:abort_all()
      set:join_next()
      set:spawn(function() return "after" end)
      return set:join_next()
    end)
    assert.is_true(ok)
    assert.equal("after", v)
  end)
end)

describe("JoinSet:shutdown", function()
  it("cancels every task and waits until they have stopped", function()
    local s = shared()
    local closed_at_return = run(function()
      local set = corun.JoinSet()
      for i = 1, 3 do set:spawn(sleeper("m" .. i)) end
      corun.yield_now()
      set:shutdown()
      return closed(SHARED)
    end)
    assert.same({ "m1", "m2", "m3" }, closed_at_return)
    assert.equal(3, s.started)
  end)

  it("leaves the set empty", function()
    local len, empty, next = run(function()
      local set = corun.JoinSet()
      for _ = 1, 3 do set:spawn(function() corun.sleep(math.huge) end) end
      corun.yield_now()
      set:shutdown()
      return set:len(), set:is_empty(), set:join_next()
    end)
    assert.equal(0, len)
    assert.is_true(empty)
    assert.is_nil(next)
  end)

  it("marks every task finished", function()
    local finished = run(function()
      local set = corun.JoinSet()
      local hs = {}
      for i = 1, 3 do
        hs[i] = set:spawn(function() corun.sleep(math.huge) end)
      end
      set:shutdown()
      local r = {}
      for i = 1, 3 do r[i] = hs[i]:is_finished() end
      return r
    end)
    assert.same({ true, true, true }, finished)
  end)

  it("never resumes the tasks, even once their waits would have ended",
     function()
    local s = shared()
    paused(function()
      local set = corun.JoinSet()
      for i = 1, 3 do set:spawn(sleeper("m" .. i, 0.03)) end
      corun.yield_now()
      set:shutdown()
      corun.sleep(0.08)
    end)
    assert.is_nil(s.resumed)
  end)

  it("returns at once for an empty set", function()
    local elapsed = paused(function()
      local t0 = corun.now()
      corun.JoinSet():shutdown()
      return corun.now() - t0
    end)
    near(0, elapsed)
  end)

  it("leaves the set open for new tasks", function()
    local ok, v = run(function()
      local set = corun.JoinSet()
      set:spawn(function() corun.sleep(math.huge) end)
      set:shutdown()
      set:spawn(function() return "after" end)
      return set:join_next()
    end)
    assert.is_true(ok)
    assert.equal("after", v)
  end)
end)

describe("JoinSet:detach_all", function()
  it("leaves the set empty", function()
    local len, empty, next = run_leaving(function()
      local set = corun.JoinSet()
      for _ = 1, 3 do set:spawn(function() corun.sleep(0.01) end) end
      set:detach_all()
      return set:len(), set:is_empty(), set:join_next()
    end)
    assert.equal(0, len)
    assert.is_true(empty)
    assert.is_nil(next)
  end)

  it("lets the tasks run to completion", function()
    local s = shared()
    s.done = {}
    paused(function()
      local set = corun.JoinSet()
      local hs = {}
      for i = 1, 3 do
        hs[i] = set:spawn(function(i)
          corun.sleep(0.01 * i)
          SHARED.done[#SHARED.done + 1] = i
        end, i)
      end
      set:detach_all()
      wait_finished(hs)
    end)
    assert.same({ 1, 2, 3 }, s.done)
  end)

  it("lets the tasks run on after the set is closed", function()
    local s = shared()
    paused(function()
      local set = corun.JoinSet()
      local h = set:spawn(function()
        corun.sleep(0.02)
        SHARED.done = true
      end)
      corun.yield_now()
      set:detach_all()
      set:close()
      wait_finished { h }
    end)
    assert.is_true(s.done)
  end)

  it("lets the tasks run on after the owning task ends", function()
    local s = shared()
    paused(function()
      local owner = corun.spawn(function()
        local set = corun.JoinSet()
        set:spawn(function()
          corun.sleep(0.02)
          SHARED.done = true
        end)
        corun.yield_now()
        set:detach_all()
      end)
      owner:await()
      corun.sleep(0.1)
    end)
    assert.is_true(s.done)
  end)
end)

describe("JoinSet:close", function()
  -- regression: a task that reached the set through a global could close
  -- it, aborting the owner's tasks
  it("raises when a task that does not own the set closes it", function()
    local ok, err, owner = run(function()
      local set = corun.JoinSet()
      SHARED_SET = set
      local _, pok, perr = corun.spawn(function()
        return pcall(SHARED_SET.close, SHARED_SET)
      end):await()
      SHARED_SET = nil
      return pok, perr, corun.task_id()
    end)
    assert.is_false(ok)
    assert.equal("JoinSet:close: the JoinSet belongs to task " .. owner, err)
  end)

  it("cancels every task still in the set", function()
    local s = shared()
    paused(function()
      local set = corun.JoinSet()
      for i = 1, 3 do set:spawn(sleeper("m" .. i, 0.03)) end
      corun.yield_now()
      set:close()
      corun.sleep(0.08)
    end)
    assert.equal(3, s.started)
    assert.same({ "m1", "m2", "m3" }, closed(s))
    assert.is_nil(s.resumed)
  end)

  it("cancels tasks that have not started; they never run", function()
    local s = shared()
    run(function()
      local set = corun.JoinSet()
      set:spawn(function() SHARED.ran = true end)
      set:close()
      corun.sleep(0.02)
    end)
    assert.is_nil(s.ran)
  end)

  it("leaves the set empty", function()
    local len, next = run(function()
      local set = corun.JoinSet()
      set:spawn(function() corun.sleep(math.huge) end)
      set:close()
      return set:len(), set:join_next()
    end)
    assert.equal(0, len)
    assert.is_nil(next)
  end)

  it("can be called twice", function()
    local ok = run(function()
      local set = corun.JoinSet()
      set:spawn(function() corun.sleep(math.huge) end)
      set:close()
      return pcall(set.close, set)
    end)
    assert.is_true(ok)
  end)
end)

describe("JoinSet <close>", function()
  it("cancels every task still in the set when the scope ends", function()
    local s = shared()
    paused(function()
      do
        local set <close> = corun.JoinSet()
        for i = 1, 3 do set:spawn(sleeper("m" .. i, 0.03)) end
        corun.yield_now()
      end
      corun.sleep(0.08)
    end)
    assert.equal(3, s.started)
    assert.same({ "m1", "m2", "m3" }, closed(s))
    assert.is_nil(s.resumed)
  end)

  it("cancels the tasks when the scope is left by an error", function()
    local s = shared()
    local ok = paused(function()
      local ok = pcall(function()
        local set <close> = corun.JoinSet()
        set:spawn(sleeper("m", 0.03))
        corun.yield_now()
        error("leave")
      end)
      corun.sleep(0.08)
      return ok
    end)
    assert.is_false(ok)
    assert.same({ "m" }, closed(s))
    assert.is_nil(s.resumed)
  end)

  it("leaves alone the tasks that were already joined", function()
    local v = run(function()
      local v
      do
        local set <close> = corun.JoinSet()
        set:spawn(function() return "joined" end)
        v = select(2, set:join_next())
      end
      return v
    end)
    assert.equal("joined", v)
  end)
end)

describe("JoinSet garbage collection", function()
  it("cancels every task still in the set", function()
    local s = shared()
    local finished = paused(function()
      local function make()
        local set = corun.JoinSet()
        local hs = {}
        for i = 1, 3 do hs[i] = set:spawn(sleeper("m" .. i, 0.03)) end
        corun.yield_now()
        return hs
      end
      local hs = make()
      collectgarbage()
      collectgarbage()
      corun.yield_now()
      corun.sleep(0.08)
      local r = {}
      for i = 1, 3 do r[i] = hs[i]:is_finished() end
      return r
    end)
    assert.same({ true, true, true }, finished)
    assert.equal(3, s.started)
    assert.same({ "m1", "m2", "m3" }, closed(s))
    assert.is_nil(s.resumed)
  end)

  it("lets go of ended members nobody joined, once the set is collected",
     function()
    local freed = run(function()
      local gone = 0   -- tables copy with their metatable, __gc too
      local token_mt = { __gc = function() gone = gone + 1 end }
      do
        local set = corun.JoinSet()
        for _ = 1, 3 do
          set:spawn(function(tok) return tok end,
                    setmetatable({}, token_mt))
        end
        corun.yield_now()          -- all three end, their results kept
        assert.equal(3, set:len())
      end
      local a, b, c = 1, 2, 3      -- reuse the registers that held 'set'
      for _ = 1, 100 do            -- the runtime drops the anchors soon
        collectgarbage()
        collectgarbage()
        if gone == 9 then break end
        corun.yield_now()
      end
      return gone + (a + b + c) * 0
    end)
    -- each token, its copy in the task, and the copy of the result that
    -- the set held for join_next
    assert.equal(9, freed)
  end)
end)

describe("JoinSet end of the owning task", function()
  it("cancels every task still in the set when the owner returns",
     function()
    local s = shared()
    local ok, v = paused(function()
      local owner = corun.spawn(function()
        local set = corun.JoinSet()
        for i = 1, 3 do set:spawn(sleeper("m" .. i, 0.03)) end
        corun.yield_now()
        return "owner done"
      end)
      local ok, v = owner:await()
      corun.sleep(0.08)
      return ok, v
    end)
    assert.is_true(ok)
    assert.equal("owner done", v)
    assert.equal(3, s.started)
    assert.same({ "m1", "m2", "m3" }, closed(s))
    assert.is_nil(s.resumed)
  end)

  it("cancels every task still in the set when the owner raises",
     function()
    local s = shared()
    local ok, err = paused(function()
      local owner = corun.spawn(function()
        local set = corun.JoinSet()
        for i = 1, 2 do set:spawn(sleeper("m" .. i, 0.03)) end
        corun.yield_now()
        error("owner failed", 0)
      end)
      local ok, err = owner:await()
      corun.sleep(0.08)
      return ok, err
    end)
    assert.is_false(ok)
    assert.is_true(err:is_panic())
    assert.same({ "m1", "m2" }, closed(s))
    assert.is_nil(s.resumed)
  end)

  it("cancels every task still in the set when the owner is cancelled",
     function()
    local s = shared()
    paused(function()
      local owner = corun.spawn(function()
        local set = corun.JoinSet()
        for i = 1, 2 do set:spawn(sleeper("m" .. i, 0.03)) end
        set:join_next()
      end)
      corun.yield_now()
      corun.yield_now()
      owner:abort()
      owner:await()
      corun.sleep(0.08)
    end)
    assert.same({ "m1", "m2" }, closed(s))
    assert.is_nil(s.resumed)
  end)
end)

describe("JoinSet ownership", function()
  it("cannot be moved into another task", function()
    local ok, err = run(function()
      return pcall(corun.spawn, function() end, corun.JoinSet())
    end)
    assert.is_false(ok)
    assert.equal(
      "corun.spawn: cannot move a corun.JoinSet into a task (argument 2)", err)
  end)

  it("cannot be captured as an upvalue of a spawned function", function()
    local ok, err = run(function()
      local set = corun.JoinSet()
      return pcall(corun.spawn, function() return set:len() end)
    end)
    assert.is_false(ok)
    assert.matches("^corun%.spawn: cannot move a corun%.JoinSet into a task",
                   err)
  end)

  it("cannot be moved out of a task as a result", function()
    local ok, err = run(function()
      return corun.spawn(function() return corun.JoinSet() end):await()
    end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("cannot move a corun.JoinSet out of a " ..
                                     "task", 1, true), tostring(err))
  end)

  it("refuses JoinSet:spawn from a task that does not own it", function()
    shared()
    local ok, inner_ok, err, owner = run(function()
      SHARED.set = corun.JoinSet()
      local h = corun.spawn(function()
        return pcall(SHARED.set.spawn, SHARED.set, function() end)
      end)
      local ok, inner_ok, err = h:await()
      return ok, inner_ok, err, corun.task_id()
    end)
    assert.is_true(ok)
    assert.is_false(inner_ok)
    assert.equal("JoinSet:spawn: the JoinSet belongs to task " .. owner, err)
  end)

  it("refuses JoinSet:join_next from a task that does not own it",
     function()
    shared()
    local ok, inner_ok, err, owner = run(function()
      SHARED.set = corun.JoinSet()
      local h = corun.spawn(function()
        return pcall(SHARED.set.join_next, SHARED.set)
      end)
      local ok, inner_ok, err = h:await()
      return ok, inner_ok, err, corun.task_id()
    end)
    assert.is_true(ok)
    assert.is_false(inner_ok)
    assert.equal("JoinSet:join_next: the JoinSet belongs to task " .. owner,
                 err)
  end)

  it("belongs to the task that created it, not to the main task",
     function()
    shared()
    local ok, inner_ok, err, owner_id = paused(function()
      local owner = corun.spawn(function()
        SHARED.set = corun.JoinSet()
        SHARED.owner_id = corun.task_id()
        corun.sleep(0.05)
      end)
      corun.yield_now()
      local inner_ok, err = pcall(SHARED.set.spawn, SHARED.set,
                                  function() end)
      owner:await()
      return true, inner_ok, err, SHARED.owner_id
    end)
    assert.is_true(ok)
    assert.is_false(inner_ok)
    assert.equal("JoinSet:spawn: the JoinSet belongs to task " .. owner_id,
                 err)
  end)
end)

describe("AbortHandle:abort", function()
  it("makes the task come out of join_next as cancelled", function()
    local ok, err, id = run(function()
      local set = corun.JoinSet()
      local ah = set:spawn(function() corun.sleep(math.huge) end)
      corun.yield_now()
      ah:abort()
      local ok, err = set:join_next()
      return ok, err, ah:id()
    end)
    assert.is_false(ok)
    assert.is_true(err:is_cancelled())
    assert.is_false(err:is_panic())
    assert.equal(id, err:id())
    assert.equal("task " .. id .. " was cancelled", tostring(err))
  end)

  it("cancels only that task", function()
    local r = run(function()
      local set = corun.JoinSet()
      local a = set:spawn(function() corun.sleep(math.huge) end)
      set:spawn(function() corun.sleep(0.01) return "other" end)
      a:abort()
      local r = {}
      while true do
        local ok, v = set:join_next()
        if ok == nil then break end
        r[#r + 1] = ok and v or (v:is_cancelled() and "cancelled")
      end
      table.sort(r)
      return r
    end)
    assert.same({ "cancelled", "other" }, r)
  end)

  it("closes the task's to-be-closed variables; it never resumes",
     function()
    local s = shared()
    paused(function()
      local set = corun.JoinSet()
      local ah = set:spawn(sleeper("m", 0.03))
      corun.yield_now()
      ah:abort()
      set:join_next()
      corun.sleep(0.08)
    end)
    assert.same({ "m" }, closed(s))
    assert.is_nil(s.resumed)
  end)

  it("keeps a task that never started from running", function()
    local s = shared()
    local cancelled = run(function()
      local set = corun.JoinSet()
      local ah = set:spawn(function() SHARED.ran = true end)
      ah:abort()
      local ok, err = set:join_next()
      return not ok and err:is_cancelled()
    end)
    assert.is_true(cancelled)
    assert.is_nil(s.ran)
  end)

  it("does nothing to a task that has finished", function()
    local ok, v = run(function()
      local set = corun.JoinSet()
      local ah = set:spawn(function() return "done" end)
      wait_finished { ah }
      ah:abort()
      return set:join_next()
    end)
    assert.is_true(ok)
    assert.equal("done", v)
  end)

  it("does nothing to a task that has been joined", function()
    local ok = run(function()
      local set = corun.JoinSet()
      local ah = set:spawn(function() return "done" end)
      set:join_next()
      return pcall(ah.abort, ah)
    end)
    assert.is_true(ok)
  end)

  it("works from another task", function()
    local ok, err = run(function()
      local set = corun.JoinSet()
      local ah = set:spawn(function() corun.sleep(math.huge) end)
      corun.spawn(function(ah) ah:abort() end, ah)
      return set:join_next()
    end)
    assert.is_false(ok)
    assert.is_true(err:is_cancelled())
  end)
end)

describe("AbortHandle:id", function()
  it("is the id of the task", function()
    local id, inner = run(function()
      local set = corun.JoinSet()
      local ah = set:spawn(function() return corun.task_id() end)
      local _, inner = set:join_next()
      return ah:id(), inner
    end)
    assert.equal("integer", math.type(id))
    assert.equal(inner, id)
  end)

  it("differs between tasks", function()
    local a, b = run(function()
      local set = corun.JoinSet()
      local a, b = set:spawn(function() end), set:spawn(function() end)
      set:join_all()
      return a:id(), b:id()
    end)
    assert.are_not.equal(a, b)
  end)
end)

describe("AbortHandle:is_finished", function()
  it("is false while the task runs", function()
    local before, running = run(function()
      local set = corun.JoinSet()
      local ah = set:spawn(function() corun.sleep(math.huge) end)
      local before = ah:is_finished()
      corun.yield_now()
      local running = ah:is_finished()
      set:shutdown()
      return before, running
    end)
    assert.is_false(before)
    assert.is_false(running)
  end)

  it("is true once the task has returned", function()
    local finished = run(function()
      local set = corun.JoinSet()
      local ah = set:spawn(function() end)
      set:join_next()
      return ah:is_finished()
    end)
    assert.is_true(finished)
  end)

  it("is true once the task has raised", function()
    local finished = run(function()
      local set = corun.JoinSet()
      local ah = set:spawn(function() error("x", 0) end)
      set:join_next()
      return ah:is_finished()
    end)
    assert.is_true(finished)
  end)

  it("is true once the task has been cancelled", function()
    local finished = run(function()
      local set = corun.JoinSet()
      local ah = set:spawn(function() corun.sleep(math.huge) end)
      ah:abort()
      set:join_next()
      return ah:is_finished()
    end)
    assert.is_true(finished)
  end)
end)

describe("JoinSet (Tokio-like behaviour)", function()
  it("reports an aborted task as cancelled, not as a panic", function()
    local cancelled, panic = run(function()
      local set = corun.JoinSet()
      local ah = set:spawn(function() corun.sleep(math.huge) end)
      corun.yield_now()
      ah:abort()
      local _, err = set:join_next()
      return err:is_cancelled(), err:is_panic()
    end)
    assert.is_true(cancelled)
    assert.is_false(panic)
  end)

  it("reports a task that panicked as false and a JoinError with is_panic",
     function()
    local ok, panic, cancelled, text, value = run(function()
      local set = corun.JoinSet()
      set:spawn(function() corun.yield_now() error({ reason = "oops!" }) end)
      local ok, err = set:join_next()
      return ok, err:is_panic(), err:is_cancelled(), tostring(err),
             err:into_panic()
    end)
    assert.is_false(ok)
    assert.is_true(panic)
    assert.is_false(cancelled)
    assert.matches("^task %d+ panicked", text)
    assert.same({ reason = "oops!" }, value)
  end)

  it("keeps joining the other tasks after one panicked", function()
    local r = run(function()
      local set = corun.JoinSet()
      set:spawn(function() error("first", 0) end)
      set:spawn(function() corun.sleep(0.01) return "second" end)
      local r = {}
      while true do
        local ok, v = set:join_next()
        if ok == nil then break end
        r[#r + 1] = ok and v or v:into_panic()
      end
      return r
    end)
    assert.same({ "first", "second" }, r)
  end)

  it("gives every one of 1000 tasks exactly once", function()
    local seen, count, extra = run(function()
      local set = corun.JoinSet()
      for i = 1, 1000 do
        set:spawn(function(i)
          if i % 3 == 0 then corun.yield_now() end
          if i % 7 == 0 then corun.sleep(0.001) end
          return i
        end, i)
      end
      local seen, count = {}, 0
      while true do
        local ok, i = set:join_next()
        if ok == nil then break end
        assert(ok)
        seen[i] = (seen[i] or 0) + 1
        count = count + 1
      end
      return seen, count, set:len()
    end)
    assert.equal(1000, count)
    assert.equal(0, extra)
    for i = 1, 1000 do
      assert.equal(1, seen[i], "task " .. i)
    end
  end)

  it("gives every one of 1000 tasks exactly once through join_all",
     function()
    local r = run(function()
      local set = corun.JoinSet()
      for i = 1, 1000 do
        set:spawn(function(i)
          if i % 2 == 0 then corun.yield_now() end
          return i
        end, i)
      end
      return set:join_all()
    end)
    assert.equal(1000, #r)
    table.sort(r)
    for i = 1, 1000 do assert.equal(i, r[i]) end
  end)
end)

describe("JoinSet:join_next (in branches of the owner)", function()
  it("in two branches on a set of one member: one gets it, the other nil",
     function()
    local a, b = paused(function()
      local set = corun.JoinSet()
      set:spawn(function() corun.sleep(1) return "only" end)
      return corun.join(function() return table.pack(set:join_next()) end,
                        function() return table.pack(set:join_next()) end)
    end)
    local got, empty = a, b
    if a.n == 1 then got, empty = b, a end
    assert.same({ n = 2, true, "only" }, got)
    assert.same({ n = 1, nil }, empty)
  end)

  it("with_id in two branches: the one that finds the set empty gets nil",
     function()
    local a, b = paused(function()
      local set = corun.JoinSet()
      set:spawn(function() corun.sleep(1) return "only" end)
      return corun.join(
        function() return table.pack(set:join_next_with_id()) end,
        function() return table.pack(set:join_next_with_id()) end)
    end)
    assert.equal(3, math.max(a.n, b.n))
    assert.equal(1, math.min(a.n, b.n))
  end)

  it("waiting in one branch gets nil when another branch detaches every " ..
     "task", function()
    local r = paused(function()
      local set = corun.JoinSet()
      set:spawn(function() corun.sleep(2) end)
      local r
      corun.join(function() r = table.pack(set:join_next()) end,
                 function() corun.sleep(1); set:detach_all() end)
      corun.sleep(2)  -- the detached task ends
      return r
    end)
    assert.same({ n = 1, nil }, r)
  end)

  it("waiting in one branch gets nil when another branch closes the set",
     function()
    local r = paused(function()
      local set = corun.JoinSet()
      set:spawn(function() corun.sleep(10) end)
      local r
      corun.join(function() r = table.pack(set:join_next()) end,
                 function() corun.sleep(1); set:close(); settle() end)
      return r
    end)
    assert.same({ n = 1, nil }, r)
  end)

  it("join_all waiting in one branch returns when another branch takes " ..
     "the last member", function()
    local all, got = paused(function()
      local set = corun.JoinSet()
      set:spawn(function() corun.sleep(1) return "only" end)
      local all, got
      corun.join(function() all = set:join_all() end,
                 function() got = table.pack(set:join_next()) end)
      return all, got
    end)
    -- whichever branch took the member, the other one has ended
    if got.n == 1 then
      assert.same({ "only" }, all)
    else
      assert.same({}, all)
      assert.same({ n = 2, true, "only" }, got)
    end
  end)

  it("a waiter woken for a member and cancelled before it runs leaves " ..
     "the member to another waiter", function()
    local r = paused(function()
      local set = corun.JoinSet()
      local go, stop = corun.Notify(), corun.Notify()
      set:spawn(function()
        go:notified()
        stop:notify_one()  -- wakes the select's other branch first ...
        return "only"      -- ... then its end wakes the first waiter
      end)
      local r
      corun.join(function()
        corun.select(function() return set:join_next() end,
                     function() stop:notified() end)  -- wins, cancels
      end, function()
        r = table.pack(set:join_next())
      end, function()
        corun.sleep(1)
        go:notify_one()
      end)
      return r
    end)
    assert.same({ n = 2, true, "only" }, r)
  end)
end)
