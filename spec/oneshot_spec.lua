local corun = require "corun"

-- Tasks report through the global SHARED (what they capture is copied).

describe("corun.oneshot", function()
  it("returns a OneshotSender and a OneshotReceiver", function()
    local a, b = run(function()
      local tx, rx = corun.oneshot()
      return getmetatable(tx).__name, getmetatable(rx).__name
    end)
    assert.equal("corun.OneshotSender", a)
    assert.equal("corun.OneshotReceiver", b)
  end)

  it("raises outside a task", function()
    local ok, err = pcall(corun.oneshot)
    assert.is_false(ok)
    assert.equal("corun.oneshot: must be called from a task (inside "
                 .. "corun.run)", err)
  end)
end)

describe("OneshotSender:send", function()
  it("returns true and hands the value to recv", function()
    local ok, v = run(function()
      local tx, rx = corun.oneshot()
      local ok = tx:send("hello")
      return ok, rx:recv()
    end)
    assert.is_true(ok)
    assert.equal("hello", v)
  end)

  it("sends a copy: the receiver shares nothing with the sender", function()
    local same, n = run(function()
      local tx, rx = corun.oneshot()
      local t = { n = 1 }
      tx:send(t)
      t.n = 2
      local got = rx:recv()
      return rawequal(got, t), got.n
    end)
    assert.is_false(same)
    assert.equal(1, n)
  end)

  it("reaches a receiver moved into another task", function()
    local ok, v = run(function()
      local tx, rx = corun.oneshot()
      local h = corun.spawn(function(rx) return rx:recv().answer end, rx)
      tx:send({ answer = 42 })
      return h:await()
    end)
    assert.is_true(ok)
    assert.equal(42, v)
  end)

  it("moves what moves into the receiver's task", function()
    local inside, after = run(function()
      local sem = corun.Semaphore(1)
      local tx, rx = corun.oneshot()
      local h = corun.spawn(function(rx)
        local p = rx:recv()
        corun.sleep(0.01)
        return sem:available_permits()  -- it still holds the permit
      end, rx)
      local p = sem:acquire()
      tx:send(p)
      local _, inside = h:await()
      return inside, sem:available_permits()  -- released at its end
    end)
    assert.equal(0, inside)
    assert.equal(1, after)
  end)

  it("raises when called a second time", function()
    local ok, err = run(function()
      local tx, rx = corun.oneshot()
      tx:send(1)
      return pcall(tx.send, tx, 2)
    end)
    assert.is_false(ok)
    assert.equal("OneshotSender:send: the sender was already used (a oneshot "
                 .. "sends once)", err)
  end)

  it("raises after a send that failed, and after close", function()
    local e1, e2 = run(function()
      local tx, rx = corun.oneshot()
      rx:close()
      tx:send(1)
      local e1 = select(2, pcall(tx.send, tx, 2))
      local tx2 = corun.oneshot()
      tx2:close()
      return e1, select(2, pcall(tx2.send, tx2, 1))
    end)
    assert.equal("OneshotSender:send: the sender was already used (a oneshot "
                 .. "sends once)", e1)
    assert.equal(e1, e2)
  end)

  it("raises on nil", function()
    local ok, err = run(function()
      local tx = corun.oneshot()
      return pcall(tx.send, tx)
    end)
    assert.is_false(ok)
    assert.equal("OneshotSender:send: cannot send nil", err)
  end)

  it("refuses a value that cannot cross, and stays unused", function()
    local ok, err, v = run(function()
      local tx, rx = corun.oneshot()
      local ok, err = pcall(tx.send, tx, { co = coroutine.create(print) })
      tx:send("after")
      return ok, err, rx:recv()
    end)
    assert.is_false(ok)
    assert.equal("OneshotSender:send: cannot move a coroutine into a oneshot "
                 .. "channel (argument 2, field 'co')", err)
    assert.equal("after", v)
  end)

  it("returns false, \"closed\" when the receiver was closed", function()
    local ok, err = run(function()
      local tx, rx = corun.oneshot()
      rx:close()
      return tx:send(1)
    end)
    assert.is_false(ok)
    assert.equal("closed", err)
  end)

  it("returns false, \"closed\" when the receiver's task has ended",
     function()
    local ok, err = run(function()
      local tx, rx = corun.oneshot()
      corun.spawn(function(rx) end, rx):await()
      return tx:send(1)
    end)
    assert.is_false(ok)
    assert.equal("closed", err)
  end)

  it("returns false, \"closed\" when the receiver was closed by <close> or "
     .. "collected", function()
    local r = run(function()
      local tx, rx = corun.oneshot()
      do local r <close> = rx end
      local a = table.pack(tx:send(1))
      local tx2 = corun.oneshot()  -- its receiver is dropped at once
      collectgarbage()
      collectgarbage()
      local b = table.pack(tx2:send(1))
      return { a, b }
    end)
    assert.same({ { false, "closed", n = 2 }, { false, "closed", n = 2 } }, r)
  end)

  it("works outside every task on ends that no task owns", function()
    local tx, rx = corun.run(function()
      -- a task's results leave it: nobody owns them
      local _, tx, rx = corun.spawn(corun.oneshot):await()
      return tx, rx
    end)
    assert.is_true(tx:send("outside"))
    assert.equal("outside", rx:try_recv())
  end)
end)

