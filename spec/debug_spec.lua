-- Seeing inside: task names, corun.tasks(), corun.dump(), the deadlock
-- error, SIGQUIT in the executable, and panics reported when nobody can
-- observe them any more.

local corun = require "corun"

-- This file's name as Lua's short_src gives it ("spec/debug_spec.lua").
local HERE = debug.getinfo(1, "S").short_src

-- The line of this file where 'pattern' first occurs after line 'from'.
local function line_of(pattern, from)
  local n = 0
  for line in io.lines(HERE) do
    n = n + 1
    if n > (from or 0) and line:find(pattern, 1, true) then return n end
  end
  error("no line with " .. pattern)
end

-- The info table of task 'id' in corun.tasks().
local function info(id)
  for _, t in ipairs(corun.tasks()) do
    if t.id == id then return t end
  end
end

-- A file handle that keeps what is written to it.
local function sink()
  local s = { text = "" }
  function s:write(...)
    for _, v in ipairs { ... } do self.text = self.text .. v end
    return self
  end
  return s
end

describe("corun.spawn_named", function()
  it("gives the task a name that corun.tasks() shows", function()
    run(function()
      local h = corun.spawn_named("worker", function() corun.sleep(1) end)
      settle()
      assert.equal("worker", info(h:id()).name)
      h:abort()
      settle()
    end)
  end)

  it("shows the name in the handle's tostring", function()
    run(function()
      local h = corun.spawn_named("job", function() end)
      assert.equal("corun.JoinHandle (task " .. h:id() .. " (job), new)",
                   tostring(h))
      h:await()
      assert.equal("corun.JoinHandle (task " .. h:id() .. " (job), finished)",
                   tostring(h))
    end)
  end)

  it("passes its arguments to the function", function()
    run(function()
      local h = corun.spawn_named("adder", function(a, b) return a + b end,
                                  2, 3)
      assert.same({ true, 5 }, { h:await() })
    end)
  end)

  it("keeps every result of a named task, past its argument count", function()
    run(function()
      local h = corun.spawn_named("many", function() return 1, 2, 3, 4 end)
      assert.same({ true, 1, 2, 3, 4 }, { h:await() })
    end)
  end)

  it("puts the name in a JoinError's text", function()
    run(function()
      local h = corun.spawn_named("fetcher", function() error("boom", 0) end)
      local ok, err = h:await()
      assert.is_false(ok)
      assert.equal("task " .. h:id() .. " (fetcher) panicked: boom",
                   tostring(err))
      assert.equal("boom", err:into_panic())
    end)
  end)

  it("puts the name in a cancelled task's JoinError", function()
    run(function()
      local h = corun.spawn_named("sleepy", function() corun.sleep(10) end)
      h:abort()
      local _, err = h:await()
      assert.equal("task " .. h:id() .. " (sleepy) was cancelled",
                   tostring(err))
    end)
  end)

  it("puts the name in the report of a panic nobody observed", function()
    local status, _, err = corun_script [[
      local corun = require "corun"
      local h = corun.spawn_named("lost", function() error("oops", 0) end)
      corun.sleep(0.01)
    ]]
    assert.equal(0, status)
    assert.truthy(err:find("corun: task 2 (lost) panicked: oops\n", 1, true),
                  err)
  end)

  it("raises naming itself on a name that is not a string", function()
    run(function()
      assert.has_error(function() corun.spawn_named(1, print) end,
        "corun.spawn_named: bad argument #1 (string expected, got number)")
      assert.has_error(function() corun.spawn_named("x") end,
        "corun.spawn_named: bad argument #2 (function expected, got no value)")
    end)
  end)

  it("raises outside a task", function()
    assert.has_error(function() corun.spawn_named("x", print) end,
      "corun.spawn_named: must be called from a task (inside corun.run)")
  end)
end)

