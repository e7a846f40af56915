-- corun.http.listen and corun.HttpServer, against real clients started by
-- the specs (curl, python3's http.client, ab, wrk) and raw bytes sent with
-- corun.net.connect, on 127.0.0.1 only.
local corun = require "corun"

-- A shell command line run to completion, without the sanitizer preload
-- of make test-asan (the clients' own leaks are not ours): stdout, stderr,
-- exit status.
local function sh(cmd)
  local r = assert(corun.process.run("sh", { "-c", "unset LD_PRELOAD; " ..
                                             cmd }))
  return r.stdout, r.stderr, r.status
end

-- run(fn) with a watchdog of 60 s (real time), for specs whose clients
-- take time (more under AddressSanitizer on a busy machine).
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

-- In a task: serve 'handler' on a fresh server (options 'opts') while
-- client(port, server) runs in another branch of the same task; when the
-- client returns, the serving branch is cancelled (and its connection
-- tasks with it).  Returns what the client returned.
local function serving(handler, opts, client)
  local server = assert(corun.http.listen("127.0.0.1", 0, opts))
  local _, port = server:address()
  local r
  local i = corun.select(function()
    return server:serve(handler)
  end, function()
    r = table.pack(client(port, server))
  end)
  server:close()
  if i == 1 then return end  -- serve returned: the client closed it
  return table.unpack(r, 1, r.n)
end

-- Send 'data' on a new connection, end the writing side if 'shut', and
-- read until the server closes: everything read.
local function raw(port, data, shut)
  local c = assert(corun.net.connect("127.0.0.1", port))
  assert(c:write(data))
  if shut then c:shutdown() end
  local parts = {}
  while true do
    local s = c:read()
    if not s then break end
    parts[#parts + 1] = s
  end
  c:close()
  return table.concat(parts)
end

-- The status of each response in 'text' (the status lines, in order).
local function statuses(text)
  local list = {}
  for code in text:gmatch("HTTP/1%.1 (%d%d%d) ") do
    list[#list + 1] = tonumber(code)
  end
  return list
end

-- Let the loop go round 'n' times (each fs call completes in a later turn
-- of the loop, after its poll for I/O): what a peer sent has been read and
-- the tasks it woke have run.
local function turns(n)
  for _ = 1, n or 3 do corun.fs.stat(".") end
end

-- A handler that says what it got.
local function echo(req)
  local names = {}
  for k in pairs(req.headers) do names[#names + 1] = k end
  table.sort(names)
  return 200, ("%s %s ?%s #%d %s [%s]"):format(req.method, req.path,
    tostring(req.query), #req.body, req.peer, table.concat(names, ",")),
    { ["content-type"] = "text/plain" }
end

describe("corun.http.listen", function()
  it("listens on a free port and gives its address", function()
    run(function()
      local server = assert(corun.http.listen("127.0.0.1", 0))
      local host, port = server:address()
      assert.equal("127.0.0.1", host)
      assert.is_true(port > 0)
      assert.matches("^corun.HttpServer %(http://127%.0%.0%.1:%d+%)$",
                     tostring(server))
      server:close()
      assert.equal("corun.HttpServer (closed)", tostring(server))
    end)
  end)

  it("resolves a host name", function()
    run(function()
      local server = assert(corun.http.listen("localhost", 0))
      local host = server:address()
      assert.is_truthy(host == "127.0.0.1" or host == "::1", host)
      server:close()
    end)
  end)

  it("returns nil, err when the port is taken", function()
    run(function()
      local a = assert(corun.http.listen("127.0.0.1", 0))
      local _, port = a:address()
      local b, err = corun.http.listen("127.0.0.1", port)
      assert.is_nil(b)
      assert.matches("^EADDRINUSE: .*127%.0%.0%.1:" .. port, err)
      a:close()
    end)
  end)

  it("raises on bad arguments and options, naming the function", function()
    run(function()
      local function fails(pattern, ...)
        local ok, err = pcall(corun.http.listen, ...)
        assert.is_false(ok)
        assert.matches(pattern, err)
      end
      fails("^corun%.http%.listen: bad argument #1", nil, 0)
      fails("^corun%.http%.listen: bad argument #2", "127.0.0.1", "x")
      fails("^corun%.http%.listen: bad argument #3", "127.0.0.1", 0, 5)
      fails("^corun%.http%.listen: unknown option 'max_body'",
            "127.0.0.1", 0, { max_body = 1 })
      fails("^corun%.http%.listen: bad option 'max_body_bytes' %(integer",
            "127.0.0.1", 0, { max_body_bytes = 1.5 })
      fails("^corun%.http%.listen: bad option 'header_timeout'",
            "127.0.0.1", 0, { header_timeout = -1 })
      fails("^corun%.http%.listen: bad option 'tls'", "127.0.0.1", 0,
            { tls = { cert_file = 1 } })
    end)
    local ok, err = pcall(corun.http.listen, "127.0.0.1", 0)
    assert.is_false(ok)
    assert.matches("^corun%.http%.listen: must be called from a task", err)
  end)
end)

describe("server:serve", function()
  it("answers curl: method, path, query, lower-case headers, peer",
     function()
    run_long(function()
      local out = serving(echo, nil, function(port)
        return sh(("curl -s -H 'X-Thing: 1' 'http://127.0.0.1:%d/a/b?x=1&y'")
                  :format(port))
      end)
      assert.matches("^GET /a/b %?x=1&y #0 127%.0%.0%.1:%d+ " ..
                     "%[accept,host,user%-agent,x%-thing%]$", out)
    end)
  end)

  it("gives headers, repeated ones as arrays, and the status", function()
    run_long(function()
      local out = serving(function()
        return 201, "made", { ["X-One"] = "1", ["Set-Cookie"] = { "a=1",
                              "b=2" }, ["X-Num"] = 42 }
      end, nil, function(port)
        return sh(("curl -s -i http://127.0.0.1:%d/"):format(port))
      end)
      assert.matches("^HTTP/1%.1 201 Created\r\n", out)
      assert.matches("\r\nX%-One: 1\r\n", out)
      assert.matches("\r\nSet%-Cookie: a=1\r\nSet%-Cookie: b=2\r\n", out)
      assert.matches("\r\nX%-Num: 42\r\n", out)
      assert.matches("\r\nContent%-Length: 4\r\n", out)
      assert.matches("\r\nDate: %a%a%a, %d%d %a%a%a %d+ [%d:]+ GMT\r\n", out)
      assert.matches("\r\n\r\nmade$", out)
    end)
  end)

  it("keeps the connection alive: two URLs, one connect (curl)", function()
    run_long(function()
      local out = serving(echo, nil, function(port)
        return sh(("curl -s -o /dev/null -o /dev/null " ..
                   "-w '%%{num_connects} ' " ..
                   "http://127.0.0.1:%d/1 http://127.0.0.1:%d/2")
                  :format(port, port))
      end)
      assert.equal("1 0 ", out)
    end)
  end)

  it("reads a chunked upload (curl)", function()
    run_long(function()
      local out = serving(function(req)
        return 200, ("%s %d %s"):format(req.headers["transfer-encoding"],
                                        #req.body, req.body:sub(1, 10))
      end, nil, function(port)
        return sh(("head -c 300000 /dev/zero | tr '\\0' x | curl -s " ..
                   "-H 'Transfer-Encoding: chunked' --data-binary @- " ..
                   "http://127.0.0.1:%d/up"):format(port))
      end)
      assert.equal("chunked 300000 xxxxxxxxxx", out)
    end)
  end)

  it("answers Expect: 100-continue, then reads the body (curl)", function()
    run_long(function()
      local out, err = serving(function(req)
        return 200, ("%s %d"):format(req.headers.expect, #req.body)
      end, nil, function(port)
        return sh(("head -c 5000 /dev/zero | curl -sv -H 'Expect: " ..
                   "100-continue' --data-binary @- http://127.0.0.1:%d/")
                  :format(port))
      end)
      assert.equal("100-continue 5000", out)
      assert.matches("< HTTP/1%.1 100 Continue", err)
    end)
  end)

  it("answers HEAD with the headers only (curl -I)", function()
    run_long(function()
      local out = serving(function(req)
        return 200, ("x"):rep(1234), { ["x-method"] = req.method }
      end, nil, function(port)
        return sh(("curl -s -I http://127.0.0.1:%d/"):format(port))
      end)
      assert.matches("\r\nx%-method: HEAD\r\n", out)
      assert.matches("^HTTP/1%.1 200 OK\r\n", out)
      assert.matches("\r\nContent%-Length: 1234\r\n", out)
      assert.matches("\r\n\r\n$", out)
    end)
  end)

  it("streams a body function with chunked encoding; it may wait",
     function()
    run_long(function()
      local out, raw_out = serving(function()
        local i = 0
        return 200, function()
          i = i + 1
          if i > 3 then return nil end
          corun.sleep(0.01)
          return "part" .. i .. ";"
        end
      end, nil, function(port)
        return sh(("curl -s http://127.0.0.1:%d/"):format(port)),
               raw(port, "GET / HTTP/1.1\r\nHost: x\r\n" ..
                         "Connection: close\r\n\r\n")
      end)
      assert.equal("part1;part2;part3;", out)
      assert.matches("\r\nTransfer%-Encoding: chunked\r\n", raw_out)
      assert.matches("\r\n\r\n6\r\npart1;\r\n6\r\npart2;\r\n6\r\npart3;" ..
                     "\r\n0\r\n\r\n$", raw_out)
    end)
  end)

  it("serves HTTP/1.0 clients: raw stream, close, keep-alive on request",
     function()
    run_long(function()
      local streamed, kept = serving(function(req)
        if req.path == "/s" then
          local n = 0
          return 200, function()
            n = n + 1
            return n <= 2 and ("p" .. n) or nil
          end
        end
        return 200, "ok"
      end, nil, function(port)
        return raw(port, "GET /s HTTP/1.0\r\n\r\n"),
               raw(port, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" ..
                         "GET / HTTP/1.0\r\n\r\n")
      end)
      assert.matches("^HTTP/1%.1 200 OK\r\n", streamed)
      assert.is_nil(streamed:find("chunked", 1, true))
      assert.matches("\r\nConnection: close\r\n", streamed)
      assert.matches("\r\n\r\np1p2$", streamed)
      assert.same({ 200, 200 }, statuses(kept))
      assert.matches("^[^\n]+\r\nDate[^\n]+\r\nContent%-Length: 2\r\n" ..
                     "Connection: keep%-alive\r\n", kept)
      assert.matches("Connection: close\r\n\r\nok$", kept)
    end)
  end)

  it("answers pipelined requests in order", function()
    run_long(function()
      local out = serving(function(req)
        if req.path == "/slow" then corun.sleep(0.05) end
        return 200, req.path .. ";"
      end, nil, function(port)
        return raw(port, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n" ..
                         "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n" ..
                         "POST /post HTTP/1.1\r\nHost: x\r\n" ..
                         "Content-Length: 3\r\n\r\nabc" ..
                         "GET /last HTTP/1.1\r\nHost: x\r\n" ..
                         "Connection: close\r\n\r\n")
      end)
      local paths = {}
      for p in out:gmatch("\r\n\r\n(/%a+);") do paths[#paths + 1] = p end
      assert.same({ "/slow", "/fast", "/post", "/last" }, paths)
    end)
  end)

  it("closes on Connection: close", function()
    run_long(function()
      local out = serving(echo, nil, function(port)
        -- the second request is never read: the server closes after one
        return raw(port, "GET /1 HTTP/1.1\r\nConnection: close\r\n\r\n" ..
                         "GET /2 HTTP/1.1\r\n\r\n")
      end)
      assert.same({ 200 }, statuses(out))
      assert.matches("\r\nConnection: close\r\n", out)
    end)
  end)

  it("talks with python3's http.client on one connection", function()
    run_long(function()
      local out, err = serving(function(req)
        return 200, req.method .. " " .. req.path .. " " .. #req.body
      end, nil, function(port)
        return sh(([[python3 -c '
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", %d)
for i in range(3):
    c.request("POST", "/p%%d" %% i, body=b"x" * (i * 1000))
    r = c.getresponse()
    print(r.status, r.read().decode(), r.getheader("content-length"))
c.request("GET", "/end")
r = c.getresponse()
print(r.status, r.read().decode(), c.sock is not None)
']]):format(port))
      end)
      assert.equal("200 POST /p0 0 10\n200 POST /p1 1000 13\n" ..
                   "200 POST /p2 2000 13\n200 GET /end 0 True\n", out, err)
    end)
  end)

  it("answers a malformed request 400 and closes", function()
    run_long(function()
      local a, b = serving(echo, nil, function(port)
        return raw(port, "GARBAGE\r\n\r\n"),
               raw(port, "GET / HTTP/1.1\r\nBad Header\r\n\r\n")
      end)
      assert.matches("^HTTP/1%.1 400 Bad Request\r\n", a)
      assert.matches("\r\nConnection: close\r\n", a)
      assert.matches("^HTTP/1%.1 400 ", b)
    end)
  end)

  it("answers a truncated request 400 (or closes)", function()
    run_long(function()
      local a, b, c = serving(echo, nil, function(port)
        return raw(port, "GET / HTTP/1.1\r\nHost: x\r\n", true),
               raw(port, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
                   true),
               raw(port, "", true)
      end)
      assert.matches("^HTTP/1%.1 400 ", a)
      assert.matches("^HTTP/1%.1 400 ", b)
      assert.equal("", c)
    end)
  end)

  it("answers a head over max_header_bytes 431; exactly the limit passes",
     function()
    run_long(function()
      local head = "GET / HTTP/1.1\r\nX: "
      local function request(size)  -- a head of exactly 'size' bytes
        return head .. ("a"):rep(size - #head - 4) .. "\r\n\r\n"
      end
      local over, exact, huge = serving(echo, { max_header_bytes = 1024 },
        function(port)
          return raw(port, request(1025)), raw(port, request(1024) ..
                 "GET / HTTP/1.1\r\nConnection: close\r\n\r\n"),
                 raw(port, "GET / HTTP/1.1\r\nX: " .. ("a"):rep(100000))
        end)
      assert.matches("^HTTP/1%.1 431 ", over)
      assert.same({ 200, 200 }, statuses(exact))
      assert.matches("^HTTP/1%.1 431 ", huge)
    end)
  end)

  it("answers a body over max_body_bytes 413; exactly the limit passes",
     function()
    run_long(function()
      local function post(n, chunked)
        if chunked then
          return ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n" ..
                  "Connection: close\r\n\r\n%x\r\n%s\r\n0\r\n\r\n")
                 :format(n, ("b"):rep(n))
        end
        return ("POST / HTTP/1.1\r\nContent-Length: %d\r\n" ..
                "Connection: close\r\n\r\n%s"):format(n, ("b"):rep(n))
      end
      local r = table.pack(serving(echo, { max_body_bytes = 1000 },
        function(port)
          return raw(port, post(1000)), raw(port, post(1001)),
                 raw(port, post(1000, true)), raw(port, post(1001, true))
        end))
      assert.matches("^HTTP/1%.1 200 .*#1000 ", r[1])
      assert.matches("^HTTP/1%.1 413 Payload Too Large\r\n", r[2])
      assert.matches("^HTTP/1%.1 200 .*#1000 ", r[3])
      assert.matches("^HTTP/1%.1 413 ", r[4])
    end)
  end)

  it("lets a client that keeps sending see its 413 (curl, 2 MiB)",
     function()
    run_long(function()
      local plain, expect = serving(function() return 200 end, nil,
        function(port)
          local cmd = "head -c 2097152 /dev/zero | curl -s -o /dev/null " ..
                      "-w '%%{http_code}' %s --data-binary @- " ..
                      "http://127.0.0.1:%d/"
          return sh(cmd:format("-H 'Expect:'", port)),
                 sh(cmd:format("-H 'Expect: 100-continue'", port))
        end)
      assert.equal("413", plain)
      assert.equal("413", expect)
    end)
  end)

  it("answers a dribbling client 408 after header_timeout (real clock)",
     function()
    run_long(function()
      local out, took = serving(echo, { header_timeout = 0.3 },
        function(port)
          local c = assert(corun.net.connect("127.0.0.1", port))
          local t0 = corun.now()
          assert(c:write("GET / HTTP/1.1\r\n"))
          corun.sleep(0.1)
          assert(c:write("Host: x\r\n"))  -- still no end of head
          local parts = {}
          while true do
            local s = c:read()
            if not s then break end
            parts[#parts + 1] = s
          end
          c:close()
          return table.concat(parts), corun.now() - t0
        end)
      assert.matches("^HTTP/1%.1 408 Request Timeout\r\n", out)
      assert.matches("\r\nConnection: close\r\n", out)
      assert.is_true(took >= 0.3, took)
    end)
  end)

  it("times a dribbling client out on the paused clock (advance)",
     function()
    run_long(function()
      corun.clock.pause()
      local early, late = serving(echo, nil, function(port)
        -- the rest of the head comes 9.9 s after its start: served
        local c = assert(corun.net.connect("127.0.0.1", port))
        assert(c:write("GET /a HTTP/1.1\r\n"))
        turns()
        corun.clock.advance(9.9)
        assert(c:write("Connection: close\r\n\r\n"))
        local early = c:read()
        c:close()
        -- a head still unfinished 10 s after its first byte: 408 (a read
        -- in progress holds the paused clock: only advance moves it)
        c = assert(corun.net.connect("127.0.0.1", port))
        assert(c:write("GET /b HTTP/1.1\r\n"))
        turns()
        corun.clock.advance(10)
        local late = c:read()
        c:close()
        return early, late
      end)
      assert.matches("^HTTP/1%.1 200 ", early)
      assert.matches("^HTTP/1%.1 408 ", late)
      corun.clock.resume()
    end)
  end)

  it("closes an idle keep-alive connection after keepalive_timeout " ..
     "(paused clock: an idle connection does not hold it)", function()
    run_long(function()
      corun.clock.pause()
      local r = table.pack(serving(echo, nil, function(port)
        local c = assert(corun.net.connect("127.0.0.1", port))
        local function get()
          assert(c:write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
          local s = c:read()
          return s and s:match("^HTTP/1%.1 (%d+)")
        end
        local t0 = corun.now()
        local first = get()
        corun.sleep(4.9)  -- the clock jumps: the server waits unheld
        local second = get()
        corun.sleep(5.1)
        local third, err = c:read()
        c:close()
        return first, second, third, err, corun.now() - t0
      end))
      assert.equal("200", r[1])
      assert.equal("200", r[2])
      assert.is_nil(r[3])
      near(10, r[5])
      corun.clock.resume()
    end)
  end)

  it("answers 500 when the handler raises, reports it on stderr and " ..
     "serves on", function()
    local status, out, err = corun_script([[
      local corun = require "corun"
      local server = assert(corun.http.listen("127.0.0.1", 0))
      local _, port = server:address()
      corun.select(function()
        server:serve(function(req)
          if req.path == "/boom" then error("kaboom in the handler") end
          if req.path == "/bad" then return "not a status" end
          return 200, "fine"
        end)
      end, function()
        local r = corun.process.run("sh", { "-c", ("unset LD_PRELOAD; " ..
          "curl -s -w ' %%{http_code}\\n' http://127.0.0.1:%d/boom " ..
          "http://127.0.0.1:%d/bad http://127.0.0.1:%d/ok")
          :format(port, port, port) })
        io.write(r.stdout)
      end)
    ]])
    assert.equal(0, status, err)
    assert.equal(" 500\n 500\nfine 200\n", out)
    assert.matches("corun%.http: handler failed %(GET /boom%): " ..
                   "[^\n]*kaboom in the handler\nstack traceback:", err)
    assert.matches("corun%.http: handler failed %(GET /bad%): the status " ..
                   "is not an integer", err)
  end)

  it("close: stops accepting, lets the request in flight finish",
     function()
    run_long(function()
      local server = assert(corun.http.listen("127.0.0.1", 0))
      local _, port = server:address()
      local entered_tx, entered_rx = corun.channel()
      local go = corun.Notify()
      local served, out, refused
      corun.join(function()
        served = server:serve(function()
          entered_tx:send(true)
          go:notified()
          return 200, "finished"
        end)
      end, function()
        local client = corun.spawn(function(port)
          return (sh(("curl -s http://127.0.0.1:%d/"):format(port)))
        end, port)
        entered_rx:recv()     -- the request is in the handler
        server:close()        -- from another branch of the owner
        local c, err = corun.net.connect("127.0.0.1", port)
        refused = c == nil and err
        go:notify_one()
        out = select(2, client:await())
      end)
      assert.is_true(served)
      assert.equal("finished", out)
      assert.matches("^ECONNREFUSED", refused)
    end)
  end)

  it("close: idle keep-alive connections are closed at once", function()
    run_long(function()
      local server = assert(corun.http.listen("127.0.0.1", 0))
      local _, port = server:address()
      local served, eof
      corun.join(function()
        served = server:serve(echo)
      end, function()
        local c = assert(corun.net.connect("127.0.0.1", port))
        assert(c:write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        assert.matches("^HTTP/1%.1 200", c:read())
        server:close()
        eof = c:read()
        c:close()
      end)
      assert.is_true(served)
      assert.is_nil(eof)
    end)
  end)

  it("cancelling the task in serve cancels the connection tasks",
     function()
    run_long(function()
      local base = corun.live_tasks()
      local server = assert(corun.http.listen("127.0.0.1", 0))
      local _, port = server:address()
      local entered_tx, entered_rx = corun.channel()
      local task = corun.spawn(function(server, tx)
        server:serve(function()
          tx:send(true)
          corun.sleep(3600)
        end)
      end, server, entered_tx)
      local c = assert(corun.net.connect("127.0.0.1", port))
      assert(c:write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
      entered_rx:recv()
      assert.equal(base + 2, corun.live_tasks())  -- serve, a connection
      task:abort()
      assert.is_nil(c:read())  -- the connection closed, unanswered
      c:close()
      settle()
      assert.equal(base, corun.live_tasks())
      local again = corun.net.connect("127.0.0.1", port)
      assert.is_nil(again)  -- the server closed with its owner
    end)
  end)

  it("is owned like a TCP server: moves into a task, others may not " ..
     "serve it", function()
    run_long(function()
      local server = assert(corun.http.listen("127.0.0.1", 0))
      local h = corun.spawn(function(server)
        corun.sleep(3600)
        server:close()
      end, server)
      local ok, err = pcall(server.serve, server, echo)
      assert.is_false(ok)
      assert.matches("server belongs to task " .. h:id(), err)
      ok, err = pcall(server.close, server)
      assert.is_false(ok)
      assert.matches("server belongs to task " .. h:id(), err)
      h:abort()
      local s2 = assert(corun.http.listen("127.0.0.1", 0))
      ok, err = pcall(s2.serve, s2, 42)
      assert.is_false(ok)
      assert.matches("^server:serve: bad argument #2", err)
      s2:close()
    end)
  end)

  it("shares state through a Mutex among connection tasks", function()
    run_long(function()
      local hits = corun.Mutex(0)
      local out = serving(function()
        local guard <close> = hits:lock()
        guard.value = guard.value + 1
        return 200, tostring(guard.value)
      end, nil, function(port)
        local set = corun.JoinSet()
        for _ = 1, 5 do
          set:spawn(function(port)
            return (sh(("curl -s http://127.0.0.1:%d/"):format(port)))
          end, port)
        end
        local seen = {}
        for _, v in ipairs(set:join_all()) do seen[#seen + 1] = tonumber(v) end
        table.sort(seen)
        return table.concat(seen, ",")
      end)
      assert.equal("1,2,3,4,5", out)
    end)
  end)

  it("holds up under ab (keep-alive and not) and wrk, bounded by count",
     function()
    run_long(function()
      local ka, plain, w = serving(function() return 200, "hello" end, nil,
        function(port)
          local url = ("http://127.0.0.1:%d/"):format(port)
          return sh("ab -q -k -n 3000 -c 20 " .. url),
                 sh("ab -q -n 500 -c 10 " .. url),
                 sh("wrk -t1 -c20 -d1s " .. url)
        end)
      for _, out in ipairs { ka, plain } do
        assert.matches("Complete requests:%s+%d+", out)
        assert.matches("Failed requests:%s+0\n", out)
        assert.is_nil(out:find("Non%-2xx"))
      end
      assert.matches("Complete requests:%s+3000\n", ka)
      assert.matches("Keep%-Alive requests:%s+3000\n", ka)
      assert.matches("Complete requests:%s+500\n", plain)
      assert.matches("%d+ requests in", w)
      assert.is_nil(w:find("Socket errors", 1, true), w)
      assert.is_nil(w:find("Non%-2xx"), w)
    end)
  end)
end)

describe("corun.http.listen with opts.tls (HTTPS)", function()
  local pki = require "pki"
  local tls = { cert_file = pki.cert, key_file = pki.key }
  local function hello(req) return 200, "hello " .. req.path .. "\n" end

  it("serves curl over HTTPS, keeping the connection alive", function()
    local out, err, status = run_long(serving, hello, { tls = tls },
      function(port)
        return sh(("curl -s --cacert %s https://localhost:%d/a " ..
                   "https://localhost:%d/b -w '%%{num_connects}\\n'")
                  :format(pki.ca, port, port))
      end)
    assert.equal(0, status, err)
    assert.equal("hello /a\n1\nhello /b\n0\n", out)
  end)

  it("serves corun's own HTTPS client", function()
    local resp, err = run_long(serving, hello, { tls = tls }, function(port)
      return corun.http.get(("https://127.0.0.1:%d/c"):format(port),
                            { ca_file = pki.ca })
    end)
    assert.is_truthy(resp, err)
    assert.equal(200, resp.status)
    assert.equal("hello /c\n", resp.body)
  end)

  it("drops a client whose handshake fails and serves the next", function()
    local plain, out = run_long(serving, hello, { tls = tls },
      function(port)
        local plain = raw(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        return plain, sh(("curl -s --cacert %s https://localhost:%d/ok")
                         :format(pki.ca, port))
      end)
    assert.is_nil(plain:find("hello", 1, true))
    assert.equal("hello /ok\n", out)
  end)

  it("is refused by a client that does not trust its certificate",
     function()
    local out, err, status = run_long(serving, hello, { tls = tls },
      function(port)
        return sh(("curl -s https://localhost:%d/"):format(port))
      end)
    assert.are_not.equal(0, status)
    assert.equal("", out)
  end)
end)

describe("corun.http server, fuzzed", function()
  -- Random and mutated requests, each on its own connection, with its
  -- writing side ended: every one must be answered or closed, within a
  -- bound, and the server must serve on.  Seeded; the seed is printed on
  -- failure.
  it("answers or closes every connection of 2000 random requests",
     function()
    local seed = tonumber(os.getenv("CORUN_FUZZ_SEED")) or os.time()
    math.randomseed(seed)
    local templates = {
      "GET /x?y=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n",
      "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
      "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" ..
        "5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
      "HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
      "PUT /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n" ..
        "\r\nok",
      "GET / HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
    }
    local function mutate(s)
      local kind = math.random(6)
      if kind == 1 then  -- random bytes
        local t = {}
        for i = 1, math.random(0, 300) do t[i] = string.char(math.random(0, 255)) end
        return table.concat(t)
      end
      for _ = 1, math.random(1, 8) do
        local i = math.random(1, math.max(1, #s))
        local op = math.random(4)
        if op == 1 then  -- flip a byte
          s = s:sub(1, i - 1) .. string.char(math.random(0, 255)) .. s:sub(i + 1)
        elseif op == 2 then  -- cut
          s = s:sub(1, i)
        elseif op == 3 then  -- insert
          s = s:sub(1, i) .. ({ "\r\n", "\n", ":", " ", "\0", "9999999999",
                                "chunked", "\r\n\r\n" })[math.random(8)] ..
              s:sub(i + 1)
        else  -- repeat a slice
          local j = math.random(i, #s)
          s = s:sub(1, j) .. s:sub(i, j):rep(math.random(1, 50)) .. s:sub(j + 1)
        end
      end
      return s
    end
    local ok, err = pcall(run_long, function()
      return serving(function(req)
        if req.path:find("y", 1, true) then
          return 200, function() return nil end
        end
        return 200, req.body
      end, { max_header_bytes = 4096, max_body_bytes = 4096,
             header_timeout = 2 }, function(port)
        local set = corun.JoinSet()
        local running, done, answered = 0, 0, 0
        local function collect()
          local ok, res = set:join_next()
          assert(ok, tostring(res))
          assert(res ~= "hang", "a connection was neither answered nor " ..
                 "closed within 5 s")
          if res == "answered" then answered = answered + 1 end
          running = running - 1
          done = done + 1
        end
        for _ = 1, 2000 do
          local data = mutate(templates[math.random(#templates)])
          set:spawn(function(port, data)
            local c = corun.net.connect("127.0.0.1", port)
            if not c then return "refused" end
            local got = {}
            local ok = corun.timeout(5, function()
              if c:write(data) then c:shutdown() end
              while true do
                local s = c:read()
                if not s then break end
                got[#got + 1] = s
              end
            end)
            c:close()
            if not ok then return "hang" end
            local text = table.concat(got)
            if text == "" then return "closed" end
            assert(text:match("^HTTP/1%.1 %d%d%d "), "not a response: " ..
                   text:sub(1, 40))
            return "answered"
          end, port, data)
          running = running + 1
          if running >= 20 then collect() end
        end
        while running > 0 do collect() end
        -- and it still serves
        local last = raw(port, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert(last:match("^HTTP/1%.1 200 "), last)
        return done, answered
      end)
    end)
    if not ok then
      error(("fuzz failed with seed %d (CORUN_FUZZ_SEED=%d): %s")
            :format(seed, seed, tostring(err)), 0)
    end
  end)
end)
