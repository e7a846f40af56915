-- corun.net.connect_unix and corun.net.listen_unix: Unix-domain stream
-- sockets, with the methods of TCP connections and servers, in a fresh
-- temporary directory per spec.
local corun = require "corun"

local dir  -- the spec's directory (before_each), removed after it

before_each(function()
  dir = tmpdir()
end)

after_each(function()
  os.execute("rm -rf " .. shell_quote(dir))
end)

local function at(name) return dir .. "/" .. name end

-- Whether something (a socket file too) is at 'path': opening a socket
-- fails, but not with ENOENT.
local function exists(path)
  local f, _, code = io.open(path)
  if f then f:close() end
  return f ~= nil or code ~= 2
end

describe("corun.net.listen_unix", function()
  it("accepts a connection: lines both ways, paths as addresses",
     function()
    local path = at("s.sock")
    local r = run(function()
      local server = assert(corun.net.listen_unix(path))
      local h = corun.spawn(function(server)
        local conn = assert(server:accept())
        local line = conn:read_line()
        conn:write(line:upper() .. "\n")
        local addr = conn:address()
        conn:close()
        return addr
      end, server)
      local conn = assert(corun.net.connect_unix(path))
      conn:write("hello\n")
      local answer = conn:read_line()
      local peer = conn:peer()
      local text = tostring(conn)
      local eof = conn:read()
      conn:close()
      local _, addr = h:await()
      return { answer = answer, peer = peer, eof = eof, addr = addr,
               text = text }
    end)
    assert.equal("HELLO", r.answer)
    assert.equal(path, r.peer)
    assert.equal(path, r.addr)
    assert.is_nil(r.eof)
    assert.equal("corun.Stream (unix, 0 bytes buffered)", r.text)
  end)

  it("address and tostring name the path; close removes the socket file",
     function()
    local path = at("s.sock")
    local addr, text, during = run(function()
      local server = assert(corun.net.listen_unix(path))
      local addr, text = server:address(), tostring(server)
      local during = exists(path)
      server:close()
      return addr, text, during
    end)
    assert.equal(path, addr)
    assert.equal("corun.Server (unix, " .. path .. ")", text)
    assert.is_true(during)
    assert.is_false(exists(path))
  end)

  it("a stale socket file is EADDRINUSE and is left in place; connecting "
     .. "to it is ECONNREFUSED", function()
    local path = at("stale.sock")
    -- a server that "crashed": python3 binds and exits without removing
    -- its socket file
    local status = sh("python3 -c 'import socket, sys; "
                      .. "socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "
                      .. shell_quote(path))
    assert.equal(0, status)
    assert.is_true(exists(path))
    local r = run(function()
      return { { corun.net.listen_unix(path) },
               { corun.net.connect_unix(path) } }
    end)
    assert.is_nil(r[1][1])
    assert.truthy(r[1][2]:find("^EADDRINUSE: .*stale%.sock"), r[1][2])
    assert.is_nil(r[2][1])
    assert.truthy(r[2][2]:find("^ECONNREFUSED: "), r[2][2])
    assert.is_true(exists(path))
  end)

  it("a path too long for a socket address is ENAMETOOLONG", function()
    local long = at(string.rep("x", 120))
    local r = run(function()
      return { { corun.net.listen_unix(long) },
               { corun.net.connect_unix(long) } }
    end)
    assert.is_nil(r[1][1])
    assert.truthy(r[1][2]:find("^ENAMETOOLONG: "), r[1][2])
    assert.is_nil(r[2][1])
    assert.truthy(r[2][2]:find("^ENAMETOOLONG: "), r[2][2])
    assert.is_false(exists(long:sub(1, 107)))  -- nothing cut short
  end)

  it("refuses bad arguments, naming the function", function()
    local errs = run(function()
      local errs = {}
      for i, f in ipairs({
        function() corun.net.listen_unix(42) end,
        function() corun.net.listen_unix("a\0b") end,
        function() corun.net.listen_unix(at("x"), 0) end,
        function() corun.net.connect_unix() end,
      }) do
        errs[i] = select(2, pcall(f))
      end
      return errs
    end)
    assert.truthy(errs[1]:find("^corun.net.listen_unix: bad argument #1 "
                               .. "%(string expected"), errs[1])
    assert.truthy(errs[2]:find("^corun.net.listen_unix: bad argument #1 "
                               .. "%(path contains a zero byte"), errs[2])
    assert.truthy(errs[3]:find("^corun.net.listen_unix: bad argument #2 "
                               .. "%(backlog"), errs[3])
    assert.truthy(errs[4]:find("^corun.net.connect_unix: bad argument #1"),
                  errs[4])
  end)
end)

describe("corun.net.connect_unix", function()
  it("fails with ENOENT for a missing socket", function()
    local ok, err = run(function()
      return corun.net.connect_unix(at("missing.sock"))
    end)
    assert.is_nil(ok)
    assert.truthy(err:find("^ENOENT: .*missing%.sock"), err)
  end)

  it("a connection moves into a spawned task and closes at its end",
     function()
    local path = at("m.sock")
    local got = run(function()
      local server = assert(corun.net.listen_unix(path))
      local conn = assert(corun.net.connect_unix(path))
      corun.spawn(function(conn) conn:write("from the task") end, conn)
        :await()
      local peer = assert(server:accept())
      local got = {}
      while true do
        local s = peer:read()
        if not s then break end
        got[#got + 1] = s
      end
      peer:close()
      server:close()
      return table.concat(got)
    end)
    assert.equal("from the task", got)
  end)

  it("a connect cancelled by a timeout leaves nothing open", function()
    local path = at("t.sock")
    local ok, live = run(function()
      local server = assert(corun.net.listen_unix(path))
      local ok = corun.timeout(0, corun.net.connect_unix, path)
      server:close()
      return ok, corun.live_tasks()
    end)
    assert.equal(1, live)
    assert.is_boolean(ok)
  end)

  it("a server moves into a spawned task that accepts there", function()
    local path = at("srv.sock")
    local line = run(function()
      local server = assert(corun.net.listen_unix(path))
      local h = corun.spawn(function(server)
        local conn = assert(server:accept())
        local line = conn:read_line()
        conn:close()
        server:close()
        return line
      end, server)
      local conn = assert(corun.net.connect_unix(path))
      conn:write("over\n")
      local _, line = h:await()
      conn:close()
      return line
    end)
    assert.equal("over", line)
  end)
end)

describe("corun.net.listen_unix with a peer in python3", function()
  it("serves a client that is not corun: python3", function()
    local path = at("py.sock")
    local out = run(function()
      local server = assert(corun.net.listen_unix(path))
      -- python3 runs without the sanitizer preload of make test-asan
      local proc = assert(corun.process.spawn("sh", { "-c",
        "unset LD_PRELOAD; exec python3 -c \"$0\" \"$1\"", [[
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(b"ping\n")
print(s.makefile().readline().strip(), flush=True)
]], path }, { stdio = { stdout = "pipe" } }))
      local conn = assert(server:accept())
      assert.equal("ping", conn:read_line())
      conn:write("pong\n")
      local out = proc.stdout:read_line()
      proc:wait()
      conn:close()
      server:close()
      return out
    end)
    assert.equal("pong", out)
  end)
end)
