-- corun.io.stdin, stdout and stderr: build/corun runs as a child whose
-- standard streams are pipes (corun.process.spawn), redirected files
-- (exec), or a pseudo-terminal (python3's pty module).
local corun = require "corun"

-- Write 'code' to a temporary script; returns its path (the caller
-- removes it).
local function script(code)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(code)
  f:close()
  return path
end

-- A script that echoes each line of stdin as "[line]" on stdout, after a
-- first line naming both streams.
local ECHO = [[
local corun = require "corun"
local i, o = assert(corun.io.stdin()), assert(corun.io.stdout())
assert(o:write(tostring(i) .. " | " .. tostring(o) .. "\n"))
while true do
  local line = i:read_line()
  if not line then break end
  assert(o:write("[" .. line .. "]\n"))
end
]]

describe("corun.io.stdin", function()
  it("reads lines from a pipe; stdout writes to a pipe", function()
    local path = script(ECHO)
    local out = run(function()
      local p = assert(corun.process.spawn(CORUN, { path },
                                           { stdio = "pipe" }))
      assert(p.stdin:write("one\ntwo\r\nlast"))
      p.stdin:close()
      local out = {}
      while true do
        local s = p.stdout:read()
        if not s then break end
        out[#out + 1] = s
      end
      assert.equal(0, p:wait())
      return table.concat(out)
    end)
    os.remove(path)
    assert.equal("corun.Stream (pipe, 0 bytes buffered) | corun.Stream "
                 .. "(pipe, 0 bytes buffered)\n[one]\n[two]\n[last]\n", out)
  end)

  it("reads from a redirected file; stdout writes to a file", function()
    local path = script(ECHO)
    local status, out, err = corun_exec({ path }, "alpha\nbeta\n")
    os.remove(path)
    assert.equal(0, status, err)
    assert.equal("corun.StdFile (stdin, 0 bytes buffered) | corun.StdFile "
                 .. "(stdout, 0 bytes buffered)\n[alpha]\n[beta]\n", out)
  end)

  it("reads from a terminal and writes to it (a pseudo-terminal)",
     function()
    local path = script(ECHO)
    local py = script([[
import os, pty, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
os.write(fd, b"typed\n")
out = b""
deadline = time.time() + 30
while time.time() < deadline and b"[typed]" not in out:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
os.write(fd, b"\x04")  # end of file, as Ctrl-D
while time.time() < deadline:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode() + "status=%d" % os.waitstatus_to_exitcode(status))
]])
    local status, out = sh("python3 " .. shell_quote(py) .. " "
                           .. shell_quote(CORUN) .. " " .. shell_quote(path))
    os.remove(path)
    os.remove(py)
    assert.equal(0, status)
    assert.truthy(out:find("corun.Stream (tty, 0 bytes buffered) | "
                           .. "corun.Stream (tty, 0 bytes buffered)", 1, true),
                  out)
    assert.truthy(out:find("[typed]", 1, true), out)
    assert.truthy(out:find("status=0$"), out)
  end)

  it("waits for input without blocking the other tasks", function()
    local path = script([[
local corun = require "corun"
local out = corun.io.stdout()
local ticker = corun.spawn(function()
  while true do
    print("tick")
    io.stdout:flush()
    corun.sleep(0.01)
  end
end)
local line = corun.io.stdin():read_line()
ticker:abort()
print("got " .. line)
]])
    local out = run(function()
      local p = assert(corun.process.spawn(CORUN, { path },
                                           { stdio = "pipe" }))
      -- the ticks come while the child waits for its line
      assert.equal("tick", p.stdout:read_line())
      assert.equal("tick", p.stdout:read_line())
      p.stdin:write("late\n")
      p.stdin:close()
      local last
      while true do
        local l = p.stdout:read_line()
        if not l then break end
        last = l
      end
      p:wait()
      return last
    end)
    os.remove(path)
    assert.equal("got late", out)
  end)

  it("is nil, ENOTSUP when stdin is a datagram socket", function()
    local path = script([[
local corun = require "corun"
print(corun.io.stdin())
]])
    local status, out = sh("python3 -c 'import socket, subprocess, sys; "
      .. "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
      .. "sys.exit(subprocess.call(sys.argv[1:], stdin=s.fileno()))' "
      .. shell_quote(CORUN) .. " " .. shell_quote(path))
    os.remove(path)
    assert.equal(0, status)
    assert.truthy(out:find("^nil\tENOTSUP: .*stdin is a datagram socket"),
                  out)
  end)
end)

describe("corun.io.stdout", function()
  it("writes a megabyte through a pipe whole", function()
    local path = script([[
local corun = require "corun"
local o = corun.io.stdout()
for i = 1, 16 do assert(o:write(string.rep(string.char(96 + i), 65536))) end
]])
    local out = run(function()
      local p = assert(corun.process.spawn(CORUN, { path },
                                           { stdio = { stdout = "pipe" } }))
      local got = {}
      while true do
        local s = p.stdout:read()
        if not s then break end
        got[#got + 1] = s
      end
      p:wait()
      return table.concat(got)
    end)
    os.remove(path)
    assert.equal(16 * 65536, #out)
    assert.equal(string.rep("p", 65536), out:sub(-65536))
  end)

  it("leaves the descriptor open and blocking: Lua's io writes after it",
     function()
    local path = script([[
local corun = require "corun"
local o = corun.io.stdout()
o:write("corun\n")
o:close()
io.write("lua\n")
io.stdout:flush()
]])
    local check = "python3 -c 'import os, fcntl; "
      .. "print(\"nonblocking\" if fcntl.fcntl(1, fcntl.F_GETFL) "
      .. "& os.O_NONBLOCK else \"blocking\")'"
    local status, out = sh("{ " .. shell_quote(CORUN) .. " "
                           .. shell_quote(path) .. "; " .. check
                           .. "; } | cat")
    os.remove(path)
    assert.equal(0, status)
    assert.equal("corun\nlua\nblocking\n", out)
  end)
end)

describe("corun.io.stderr", function()
  it("writes to a redirected file", function()
    local path = script([[
local corun = require "corun"
assert(corun.io.stderr():write("to stderr\n"))
]])
    local status, out, err = corun_exec({ path })
    os.remove(path)
    assert.equal(0, status)
    assert.equal("", out)
    assert.equal("to stderr\n", err)
  end)
end)

describe("corun.io streams", function()
  it("are the same object on every call while open, a new one after close",
     function()
    local same, reopened, text = run(function()
      local a = corun.io.stderr()
      local same = a == corun.io.stderr()
      a:close()
      local b = corun.io.stderr()
      local reopened = b ~= a
      b:close()
      return same, reopened, tostring(a)
    end)
    assert.is_true(same)
    assert.is_true(reopened)
    assert.truthy(text:find("%(closed%)$"), text)
  end)

  it("belong to the task that asked first, and move at spawn", function()
    local path = script([[
local corun = require "corun"
local o = corun.io.stdout()
-- another task gets the same stream, which it may not use
local _, e1 = corun.spawn(function()
  return select(2, pcall(function()
    local s = corun.io.stdout()
    return s:write("not written\n")
  end))
end):await()
-- moved into a task, used there, closed at its end
corun.spawn(function(s)
  assert(s:write("written by task " .. corun.task_id() .. "\n"))
end, o):await()
local _, e2 = pcall(o.write, o, "not written either\n")
local o2 = corun.io.stdout()
assert(o2 ~= o)
o2:write(e1 .. "\n" .. e2 .. "\n")
]])
    local status, out, err = corun_exec({ path })
    os.remove(path)
    assert.equal(0, status, err)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal(3, #lines, out)
    assert.truthy(lines[1]:find("^written by task %d+$"), out)
    assert.truthy(lines[2]:find("^corun: stream belongs to task 1"), out)
    assert.truthy(lines[3]:find("^stream:write: the stream is closed"), out)
  end)

  it("refuse bad arguments, naming the method", function()
    local path = script([[
local corun = require "corun"
local i = corun.io.stdin()
print(select(2, pcall(i.read, i, 0)))
print(select(2, pcall(i.write, i, {})))
print(select(2, pcall(i.read, 42)))
]])
    local status, out = corun_exec({ path })
    os.remove(path)
    assert.equal(0, status)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.truthy(lines[1]:find("^stream:read: bad argument #2 %(at least 1"),
                  out)
    assert.truthy(lines[2]:find("^stream:write: bad argument #2 %(string "
                                .. "expected"), out)
    assert.truthy(lines[3]:find("^stream:read: bad argument #1"), out)
    local ok, e = pcall(corun.io.stdin)
    assert.is_false(ok)
    assert.truthy(e:find("^corun.io.stdin: must be called from a task"), e)
  end)

  it("a read cancelled by a timeout loses nothing (a redirected file)",
     function()
    local path = script([[
local corun = require "corun"
local i = corun.io.stdin()
-- the read may end before the deadline, or be cancelled while its
-- request is in flight: either way no byte is lost
local ok, first = corun.timeout(0, i.read_line, i)
if not ok then first = i:read_line() end
print(first, i:read_line(), i:read_line())
]])
    local status, out, err = corun_exec({ path }, "first\nsecond\n")
    os.remove(path)
    assert.equal(0, status, err)
    assert.equal("first\tsecond\tnil\n", out)
  end)
end)
