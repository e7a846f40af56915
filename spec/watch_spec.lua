local corun = require "corun"

-- Tasks report through the global SHARED (what they capture is copied).

describe("corun.watch", function()
  it("returns a WatchSender and a WatchReceiver", function()
    local a, b = run(function()
      local tx, rx = corun.watch(0)
      return getmetatable(tx).__name, getmetatable(rx).__name
    end)
    assert.equal("corun.WatchSender", a)
    assert.equal("corun.WatchReceiver", b)
  end)

  it("holds the value it is given (nil when none), as seen", function()
    local v, changed, none = run(function()
      local tx, rx = corun.watch("first")
      local _, rx2 = corun.watch()
      return rx:get(), rx:has_changed(), rx2:get()
    end)
    assert.equal("first", v)
    assert.is_false(changed)
    assert.is_nil(none)
  end)

  it("keeps a copy of the value it is given", function()
    local n, same = run(function()
      local t = { n = 1 }
      local tx, rx = corun.watch(t)
      t.n = 2
      local got = rx:get()
      return got.n, rawequal(got, t)
    end)
    assert.equal(1, n)
    assert.is_false(same)
  end)

  it("refuses a value that moves", function()
    local ok, err = run(function()
      local p = corun.Semaphore(1):acquire()
      return pcall(corun.watch, { p })
    end)
    assert.is_false(ok)
    assert.equal("corun.watch: cannot move a corun.Permit into a watch "
                 .. "channel (argument 1, field '[1]')", err)
  end)

  it("raises outside a task", function()
    local ok, err = pcall(corun.watch, 1)
    assert.is_false(ok)
    assert.equal("corun.watch: must be called from a task (inside corun.run)",
                 err)
  end)
end)

describe("WatchSender:send", function()
  it("replaces the value: get returns the latest", function()
    local v = run(function()
      local tx, rx = corun.watch(1)
      tx:send(2)
      tx:send(3)
      return rx:get()
    end)
    assert.equal(3, v)
  end)

  it("returns true while a receiver is alive", function()
    local ok = run(function()
      local tx, rx = corun.watch(1)
      return tx:send(2)
    end)
    assert.is_true(ok)
  end)

  it("sends nil too", function()
    local changed, v = run(function()
      local tx, rx = corun.watch(1)
      tx:send(nil)
      return rx:has_changed(), rx:get()
    end)
    assert.is_true(changed)
    assert.is_nil(v)
  end)

  it("copies the value: later changes by the sender are not seen",
     function()
    local n = run(function()
      local tx, rx = corun.watch(0)
      local t = { n = 1 }
      tx:send(t)
      t.n = 2
      return rx:get().n
    end)
    assert.equal(1, n)
  end)

  it("refuses what moves, and a value that cannot cross", function()
    local e1, e2, v = run(function()
      local tx, rx = corun.watch(0)
      local p = corun.Semaphore(1):acquire()
      local e1 = select(2, pcall(tx.send, tx, { p = p }))
      local e2 = select(2, pcall(tx.send, tx, coroutine.create(print)))
      return e1, e2, rx:get()
    end)
    assert.equal("WatchSender:send: cannot move a corun.Permit into a watch "
                 .. "channel (argument 2, field 'p')", e1)
    assert.equal("WatchSender:send: cannot move a coroutine into a watch "
                 .. "channel (argument 2)", e2)
    assert.equal(0, v)
  end)

  it("returns false, \"closed\" when every receiver is gone, and keeps the "
     .. "old value", function()
    local r, v = run(function()
      local tx, rx = corun.watch("old")
      rx:close()
      local r = table.pack(tx:send("new"))
      local rx2 = tx:subscribe()
      return r, rx2:get()
    end)
    assert.same({ false, "closed", n = 2 }, r)
    assert.equal("old", v)
  end)

  it("raises once the sender is closed", function()
    local ok, err = run(function()
      local tx, rx = corun.watch(0)
      tx:close()
      return pcall(tx.send, tx, 1)
    end)
    assert.is_false(ok)
    assert.equal("WatchSender:send: the sender is closed", err)
  end)

  it("never waits", function()
    local elapsed = paused(function()
      local tx, rx = corun.watch(0)
      local t0 = corun.now()
      for i = 1, 100 do tx:send(i) end
      return corun.now() - t0
    end)
    near(0, elapsed)
  end)
end)

