-- corun.tls against real peers the specs start themselves, on loopback:
-- openssl s_server and s_client, and python3's ssl module
-- (spec/tls_peer.py), with the throwaway CA of spec/pki.lua.
local corun = require "corun"
local pki = require "pki"

local PEER = "spec/tls_peer.py"

-- run(fn, ...) with a watchdog of 60 s instead of 10 (real time), for
-- specs whose peers take time to start (several processes, TLS
-- handshakes, several MB encrypted, all under AddressSanitizer on a busy
-- machine): a guard against a hang, not a timing check.  Like run(), it
-- fails a spec that leaves a task alive.
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

local q = shell_quote

-- The next line of the peer's output that 'pattern' matches (its captures,
-- or the line), or nil if the output ends first; at most 200 lines.
local function expect(proc, pattern)
  for _ = 1, 200 do
    local line = proc.stdout:read_line()
    if line == nil then return nil end
    local m = table.pack(line:match(pattern))
    if m[1] ~= nil then return table.unpack(m, 1, m.n) end
  end
end

-- fn(port, proc) while the server 'cmd' (a shell command line) runs: it
-- prints a line that 'pattern' matches, capturing the port, once it
-- listens.  The server is killed after fn, whether fn fails or not (and
-- by kill_on_drop if the task is cancelled).
local function with_peer(cmd, pattern, fn)
  local proc = assert(corun.process.spawn("sh",
    { "-c", "unset LD_PRELOAD; exec " .. cmd },
    { stdio = { stdin = "pipe", stdout = "pipe", stderr = "null" },
      kill_on_drop = true }))
  local port = tonumber(expect(proc, pattern))
  local r
  if port == nil then
    r = { false, "the peer did not start: " .. cmd, n = 2 }
  else
    r = table.pack(pcall(fn, port, proc))
  end
  proc:kill()
  proc:wait()
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

-- openssl s_server with 'cert' (and pki.key) on 'host' (default
-- 127.0.0.1), and the extra arguments 'args'.
local function s_server(cert, args, fn, host)
  local where = host == "::1" and "[::1]:0" or (host or "127.0.0.1") .. ":0"
  return with_peer(("openssl s_server -accept %s -cert %s -key %s %s")
    :format(where, q(cert), q(pki.key), args or ""), "^ACCEPT .*:(%d+)$", fn)
end

-- A server of spec/tls_peer.py: 'mode' with pki.cert and pki.key.
local function python_server(mode, fn)
  return with_peer(("python3 %s %s %s %s"):format(q(PEER), mode, q(pki.cert),
    q(pki.key)), "^ready (%d+)$", fn)
end

-- Run a client program (a shell command line, 'input' on its stdin) to
-- its end: its standard output and error.
local function client(cmd, input)
  local r = assert(corun.process.run("sh",
    { "-c", "unset LD_PRELOAD; exec " .. cmd }, { stdin = input or "" }))
  return r.stdout, r.stderr
end

-- openssl s_client to host:port with the extra arguments 'args'.
local function s_client(port, args, input, host)
  local where = host == "::1" and ("[::1]:" .. port)
                or ("127.0.0.1:" .. port)
  return client(("openssl s_client -connect %s -CAfile %s -servername "
    .. "localhost -verify_return_error -quiet %s"):format(where, q(pki.ca),
    args or ""), input)
end

-- A spec/tls_peer.py client ('mode': client or starttls-client).
local function python_client(mode, port, ca, host)
  return client(("python3 %s %s %d %s %s"):format(q(PEER), mode, port,
    q(ca or pki.ca), host or "127.0.0.1"))
end

local function ca(extra)
  local opts = { ca_file = pki.ca }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return opts
end

