-- corun.net (TCP) and corun.dns, against real peers on loopback that the
-- specs start themselves.
local corun = require "corun"

-- A server on a free loopback port; returns it and its port.
local function listen()
  local server = assert(corun.net.listen("127.0.0.1", 0))
  local _, port = server:address()
  return server, port
end

-- run(fn, ...) with a watchdog of 60 s instead of 10 (real time), for a
-- spec whose work, not its waiting, takes time: a guard against a hang,
-- not a timing check (that work takes several times longer under
-- AddressSanitizer on a busy machine).  Like run(), it fails a spec that
-- leaves a task alive.
local function run_long(fn, ...)
  return corun.run(function(...)
    local r = table.pack(corun.timeout(60, fn, ...))
    if not r[1] then error("watchdog: the test still ran after 60 s", 0) end
    corun.yield_now()
    local live = corun.live_tasks() - 1
    if live > 0 then error(("the spec left %d tasks alive"):format(live), 0) end
    return table.unpack(r, 2, r.n)
  end, ...)
end

-- An echo server task: each connection, moved into its own task, gets
-- back what it sends until it shuts down its side.
local function echo_server(server, max)
  return corun.spawn(function(server, max)
    local conns = corun.JoinSet()
    for _ = 1, max do
      local conn = assert(server:accept())
      conns:spawn(function(conn)
        while true do
          local data, err = conn:read()
          if not data then return err end
          assert(conn:write(data))
        end
      end, conn)
    end
    local errors = 0
    while true do
      local ok, err = conns:join_next()
      if ok == nil then break end
      if err then errors = errors + 1 end
    end
    return errors
  end, server, max)
end

-- Run two corun programs: 'first' prints a port on its first line (and may
-- print more words on it: the shell gets them in $more); then 'second'
-- runs with that port as arg[1], in 'tail' (a shell format for the command
-- that runs it) if given; the output of both.  Returns exit status,
-- stdout, stderr.
local function two_programs(first, second, tail)
  local a, b = os.tmpname(), os.tmpname()
  for path, code in pairs { [a] = first, [b] = second } do
    local f = assert(io.open(path, "w"))
    f:write(code)
    f:close()
  end
  local script = ("%s %s | { read -r port more; %s; %s; }"):format(
    shell_quote(CORUN), shell_quote(a),
    (tail or "%s"):format(("%s %s \"$port\""):format(shell_quote(CORUN),
                                                      shell_quote(b))),
    "cat")
  local status, out, err = exec("sh", { "-c", script })
  os.remove(a)
  os.remove(b)
  return status, out, err
end

