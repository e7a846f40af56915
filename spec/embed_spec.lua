-- The embedding API (host/corun.h): examples/embed/host.c, a real host
-- application, and spec/c/embed_api.c, the API at its edges.  Both are
-- built by `make tests` into <build>/examples and <build>/test.

local corun = require "corun"
local BUILD = os.getenv("CORUN_BUILD") or "build"
local HOST = BUILD .. "/examples/embed-host"
local API = BUILD .. "/test/embed_api"

local function lines(text)
  local t = {}
  for line in text:gmatch("[^\n]+") do t[#t + 1] = line end
  return t
end

-- Run 'program' with 'args'; returns status, stdout, stderr, and the real
-- seconds it took.  The host's waits are real libuv timers, so these runs
-- stay on the real clock: their timing is checked with lower bounds and
-- against baselines measured in the same spec, never with a tight upper
-- bound.
local function timed(program, args)
  local t0 = wall()
  local status, out, err = exec(program, args)
  return status, out, err, wall() - t0
end

-- Write 'code' to a temporary file; returns its path.
local function script_file(code)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  return path
end

-- Run a scenario of embed_api; returns its output lines (stderr after).
local function scenario(name)
  local status, out, err = exec(API, { name })
  assert.equal(0, status, out .. err)
  return lines(out), err
end

local function has(list, line)
  for _, l in ipairs(list) do if l == line then return true end end
  return false
end

local function index_of(list, pattern)
  for i, l in ipairs(list) do if l:find(pattern) then return i end end
  return nil
end

describe("the example host (examples/embed/host.c)", function()
  it("runs a script that fans out over a native async call, concurrently, " ..
     "while the host's own timer keeps ticking", function()
    -- the baseline, in the same host: the same fetches one after the
    -- other, omega's replaced by a wait as long as its deadline (so that
    -- no fetch is cancelled): 0.1 + 0.2 + 0.3 + 0.05 + 0.5 s
    local sequential = script_file([[
      local corun = require "corun"
      local t0 = corun.now()
      for _, key in ipairs { "alpha", "beta", "gamma", "delta" } do
        assert(corun.timeout(0.5, host.fetch, key))
      end
      corun.sleep(0.5)
      print(string.format("sequential %.3f s", corun.now() - t0))
    ]])
    local bstatus, bout, berr, base_secs = timed(HOST, { sequential })
    os.remove(sequential)
    assert.equal(0, bstatus, berr)
    local base = tonumber(bout:match("^sequential ([%d.]+) s\n"))
    assert.truthy(base, bout)
    assert.is_true(base >= 1.15 - 0.01, bout)

    local status, out, err, secs = timed(HOST, { "examples/embed/fanout.lua" })
    assert.equal(0, status, err)
    assert.equal("", err)
    local got = lines(out)
    assert.same({
      "host: fetch(omega) cancelled",
      "alpha = first letter",
      "beta = second letter",
      "delta = not found: delta",
      "gamma = third letter",
      "omega = timed out",
    }, { table.unpack(got, 1, 6) })
    local elapsed, ticks = got[7]:match(
      "^elapsed ([%d.]+) s, the host ticked (%d+) times meanwhile$")
    assert.truthy(elapsed, got[7])
    elapsed, ticks = tonumber(elapsed), tonumber(ticks)
    -- it waited for the deadline (0.5 s, printed to 0.1 s) ...
    assert.is_true(elapsed >= 0.45, got[7])
    -- ... and the fetches overlap: well under the same fetches made one
    -- by one in this spec (nominally 0.5 s against 1.15 s; one by one,
    -- they would take as long as the baseline)
    assert.is_true(elapsed < 0.75 * base,
                   ("%s; one by one: %.3f s"):format(got[7], base))
    -- the host's 50 ms timer ran while the script waited (it is due
    -- before the 0.5 s deadline; how often it ran depends on the load)
    assert.is_true(ticks >= 1, got[7])
    assert.equal("host: the script returned 2 values: 5 answers", got[8])
    assert.truthy(got[9]:match("^host: %d+ ticks, 5 fetches, 1 cancelled$"),
                  got[9])
    assert.equal(9, #got)
    -- omega's cancelled fetch (2 s) did not keep the host's loop alive:
    -- the host ended before the baseline's, which waited 1.15 s
    assert.is_true(secs < base_secs,
                   ("took %.3f s, the baseline %.3f s"):format(secs, base_secs))
  end)

  it("cancels the host's work for a fetch the script stops waiting for, " ..
     "before the fetch would have answered", function()
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write([[
      local corun = require "corun"
      local h = corun.spawn(host.fetch, "omega")   -- answers after 2 s
      corun.sleep(0.05)
      h:abort()
      local ok, e = h:await()
      print(ok, e:is_cancelled())
      local _, started, cancelled = host.stats()
      print(started, cancelled)
    ]])
    f:close()
    local status, out, err, secs = timed(HOST, { script })
    os.remove(script)
    assert.equal(0, status, err)
    assert.same({ "host: fetch(omega) cancelled", "false\ttrue", "1\t1",
                  "host: the script returned 0 values:" },
                { table.unpack(lines(out), 1, 4) })
    -- the script waits 0.05 s; omega would answer after 2 s had its timer
    -- run on (an upper bound 30 times the expected time)
    assert.is_true(secs < 1.5, "took " .. secs .. " s: the timer ran on")
  end)

  it("reports a script that raises, and a native call made outside a task",
     function()
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write([[
      -- no require "corun": native waits pass through coroutines anyway
      print(pcall(coroutine.wrap(function() return host.fetch("alpha") end)))
      local co = coroutine.create(function()
        local v = host.fetch("beta")
        coroutine.yield(v)
        return "done"
      end)
      print(coroutine.resume(co))
      print(coroutine.resume(co))
      error("script failed")
    ]])
    f:close()
    local status, out, err = exec(HOST, { script })
    os.remove(script)
    assert.equal(1, status, err)
    local got = lines(out)
    -- inside a plain coroutine of the task, the wait passes through
    assert.equal("true\tfirst letter", got[1])
    assert.equal("true\tsecond letter", got[2])
    assert.equal("true\tdone", got[3])
    assert.truthy(got[4]:find("^host: the script failed: .*script failed"),
                  got[4])
  end)

  it("says how to use it without a script", function()
    local status, _, err = exec(HOST, {})
    assert.equal(2, status)
    assert.truthy(err:find("usage:"))
  end)

  it("installs all of corun's coroutine functions: a task's top level is " ..
     "the main thread to a script that does not require corun", function()
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write([[
      local co, ismain = coroutine.running()
      print(type(co), ismain, coroutine.isyieldable(), coroutine.status(co))
      print(pcall(coroutine.yield))
    ]])
    f:close()
    local status, out, err = exec(HOST, { script })
    os.remove(script)
    assert.equal(0, status, err)
    local got = lines(out)
    assert.equal("thread\ttrue\tfalse\trunning", got[1])
    assert.equal("false\tattempt to yield from outside a coroutine (tasks "
                 .. "wait with corun functions, such as corun.yield_now)",
                 got[2])
  end)
end)