-- 'size' bytes of a pattern that repeats every 65 537 bytes (a prime:
-- no chunk or record size lines up with it).
local function payload(size)
  local t = {}
  for k = 1, 65537 do t[k] = string.char((k * 7 + k // 251) % 256) end
  local block = table.concat(t)
  return block:rep(size // #block + 1):sub(1, size)
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

-- openssl x509's view of the certificate file 'path'.
local function x509(path)
  local out = pki.sh(("openssl x509 -in %s -noout -subject -issuer "
    .. "-enddate -fingerprint -sha256 -nameopt oneline"):format(q(path)))
  local date = out:match("notAfter=([^\n]+)")
  local epoch = pki.sh(("date -u -d %s +%%s"):format(q(date)))
  return {
    subject = out:match("subject=([^\n]+)"),
    issuer = out:match("issuer=([^\n]+)"),
    not_after = tonumber(epoch),
    sha256 = out:match("Fingerprint=([%x:]+)"):gsub(":", ""):lower(),
  }
end

describe("corun.tls.connect", function()
  it("exchanges data both ways with openssl s_server", function()
    local got, back = run_long(function()
      return s_server(pki.cert, "", function(port, srv)
        local tls = assert(corun.tls.connect("127.0.0.1", port, ca()))
        assert(tls:write("hello over TLS\n"))
        local got = expect(srv, "^hello over TLS$")
        assert(srv.stdin:write("hello back\n"))
        local back = tls:read_line()
        tls:close()
        return got, back
      end)
    end)
    assert.equal("hello over TLS", got)
    assert.equal("hello back", back)
  end)

  it("verifies against the system's CA store by default: ECERT for an "
     .. "unknown CA", function()
    local tls, err = run_long(function()
      return s_server(pki.cert, "", function(port)
        return corun.tls.connect("localhost", port)
      end)
    end)
    assert.is_nil(tls)
    assert.equal("ECERT: unable to get local issuer certificate (localhost)",
                 err)
  end)

  it("gives ECERT for an expired certificate", function()
    local tls, err = run_long(function()
      return s_server(pki.expired, "", function(port)
        return corun.tls.connect("localhost", port, ca())
      end)
    end)
    assert.is_nil(tls)
    assert.equal("ECERT: certificate has expired (localhost)", err)
  end)

  it("gives ECERT for a self-signed certificate, and connects to it "
     .. "with verify = false", function()
    local err, err2, line = run_long(function()
      return s_server(pki.self_signed, "", function(port, srv)
        local _, err = corun.tls.connect("localhost", port)
        local _, err2 = corun.tls.connect("localhost", port, ca())
        local tls = assert(corun.tls.connect("localhost", port,
                                             { verify = false }))
        assert(tls:write("unverified\n"))
        local line = expect(srv, "^unverified$")
        tls:close()
        return err, err2, line
      end)
    end)
    assert.equal("ECERT: self-signed certificate (localhost)", err)
    assert.equal("ECERT: self-signed certificate (localhost)", err2)
    assert.equal("unverified", line)
  end)

  it("gives ECERT for a certificate of another host, by name or address",
     function()
    local err, err2 = run_long(function()
      return s_server(pki.wrong_host, "", function(port)
        local _, err = corun.tls.connect("localhost", port, ca())
        local _, err2 = corun.tls.connect("127.0.0.1", port, ca())
        return err, err2
      end)
    end)
    assert.equal("ECERT: hostname mismatch (localhost)", err)
    assert.equal("ECERT: IP address mismatch (127.0.0.1)", err2)
  end)

  it("checks opts.server_name instead of the host", function()
    local subject = run_long(function()
      return s_server(pki.wrong_host, "", function(port)
        local tls = assert(corun.tls.connect("127.0.0.1", port,
          ca { server_name = "example.invalid" }))
        local subject = tls:peer_certificate().subject
        tls:close()
        return subject
      end)
    end)
    assert.equal("CN = example.invalid", subject)
  end)

  it("sends the host name as SNI, server_name instead if given, and no "
     .. "SNI for an address", function()
    local by_name, by_address, overridden = run_long(function()
      return python_server("sni", function(port)
        local function sni(host, opts)
          local tls = assert(corun.tls.connect(host, port, opts))
          local line = tls:read_line()
          tls:close()
          return line
        end
        return sni("localhost", ca()), sni("127.0.0.1", ca()),
               sni("127.0.0.1", ca { server_name = "localhost" })
      end)
    end)
    assert.equal("sni=localhost", by_name)
    assert.equal("sni=None", by_address)
    assert.equal("sni=localhost", overridden)
  end)

  it("negotiates ALPN with s_server: tls:alpn()", function()
    local first, second, none = run_long(function()
      return s_server(pki.cert, "-alpn h2,http/1.1", function(port)
        local function alpn(opts)
          local tls = assert(corun.tls.connect("localhost", port, opts))
          local p = tls:alpn()
          tls:close()
          return p
        end
        return alpn(ca { alpn = { "http/1.1" } }),
               alpn(ca { alpn = { "spdy/1", "h2" } }), alpn(ca())
      end)
    end)
    assert.equal("http/1.1", first)
    assert.equal("h2", second)
    assert.is_nil(none)
  end)

  it("describes the peer's certificate as openssl x509 does", function()
    local cert = run_long(function()
      return s_server(pki.cert, "", function(port)
        local tls = assert(corun.tls.connect("localhost", port, ca()))
        local cert = tls:peer_certificate()
        tls:close()
        return cert
      end)
    end)
    local want = x509(pki.cert)
    assert.equal("CN = localhost", cert.subject)
    assert.equal(want.subject, cert.subject)
    assert.equal(want.issuer, cert.issuer)
    assert.equal(want.not_after, cert.not_after)
    assert.equal(want.sha256, cert.sha256)
    assert.truthy(cert.sha256:find("^%x+$") and #cert.sha256 == 64)
  end)

  it("presents a client certificate to a server that requires one",
     function()
    local line, err = run_long(function()
      return s_server(pki.cert, ("-Verify 1 -CAfile %s -verify_return_error")
          :format(q(pki.ca)), function(port, srv)
        local tls = assert(corun.tls.connect("localhost", port, ca {
          cert_file = pki.client_cert, key_file = pki.client_key }))
        assert(tls:write("with a certificate\n"))
        local line = expect(srv, "^with a certificate$")
        tls:close()
        -- without one: TLS 1.3 says so after the client's handshake, at
        -- the first read
        local bare, err = corun.tls.connect("localhost", port, ca())
        if bare then
          err = select(2, bare:read())
          bare:close()
        end
        return line, err
      end)
    end)
    assert.equal("with a certificate", line)
    assert.truthy(err and err:find("^ETLS: .*certificate required"), err)
  end)

  it("speaks IPv6 (::1), checking the certificate's IP address", function()
    local host, got = run_long(function()
      return s_server(pki.cert, "", function(port, srv)
        local tls = assert(corun.tls.connect("::1", port, ca()))
        local host = tls:peer()
        tls:write("over v6\n")
        local got = expect(srv, "^over v6$")
        tls:close()
        return host, got
      end, "::1")
    end)
    assert.equal("::1", host)
    assert.equal("over v6", got)
  end)

  it("moves several MB each way, every byte checked, under backpressure",
     function()
    local size = 8 * 1024 * 1024
    local data = payload(size)
    local sent, same, ending, last = run_long(function()
      return python_server("echo", function(port, srv)
        local tls = assert(corun.tls.connect("localhost", port, ca()))
        local sent, same = 0, true
        corun.join(function()
          local chunk = 300 * 1024  -- more than a TLS record, odd-sized
          for i = 1, size, chunk do
            local j = math.min(i + chunk - 1, size)
            assert(tls:write(data:sub(i, j)))
            sent = j
          end
        end, function()
          local got = 0
          while got < size do
            local chunk = assert(tls:read(100000))
            if chunk ~= data:sub(got + 1, got + #chunk) then
              same = false
            end
            got = got + #chunk
            if got % 7 == 0 then corun.sleep(0.001) end  -- a slow reader
          end
        end)
        assert(tls:shutdown())
        local ending = expect(srv, "^end: (.*)$")
        local last = tls:read()
        tls:close()
        return sent, same, ending, last
      end)
    end)
    assert.equal(size, sent)
    assert.is_true(same)
    assert.equal("close_notify", ending)
    assert.is_nil(last)
  end)

  it("reads lines without their ends, the last one without an end too",
     function()
    local lines = run_long(function()
      return python_server("echo", function(port)
        local tls = assert(corun.tls.connect("localhost", port, ca()))
        tls:write("one\r\ntwo\n\nfour")
        tls:shutdown()
        local lines = {}
        for _ = 1, 6 do lines[#lines + 1] = tls:read_line() or "<nil>" end
        tls:close()
        return lines
      end)
    end)
    assert.same({ "one", "two", "", "four", "<nil>", "<nil>" }, lines)
  end)

  it("sends close_notify at shutdown and at close, as the peer sees",
     function()
    local at_shutdown, at_close = run_long(function()
      return s_server(pki.cert, "", function(port, srv)
        local tls = assert(corun.tls.connect("localhost", port, ca()))
        tls:write("x\n")
        assert(tls:shutdown())
        local at_shutdown = expect(srv, "^(DONE)$")  -- s_server: a clean end
        tls:close()
        tls = assert(corun.tls.connect("localhost", port, ca()))
        tls:write("y\n")
        expect(srv, "^y$")
        tls:close()
        return at_shutdown, expect(srv, "^(DONE)$")
      end)
    end)
    assert.equal("DONE", at_shutdown)
    assert.equal("DONE", at_close)
  end)

  it("reads the peer's close_notify as the end of the stream", function()
    local data, ending = run_long(function()
      return s_server(pki.cert, "", function(port, srv)
        local tls = assert(corun.tls.connect("localhost", port, ca()))
        tls:write("hi\n")
        expect(srv, "^hi$")
        srv.stdin:write("last words\n")
        assert.equal("last words", tls:read_line())
        srv.stdin:write("Q\n")  -- s_server: close the connection and quit
        local data, err = read_all(tls)
        tls:close()
        return data, err
      end)
    end)
    assert.equal("", data)
    assert.is_nil(ending)
  end)

  it("gives the TCP errors as corun.net.connect does", function()
    local refused, unknown = run(function()
      local server = assert(corun.net.listen("127.0.0.1", 0))
      local _, port = server:address()
      server:close()
      local _, refused = corun.tls.connect("127.0.0.1", port)
      local _, unknown = corun.tls.connect("no-such-host.invalid", 443)
      return refused, unknown, port
    end)
    assert.truthy(refused:find("^ECONNREFUSED: connection refused "
                               .. "%(127%.0%.0%.1:%d+%)$"), refused)
    assert.truthy(unknown:find("^EAI_NONAME: .*%(no%-such%-host%.invalid:"
                               .. "443%)$"), unknown)
  end)

  it("gives ETLS for a server that does not speak TLS", function()
    local tls, err = run(function()
      local server = assert(corun.net.listen("127.0.0.1", 0))
      local _, port = server:address()
      local h = corun.spawn(function(server)
        local conn = assert(server:accept())
        conn:read()
        conn:write("HTTP/1.0 400 Bad Request\r\n\r\nnot TLS\n")
        conn:close()
      end, server)
      local tls, err = corun.tls.connect("127.0.0.1", port)
      h:await()
      return tls, err
    end)
    assert.is_nil(tls)
    assert.truthy(err:find("^ETLS: .+ %(127%.0%.0%.1%)$"), err)
  end)

  it("is cancelled by a timeout in the handshake, and closes the "
     .. "connection", function()
    local ok, err, hello, after = run(function()
      -- a plain TCP listener that never answers
      local server = assert(corun.net.listen("127.0.0.1", 0))
      local _, port = server:address()
      local ok, err = corun.timeout(0.3, corun.tls.connect, "127.0.0.1",
                                    port, ca())
      local conn = assert(server:accept())
      local hello = conn:read(1)  -- the client hello came, ...
      local _, after = read_all(conn)  -- ... then the end
      local rest = conn:read()
      conn:close()
      server:close()
      return ok, err, hello, rest == nil and after == nil
    end)
    assert.is_false(ok)
    assert.equal("deadline has elapsed", tostring(err))
    assert.equal("\22", hello)  -- a TLS handshake record
    assert.is_true(after)
  end)

  it("holds a paused clock while the handshake is in progress", function()
    local ok, elapsed = run_long(function()
      return s_server(pki.cert, "", function(port)
        corun.clock.pause()
        local t0 = corun.now()
        local ok, tls = corun.timeout(1, corun.tls.connect, "localhost",
                                      port, ca())
        local elapsed = corun.now() - t0
        corun.clock.resume()
        if ok and tls then tls:close() end
        return ok and tls ~= nil, elapsed
      end)
    end)
    assert.is_true(ok)
    assert.is_true(elapsed < 1, elapsed)
  end)

  it("raises for wrong arguments and options, naming the function",
     function()
    run(function()
      local c = corun.tls.connect
      assert.has_error(function() c(1, 443) end, "corun.tls.connect: bad "
        .. "argument #1 (string expected, got number)")
      assert.has_error(function() c("localhost", "443") end,
        "corun.tls.connect: bad argument #2 (integer port expected, got "
        .. "string)")
      assert.has_error(function() c("localhost", 443, "x") end,
        "corun.tls.connect: bad argument #3 (table of options expected, "
        .. "got string)")
      assert.has_error(function() c("localhost", 443, { verify = "no" }) end,
        "corun.tls.connect: bad argument #3 (opts.verify must be a boolean, "
        .. "got string)")
      assert.has_error(function() c("localhost", 443, { ca = "x" }) end,
        "corun.tls.connect: bad argument #3 (unknown option 'ca')")
      assert.has_error(function() c("localhost", 443, { server = true }) end,
        "corun.tls.connect: bad argument #3 (unknown option 'server')")
      assert.has_error(function() c("localhost", 443, { ca_file = 1 }) end,
        "corun.tls.connect: bad argument #3 (opts.ca_file must be a string, "
        .. "got number)")
      assert.has_error(function() c("localhost", 443, { alpn = "h2" }) end,
        "corun.tls.connect: bad argument #3 (opts.alpn must be a non-empty "
        .. "array of protocol names, got string)")
      assert.has_error(function() c("localhost", 443, { alpn = { "" } }) end,
        "corun.tls.connect: bad argument #3 (opts.alpn[1] must be 1 to 255 "
        .. "bytes, got 0)")
      assert.has_error(function()
        c("localhost", 443, { key_file = pki.key })
      end, "corun.tls.connect: bad argument #3 (opts.key_file without "
        .. "opts.cert_file)")
      assert.has_error(function() c("local\0host", 443) end,
        "corun.tls.connect: bad argument #1 (host contains a zero byte)")
    end)
    assert.has_error(function() corun.tls.connect("localhost", 443) end,
      "corun.tls.connect: must be called from a task (inside corun.run)")
  end)

  it("says why it cannot load a CA file", function()
    local tls, err = run(function()
      return corun.tls.connect("localhost", 443,
                               { ca_file = pki.dir .. "/nope.pem" })
    end)
    assert.is_nil(tls)
    assert.equal("ENOENT: no such file or directory (ca_file " .. pki.dir
                 .. "/nope.pem)", err)
  end)
end)

describe("corun.tls.listen", function()
  -- A server task: accept 'n' connections, answer each one's first line
  -- in upper case, close; returns the lines and the ALPN protocols.
  local function upper_server(server, n)
    return corun.spawn(function(server, n)
      local lines, protocols = {}, {}
      for i = 1, n do
        local tls = assert(server:accept())
        local line = tls:read_line()
        lines[i] = line
        protocols[i] = tls:alpn() or "-"
        tls:write((line or "?"):upper() .. "\n")
        tls:close()
      end
      return lines, protocols
    end, server, n)
  end

  local function listen(opts, host)
    local o = { cert_file = pki.cert, key_file = pki.key }
    for k, v in pairs(opts or {}) do o[k] = v end
    local server = assert(corun.tls.listen(host or "127.0.0.1", 0, o))
    local _, port = server:address()
    return server, port
  end

  it("serves openssl s_client and python3 ssl clients", function()
    local out1, out2, lines = run_long(function()
      local server, port = listen()
      local h = upper_server(server, 2)
      local out1 = s_client(port, "", "hello from s_client\n")
      local out2 = python_client("client", port)
      local _, lines = h:await()
      server:close()
      return out1, out2, lines
    end)
    assert.equal("HELLO FROM S_CLIENT\n", out1)
    assert.equal("got: HELLO FROM PYTHON\n", out2)
    assert.same({ "hello from s_client", "hello from python" }, lines)
  end)

  it("is not held up by a client that never finishes its handshake",
     function()
    local got = run_long(function()
      local server, port = listen()
      local h = upper_server(server, 1)
      -- connected, and silent: its handshake never ends
      local silent = assert(corun.net.connect("127.0.0.1", port))
      -- half a client hello
      local half = assert(corun.net.connect("127.0.0.1", port))
      half:write("\22\3\1\0\200")
      local out = python_client("client", port)
      h:await()
      silent:close()
      half:close()
      server:close()
      return out
    end)
    assert.equal("got: HELLO FROM PYTHON\n", got)
  end)

  it("drops a client whose handshake fails, and accepts the next", function()
    local plain, py, good, lines = run_long(function()
      local server, port = listen()
      local h = upper_server(server, 1)
      -- a client that does not speak TLS sees the end (after an alert, or
      -- none: OpenSSL sends none to what looks like HTTP)
      local conn = assert(corun.net.connect("127.0.0.1", port))
      conn:write("GET / HTTP/1.0\r\n\r\n")
      local answer = read_all(conn)
      conn:close()
      -- a client that does not trust our certificate gives up
      local py = python_client("client", port, "system")
      local good = s_client(port, "", "after them\n")
      local _, lines = h:await()
      server:close()
      return answer, py, good, lines
    end)
    assert.truthy(plain == "" or plain:sub(1, 1) == "\21", plain)
    assert.truthy(py:find("^error: .*CERTIFICATE_VERIFY_FAILED"), py)
    assert.equal("AFTER THEM\n", good)
    assert.same({ "after them" }, lines)
  end)

  it("requires client certificates signed by opts.ca_file", function()
    local with, without, subject = run_long(function()
      local server, port = listen { ca_file = pki.ca }
      local h = corun.spawn(function(server)
        local tls = assert(server:accept())
        local subject = tls:peer_certificate().subject
        tls:write(tls:read_line():upper() .. "\n")
        tls:close()
        return subject
      end, server)
      local without = s_client(port, "", "no certificate\n")
      local with = s_client(port, ("-cert %s -key %s"):format(
        q(pki.client_cert), q(pki.client_key)), "certified\n")
      local _, subject = h:await()
      server:close()
      return with, without, subject
    end)
    assert.equal("CERTIFIED\n", with)
    assert.equal("", without)
    assert.equal("CN = corun-client", subject)
  end)

  it("negotiates ALPN with its own preference", function()
    local out, protocols = run_long(function()
      local server, port = listen { alpn = { "h2", "http/1.1" } }
      local h = upper_server(server, 2)
      local out = s_client(port, "-alpn http/1.1,h2", "a\n")
      s_client(port, "", "b\n")
      local _, _, protocols = h:await()
      server:close()
      return out, protocols
    end)
    assert.equal("A\n", out)
    assert.same({ "h2", "-" }, protocols)
  end)

  it("serves on IPv6 (::1)", function()
    local out = run_long(function()
      local server, port = listen(nil, "::1")
      local h = upper_server(server, 1)
      local out = s_client(port, "", "over v6\n", "::1")
      h:await()
      server:close()
      return out
    end)
    assert.equal("OVER V6\n", out)
  end)

  it("drops a handshake that takes longer than opts.handshake_timeout",
     function()
    local answer, err, waited = run(function()
      local server, port = listen { handshake_timeout = 0.2 }
      local t0 = corun.now()
      local silent = assert(corun.net.connect("127.0.0.1", port))
      local data, err = read_all(silent)
      local waited = corun.now() - t0
      silent:close()
      server:close()
      return data, err, waited
    end)
    assert.equal("", answer)
    assert.is_nil(err)
    assert.is_true(waited >= 0.2, waited)
  end)

  it("closes the connections it prepares when it closes", function()
    local answer = run(function()
      local server, port = listen()
      local silent = assert(corun.net.connect("127.0.0.1", port))
      corun.sleep(0.05)  -- the server has taken it
      server:close()
      local data = read_all(silent)
      silent:close()
      return data
    end)
    assert.equal("", answer)
  end)

  it("listens on a name, which it resolves first", function()
    local host, err = run(function()
      local server = listen(nil, "localhost")
      local host = server:address()
      server:close()
      local none, err = corun.tls.listen("no-such-host.invalid", 0,
        { cert_file = pki.cert, key_file = pki.key })
      assert.is_nil(none)
      return host, err
    end)
    assert.truthy(host == "127.0.0.1" or host == "::1", host)
    assert.truthy(err:find("^EAI_NONAME: "), err)
  end)

  it("runs the handshakes of many clients at once", function()
    local n = 50
    local answers, lines = run_long(function()
      local server, port = listen()
      local h = upper_server(server, n)
      local clients = corun.JoinSet()
      for i = 1, n do
        clients:spawn(function(i, port, opts)
          local tls = assert(corun.tls.connect("localhost", port, opts))
          tls:write("client " .. i .. "\n")
          local line = tls:read_line()
          tls:close()
          return line
        end, i, port, ca())
      end
      local answers = {}
      for _, line in ipairs(clients:join_all()) do answers[line] = true end
      local _, lines = h:await()
      server:close()
      return answers, lines
    end)
    for i = 1, n do assert.is_true(answers["CLIENT " .. i], i) end
    assert.equal(n, #lines)
  end)

  it("says what it is", function()
    local text = run(function()
      local server = listen()
      local text = tostring(server)
      server:close()
      return text
    end)
    assert.truthy(text:find("^corun%.Server %(tls, 127%.0%.0%.1:%d+%)$"),
                  text)
  end)

  it("raises without cert_file, or for bad options, naming the function",
     function()
    run(function()
      local l = corun.tls.listen
      assert.has_error(function() l("127.0.0.1", 0) end, "corun.tls.listen: "
        .. "bad argument #3 (opts.cert_file and opts.key_file are required "
        .. "for a server)")
      assert.has_error(function() l("127.0.0.1", 0, { ca_file = pki.ca }) end,
        "corun.tls.listen: bad argument #3 (opts.cert_file and "
        .. "opts.key_file are required for a server)")
      assert.has_error(function()
        l("127.0.0.1", 0, { cert_file = pki.cert, server_name = "x" })
      end, "corun.tls.listen: bad argument #3 (unknown option "
        .. "'server_name')")
      assert.has_error(function()
        l("127.0.0.1", 0, { cert_file = pki.cert, handshake_timeout = 0 })
      end, "corun.tls.listen: bad argument #3 (opts.handshake_timeout "
        .. "must be a number of seconds in (0, 86400], got 0)")
    end)
  end)

  it("returns ETLS for a certificate it cannot load", function()
    local server, err = run(function()
      return corun.tls.listen("127.0.0.1", 0, { cert_file = pki.ca,
                                                 key_file = pki.key })
    end)
    assert.is_nil(server)
    assert.truthy(err:find("^ETLS: .+ %(key_file .+%)$"), err)
  end)
end)

describe("corun.tls.wrap", function()
  it("upgrades a connection after a plain-text exchange (STARTTLS)",
     function()
    local greeting, answer, old = run_long(function()
      return python_server("starttls", function(port)
        local conn = assert(corun.net.connect("127.0.0.1", port))
        local greeting = conn:read_line()
        conn:write("STARTTLS\r\n")
        assert.equal("220 go ahead", conn:read_line())
        local tls = assert(corun.tls.wrap(conn, ca { server_name =
                                                       "localhost" }))
        tls:write("ping\n")
        local answer = tls:read_line()
        local _, old = pcall(conn.read, conn)
        tls:close()
        return greeting, answer, old
      end)
    end)
    assert.equal("220 ready", greeting)
    assert.equal("tls: ping", answer)
    assert.equal("connection:read: the connection is closed", old)
  end)

  it("checks the peer's address when no server_name is given", function()
    local answer = run_long(function()
      return python_server("starttls", function(port)
        local conn = assert(corun.net.connect("127.0.0.1", port))
        conn:read_line()
        conn:write("STARTTLS\r\n")
        conn:read_line()
        local tls = assert(corun.tls.wrap(conn, ca()))
        tls:write("by address\n")
        local answer = tls:read_line()
        tls:close()
        return answer
      end)
    end)
    assert.equal("tls: by address", answer)
  end)

  it("does the server side with opts.server, with what the client sent "
     .. "already", function()
    local out, line = run_long(function()
      local server = assert(corun.net.listen("127.0.0.1", 0))
      local _, port = server:address()
      local h = corun.spawn(function(server)
        local conn = assert(server:accept())
        corun.sleep(0.2)  -- the client hello comes after the line: both
                          -- are read at once, and wrap takes the hello
        assert.equal("STARTTLS", conn:read_line())
        local tls = assert(corun.tls.wrap(conn, { server = true,
          cert_file = pki.cert, key_file = pki.key }))
        local line = tls:read_line()
        tls:write("hello from corun\n")
        tls:close()
        return line
      end, server)
      local out = python_client("starttls-client", port)
      local _, line = h:await()
      server:close()
      return out, line
    end)
    assert.equal("got: hello from corun\n", out)
    assert.equal("hello from python", line)
  end)

  it("consumes the connection when the handshake fails", function()
    local tls, err, old = run(function()
      local server = assert(corun.net.listen("127.0.0.1", 0))
      local _, port = server:address()
      local h = corun.spawn(function(server)
        local conn = assert(server:accept())
        conn:read()
        conn:close()
      end, server)
      local conn = assert(corun.net.connect("127.0.0.1", port))
      local tls, err = corun.tls.wrap(conn, { server_name = "localhost" })
      h:await()
      server:close()
      return tls, err, select(2, pcall(conn.write, conn, "x"))
    end)
    assert.is_nil(tls)
    assert.truthy(err:find("^ETLS: .+ %(localhost%)$"), err)
    assert.equal("connection:write: the connection is closed", old)
  end)

  it("raises for what is not an open connection, or a server without a "
     .. "certificate", function()
    run(function()
      local server = assert(corun.net.listen("127.0.0.1", 0))
      local _, port = server:address()
      local conn = assert(corun.net.connect("127.0.0.1", port))
      assert.has_error(function() corun.tls.wrap(server) end,
        "corun.tls.wrap: bad argument #1 (corun.Stream expected, got "
        .. "corun.Server)")
      assert.has_error(function() corun.tls.wrap(conn, { server = true }) end,
        "corun.tls.wrap: bad argument #2 (opts.cert_file and opts.key_file "
        .. "are required for a server)")
      assert.has_error(function() corun.tls.wrap(conn, { server = 1 }) end,
        "corun.tls.wrap: bad argument #2 (opts.server must be a boolean, "
        .. "got number)")
      corun.join(function()
        conn:read()  -- waits: the peer says nothing
      end, function()
        assert.has_error(function() corun.tls.wrap(conn) end,
          "corun.tls.wrap: a read or write is waiting on the connection")
        conn:close()  -- the read ends
      end)
      assert.has_error(function() corun.tls.wrap(conn) end,
        "corun.tls.wrap: bad argument #1 (the connection is closed)")
      assert.has_error(function() corun.tls.wrap() end,
        "corun.tls.wrap: bad argument #1 (corun.Stream expected, got no "
        .. "value)")
      server:close()
    end)
    assert.has_error(function() corun.tls.wrap(nil) end,
      "corun.tls.wrap: bad argument #1 (corun.Stream expected, got nil)")
  end)
end)

describe("TLS connection", function()
  it("is closed at its owner's end: the peer sees close_notify", function()
    local seen = run_long(function()
      return s_server(pki.cert, "", function(port, srv)
        corun.spawn(function(port, opts)
          local tls = assert(corun.tls.connect("localhost", port, opts))
          tls:write("left open\n")
        end, port, ca()):await()
        expect(srv, "^left open$")
        return expect(srv, "^(DONE)$")
      end)
    end)
    assert.equal("DONE", seen)
  end)

  it("is closed when its task is aborted in a read", function()
    local cancelled, seen = run_long(function()
      return s_server(pki.cert, "", function(port, srv)
        local h = corun.spawn(function(port, opts)
          local tls = assert(corun.tls.connect("localhost", port, opts))
          tls:write("reading\n")
          return tls:read()  -- s_server says nothing
        end, port, ca())
        expect(srv, "^reading$")
        h:abort()
        local ok, err = h:await()
        return not ok and err:is_cancelled(), expect(srv, "^(DONE)$")
      end)
    end)
    assert.is_true(cancelled)
    assert.equal("DONE", seen)
  end)

  it("moves into a spawned task", function()
    local err, got = run_long(function()
      return s_server(pki.cert, "", function(port, srv)
        local tls = assert(corun.tls.connect("localhost", port, ca()))
        local h = corun.spawn(function(tls)
          tls:write("from the task\n")
          corun.sleep(0.05)
          tls:close()
        end, tls)
        local _, err = pcall(tls.write, tls, "from main\n")
        h:await()
        return err, expect(srv, "^from .*$")
      end)
    end)
    assert.truthy(err:find("^corun: connection belongs to task %d+"), err)
    assert.equal("from the task", got)
  end)

  it("prints itself, and names its methods in misuse errors", function()
    local text, closed = run_long(function()
      return s_server(pki.cert, "", function(port)
        local tls = assert(corun.tls.connect("127.0.0.1", port, ca()))
        local text = tostring(tls)
        assert.has_error(function() tls.read(nil) end, "tls:read: bad "
          .. "argument #1 (corun.TLSConnection expected, got nil)")
        assert.has_error(function() tls:read(0) end, "tls:read: bad "
          .. "argument #2 (at least 1 byte, got 0)")
        assert.has_error(function() tls:write(1) end, "tls:write: bad "
          .. "argument #2 (string expected, got number)")
        assert.has_error(function() tls.alpn({}) end, "tls:alpn: bad "
          .. "argument #1 (corun.TLSConnection expected, got table)")
        tls:close()
        tls:close()
        assert.has_error(function() tls:read_line() end,
          "tls:read_line: the connection is closed")
        assert.has_error(function() tls:peer_certificate() end,
          "tls:peer_certificate: the connection is closed")
        return text, tostring(tls)
      end)
    end)
    assert.truthy(text:find("^corun%.TLSConnection %(TLSv1%.3, "
                            .. "127%.0%.0%.1:%d+%)$"), text)
    assert.equal("corun.TLSConnection (closed)", closed)
  end)

  it("says where each end is", function()
    local peer_host, peer_port, port, my_host = run_long(function()
      return s_server(pki.cert, "", function(port)
        local tls = assert(corun.tls.connect("127.0.0.1", port, ca()))
        local h, p = tls:peer()
        local mine = tls:address()
        tls:close()
        return h, p, port, mine
      end)
    end)
    assert.equal("127.0.0.1", peer_host)
    assert.equal(port, peer_port)
    assert.equal("127.0.0.1", my_host)
  end)
end)
