local corun = require "corun"

-- Tasks report through the global SHARED (what they capture is copied;
-- a BroadcastSender they capture is shared).

-- Everything 'rx' can take without waiting, as a list of strings: each
-- value, "lagged k", or "empty" / "closed" at the end.
local function drain(rx)
  local got = {}
  while true do
    local v, err, k = rx:try_recv()
    if v ~= nil then
      got[#got + 1] = tostring(v)
    elseif err == "lagged" then
      got[#got + 1] = "lagged " .. k
    else
      got[#got + 1] = err
      return table.concat(got, " ")
    end
  end
end

describe("corun.broadcast", function()
  it("returns a BroadcastSender and a BroadcastReceiver", function()
    local a, b = run(function()
      local tx, rx = corun.broadcast(4)
      return getmetatable(tx).__name, getmetatable(rx).__name
    end)
    assert.equal("corun.BroadcastSender", a)
    assert.equal("corun.BroadcastReceiver", b)
  end)

  it("raises on a capacity that is not a positive integer", function()
    local e1, e2, e3 = run(function()
      return select(2, pcall(corun.broadcast)),
             select(2, pcall(corun.broadcast, 0)),
             select(2, pcall(corun.broadcast, 1.5))
    end)
    assert.equal("corun.broadcast: bad argument #1 (integer expected, got no "
                 .. "value)", e1)
    assert.equal("corun.broadcast: bad argument #1 (capacity must be at "
                 .. "least 1, got 0)", e2)
    assert.equal("corun.broadcast: bad argument #1 (integer expected, got "
                 .. "number)", e3)
  end)

  it("raises outside a task", function()
    local ok, err = pcall(corun.broadcast, 1)
    assert.is_false(ok)
    assert.equal("corun.broadcast: must be called from a task (inside "
                 .. "corun.run)", err)
  end)
end)

describe("BroadcastSender:send", function()
  it("returns the number of receivers", function()
    local a, b = run(function()
      local tx, rx = corun.broadcast(4)
      local a = tx:send(1)
      local rx2, rx3 = tx:subscribe(), tx:subscribe()
      return a, tx:send(2)
    end)
    assert.equal(1, a)
    assert.equal(3, b)
  end)

  it("gives every receiver every value, in order", function()
    local a, b = run(function()
      local tx, rx = corun.broadcast(8)
      local rx2 = tx:subscribe()
      for i = 1, 5 do tx:send(i) end
      return drain(rx), drain(rx2)
    end)
    assert.equal("1 2 3 4 5 empty", a)
    assert.equal("1 2 3 4 5 empty", b)
  end)

  it("gives a receiver only the values sent after it subscribed", function()
    local got = run(function()
      local tx, rx = corun.broadcast(8)
      tx:send("before")
      local late = tx:subscribe()
      tx:send("after")
      return drain(late)
    end)
    assert.equal("after empty", got)
  end)

  it("reaches receivers in other tasks", function()
    local r = run(function()
      local tx, rx = corun.broadcast(4)
      local hs = {}
      for i = 1, 3 do
        hs[i] = corun.spawn(function(rx)
          local a, b = rx:recv(), rx:recv()
          return a .. b
        end, tx:subscribe())
      end
      rx:close()
      tx:send("x")
      tx:send("y")
      local r = {}
      for i = 1, 3 do r[i] = select(2, hs[i]:await()) end
      return table.concat(r, ",")
    end)
    assert.equal("xy,xy,xy", r)
  end)

  it("copies the value: each receiver gets its own copy, the sender keeps "
     .. "its table", function()
    local same_as_sent, same_between, n = run(function()
      local tx, rx = corun.broadcast(4)
      local rx2 = tx:subscribe()
      local t = { n = 1 }
      tx:send(t)
      t.n = 2
      local a, b = rx:recv(), rx2:recv()
      return rawequal(a, t), rawequal(a, b), a.n
    end)
    assert.is_false(same_as_sent)
    assert.is_false(same_between)
    assert.equal(1, n)
  end)

  it("passes shared objects by identity", function()
    local same = run(function()
      local tx, rx = corun.broadcast(4)
      local sem = corun.Semaphore(1)
      tx:send({ sem = sem })
      return rawequal(rx:recv().sem, sem)
    end)
    assert.is_true(same)
  end)

  it("refuses what moves: it would go to every receiver", function()
    local ok, err, free = run(function()
      local tx, rx = corun.broadcast(4)
      local sem = corun.Semaphore(1)
      local p = sem:acquire()
      local ok, err = pcall(tx.send, tx, { p = p })
      p:release()  -- still the sender's
      return ok, err, sem:available_permits()
    end)
    assert.is_false(ok)
    assert.equal("BroadcastSender:send: cannot move a corun.Permit into a "
                 .. "broadcast channel (argument 2, field 'p')", err)
    assert.equal(1, free)
  end)

  it("refuses a value that cannot cross", function()
    local ok, err = run(function()
      local tx, rx = corun.broadcast(4)
      return pcall(tx.send, tx, coroutine.create(print))
    end)
    assert.is_false(ok)
    assert.equal("BroadcastSender:send: cannot move a coroutine into a "
                 .. "broadcast channel (argument 2)", err)
  end)

  it("raises on nil", function()
    local ok, err = run(function()
      local tx = corun.broadcast(4)
      return pcall(tx.send, tx)
    end)
    assert.is_false(ok)
    assert.equal("BroadcastSender:send: cannot send nil", err)
  end)

  it("returns false, \"closed\" when there is no receiver, and keeps nothing "
     .. "for a later one", function()
    local r = run(function()
      local tx, rx = corun.broadcast(4)
      rx:close()
      local a = table.pack(tx:send("lost"))
      local late = tx:subscribe()
      tx:send("kept")
      return { a, drain(late) }
    end)
    assert.same({ { false, "closed", n = 2 }, "kept empty" }, r)
  end)

  it("counts receivers that are gone no more: ended, <close>, collected",
     function()
    local counts = run(function()
      local tx, rx = corun.broadcast(4)
      local counts = {}
      corun.spawn(function(rx) end, tx:subscribe()):await()
      counts[1] = tx:send(1)
      do local r <close> = tx:subscribe() end
      counts[2] = tx:send(2)
      tx:subscribe()
      collectgarbage()
      collectgarbage()
      counts[3] = tx:send(3)
      return table.concat(counts, ",")
    end)
    assert.equal("1,1,1", counts)
  end)

  it("never waits, even when the receivers fall behind", function()
    local elapsed, got = paused(function()
      local tx, rx = corun.broadcast(2)
      local t0 = corun.now()
      for i = 1, 100 do tx:send(i) end
      return corun.now() - t0, drain(rx)
    end)
    near(0, elapsed)
    assert.equal("lagged 98 99 100 empty", got)
  end)

  it("can be called outside every task", function()
    local tx, rx = corun.run(function()
      local _, tx, rx = corun.spawn(corun.broadcast, 4):await()
      return tx, rx
    end)
    assert.equal(1, tx:send("outside"))
    assert.equal("outside", rx:try_recv())
  end)
end)

describe("BroadcastSender:subscribe", function()
  it("returns a receiver owned by the calling task", function()
    local name, err = run(function()
      local tx = corun.broadcast(4)
      local rx = tx:subscribe()
      local h = corun.spawn(function(rx) end, rx)
      h:await()
      return getmetatable(rx).__name,
             select(2, pcall(rx.try_recv, rx))
    end)
    assert.equal("corun.BroadcastReceiver", name)
    assert.matches("^corun: broadcast receiver was moved to task %d+$", err)
  end)

  it("works in a task the sender was passed to", function()
    local got = run(function()
      local tx, rx = corun.broadcast(4)
      local h = corun.spawn(function(tx)
        local mine = tx:subscribe()
        return mine:recv()
      end, tx)
      settle(2)
      tx:send("hello")
      return select(2, h:await())
    end)
    assert.equal("hello", got)
  end)

  it("raises outside a task", function()
    local tx = corun.run(function()
      return select(2, corun.spawn(corun.broadcast, 1):await())
    end)
    local ok, err = pcall(tx.subscribe, tx)
    assert.is_false(ok)
    assert.equal("BroadcastSender:subscribe: must be called from a task "
                 .. "(inside corun.run)", err)
  end)
end)

describe("BroadcastSender:receiver_count", function()
  it("counts the receivers alive", function()
    local a, b, c = run(function()
      local tx, rx = corun.broadcast(4)
      local a = tx:receiver_count()
      local rx2 = tx:subscribe()
      local b = tx:receiver_count()
      rx:close()
      return a, b, tx:receiver_count()
    end)
    assert.equal(1, a)
    assert.equal(2, b)
    assert.equal(1, c)
  end)
end)

describe("BroadcastSender references", function()
  it("tx:close() releases the calling task's reference: the receivers take "
     .. "what is left, then get nil, \"closed\"", function()
    local got = run(function()
      local tx, rx = corun.broadcast(4)
      tx:send(1)
      tx:send(2)
      tx:close()
      return drain(rx)
    end)
    assert.equal("1 2 closed", got)
  end)

  it("the rest of the task may still send after tx:close()", function()
    local n = run(function()
      local tx, rx = corun.broadcast(4)
      tx:close()
      return tx:send("still")
    end)
    assert.equal(1, n)
  end)

  it("each task that holds the sender holds a reference, released at its end",
     function()
    local got = paused(function()
      local tx, rx = corun.broadcast(8)
      for i = 1, 3 do
        corun.spawn(function(tx, i)
          corun.sleep(0.1 * i)
          tx:send(i)
        end, tx, i)
      end
      tx:close()  -- the main task's
      local got = {}
      while true do
        local v, err = rx:recv()
        if v == nil then got[#got + 1] = err break end
        got[#got + 1] = v
      end
      return table.concat(got, " ")
    end)
    assert.equal("1 2 3 closed", got)
  end)

  it("a waiting recv returns nil, \"closed\" when the last reference goes",
     function()
    local r, elapsed = paused(function()
      local tx, rx = corun.broadcast(4)
      corun.spawn(function(tx) corun.sleep(0.2) end, tx)
      tx:close()
      local t0 = corun.now()
      local r = table.pack(rx:recv())
      return r, corun.now() - t0
    end)
    assert.same({ nil, "closed", n = 2 }, r)
    near(0.2, elapsed)
  end)

  it("the sender collected closes the channel", function()
    local r = run(function()
      local rx = select(2, corun.broadcast(4))
      collectgarbage()
      collectgarbage()
      return table.pack(rx:recv())
    end)
    assert.same({ nil, "closed", n = 2 }, r)
  end)

  it("is shared, not copied, with a spawned task", function()
    shared()
    local same = run(function()
      SHARED.tx = corun.broadcast(1)
      return select(2, corun.spawn(function(tx)
        return rawequal(tx, SHARED.tx)
      end, SHARED.tx):await())
    end)
    assert.is_true(same)
  end)

  it("tx:close() raises outside a task", function()
    local tx = corun.run(function()
      return select(2, corun.spawn(corun.broadcast, 1):await())
    end)
    local ok, err = pcall(tx.close, tx)
    assert.is_false(ok)
    assert.equal("BroadcastSender:close: must be called from a task (inside "
                 .. "corun.run)", err)
  end)
end)

describe("BroadcastReceiver:recv", function()
  it("waits for the next value", function()
    local v, waited = paused(function()
      local tx, rx = corun.broadcast(4)
      corun.spawn(function(tx)
        corun.sleep(0.3)
        tx:send("late")
      end, tx)
      local t0 = corun.now()
      local v = rx:recv()
      return v, corun.now() - t0
    end)
    assert.equal("late", v)
    near(0.3, waited)
  end)

  it("returns nil, \"lagged\", k once after falling behind by more than the "
     .. "capacity, then the oldest value kept", function()
    local r = run(function()
      local tx, rx = corun.broadcast(3)
      for i = 1, 10 do tx:send(i) end
      local r = { table.pack(rx:recv()) }
      for i = 2, 4 do r[i] = rx:recv() end
      tx:send(11)
      r[5] = rx:recv()
      return r
    end)
    assert.same({ { nil, "lagged", 7, n = 3 }, 8, 9, 10, 11 }, r)
  end)

  it("does not lag at exactly the capacity", function()
    local got = run(function()
      local tx, rx = corun.broadcast(3)
      for i = 1, 3 do tx:send(i) end
      return drain(rx)
    end)
    assert.equal("1 2 3 empty", got)
  end)

  it("lags on its own: other receivers keep their values", function()
    local slow, fast = run(function()
      local tx, slow = corun.broadcast(2)
      local fast = tx:subscribe()
      local got = {}
      for i = 1, 5 do
        tx:send(i)
        got[#got + 1] = fast:recv()
      end
      return drain(slow), table.concat(got, " ")
    end)
    assert.equal("lagged 3 4 5 empty", slow)
    assert.equal("1 2 3 4 5", fast)
  end)

  it("reports the lag before the end when the senders are gone", function()
    local got = run(function()
      local tx, rx = corun.broadcast(2)
      for i = 1, 4 do tx:send(i) end
      tx:close()
      return drain(rx)
    end)
    assert.equal("lagged 2 3 4 closed", got)
  end)

  it("returns nil, \"closed\" after rx:close()", function()
    local r = run(function()
      local tx, rx = corun.broadcast(2)
      tx:send(1)
      rx:close()
      return table.pack(rx:recv())
    end)
    assert.same({ nil, "closed", n = 2 }, r)
  end)

  it("raises outside a task", function()
    local rx = corun.run(function()
      local _, _, rx = corun.spawn(corun.broadcast, 1):await()
      return rx
    end)
    local ok, err = pcall(rx.recv, rx)
    assert.is_false(ok)
    assert.equal("BroadcastReceiver:recv: must be called from a task (inside "
                 .. "corun.run)", err)
  end)

  it("is stopped when the waiting task is cancelled", function()
    local s = shared()
    local ok, err = run(function()
      local tx, rx = corun.broadcast(2)
      local h = corun.spawn(function(rx)
        rx:recv()
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

  it("takes nothing when woken and cancelled before it runs", function()
    local i, got = run(function()
      local tx, rx = corun.broadcast(4)
      local i = corun.select(function() return rx:recv() end, function()
        corun.yield_now()
        tx:send("kept")  -- wakes the first branch, which is then cancelled
        return "sent"
      end)
      return i, drain(rx)
    end)
    assert.equal(2, i)
    assert.equal("kept empty", got)
  end)

  it("ends with corun.timeout when nothing comes", function()
    local ok, err, elapsed = paused(function()
      local tx, rx = corun.broadcast(2)
      local t0 = corun.now()
      local ok, err = corun.timeout(0.2, rx.recv, rx)
      return ok, tostring(err), corun.now() - t0
    end)
    assert.is_false(ok)
    assert.equal("deadline has elapsed", err)
    near(0.2, elapsed)
  end)

  it("serves several branches of one task waiting on several receivers",
     function()
    local a, b = run(function()
      local tx, rx = corun.broadcast(2)
      local rx2 = tx:subscribe()
      return corun.join(function() return rx:recv() end,
                        function() return rx2:recv() end,
                        function() corun.yield_now() tx:send("both") end)
    end)
    assert.equal("both", a)
    assert.equal("both", b)
  end)
end)

describe("BroadcastReceiver:try_recv", function()
  it("returns a value, or nil and \"empty\", \"lagged\" with k, \"closed\"",
     function()
    local r = run(function()
      local tx, rx = corun.broadcast(1)
      local r = { table.pack(rx:try_recv()) }
      tx:send(1)
      r[2] = table.pack(rx:try_recv())
      tx:send(2)
      tx:send(3)
      r[3] = table.pack(rx:try_recv())
      r[4] = table.pack(rx:try_recv())
      tx:close()
      r[5] = table.pack(rx:try_recv())
      return r
    end)
    assert.same({ { nil, "empty", n = 2 }, { 1, n = 1 },
                  { nil, "lagged", 1, n = 3 }, { 3, n = 1 },
                  { nil, "closed", n = 2 } }, r)
  end)
end)

describe("BroadcastReceiver:resubscribe", function()
  it("returns a new receiver for the values sent from now on", function()
    local a, b = run(function()
      local tx, rx = corun.broadcast(4)
      tx:send(1)
      local rx2 = rx:resubscribe()
      tx:send(2)
      return drain(rx), drain(rx2)
    end)
    assert.equal("1 2 empty", a)
    assert.equal("2 empty", b)
  end)
end)

describe("BroadcastReceiver ownership", function()
  it("is released when its task ends, raises or is cancelled", function()
    local counts = run(function()
      local tx, rx = corun.broadcast(4)
      rx:close()
      local counts = {}
      corun.spawn(function(rx) end, tx:subscribe()):await()
      counts[1] = tx:receiver_count()
      corun.spawn(function(rx) error("x") end, tx:subscribe()):await()
      counts[2] = tx:receiver_count()
      local h = corun.spawn(function(rx) rx:recv() end, tx:subscribe())
      settle(2)
      counts[3] = tx:receiver_count()
      h:abort()
      h:await()
      counts[4] = tx:receiver_count()
      return table.concat(counts, ",")
    end)
    assert.equal("0,0,1,0", counts)
  end)

  it("moved into a task, cannot be used by the spawner, nor closed by its "
     .. "<close>", function()
    local ok, err, got, id = run(function()
      local tx, rx = corun.broadcast(4)
      local h
      do
        local r <close> = rx
        h = corun.spawn(function(rx) return rx:recv() end, rx)
      end
      local ok, err = pcall(rx.try_recv, rx)
      tx:send("to the task")
      local _, got = h:await()
      return ok, err, got, h:id()
    end)
    assert.is_false(ok)
    assert.equal("corun: broadcast receiver was moved to task " .. id, err)
    assert.equal("to the task", got)
  end)

  it("reached through a global, belongs to its task", function()
    local err = run(function()
      local tx, rx = corun.broadcast(4)
      BC_RX = rx
      local _, e = corun.spawn(function()
        return select(2, pcall(BC_RX.try_recv, BC_RX))
      end):await()
      BC_RX = nil
      return e
    end)
    assert.truthy(err:find("^corun: broadcast receiver belongs to task %d+$"),
                  err)
  end)
end)

describe("broadcast __tostring", function()
  it("says how many receivers, and what each has queued", function()
    local t = run(function()
      local tx, rx = corun.broadcast(2)
      local t = { tostring(tx), tostring(rx) }
      tx:send(1)
      t[3] = tostring(rx)
      tx:send(2)
      tx:send(3)
      t[4] = tostring(rx)
      local rx2 = tx:subscribe()
      t[5] = tostring(tx)
      rx:close()
      t[6] = tostring(rx)
      return table.concat(t, "|")
    end)
    assert.equal("corun.BroadcastSender (1 receiver)|"
                 .. "corun.BroadcastReceiver (0 queued)|"
                 .. "corun.BroadcastReceiver (1 queued)|"
                 .. "corun.BroadcastReceiver (2 queued, lagged)|"
                 .. "corun.BroadcastSender (2 receivers)|"
                 .. "corun.BroadcastReceiver (closed)", t)
  end)
end)

describe("broadcast (stress)", function()
  it("100 receivers and 100 000 values: each gets every value in order, or "
     .. "a lag it accounts for", function()
    local results = paused(function()
      local N, R = 100000, 100
      local tx, rx = corun.broadcast(256)
      local set = corun.JoinSet()
      for r = 1, R do
        set:spawn(function(rx, r)
          local last, got, missed, lags = 0, 0, 0, 0
          while true do
            local v, err, k = rx:recv()
            if v ~= nil then
              if v ~= last + 1 then
                error(("receiver %d: %d after %d"):format(r, v, last))
              end
              last, got = v, got + 1
            elseif err == "lagged" then
              last, missed, lags = last + k, missed + k, lags + 1
            else
              break
            end
            -- every tenth receiver is slow now and then: it lags
            if r % 10 == 0 and v and v % 5000 == 0 then corun.sleep(0.001) end
          end
          return { got = got, missed = missed, lags = lags, last = last }
        end, tx:subscribe(), r)
      end
      rx:close()
      for i = 1, N do
        tx:send(i)
        if i % 64 == 0 then corun.yield_now() end
      end
      tx:close()
      return set:join_all()
    end)
    local lagging = 0
    assert.equal(100, #results)
    for _, r in ipairs(results) do
      assert.equal(100000, r.got + r.missed)
      assert.equal(100000, r.last)
      if r.lags > 0 then lagging = lagging + 1 end
    end
    assert.equal(10, lagging)  -- exactly the slow ones
  end)
end)
