local corun = require "corun"

-- Tasks report through the global SHARED (what they capture is copied;
-- a CancellationToken they capture is shared).

-- Spawn a task that waits in tok:cancelled() and then appends 'name' to
-- SHARED.woken; it is waiting when this returns.
local function waiter(tok, name)
  local h = corun.spawn(function(name)
    tok:cancelled()
    SHARED.woken[#SHARED.woken + 1] = name
  end, name)
  settle(2)
  return h
end

describe("corun.CancellationToken", function()
  it("returns a CancellationToken, not cancelled", function()
    local name, cancelled = run(function()
      local tok = corun.CancellationToken()
      return getmetatable(tok).__name, tok:is_cancelled()
    end)
    assert.equal("corun.CancellationToken", name)
    assert.is_false(cancelled)
  end)

  it("returns a new token each time", function()
    local same = run(function()
      return corun.CancellationToken() == corun.CancellationToken()
    end)
    assert.is_false(same)
  end)

  it("can be made, cancelled and asked outside a runtime", function()
    local tok = corun.CancellationToken()
    local child = tok:child()
    tok:cancel()
    assert.is_true(tok:is_cancelled())
    assert.is_true(child:is_cancelled())
  end)
end)

describe("CancellationToken:cancel", function()
  it("cancels the token, for good", function()
    local before, after, again = run(function()
      local tok = corun.CancellationToken()
      local before = tok:is_cancelled()
      tok:cancel()
      local after = tok:is_cancelled()
      tok:cancel()  -- a second cancel does nothing more
      return before, after, tok:is_cancelled()
    end)
    assert.is_false(before)
    assert.is_true(after)
    assert.is_true(again)
  end)

  it("wakes every task waiting in cancelled(), in the order they came",
     function()
    local s = shared()
    s.woken = {}
    run(function()
      local tok = corun.CancellationToken()
      local hs = { waiter(tok, "a"), waiter(tok, "b"), waiter(tok, "c") }
      SHARED.before = #SHARED.woken
      tok:cancel()
      for _, h in ipairs(hs) do h:await() end
    end)
    assert.equal(0, s.before)
    assert.same({ "a", "b", "c" }, s.woken)
  end)

  it("cancels its children and their children", function()
    local c, g = run(function()
      local tok = corun.CancellationToken()
      local child = tok:child()
      local grandchild = child:child()
      tok:cancel()
      return child:is_cancelled(), grandchild:is_cancelled()
    end)
    assert.is_true(c)
    assert.is_true(g)
  end)

  it("wakes the tasks waiting on a descendant", function()
    local s = shared()
    s.woken = {}
    run(function()
      local tok = corun.CancellationToken()
      local h = waiter(tok:child():child(), "grandchild")
      tok:cancel()
      h:await()
    end)
    assert.same({ "grandchild" }, s.woken)
  end)

  it("on a child leaves its parent and siblings alone", function()
    local parent, sibling, child = run(function()
      local tok = corun.CancellationToken()
      local a, b = tok:child(), tok:child()
      a:cancel()
      return tok:is_cancelled(), b:is_cancelled(), a:is_cancelled()
    end)
    assert.is_false(parent)
    assert.is_false(sibling)
    assert.is_true(child)
  end)

  it("reaches the end of a chain of 100 000 child tokens", function()
    local last = run(function()
      local tok = corun.CancellationToken()
      local c = tok
      for _ = 1, 100000 do c = c:child() end
      tok:cancel()
      return c:is_cancelled()
    end)
    assert.is_true(last)
  end)

  it("still reaches the children left after others were collected",
     function()
    local kept = run(function()
      local tok = corun.CancellationToken()
      local kept = {}
      for i = 1, 1000 do
        local c = tok:child()
        if i % 100 == 0 then kept[#kept + 1] = c end
      end
      collectgarbage()
      collectgarbage()
      tok:cancel()
      local n = 0
      for _, c in ipairs(kept) do
        if c:is_cancelled() then n = n + 1 end
      end
      return n
    end)
    assert.equal(10, kept)
  end)

  it("can be called by a task the token was passed to", function()
    local ok, cancelled = run(function()
      local tok = corun.CancellationToken()
      local ok = corun.spawn(function(tok) tok:cancel() end, tok):await()
      return ok, tok:is_cancelled()
    end)
    assert.is_true(ok)
    assert.is_true(cancelled)
  end)
end)

describe("CancellationToken:cancelled", function()
  it("returns at once, with nothing, on a cancelled token", function()
    local n, elapsed = paused(function()
      local tok = corun.CancellationToken()
      tok:cancel()
      local t0 = corun.now()
      local n = select("#", tok:cancelled())
      return n, corun.now() - t0
    end)
    assert.equal(0, n)
    near(0, elapsed)
  end)

  it("waits until the token is cancelled", function()
    local waited = paused(function()
      local tok = corun.CancellationToken()
      corun.spawn(function()
        corun.sleep(0.3)
        tok:cancel()
      end)
      local t0 = corun.now()
      tok:cancelled()
      return corun.now() - t0
    end)
    near(0.3, waited)
  end)

  it("waits until the parent token is cancelled", function()
    local waited = paused(function()
      local tok = corun.CancellationToken()
      local child = tok:child()
      corun.spawn(function()
        corun.sleep(0.2)
        tok:cancel()
      end)
      local t0 = corun.now()
      child:cancelled()
      return corun.now() - t0
    end)
    near(0.2, waited)
  end)

  it("raises outside a task", function()
    local tok = corun.CancellationToken()
    local ok, err = pcall(tok.cancelled, tok)
    assert.is_false(ok)
    assert.equal("CancellationToken:cancelled: must be called from a task "
                 .. "(inside corun.run)", err)
  end)

  it("is stopped when the waiting task is cancelled; the token still works",
     function()
    local s = shared()
    s.woken = {}
    local ok, err = run(function()
      local tok = corun.CancellationToken()
      local a = waiter(tok, "a")
      local b = waiter(tok, "b")
      a:abort()
      local ok, err = a:await()
      tok:cancel()
      b:await()
      return ok, err
    end)
    assert.is_false(ok)
    assert.is_true(err:is_cancelled())
    assert.same({ "b" }, s.woken)
  end)

  it("ends with corun.timeout when nobody cancels", function()
    local ok, err, elapsed = paused(function()
      local tok = corun.CancellationToken()
      local t0 = corun.now()
      local ok, err = corun.timeout(0.5, tok.cancelled, tok)
      return ok, tostring(err), corun.now() - t0
    end)
    assert.is_false(ok)
    assert.equal("deadline has elapsed", err)
    near(0.5, elapsed)
  end)

  it("stops the other branch of a corun.select", function()
    local s = shared()
    local i, elapsed = paused(function()
      local tok = corun.CancellationToken()
      corun.spawn(function()
        corun.sleep(1)
        tok:cancel()
      end)
      local t0 = corun.now()
      local i = corun.select(function() tok:cancelled() end, function()
        local c <close> = closer("work")
        corun.sleep(10)
      end)
      return i, corun.now() - t0
    end)
    assert.equal(1, i)
    near(1, elapsed)
    assert.same({ "work" }, s.closed)
  end)
end)

describe("CancellationToken:child", function()
  it("returns a new token, not cancelled", function()
    local name, same, cancelled = run(function()
      local tok = corun.CancellationToken()
      local child = tok:child()
      return getmetatable(child).__name, rawequal(child, tok),
             child:is_cancelled()
    end)
    assert.equal("corun.CancellationToken", name)
    assert.is_false(same)
    assert.is_false(cancelled)
  end)

  it("of a cancelled token is cancelled", function()
    local cancelled = run(function()
      local tok = corun.CancellationToken()
      tok:cancel()
      return tok:child():is_cancelled()
    end)
    assert.is_true(cancelled)
  end)

  it("keeps its parent alive: it stays usable when nobody else holds the "
     .. "parent", function()
    local cancelled = run(function()
      local child = corun.CancellationToken():child()
      collectgarbage()
      return child:is_cancelled()
    end)
    assert.is_false(cancelled)
  end)
end)

describe("CancellationToken:run", function()
  it("returns true and the results of fn", function()
    local r = table.pack(run(function()
      return corun.CancellationToken():run(function(a, b)
        return a + b, "two", nil
      end, 1, 2)
    end))
    assert.equal(4, r.n)
    assert.same({ true, 3, "two", nil }, { r[1], r[2], r[3], r[4] })
  end)

  it("runs fn at once, in the calling task, with its locals", function()
    local id_in, id_out, seen = run(function()
      local tok = corun.CancellationToken()
      local seen = {}
      local _, id_in = tok:run(function()
        seen[1] = "at once"
        return corun.task_id()
      end)
      return id_in, corun.task_id(), seen[1]
    end)
    assert.equal(id_out, id_in)
    assert.equal("at once", seen)
  end)

  it("waits for fn when it waits", function()
    local ok, v, elapsed = paused(function()
      local tok = corun.CancellationToken()
      local t0 = corun.now()
      local ok, v = tok:run(function()
        corun.sleep(0.4)
        return "slept"
      end)
      return ok, v, corun.now() - t0
    end)
    assert.is_true(ok)
    assert.equal("slept", v)
    near(0.4, elapsed)
  end)

  it("returns false, \"cancelled\" when the token is cancelled while fn waits",
     function()
    local s = shared()
    local ok, err, elapsed = paused(function()
      local tok = corun.CancellationToken()
      corun.spawn(function()
        corun.sleep(0.3)
        tok:cancel()
      end)
      local t0 = corun.now()
      local ok, err = tok:run(function()
        local c <close> = closer("fn")
        corun.sleep(10)
        SHARED.resumed = true
      end)
      return ok, err, corun.now() - t0
    end)
    assert.is_false(ok)
    assert.equal("cancelled", err)
    near(0.3, elapsed)
    assert.is_nil(s.resumed)
    assert.same({ "fn" }, s.closed)  -- its <close> handlers ran
  end)

  it("is cancelled when an ancestor of its token is", function()
    local ok, err = paused(function()
      local root = corun.CancellationToken()
      corun.spawn(function()
        corun.sleep(0.1)
        root:cancel()
      end)
      return root:child():child():run(corun.sleep, 10)
    end)
    assert.is_false(ok)
    assert.equal("cancelled", err)
  end)

  it("on a cancelled token returns false, \"cancelled\" without running fn",
     function()
    local s = shared()
    local ok, err = run(function()
      local tok = corun.CancellationToken()
      tok:cancel()
      return tok:run(function() SHARED.ran = true end)
    end)
    assert.is_false(ok)
    assert.equal("cancelled", err)
    assert.is_nil(s.ran)
  end)

  it("lets the errors of fn propagate, at once or after a wait", function()
    local ok1, e1, ok2, e2 = run(function()
      local tok = corun.CancellationToken()
      local ok1, e1 = pcall(tok.run, tok, function() error("now", 0) end)
      local ok2, e2 = pcall(tok.run, tok, function()
        corun.sleep(0.001)
        error({ code = 7 })
      end)
      return ok1, e1, ok2, e2
    end)
    assert.is_false(ok1)
    assert.equal("now", e1)
    assert.is_false(ok2)
    assert.same({ code = 7 }, e2)
  end)

  it("cancels fn at its next wait when fn cancels the token", function()
    local s = shared()
    local ok, err = run(function()
      local tok = corun.CancellationToken()
      return tok:run(function()
        tok:cancel()
        SHARED.before_wait = true
        corun.yield_now()
        SHARED.after_wait = true
      end)
    end)
    assert.is_false(ok)
    assert.equal("cancelled", err)
    assert.is_true(s.before_wait)
    assert.is_nil(s.after_wait)
  end)

  it("returns the results of fn when fn cancels the token and returns "
     .. "without waiting", function()
    local ok, v = run(function()
      local tok = corun.CancellationToken()
      return tok:run(function()
        tok:cancel()
        return "done"
      end)
    end)
    assert.is_true(ok)
    assert.equal("done", v)
  end)

  it("cancels fn waiting in cancelled() on its own token", function()
    local ok, err = run(function()
      local tok = corun.CancellationToken()
      corun.spawn(function() tok:cancel() end)
      return tok:run(function()
        tok:cancelled()
        return "woken"
      end)
    end)
    assert.is_false(ok)
    assert.equal("cancelled", err)
  end)

  it("is stopped, fn with it, when the calling task is cancelled; the token "
     .. "still works after", function()
    local s = shared()
    local ok, err, late = run(function()
      local tok = corun.CancellationToken()
      local h = corun.spawn(function()
        tok:run(function()
          local c <close> = closer("fn")
          corun.sleep(10)
        end)
        SHARED.resumed = true
      end)
      settle(2)
      h:abort()
      local ok, err = h:await()
      tok:cancel()
      local late = table.pack(tok:run(print))
      return ok, err, late
    end)
    assert.is_false(ok)
    assert.is_true(err:is_cancelled())
    assert.is_nil(s.resumed)
    assert.same({ "fn" }, s.closed)
    assert.same({ false, "cancelled", n = 2 }, late)
  end)

  it("is stopped by corun.timeout around it", function()
    local ok, err, elapsed = paused(function()
      local tok = corun.CancellationToken()
      local t0 = corun.now()
      local ok, err = corun.timeout(0.2, tok.run, tok, corun.sleep, 10)
      return ok, tostring(err), corun.now() - t0
    end)
    assert.is_false(ok)
    assert.equal("deadline has elapsed", err)
    near(0.2, elapsed)
  end)

  it("nests: the inner token's cancellation ends only the inner run",
     function()
    local inner_ok, inner_err, outer_ok = paused(function()
      local outer, inner = corun.CancellationToken(),
                           corun.CancellationToken()
      corun.spawn(function()
        corun.sleep(0.1)
        inner:cancel()
      end)
      local a, b, c = outer:run(function()
        local ok, err = inner:run(corun.sleep, 10)
        return ok, err
      end)
      return b, c, a
    end)
    assert.is_false(inner_ok)
    assert.equal("cancelled", inner_err)
    assert.is_true(outer_ok)
  end)

  it("keeps what fn acquired for the calling task", function()
    local held = run(function()
      local sem = corun.Semaphore(1)
      local tok = corun.CancellationToken()
      local ok, permit = tok:run(function() return sem:acquire() end)
      local held = sem:available_permits() == 0
      permit:release()
      return held
    end)
    assert.is_true(held)
  end)

  it("raises when fn is not a function", function()
    local ok, err = run(function()
      local tok = corun.CancellationToken()
      return pcall(tok.run, tok, 42)
    end)
    assert.is_false(ok)
    assert.equal("CancellationToken:run: bad argument #2 (function expected, "
                 .. "got number)", err)
  end)

  it("raises outside a task", function()
    local tok = corun.CancellationToken()
    local ok, err = pcall(tok.run, tok, print)
    assert.is_false(ok)
    assert.equal("CancellationToken:run: must be called from a task (inside "
                 .. "corun.run)", err)
  end)
end)

describe("CancellationToken sharing", function()
  it("is shared, not copied, with a spawned task", function()
    shared()
    local same = run(function()
      SHARED.tok = corun.CancellationToken()
      return select(2, corun.spawn(function(tok)
        return rawequal(tok, SHARED.tok)
      end, SHARED.tok):await())
    end)
    assert.is_true(same)
  end)

  it("stops the tasks it was passed to (graceful shutdown)", function()
    local results = paused(function()
      local tok = corun.CancellationToken()
      local set = corun.JoinSet()
      for i = 1, 3 do
        set:spawn(function(tok, i)
          local n = 0
          local ok, why = tok:run(function()
            while true do
              n = n + 1
              corun.sleep(0.1 * i)
            end
          end)
          return ("%d: %s after %d"):format(i, why, n)
        end, tok:child(), i)
      end
      corun.sleep(0.95)
      tok:cancel()
      local r = set:join_all()
      table.sort(r)
      return table.concat(r, ", ")
    end)
    assert.equal("1: cancelled after 10, 2: cancelled after 5, "
                 .. "3: cancelled after 4", results)
  end)
end)

describe("CancellationToken:__tostring", function()
  it("says whether it is cancelled", function()
    local before, after = run(function()
      local tok = corun.CancellationToken()
      local before = tostring(tok)
      tok:cancel()
      return before, tostring(tok)
    end)
    assert.equal("corun.CancellationToken (not cancelled)", before)
    assert.equal("corun.CancellationToken (cancelled)", after)
  end)
end)

describe("CancellationToken (many tasks)", function()
  it("one cancel ends 1 000 runs and wakes 1 000 waiters", function()
    local counts = paused(function()
      local tok = corun.CancellationToken()
      local set = corun.JoinSet()
      for i = 1, 1000 do
        set:spawn(function(i)
          if i % 2 == 0 then
            tok:cancelled()
            return "woken"
          end
          local ok, why = tok:child():run(corun.sleep, 100)
          return why
        end, i)
      end
      corun.sleep(1)
      tok:cancel()
      local counts = {}
      for _, r in ipairs(set:join_all()) do
        counts[r] = (counts[r] or 0) + 1
      end
      return counts
    end)
    assert.same({ woken = 500, cancelled = 500 }, counts)
  end)
end)
