-- corun.net.udp and corun.UdpSocket, on 127.0.0.1 with ephemeral ports.
local corun = require "corun"

-- A socket bound to 127.0.0.1 on a free port, and that port.
local function bound()
  local u = assert(corun.net.udp("127.0.0.1", 0))
  local _, port = assert(u:address())
  return u, port
end

describe("corun.net.udp", function()
  it("binds to a free port with port 0; address and tostring say where",
     function()
    local host, port, text = run(function()
      local u = bound()
      local host, port = u:address()
      local text = tostring(u)
      u:close()
      return host, port, text
    end)
    assert.equal("127.0.0.1", host)
    assert.is_true(port > 0)
    assert.equal("corun.UdpSocket (127.0.0.1:" .. port .. ")", text)
  end)

  it("sends a datagram that recv_from returns with its sender's address",
     function()
    local data, host, port, from_port = run(function()
      local a, pa = bound()
      local b = bound()
      assert.is_true(b:send_to("hello", "127.0.0.1", pa))
      local data, host, port = a:recv_from()
      local _, from_port = b:address()
      a:close()
      b:close()
      return data, host, port, from_port
    end)
    assert.equal("hello", data)
    assert.equal("127.0.0.1", host)
    assert.equal(from_port, port)
  end)

  it("keeps datagram boundaries, empty datagrams included", function()
    local got = run(function()
      local a, pa = bound()
      local b = bound()
      for _, d in ipairs({ "one", "", "three" }) do
        assert(b:send_to(d, "127.0.0.1", pa))
      end
      local got = {}
      for i = 1, 3 do got[i] = (a:recv_from()) end
      a:close()
      b:close()
      return got
    end)
    assert.same({ "one", "", "three" }, got)
  end)

  it("talks to a UDP echo server in python3", function()
    local dir = tmpdir()
    local script = dir .. "/echo.py"
    local f = assert(io.open(script, "w"))
    f:write([[
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(10)
print(s.getsockname()[1], flush=True)
for _ in range(3):
    data, addr = s.recvfrom(65536)
    s.sendto(data.upper(), addr)
]])
    f:close()
    local got = run(function()
      -- python3 runs without the sanitizer preload of make test-asan
      local proc = assert(corun.process.spawn("sh", { "-c",
        "unset LD_PRELOAD; exec python3 " .. shell_quote(script) },
        { stdio = { stdout = "pipe" } }))
      local port = math.tointeger(tonumber(proc.stdout:read_line()))
      local u = assert(corun.net.udp("127.0.0.1", 0))
      local got = {}
      for i, word in ipairs({ "abc", "corun", "udp" }) do
        assert(u:send_to(word, "127.0.0.1", port))
        local ok, data, host, from = corun.timeout(5, u.recv_from, u)
        assert(ok, "no answer from the echo server")
        assert.equal(port, from)
        got[i] = data
      end
      u:close()
      proc:wait()
      return got
    end)
    os.execute("rm -rf " .. shell_quote(dir))
    assert.same({ "ABC", "CORUN", "UDP" }, got)
  end)

  it("sends the largest datagram whole; one byte more is EMSGSIZE",
     function()
    local len, ok, err = run(function()
      local a, pa = bound()
      local b = bound()
      assert(b:send_to(string.rep("x", 65507), "127.0.0.1", pa))
      local data = a:recv_from()
      local ok, err = b:send_to(string.rep("x", 65508), "127.0.0.1", pa)
      a:close()
      b:close()
      return #data, ok, err
    end)
    assert.equal(65507, len)
    assert.is_nil(ok)
    assert.truthy(err:find("^EMSGSIZE: "), err)
  end)

  it("an unbound socket is bound by its first send_to", function()
    local before, host, port = run(function()
      local a, pa = bound()
      local u = assert(corun.net.udp())
      local _, before = u:address()
      assert(u:send_to("x", "127.0.0.1", pa))
      local host, port = u:address()
      local _, _, from = a:recv_from()
      assert.equal(port, from)
      u:close()
      a:close()
      return before, host, port
    end)
    assert.truthy(before:find("^E%u+: .*not bound"), before)
    assert.equal("0.0.0.0", host)
    assert.is_true(port > 0)
  end)

  it("works on IPv6 loopback", function()
    local data, host = run(function()
      local a = corun.net.udp("::1", 0)
      if not a then return "skip" end
      local _, pa = a:address()
      local b = assert(corun.net.udp("::1", 0))
      assert(b:send_to("six", "::1", pa))
      local data, host = a:recv_from()
      a:close()
      b:close()
      return data, host
    end)
    if data ~= "skip" then
      assert.equal("six", data)
      assert.equal("::1", host)
    end
  end)

  it("fails with results for a busy port or a name", function()
    local r = run(function()
      local a, pa = bound()
      local r = { corun.net.udp("127.0.0.1", pa) }
      local b = bound()
      local r2 = { b:send_to("x", "localhost", pa) }
      local r3 = { corun.net.udp("no.such.host", 0) }
      a:close()
      b:close()
      return { r, r2, r3 }
    end)
    assert.is_nil(r[1][1])
    assert.truthy(r[1][2]:find("^EADDRINUSE: "), r[1][2])
    assert.is_nil(r[2][1])
    assert.truthy(r[2][2]:find("^EINVAL: .*numeric"), r[2][2])
    assert.is_nil(r[3][1])
    assert.truthy(r[3][2]:find("^EINVAL: "), r[3][2])
  end)

  it("refuses bad arguments, naming the function", function()
    local errs = run(function()
      local u = bound()
      local errs = {}
      local function try(f, ...)
        local ok, e = pcall(f, ...)
        assert(not ok)
        errs[#errs + 1] = e
      end
      try(corun.net.udp, "127.0.0.1")
      try(corun.net.udp, 1, 2)
      try(corun.net.udp, "127.0.0.1", 70000)
      try(u.send_to, u, nil, "127.0.0.1", 1)
      try(u.send_to, u, "x", "127.0.0.1", 0)
      try(u.send_to, u, "x", "127.0.0.1")
      try(u.recv_from, 42)
      u:close()
      try(u.recv_from, u)
      return errs
    end)
    assert.truthy(errs[1]:find("^corun.net.udp: bad argument #2"), errs[1])
    assert.truthy(errs[2]:find("^corun.net.udp: bad argument #1"), errs[2])
    assert.truthy(errs[3]:find("^corun.net.udp: bad argument #2 %(port"),
                  errs[3])
    assert.truthy(errs[4]:find("^udp:send_to: bad argument #2"), errs[4])
    assert.truthy(errs[5]:find("^udp:send_to: bad argument #4"), errs[5])
    assert.truthy(errs[6]:find("^udp:send_to: bad argument #4"), errs[6])
    assert.truthy(errs[7]:find("^udp:recv_from: bad argument #1"), errs[7])
    assert.truthy(errs[8]:find("^udp:recv_from: the socket is closed"),
                  errs[8])
    local ok, e = pcall(corun.net.udp)
    assert.is_false(ok)
    assert.truthy(e:find("^corun.net.udp: must be called from a task"), e)
  end)
end)

describe("corun.UdpSocket", function()
  it("recv_from does not hold a paused clock: a timeout fires on time",
     function()
    local ok, waited = paused(function()
      local u = bound()
      local t0 = corun.now()
      local ok = corun.timeout(30, u.recv_from, u)
      local waited = corun.now() - t0
      u:close()
      return ok, waited
    end)
    assert.is_false(ok)
    near(30, waited)
  end)

  it("a recv_from cancelled by a timeout leaves the datagram for the next",
     function()
    local first, data = run(function()
      local a, pa = bound()
      local b = bound()
      local first = corun.timeout(0.01, a.recv_from, a)
      assert(b:send_to("later", "127.0.0.1", pa))
      local data = a:recv_from()
      a:close()
      b:close()
      return first, data
    end)
    assert.is_false(first)
    assert.equal("later", data)
  end)

  it("a recv_from waiting when the socket closes gets ECANCELED",
     function()
    local data, err = run(function()
      local u = bound()
      local r = corun.join(function() return { u:recv_from() } end,
                           function() corun.sleep(0.01) u:close() end)
      return r[1], r[2]
    end)
    assert.is_nil(data)
    assert.truthy(err:find("^ECANCELED: .*closed"), err)
  end)

  it("refuses a second recv_from waiting at once", function()
    local err = run(function()
      local u = bound()
      local _, err = corun.join(
        function() return corun.timeout(0.05, u.recv_from, u) end,
        function() return select(2, pcall(u.recv_from, u)) end)
      u:close()
      return err
    end)
    assert.truthy(err:find("^udp:recv_from: another task is already "
                           .. "waiting"), err)
  end)

  it("moves into a spawned task, and closes at its owner's end", function()
    local got, err, text = run(function()
      local a, pa = bound()
      local s = shared()
      local h = corun.spawn(function(a)
        s = rawget(_G, "SHARED")
        s.sock = a
        return (a:recv_from())
      end, a)
      local ok, e = pcall(a.address, a)
      local b = bound()
      assert(b:send_to("moved", "127.0.0.1", pa))
      local _, got = h:await()
      b:close()
      return got, e, tostring(s.sock)
    end)
    assert.equal("moved", got)
    assert.truthy(err:find("^corun: socket belongs to task %d+"), err)
    assert.equal("corun.UdpSocket (closed)", text)
  end)

  it("closes with <close>", function()
    local text = run(function()
      local keep
      do
        local u <close> = bound()
        keep = u
      end
      return tostring(keep)
    end)
    assert.equal("corun.UdpSocket (closed)", text)
  end)

  it("stress: 10 000 datagrams on loopback, none lost when the receiver "
     .. "keeps up", function()
    local count, sum, ordered = run(function()
      local a, pa = bound()
      local b = bound()
      local window = corun.Semaphore(100)  -- datagrams in flight at most
      local receiver = corun.spawn(function(a, window)
        local count, sum, ordered, last = 0, 0, true, 0
        while count < 10000 do
          local data = assert(a:recv_from())
          local n = tonumber(data)
          count = count + 1
          sum = sum + n
          if n ~= last + 1 then ordered = false end
          last = n
          window:add_permits(1)
        end
        a:close()
        return count, sum, ordered
      end, a, window)
      for i = 1, 10000 do
        window:acquire():forget()
        assert(b:send_to(tostring(i), "127.0.0.1", pa))
      end
      local _, count, sum, ordered = receiver:await()
      b:close()
      return count, sum, ordered
    end)
    assert.equal(10000, count)
    assert.equal(10000 * 10001 // 2, sum)
    assert.is_true(ordered)
  end)
end)