describe("JoinSet:spawn_named", function()
  it("names a member of the set", function()
    run(function()
      local set = corun.JoinSet()
      local a = set:spawn_named("member", function() corun.sleep(1) end)
      settle()
      assert.equal("member", info(a:id()).name)
      set:shutdown()
    end)
  end)

  it("puts the name in the JoinError join_next gives", function()
    run(function()
      local set = corun.JoinSet()
      set:spawn_named("bad", function() error("no", 0) end)
      local ok, err = set:join_next()
      assert.is_false(ok)
      assert.matches("^task %d+ %(bad%) panicked: no$", tostring(err))
    end)
  end)

  it("raises naming itself on a bad name", function()
    run(function()
      local set = corun.JoinSet()
      assert.has_error(function() set:spawn_named(nil, print) end,
        "JoinSet:spawn_named: bad argument #2 (string expected, got nil)")
    end)
  end)
end)

describe("corun.tasks", function()
  it("lists every live task by id, the caller included", function()
    run(function()
      local a = corun.spawn(function() corun.sleep(1) end)
      local b = corun.spawn(function() corun.sleep(1) end)
      settle()
      local ids = {}
      for _, t in ipairs(corun.tasks()) do ids[#ids + 1] = t.id end
      assert.same({ 1, a:id(), b:id() }, ids)
      a:abort(); b:abort()
      settle()
    end)
  end)

  it("leaves out a finished task, awaited or not", function()
    run(function()
      local a = corun.spawn(function() end)
      local b = corun.spawn(function() end)
      a:await()
      settle()
      assert.is_nil(info(a:id()))
      assert.is_nil(info(b:id()))
      assert.equal(1, #corun.tasks())
    end)
  end)

  it("leaves out the branches of corun.join", function()
    run(function()
      local n
      corun.join(function() n = #corun.tasks() end, function() end)
      assert.equal(1, n)
    end)
  end)

  it("says 'new' of a task that has not run yet", function()
    run(function()
      local h = corun.spawn(function() end)
      local t = info(h:id())
      assert.equal("new", t.state)
      assert.is_nil(t.waiting_on)
      assert.is_nil(t.traceback)
      h:await()
    end)
  end)

  it("says 'running' of the caller", function()
    run(function()
      local t = info(corun.task_id())
      assert.equal("running", t.state)
      assert.is_nil(t.waiting_on)
    end)
  end)

  it("says 'ready' of a task woken and not resumed yet", function()
    run(function()
      local h = corun.spawn(function() corun.yield_now() end)
      corun.yield_now()  -- it ran, and yielded: it is in the ready queue
      assert.equal("ready", info(h:id()).state)
      h:await()
    end)
  end)

  it("says 'waiting' and the time left of a sleeping task", function()
    paused(function()
      local h = corun.spawn(function() corun.sleep(0.4) end)
      settle()
      local t = info(h:id())
      assert.equal("waiting", t.state)
      assert.equal("sleep (0.4 s left)", t.waiting_on)
      corun.clock.advance(0.15)
      assert.equal("sleep (0.25 s left)", info(h:id()).waiting_on)
      h:await()
    end)
  end)

  it("names the task an await waits for", function()
    run(function()
      local n = corun.Notify()
      local a = corun.spawn_named("slow", function() n:notified() end)
      local aid = a:id()
      local b = corun.spawn(function(h) return h:await() end, a)
      settle()
      assert.equal("await task " .. aid .. " (slow)", info(b:id()).waiting_on)
      b:abort()
      n:notify_one()
      settle()
    end)
  end)

  it("describes a wait on a channel, a mutex and a semaphore", function()
    run(function()
      local tx, rx = corun.channel(1)
      local m, sem = corun.Mutex(0), corun.Semaphore(0)
      local g = m:lock()
      local r = corun.spawn(function() rx:recv() end)
      local l = corun.spawn(function() m:lock() end)
      local s = corun.spawn(function() sem:acquire() end)
      settle()
      assert.equal("recv on corun.Receiver (0 queued)", info(r:id()).waiting_on)
      assert.equal("lock on corun.Mutex (locked)", info(l:id()).waiting_on)
      assert.equal("acquire on corun.Semaphore (0 available)",
                   info(s:id()).waiting_on)
      r:abort(); l:abort(); s:abort()
      settle()
      g:unlock()
      tx:close()
    end)
  end)

  it("describes a read on a connection with its peer's address", function()
    run(function()
      local server = assert(corun.net.listen("127.0.0.1", 0))
      local _, port = server:address()
      local conn = assert(corun.net.connect("127.0.0.1", port))
      local peer = assert(server:accept())
      local h = corun.spawn(function(c) return c:read(10) end, conn)
      settle()
      assert.matches("^read on corun%.Stream %(tcp 127%.0%.0%.1:" .. port ..
                     ", 0 bytes buffered%)$", info(h:id()).waiting_on)
      h:abort()
      settle()
      peer:close()
      server:close()
    end)
  end)

  it("describes a file-system call by its path", function()
    local dir = tmpdir()
    local fifo = dir .. "/fifo"
    assert(os.execute("mkfifo " .. shell_quote(fifo)))
    run(function()
      -- opening a FIFO to read waits until a writer opens it
      local h = corun.spawn(function() return corun.fs.read_file(fifo) end)
      settle()
      assert.equal("read_file " .. fifo, info(h:id()).waiting_on)
      local f = assert(io.open(fifo, "w"))
      f:write("data")
      f:close()
      assert.same({ true, "data" }, { h:await() })
    end)
    os.execute("rm -rf " .. shell_quote(dir))
  end)

  it("says where the task's function was defined", function()
    run(function()
      local h = corun.spawn(function() corun.sleep(1) end) -- where:fn
      local new = info(h:id()).spawned_at
      settle()
      local waiting = info(h:id()).spawned_at
      local line = line_of("-- where:fn")
      assert.equal(HERE .. ":" .. line, new)
      assert.equal(HERE .. ":" .. line, waiting)
      h:abort()
      settle()
    end)
  end)

  it("says [C] of a task running a C function", function()
    run(function()
      local h = corun.spawn(corun.sleep, 1)
      assert.equal("[C]", info(h:id()).spawned_at)
      settle()
      assert.equal("[C]", info(h:id()).spawned_at)
      h:abort()
      settle()
    end)
  end)

  it("gives the traceback of a waiting task", function()
    run(function()
      local function deep() corun.sleep(1) end -- where:deep
      local h = corun.spawn(function() deep() end)
      settle()
      local tb = info(h:id()).traceback
      assert.matches("^stack traceback:\n", tb)
      -- Lua names the function from package.loaded: 'corun.sleep' or
      -- 'corun.core.sleep', whichever its search meets first
      assert.matches("\n\t%[C%]: in function 'corun%.[%w.]*sleep'\n", tb)
      assert.truthy(tb:find(HERE .. ":" .. line_of("-- where:deep"), 1, true),
                    tb)
      h:abort()
      settle()
    end)
  end)

  it("gives the traceback inside a coroutine the wait passed through",
     function()
    run(function()
      local h = corun.spawn(function()
        local co = coroutine.wrap(function() corun.sleep(1) end) -- where:co
        co()
      end)
      settle()
      local tb = info(h:id()).traceback
      assert.truthy(tb:find(HERE .. ":" .. line_of("-- where:co"), 1, true),
                    tb)
      h:abort()
      settle()
    end)
  end)

  it("raises outside a task", function()
    assert.has_error(function() corun.tasks() end,
      "corun.tasks: must be called from a task (inside corun.run)")
  end)
end)

describe("corun.dump", function()
  it("writes ten named tasks in different waits, line by line", function()
    paused(function()
      local tx, rx = corun.channel(1)
      local ftx, frx = corun.channel(1)
      assert(ftx:send("full"))
      local m, sem, n = corun.Mutex(0), corun.Semaphore(0), corun.Notify()
      local g = m:lock()
      local otx, orx = corun.oneshot()
      local wtx, wrx = corun.watch(0)
      local tok = corun.CancellationToken()
      local hs = {}
      hs[1] = corun.spawn_named("sleeper", function() corun.sleep(2.5) end)
      hs[2] = corun.spawn_named("receiver", function() rx:recv() end)
      hs[3] = corun.spawn_named("sender", function() ftx:send("more") end)
      hs[4] = corun.spawn_named("locker", function() m:lock() end)
      hs[5] = corun.spawn_named("acquirer", function() sem:acquire() end)
      hs[6] = corun.spawn_named("notified", function() n:notified() end)
      hs[7] = corun.spawn_named("awaiter", function(h) h:await() end, hs[1])
      hs[8] = corun.spawn_named("oneshot", function() orx:recv() end)
      hs[9] = corun.spawn_named("watcher", function() wrx:changed() end)
      hs[10] = corun.spawn_named("token", function() tok:cancelled() end)
      settle()
      local out = sink()
      corun.dump(out)
      local lines = {}
      for l in out.text:gmatch("[^\n]+") do
        if l:match("^corun:") or l:match("^task") then lines[#lines + 1] = l end
      end
      local id = hs[2]:id() - 1
      local function at(pattern) return HERE .. ":" .. line_of(pattern) end
      assert.same({
        "corun: 11 live tasks",
        "task 1: running, spawned at " .. lines[2]:match("spawned at (.*)$"),
        ("task %d (sleeper): waiting on sleep (2.5 s left), spawned at %s")
          :format(id, at('"sleeper"')),
        ("task %d (receiver): waiting on recv on corun.Receiver (0 queued), "
          .. "spawned at %s"):format(id + 1, at('"receiver"')),
        ("task %d (sender): waiting on send on corun.Sender (1 queued), "
          .. "spawned at %s"):format(id + 2, at('"sender"')),
        ("task %d (locker): waiting on lock on corun.Mutex (locked), "
          .. "spawned at %s"):format(id + 3, at('"locker"')),
        ("task %d (acquirer): waiting on acquire on corun.Semaphore "
          .. "(0 available), spawned at %s"):format(id + 4, at('"acquirer"')),
        ("task %d (notified): waiting on notified on %s, spawned at %s")
          :format(id + 5, tostring(n), at('"notified"')),
        ("task %d (awaiter): waiting on await task %d (sleeper), "
          .. "spawned at %s"):format(id + 6, id, at('"awaiter"')),
        ("task %d (oneshot): waiting on recv on %s, spawned at %s")
          :format(id + 7, tostring(orx), at('"oneshot"')),
        ("task %d (watcher): waiting on changed on %s, spawned at %s")
          :format(id + 8, tostring(wrx), at('"watcher"')),
        ("task %d (token): waiting on cancelled on %s, spawned at %s")
          :format(id + 9, tostring(tok), at('"token"')),
      }, lines)
      -- each waiting task's traceback follows its line, indented
      local tb = out.text:match("%(sleeper%): waiting on sleep %(2%.5 s "
        .. "left%), spawned at [^\n]*\n(  stack traceback:\n[^\n]*\n)")
      assert.matches("^  stack traceback:\n  \t%[C%]: in function "
                     .. "'corun%.[%w.]*sleep'\n$", tb)
      for i = 2, #hs do hs[i]:abort() end
      settle()
      corun.clock.advance(2.5)  -- the sleeper, moved into the awaiter
      settle()
      g:unlock()
      tx:close(); otx:close(); wtx:close()
    end)
  end)

  it("writes to io.stderr by default", function()
    local status, _, err = corun_script [[
      local corun = require "corun"
      corun.spawn_named("idle", function() corun.sleep(10) end)
      corun.sleep(0.01)
      corun.dump()
    ]]
    assert.equal(0, status)
    assert.truthy(err:find("corun: 2 live tasks\ntask 1: running", 1, true),
                  err)
    assert.truthy(err:find("\ntask 2 (idle): waiting on sleep (", 1, true), err)
  end)

  it("raises naming itself on what is not a file handle", function()
    run(function()
      assert.has_error(function() corun.dump(42) end,
        "corun.dump: bad argument #1 (file handle expected, got number)")
      assert.has_error(function() corun.dump({}) end,
        "corun.dump: bad argument #1 (file handle expected, got table)")
    end)
  end)

  it("raises outside a task", function()
    assert.has_error(function() corun.dump() end,
      "corun.dump: must be called from a task (inside corun.run)")
  end)
end)

describe("the deadlock error", function()
  it("lists three tasks waiting on each other's channels", function()
    local ok, err = pcall(corun.run, function()
      local txa, rxa = corun.channel(1)
      local txb, rxb = corun.channel(1)
      local txc, rxc = corun.channel(1)
      local function pass(rx, tx) tx:send(rx:recv()) end -- where:pass
      local a = corun.spawn_named("a", pass, rxa, txb)
      corun.spawn_named("b", pass, rxb, txc)
      corun.spawn_named("c", pass, rxc, txa)
      a:await()
    end)
    assert.is_false(ok)
    local at = HERE .. ":" .. line_of("-- where:pass")
    local lines = {}
    for l in err:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.same({
      "corun.run: deadlock: the main task waits for something that no task "
        .. "or event can bring",
      "task 1: waiting on await task 2 (a), spawned at "
        .. lines[2]:match("spawned at (.*)$"),
      "task 2 (a): waiting on recv on corun.Receiver (0 queued), spawned at "
        .. at,
      "task 3 (b): waiting on recv on corun.Receiver (0 queued), spawned at "
        .. at,
      "task 4 (c): waiting on recv on corun.Receiver (0 queued), spawned at "
        .. at,
    }, lines)
  end)
end)

describe("SIGQUIT in the corun executable", function()
  it("writes the dump to stderr and the program goes on", function()
    local dir = tmpdir()
    local script = dir .. "/quit.lua"
    local f = assert(io.open(script, "w"))
    f:write([[
      local corun = require "corun"
      local flag = ...
      corun.spawn_named("ticker", function() corun.sleep(3600) end)
      print("ready")
      io.stdout:flush()
      for _ = 1, 1200 do  -- until the spec says the dump came (60 s)
        local f = io.open(flag)
        if f then f:close() break end
        corun.sleep(0.05)
      end
      print("later")
    ]])
    f:close()
    local status, out = sh(([[
      %s %s %s/flag > %s/out 2> %s/err &
      pid=$!
      i=0; until grep -q ready %s/out || [ $i -ge 600 ]; do sleep 0.1; i=$((i+1)); done
      kill -QUIT $pid
      i=0; until grep -q 'live task' %s/err || [ $i -ge 600 ]; do sleep 0.1; i=$((i+1)); done
      touch %s/flag
      wait $pid
      echo "status $?"
    ]]):format(CORUN, script, dir, dir, dir, dir, dir, dir))
    local stdout, stderr = slurp(dir .. "/out"), slurp(dir .. "/err")
    os.execute("rm -rf " .. shell_quote(dir))
    assert.equal(0, status)
    assert.equal("status 0\n", out)
    assert.equal("ready\nlater\n", stdout)
    assert.truthy(stderr:find("corun: 2 live tasks\ntask 1: waiting on "
      .. "sleep (", 1, true), stderr)
    assert.truthy(stderr:find("\ntask 2 (ticker): waiting on sleep (", 1,
                              true), stderr)
  end)
end)

describe("a panic nobody can observe", function()
  it("is reported when its JoinSet lets go of the running task", function()
    local status, out, err = corun_script [[
      local corun = require "corun"
      local set = corun.JoinSet()
      set:spawn_named("orphan", function() corun.sleep(0.01) error("late", 0) end)
      set:detach_all()
      corun.sleep(0.05)
      io.stderr:write("-- before the end\n")
    ]]
    assert.equal(0, status, err)
    local at = err:find("corun: task 2 (orphan) panicked: late\n", 1, true)
    assert.truthy(at, err)
    assert.truthy(at < err:find("-- before the end", 1, true), err)
  end)

  it("is reported when its JoinSet lets go of the ended task", function()
    local _, _, err = corun_script [[
      local corun = require "corun"
      local set = corun.JoinSet()
      set:spawn(function() error("unjoined", 0) end)
      corun.sleep(0.01)
      set:close()
      io.stderr:write("-- after close\n")
      corun.sleep(0.01)
    ]]
    local at = err:find("corun: task 2 panicked: unjoined\n", 1, true)
    assert.truthy(at, err)
    assert.truthy(at < err:find("-- after close", 1, true), err)
    local _, count = err:gsub("panicked: unjoined", "")
    assert.equal(1, count)
  end)

  it("is reported when its handle is collected", function()
    local _, _, err = corun_script [[
      local corun = require "corun"
      corun.spawn(function() error("gone", 0) end)
      corun.sleep(0.01)
      collectgarbage()
      collectgarbage()
      io.stderr:write("-- after gc\n")
      corun.sleep(0.01)
    ]]
    local at = err:find("corun: task 2 panicked: gone\n", 1, true)
    assert.truthy(at, err)
    assert.truthy(at < err:find("-- after gc", 1, true), err)
  end)
end)