describe("corun's C API", function()
  it("returns an error code and a message for each misuse, never aborts",
     function()
    local got = scenario("errors")
    for _, line in ipairs {
      "close without runtime: 4 no runtime was ever opened on this Lua state",
      "step without runtime: 4 no runtime was ever opened on this Lua state",
      "wake without runtime: 4 no runtime was ever opened on this Lua state",
      "abort without runtime: 4 no runtime was ever opened on this Lua state",
      "pending without runtime: 0",
      "open: 0 ",
      "open again: 3 corun_open: a runtime is already open on this Lua state",
      "spawn a number: 4 corun_spawn: no function below the arguments",
      "spawn bad chunk: 1 corun_spawn_chunk: bad:1: unexpected symbol near '+'",
      "abort unknown task: 4 corun_abort: no task 12345 spawned from C is running",
      "stack after abort: 2, top host value B",
      "wake bogus waker: 5 corun_wake: the wait is over (woken already, or its task was cancelled)",
      "step bad mode: 4 corun_step: unknown mode 9",
      "close: 0 ",
      "loop close: 0",
      "close twice (fresh state): 4 no runtime was ever opened on this Lua state",
    } do
      assert.is_true(has(got, line), line .. "\nin:\n" .. table.concat(got, "\n"))
    end
    -- values given to a failing call are popped
    assert.equal(2, #(function() local n = {} for _, l in ipairs(got) do
      if l == "stack after: 0" then n[#n + 1] = l end end return n end)())
    assert.truthy(index_of(got, "^spawn missing file: 1 corun_spawn_file: " ..
                           "cannot open /nonexistent/x.lua"))
    -- a native function called outside a task raises a Lua error
    assert.truthy(index_of(got, "^lua error: .*native: corun_wait_prepare: " ..
                           "must be called from a task"))
    assert.truthy(index_of(got, "^pcall:\tfalse\tnative: corun_wait_prepare: " ..
                           "must be called from a task"))
  end)

  it("runs a runtime on a loop of its own, driven by corun_step", function()
    assert.same({
      "open own loop: 0 ", "has a loop: 1", "spawn: 0 ", "id 1, pending 1",
      "done sleeper: status 0, 2 values, first 42",
      "pending 0 after stepping", "step all: 0 ", "close: 0 ",
      "close again: 4 corun_close: no runtime is open on this Lua state",
      "the state still works\t2",
    }, scenario("owned-loop"))
  end)

  it("runs what is ready without polling the loop (CORUN_STEP_READY)",
     function()
    assert.same({
      "open: 0 ", "done ready: status 0, 1 values, first 10",
      "step ready: 0 ", "pending 0 without running the loop",
      "close: 0 ", "loop close: 0",
    }, scenario("step-ready"))
  end)

  it("suspends a task in a native function until a callback wakes it, " ..
     "with values or an error; cancels it with a timeout; drops a late " ..
     "or second wake; tells the host of a wait prepared and never used",
     function()
    assert.same({
      "open: 0 ",
      "abandoned: first",
      "wake the replaced waker: 5 corun_wake: the wait is over (woken already, or its task was cancelled)",
      "wake before wait: 4 corun_wake: the task is not waiting yet (wake it from a later callback, after corun_wait)",
      "second wake: 5 corun_wake: the wait is over (woken already, or its task was cancelled)",
      "native:\tanswer\t42",
      "second wake: 5 corun_wake: the wait is over (woken already, or its task was cancelled)",
      "wait:\tanswer\t42",
      "second wake: 5 corun_wake: the wait is over (woken already, or its task was cancelled)",
      "raise:\tfalse\tthe host says no",
      "cancel callback (mode 0)",
      "timeout:\tfalse\tdeadline has elapsed",
      "cancel callback (mode 2)",
      "late:\tfalse\tdeadline has elapsed",
      "raised:\tfalse\traised after preparing",
      "abandoned: raised",
      "after:\tfalse\traised after preparing",
      "late wake: 5 corun_wake: the wait is over (woken already, or its task was cancelled)",
      "close inside a task: 3 corun_close: not allowed from inside a task, a scheduler step or a done callback",
      "step inside a task: 3 corun_step: not allowed from inside a task, a scheduler step or a done callback",
      "abandoned: raised",
      "done native: status 0, 1 values, first end",
      "close: 0 ", "loop close: 0",
    }, scenario("native"))
  end)

  it("shows a native wait in corun.tasks() as the host describes it",
     function()
    local got = scenario("describe")
    assert.same({
      "open: 0 ",
      "describe: 0 ",
      "1\trunning\tnil",
      "2\twaiting\tthe host's request",
      "3\twaiting\twait",  -- undescribed: the function it waits in
      "second wake: 5 corun_wake: the wait is over (woken already, or its task was cancelled)",
      "second wake: 5 corun_wake: the wait is over (woken already, or its task was cancelled)",
      "describe a stale waker: 5 corun_wait_describe: the wait is over",
      "done describe: status 0, 1 values, first end",
      "close: 0 ", "loop close: 0",
    }, got)
  end)

  it("keeps several runtimes, one per Lua state, on one loop", function()
    local got = scenario("two-runtimes")
    -- the two runtimes' timers are independent: A's and B's ends may come
    -- in either order (B's own two end in spawn order)
    local dones = { got[3], got[4], got[5] }
    table.sort(dones)
    assert.same({
      "done A: status 0, 1 values, first 1",
      "done B: status 0, 1 values, first 1",
      "done B: status 0, 1 values, first 2",
    }, dones)
    local b1, b2
    for i = 3, 5 do
      if got[i]:find("^done B:.*first 1$") then b1 = i end
      if got[i]:find("^done B:.*first 2$") then b2 = i end
    end
    assert.is_true(b1 < b2)
    assert.same({ "open A: 0 ", "open B: 0 " }, { got[1], got[2] })
    assert.same({ "close A: 0 ", "close B: 0 ", "loop close: 0" },
                { got[6], got[7], got[8] })
    assert.equal(8, #got)
  end)

  it("cancels every task at close (cancel callbacks, <close> handlers, " ..
     "done callbacks) and leaves the loop and the state usable", function()
    assert.same({
      "open: 0 ", "pending 3",
      "cancel callback (mode 0)", "close handler ran",
      "done waiter: status 6, 1 values, first task 1 was cancelled",
      "done sleeper: status 6, 1 values, first task 2 was cancelled",
      "done with status 6",
      "close from a done callback: 3 corun_close: not allowed from inside a task, a scheduler step or a done callback",
      "step from a done callback: 3 corun_step: not allowed from inside a task, a scheduler step or a done callback",
      "spawn from a done callback: 3 corun_spawn: the runtime is shutting down",
      "close: 0 ",
      "the loop still runs after close",
      "the state still works",
      "open again: 0 ",
      "done again: status 0, 1 values, first reopened",
      "close: 0 ", "loop close: 0",
    }, scenario("close-cancels"))
  end)

  it("tells the host how a task ended: an error with its traceback, an " ..
     "abort; reports a detached task's panic", function()
    local got, err = scenario("failures")
    assert.same({
      "open: 0 ",
      "done raiser: status 1, 2 values, first raiser:1: boom",
      "abort: 0 ", "abort again: 0 ",
      "done aborted: status 6, 1 values, first task 2 was cancelled",
      "close: 0 ", "loop close: 0",
    }, got)
    assert.truthy(err:find("corun: task 3 panicked: detached:1: boom", 1,
                           true), err)
  end)
end)

describe("corun_close", function()
  -- bench/cancel: 40 000 tasks parked in native waits (what every I/O
  -- wait is), cancelled by corun_close, next to 40 000 sleepers, in the
  -- same run.  Cancelling one native wait used to scan every other one.
  it("cancels tasks in native waits in time linear in their number, as " ..
     "it cancels sleepers", function()
    local bin = (os.getenv("CORUN_BUILD") or "build") .. "/bench/cancel"
    local status, out, err = exec(bin, { "40000", "3" })
    assert.equal(0, status, err)
    local ratio = tonumber(out:match("ratio ([%d.]+)"))
    assert.is_truthy(ratio, out)
    assert.is_true(ratio < 4, out)
  end)
end)
