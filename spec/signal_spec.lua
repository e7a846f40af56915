-- corun.signal.wait: the process sends signals to itself through a child
-- (`kill -USR1 <pid>`, the pid read from /proc/self/stat; or
-- `sh -c 'kill -INT $PPID'`: the parent of the shell is this process).
local corun = require "corun"


-- Send signal 'name' ("USR1") to this process, from a child.
local function raise(name)
  local r = assert(corun.process.run("kill", { "-" .. name,
                                              tostring(my_pid()) }))
  assert(r.status == 0, r.stderr)
end

describe("corun.signal.wait", function()
  it("returns the name of the signal when it arrives", function()
    local got = run(function()
      local waiter = corun.spawn(corun.signal.wait, "SIGUSR1")
      settle()              -- the waiter watches from here on
      raise("USR1")
      return select(2, waiter:await())
    end)
    assert.equal("SIGUSR1", got)
  end)

  it("wakes every task that waits for the signal", function()
    local a, b = run(function()
      local h1 = corun.spawn(corun.signal.wait, "SIGUSR2")
      local h2 = corun.spawn(corun.signal.wait, "SIGUSR2")
      settle()
      raise("USR2")
      return select(2, h1:await()), select(2, h2:await())
    end)
    assert.equal("SIGUSR2", a)
    assert.equal("SIGUSR2", b)
  end)

  it("wakes only the tasks that wait for that signal", function()
    local first, other = run(function()
      local usr1 = corun.spawn(corun.signal.wait, "SIGUSR1")
      local hup = corun.spawn(corun.signal.wait, "SIGHUP")
      settle()
      raise("USR1")
      local first = select(2, usr1:await())
      settle()
      local other = hup:is_finished()
      hup:abort()
      return first, other
    end)
    assert.equal("SIGUSR1", first)
    assert.is_false(other)
  end)

  it("honours corun.timeout and leaves nothing watching", function()
    -- paused clock: a signal wait does not hold it
    local ok, err, waited = paused(function()
      local t0 = corun.now()
      local ok, err = corun.timeout(0.05, corun.signal.wait, "SIGUSR1")
      return ok, err, corun.now() - t0
    end)
    assert.is_false(ok)           -- and the run returned: no handle kept
    assert.equal("deadline has elapsed", err)
    near(0.05, waited)
  end)

  it("stops watching when the waiting task is aborted", function()
    local finished = run(function()
      local h = corun.spawn(corun.signal.wait, "SIGUSR1")
      settle()
      h:abort()
      local ok, err = h:await()
      return not ok and err:is_cancelled()
    end)
    assert.is_true(finished)
  end)

  it("raises on an unknown signal name", function()
    local err = run(function()
      return select(2, pcall(corun.signal.wait, "SIGFOO"))
    end)
    assert.equal("corun.signal.wait: bad argument #1 (unknown signal "
                 .. "'SIGFOO')", err)
  end)

  it("raises on a signal that cannot be waited for", function()
    local kill, stop = run(function()
      return select(2, pcall(corun.signal.wait, "SIGKILL")),
             select(2, pcall(corun.signal.wait, "SIGSTOP"))
    end)
    assert.equal("corun.signal.wait: bad argument #1 (SIGKILL cannot be "
                 .. "waited for)", kill)
    assert.equal("corun.signal.wait: bad argument #1 (SIGSTOP cannot be "
                 .. "waited for)", stop)
  end)

  it("raises on a name that is not a string", function()
    local err = run(function()
      return select(2, pcall(corun.signal.wait, 2))
    end)
    assert.equal("corun.signal.wait: bad argument #1 (signal name expected, "
                 .. "got number)", err)
  end)

  it("must be called from a task", function()
    assert.has_error(function() corun.signal.wait("SIGUSR1") end,
      "corun.signal.wait: must be called from a task (inside corun.run)")
  end)

  it("in the corun executable, gets SIGINT instead of the main task; "
     .. "then SIGINT cancels the main task again", function()
    local status, out, err = corun_script([[
      local corun = require "corun"
      local function raise()
        corun.process.run("sh", { "-c", "kill -INT $PPID" })
      end
      local h = corun.spawn(corun.signal.wait, "SIGINT")
      corun.yield_now()
      raise()
      print(select(2, h:await()))
      print("main still runs")
      io.stdout:flush()
      raise()
      corun.sleep(5)
      print("not reached")
    ]])
    assert.equal("SIGINT\nmain still runs\n", out)
    assert.equal(130, status)
    assert.matches("interrupted", err)
  end)

  it("keeps SIGINT from killing a plain Lua process while it waits",
     function()
    local build = os.getenv("CORUN_BUILD") or "build"
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write([[
      package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
      package.cpath = ]] .. ("%q"):format(build .. "/lib/?.so;")
        .. [[ .. package.cpath
      local corun = require "corun"
      print(corun.run(function()
        local h = corun.spawn(corun.signal.wait, "SIGINT")
        corun.yield_now()
        corun.process.run("sh", { "-c", "kill -INT $PPID" })
        return select(2, h:await())
      end))
    ]])
    f:close()
    local status, out = exec("lua5.4", { path })
    os.remove(path)
    assert.equal(0, status)
    assert.equal("SIGINT\n", out)
  end)

  it("gives a signal its previous action back when the wait ends " ..
     "(SIGPIPE stays ignored: a write to a closed peer fails with EPIPE)",
     function()
    local status, out, err = corun_script([[
      local corun = require "corun"
      print(corun.timeout(0.05, corun.signal.wait, "SIGPIPE"))
      local server = assert(corun.net.listen("127.0.0.1", 0))
      local _, port = server:address()
      local c = assert(corun.net.connect("127.0.0.1", port))
      server:accept():close()
      corun.sleep(0.05)
      local last
      for _ = 1, 20 do
        local ok, e = c:write(("x"):rep(100000))
        if not ok then last = e break end
        corun.sleep(0.01)
      end
      print(last ~= nil)
      print("alive")
    ]])
    assert.equal(0, status, err)
    assert.equal("false\tdeadline has elapsed\ntrue\nalive\n", out)
  end)
end)

describe("corun.signal.wait", function()
  it("leaves SIGCHLD to libuv when a wait for it ends: a child still "
     .. "running is reaped after, and so are later ones", function()
    local status, out, err = corun_script([[
      local corun = require "corun"
      local h = corun.spawn(corun.signal.wait, "SIGCHLD")
      corun.yield_now()
      local p = assert(corun.process.spawn("sleep", { "0.2" }))
      print(corun.process.run("true", {}).status)  -- its SIGCHLD ends h
      print(h:await())
      print(corun.timeout(5, p.wait, p))
      print(corun.timeout(5, function()
        return corun.process.run("true", {}).status
      end))
    ]])
    assert.equal(0, status, err)
    assert.equal("0\ntrue\tSIGCHLD\ntrue\t0\t0\ntrue\t0\n", out)
  end)
end)