describe("OneshotReceiver:recv", function()
  it("waits until the value is sent", function()
    local v, waited = paused(function()
      local tx, rx = corun.oneshot()
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

  it("returns at once when the value is there", function()
    local v, elapsed = paused(function()
      local tx, rx = corun.oneshot()
      tx:send(false)
      local t0 = corun.now()
      local v = rx:recv()
      return v, corun.now() - t0
    end)
    assert.is_false(v)
    near(0, elapsed)
  end)

  it("returns nil, \"closed\" when the sender is closed without sending",
     function()
    local v, err = run(function()
      local tx, rx = corun.oneshot()
      corun.spawn(function()
        corun.sleep(0.01)
        tx:close()
      end)
      return rx:recv()
    end)
    assert.is_nil(v)
    assert.equal("closed", err)
  end)

  it("returns nil, \"closed\" when the sender's task ends without sending",
     function()
    local r = run(function()
      local tx, rx = corun.oneshot()
      local h = corun.spawn(function(tx) corun.sleep(0.01) end, tx)
      local r = table.pack(rx:recv())
      h:await()
      return r
    end)
    assert.same({ nil, "closed", n = 2 }, r)
  end)

  it("returns nil, \"closed\" when the sender's task raises or is cancelled",
     function()
    local r = run(function()
      local tx, rx = corun.oneshot()
      local h = corun.spawn(function(tx) error("no value") end, tx)
      local a = table.pack(rx:recv())
      local tx2, rx2 = corun.oneshot()
      local h2 = corun.spawn(function(tx) corun.sleep(10) end, tx2)
      settle(2)
      h2:abort()
      local b = table.pack(rx2:recv())
      h:await()
      h2:await()
      return { a, b }
    end)
    assert.same({ { nil, "closed", n = 2 }, { nil, "closed", n = 2 } }, r)
  end)

  it("returns nil, \"closed\" when the sender is collected", function()
    local r = run(function()
      local rx = select(2, corun.oneshot())
      collectgarbage()
      collectgarbage()
      return table.pack(rx:recv())
    end)
    assert.same({ nil, "closed", n = 2 }, r)
  end)

  it("returns nil, \"closed\" when the sender's <close> drops it unused",
     function()
    local r = run(function()
      local tx, rx = corun.oneshot()
      do local t <close> = tx end
      return table.pack(rx:recv())
    end)
    assert.same({ nil, "closed", n = 2 }, r)
  end)

  it("still returns the value sent before the sender's task ended",
     function()
    local v = run(function()
      local tx, rx = corun.oneshot()
      corun.spawn(function(tx) tx:send("kept") end, tx):await()
      return rx:recv()
    end)
    assert.equal("kept", v)
  end)

  it("raises when called after the value was received", function()
    local ok, err = run(function()
      local tx, rx = corun.oneshot()
      tx:send(1)
      rx:recv()
      return pcall(rx.recv, rx)
    end)
    assert.is_false(ok)
    assert.equal("OneshotReceiver:recv: the value was already received", err)
  end)

  it("raises outside a task", function()
    local rx = corun.run(function()
      local _, rx = corun.oneshot()
      return rx
    end)
    local ok, err = pcall(rx.recv, rx)
    assert.is_false(ok)
    assert.equal("OneshotReceiver:recv: must be called from a task (inside "
                 .. "corun.run)", err)
  end)

  it("is stopped when the waiting task is cancelled", function()
    local s = shared()
    local ok, err = run(function()
      local tx, rx = corun.oneshot()
      local h = corun.spawn(function(rx)
        rx:recv()
        SHARED.resumed = true
      end, rx)
      settle(2)
      h:abort()
      local ok, err = h:await()
      return ok, err
    end)
    assert.is_false(ok)
    assert.is_true(err:is_cancelled())
    assert.is_nil(s.resumed)
  end)

  it("leaves the value for a later recv when a branch waiting in it is "
     .. "cancelled", function()
    local i, v = paused(function()
      local tx, rx = corun.oneshot()
      local i = corun.select(function() return rx:recv() end,
                             function() corun.sleep(0.1) end)
      tx:send("still here")
      return i, rx:recv()
    end)
    assert.equal(2, i)
    assert.equal("still here", v)
  end)

  it("leaves the value for a later recv when woken and cancelled before it "
     .. "runs", function()
    local i, v = run(function()
      local tx, rx = corun.oneshot()
      local i = corun.select(function() return rx:recv() end, function()
        corun.yield_now()
        tx:send("kept")  -- wakes the first branch, which is then cancelled
        return "sent"
      end)
      return i, rx:recv()
    end)
    assert.equal(2, i)
    assert.equal("kept", v)
  end)

  it("ends with corun.timeout when nothing comes", function()
    local ok, err, elapsed = paused(function()
      local tx, rx = corun.oneshot()
      local t0 = corun.now()
      local ok, err = corun.timeout(0.2, rx.recv, rx)
      return ok, tostring(err), corun.now() - t0
    end)
    assert.is_false(ok)
    assert.equal("deadline has elapsed", err)
    near(0.2, elapsed)
  end)
end)

describe("OneshotReceiver:try_recv", function()
  it("returns the value, or nil and \"empty\" or \"closed\"", function()
    local r = run(function()
      local tx, rx = corun.oneshot()
      local a = table.pack(rx:try_recv())
      tx:send(7)
      local b = table.pack(rx:try_recv())
      local tx2, rx2 = corun.oneshot()
      tx2:close()
      local c = table.pack(rx2:try_recv())
      return { a, b, c }
    end)
    assert.same({ { nil, "empty", n = 2 }, { 7, n = 1 },
                  { nil, "closed", n = 2 } }, r)
  end)

  it("raises after the value was received", function()
    local ok, err = run(function()
      local tx, rx = corun.oneshot()
      tx:send(1)
      rx:try_recv()
      return pcall(rx.try_recv, rx)
    end)
    assert.is_false(ok)
    assert.equal("OneshotReceiver:try_recv: the value was already received",
                 err)
  end)
end)

describe("OneshotReceiver:close", function()
  it("makes later sends fail, but keeps a value sent before", function()
    local r = run(function()
      local tx, rx = corun.oneshot()
      tx:send("before")
      rx:close()
      local a = rx:recv()
      local tx2, rx2 = corun.oneshot()
      rx2:close()
      local b = table.pack(tx2:send("after"))
      local c = table.pack(rx2:recv())
      return { a, b, c }
    end)
    assert.same({ "before", { false, "closed", n = 2 },
                  { nil, "closed", n = 2 } }, r)
  end)
end)

describe("OneshotSender:is_closed", function()
  it("says whether the receiver is closed or gone", function()
    local a, b, c = run(function()
      local tx, rx = corun.oneshot()
      local a = tx:is_closed()
      rx:close()
      local tx2, rx2 = corun.oneshot()
      corun.spawn(function(rx) end, rx2):await()
      return a, tx:is_closed(), tx2:is_closed()
    end)
    assert.is_false(a)
    assert.is_true(b)
    assert.is_true(c)
  end)
end)

describe("OneshotSender:closed", function()
  it("waits until the receiver is gone", function()
    local waited = paused(function()
      local tx, rx = corun.oneshot()
      corun.spawn(function(rx) corun.sleep(0.4) end, rx)
      local t0 = corun.now()
      tx:closed()
      return corun.now() - t0
    end)
    near(0.4, waited)
  end)

  it("returns at once when the receiver is closed", function()
    local elapsed = paused(function()
      local tx, rx = corun.oneshot()
      rx:close()
      local t0 = corun.now()
      tx:closed()
      return corun.now() - t0
    end)
    near(0, elapsed)
  end)

  it("stops work nobody waits for any more (select)", function()
    local i = paused(function()
      local tx, rx = corun.oneshot()
      local worker = corun.spawn(function(tx)
        return (corun.select(function() tx:closed() end,
                             function() corun.sleep(100) tx:send(1) end))
      end, tx)
      corun.sleep(1)
      rx:close()
      return select(2, worker:await())
    end)
    assert.equal(1, i)
  end)

  it("ends with corun.timeout; raises outside a task", function()
    local ok = paused(function()
      local tx, rx = corun.oneshot()
      return (corun.timeout(0.1, tx.closed, tx))
    end)
    assert.is_false(ok)
    local tx = corun.run(function() return (corun.oneshot()) end)
    local ok2, err = pcall(tx.closed, tx)
    assert.is_false(ok2)
    assert.equal("OneshotSender:closed: must be called from a task (inside "
                 .. "corun.run)", err)
  end)
end)

describe("oneshot ownership", function()
  it("moves the receiver into a task: the spawner can no longer use it",
     function()
    local ok, err, id = run(function()
      local tx, rx = corun.oneshot()
      local h = corun.spawn(function(rx) return rx:recv() end, rx)
      local ok, err = pcall(rx.try_recv, rx)
      tx:send(1)
      h:await()
      return ok, err, h:id()
    end)
    assert.is_false(ok)
    assert.equal("corun: oneshot receiver was moved to task " .. id, err)
  end)

  it("moves the sender into a task: the spawner can no longer use it",
     function()
    local ok, err, id = run(function()
      local tx, rx = corun.oneshot()
      local h = corun.spawn(function(tx) tx:send("from task") end, tx)
      local ok, err = pcall(tx.send, tx, "from spawner")
      h:await()
      assert(rx:recv() == "from task")
      return ok, err, h:id()
    end)
    assert.is_false(ok)
    assert.equal("corun: oneshot sender was moved to task " .. id, err)
  end)

  it("an end reached through a global belongs to its task", function()
    local err = run(function()
      local tx, rx = corun.oneshot()
      ONESHOT_RX = rx
      local _, e = corun.spawn(function()
        return select(2, pcall(ONESHOT_RX.try_recv, ONESHOT_RX))
      end):await()
      ONESHOT_RX = nil
      return e
    end)
    assert.truthy(err:find("^corun: oneshot receiver belongs to task %d+$"),
                  err)
  end)

  it("the sender's <close> in the spawner leaves a moved sender alone",
     function()
    local v = run(function()
      local tx, rx = corun.oneshot()
      local h
      do
        local t <close> = tx
        h = corun.spawn(function(tx)
          corun.sleep(0.01)
          tx:send("moved")
        end, tx)
      end
      local v = rx:recv()
      h:await()
      return v
    end)
    assert.equal("moved", v)
  end)
end)

describe("oneshot __tostring", function()
  it("says where the exchange is", function()
    local t = run(function()
      local tx, rx = corun.oneshot()
      local t = { tostring(tx), tostring(rx) }
      tx:send(1)
      t[3], t[4] = tostring(tx), tostring(rx)
      rx:recv()
      t[5] = tostring(rx)
      local tx2, rx2 = corun.oneshot()
      rx2:close()
      t[6], t[7] = tostring(tx2), tostring(rx2)
      tx2:close()
      t[8] = tostring(tx2)
      return table.concat(t, "|")
    end)
    assert.equal("corun.OneshotSender (unused)|corun.OneshotReceiver (empty)|"
                 .. "corun.OneshotSender (sent)|corun.OneshotReceiver (value "
                 .. "waiting)|corun.OneshotReceiver (received)|"
                 .. "corun.OneshotSender (receiver closed)|"
                 .. "corun.OneshotReceiver (closed)|"
                 .. "corun.OneshotSender (closed)", t)
  end)
end)

describe("oneshot (many)", function()
  it("1 000 requests answered through a oneshot each", function()
    local sum = paused(function()
      local requests_tx, requests_rx = corun.channel()
      local server = corun.spawn(function(rx)
        for req in rx.recv, rx do
          corun.spawn(function(req)
            corun.sleep(0.001 * (req.n % 10))
            req.reply:send(req.n * 2)
          end, req)
        end
      end, requests_rx)
      local set = corun.JoinSet()
      for i = 1, 1000 do
        set:spawn(function(requests_tx, i)
          local tx, rx = corun.oneshot()
          requests_tx:send({ n = i, reply = tx })
          return rx:recv()
        end, requests_tx, i)
      end
      requests_tx:close()
      local sum = 0
      for _, v in ipairs(set:join_all()) do sum = sum + v end
      server:await()
      return sum
    end)
    assert.equal(1000 * 1001, sum)
  end)
end)
