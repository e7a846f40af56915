local corun = require "corun"

-- Tasks report through the global SHARED (what they capture is copied;
-- a channel sender they capture is shared, a receiver is moved).

-- Run fn(...) in a spawned task and return its results (a task's error is
-- raised again).  run() runs its function inside corun.timeout, that is in
-- a branch of the main task; the specs about sender references that are
-- not about branches use this to close references from a plain task.
local function in_task(fn, ...)
  local r = table.pack(corun.spawn(fn, ...):await())
  if not r[1] then error(tostring(r[2]), 0) end
  return table.unpack(r, 2, r.n)
end

-- rx:recv() packed, or "still waiting" after 'seconds' (exactly, on the
-- paused clock, where the specs that use it run).
local function recv_within(seconds, rx)
  local ok, r = corun.timeout(seconds, function()
    return table.pack(rx:recv())
  end)
  if ok then return r end
  return "still waiting"
end

-- Receive everything queued now, without waiting; returns the messages and
-- what try_recv said last ("empty" or "closed").
local function drain(rx)
  local got = {}
  while true do
    local v, why = rx:try_recv()
    if v == nil then return got, why end
    got[#got + 1] = v
  end
end

describe("corun.channel", function()
  it("returns a Sender and a Receiver", function()
    local tx_name, rx_name = run(function()
      local tx, rx = corun.channel()
      return getmetatable(tx).__name, getmetatable(rx).__name
    end)
    assert.equal("corun.Sender", tx_name)
    assert.equal("corun.Receiver", rx_name)
  end)

  it("with no capacity is unbounded: send never waits", function()
    local s = shared()
    local all_true, ran, n = run_leaving(function()
      local tx, rx = corun.channel()
      corun.spawn(function() SHARED.ran = true end)
      local all_true = true
      for i = 1, 10000 do
        if tx:send(i) ~= true then all_true = false end
      end
      local ran = SHARED.ran  -- the task runs only at our first wait
      return all_true, ran, #drain(rx)
    end)
    assert.is_true(all_true)
    assert.is_nil(ran)
    assert.equal(10000, n)
  end)

  it("with capacity n holds n messages without waiting", function()
    shared()
    local ran, full = run_leaving(function()
      local tx, rx = corun.channel(3)
      corun.spawn(function() SHARED.ran = true end)
      for i = 1, 3 do tx:send(i) end
      local ran = SHARED.ran
      return ran, select(2, tx:try_send(4))
    end)
    assert.is_nil(ran)
    assert.equal("full", full)
  end)

  it("raises on capacity 0", function()
    local ok, err = run(function() return pcall(corun.channel, 0) end)
    assert.is_false(ok)
    assert.equal(
      "corun.channel: bad argument #1 (capacity must be at least 1, got 0)",
      err)
  end)

  it("raises on a negative capacity", function()
    local ok, err = run(function() return pcall(corun.channel, -2) end)
    assert.is_false(ok)
    assert.equal(
      "corun.channel: bad argument #1 (capacity must be at least 1, got -2)",
      err)
  end)

  it("raises on a capacity that is not an integer", function()
    local ok, err = run(function() return pcall(corun.channel, 1.5) end)
    assert.is_false(ok)
    assert.matches("^corun%.channel: bad argument #1", err)
  end)

  it("raises on a capacity that is a string", function()
    local ok, err = run(function() return pcall(corun.channel, "3") end)
    assert.is_false(ok)
    assert.matches("^corun%.channel: bad argument #1", err)
  end)

  it("shares the sender, not a copy, with a spawned task", function()
    shared()
    local same = run(function()
      local tx, rx = corun.channel()
      SHARED.tx = tx
      return select(2, corun.spawn(function(tx)
        return rawequal(tx, SHARED.tx)
      end, tx):await())
    end)
    assert.is_true(same)
  end)

  it("gives a task that receives a sender in a message its own reference",
     function()
    -- tx crosses into task 2 inside a message; task 2 sends after the
    -- spawner has closed its own reference.
    local first, second, sent = paused(in_task, function()
      local tx, rx = corun.channel()
      local ctl_tx, ctl_rx = corun.channel()
      local h = corun.spawn(function(ctl_rx)
        local t = ctl_rx:recv()
        corun.sleep(0.02)
        return t:send("via a message")
      end, ctl_rx)
      ctl_tx:send(tx)
      tx:close()
      local first = rx:recv()
      local second = recv_within(2, rx)
      local _, sent = h:await()
      return first, second, sent
    end)
    assert.is_true(sent)
    assert.equal("via a message", first)
    assert.same({ n = 1, nil }, second)
  end)
end)

describe("Sender:send", function()
  it("returns true", function()
    local r = run(function()
      local tx, rx = corun.channel()
      return table.pack(tx:send("m"))
    end)
    assert.same({ n = 1, true }, r)
  end)

  it("does not wait on a bounded channel with room", function()
    shared()
    local ok, ran = run_leaving(function()
      local tx, rx = corun.channel(2)
      corun.spawn(function() SHARED.ran = true end)
      local ok = tx:send(1) and tx:send(2)
      return ok, SHARED.ran
    end)
    assert.is_true(ok)
    assert.is_nil(ran)
  end)

  it("waits while the channel is full and returns true once a message " ..
     "is taken", function()
    local r, elapsed, got = paused(function()
      local tx, rx = corun.channel(1)
      tx:send("first")
      local h = corun.spawn(function(rx)
        corun.sleep(0.05)
        local a = rx:recv()
        return a, rx:recv()
      end, rx)
      local t0 = corun.now()
      local r = table.pack(tx:send("second"))
      local elapsed = corun.now() - t0
      local _, a, b = h:await()
      return r, elapsed, { a, b }
    end)
    assert.same({ n = 1, true }, r)
    near(0.05, elapsed)  -- until the receiver took a message
    assert.same({ "first", "second" }, got)
  end)

  it("lets other tasks run while it waits", function()
    local s = shared()
    run(function()
      local tx, rx = corun.channel(1)
      tx:send(1)
      corun.spawn(function(rx)
        SHARED.other = true
        rx:recv()
        rx:recv()
      end, rx)
      tx:send(2)
      SHARED.seen = SHARED.other
    end)
    assert.is_true(s.seen)
  end)

  it("delivers messages in the order they were sent", function()
    local got = run(function()
      local tx, rx = corun.channel(4)
      corun.spawn(function(tx)
        for i = 1, 100 do tx:send(i) end
        tx:send("end")
      end, tx)
      local got = {}
      while true do
        local v = rx:recv()
        if v == "end" then break end
        got[#got + 1] = v
      end
      return got
    end)
    assert.equal(100, #got)
    for i = 1, 100 do assert.equal(i, got[i]) end
  end)

  it("copies the message: changing the table after send is not seen",
     function()
    local got = run(function()
      local tx, rx = corun.channel()
      local t = { n = 1, inner = { "a" } }
      tx:send(t)
      t.n = 2
      t.inner[1] = "changed"
      t.extra = true
      return rx:recv()
    end)
    assert.same({ n = 1, inner = { "a" } }, got)
  end)

  it("gives the receiver a copy, not the sender's table", function()
    shared()
    local same, v = run(function()
      local tx, rx = corun.channel()
      SHARED.t = { v = "x" }
      local h = corun.spawn(function(rx)
        local got = rx:recv()
        return rawequal(got, SHARED.t), got.v
      end, rx)
      tx:send(SHARED.t)
      local _, same, v = h:await()
      return same, v
    end)
    assert.is_false(same)
    assert.equal("x", v)
  end)

  it("keeps the shape of a table with a cycle", function()
    local ok_self, ok_back, name = run(function()
      local tx, rx = corun.channel()
      local t = { name = "root", child = {} }
      t.self = t
      t.child.parent = t
      tx:send(t)
      local got = rx:recv()
      return rawequal(got.self, got), rawequal(got.child.parent, got),
             got.name
    end)
    assert.is_true(ok_self)
    assert.is_true(ok_back)
    assert.equal("root", name)
  end)

  it("keeps a sub-table shared within one message shared", function()
    local shared_kept = run(function()
      local tx, rx = corun.channel()
      local sub = { 1, 2 }
      tx:send({ a = sub, b = sub })
      local got = rx:recv()
      return rawequal(got.a, got.b)
    end)
    assert.is_true(shared_kept)
  end)

  it("keeps the metatable of a table by reference", function()
    local same = run(function()
      local tx, rx = corun.channel()
      local mt = { __index = { kind = "point" } }
      tx:send(setmetatable({ x = 1 }, mt))
      return rawequal(getmetatable(rx:recv()), mt)
    end)
    assert.is_true(same)
  end)

  it("sends strings, numbers and booleans unchanged", function()
    local r = run(function()
      local tx, rx = corun.channel()
      tx:send("s"); tx:send(42); tx:send(1.5); tx:send(false)
      return { rx:recv(), rx:recv(), rx:recv(), rx:recv() }
    end)
    assert.same({ "s", 42, 1.5, false }, r)
  end)

  it("raises on nil", function()
    local ok, err = run(function()
      local tx, rx = corun.channel()
      return pcall(tx.send, tx, nil)
    end)
    assert.is_false(ok)
    assert.equal("Sender:send: cannot send nil", err)
  end)

  it("raises when given no value", function()
    local ok, err = run(function()
      local tx, rx = corun.channel()
      return pcall(tx.send, tx)
    end)
    assert.is_false(ok)
    assert.equal("Sender:send: cannot send nil", err)
  end)

  it("refuses a coroutine in a message, naming where it was found",
     function()
    local ok, err = run(function()
      local tx, rx = corun.channel()
      return pcall(tx.send, tx, { co = coroutine.create(print) })
    end)
    assert.is_false(ok)
    assert.matches("^Sender:send: cannot move a coroutine", err)
    assert.truthy(err:find("field 'co'", 1, true), err)
  end)

  it("queues nothing when the message is refused", function()
    local v, why = run(function()
      local tx, rx = corun.channel()
      pcall(tx.send, tx, { ok = 1, co = coroutine.create(print) })
      return rx:try_recv()
    end)
    assert.is_nil(v)
    assert.equal("empty", why)
  end)

  it("raises outside a task", function()
    local tx
    run(function() tx = corun.channel() end)
    local ok, err = pcall(tx.send, tx, 1)
    assert.is_false(ok)
    assert.equal("Sender:send: must be called from a task (inside corun.run)",
                 err)
  end)

  it("raises when called on something else than a Sender", function()
    local ok, err = run(function()
      local tx, rx = corun.channel()
      return pcall(tx.send, rx, 1)
    end)
    assert.is_false(ok)
    assert.matches("^Sender:send: ", err)
  end)

  it("serves senders waiting on a full channel first in, first out",
     function()
    local s = shared()
    s.done = {}
    local msgs, after = run(function()
      local tx, rx = corun.channel(1)
      tx:send("first")
      local hs = {}
      for _, name in ipairs { "a", "b", "c" } do
        hs[#hs + 1] = corun.spawn(function(name)
          tx:send(name)
          SHARED.done[#SHARED.done + 1] = name
        end, name)
        settle(2)  -- each is waiting before the next one arrives
      end
      local msgs, after = {}, {}
      for i = 1, 4 do
        msgs[i] = rx:recv()
        settle()
        after[i] = table.concat(SHARED.done, ",")
      end
      for _, h in ipairs(hs) do h:await() end
      return msgs, after
    end)
    assert.same({ "first", "a", "b", "c" }, msgs)
    assert.same({ "a", "a,b", "a,b,c", "a,b,c" }, after)
  end)

  it("is stopped when the waiting task is cancelled", function()
    local s = shared()
    local ok, err = run(function()
      local tx, rx = corun.channel(1)
      tx:send(0)
      local h = corun.spawn(function()
        tx:send(1)
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

  it("cancelled while waiting, loses no message, duplicates none and " ..
     "does not block the others", function()
    local got, why, a_ok, c_ok, b_cancelled = run(function()
      local tx, rx = corun.channel(1)
      tx:send(0)
      local a = corun.spawn(function() return tx:send("a") end); settle(2)
      local b = corun.spawn(function() return tx:send("b") end); settle(2)
      local c = corun.spawn(function() return tx:send("c") end); settle(2)
      b:abort()
      local _, berr = b:await()
      local got = {}
      for i = 1, 3 do got[i] = rx:recv() end
      local _, a_ok = a:await()
      local _, c_ok = c:await()
      settle()
      local rest, why = drain(rx)
      for _, v in ipairs(rest) do got[#got + 1] = v end
      return got, why, a_ok, c_ok, berr:is_cancelled()
    end)
    assert.same({ 0, "a", "c" }, got)
    assert.equal("empty", why)
    assert.is_true(a_ok)
    assert.is_true(c_ok)
    assert.is_true(b_cancelled)
  end)

  it("cancelled once a slot was handed to it, passes the slot on", function()
    local got, why = run(function()
      local tx, rx = corun.channel(1)
      tx:send(0)
      local a = corun.spawn(function() tx:send("a") end); settle(2)
      local b = corun.spawn(function() tx:send("b") end); settle(2)
      local c = corun.spawn(function() tx:send("c") end); settle(2)
      local got = { rx:recv() }  -- the freed slot goes to a ...
      a:abort()                  -- ... which is cancelled before it runs
      got[2] = rx:recv()
      got[3] = rx:recv()
      b:await()
      c:await()
      settle()
      local rest, why = drain(rx)
      for _, v in ipairs(rest) do got[#got + 1] = v end
      return got, why
    end)
    assert.same({ 0, "b", "c" }, got)
    assert.equal("empty", why)
  end)

  it("moves a Permit in a message: the sender can no longer use it",
     function()
    local ok, err, id = run(function()
      local sem = corun.Semaphore(1)
      local tx, rx = corun.channel()
      local h = corun.spawn(function(rx)
        local p = rx:recv()
        p:release()
      end, rx)
      local p = sem:acquire()
      tx:send(p)
      local ok, err = pcall(p.release, p)
      h:await()
      return ok, err, h:id()
    end)
    assert.is_false(ok)
    assert.equal("corun: permit was moved to task " .. id, err)
  end)

  it("keeps a Permit sent through a channel held until the receiver " ..
     "releases it", function()
    local after_send, after_recv, after_release = run(function()
      local sem = corun.Semaphore(1)
      local tx, rx = corun.channel()
      corun.spawn(function()   -- the sending task ends before the recv
        tx:send(sem:acquire())
      end):await()
      local after_send = sem:available_permits()
      local p = rx:recv()
      local after_recv = sem:available_permits()
      p:release()
      return after_send, after_recv, sem:available_permits()
    end)
    assert.equal(0, after_send)
    assert.equal(0, after_recv)
    assert.equal(1, after_release)
  end)
end)

describe("Sender:try_send", function()
  it("returns true when there is room", function()
    local r = run(function()
      local tx, rx = corun.channel(1)
      return table.pack(tx:try_send("m"))
    end)
    assert.same({ n = 1, true }, r)
  end)

  it("queues the message", function()
    local v = run(function()
      local tx, rx = corun.channel(1)
      tx:try_send("m")
      return rx:recv()
    end)
    assert.equal("m", v)
  end)

  it("returns false, \"full\" when the channel is full", function()
    local r = run(function()
      local tx, rx = corun.channel(2)
      tx:send(1); tx:send(2)
      return table.pack(tx:try_send(3))
    end)
    assert.same({ n = 2, false, "full" }, r)
  end)

  it("does not wait when the channel is full", function()
    shared()
    local ran = run_leaving(function()
      local tx, rx = corun.channel(1)
      tx:send(1)
      corun.spawn(function() SHARED.ran = true end)
      tx:try_send(2)
      return SHARED.ran
    end)
    assert.is_nil(ran)
  end)

  it("queues nothing when the channel is full", function()
    local got = run(function()
      local tx, rx = corun.channel(1)
      tx:send(1)
      tx:try_send(2)
      return (drain(rx))
    end)
    assert.same({ 1 }, got)
  end)

  it("does not take a slot handed to a waiting sender", function()
    local r, got = run(function()
      local tx, rx = corun.channel(1)
      tx:send(0)
      local h = corun.spawn(function() tx:send("waiter") end)
      settle(2)
      rx:recv()  -- the slot goes to the waiting sender
      local r = table.pack(tx:try_send("late"))
      h:await()
      return r, (drain(rx))
    end)
    assert.same({ n = 2, false, "full" }, r)
    assert.same({ "waiter" }, got)
  end)

  it("never fills an unbounded channel", function()
    local all_true = run(function()
      local tx, rx = corun.channel()
      for i = 1, 10000 do
        if tx:try_send(i) ~= true then return false end
      end
      return true
    end)
    assert.is_true(all_true)
  end)

  it("returns false, \"closed\" once the receiver is closed", function()
    local r = run(function()
      local tx, rx = corun.channel(1)
      rx:close()
      return table.pack(tx:try_send(1))
    end)
    assert.same({ n = 2, false, "closed" }, r)
  end)

  it("returns false, \"closed\" once the receiver's owner has ended",
     function()
    local r = run(function()
      local tx, rx = corun.channel()
      corun.spawn(function(rx) end, rx):await()
      return table.pack(tx:try_send(1))
    end)
    assert.same({ n = 2, false, "closed" }, r)
  end)

  it("copies the message", function()
    local got = run(function()
      local tx, rx = corun.channel()
      local t = { v = 1 }
      tx:try_send(t)
      t.v = 2
      return rx:recv()
    end)
    assert.same({ v = 1 }, got)
  end)

  it("raises on nil", function()
    local ok, err = run(function()
      local tx, rx = corun.channel()
      return pcall(tx.try_send, tx, nil)
    end)
    assert.is_false(ok)
    assert.equal("Sender:try_send: cannot send nil", err)
  end)

  it("refuses a coroutine in a message, naming where it was found",
     function()
    local ok, err = run(function()
      local tx, rx = corun.channel()
      return pcall(tx.try_send, tx, { a = { coroutine.create(print) } })
    end)
    assert.is_false(ok)
    assert.matches("^Sender:try_send: cannot move a coroutine", err)
    assert.truthy(err:find("field 'a[1]'", 1, true), err)
  end)
end)

describe("Sender:close", function()
  it("releases the only reference: recv returns nil once the queue is " ..
     "drained", function()
    local r = paused(in_task, function()
      local tx, rx = corun.channel()
      tx:close()
      return recv_within(2, rx)
    end)
    assert.same({ n = 1, nil }, r)
  end)

  it("lets the messages already queued be received before the nil",
     function()
    local got, last = paused(in_task, function()
      local tx, rx = corun.channel()
      tx:send(1); tx:send(2); tx:send(3)
      tx:close()
      local got = {}
      for i = 1, 3 do got[i] = rx:recv() end
      return got, recv_within(2, rx)
    end)
    assert.same({ 1, 2, 3 }, got)
    assert.same({ n = 1, nil }, last)
  end)

  it("wakes a receiver waiting in another task with nil", function()
    local ok, r = paused(in_task, function()
      local tx, rx = corun.channel()
      local h = corun.spawn(function(rx) return table.pack(rx:recv()) end, rx)
      settle(2)
      tx:close()
      local ok, _, r = corun.timeout(1, h.await, h)
      return ok, r
    end)
    assert.is_true(ok, "the receiver still waits")
    assert.same({ n = 1, nil }, r)
  end)

  it("releases only the calling task's reference", function()
    local early, got, at, last = paused(in_task, function()
      local tx, rx = corun.channel()
      local t0 = corun.now()
      corun.spawn(function(tx)
        corun.sleep(0.05)
        tx:send("still open")
      end, tx)
      tx:close()
      local early = corun.timeout(0.01, rx.recv, rx)
      local got = rx:recv()
      return early, got, corun.now() - t0, recv_within(2, rx)
    end)
    assert.is_false(early)  -- recv waited: the task still holds a sender
    assert.equal("still open", got)
    near(0.05, at)          -- when the task sent
    assert.same({ n = 1, nil }, last)
  end)

  it("called twice by one task does not release another task's reference",
     function()
    local got = paused(in_task, function()
      local tx, rx = corun.channel()
      corun.spawn(function(tx)
        corun.sleep(0.05)
        tx:send("late")
      end, tx)
      tx:close()
      tx:close()
      return rx:recv()
    end)
    assert.equal("late", got)
  end)

  it("in every holder ends the channel while the holding tasks still run",
     function()
    local r, last, running = paused(in_task, function()
      local tx, rx = corun.channel()
      local hs = {}
      for i = 1, 3 do
        hs[i] = corun.spawn(function(tx, i)
          tx:send(i)
          tx:close()
          corun.sleep(math.huge)
        end, tx, i)
      end
      tx:close()
      local got = {}
      for i = 1, 3 do got[i] = rx:recv() end
      table.sort(got)
      local last = recv_within(2, rx)
      local running = 0
      for _, h in ipairs(hs) do
        if not h:is_finished() then running = running + 1 end
        h:abort()
      end
      return got, last, running
    end)
    assert.same({ 1, 2, 3 }, r)
    assert.same({ n = 1, nil }, last)
    assert.equal(3, running)
  end)

  it("inside corun.timeout releases the task's reference", function()
    local r = paused(in_task, function()
      local tx, rx = corun.channel()
      corun.timeout(1, function() tx:close() end)
      return recv_within(2, rx)
    end)
    assert.same({ n = 1, nil }, r)
  end)

  it("inside a corun.join branch releases the task's reference", function()
    local r = paused(in_task, function()
      local tx, rx = corun.channel()
      corun.join(function() tx:close() end, function() end)
      return recv_within(2, rx)
    end)
    assert.same({ n = 1, nil }, r)
  end)

  it("inside corun.run's main function releases its reference", function()
    local r = corun.run(function()
      corun.clock.pause()  -- recv_within's limit on the test clock
      local tx, rx = corun.channel()
      tx:close()
      return recv_within(2, rx)
    end)
    assert.same({ n = 1, nil }, r)
  end)

  it("a sender passed to a spawned task keeps the channel open after " ..
     "the spawner closes its reference", function()
    local got = paused(in_task, function()
      local tx, rx = corun.channel()
      corun.spawn(function(tx)
        corun.sleep(0.02)
        tx:send("from the task")
      end, tx)
      tx:close()
      return rx:recv()
    end)
    assert.equal("from the task", got)
  end)

  it("a sender captured by a spawned function gives the task its own " ..
     "reference", function()
    local got = paused(in_task, function()
      local tx, rx = corun.channel()
      corun.spawn(function()
        corun.sleep(0.02)
        tx:send("captured")
      end)
      tx:close()
      return rx:recv()
    end)
    assert.equal("captured", got)
  end)

  it("a task's reference is released when the task returns", function()
    local got, last = paused(in_task, function()
      local tx, rx = corun.channel()
      local h = corun.spawn(function(tx) tx:send("last words") end, tx)
      tx:close()
      local a = rx:recv()
      return a, recv_within(2, rx)
    end)
    assert.equal("last words", got)
    assert.same({ n = 1, nil }, last)
  end)

  it("a task's reference is released when the task raises", function()
    local first, last, ok = paused(in_task, function()
      local tx, rx = corun.channel()
      local h = corun.spawn(function(tx)
        tx:send(1)
        error("boom", 0)
      end, tx)
      tx:close()
      local first = rx:recv()
      local last = recv_within(2, rx)
      return first, last, (h:await())
    end)
    assert.equal(1, first)
    assert.same({ n = 1, nil }, last)
    assert.is_false(ok)
  end)

  it("a task's reference is released when the task is cancelled",
     function()
    local ok, r = paused(in_task, function()
      local tx, rx = corun.channel()
      local h = corun.spawn(function(tx) corun.sleep(math.huge) end, tx)
      local killer = corun.spawn(function(h)
        corun.sleep(0.02)
        h:abort()
      end, h)
      tx:close()
      local ok, r = corun.timeout(1, function() return table.pack(rx:recv()) end)
      killer:await()
      return ok, r
    end)
    assert.is_true(ok, "recv still waits after the holder was cancelled")
    assert.same({ n = 1, nil }, r)
  end)

  it("a task's reference is released when the task is cancelled before " ..
     "it started", function()
    local r = paused(in_task, function()
      local tx, rx = corun.channel()
      local h = corun.spawn(function(tx) tx:send("never") end, tx)
      h:abort()
      h:await()
      tx:close()
      return recv_within(2, rx)
    end)
    assert.same({ n = 1, nil }, r)
  end)

  it("a task given the sender twice holds one reference", function()
    local r = paused(in_task, function()
      local tx, rx = corun.channel()
      local h = corun.spawn(function(a, b)
        a:close()
        corun.sleep(math.huge)
      end, tx, tx)
      settle(2)
      tx:close()
      local ok, r = corun.timeout(1, function() return table.pack(rx:recv()) end)
      h:abort()
      return ok and r
    end)
    assert.same({ n = 1, nil }, r)
  end)

  it("a sender passed on to a grandchild task keeps the channel open " ..
     "after its parent ends", function()
    local got, last = paused(in_task, function()
      local tx, rx = corun.channel()
      corun.spawn(function(tx)
        corun.spawn(function(tx)
          corun.sleep(0.02)
          tx:send("from the grandchild")
        end, tx)
      end, tx)
      tx:close()
      return rx:recv(), recv_within(2, rx)
    end)
    assert.equal("from the grandchild", got)
    assert.same({ n = 1, nil }, last)
  end)
end)

describe("Receiver:recv", function()
  it("raises in a task that reached the receiver without owning it " ..
     "(through a global)", function()
    local err, still = run(function()
      local tx, rx = corun.channel()
      RX_GLOBAL = rx                   -- no crossing: no move
      local h = corun.spawn(function()
        return select(2, pcall(RX_GLOBAL.recv, RX_GLOBAL))
      end)
      local _, e = h:await()
      RX_GLOBAL = nil
      tx:send("kept")
      return e, rx:recv()
    end)
    assert.truthy(err:find("^corun: channel receiver belongs to task %d+$"),
                  err)
    assert.equal("kept", still)
  end)


  it("returns the next message", function()
    local v = run(function()
      local tx, rx = corun.channel()
      tx:send("hello")
      return rx:recv()
    end)
    assert.equal("hello", v)
  end)

  it("waits for a message", function()
    local v, elapsed = paused(function()
      local tx, rx = corun.channel()
      corun.spawn(function(tx)
        corun.sleep(0.05)
        tx:send("late")
      end, tx)
      local t0 = corun.now()
      local v = rx:recv()
      return v, corun.now() - t0
    end)
    assert.equal("late", v)
    near(0.05, elapsed)
  end)

  it("returns nil once every holding task has ended and the queue is " ..
     "drained", function()
    local got = paused(in_task, function()
      local tx, rx = corun.channel()
      for i = 1, 3 do
        corun.spawn(function(tx, i)
          corun.sleep(0.01 * i)
          tx:send(i)
        end, tx, i)
      end
      tx:close()
      local got = {}
      while true do
        local r = recv_within(2, rx)
        if r == "still waiting" then return r end
        if r[1] == nil then break end
        got[#got + 1] = r[1]
      end
      table.sort(got)
      return got
    end)
    assert.same({ 1, 2, 3 }, got)
  end)

  it("keeps returning nil after the end", function()
    local r = paused(in_task, function()
      local tx, rx = corun.channel()
      tx:close()
      if recv_within(2, rx) == "still waiting" then return "still waiting" end
      return table.pack(rx:recv(), rx:recv())
    end)
    assert.same({ n = 2, nil, nil }, r)
  end)

  it("returns nil once the receiver is closed and the queue is drained",
     function()
    local r = run(function()
      local tx, rx = corun.channel()
      tx:send(1)
      rx:close()
      return table.pack(rx:recv(), rx:recv())
    end)
    assert.same({ n = 2, 1, nil }, r)
  end)

  it("raises outside a task", function()
    local rx
    run(function() local _; _, rx = corun.channel() end)
    local ok, err = pcall(rx.recv, rx)
    assert.is_false(ok)
    assert.equal(
      "Receiver:recv: must be called from a task (inside corun.run)", err)
  end)

  it("raises when called on something else than a Receiver", function()
    local ok, err = run(function()
      local tx, rx = corun.channel()
      return pcall(rx.recv, tx)
    end)
    assert.is_false(ok)
    assert.matches("^Receiver:recv: ", err)
  end)

  it("moved into a spawned task, works in that task", function()
    local ok, v = run(function()
      local tx, rx = corun.channel()
      local h = corun.spawn(function(rx) return rx:recv() end, rx)
      tx:send("moved")
      return h:await()
    end)
    assert.is_true(ok)
    assert.equal("moved", v)
  end)

  it("moved into a spawned task, cannot be used by the spawner", function()
    local ok, err, id = run(function()
      local tx, rx = corun.channel()
      local h = corun.spawn(function(rx) corun.sleep(0.02) end, rx)
      local ok, err = pcall(rx.recv, rx)
      h:await()
      return ok, err, h:id()
    end)
    assert.is_false(ok)
    assert.equal("corun: channel receiver was moved to task " .. id, err)
  end)

  it("is stopped when the waiting task is cancelled", function()
    local s = shared()
    local ok, err = run(function()
      local tx, rx = corun.channel()
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

  it("cut short by corun.timeout loses no message", function()
    local ok, v = paused(function()
      local tx, rx = corun.channel()
      local ok = corun.timeout(0.01, rx.recv, rx)
      tx:send("kept")
      return ok, rx:recv()
    end)
    assert.is_false(ok)
    assert.equal("kept", v)
  end)

  it("frees a slot for a sender waiting on a full channel", function()
    local ok, r = paused(function()
      local tx, rx = corun.channel(1)
      tx:send(1)
      local h = corun.spawn(function() return tx:send(2) end)
      settle(2)
      rx:recv()
      return corun.timeout(1, h.await, h)
    end)
    assert.is_true(ok, "the sender still waits")
    assert.is_true(r)
  end)

  it("makes a received Permit belong to the receiving task: released " ..
     "when it returns", function()
    local during, after = paused(function()
      local sem = corun.Semaphore(1)
      local tx, rx = corun.channel()
      local h = corun.spawn(function(rx)
        local p = rx:recv()
        corun.sleep(0.02)
      end, rx)
      tx:send(sem:acquire())
      settle(2)
      local during = sem:available_permits()
      h:await()
      return during, sem:available_permits()
    end)
    assert.equal(0, during)
    assert.equal(1, after)
  end)

  it("makes a received Permit belong to the receiving task: released " ..
     "when it is cancelled", function()
    local during, after = paused(function()
      local sem = corun.Semaphore(1)
      local tx, rx = corun.channel()
      local h = corun.spawn(function(rx)
        local p = rx:recv()
        corun.sleep(math.huge)
      end, rx)
      tx:send(sem:acquire())
      settle(2)
      local during = sem:available_permits()
      h:abort()
      h:await()
      return during, sem:available_permits()
    end)
    assert.equal(0, during)
    assert.equal(1, after)
  end)

  it("carries a ping-pong of 10 000 messages between two tasks complete " ..
     "and in order", function()
    local bad, count, echoed = run(function()
      local ping_tx, ping_rx = corun.channel(1)
      local pong_tx, pong_rx = corun.channel(1)
      local h = corun.spawn(function(rx, tx)
        local n = 0
        while true do
          local v = rx:recv()
          if v == "stop" then return n end
          tx:send(v)
          n = n + 1
        end
      end, ping_rx, pong_tx)
      local bad, count = 0, 0
      for i = 1, 10000 do
        ping_tx:send(i)
        local v = pong_rx:recv()
        if v ~= i then bad = bad + 1 end
        count = count + 1
      end
      ping_tx:send("stop")
      local _, echoed = h:await()
      return bad, count, echoed
    end)
    assert.equal(0, bad)
    assert.equal(10000, count)
    assert.equal(10000, echoed)
  end)
end)

describe("Receiver:try_recv", function()
  it("returns a queued message", function()
    local r = run(function()
      local tx, rx = corun.channel()
      tx:send("m")
      return table.pack(rx:try_recv())
    end)
    assert.same({ n = 1, "m" }, r)
  end)

  it("returns queued messages in order", function()
    local got = run(function()
      local tx, rx = corun.channel()
      for i = 1, 5 do tx:send(i) end
      return (drain(rx))
    end)
    assert.same({ 1, 2, 3, 4, 5 }, got)
  end)

  it("returns nil, \"empty\" when nothing is queued", function()
    local r = run(function()
      local tx, rx = corun.channel()
      return table.pack(rx:try_recv())
    end)
    assert.same({ n = 2, nil, "empty" }, r)
  end)

  it("does not wait", function()
    shared()
    local ran = run_leaving(function()
      local tx, rx = corun.channel()
      corun.spawn(function() SHARED.ran = true end)
      rx:try_recv()
      return SHARED.ran
    end)
    assert.is_nil(ran)
  end)

  it("returns nil, \"closed\" once every sender reference is released",
     function()
    local r = run(in_task, function()
      local tx, rx = corun.channel()
      corun.spawn(function(tx) end, tx):await()
      tx:close()
      return table.pack(rx:try_recv())
    end)
    assert.same({ n = 2, nil, "closed" }, r)
  end)

  it("returns the queued messages before nil, \"closed\"", function()
    local got, why = run(in_task, function()
      local tx, rx = corun.channel()
      corun.spawn(function(tx) tx:send(1); tx:send(2) end, tx):await()
      tx:close()
      return drain(rx)
    end)
    assert.same({ 1, 2 }, got)
    assert.equal("closed", why)
  end)

  it("returns nil, \"closed\" once the receiver is closed and drained",
     function()
    local got, why = run(function()
      local tx, rx = corun.channel()
      tx:send(1)
      rx:close()
      return drain(rx)
    end)
    assert.same({ 1 }, got)
    assert.equal("closed", why)
  end)

  it("frees a slot for a sender waiting on a full channel", function()
    local ok, r = paused(function()
      local tx, rx = corun.channel(1)
      tx:send(1)
      local h = corun.spawn(function() return tx:send(2) end)
      settle(2)
      rx:try_recv()
      return corun.timeout(1, h.await, h)
    end)
    assert.is_true(ok, "the sender still waits")
    assert.is_true(r)
  end)

  it("moved into a spawned task, cannot be used by the spawner", function()
    local ok, err, id = run(function()
      local tx, rx = corun.channel()
      local h = corun.spawn(function(rx) corun.sleep(0.02) end, rx)
      local ok, err = pcall(rx.try_recv, rx)
      h:await()
      return ok, err, h:id()
    end)
    assert.is_false(ok)
    assert.equal("corun: channel receiver was moved to task " .. id, err)
  end)
end)

describe("Receiver:close", function()
  it("makes later sends return false, \"closed\"", function()
    local r = run(function()
      local tx, rx = corun.channel()
      rx:close()
      return table.pack(tx:send(1))
    end)
    assert.same({ n = 2, false, "closed" }, r)
  end)

  it("makes later sends from other tasks return false, \"closed\"",
     function()
    local r = run(function()
      local tx, rx = corun.channel()
      rx:close()
      return select(2, corun.spawn(function(tx)
        return table.pack(tx:send(1))
      end, tx):await())
    end)
    assert.same({ n = 2, false, "closed" }, r)
  end)

  it("lets the messages already queued be received", function()
    local got = run(function()
      local tx, rx = corun.channel()
      tx:send(1); tx:send(2)
      rx:close()
      return { rx:recv(), rx:recv(), rx:recv() }
    end)
    assert.same({ 1, 2 }, got)
  end)

  it("wakes every sender waiting on a full channel with false, \"closed\"",
     function()
    local r, got = paused(function()
      local tx, rx = corun.channel(1)
      tx:send(0)
      local hs = {}
      for i = 1, 3 do
        hs[i] = corun.spawn(function(i)
          return table.pack(tx:send(i))
        end, i)
      end
      settle(3)
      rx:close()
      local r = {}
      for i = 1, 3 do
        local ok, _, v = corun.timeout(1, hs[i].await, hs[i])
        r[i] = ok and v or "still waiting"
      end
      return r, (drain(rx))
    end)
    for i = 1, 3 do assert.same({ n = 2, false, "closed" }, r[i]) end
    assert.same({ 0 }, got)
  end)

  it("can be called twice", function()
    local ok = run(function()
      local tx, rx = corun.channel()
      rx:close()
      return pcall(rx.close, rx)
    end)
    assert.is_true(ok)
  end)

  it("happens when a <close> receiver goes out of scope", function()
    local r = run(function()
      local tx, rx = corun.channel()
      do
        local r <close> = rx
      end
      return table.pack(tx:send(1))
    end)
    assert.same({ n = 2, false, "closed" }, r)
  end)

  it("happens when the receiver's owner returns", function()
    local r = run(function()
      local tx, rx = corun.channel()
      corun.spawn(function(rx) end, rx):await()
      return table.pack(tx:send(1))
    end)
    assert.same({ n = 2, false, "closed" }, r)
  end)

  it("happens when the receiver's owner raises", function()
    local r, ok = run(function()
      local tx, rx = corun.channel()
      local ok = corun.spawn(function(rx) error("boom", 0) end, rx):await()
      return table.pack(tx:send(1)), ok
    end)
    assert.is_false(ok)
    assert.same({ n = 2, false, "closed" }, r)
  end)

  it("happens when the receiver's owner is cancelled", function()
    local r = run(function()
      local tx, rx = corun.channel()
      local h = corun.spawn(function(rx) rx:recv() end, rx)
      settle(2)
      h:abort()
      h:await()
      return table.pack(tx:send(1))
    end)
    assert.same({ n = 2, false, "closed" }, r)
  end)

  it("by the owner's cancellation wakes senders waiting on a full channel",
     function()
    local ok, r = paused(function()
      local tx, rx = corun.channel(1)
      tx:send(0)
      local owner = corun.spawn(function(rx) corun.sleep(math.huge) end, rx)
      local sender = corun.spawn(function() return table.pack(tx:send(1)) end)
      settle(3)
      owner:abort()
      local ok, _, r = corun.timeout(1, sender.await, sender)
      return ok, r
    end)
    assert.is_true(ok, "the sender still waits")
    assert.same({ n = 2, false, "closed" }, r)
  end)

  it("moved into a spawned task, cannot be called by the spawner",
     function()
    local ok, err, id, sent = run(function()
      local tx, rx = corun.channel()
      local h = corun.spawn(function(rx) return rx:recv() end, rx)
      local ok, err = pcall(rx.close, rx)
      local sent = tx:send("still open")
      h:await()
      return ok, err, h:id(), sent
    end)
    assert.is_false(ok)
    assert.equal("corun: channel receiver was moved to task " .. id, err)
    assert.is_true(sent)
  end)
end)

-- A table whose __gc counts, in box.dropped, the collected tables that
-- share its metatable (the copies a channel queues do): a message that is
-- one of them shows when the channel lets go of it.
local function counted(box)
  return setmetatable({}, { __gc = function()
    box.dropped = (box.dropped or 0) + 1
  end })
end

-- Full collections, enough for a finalizer that frees a message and the
-- finalizer of that message to run.
local function collect()
  for _ = 1, 4 do collectgarbage() end
end

describe("Receiver:close", function()
  it("wakes a recv waiting in another branch of the task with nil",
     function()
    local got = paused(function()
      local tx, rx = corun.channel()
      local got
      corun.join(function() got = table.pack(rx:recv()) end,
                 function() corun.sleep(1); rx:close() end)
      return got
    end)
    assert.same({ n = 1, nil }, got)
  end)

  it("ends a recv in a corun.select branch when another branch closes " ..
     "the receiver", function()
    local r = paused(function()
      local tx, rx = corun.channel()
      return table.pack(corun.select(function()
        return "received", rx:recv()
      end, function()
        corun.sleep(1)
        rx:close()
        corun.sleep(math.huge)
      end))
    end)
    assert.same({ n = 3, 1, "received", nil }, r)
  end)

  it("wakes every recv waiting in branches of the task with nil",
     function()
    local a, b = paused(function()
      local tx, rx = corun.channel()
      local a, b
      corun.join(function() a = table.pack(rx:recv()) end,
                 function() b = table.pack(rx:recv()) end,
                 function() corun.sleep(1); rx:close() end)
      return a, b
    end)
    assert.same({ n = 1, nil }, a)
    assert.same({ n = 1, nil }, b)
  end)

  it("wakes a send waiting in another branch with false, \"closed\"",
     function()
    local r = paused(function()
      local tx, rx = corun.channel(1)
      tx:send(0)
      local r
      corun.join(function() r = table.pack(tx:send(1)) end,
                 function() corun.sleep(1); rx:close() end)
      return r
    end)
    assert.same({ n = 2, false, "closed" }, r)
  end)

  it("through <close> in another branch wakes a waiting recv with nil",
     function()
    local got = paused(function()
      local tx, rx = corun.channel()
      local got
      corun.join(function() got = table.pack(rx:recv()) end,
                 function()
                   corun.sleep(1)
                   local r <close> = rx
                 end)
      return got
    end)
    assert.same({ n = 1, nil }, got)
  end)
end)

describe("Receiver:recv", function()
  it("woken for a message and cancelled before it runs leaves the " ..
     "message to another recv waiting", function()
    local r = paused(function()
      local tx, rx = corun.channel()
      local go, stop = corun.Notify(), corun.Notify()
      local h = corun.spawn(function()
        go:notified()
        stop:notify_one()  -- wakes the select's other branch first ...
        tx:send("only")    -- ... then the message wakes the first recv
      end)
      local r
      corun.join(function()
        corun.select(function() return rx:recv() end,
                     function() stop:notified() end)  -- wins, cancels
      end, function()
        r = table.pack(rx:recv())
      end, function()
        corun.sleep(1)
        go:notify_one()
      end)
      h:await()
      return r
    end)
    assert.same({ n = 1, "only" }, r)
  end)
end)

describe("Sender:close", function()
  it("of the last reference wakes every recv waiting in branches of the " ..
     "receiving task with nil", function()
    local a, b = paused(in_task, function()
      local tx, rx = corun.channel()
      local a, b
      corun.join(function() a = table.pack(rx:recv()) end,
                 function() b = table.pack(rx:recv()) end,
                 function() corun.sleep(1); tx:close() end)
      return a, b
    end)
    assert.same({ n = 1, nil }, a)
    assert.same({ n = 1, nil }, b)
  end)
end)

describe("corun.channel (Tokio sync_mpsc)", function()
  -- Tokio: dropping_rx_closes_channel.  There an Arc's strong count shows
  -- that the message queued in the channel is dropped with rx; here a
  -- __gc on the queued copy does.
  it("dropping_rx_closes_channel: dropping the receiver drops the " ..
     "queued message and closes the channel", function()
    local before, after, r = run(function()
      local box = {}
      local tx, rx = corun.channel(100)
      local msg = counted(box)            -- the sender's own table stays
      assert(tx:try_send(msg) == true)
      collect()
      local before = box.dropped       -- the queued copy is alive
      rx = nil
      collect()
      local after = box.dropped
      local r = table.pack(tx:send(msg))
      assert(getmetatable(msg))            -- keeps msg alive until here
      return before, after, r
    end)
    assert.is_nil(before)
    assert.equal(1, after)
    assert.same({ n = 2, false, "closed" }, r)
  end)

  -- Tokio: dropping_rx_closes_channel_for_try.
  it("dropping_rx_closes_channel_for_try: try_send then fails as closed " ..
     "and keeps nothing", function()
    local r, after = run(function()
      local box = {}
      local tx, rx = corun.channel(100)
      local msg = counted(box)
      assert(tx:try_send(msg) == true)
      rx = nil
      collect()
      local r = table.pack(tx:try_send(msg))
      collect()
      assert(getmetatable(msg))
      return r, box.dropped
    end)
    assert.same({ n = 2, false, "closed" }, r)
    assert.equal(1, after)
  end)

  it("releases the queued messages when the receiver's owner ends, " ..
     "though the receiver is still reachable", function()
    local after = run(function()
      local box = {}
      local tx, rx = corun.channel()
      local msg = counted(box)
      tx:send(msg)
      corun.spawn(function(rx) end, rx):await()
      collect()
      assert(getmetatable(msg) and rx)
      return box.dropped
    end)
    assert.equal(1, after)
  end)

  it("releases the queued messages when a <close> variable closes the " ..
     "receiver", function()
    local after = run(function()
      local box = {}
      local tx, rx = corun.channel()
      local msg = counted(box)
      tx:send(msg)
      do local r <close> = rx end
      collect()
      assert(getmetatable(msg) and rx)
      return box.dropped
    end)
    assert.equal(1, after)
  end)

  it("keeps the queued messages after rx:close() while the receiver " ..
     "lives, and releases them when it is collected", function()
    local kept, got, after = run(function()
      local box = {}
      local tx, rx = corun.channel()
      local msg = counted(box)
      tx:send(msg); tx:send(msg)
      rx:close()
      collect()
      local kept = box.dropped
      local got = rx:recv()
      got = nil
      rx = nil
      collect()
      assert(getmetatable(msg))
      return kept, got, box.dropped
    end)
    assert.is_nil(kept)
    assert.equal(2, after)
  end)

  it("made and dropped 20 000 times with messages queued gives its " ..
     "memory back inside the task", function()
    local before, after = run(function()
      collect()
      local before = collectgarbage("count")
      for i = 1, 20000 do
        local tx, rx = corun.channel(i % 3 == 0 and 4 or nil)
        tx:send({ i, "a message" })
        tx:send(i)
        if i % 2 == 0 then rx:close() end
      end
      collect()
      return before, collectgarbage("count")
    end)
    assert.is_true(after - before < 200,
                   ("%.0f KB before, %.0f KB after"):format(before, after))
  end)

  it("whose Sender is collected ends a recv with nil", function()
    local r = run(function()
      local tx, rx = corun.channel()
      tx:send("last")
      tx = nil
      collect()
      return table.pack(rx:recv(), recv_within(2, rx))
    end)
    assert.same({ n = 2, "last", { n = 1, nil } }, r)
  end)
end)

describe("Sender references in messages", function()
  it("a Sender that arrives in a message gives the receiving task its " ..
     "own reference, which keeps the channel open until that task ends",
     function()
    local early, last = paused(in_task, function()
      local tx, rx = corun.channel()
      local ctl_tx, ctl_rx = corun.channel()
      local h = corun.spawn(function(ctl_rx)
        local t = ctl_rx:recv()        -- its own reference
        corun.sleep(10)
      end, ctl_rx)
      ctl_tx:send(tx)
      tx:close()                       -- the spawner's reference
      local early = corun.timeout(5, rx.recv, rx)
      local last = table.pack(rx:recv())
      h:await()
      return early, last
    end)
    assert.is_false(early)             -- task 2 still held its reference
    assert.same({ n = 1, nil }, last)  -- until it ended at 10 s
  end)

  it("a task that receives a Sender it already holds keeps one reference",
     function()
    local r = paused(in_task, function()
      local tx, rx = corun.channel()
      local ctl_tx, ctl_rx = corun.channel()
      ctl_tx:send(tx)                  -- to itself: it holds tx already
      local again = ctl_rx:recv()
      again:close()
      return table.pack(corun.timeout(5, rx.recv, rx))
    end)
    assert.same({ n = 2, true, nil }, r)
  end)

  it("a Sender received twice in messages gives the task one reference",
     function()
    local r = paused(in_task, function()
      local tx, rx = corun.channel()
      local ctl_tx, ctl_rx = corun.channel()
      local h = corun.spawn(function(ctl_rx)
        local a, b = ctl_rx:recv(), ctl_rx:recv()
        a:close()
        corun.sleep(10)
      end, ctl_rx)
      ctl_tx:send(tx)
      ctl_tx:send(tx)
      tx:close()
      local r = table.pack(corun.timeout(5, rx.recv, rx))
      h:await()
      return r
    end)
    assert.same({ n = 2, true, nil }, r)
  end)
end)

describe("Receiver:recv (queue order)", function()
  it("keeps the order while the queue grows, wraps around, drains and " ..
     "grows again", function()
    local bad, total = run(function()
      local tx, rx = corun.channel()
      local n, want, bad = 0, 1, 0
      local function send(k)
        for _ = 1, k do n = n + 1; tx:send(n) end
      end
      local function recv(k)
        for _ = 1, k do
          if rx:recv() ~= want then bad = bad + 1 end
          want = want + 1
        end
      end
      for _ = 1, 3 do
        send(3000); recv(1500); send(5000); recv(2000); send(777)
        recv(n - want + 1)
        send(5); recv(3); send(2000); recv(n - want + 1)
      end
      return bad, n
    end)
    assert.equal(0, bad)
    assert.equal(3 * 10782, total)
  end)
end)
