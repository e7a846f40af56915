-- examples_spec.lua: every script in examples/ runs through the corun
-- executable; its output is checked line by line.  Its timing is checked
-- on the paused clock (`corun --paused-clock`): the sleeps end at once in
-- real time, and the time of every line it prints is exact, whatever the
-- machine's load.  A few runs on the real clock remain (the I/O examples,
-- and one real-time run of some others), with lower bounds and relative
-- checks only.

-- The lines of 'out' (array).
local function lines_of(out)
  local lines = {}
  for line in out:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  return lines
end

-- Run 'path' through CORUN with the clock paused.  A -e chunk, run in the
-- main task just before the script, wraps print to note the paused
-- clock's time (since the start) at each call.  Returns the lines of
-- stdout (array), the time of each print (array, seconds since the start)
-- and stdout.
local function run_paused(path)
  local stamps = os.tmpname()
  local hook = ([[
    local corun, print0 = require "corun", print
    local log, t0 = assert(io.open(%q, "w")), corun.now()
    function print(...)
      print0(...)
      log:write(("%%.9f\n"):format(corun.now() - t0))
      log:flush()
    end
  ]]):format(stamps)
  local status, out, err = corun_exec({ "--paused-clock", "-e", hook, path })
  local times = {}
  for t in slurp(stamps):gmatch("[^\n]+") do times[#times + 1] = tonumber(t) end
  assert.are.equal(0, status, "exit status of " .. path .. ": " .. err)
  assert.are.equal("", err, "stderr of " .. path)
  local lines = lines_of(out)
  assert.are.equal(#lines, #times, "one line per print in " .. path)
  return lines, times, out
end

-- Assert that line i was printed at exactly want[i] s (paused clock).
local function printed_at(want, times)
  assert.are.equal(#want, #times, "lines printed")
  for i, t in ipairs(want) do near(t, times[i], "line " .. i) end
end

-- Run 'path' through CORUN on the real clock: lines of stdout (array),
-- real seconds the whole run took, stdout.
local function run_real(path)
  local w0 = wall()
  local status, out, err = corun_exec({ path })
  local elapsed = wall() - w0
  assert.are.equal(0, status, "exit status of " .. path .. ": " .. err)
  assert.are.equal("", err, "stderr of " .. path)
  return lines_of(out), elapsed, out
end

-- A real-time run took at least 'nominal' seconds (its sleeps never end
-- early; a little slack for the two clocks).  No upper bound: the machine
-- may be busy.
local function at_least(elapsed, nominal)
  assert.is_true(elapsed >= nominal - 0.02,
    ("took %.3f s, expected at least %.3f s"):format(elapsed, nominal))
end

-- The contents of file 'path' (kept).
local function slurp_keep(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function L(name) return "examples/lesson/" .. name .. ".lua" end

describe("examples", function()
  it("01-spawn-basics: spawn returns at once, await gives the result",
     function()
    local lines, times = run_paused(L "01-spawn-basics")
    assert.are.same({ "Task is running in the background...", "Got: 42" },
                    lines)
    printed_at({ 0, 0.1 }, times)      -- at once, then after the task's 0.1 s
  end)

  it("02-move-and-clone: the task gets its own copies", function()
    local lines, times = run_paused(L "02-move-and-clone")
    assert.are.same({
      "hello",
      "world",
      "world",
      "task sees: count=2, name=changed by the task",
      "spawner still has: count=1, name=hello",
    }, lines)
    printed_at({ 0, 0, 0, 0, 0 }, times)  -- nothing waits
  end)

  it("03-abort: Working... every 0.2 s, cancelled after 1 s", function()
    local lines, times = run_paused(L "03-abort")
    assert.are.equal("Task was cancelled", lines[#lines])
    local working = #lines - 1
    -- at 0, 0.2, 0.4, 0.6, 0.8 s, and maybe at 1 s before the abort
    assert.is_true(working == 5 or working == 6,
                   "Working... printed " .. working .. " times")
    for i = 1, working do
      assert.are.equal("Working...", lines[i])
      near(0.2 * (i - 1), times[i], "Working... " .. i)
    end
    near(1, times[#times], "Task was cancelled")
  end)

  it("04-drop-does-not-cancel: the dropped task still runs", function()
    local lines, times = run_paused(L "04-drop-does-not-cancel")
    assert.are.same({ "I still ran!" }, lines)
    printed_at({ 0.1 }, times)         -- its own 0.1 s, within main's 0.2 s
  end)

  it("05-join: three fetches at once, 0.3 s, not 0.65 s", function()
    local lines, times = run_paused(L "05-join")
    assert.are.same({ "user-1, profile-1, settings-1", "Took 0.3 s" }, lines)
    printed_at({ 0.3, 0.3 }, times)    -- the longest fetch, not the sum
  end)

  it("06-try-join: fails fast after 0.1 s", function()
    local lines, times = run_paused(L "06-try-join")
    assert.are.same({ "Failed fast: service unavailable" }, lines)
    printed_at({ 0.1 }, times)         -- not 0.2: the other branch is cancelled
  end)

  it("07-joinset: results in completion order", function()
    local lines, times = run_paused(L "07-joinset")
    assert.are.same({
      "Completed: processed-1",
      "Completed: processed-2",
      "Completed: processed-3",
      "Completed: processed-4",
      "Completed: processed-5",
      "All tasks done",
    }, lines)
    printed_at({ 0.1, 0.2, 0.3, 0.4, 0.5, 0.5 }, times)  -- each as it ends
  end)

  it("08-fan-out: every endpoint is UP", function()
    local lines, times = run_paused(L "08-fan-out")
    table.sort(lines)
    assert.are.same({
      "https://api1.example.com/health: UP",
      "https://api2.example.com/health: UP",
      "https://api3.example.com/health: UP",
    }, lines)
    printed_at({ 0.05, 0.05, 0.05 }, times)  -- checked at once, not 0.15 s
  end)

  it("09-bounded-concurrency: never more than 5 inside process", function()
    local lines, times = run_paused(L "09-bounded-concurrency")
    assert.are.equal(21, #lines)
    assert.are.equal("max inside: 5", lines[21])
    local seen = {}
    for i = 1, 20 do
      local r = tonumber(lines[i]:match("^Result: (%d+)$"))
      assert.is_truthy(r, lines[i])
      assert.is_nil(seen[r], "twice: " .. lines[i])
      seen[r] = true
      -- 20 tasks, 5 at a time, 0.1 s each: the fourth five start at 0.3 s,
      -- when the spawning loop ends and the first fifteen are collected
      near(r < 30 and 0.3 or 0.4, times[i], lines[i])
    end
    for id = 0, 19 do assert.is_true(seen[id * 2], "missing " .. id * 2) end
    near(0.4, times[21], lines[21])
  end)

  it("10-shared-state: Counter: 10", function()
    local lines, times = run_paused(L "10-shared-state")
    assert.are.same({ "Counter: 10" }, lines)
    printed_at({ 0.05 }, times)        -- the ten sleeps overlap
  end)

  it("11-task-panics: the panic is reported, main goes on", function()
    local lines, times = run_paused(L "11-task-panics")
    assert.are.same({ "Task panicked: oops!", "Main continues running fine" },
                    lines)
    printed_at({ 0, 0 }, times)
  end)

  it("aggregator: 2 s sequential, 0.4 s concurrent", function()
    local lines, times = run_paused("examples/aggregator.lua")
    assert.are.same({
      "sequential: 5 responses in 2.0 s",
      "concurrent: 5 responses in 0.4 s",
      "users: ok, orders: ok, inventory: ok, pricing: ok, reviews: ok",
    }, lines)
    printed_at({ 2, 2.4, 2.4 }, times)
    -- once on the real clock: at least the nominal times, and the
    -- concurrent calls faster than the sequential ones of the same run
    local real, t = run_real("examples/aggregator.lua")
    assert.are.equal(3, #real)
    local seq = tonumber(real[1]:match("^sequential: 5 responses in (%d+%.%d) s$"))
    local con = tonumber(real[2]:match("^concurrent: 5 responses in (%d+%.%d) s$"))
    assert.is_truthy(seq, real[1])
    assert.is_truthy(con, real[2])
    assert.is_true(seq >= 2.0, real[1])
    assert.is_true(con >= 0.4, real[2])
    assert.is_true(con < seq, real[1] .. "; " .. real[2])
    assert.are.equal(lines[3], real[3])
    at_least(t, 2.4)
  end)

  -- HTTPS services started by the spec (spec/servers/service.py): a
  -- healthy one, a slow one (2 s, past the 0.5 s deadline) and a port
  -- where nothing listens.  Real time: the checks wait for real servers.
  it("health-check: UP for the healthy HTTPS service, DOWN for the slow " ..
     "one and the one not listening, all checked at once", function()
    local pki = require "pki"
    local services = require "services"
    local healthy = services.start { tls = true }
    local slow = services.start { tls = true, delays = { ["/health"] = 2 } }
    local ok, err = pcall(function()
      local closed = services.start { tls = true }
      local closed_url = closed.url
      closed.stop()
      local w0 = wall()
      local status, out, stderr = corun_exec({ "examples/health-check.lua",
        "--ca", pki.ca, healthy.url .. "/health", slow.url .. "/health",
        closed_url .. "/health" })
      local t = wall() - w0
      assert.are.equal(0, status, stderr)
      local lines = lines_of(out)
      assert.are.equal(4, #lines, out)
      assert.matches("^https://127%.0%.0%.1:%d+/health  UP %(200, " ..
                     "HTTP/1%.1, %d+ ms%)$", lines[1])
      assert.matches("^https://127%.0%.0%.1:%d+/health  DOWN %(ETIMEDOUT",
                     lines[2])
      assert.matches("^https://127%.0%.0%.1:%d+/health  DOWN " ..
                     "%(ECONNREFUSED", lines[3])
      local secs = tonumber(lines[4]:match("^checked 3 endpoints in " ..
                                           "(%d+%.%d+) s$"))
      assert.is_truthy(secs, lines[4])
      assert.is_true(secs >= 0.49, lines[4])   -- the slow one's deadline
      assert.is_true(secs < 2.5, lines[4])     -- not 0.5 + 2: 5x
      at_least(t, 0.5)
    end)
    healthy.stop()
    slow.stop()
    assert(ok, err)
  end)

  it("health-check: says how to use it when given no URL", function()
    local status, out, err = corun_exec({ "examples/health-check.lua" })
    assert.are.equal(2, status)
    assert.are.equal("", out)
    assert.matches("^usage: corun examples/health%-check%.lua", err)
  end)

  -- Five HTTPS services of 0.5 s each, started by the spec: called at
  -- once, the aggregate takes about 0.5 s, not 2.5 s.
  it("api-aggregator: calls five HTTPS services at once", function()
    local pki = require "pki"
    local services = require "services"
    local delays = {}
    for _, name in ipairs { "users", "orders", "inventory", "prices",
                            "reviews" } do
      delays["/" .. name] = 0.5
    end
    local svc = services.start { tls = true, delays = delays }
    local ok, err = pcall(function()
      local w0 = wall()
      local status, out, stderr = corun_exec({ "examples/api-aggregator.lua",
                                               svc.url, pki.ca })
      local t = wall() - w0
      assert.are.equal(0, status, stderr)
      assert.are.equal("", stderr)
      local lines = lines_of(out)
      assert.are.same({
        'users     {"service": "users", "ok": true}',
        'orders    {"service": "orders", "ok": true}',
        'inventory {"service": "inventory", "ok": true}',
        'prices    {"service": "prices", "ok": true}',
        'reviews   {"service": "reviews", "ok": true}',
      }, { table.unpack(lines, 1, 5) })
      local took = tonumber(lines[6]:match("^aggregated 5 services %(0 " ..
                                           "failed%) in (%d+%.%d) s$"))
      assert.is_truthy(took, lines[6])
      assert.is_true(took >= 0.5, lines[6])  -- the slowest
      assert.is_true(took < 2.5, lines[6])   -- not the sum: concurrent
      at_least(t, 0.5)
    end)
    svc.stop()
    assert(ok, err)
  end)

  it("echo-server: echoes each client's bytes, one task per connection",
     function()
    -- the server's first line gives the port; a corun client then talks to
    -- it over three connections, and the server stops after them
    local client = os.tmpname()
    local f = assert(io.open(client, "w"))
    f:write([[
      local corun = require "corun"
      local port = tonumber(arg[1])
      local set = corun.JoinSet()
      for i = 1, 3 do
        set:spawn(function(i)
          local c = assert(corun.net.connect("127.0.0.1", port))
          local msg = ("message %d: "):format(i) .. ("x"):rep(i * 50000)
          assert(c:write(msg .. "\n"))
          local back = c:read_line()
          c:close()
          return back == msg
        end, i)
      end
      local good = 0
      while true do
        local ok, same = set:join_next()
        if ok == nil then break end
        if ok and same then good = good + 1 end
      end
      print("client: " .. good .. " of 3 echoed")
    ]])
    f:close()
    local script = ("%s examples/echo-server.lua 0 3 | { read -r first; " ..
      "echo \"$first\"; %s %s \"${first##*:}\"; cat; }")
      :format(shell_quote(CORUN), shell_quote(CORUN), shell_quote(client))
    local status, out, err = exec("sh", { "-c", script })
    os.remove(client)
    assert.are.equal(0, status, err)
    assert.are.equal("", err)
    local lines = {}
    for line in out:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
    assert.is_truthy(lines[1]:match("^listening on 127%.0%.0%.1:%d+$"), lines[1])
    assert.are.equal("client: 3 of 3 echoed", lines[2])
    local bytes = 0
    for i = 1, 3 do bytes = bytes + #("message 1: ") + i * 50000 + 1 end
    assert.are.equal(("served 3 connections, echoed %d bytes"):format(bytes),
                     lines[3])
  end)

  it("hello: make demo's script still works", function()
    local want = {
      "task 3: coffee is ready",
      "task 4: cocoa is ready",
      "task 2: tea is ready",
      "awaited task 2: true, tea",
      "awaited task 3: true, coffee",
      "awaited task 4: true, cocoa",
      "served in 0.3 s, not 0.6 s",
      "soup: false, deadline has elapsed",
    }
    local lines, times = run_paused("examples/hello.lua")
    assert.are.same(want, lines)
    printed_at({ 0.1, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3, 0.4 }, times)
    -- as make demo runs it, on the real clock: the same lines but the
    -- time it prints, which is at least 0.3 s
    local real, t = run_real("examples/hello.lua")
    assert.are.equal(#want, #real)
    for i = 1, #want do
      if i ~= 7 then assert.are.equal(want[i], real[i]) end
    end
    local served = tonumber(real[7]:match("^served in (%d+%.%d) s, not 0%.6 s$"))
    assert.is_truthy(served, real[7])
    assert.is_true(served >= 0.3, real[7])
    at_least(t, 0.4)
  end)

  it("README: the first example is a lesson script and works as written",
     function()
    local readme = slurp_keep("README.md")
    local section = assert(readme:match("\n## A first example\n(.-)\n## "))
    local path = assert(section:match("%[(examples/[^%]]+%.lua)%]"))
    local code = assert(section:match("```lua\n(.-)```"))
    local output = assert(section:match("```lua\n.-```.-```\n(.-)```"))
    assert.is_truthy(path:match("^examples/lesson/"), path)
    assert.are.equal(slurp_keep(path), code)
    -- "prints the first line at once and the second after 0.1 s"
    local _, times, out = run_paused(path)
    assert.are.equal(output, out)
    printed_at({ 0, 0.1 }, times)
    -- and as the README says to run it, on the real clock
    local _, t, real = run_real(path)
    assert.are.equal(output, real)
    at_least(t, 0.1)
  end)

  it("examples/README.md names every example", function()
    local text = slurp_keep("examples/README.md")
    local p = io.popen("ls examples/lesson/*.lua examples/*.lua")
    for path in p:lines() do
      local name = path:match("[^/]+$")
      assert.is_truthy(text:find(name, 1, true), name .. " not in README")
    end
    p:close()
  end)
end)

describe("examples/echo-server.lua", function()
  -- 20 clients connect and reset at once (SO_LINGER 0): each connection's
  -- task finds its client gone (peer() or read fails).  The example must
  -- say so for each, and lose no task's failure.
  it("reports every client that reset, and serves on", function()
    -- (python3 runs without the sanitizer preload of make test-asan: its
    -- own leaks would be reported on this stderr)
    local script = ([[unset LD_PRELOAD; %s examples/echo-server.lua 0 20 | {
      read -r first; echo "$first"
      python3 -c '
import socket, struct, sys
for i in range(20):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
' "${first##*:}"; cat; }]]):format(shell_quote(CORUN))
    local status, out, err = exec("sh", { "-c", script })
    assert.are.equal(0, status, err)
    assert.matches("served 20 connections, echoed 0 bytes\n$", out)
    local reports = 0
    for line in err:gmatch("[^\n]+") do
      assert.is_nil(line:find("panicked", 1, true), line)
      assert.is_truthy(line:match("^a client: E%u+: ") or
                       line:match("^127%.0%.0%.1:%d+: E%u+: "), line)
      reports = reports + 1
    end
    assert.equal(20, reports, err)
  end)
end)

describe("examples/http-server.lua", function()
  -- The example runs on a free port; curl drives each route, then asks it
  -- to shut down, and the script's own last line says it stopped.
  local function drive(requests)
    local lines = { ("unset LD_PRELOAD; %s examples/http-server.lua 0 | {")
                    :format(shell_quote(CORUN)),
                    'read -r first; echo "$first"; p=${first##*:}' }
    for _, r in ipairs(requests) do
      lines[#lines + 1] = ("curl -s %s; echo '|'"):format(
        r:gsub("URL", "http://127.0.0.1:$p"))
    end
    lines[#lines + 1] = "curl -s -X POST http://127.0.0.1:$p/shutdown; cat; }"
    local status, out, err = exec("sh", { "-c", table.concat(lines, "\n") })
    assert.are.equal(0, status, err)
    return out, err
  end

  it("serves its routes: query, shared notes, a stream, 404, shutdown",
     function()
    local out, err = drive {
      '"URL/hello?name=a%20b"',
      '"URL/hello"',
      "-d 'buy milk' URL/notes",
      "-d 'call mum' URL/notes",
      "URL/notes",
      "-X POST URL/notes",
      '"URL/countdown?from=2"',
      "-o /dev/null -w '%{http_code}' URL/nope",
    }
    assert.are.equal("", err)
    local want = table.concat({
      "hello, a b\n", "hello, world\n", "note 1\n", "note 2\n",
      "1. buy milk\n2. call mum\n", "empty note\n", "2\n1\nliftoff\n", "404",
    }, "|\n") .. "|\nshutting down\nstopped with 2 notes\n"
    assert.matches("^listening on 127%.0%.0%.1:%d+\n", out)
    assert.are.equal(want, (out:gsub("^[^\n]*\n", "")))
  end)

  it("GET /fetch calls another service with corun.http.get", function()
    local out = drive { '"URL/fetch?url=URL/hello"' }
    assert.matches("\nhttp://127%.0%.0%.1:%d+/hello answered 200 with 13 " ..
                   "bytes\n|\n", out)
  end)
end)
