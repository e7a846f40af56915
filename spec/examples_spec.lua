-- examples_spec.lua: every script in examples/ runs through the corun
-- executable; its output is checked line by line and its timing shape with
-- tolerant bounds (lower bounds near the nominal time, upper bounds
-- generous: the machine may be busy).
local corun = require "corun"

-- Run 'path' through CORUN: lines of stdout (array), stderr, elapsed s.
local function run_example(path)
  local t0 = corun.now()
  local status, out, err = corun_exec({ path })
  local elapsed = corun.now() - t0
  assert.are.equal(0, status, "exit status of " .. path .. ": " .. err)
  assert.are.equal("", err, "stderr of " .. path)
  local lines = {}
  for line in out:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  return lines, elapsed, out
end

-- 'elapsed' is about 'nominal' seconds: not less (minus a little timer
-- slack), and not more than twice it plus 0.3 s.
local function about(elapsed, nominal)
  assert.is_true(elapsed >= nominal - 0.02,
    ("took %.3f s, expected at least about %.3f s"):format(elapsed, nominal))
  assert.is_true(elapsed < 2 * nominal + 0.3,
    ("took %.3f s, expected about %.3f s"):format(elapsed, nominal))
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
    local lines, t = run_example(L "01-spawn-basics")
    assert.are.same({ "Task is running in the background...", "Got: 42" },
                    lines)
    about(t, 0.1)
  end)

  it("02-move-and-clone: the task gets its own copies", function()
    local lines, t = run_example(L "02-move-and-clone")
    assert.are.same({
      "hello",
      "world",
      "world",
      "task sees: count=2, name=changed by the task",
      "spawner still has: count=1, name=hello",
    }, lines)
    about(t, 0)
  end)

  it("03-abort: Working... every 0.2 s, cancelled after 1 s", function()
    local lines, t = run_example(L "03-abort")
    assert.are.equal("Task was cancelled", lines[#lines])
    local working = #lines - 1
    -- at 0, 0.2, 0.4, 0.6, 0.8 s, and maybe at 1 s before the abort
    assert.is_true(working == 5 or working == 6,
                   "Working... printed " .. working .. " times")
    for i = 1, working do assert.are.equal("Working...", lines[i]) end
    about(t, 1)
  end)

  it("04-drop-does-not-cancel: the dropped task still runs", function()
    local lines, t = run_example(L "04-drop-does-not-cancel")
    assert.are.same({ "I still ran!" }, lines)
    about(t, 0.2)
  end)

  it("05-join: three fetches at once, about 0.3 s, not 0.65 s", function()
    local lines, t = run_example(L "05-join")
    assert.are.equal("user-1, profile-1, settings-1", lines[1])
    assert.are.equal(2, #lines)
    local took = tonumber(lines[2]:match("^Took (%d+%.%d) s$"))
    assert.is_truthy(took, lines[2])
    assert.is_true(took >= 0.3 and took < 0.6, lines[2])
    about(t, 0.3)
    assert.is_true(t < 0.65, ("took %.3f s: sequential?"):format(t))
  end)

  it("06-try-join: fails fast after about 0.1 s", function()
    local lines, t = run_example(L "06-try-join")
    assert.are.same({ "Failed fast: service unavailable" }, lines)
    about(t, 0.1)
    assert.is_true(t < 0.2, ("took %.3f s: not cancelled?"):format(t))
  end)

  it("07-joinset: results in completion order", function()
    local lines, t = run_example(L "07-joinset")
    assert.are.same({
      "Completed: processed-1",
      "Completed: processed-2",
      "Completed: processed-3",
      "Completed: processed-4",
      "Completed: processed-5",
      "All tasks done",
    }, lines)
    about(t, 0.5)
  end)

  it("08-fan-out: every endpoint is UP", function()
    local lines, t = run_example(L "08-fan-out")
    table.sort(lines)
    assert.are.same({
      "https://api1.example.com/health: UP",
      "https://api2.example.com/health: UP",
      "https://api3.example.com/health: UP",
    }, lines)
    about(t, 0.05)
  end)

  it("09-bounded-concurrency: never more than 5 inside process", function()
    local lines, t = run_example(L "09-bounded-concurrency")
    assert.are.equal(21, #lines)
    assert.are.equal("max inside: 5", lines[21])
    local seen = {}
    for i = 1, 20 do
      local r = tonumber(lines[i]:match("^Result: (%d+)$"))
      assert.is_truthy(r, lines[i])
      assert.is_nil(seen[r], "twice: " .. lines[i])
      seen[r] = true
    end
    for id = 0, 19 do assert.is_true(seen[id * 2], "missing " .. id * 2) end
    about(t, 0.4)                      -- 20 tasks, 5 at a time, 0.1 s each
  end)

  it("10-shared-state: Counter: 10", function()
    local lines, t = run_example(L "10-shared-state")
    assert.are.same({ "Counter: 10" }, lines)
    about(t, 0.05)
  end)

  it("11-task-panics: the panic is reported, main goes on", function()
    local lines, t = run_example(L "11-task-panics")
    assert.are.same({ "Task panicked: oops!", "Main continues running fine" },
                    lines)
    about(t, 0)
  end)

  it("aggregator: about 2 s sequential, about 0.4 s concurrent", function()
    local lines, t = run_example("examples/aggregator.lua")
    assert.are.equal(3, #lines)
    local seq = tonumber(lines[1]:match("^sequential: 5 responses in (%d+%.%d) s$"))
    local con = tonumber(lines[2]:match("^concurrent: 5 responses in (%d+%.%d) s$"))
    assert.is_truthy(seq, lines[1])
    assert.is_truthy(con, lines[2])
    assert.is_true(seq >= 2.0 and seq < 4.3, lines[1])
    assert.is_true(con >= 0.4 and con < 1.1, lines[2])
    assert.are.equal(
      "users: ok, orders: ok, inventory: ok, pricing: ok, reviews: ok",
      lines[3])
    about(t, 2.4)
  end)

  it("health-check: UP for the healthy server, DOWN for the slow one " ..
     "and the one not listening, all checked at once", function()
    local lines, t = run_example("examples/health-check.lua")
    assert.are.equal(4, #lines, table.concat(lines, "\n"))
    assert.is_truthy(lines[1]:match(
      "^healthy  http://127%.0%.0%.1:%d+/health  UP %(HTTP/1%.0 200 OK, %d+ ms%)$"),
      lines[1])
    assert.is_truthy(lines[2]:match(
      "^slow     http://127%.0%.0%.1:%d+/health  DOWN %(no answer within 0%.5 s%)$"),
      lines[2])
    assert.is_truthy(lines[3]:match(
      "^down     http://127%.0%.0%.1:(%d+)/health  DOWN %(ECONNREFUSED: " ..
      "connection refused %(127%.0%.0%.1:%d+%)%)$"), lines[3])
    local secs = tonumber(lines[4]:match("^checked 3 endpoints in (%d+%.%d+) s$"))
    assert.is_truthy(secs, lines[4])
    assert.is_true(secs >= 0.49 and secs < 1.0, lines[4])   -- not 0.5 + 2
    about(t, 0.5)
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
    local lines, t = run_example("examples/hello.lua")
    assert.are.same({
      "task 3: coffee is ready",
      "task 4: cocoa is ready",
      "task 2: tea is ready",
      "awaited task 2: true, tea",
      "awaited task 3: true, coffee",
      "awaited task 4: true, cocoa",
      "served in 0.3 s, not 0.6 s",
      "soup: false, deadline has elapsed",
    }, lines)
    about(t, 0.4)
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
    local _, _, out = run_example(path)
    assert.are.equal(output, out)
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
    local script = ([[%s examples/echo-server.lua 0 20 | {
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