-- Read everything until the end of the stream.
local function read_all(conn)
  local parts = {}
  while true do
    local data, err = conn:read()
    if not data then return table.concat(parts), err end
    parts[#parts + 1] = data
  end
end

describe("corun.net.listen", function()
  it("listens on a free port with port 0 and says where", function()
    local host, port = run(function()
      local server = listen()
      local h, p = server:address()
      server:close()
      return h, p
    end)
    assert.equal("127.0.0.1", host)
    assert.is_true(port > 0 and port < 65536)
  end)

  it("fails with EADDRINUSE for a port that is taken", function()
    local err = run(function()
      local server, port = listen()
      local s2, e = corun.net.listen("127.0.0.1", port)
      assert.is_nil(s2)
      server:close()
      return e
    end)
    assert.truthy(err:find("^EADDRINUSE: address already in use %(127%.0%.0%.1:%d+%)$"), err)
  end)

  it("resolves a host name first", function()
    local host = run(function()
      local server = assert(corun.net.listen("localhost", 0))
      local h = server:address()
      server:close()
      return h
    end)
    assert.truthy(host == "127.0.0.1" or host == "::1", host)
  end)

  it("raises for a bad port or backlog", function()
    run(function()
      assert.has_error(function() corun.net.listen("127.0.0.1", 70000) end,
        "corun.net.listen: bad argument #2 (port must be 0..65535, got 70000)")
      assert.has_error(function() corun.net.listen("127.0.0.1", 0, 0) end,
        "corun.net.listen: bad argument #3 (backlog must be 1..65535, got 0)")
    end)
  end)
end)

describe("corun.net.connect", function()
  it("echoes every byte for 1 000 concurrent clients", function()
    local n = 1000
    local bad, errors = run_long(function()
      local server, port = listen()
      local srv = echo_server(server, n)
      local clients = corun.JoinSet()
      for i = 1, n do
        clients:spawn(function(i, port)
          local conn = assert(corun.net.connect("127.0.0.1", port))
          local payload = string.rep(string.char(i % 256), 100 + (i * 37) % 4000)
            .. "#" .. i
          assert(conn:write(payload))
          assert(conn:shutdown())
          local back = read_all(conn)
          conn:close()
          return back == payload
        end, i, port)
      end
      local bad = 0
      while true do
        local ok, same = clients:join_next()
        if ok == nil then break end
        if not (ok and same) then bad = bad + 1 end
      end
      local _, errors = srv:await()
      server:close()
      return bad, errors
    end)
    assert.equal(0, bad)
    assert.equal(0, errors)
  end)

  it("says ECONNREFUSED with the address when nobody listens", function()
    local conn, err = run(function()
      local server, port = listen()
      server:close()
      corun.sleep(0.01)
      return corun.net.connect("127.0.0.1", port)
    end)
    assert.is_nil(conn)
    assert.truthy(err:find("^ECONNREFUSED: connection refused %(127%.0%.0%.1:%d+%)$"), err)
  end)

  it("says when a host name does not resolve", function()
    local conn, err = run(function()
      return corun.net.connect("no-such-host.invalid", 80)
    end)
    assert.is_nil(conn)
    assert.truthy(err:find("^EAI_NONAME: .*%(no%-such%-host%.invalid:80%)$"), err)
  end)

  it("raises for a bad port", function()
    run(function()
      assert.has_error(function() corun.net.connect("127.0.0.1", "x") end,
        "corun.net.connect: bad argument #2 (integer port expected, got string)")
    end)
  end)

  it("is cancelled by a timeout while it resolves or connects", function()
    local ok, err = run(function()
      return corun.timeout(0, corun.net.connect, "localhost", 1)
    end)
    assert.is_false(ok)
    assert.equal("deadline has elapsed", err)
  end)
end)

describe("connection", function()
  it("reads lines without their ends, the last one without an end too",
     function()
    local lines = run(function()
      local server, port = listen()
      corun.spawn(function(server)
        local conn = assert(server:accept())
        conn:write("one\r\ntwo\n\nthree")
        conn:close()
      end, server)
      local conn = assert(corun.net.connect("127.0.0.1", port))
      local got = {}
      for _ = 1, 5 do got[#got + 1] = tostring(conn:read_line()) end
      conn:close()
      server:close()
      return got
    end)
    assert.same({ "one", "two", "", "three", "nil" }, lines)
  end)

  it("returns at most n bytes from read(n), at least one", function()
    local parts = run(function()
      local server, port = listen()
      corun.spawn(function(server)
        local conn = assert(server:accept())
        conn:write("abcdefgh")
        conn:close()
      end, server)
      local conn = assert(corun.net.connect("127.0.0.1", port))
      corun.sleep(0.02)
      local got = { conn:read(3), conn:read(3), conn:read(3), conn:read(3) }
      server:close()
      return got
    end)
    assert.same({ "abc", "def", "gh" }, parts)
  end)

  it("delivers everything a write took, also when it is closed right after",
     function()
    local size = 4 * 1024 * 1024
    local got = run(function()
      local server, port = listen()
      local reader = corun.spawn(function(server)
        local conn = assert(server:accept())
        corun.sleep(0.1)               -- let the writer fill every buffer
        local data = read_all(conn)
        return #data, data:sub(1, 5), data:sub(-5)
      end, server)
      local conn = assert(corun.net.connect("127.0.0.1", port))
      local chunk = string.rep("x", 64 * 1024)
      local sent = 0
      assert(conn:write("start"))
      sent = 5
      while sent < size - 3 do
        assert(conn:write(chunk))
        sent = sent + #chunk
      end
      assert(conn:write("end"))
      conn:close()                     -- at once: the writes still go out
      local _, n, head, tail = reader:await()
      server:close()
      return { n, head, tail, sent + 3 }
    end)
    assert.equal(got[4], got[1])
    assert.equal("start", got[2])
    assert.equal("x" .. "xend", got[3])
  end)

  it("delivers what a write took when the program ends right after",
     function()
    -- two corun processes: a reader prints its port and does not read for
    -- a while; a writer writes until libuv queues more than it takes at
    -- once (its write then waits: cut short by a timeout, the data is
    -- taken all the same), closes and ends at once.  The runtime's end
    -- lets the queued writes go out.
    local status, out, err = two_programs([[
      local corun = require "corun"
      local server = assert(corun.net.listen("127.0.0.1", 0))
      print(select(2, server:address()))
      io.stdout:flush()
      local conn = assert(server:accept())
      corun.sleep(0.5)                 -- the writer has ended by now
      local n = 0
      while true do
        local d = conn:read()
        if not d then break end
        n = n + #d
      end
      print("received " .. n)
    ]], [[
      local corun = require "corun"
      local conn = assert(corun.net.connect("127.0.0.1", tonumber(arg[1])))
      local chunk = string.rep("z", 64 * 1024)
      local sent = 0
      while true do
        local ok = corun.timeout(0.05, conn.write, conn, chunk)
        sent = sent + #chunk
        if not ok then break end       -- queued, and more than 256 KiB
      end
      conn:close()
      print("sent " .. sent)
    ]])
    assert.equal(0, status, err)
    assert.equal("", err)
    local sent, received = out:match("^sent (%d+)\nreceived (%d+)\n$")
    assert.truthy(sent, out)
    assert.equal(sent, received)
  end)

  -- Real clock: the linger is a libuv timer of its own.  The reader sleeps
  -- far longer than the linger and is killed once the writer has ended:
  -- that it was still alive then shows the writer did not wait for it.
  it("lets a program end within seconds when its peer never reads",
     function()
    local status, out, err = two_programs([[
      local corun = require "corun"
      local server = assert(corun.net.listen("127.0.0.1", 0))
      local stat = assert(io.open("/proc/self/stat"))
      print(select(2, server:address()), stat:read("n"))
      stat:close()
      io.stdout:flush()
      local conn = assert(server:accept())
      corun.sleep(30)                  -- never reads in time
    ]], [[
      local corun = require "corun"
      local conn = assert(corun.net.connect("127.0.0.1", tonumber(arg[1])))
      local chunk = string.rep("z", 64 * 1024)
      repeat until not corun.timeout(0.05, conn.write, conn, chunk)
      io.stdout:write("writer ends\n")
      -- the main task returns with writes queued that nobody reads
    ]], "s=$(date +%%s%%N); %s; e=$(date +%%s%%N); " ..
        "echo \"$(( (e - s) / 1000000 ))\"; " ..
        "if kill \"$more\"; then echo reader alive; fi")
    assert.equal(0, status, err)
    local ms = tonumber(out:match("^writer ends\n(%d+)\nreader alive\n$"))
    assert.truthy(ms, out)
    -- about 2 s of linger for the queued writes, then they are dropped
    -- (the reader, still alive, would have kept them waiting 30 s)
    assert.is_true(ms >= 1900, out)
    assert.is_true(ms < 10000, out)    -- 5 times the linger
  end)

  it("fails a write to a peer that closed with EPIPE or ECONNRESET, " ..
     "and the program lives on (SIGPIPE ignored)", function()
    local status, out, err = corun_script([[
      local corun = require "corun"
      local server = assert(corun.net.listen("127.0.0.1", 0))
      local _, port = server:address()
      corun.spawn(function(server) server:accept():close() end, server)
      local c = assert(corun.net.connect("127.0.0.1", port))
      corun.sleep(0.05)
      local last
      for _ = 1, 200 do
        local ok, e = c:write(string.rep("x", 65536))
        if not ok then last = e break end
        corun.sleep(0.001)
      end
      print(last)
    ]])
    assert.equal(0, status, err)
    assert.truthy(out:find("^EPIPE: broken pipe\n$") or
                  out:find("^ECONNRESET: connection reset by peer\n$"), out)
  end)

  it("gets ECONNRESET when the peer resets the connection", function()
    local data, err = run(function()
      local server, port = listen()
      corun.spawn(function(server)
        local conn = assert(server:accept())
        corun.sleep(0.05)              -- unread data at close: a reset
        conn:close()
      end, server)
      local conn = assert(corun.net.connect("127.0.0.1", port))
      assert(conn:write(string.rep("y", 1000)))
      corun.sleep(0.1)
      local d, e = conn:read()
      if d ~= nil then return d, e end
      server:close()
      return d, e
    end)
    assert.is_nil(data)
    assert.truthy(err:find("^ECONNRESET: connection reset by peer"), err)
  end)

  it("times out reading from a peer that never answers, and stays usable",
     function()
    local ok, err, after = run(function()
      local server, port = listen()
      local peer = corun.spawn(function(server)
        local conn = assert(server:accept())
        corun.sleep(0.2)
        conn:write("late\n")
        corun.sleep(0.1)
      end, server)
      local conn = assert(corun.net.connect("127.0.0.1", port))
      local ok, err = corun.timeout(0.05, conn.read_line, conn)
      local after = conn:read_line()
      peer:await()
      conn:close()
      server:close()
      return ok, err, after
    end)
    assert.is_false(ok)
    assert.equal("deadline has elapsed", err)
    assert.equal("late", after)
  end)

  it("moves into a spawned task: the server pattern", function()
    local err, echoed = run(function()
      local server, port = listen()
      local acceptor = corun.spawn(function(server)
        local conn = assert(server:accept())
        local h = corun.spawn(function(conn)
          conn:write(conn:read_line() .. "!\n")
          conn:close()
        end, conn)
        local ok, e = pcall(conn.read, conn)   -- moved: not ours any more
        h:await()
        return e
      end, server)
      local client = assert(corun.net.connect("127.0.0.1", port))
      client:write("hi\n")
      local echoed = client:read_line()
      client:close()
      local _, e = acceptor:await()
      server:close()
      return e, echoed
    end)
    assert.equal("hi!", echoed)
    assert.truthy(err:find("^corun: connection belongs to task %d+"), err)
  end)

  it("raises when used by a task it was not moved to", function()
    local err = run(function()
      local server, port = listen()
      local conn = assert(corun.net.connect("127.0.0.1", port))
      local h = corun.spawn(function(conn) corun.sleep(0.05) conn:close() end,
                            conn)
      local ok, e = pcall(conn.write, conn, "x")
      h:await()
      server:close()
      return e
    end)
    assert.truthy(err:find("^corun: connection belongs to task %d+"), err)
  end)

  it("is closed when its owner task ends: the peer sees the end", function()
    local got = run(function()
      local server, port = listen()
      corun.spawn(function(port)
        local conn = assert(corun.net.connect("127.0.0.1", port))
        conn:write("bye")
      end, port):await()
      local conn = assert(server:accept())
      local data = read_all(conn)
      server:close()
      return data
    end)
    assert.equal("bye", got)
  end)

  it("stays open when a task returns it: the awaiting task may use it",
     function()
    local line = run(function()
      local server, port = listen()
      local h = corun.spawn(function(port)
        return assert(corun.net.connect("127.0.0.1", port))
      end, port)
      local peer = assert(server:accept())
      local _, conn = h:await()
      assert(conn:write("from the result\n"))
      local got = peer:read_line()
      conn:close()
      server:close()
      return got
    end)
    assert.equal("from the result", line)
  end)

  it("raises when used after close; close twice is fine", function()
    local err = run(function()
      local server, port = listen()
      local conn = assert(corun.net.connect("127.0.0.1", port))
      conn:close()
      conn:close()
      server:close()
      local ok, e = pcall(conn.read, conn)
      return e
    end)
    assert.equal("connection:read: the connection is closed", err)
  end)

  it("refuses a second read waiting at once (two branches of a task)",
     function()
    local err = run(function()
      local server, port = listen()
      local conn = assert(corun.net.connect("127.0.0.1", port))
      local e
      corun.select(function() conn:read() end,
                   function() e = select(2, pcall(conn.read, conn)) end)
      conn:close()
      server:close()
      return e
    end)
    assert.equal("connection:read: another read is already waiting on " ..
                 "this connection", err)
  end)

  it("takes a write whole without waiting where the task cannot wait " ..
     "(inside a C function)", function()
    local err, received = run(function()
      local server, port = listen()
      local conn = assert(corun.net.connect("127.0.0.1", port))
      local peer = assert(server:accept())
      local big = string.rep("w", 8 * 1024 * 1024)
      local ok, e = pcall(string.gsub, "a", "a", function()
        return tostring(conn:write(big))
      end)
      conn:close()
      local n = 0
      while true do
        local d = peer:read()
        if not d then break end
        n = n + #d
      end
      server:close()
      return e, n
    end)
    assert.equal("true", err)          -- taken whole, no wait
    assert.equal(8 * 1024 * 1024, received)
  end)

  it("closes a connection whose peer never reads within seconds, " ..
     "dropping what it could not send", function()
    local before, during, after = run(function()
      local function fds() return #assert(corun.fs.list("/proc/self/fd")) end
      local server, port = listen()
      local before = fds()
      local client = assert(corun.net.connect("127.0.0.1", port))
      local conn = assert(server:accept())
      repeat until not corun.timeout(0.05, conn.write, conn, ("q"):rep(65536))
      conn:close()                     -- writes queued: a graceful close
      local during = fds()
      corun.sleep(2.5)                 -- CORUN_LINGER_MS, then forced
      local after = fds()
      client:close()
      server:close()
      return before, during, after
    end)
    assert.equal(before + 2, during)   -- client and server ends
    assert.equal(before + 1, after)    -- the server end is gone
  end)

  it("names the function in misuse errors", function()
    local msgs = run(function()
      local server, port = listen()
      local conn = assert(corun.net.connect("127.0.0.1", port))
      local got = {
        select(2, pcall(corun.net.connect, nil, 80)),
        select(2, pcall(corun.net.listen, "127.0.0.1", 0, "x")),
        select(2, pcall(conn.write, conn, {})),
        select(2, pcall(corun.dns.resolve, 7)),
      }
      conn:close()
      server:close()
      return got
    end)
    assert.same({
      "corun.net.connect: bad argument #1 (string expected, got nil)",
      "corun.net.listen: bad argument #3 (integer expected, got string)",
      "connection:write: bad argument #2 (string expected, got table)",
      "corun.dns.resolve: bad argument #1 (string expected, got number)",
    }, msgs)
  end)

  it("prints a server from any task", function()
    local text = run(function()
      local server = listen()
      local h = corun.spawn(function(s) corun.sleep(0.05) s:close() end,
                            server)
      local t = tostring(server)
      h:await()
      return t
    end)
    assert.truthy(text:find("^corun.Server %(127%.0%.0%.1:%d+%)$"), text)
  end)

  it("says where each end is", function()
    local ph, pp, ah, ap, port = run(function()
      local server, port = listen()
      local conn = assert(corun.net.connect("127.0.0.1", port))
      local ph, pp = conn:peer()
      local ah, ap = conn:address()
      conn:close()
      server:close()
      return ph, pp, ah, ap, port
    end)
    assert.equal("127.0.0.1", ph)
    assert.equal(port, pp)
    assert.equal("127.0.0.1", ah)
    assert.is_true(ap > 0 and ap ~= port)
  end)
end)

describe("server:accept", function()
  it("leaves a connection that came for a cancelled accept to the next one",
     function()
    -- each round, a byte for the read branch and a client for the accept
    -- branch arrive together; when the read branch wins, the accept
    -- branch is cancelled, perhaps after its connection came: the next
    -- accept must still get it
    local won, lost = run(function()
      local server, port = listen()
      local tx, rx = corun.channel()
      local p1 = assert(corun.net.connect("127.0.0.1", port))
      local c1 = assert(server:accept())
      corun.spawn(function(p1, rx)
        local clients = {}
        while true do
          local round = rx:recv()
          if not round then break end
          if round % 2 == 1 then p1:write("x") end   -- both orders
          clients[#clients + 1] = assert(corun.net.connect("127.0.0.1", port))
          if round % 2 == 0 then p1:write("x") end
        end
      end, p1, rx)
      local won, lost = { 0, 0 }, 0
      for round = 1, 20 do
        tx:send(round)
        local i = corun.select(function() return c1:read() end,
                               function() return server:accept() end)
        won[i] = won[i] + 1
        if i == 1 then                 -- the connection must still be there
          local ok, conn = corun.timeout(2, server.accept, server)
          if ok and conn then conn:close() else lost = lost + 1 end
        else                           -- the byte must still be there
          assert(corun.timeout(2, c1.read, c1))
        end
      end
      tx:close()
      server:close()
      return won, lost
    end)
    assert.equal(0, lost)
    assert.equal(20, won[1] + won[2])
  end)

  it("is cancelled by a timeout and the server goes on", function()
    -- paused clock: an accept does not hold it (a client may never come)
    local ok, err, later, waited = paused(function()
      local server, port = listen()
      local t0 = corun.now()
      local ok, err = corun.timeout(0.02, server.accept, server)
      local waited = corun.now() - t0
      local h = corun.spawn(function(port)
        local c = assert(corun.net.connect("127.0.0.1", port))
        c:close()
      end, port)
      local conn = server:accept()
      h:await()
      conn:close()
      server:close()
      return ok, err, conn ~= nil, waited
    end)
    assert.is_false(ok)
    assert.equal("deadline has elapsed", err)
    near(0.02, waited)
    assert.is_true(later)
  end)

  it("returns nil and an error once the server is closed by a branch",
     function()
    local conn, err = run(function()
      local server = listen()
      local got
      corun.join(function() got = { server:accept() } end,
                 function() corun.sleep(0.02) server:close() end)
      return got[1], got[2]
    end)
    assert.is_nil(conn)
    assert.truthy(err:find("^ECANCELED"), err)
  end)
end)

describe("corun.dns.resolve", function()
  it("returns the addresses of a name", function()
    local addrs = run(function() return corun.dns.resolve("localhost") end)
    local found = false
    for _, a in ipairs(addrs) do
      if a == "127.0.0.1" or a == "::1" then found = true end
    end
    assert.is_true(found)
  end)

  it("returns nil and EAI_NONAME for a name that does not exist", function()
    local addrs, err = run(function()
      return corun.dns.resolve("no-such-host.invalid")
    end)
    assert.is_nil(addrs)
    assert.truthy(err:find("^EAI_NONAME: .*%(no%-such%-host%.invalid%)$"), err)
  end)
end)

-- A host name goes to C as a C string: one with a zero byte would be cut
-- short there (connecting to "localhost" for "localhost\0.example").
describe("corun.net.connect", function()
  it("raises for a host name with a zero byte", function()
    local ok, err = run(function()
      return pcall(corun.net.connect, "localhost\0.example", 80)
    end)
    assert.is_false(ok)
    assert.equal("corun.net.connect: bad argument #1 (host contains a zero "
                 .. "byte)", err)
  end)
end)

describe("corun.net.listen", function()
  it("raises for a host name with a zero byte", function()
    local ok, err = run(function()
      return pcall(corun.net.listen, "127.0.0.1\0garbage", 0)
    end)
    assert.is_false(ok)
    assert.equal("corun.net.listen: bad argument #1 (host contains a zero "
                 .. "byte)", err)
  end)
end)

describe("corun.dns.resolve", function()
  it("raises for a host name with a zero byte", function()
    local ok, err = run(function()
      return pcall(corun.dns.resolve, "localhost\0.example")
    end)
    assert.is_false(ok)
    assert.equal("corun.dns.resolve: bad argument #1 (host contains a zero "
                 .. "byte)", err)
  end)
end)