describe("WatchReceiver:changed", function()
  it("waits for a newer value, returns true and marks it seen", function()
    local r, waited = paused(function()
      local tx, rx = corun.watch(0)
      local h = corun.spawn(function(tx)
        corun.sleep(0.25)
        tx:send(1)
        corun.sleep(10)
      end, tx)
      local t0 = corun.now()
      local ok = rx:changed()
      local waited = corun.now() - t0
      local r = { ok, rx:get(), rx:has_changed() }
      h:abort()
      return r, waited
    end)
    assert.same({ true, 1, false }, r)
    near(0.25, waited)
  end)

  it("returns at once when a newer value was sent since it was seen",
     function()
    local ok, elapsed = paused(function()
      local tx, rx = corun.watch(0)
      tx:send(1)
      local t0 = corun.now()
      local ok = rx:changed()
      return ok, corun.now() - t0
    end)
    assert.is_true(ok)
    near(0, elapsed)
  end)

  it("reports several sends as one change: only the latest value counts",
     function()
    local s = shared()
    s.seen = {}
    run(function()
      local tx, rx = corun.watch(0)
      local h = corun.spawn(function(rx)
        while rx:changed() do SHARED.seen[#SHARED.seen + 1] = rx:get() end
      end, rx)
      settle(2)
      tx:send(1)
      settle()
      tx:send(2)
      tx:send(3)
      settle()
      tx:close()
      h:await()
    end)
    assert.same({ 1, 3 }, s.seen)
  end)

  it("returns nil, \"closed\" when the sender is gone and nothing newer "
     .. "is left to see", function()
    local r = run(function()
      local tx, rx = corun.watch(0)
      tx:send(1)
      tx:close()
      local a = table.pack(rx:changed())  -- the last value is still news
      local b = table.pack(rx:changed())
      return { a, b, rx:get() }
    end)
    assert.same({ { true, n = 1 }, { nil, "closed", n = 2 }, 1 }, r)
  end)

  it("returns nil, \"closed\" to a waiter when the sender's task ends",
     function()
    local r, elapsed = paused(function()
      local tx, rx = corun.watch(0)
      corun.spawn(function(tx) corun.sleep(0.3) end, tx)
      local t0 = corun.now()
      return table.pack(rx:changed()), corun.now() - t0
    end)
    assert.same({ nil, "closed", n = 2 }, r)
    near(0.3, elapsed)
  end)

  it("returns nil, \"closed\" when the sender is collected or closed by "
     .. "<close>", function()
    local a, b = run(function()
      local rx = select(2, corun.watch(0))
      collectgarbage()
      collectgarbage()
      local tx2, rx2 = corun.watch(0)
      do local t <close> = tx2 end
      return table.pack(rx:changed()), table.pack(rx2:changed())
    end)
    assert.same({ nil, "closed", n = 2 }, a)
    assert.same({ nil, "closed", n = 2 }, b)
  end)

  it("returns nil, \"closed\" on a closed receiver", function()
    local r = run(function()
      local tx, rx = corun.watch(0)
      tx:send(1)
      rx:close()
      return table.pack(rx:changed())
    end)
    assert.same({ nil, "closed", n = 2 }, r)
  end)

  it("wakes every receiver, each in its own task", function()
    local r = run(function()
      local tx, rx = corun.watch("a")
      local set = corun.JoinSet()
      for i = 1, 3 do
        set:spawn(function(rx)
          rx:changed()
          return rx:get()
        end, tx:subscribe())
      end
      settle(2)
      tx:send("b")
      return table.concat(set:join_all(), "")
    end)
    assert.equal("bbb", r)
  end)

  it("raises outside a task", function()
    local rx = corun.run(function()
      local _, _, rx = corun.spawn(corun.watch, 0):await()
      return rx
    end)
    local ok, err = pcall(rx.changed, rx)
    assert.is_false(ok)
    assert.equal("WatchReceiver:changed: must be called from a task (inside "
                 .. "corun.run)", err)
  end)

  it("is stopped when the waiting task is cancelled", function()
    local s = shared()
    local ok, err = run(function()
      local tx, rx = corun.watch(0)
      local h = corun.spawn(function(rx)
        rx:changed()
        SHARED.resumed = true
      end, rx)
      settle(2)
      h:abort()
      return h:await()
    end)
    assert.is_false(ok)
    assert.is_true(err:is_cancelled())
    assert.is_nil(s.resumed)
  end)

  it("has seen nothing new when woken and cancelled before it runs",
     function()
    local i, changed = run(function()
      local tx, rx = corun.watch(0)
      local i = corun.select(function() return rx:changed() end, function()
        corun.yield_now()
        tx:send(1)  -- wakes the first branch, which is then cancelled
        return "sent"
      end)
      return i, rx:has_changed()
    end)
    assert.equal(2, i)
    assert.is_true(changed)
  end)

  it("ends with corun.timeout when nothing changes", function()
    local ok, err, elapsed = paused(function()
      local tx, rx = corun.watch(0)
      local t0 = corun.now()
      local ok, err = corun.timeout(0.2, rx.changed, rx)
      return ok, tostring(err), corun.now() - t0
    end)
    assert.is_false(ok)
    assert.equal("deadline has elapsed", err)
    near(0.2, elapsed)
  end)
end)

describe("WatchReceiver:get", function()
  it("marks the latest value seen", function()
    local before, after = run(function()
      local tx, rx = corun.watch(0)
      tx:send(1)
      local before = rx:has_changed()
      rx:get()
      return before, rx:has_changed()
    end)
    assert.is_true(before)
    assert.is_false(after)
  end)

  it("returns a copy each time: the receiver shares nothing", function()
    local same, n = run(function()
      local tx, rx = corun.watch({ n = 1 })
      local a, b = rx:get(), rx:get()
      a.n = 5
      return rawequal(a, b), rx:get().n
    end)
    assert.is_false(same)
    assert.equal(1, n)
  end)

  it("passes shared objects by identity", function()
    local same = run(function()
      local sem = corun.Semaphore(1)
      local tx, rx = corun.watch({ sem = sem })
      return rawequal(rx:get().sem, sem)
    end)
    assert.is_true(same)
  end)

  it("still returns the last value once the sender is gone", function()
    local v = run(function()
      local tx, rx = corun.watch(0)
      tx:send("last")
      tx:close()
      return rx:get()
    end)
    assert.equal("last", v)
  end)
end)

describe("WatchReceiver:has_changed", function()
  it("says whether a newer value waits, or nil, \"closed\"", function()
    local r = run(function()
      local tx, rx = corun.watch(0)
      local r = { table.pack(rx:has_changed()) }
      tx:send(1)
      r[2] = table.pack(rx:has_changed())
      tx:close()
      r[3] = table.pack(rx:has_changed())
      return r
    end)
    assert.same({ { false, n = 1 }, { true, n = 1 },
                  { nil, "closed", n = 2 } }, r)
  end)
end)

describe("WatchReceiver:clone and WatchSender:subscribe", function()
  it("clone has seen what the original has seen", function()
    local a, b = run(function()
      local tx, rx = corun.watch(0)
      tx:send(1)
      local c1 = rx:clone()  -- 1 not seen yet
      rx:get()
      local c2 = rx:clone()  -- 1 seen
      return c1:has_changed(), c2:has_changed()
    end)
    assert.is_true(a)
    assert.is_false(b)
  end)

  it("subscribe has seen the latest value", function()
    local changed, v = run(function()
      local tx, rx = corun.watch(0)
      tx:send(1)
      local sub = tx:subscribe()
      return sub:has_changed(), sub:get()
    end)
    assert.is_false(changed)
    assert.equal(1, v)
  end)

  it("count in receiver_count, and keep the channel open", function()
    local a, b, ok = run(function()
      local tx, rx = corun.watch(0)
      local c = rx:clone()
      local a = tx:receiver_count()
      rx:close()
      local b = tx:receiver_count()
      return a, b, tx:send(1)
    end)
    assert.equal(2, a)
    assert.equal(1, b)
    assert.is_true(ok)
  end)
end)

describe("WatchSender:is_closed", function()
  it("says whether every receiver is gone", function()
    local a, b = run(function()
      local tx, rx = corun.watch(0)
      local a = tx:is_closed()
      corun.spawn(function(rx) end, rx):await()
      return a, tx:is_closed()
    end)
    assert.is_false(a)
    assert.is_true(b)
  end)
end)

describe("watch ownership", function()
  it("moves the sender into a task: the spawner can no longer send",
     function()
    local ok, err, got, id = run(function()
      local tx, rx = corun.watch(0)
      local h = corun.spawn(function(tx) tx:send("from task") end, tx)
      local ok, err = pcall(tx.send, tx, "from spawner")
      h:await()
      rx:changed()
      return ok, err, rx:get(), h:id()
    end)
    assert.is_false(ok)
    assert.equal("corun: watch sender was moved to task " .. id, err)
    assert.equal("from task", got)
  end)

  it("moves a receiver into a task, whose end drops it", function()
    local ok, err, count = run(function()
      local tx, rx = corun.watch(0)
      local h = corun.spawn(function(rx) return rx:get() end, rx)
      local ok, err = pcall(rx.get, rx)
      h:await()
      return ok, err, tx:receiver_count()
    end)
    assert.is_false(ok)
    assert.matches("^corun: watch receiver was moved to task %d+$", err)
    assert.equal(0, count)
  end)

  it("an end reached through a global belongs to its task", function()
    local err = run(function()
      local tx, rx = corun.watch(0)
      WATCH_TX = tx
      local _, e = corun.spawn(function()
        return select(2, pcall(WATCH_TX.send, WATCH_TX, 1))
      end):await()
      WATCH_TX = nil
      return e
    end)
    assert.truthy(err:find("^corun: watch sender belongs to task %d+$"), err)
  end)
end)

describe("watch __tostring", function()
  it("says what the ends know", function()
    local t = run(function()
      local tx, rx = corun.watch(0)
      local t = { tostring(tx), tostring(rx) }
      tx:send(1)
      t[3] = tostring(rx)
      rx:get()
      tx:close()
      t[4], t[5] = tostring(tx), tostring(rx)
      rx:close()
      t[6] = tostring(rx)
      return table.concat(t, "|")
    end)
    assert.equal("corun.WatchSender (1 receiver)|corun.WatchReceiver (seen)|"
                 .. "corun.WatchReceiver (changed)|corun.WatchSender "
                 .. "(closed)|corun.WatchReceiver (sender closed)|"
                 .. "corun.WatchReceiver (closed)", t)
  end)
end)

describe("watch (many)", function()
  it("100 receivers follow 1 000 sends and all end on the last value",
     function()
    local finals = paused(function()
      local tx, rx = corun.watch(0)
      local set = corun.JoinSet()
      for i = 1, 100 do
        set:spawn(function(rx, i)
          local last = rx:get()
          while rx:changed() do
            local v = rx:get()
            assert(v > last, "values go forward")
            last = v
            if i % 3 == 0 then corun.sleep(0.001) end
          end
          return last
        end, tx:subscribe(), i)
      end
      rx:close()
      for v = 1, 1000 do
        tx:send(v)
        if v % 7 == 0 then corun.sleep(0.0005) end
      end
      tx:close()
      local finals = {}
      for _, v in ipairs(set:join_all()) do finals[v] = true end
      return finals
    end)
    assert.same({ [1000] = true }, finals)
  end)
end)
