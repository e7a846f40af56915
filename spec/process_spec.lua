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

-- Process groups, sessions, user and group ids (opts.process_group,
-- opts.detached, opts.uid, opts.gid; proc:kill(sig, {group = true})).
-- Processes whose parent died are reparented to init, which may not reap
-- them (a container's): "gone" means gone or a zombie (not running).

-- State, process group and session of 'pid' from /proc, or nil if gone.
local function ids_of(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return nil end
  local stat = f:read("a")
  f:close()
  local state, pgrp, sid = stat:match("^%d+ %b() (%a) %d+ (%d+) (%d+)")
  return state, tonumber(pgrp), tonumber(sid)
end

local function running(pid)
  local state = ids_of(pid)
  return state ~= nil and state ~= "Z"
end

-- In a task: the pids of the processes of group 'pgrp' still running.
local function members(pgrp)
  local list = {}
  for _, name in ipairs(assert(corun.fs.list("/proc"))) do
    local pid = tonumber(name)
    if pid then
      local state, group = ids_of(pid)
      if group == pgrp and state ~= "Z" then list[#list + 1] = pid end
    end
  end
  table.sort(list)
  return list
end

-- In a task: wait (real time, up to 5 s) until 'cond()' is true; its
-- last answer.
local function within5(cond)
  local deadline = corun.now() + 5
  while not cond() and corun.now() < deadline do corun.sleep(0.01) end
  return cond()
end

-- In a task: the number file 'path' holds, once a child has written it
-- (up to 5 s).
local function number_in(path)
  local n
  within5(function()
    local f = io.open(path)
    n = f and tonumber(f:read("a"))
    if f then f:close() end
    return n ~= nil
  end)
  return n
end

-- 'cmd' for sh -c, without the sanitizer preload for what it starts.
local function sh_cmd(cmd) return "unset LD_PRELOAD; " .. cmd end

describe("corun.process opts.process_group", function()
  it("makes the child lead a new process group (and session)", function()
    local pid, pgrp, sid, ours = run(function()
      local p = assert(corun.process.spawn("sleep", { "10" },
                                           { process_group = true }))
      local q = assert(corun.process.spawn("sleep", { "10" }))
      local _, pgrp, sid = ids_of(p:pid())
      local _, qgrp = ids_of(q:pid())
      p:kill()
      q:kill()
      p:wait()
      q:wait()
      return p:pid(), pgrp, sid, qgrp
    end)
    assert.equal(pid, pgrp)
    assert.equal(pid, sid)
    local _, mine = ids_of(my_pid())
    assert.equal(mine, ours)  -- without the option: our group
  end)

  -- The issue's case: `sh -c 'sleep 30'` timed out, its sleep left behind.
  it("kills the whole group when a run times out: the grandchild is gone",
     function()
    local path = os.tmpname()
    local before, ok, err, after = run(function()
      local h = corun.spawn(function()
        return corun.timeout(1, corun.process.run, "sh",
          { "-c", sh_cmd("echo $$ >" .. path .. "; sleep 30; true") },
          { process_group = true })
      end)
      local pgrp = number_in(path)
      within5(function() return #members(pgrp) == 2 end)
      local before = members(pgrp)      -- sh and its sleep
      local _, ok, err = h:await()
      within5(function() return #members(pgrp) == 0 end)
      return before, ok, err, members(pgrp)
    end)
    os.remove(path)
    assert.equal(2, #before)
    assert.is_false(ok)
    assert.equal("deadline has elapsed", err)
    assert.same({}, after)
  end)

  it("kills the group when the run is aborted", function()
    local path = os.tmpname()
    local before, after = run(function()
      local h = corun.spawn(corun.process.run, "sh",
        { "-c", sh_cmd("echo $$ >" .. path .. "; sleep 30; true") },
        { process_group = true })
      local pgrp = number_in(path)
      within5(function() return #members(pgrp) == 2 end)
      local before = #members(pgrp)
      h:abort()
      within5(function() return #members(pgrp) == 0 end)
      return before, #members(pgrp)
    end)
    os.remove(path)
    assert.equal(2, before)
    assert.equal(0, after)
  end)

  -- Why the option exists: the cancelled run kills only its child.
  it("without it, a timed-out run leaves the grandchild running", function()
    local path = os.tmpname()
    local left = run(function()
      local ok = corun.timeout(0.3, corun.process.run, "sh",
        { "-c", sh_cmd("sleep 30 & echo $! >" .. path .. "; wait") })
      assert(not ok)
      local pid = number_in(path)
      local left = running(pid)
      corun.process.run("kill", { "-KILL", tostring(pid) })
      return left
    end)
    os.remove(path)
    assert.is_true(left)
  end)

  it("kills the group on cancel also once the leader has exited",
     function()
    -- sh exits at once; its sleep keeps stdout open, so run still waits
    local path = os.tmpname()
    local ok, was, is = run(function()
      local h = corun.spawn(function()
        return corun.timeout(1, corun.process.run, "sh",
          { "-c", sh_cmd("sleep 30 & echo $! >" .. path) },
          { process_group = true })
      end)
      local pid = number_in(path)
      local was = running(pid)
      local _, ok = h:await()
      return ok, was, within5(function() return not running(pid) end)
    end)
    os.remove(path)
    assert.is_false(ok)
    assert.is_true(was)
    assert.is_true(is)
  end)

  it("leaves the group alone when the run ends by itself", function()
    local alive = run(function()
      local r = assert(corun.process.run("sh", { "-c",
        sh_cmd("sleep 30 >/dev/null 2>&1 & echo $!") },
        { process_group = true }))
      local pid = tonumber(r.stdout)
      local alive = running(pid)
      corun.process.run("kill", { "-KILL", tostring(pid) })
      return alive
    end)
    assert.is_true(alive)
  end)

  it("kill_on_drop kills the group when the owner ends", function()
    local gone = run(function()
      local h = corun.spawn(function()
        local p = assert(corun.process.spawn("sh",
          { "-c", sh_cmd("sleep 30 & echo $!; wait") },
          { process_group = true, kill_on_drop = true,
            stdio = { stdout = "pipe" } }))
        return tonumber(p.stdout:read_line())
      end)
      local _, pid = h:await()
      return within5(function() return not running(pid) end)
    end)
    assert.is_true(gone)
  end)

  it("is accepted by run: the child leads its group", function()
    local out = run(function()
      return assert(corun.process.run("sh", { "-c",
        "echo $$; cut -d' ' -f5 /proc/$$/stat" },
        { process_group = true })).stdout
    end)
    local pid, pgrp = out:match("^(%d+)\n(%d+)\n$")
    assert.equal(pid, pgrp)
  end)

  it("raises for a value that is not a boolean", function()
    local e1, e2 = run(function()
      return select(2, pcall(corun.process.spawn, "true", {},
                             { process_group = 1 })),
             select(2, pcall(corun.process.run, "true", {},
                             { detached = "yes" }))
    end)
    assert.equal("corun.process.spawn: bad argument #3 (opts.process_group "
                 .. "must be a boolean, got number)", e1)
    assert.equal("corun.process.run: bad argument #3 (opts.detached must be "
                 .. "a boolean, got string)", e2)
  end)
end)

describe("process:kill(signal, {group = true})", function()
  it("signals the whole group: the shell and its children", function()
    local killed, status, signal, gone = run(function()
      local p = assert(corun.process.spawn("sh",
        { "-c", sh_cmd("sleep 30 & echo $!; wait") },
        { process_group = true, stdio = { stdout = "pipe" } }))
      local pid = tonumber(p.stdout:read_line())
      local killed = p:kill("SIGTERM", { group = true })
      local status, signal = p:wait()
      return killed, status, signal,
             within5(function() return not running(pid) end)
    end)
    assert.is_true(killed)
    assert.equal(143, status)
    assert.equal(15, signal)
    assert.is_true(gone)
  end)

  it("reaches the members left after the leader exited, then ESRCH",
     function()
    local first, gone, again = run(function()
      local p = assert(corun.process.spawn("sh",
        { "-c", sh_cmd("sleep 30 >/dev/null & echo $!") },
        { process_group = true, stdio = { stdout = "pipe" } }))
      local pid = tonumber(p.stdout:read_line())
      assert(p:wait() == 0)
      local first = p:kill("SIGKILL", { group = true })
      local gone = within5(function() return not running(pid) end)
      -- the killed sleep may stay a zombie of init's: the group lives on
      -- until it is reaped
      local again, err
      within5(function()
        again, err = p:kill(0, { group = true })
        return again == nil
      end)
      return first, gone, err or again
    end)
    assert.is_true(first)
    assert.is_true(gone)
    if again ~= true then  -- else init here does not reap
      assert.matches("^ESRCH: no such process %(process group %d+%)$", again)
    end
  end)

  it("works for a detached child, which leads a group too", function()
    local ok = run(function()
      local p = assert(corun.process.spawn("sleep", { "10" },
                                           { detached = true }))
      local ok = p:kill("SIGKILL", { group = true })
      p:wait()
      return ok
    end)
    assert.is_true(ok)
  end)

  it("raises for a child that leads no group, and for bad options",
     function()
    local e1, e2, e3, e4 = run(function()
      local p = assert(corun.process.spawn("sleep", { "10" },
                                           { kill_on_drop = true }))
      local function try(...) return select(2, pcall(p.kill, p, ...)) end
      return try("SIGTERM", { group = true }), try(nil, { grp = true }),
             try(nil, "group"), try(nil, { group = 1 })
    end)
    assert.equal("process:kill: the process leads no process group (spawn "
                 .. "it with process_group = true)", e1)
    assert.equal("process:kill: bad argument #3 (unknown option 'grp')", e2)
    assert.equal("process:kill: bad argument #3 (table of options expected, "
                 .. "got string)", e3)
    assert.equal("process:kill: bad argument #3 (opts.group must be a "
                 .. "boolean, got number)", e4)
  end)
end)

describe("corun.process opts.detached", function()
  -- A corun child leading a group of its own starts a plain and a detached
  -- sleep, then the whole group gets SIGTERM (as a terminal's Ctrl-C or
  -- hang-up reaches a group): the detached sleep runs on, past the end of
  -- the runtime that started it.
  it("keeps the child out of its parent's group: it outlives the parent",
     function()
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write([[
      local corun = require "corun"
      local cmd = { "-c", "unset LD_PRELOAD; exec sleep 30" }
      local plain = assert(corun.process.spawn("sh", cmd))
      local away = assert(corun.process.spawn("sh", cmd,
                                              { detached = true }))
      print(plain:pid(), away:pid())
      io.stdout:flush()
      corun.sleep(30)
    ]])
    f:close()
    local status, plain_gone, away_alive, away_sid = run(function()
      local p = assert(corun.process.spawn(CORUN, { script },
        { process_group = true, stdio = { stdout = "pipe" } }))
      local line = assert(p.stdout:read_line())
      local plain, away = line:match("^(%d+)%s+(%d+)$")
      assert(p:kill("SIGTERM", { group = true }))
      local status = p:wait()
      local plain_gone = within5(function() return not running(plain) end)
      local away_alive = running(away)
      local _, _, sid = ids_of(away)
      corun.process.run("kill", { "-KILL", away })
      return status, plain_gone, away_alive, sid == tonumber(away)
    end)
    os.remove(script)
    assert.equal(143, status)
    assert.is_true(plain_gone)
    assert.is_true(away_alive)
    assert.is_true(away_sid)
  end)
end)

describe("corun.process opts.uid and opts.gid", function()
  local function euid()
    local p = io.popen("id -u")
    local id = tonumber(p:read("a"))
    p:close()
    return id
  end

  it("runs the child as that user and group (as root)", function()
    if euid() ~= 0 then return end  -- only root may switch
    local r = run(function()
      return assert(corun.process.run("sh", { "-c", "id -u; id -g" },
                                      { uid = 65534, gid = 65534 }))
    end)
    assert.equal("65534\n65534\n", r.stdout)
  end)

  it("returns nil, EPERM naming the ids when we may not switch", function()
    local out
    if euid() == 0 then  -- ask from a corun child that is not root
      out = run(function()
        local r = assert(corun.process.run(CORUN, { "-e", [[
          local corun = require "corun"
          print(corun.process.run("true", {}, { uid = 0 }))
          print(corun.process.spawn("true", {}, { uid = 0, gid = 0 }))
          print(corun.process.run("true", {}, { gid = 0 }))
        ]] }, { uid = 65534, gid = 65534 }))
        return r.stdout
      end)
    else
      out = run(function()
        local a, b = corun.process.run("true", {}, { uid = 0 })
        local c, d = corun.process.spawn("true", {}, { uid = 0, gid = 0 })
        local e, f = corun.process.run("true", {}, { gid = 0 })
        return ("%s\t%s\n%s\t%s\n%s\t%s\n"):format(a, b, c, d, e, f)
      end)
    end
    assert.equal("nil\tEPERM: operation not permitted (true, uid 0)\n"
                 .. "nil\tEPERM: operation not permitted (true, uid 0, gid "
                 .. "0)\n"
                 .. "nil\tEPERM: operation not permitted (true, gid 0)\n",
                 out)
  end)

  it("raises for an id that is not an integer 0..4294967294", function()
    local e1, e2, e3 = run(function()
      return select(2, pcall(corun.process.run, "true", {}, { uid = -1 })),
             select(2, pcall(corun.process.spawn, "true", {},
                             { gid = 1.5 })),
             select(2, pcall(corun.process.run, "true", {}, { uid = "0" }))
    end)
    assert.equal("corun.process.run: bad argument #3 (opts.uid must be "
                 .. "0..4294967294, got -1)", e1)
    assert.equal("corun.process.spawn: bad argument #3 (opts.gid must be an "
                 .. "integer, got float)", e2)
    assert.equal("corun.process.run: bad argument #3 (opts.uid must be an "
                 .. "integer, got string)", e3)
  end)
end)
