-- corun.process: run to completion, and spawn with pipes (corun.Stream),
-- against ordinary commands (echo, cat, sh, sleep).
local corun = require "corun"


-- The state letter of process 'pid' ("R", "S", "Z"...), or nil once it
-- is gone (reaped).
local function state_of(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return nil end
  local stat = f:read("a")
  f:close()
  return stat:match("^%d+ %b() (%a)")
end

-- Children of this process that are zombies (exited, never reaped).  The
-- main thread is the one that forks.  (Not with ps: ps hangs under the
-- ASan preload of `make test-asan`.)
local function zombie_children()
  local pid = my_pid()
  local f = assert(io.open(("/proc/%d/task/%d/children"):format(pid, pid)))
  local children = f:read("a")
  f:close()
  local n = 0
  for child in children:gmatch("%d+") do
    if state_of(child) == "Z" then n = n + 1 end
  end
  return n
end

-- Zombie children left after a grace of up to 5 s, real time (a child
-- killed as a runtime ended is reaped by a thread a moment later).
local function zombies_after_grace()
  return run(function()
    local deadline = corun.now() + 5
    while zombie_children() > 0 and corun.now() < deadline do
      corun.sleep(0.01)
    end
    return zombie_children()
  end)
end

-- Wait (in a task) until 'pid' is gone, at most 'seconds' (real time: a
-- bound for a hang, generous for a busy machine); true if it is.
local function gone_within(seconds, pid)
  local deadline = corun.now() + seconds
  while state_of(pid) ~= nil do
    if corun.now() > deadline then return false end
    corun.sleep(0.01)
  end
  return true
end

-- Everything a stream gives until its end.
local function read_all(stream)
  local parts = {}
  while true do
    local data, err = stream:read()
    if not data then
      assert(err == nil, err)
      return table.concat(parts)
    end
    parts[#parts + 1] = data
  end
end

-- 1 MiB of numbered lines: a mistake anywhere shows in a compare.
local function megabyte()
  local lines = {}
  for i = 1, 16384 do lines[i] = ("%063d\n"):format(i) end
  return table.concat(lines)
end

describe("corun.process.run", function()
  it("runs /bin/echo and returns its output", function()
    local r = run(function()
      return corun.process.run("/bin/echo", { "hello", "world" })
    end)
    assert.same({ status = 0, signal = 0, stdout = "hello world\n",
                  stderr = "" }, r)
  end)

  it("looks the command up in PATH; args may be nil or empty", function()
    local a, b = run(function()
      return corun.process.run("echo", nil), corun.process.run("echo", {})
    end)
    assert.equal("\n", a.stdout)
    assert.equal("\n", b.stdout)
  end)

  it("returns nil, ENOENT naming a command that does not exist", function()
    local r, err = run(function()
      return corun.process.run("nonexistent-command", {})
    end)
    assert.is_nil(r)
    assert.equal("ENOENT: no such file or directory (nonexistent-command)",
                 err)
  end)

  it("returns a non-zero exit status", function()
    local r = run(function()
      return corun.process.run("sh", { "-c", "exit 3" })
    end)
    assert.equal(3, r.status)
    assert.equal(0, r.signal)
  end)

  it("captures stderr apart from stdout", function()
    local r = run(function()
      return corun.process.run("sh", { "-c", "echo out; echo err >&2" })
    end)
    assert.equal("out\n", r.stdout)
    assert.equal("err\n", r.stderr)
  end)

  it("gives status 128 + n and signal n for a child a signal ended",
     function()
    local r = run(function()
      return corun.process.run("sh", { "-c", "kill -TERM $$" })
    end)
    assert.equal(15, r.signal)
    assert.equal(143, r.status)
  end)

  it("feeds opts.stdin to the child, then closes it", function()
    local r = run(function()
      return corun.process.run("cat", {}, { stdin = "line 1\nline 2" })
    end)
    assert.equal("line 1\nline 2", r.stdout)
    assert.equal(0, r.status)
  end)

  it("gives the child an empty stdin without opts.stdin", function()
    local r = run(function()
      return corun.process.run("cat", {})
    end)
    assert.equal("", r.stdout)
    assert.equal(0, r.status)
  end)

  it("does not fail when the child does not read its input", function()
    local data = megabyte()
    local r = run(function()
      return corun.process.run("true", {}, { stdin = data })
    end)
    assert.equal(0, r.status)
  end)

  it("collects a lot on both outputs at once, with a lot of input",
     function()
    local data = megabyte()
    local r = run(function(data)
      -- stderr first: a reader of stdout alone would block the child
      return corun.process.run("sh", { "-c",
        "head -c 1000000 /dev/zero | tr '\\0' e >&2; cat" },
        { stdin = data })
    end, data)
    assert.equal(0, r.status)
    assert.equal(1000000, #r.stderr)
    assert.equal(("e"):rep(1000000), r.stderr)
    assert.is_true(r.stdout == data)
  end)

  it("replaces the environment with opts.env", function()
    local r = run(function()
      return corun.process.run("/bin/sh", { "-c",
        "echo \"$CORUN_X:${HOME-unset}\"" }, { env = { CORUN_X = "x y" } })
    end)
    assert.equal("x y:unset\n", r.stdout)
  end)

  it("inherits the environment without opts.env", function()
    local r = run(function()
      return corun.process.run("sh", { "-c", "echo \"$HOME\"" })
    end)
    assert.equal(os.getenv("HOME") .. "\n", r.stdout)
  end)

  it("runs in opts.cwd", function()
    local r = run(function()
      return corun.process.run("pwd", {}, { cwd = "/" })
    end)
    assert.equal("/\n", r.stdout)
  end)

  it("returns nil, err for a cwd that does not exist", function()
    local r, err = run(function()
      return corun.process.run("pwd", {}, { cwd = "/nonexistent-dir" })
    end)
    assert.is_nil(r)
    assert.matches("^ENOENT: ", err)
  end)

  -- Real clock: a child holds a paused clock, so there the deadline
  -- would pass only once sleep 10 had ended.
  it("kills the child when corun.timeout cancels it", function()
    local ok, err, elapsed = run(function()
      local t0 = corun.now()
      local ok, err = corun.timeout(0.1, corun.process.run, "sleep", { "10" })
      return ok, err, corun.now() - t0
    end)
    assert.is_false(ok)
    assert.equal("deadline has elapsed", err)
    assert.is_true(elapsed >= 0.1, elapsed)   -- the deadline, never earlier
    assert.is_true(elapsed < 5, elapsed)      -- not the child's 10 s
    assert.equal(0, zombies_after_grace())
  end)

  it("raises on bad arguments", function()
    local function message(...)
      local args = table.pack(...)
      return run(function()
        local ok, err = pcall(corun.process.run, table.unpack(args, 1, args.n))
        return ok or err
      end)
    end
    assert.equal("corun.process.run: bad argument #1 (string expected, got "
                 .. "number)", message(42))
    assert.equal("corun.process.run: bad argument #2 (table of arguments "
                 .. "expected, got string)", message("echo", "hi"))
    assert.equal("corun.process.run: bad argument #2 (args[2] must be a "
                 .. "string, got table)", message("echo", { "a", {} }))
    assert.equal("corun.process.run: bad argument #3 (unknown option "
                 .. "'stdio')", message("echo", {}, { stdio = "pipe" }))
    assert.equal("corun.process.run: bad argument #3 (opts.stdin must be a "
                 .. "string, got number)", message("cat", {}, { stdin = 1 }))
    assert.equal("corun.process.run: bad argument #3 (opts.env.X must be a "
                 .. "string, got boolean)",
                 message("echo", {}, { env = { X = true } }))
  end)

  it("must be called from a task", function()
    assert.has_error(function() corun.process.run("echo", {}) end,
      "corun.process.run: must be called from a task (inside corun.run)")
  end)
end)

describe("corun.process.spawn", function()
  it("inherits stdio by default: no pipes", function()
    local stdin, stdout, stderr, status = run(function()
      local p = assert(corun.process.spawn("true", {}))
      return p.stdin, p.stdout, p.stderr, p:wait()
    end)
    assert.is_nil(stdin)
    assert.is_nil(stdout)
    assert.is_nil(stderr)
    assert.equal(0, status)
  end)

  it("gives connection-like streams with stdio = \"pipe\"", function()
    local names, line, err, status = run(function()
      local p = assert(corun.process.spawn("sh", { "-c",
        "read x; echo \"got $x\"; echo oops >&2" }, { stdio = "pipe" }))
      local names = { getmetatable(p.stdin).__name,
                      getmetatable(p.stdout).__name,
                      getmetatable(p.stderr).__name }
      assert(p.stdin:write("hi\n"))
      local line = p.stdout:read_line()
      local err = read_all(p.stderr)
      return names, line, err, p:wait()
    end)
    assert.same({ "corun.Stream", "corun.Stream", "corun.Stream" }, names)
    assert.equal("got hi", line)
    assert.equal("oops\n", err)
    assert.equal(0, status)
  end)

  it("pipes only what opts.stdio asks for", function()
    local stdin, out, stderr = run(function()
      local p = assert(corun.process.spawn("echo", { "x" },
        { stdio = { stdout = "pipe", stderr = "null" } }))
      local out = read_all(p.stdout)
      p:wait()
      return p.stdin, out, p.stderr
    end)
    assert.is_nil(stdin)
    assert.equal("x\n", out)
    assert.is_nil(stderr)
  end)

  it("carries 1 MB through cat, written by one task and read by another",
     function()
    local data = megabyte()
    local got, wrote, status = run(function(data)
      local cat = assert(corun.process.spawn("cat", {},
        { stdio = { stdin = "pipe", stdout = "pipe" } }))
      local writer = corun.spawn(function(stdin, data)
        for i = 1, #data, 10000 do
          assert(stdin:write(data:sub(i, i + 9999)))
        end
        stdin:close()
        return true
      end, cat.stdin, data)
      local reader = corun.spawn(read_all, cat.stdout)
      local _, got = reader:await()
      local _, wrote = writer:await()
      return got, wrote, cat:wait()
    end, data)
    assert.is_true(wrote)
    assert.equal(#data, #got)
    assert.is_true(got == data)
    assert.equal(0, status)
  end)

  -- Real clock: wait holds a paused clock, which cannot time it.
  it("kills sleep 10: kill returns true, wait returns signal 15 at once",
     function()
    local killed, status, signal, elapsed = run(function()
      local p = assert(corun.process.spawn("sleep", { "10" }))
      local t0 = corun.now()
      local killed = p:kill()
      local status, signal = p:wait()
      return killed, status, signal, corun.now() - t0
    end)
    assert.is_true(killed)
    assert.equal(15, signal)
    assert.equal(143, status)
    assert.is_true(elapsed < 5, elapsed)      -- not sleep's 10 s
  end)

  it("kills with a signal name or number", function()
    local a, b = run(function()
      local p = assert(corun.process.spawn("sleep", { "10" }))
      local q = assert(corun.process.spawn("sleep", { "10" }))
      p:kill("SIGKILL")
      q:kill(2)
      return { p:wait() }, { q:wait() }
    end)
    assert.same({ 137, 9 }, a)
    assert.same({ 130, 2 }, b)
  end)

  it("returns nil, ESRCH from kill once the child has exited", function()
    local ok, err = run(function()
      local p = assert(corun.process.spawn("true", {}))
      p:wait()
      return p:kill()
    end)
    assert.is_nil(ok)
    assert.matches("^ESRCH: no such process %(pid %d+ has exited%)$", err)
  end)

  it("returns the same from wait after the exit", function()
    local first, second = run(function()
      local p = assert(corun.process.spawn("sh", { "-c", "exit 7" }))
      return { p:wait() }, { p:wait() }
    end)
    assert.same({ 7, 0 }, first)
    assert.same({ 7, 0 }, second)
  end)

  it("closes stdin before waiting, so that cat ends", function()
    local status = run(function()
      local p = assert(corun.process.spawn("cat", {},
        { stdio = { stdin = "pipe" } }))
      return p:wait()
    end)
    assert.equal(0, status)
  end)

  it("gives the child's pid", function()
    local pid, state = run(function()
      local p = assert(corun.process.spawn("sleep", { "10" }))
      local pid, state = p:pid(), state_of(p:pid())
      p:kill()
      p:wait()
      return pid, state
    end)
    assert.is_true(math.type(pid) == "integer" and pid > 0)
    assert.is_not_nil(state)
  end)

  it("returns nil, ENOENT naming a command that does not exist", function()
    local p, err = run(function()
      return corun.process.spawn("nonexistent-command", {},
                                 { stdio = "pipe" })
    end)
    assert.is_nil(p)
    assert.equal("ENOENT: no such file or directory (nonexistent-command)",
                 err)
  end)

  it("applies env and cwd", function()
    local out = run(function()
      local p = assert(corun.process.spawn("/bin/sh",
        { "-c", "echo \"$CORUN_X\"; pwd" },
        { env = { CORUN_X = 42 }, cwd = "/", stdio = { stdout = "pipe" } }))
      local out = read_all(p.stdout)
      p:wait()
      return out
    end)
    assert.equal("42\n/\n", out)
  end)

  it("moves into a spawned task with its pipes; the spawner cannot use it",
     function()
    local results, wait_err, read_err = run(function()
      local p = assert(corun.process.spawn("cat", {}, { stdio = "pipe" }))
      local stdout = p.stdout
      local h = corun.spawn(function(p)
        assert(p.stdin:write("moved\n"))
        local line = p.stdout:read_line()
        return line, p:wait()
      end, p)
      local _, wait_err = pcall(p.wait, p)
      local _, read_err = pcall(stdout.read, stdout)
      return { h:await() }, wait_err, read_err
    end)
    assert.same({ true, "moved", 0, 0 }, results)
    assert.matches("^corun: process belongs to task %d+", wait_err)
    assert.matches("^corun: connection belongs to task %d+", read_err)
  end)

  it("stops waiting at a corun.timeout, and the child is left as it was",
     function()
    local ok, err, state, status, signal = run(function()
      local p = assert(corun.process.spawn("sleep", { "10" }))
      local ok, err = corun.timeout(0.05, p.wait, p)
      local state = state_of(p:pid())
      p:kill()
      return ok, err, state, p:wait()
    end)
    assert.is_false(ok)
    assert.equal("deadline has elapsed", err)
    assert.is_not_nil(state)
    assert.equal(143, status)
    assert.equal(15, signal)
    assert.equal(0, zombies_after_grace())
  end)

  it("lets the child run on when its owner ends, and reaps it later",
     function()
    local running, reaped = run(function()
      local h = corun.spawn(function()
        -- 1 s: it still runs when checked below, however busy the machine
        return corun.process.spawn("sleep", { "1" }):pid()
      end)
      local _, pid = h:await()
      local running = state_of(pid) ~= nil and state_of(pid) ~= "Z"
      return running, gone_within(5, pid)
    end)
    assert.is_true(running)
    assert.is_true(reaped)
  end)

  it("kills the child when its owner ends with opts.kill_on_drop",
     function()
    local gone = run(function()
      local h = corun.spawn(function()
        local p = corun.process.spawn("sleep", { "10" },
                                      { kill_on_drop = true })
        return p:pid()
      end)
      local _, pid = h:await()
      return gone_within(5, pid)
    end)
    assert.is_true(gone)
  end)

  it("closes a process with <close> (the child runs on)", function()
    local closed, running, reaped = run(function()
      local p, pid
      do
        -- 1 s: it still runs when checked below, however busy the machine
        local q <close> = assert(corun.process.spawn("sleep", { "1" }))
        p, pid = q, q:pid()
      end
      local running = state_of(pid) ~= nil and state_of(pid) ~= "Z"
      return tostring(p), running, gone_within(5, pid)
    end)
    assert.equal("corun.Process (closed)", closed)
    assert.is_true(running)
    assert.is_true(reaped)
  end)

  it("reaps a child still running when the runtime ends", function()
    local pid = run(function()
      -- 1 s: it still runs when checked below, however busy the machine
      return corun.process.spawn("sleep", { "1" }):pid()
    end)
    assert.is_not_nil(state_of(pid))
    local reaped = run(function() return gone_within(5, pid) end)
    assert.is_true(reaped)
  end)

  it("describes itself with tostring", function()
    local running, exited = run(function()
      local p = assert(corun.process.spawn("sh", { "-c", "exit 2" }))
      local running = tostring(p)
      p:wait()
      return running, tostring(p)
    end)
    assert.matches("^corun.Process %(pid %d+, running%)$", running)
    assert.matches("^corun.Process %(pid %d+, exited with 2%)$", exited)
  end)

  it("raises on bad arguments", function()
    local function message(fn)
      return run(function()
        local ok, err = pcall(fn)
        return ok or err
      end)
    end
    local spawn = corun.process.spawn
    assert.equal("corun.process.spawn: bad argument #3 (opts.stdio must be "
                 .. "\"pipe\", \"inherit\" or \"null\", got pipes)",
                 message(function()
                   spawn("true", {}, { stdio = "pipes" })
                 end))
    assert.equal("corun.process.spawn: bad argument #3 (opts.stdio: "
                 .. "unknown stream 'stdon')",
                 message(function()
                   spawn("true", {}, { stdio = { stdon = "pipe" } })
                 end))
    assert.equal("corun.process.spawn: bad argument #3 (opts.env must be a "
                 .. "table, got string)",
                 message(function() spawn("true", {}, { env = "A=1" }) end))
    assert.equal("corun.process.spawn: bad argument #3 (opts.kill_on_drop "
                 .. "must be a boolean, got number)",
                 message(function() spawn("true", {}, { kill_on_drop = 1 })
                 end))
    assert.equal("process:kill: bad argument #2 (unknown signal 'SIGFOO')",
                 message(function()
                   local p = spawn("sleep", { "10" }, { kill_on_drop = true })
                   p:kill("SIGFOO")
                 end))
    assert.equal("process:wait: bad argument #1 (corun.Process expected, "
                 .. "got no value)",
                 message(function()
                   local p = spawn("true", {})
                   p.wait()
                 end))
  end)

  it("must be called from a task", function()
    assert.has_error(function() corun.process.spawn("true", {}) end,
      "corun.process.spawn: must be called from a task (inside corun.run)")
  end)

  it("leaves no zombie child behind", function()
    run(function()
      for _ = 1, 5 do
        assert(corun.process.spawn("true", {})):wait()
        assert(corun.process.run("true", {}))
      end
    end)
    assert.equal(0, zombies_after_grace())
  end)
end)

-- The child enters opts.cwd before it runs the command, and libuv reports
-- a failure of either with the same errno: the error names what failed.
describe("corun.process.run", function()
  it("names the directory when opts.cwd cannot be entered", function()
    local r1, missing, r2, file = run(function()
      local r1, e1 = corun.process.run("true", {},
                                       { cwd = "/nonexistent-dir" })
      local r2, e2 = corun.process.run("true", {}, { cwd = "/etc/passwd" })
      return r1, e1, r2, e2
    end)
    assert.is_nil(r1)
    assert.equal("ENOENT: no such file or directory (cwd /nonexistent-dir)",
                 missing)
    assert.is_nil(r2)
    assert.equal("ENOTDIR: not a directory (cwd /etc/passwd)", file)
  end)

  it("names the command when the directory is fine", function()
    local r, err = run(function()
      return corun.process.run("/nonexistent-command", {}, { cwd = "/" })
    end)
    assert.is_nil(r)
    assert.equal("ENOENT: no such file or directory (/nonexistent-command)",
                 err)
  end)

  it("raises for a command or a cwd with a zero byte", function()
    local e1, e2 = run(function()
      return select(2, pcall(corun.process.run, "tr\0ue", {})),
             select(2, pcall(corun.process.run, "true", {}, { cwd = "/\0x" }))
    end)
    assert.equal("corun.process.run: bad argument #1 (command contains a "
                 .. "zero byte)", e1)
    assert.equal("corun.process.run: bad argument #3 (opts.cwd contains a "
                 .. "zero byte)", e2)
  end)
end)

describe("corun.process.spawn", function()
  it("names the directory when opts.cwd cannot be entered", function()
    local p, err = run(function()
      return corun.process.spawn("true", {}, { cwd = "/nonexistent-dir" })
    end)
    assert.is_nil(p)
    assert.equal("ENOENT: no such file or directory (cwd /nonexistent-dir)",
                 err)
  end)
end)
