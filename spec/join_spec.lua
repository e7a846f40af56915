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

-- A branch that waits 'seconds', then returns 'value'.
local function after(seconds, value)
  return function()
    corun.sleep(seconds)
    return value
  end
end

-- A branch that sets SHARED[name] when it starts, holds closer(name) and
-- sets SHARED[name .. " resumed"] if its wait of 'seconds' ever ends.
local function slow(name, seconds)
  return function()
    SHARED[name] = true
    local c <close> = closer(name)
    corun.sleep(seconds or 100)
    SHARED[name .. " resumed"] = true
  end
end

describe("corun.join", function()
  it("returns the first result of each function in argument order",
     function()
    local function fetch_user(id)
      corun.sleep(0.2)
      return "user-" .. id
    end
    local function fetch_profile(id)
      corun.sleep(0.3)
      return "profile-" .. id
    end
    local function fetch_settings(id)
      corun.sleep(0.15)
      return "settings-" .. id
    end
    local elapsed, user, profile, settings = timed(function()
      return corun.join(function() return fetch_user(1) end,
                        function() return fetch_profile(1) end,
                        function() return fetch_settings(1) end)
    end)
    assert.equal("user-1", user)
    assert.equal("profile-1", profile)
    assert.equal("settings-1", settings)
    near(0.3, elapsed)                 -- one after the other: 0.65 s
  end)

  it("returns only the first result of a function that returns several",
     function()
    local r = run(function()
      return table.pack(corun.join(function() return 1, 2, 3 end,
                                   function() return "a", "b" end))
    end)
    assert.same({ n = 2, 1, "a" }, r)
  end)

  it("gives nil in the slot of a function that returns nothing", function()
    local r = run(function()
      return table.pack(corun.join(function() return "a" end,
                                   function() corun.sleep(0.01) end,
                                   function() return "c" end))
    end)
    assert.same({ n = 3, "a", nil, "c" }, r)
  end)

  it("returns nothing when given no function", function()
    assert.equal(0, run(function() return select("#", corun.join()) end))
  end)

  it("lets the functions use and modify the caller's locals", function()
    local same, count, t = run(function()
      local count = 0
      local t = {}
      local before = t
      corun.join(function()
        count = count + 1
        t.a = "from a"
      end, function()
        corun.sleep(0.01)
        count = count + 10
        t.b = "from b"
      end)
      return rawequal(before, t), count, t
    end)
    assert.is_true(same)
    assert.equal(11, count)
    assert.same({ a = "from a", b = "from b" }, t)
  end)

  it("lets the functions see each other's changes to a shared local",
     function()
    local seen = paused(function()
      local box = {}
      local seen
      corun.join(function()
        corun.sleep(0.01)
        box.value = "set by a"
      end, function()
        corun.sleep(0.03)
        seen = box.value
      end)
      return seen
    end)
    assert.equal("set by a", seen)
  end)

  it("runs the functions concurrently", function()
    local s = shared()
    s.log = {}
    local elapsed = timed(function()
      corun.join(function()
        SHARED.log[#SHARED.log + 1] = "a1"
        corun.sleep(0.04)
        SHARED.log[#SHARED.log + 1] = "a2"
      end, function()
        SHARED.log[#SHARED.log + 1] = "b1"
        corun.sleep(0.01)
        SHARED.log[#SHARED.log + 1] = "b2"
      end)
    end)
    assert.same({ "a1", "b1", "b2", "a2" }, s.log)
    near(0.04, elapsed)                -- one after the other: 0.05 s
  end)

  it("waits for the slowest function", function()
    near(0.08, timed(corun.join, after(0.01), after(0.08), after(0.03)))
  end)

  it("lets other tasks run while the functions wait", function()
    local s = shared()
    run(function()
      local h = corun.spawn(function() SHARED.ran = true end)
      corun.join(function()
        corun.sleep(0.01)
        SHARED.seen = SHARED.ran
      end)
      h:await()
    end)
    assert.is_true(s.seen)
  end)

  it("runs the functions as the calling task", function()
    local caller, a, b = run(function()
      local a, b
      corun.join(function() a = corun.task_id() end, function()
        corun.sleep(0.01)
        b = corun.task_id()
      end)
      return corun.task_id(), a, b
    end)
    assert.equal(1, caller)
    assert.equal(caller, a)
    assert.equal(caller, b)
  end)

  it("runs the functions as the calling task in a spawned task", function()
    local ok, caller, a = run(function()
      return corun.spawn(function()
        local a
        corun.join(function()
          corun.sleep(0.01)
          a = corun.task_id()
        end)
        return corun.task_id(), a
      end):await()
    end)
    assert.is_true(ok)
    assert.is_true(caller > 1, caller)
    assert.equal(caller, a)
  end)

  it("re-raises the error a function raises", function()
    local ok, err = task_pcall(corun.join, after(0.05, "late"), function()
      corun.sleep(0.01)
      error("boom", 0)
    end)
    assert.is_false(ok)
    assert.equal("boom", err)
  end)

  it("re-raises the same table error value", function()
    local e = { code = 42 }
    local ok, err = run(function()
      return pcall(corun.join, after(0.05), function()
        corun.sleep(0.01)
        error(e)
      end)
    end)
    assert.is_false(ok)
    assert.equal(e, err)
  end)

  it("re-raises an error raised before the function waits", function()
    local e = {}
    local ok, err = run(function()
      return pcall(corun.join, after(0.02), function() error(e) end)
    end)
    assert.is_false(ok)
    assert.equal(e, err)
  end)

  it("re-raises the error raised first when two functions raise",
     function()
    local elapsed, ok, err = timed(pcall, corun.join, function()
      corun.sleep(0.05)
      error("second", 0)
    end, function()
      corun.sleep(0.01)
      error("first", 0)
    end)
    assert.is_false(ok)
    assert.equal("first", err)
    near(0.01, elapsed)                -- at once: the other is cancelled
  end)

  it("cancels the other functions when one raises", function()
    local s = shared()
    paused(function()
      pcall(corun.join, slow("a", 0.05), function()
        corun.sleep(0.01)
        error("boom")
      end, slow("c", 0.05))
      corun.sleep(0.1)
    end)
    assert.is_true(s.a)
    assert.is_true(s.c)
    assert.is_nil(s["a resumed"])
    assert.is_nil(s["c resumed"])
  end)

  it("closes the other functions' to-be-closed variables before it " ..
     "re-raises", function()
    shared()
    local closed = run(function()
      pcall(corun.join, slow("a"), function()
        corun.sleep(0.01)
        error("boom")
      end, slow("c"))
      return SHARED.closed
    end)
    table.sort(closed)
    assert.same({ "a", "c" }, closed)
  end)

  it("never starts the later functions when one raises before waiting",
     function()
    local s = shared()
    local ok = run(function()
      local ok = pcall(corun.join, slow("a"), function() error("at once") end,
                       slow("c"))
      corun.sleep(0.01)
      return ok
    end)
    assert.is_false(ok)
    assert.is_true(s.a)
    assert.is_nil(s.c)
    assert.same({ "a" }, s.closed)
  end)

  it("is cancelled with its functions when the calling task is aborted",
     function()
    local s = shared()
    local ok, err = run(function()
      local h = corun.spawn(function()
        corun.join(slow("a"), slow("b"))
        SHARED.after_join = true
      end)
      corun.yield_now()
      h:abort()
      local ok, err = h:await()
      corun.sleep(0.01)
      return ok, err
    end)
    assert.is_false(ok)
    assert.is_true(err:is_cancelled())
    assert.is_true(s.a)
    assert.is_true(s.b)
    assert.is_nil(s["a resumed"])
    assert.is_nil(s["b resumed"])
    assert.is_nil(s.after_join)
    table.sort(s.closed)
    assert.same({ "a", "b" }, s.closed)
  end)

  it("closes its functions' to-be-closed variables before await returns " ..
     "when the calling task is aborted", function()
    shared()
    local closed = run(function()
      local h = corun.spawn(function() corun.join(slow("a"), slow("b")) end)
      corun.yield_now()
      h:abort()
      h:await()
      return SHARED.closed
    end)
    table.sort(closed)
    assert.same({ "a", "b" }, closed)
  end)

  it("is cancelled with its functions by a timeout around it", function()
    local s = shared()
    local ok, err, closed = paused(function()
      local ok, err = corun.timeout(0.05, corun.join, slow("a", 0.2),
                                    slow("b", 0.2))
      local closed = { table.unpack(SHARED.closed or {}) }
      corun.sleep(0.3)
      return ok, err, closed
    end)
    assert.is_false(ok)
    assert.equal("deadline has elapsed", tostring(err))
    table.sort(closed)
    assert.same({ "a", "b" }, closed)
    assert.is_nil(s["a resumed"])
    assert.is_nil(s["b resumed"])
  end)

  it("returns at the deadline of a timeout around it", function()
    local elapsed, ok = timed(corun.timeout, 0.05, corun.join, after(10),
                              after(10))
    assert.is_false(ok)
    near(0.05, elapsed)
  end)

  it("lets the functions wait inside coroutine.wrap generators", function()
    local elapsed, a, b = timed(function()
      local function gen(tag)
        return coroutine.wrap(function()
          for i = 1, 3 do
            corun.sleep(0.03)
            coroutine.yield(tag .. i)
          end
        end)
      end
      local function collect(tag)
        return function()
          local out = {}
          for v in gen(tag) do out[#out + 1] = v end
          return out
        end
      end
      return corun.join(collect("a"), collect("b"))
    end)
    assert.same({ "a1", "a2", "a3" }, a)
    assert.same({ "b1", "b2", "b3" }, b)
    near(0.09, elapsed)                -- one after the other: 0.18 s
  end)

  it("lets a function call corun.join itself", function()
    local elapsed, a, b, c = timed(function()
      local a, bc = corun.join(after(0.05, "a"), function()
        return { corun.join(after(0.05, "b"), after(0.05, "c")) }
      end)
      return a, bc[1], bc[2]
    end)
    assert.same({ "a", "b", "c" }, { a, b, c })
    near(0.05, elapsed)                -- one after the other: 0.15 s
  end)

  it("lets a function await a task", function()
    local a, b = run(function()
      local h = corun.spawn(function()
        corun.sleep(0.01)
        return "from task"
      end)
      return corun.join(function() return select(2, h:await()) end,
                        after(0.02, "b"))
    end)
    assert.equal("from task", a)
    assert.equal("b", b)
  end)

  it("does not report an error it re-raises as a task error", function()
    local status, _, err = corun_script [[
      local corun = require "corun"
      pcall(corun.join, function() corun.sleep(0.001) error("x") end,
            function() corun.sleep(1) end)
      pcall(corun.join, function() error("y") end)
    ]]
    assert.equal(0, status)
    assert.equal("", err)
  end)

  it("raises when an argument is not a function", function()
    local ok, err = task_pcall(corun.join, function() end, 42)
    assert.is_false(ok)
    assert.equal("corun.join: bad argument #2 (function expected, got number)",
                 err)
  end)

  it("raises outside a runtime", function()
    local ok, err = pcall(corun.join, function() end)
    assert.is_false(ok)
    assert.equal("corun.join: must be called from a task (inside corun.run)",
                 err)
  end)
end)

describe("corun.try_join", function()
  it("returns true and the first result of each function on success",
     function()
    local r = run(function()
      return table.pack(corun.try_join(after(0.03, "a"), function()
        return "b", "ignored"
      end, after(0.01, "c")))
    end)
    assert.same({ n = 4, true, "a", "b", "c" }, r)
  end)

  it("returns only true when given no function", function()
    local r = run(function() return table.pack(corun.try_join()) end)
    assert.same({ n = 1, true }, r)
  end)

  it("gives nil in the slot of a function that returns nothing", function()
    local r = run(function()
      return table.pack(corun.try_join(after(0.01, "a"), function() end))
    end)
    assert.same({ n = 3, true, "a", nil }, r)
  end)

  it("lets the functions use and modify the caller's locals", function()
    local count = run(function()
      local count = 0
      corun.try_join(function() count = count + 1 return true end,
                     function()
                       corun.sleep(0.01)
                       count = count + 10
                       return true
                     end)
      return count
    end)
    assert.equal(11, count)
  end)

  it("fails fast with false and the error when a function returns nil, err",
     function()
    local function fetch_required_data()
      corun.sleep(0.2)
      return "data"
    end
    local function fetch_with_error()
      corun.sleep(0.1)
      return nil, "service unavailable"
    end
    local elapsed, message = timed(function()
      local ok, v = corun.try_join(fetch_required_data, fetch_with_error)
      if ok then return "Got: " .. v end
      return "Failed fast: " .. v
    end)
    assert.equal("Failed fast: service unavailable", message)
    near(0.1, elapsed)                 -- not the 0.2 of the slower one
  end)

  it("returns exactly false and the error for nil, err", function()
    local r = run(function()
      return table.pack(corun.try_join(after(0.05, "x"), function()
        return nil, "bad", "extra"
      end))
    end)
    assert.same({ n = 2, false, "bad" }, r)
  end)

  it("returns false and the error value when a function raises", function()
    local e = { code = 7 }
    local r = run(function()
      return table.pack(corun.try_join(after(0.05, "x"), function()
        corun.sleep(0.01)
        error(e)
      end))
    end)
    assert.equal(2, r.n)
    assert.is_false(r[1])
    assert.equal(e, r[2])
  end)

  it("returns false and a string error raised before the function waits",
     function()
    local ok, err = run(function()
      return corun.try_join(after(0.05), function() error("at once", 0) end)
    end)
    assert.is_false(ok)
    assert.equal("at once", err)
  end)

  it("gives the failure that comes first in time when two fail", function()
    local ok, err = paused(function()
      return corun.try_join(function()
        corun.sleep(0.06)
        return nil, "later"
      end, function()
        corun.sleep(0.01)
        error("sooner", 0)
      end)
    end)
    assert.is_false(ok)
    assert.equal("sooner", err)
  end)

  it("gives the failure that comes first in time when it returns nil, err",
     function()
    local ok, err = paused(function()
      return corun.try_join(function()
        corun.sleep(0.06)
        error("later", 0)
      end, function()
        corun.sleep(0.01)
        return nil, "sooner"
      end)
    end)
    assert.is_false(ok)
    assert.equal("sooner", err)
  end)

  it("cancels the other functions when one fails", function()
    local s = shared()
    local ok, closed = paused(function()
      local ok = corun.try_join(slow("a", 0.05), function()
        corun.sleep(0.01)
        return nil, "failed"
      end, slow("c", 0.05))
      local closed = { table.unpack(SHARED.closed or {}) }
      corun.sleep(0.1)
      return ok, closed
    end)
    assert.is_false(ok)
    table.sort(closed)
    assert.same({ "a", "c" }, closed)
    assert.is_nil(s["a resumed"])
    assert.is_nil(s["c resumed"])
  end)

  it("never starts the later functions when one fails before waiting",
     function()
    local s = shared()
    local ok, err = run(function()
      return corun.try_join(slow("a"), function() return nil, "at once" end,
                            slow("c"))
    end)
    assert.is_false(ok)
    assert.equal("at once", err)
    assert.is_true(s.a)
    assert.is_nil(s.c)
  end)

  it("is cancelled with its functions when the calling task is aborted",
     function()
    local s = shared()
    local ok, err = run(function()
      local h = corun.spawn(function()
        corun.try_join(slow("a"), slow("b"))
        SHARED.after_join = true
      end)
      corun.yield_now()
      h:abort()
      return h:await()
    end)
    assert.is_false(ok)
    assert.is_true(err:is_cancelled())
    assert.is_nil(s.after_join)
    table.sort(s.closed)
    assert.same({ "a", "b" }, s.closed)
  end)

  it("does not report the error of a function that raised as a task error",
     function()
    local status, _, err = corun_script [[
      local corun = require "corun"
      corun.try_join(function() corun.sleep(0.001) error("x") end,
                     function() corun.sleep(1) end)
      corun.try_join(function() error("y") end)
    ]]
    assert.equal(0, status)
    assert.equal("", err)
  end)

  it("raises when an argument is not a function", function()
    local ok, err = task_pcall(corun.try_join, function() end, 42)
    assert.is_false(ok)
    assert.equal(
      "corun.try_join: bad argument #2 (function expected, got number)", err)
  end)

  it("raises outside a runtime", function()
    local ok, err = pcall(corun.try_join, function() end)
    assert.is_false(ok)
    assert.equal(
      "corun.try_join: must be called from a task (inside corun.run)", err)
  end)
end)

describe("corun.select", function()
  it("leaves a message for a branch woken in the same turn as the winner",
     function()
    local first, later = run(function()
      local tx1, rx1 = corun.channel()
      local tx2, rx2 = corun.channel()
      corun.spawn(function(tx1, tx2)
        tx1:send("one")
        tx2:send("two")                -- both receivers wake in one turn
      end, tx1, tx2)
      local _, v = corun.select(function() return rx1:recv() end,
                                function() return rx2:recv() end)
      return v, rx2:try_recv()
    end)
    assert.equal("one", first)
    assert.equal("two", later)         -- not taken by the losing branch
  end)


  it("returns the index and all results of the first function to finish",
     function()
    local r = paused(function()
      return table.pack(corun.select(after(0.1, "slow"), function()
        corun.sleep(0.01)
        return "fast", nil, 3
      end, after(0.05, "middle")))
    end)
    assert.same({ n = 4, 2, "fast", nil, 3 }, r)
  end)

  it("returns only the index when the winner returns nothing", function()
    local r = paused(function()
      return table.pack(corun.select(after(0.1, "slow"), function()
        corun.sleep(0.01)
      end))
    end)
    assert.same({ n = 1, 2 }, r)
  end)

  it("returns when the first function finishes", function()
    local elapsed, i = timed(corun.select, after(10), after(0.03, "x"))
    assert.equal(2, i)
    near(0.03, elapsed)
  end)

  it("cancels the losers and closes their to-be-closed variables",
     function()
    local s = shared()
    local i, closed = paused(function()
      local i = corun.select(slow("a", 0.05), after(0.01, "won"),
                             slow("c", 0.05))
      local closed = { table.unpack(SHARED.closed or {}) }
      corun.sleep(0.1)
      return i, closed
    end)
    assert.equal(2, i)
    table.sort(closed)
    assert.same({ "a", "c" }, closed)
    assert.is_nil(s["a resumed"])
    assert.is_nil(s["c resumed"])
  end)

  it("lets a function that finishes without waiting win and never starts " ..
     "the later ones", function()
    local s = shared()
    local r = run(function()
      local r = table.pack(corun.select(slow("a"), function()
        return "at once"
      end, slow("c")))
      corun.sleep(0.01)
      return r
    end)
    assert.same({ n = 2, 2, "at once" }, r)
    assert.is_true(s.a)
    assert.is_nil(s.c)
    assert.same({ "a" }, s.closed)
  end)

  it("lets the first function win when it finishes without waiting",
     function()
    local s = shared()
    local i, v = run(function()
      return corun.select(function() return "first" end, slow("b"))
    end)
    assert.equal(1, i)
    assert.equal("first", v)
    assert.is_nil(s.b)
  end)

  it("lets the functions use and modify the caller's locals", function()
    local seen, i = paused(function()
      local seen = {}
      local i = corun.select(function()
        seen[#seen + 1] = "a"
        corun.sleep(0.05)
      end, function()
        seen[#seen + 1] = "b"
        corun.sleep(0.01)
      end)
      return seen, i
    end)
    assert.same({ "a", "b" }, seen)
    assert.equal(2, i)
  end)

  it("runs the functions as the calling task", function()
    local caller, id = paused(function()
      local _, id = corun.select(after(1), function()
        corun.sleep(0.01)
        return corun.task_id()
      end)
      return corun.task_id(), id
    end)
    assert.equal(caller, id)
  end)

  it("propagates the error of the winner", function()
    local e = { code = 1 }
    local ok, err = paused(function()
      return pcall(corun.select, after(0.1, "slow"), function()
        corun.sleep(0.01)
        error(e)
      end)
    end)
    assert.is_false(ok)
    assert.equal(e, err)
  end)

  it("propagates an error raised before the function waits", function()
    local ok, err = task_pcall(corun.select, after(0.1),
                               function() error("at once", 0) end)
    assert.is_false(ok)
    assert.equal("at once", err)
  end)

  it("cancels the losers when the winner raises", function()
    local s = shared()
    local ok, closed = paused(function()
      local ok = pcall(corun.select, slow("a", 0.05), function()
        corun.sleep(0.01)
        error("boom")
      end)
      local closed = { table.unpack(SHARED.closed or {}) }
      corun.sleep(0.1)
      return ok, closed
    end)
    assert.is_false(ok)
    assert.same({ "a" }, closed)
    assert.is_nil(s["a resumed"])
  end)

  it("is cancelled with its functions when the calling task is aborted",
     function()
    local s = shared()
    local ok, err = run(function()
      local h = corun.spawn(function()
        corun.select(slow("a"), slow("b"))
        SHARED.after_select = true
      end)
      corun.yield_now()
      h:abort()
      local ok, err = h:await()
      corun.sleep(0.01)
      return ok, err
    end)
    assert.is_false(ok)
    assert.is_true(err:is_cancelled())
    assert.is_nil(s.after_select)
    assert.is_nil(s["a resumed"])
    assert.is_nil(s["b resumed"])
    table.sort(s.closed)
    assert.same({ "a", "b" }, s.closed)
  end)

  it("serves as a timeout when one function only sleeps", function()
    local elapsed, i = timed(corun.select, after(10, "work"), after(0.02))
    assert.equal(2, i)
    near(0.02, elapsed)
  end)

  it("is cancelled with its functions by a timeout around it", function()
    local s = shared()
    local ok, err = run(function()
      return corun.timeout(0.02, corun.select, slow("a"), slow("b"))
    end)
    assert.is_false(ok)
    assert.equal("deadline has elapsed", tostring(err))
    table.sort(s.closed)
    assert.same({ "a", "b" }, s.closed)
  end)

  it("lets the functions wait inside coroutine.wrap generators", function()
    local i, v = paused(function()
      return corun.select(function()
        local gen = coroutine.wrap(function()
          corun.sleep(0.1)
          coroutine.yield("slow")
        end)
        return gen()
      end, function()
        local gen = coroutine.wrap(function()
          corun.sleep(0.01)
          coroutine.yield("fast")
        end)
        return gen()
      end)
    end)
    assert.equal(2, i)
    assert.equal("fast", v)
  end)

  it("does not report an error it propagates as a task error", function()
    local status, _, err = corun_script [[
      local corun = require "corun"
      pcall(corun.select, function() corun.sleep(0.001) error("x") end,
            function() corun.sleep(1) end)
      pcall(corun.select, function() error("y") end)
    ]]
    assert.equal(0, status)
    assert.equal("", err)
  end)

  it("raises when given no function", function()
    local ok, err = task_pcall(corun.select)
    assert.is_false(ok)
    assert.equal("corun.select: needs at least one function", err)
  end)

  it("raises when an argument is not a function", function()
    local ok, err = task_pcall(corun.select, function() end, 42)
    assert.is_false(ok)
    assert.equal(
      "corun.select: bad argument #2 (function expected, got number)", err)
  end)

  it("raises outside a runtime", function()
    local ok, err = pcall(corun.select, function() end)
    assert.is_false(ok)
    assert.equal("corun.select: must be called from a task (inside corun.run)",
                 err)
  end)
end)
