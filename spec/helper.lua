-- helper.lua: loaded by busted (see .busted) before the spec files.
-- Globals: run, run_leaving, paused, near, wall, shared, closer, CORUN,
-- exec, sh, tmpdir, corun_exec, corun_script, my_pid, shell_quote, slurp,
-- settle.
local corun = require "corun"

-- Seconds one run() may last (real time, unless the spec pauses the clock).
local WATCHDOG = 10

-- fn(...) under a watchdog of 'limit' seconds (default WATCHDOG) on the
-- runtime's clock: a hang fails the spec instead of stalling the suite.
local function with_watchdog(limit, fn, ...)
  local r = table.pack(corun.timeout(limit or WATCHDOG, fn, ...))
  if not r[1] then
    error(("watchdog: the test still ran after %g s"):format(limit or
          WATCHDOG), 0)
  end
  return table.unpack(r, 2, r.n)
end

-- In the main task: fail unless every other task has ended (once the
-- tasks already woken, aborted ones included, have had their turn).
local function no_task_left()
  corun.yield_now()
  local live = corun.live_tasks() - 1
  if live > 0 then
    error(("the spec left %d task%s alive (await, abort or join what it "
           .. "spawns, or use run_leaving)"):format(live,
           live == 1 and "" or "s"), 0)
  end
end

-- corun.run(fn, ...) with a watchdog: fn runs as a branch of the main
-- task; its results are returned and its errors propagate.  A spec that
-- leaves a task alive when fn returns fails (every task it spawned must
-- have ended: awaited, aborted and settled, or joined); a spec that means
-- to leave tasks for the shutdown to cancel uses run_leaving.
function run(fn, ...)
  return corun.run(function(...)
    local r = table.pack(with_watchdog(nil, fn, ...))
    no_task_left()
    return table.unpack(r, 1, r.n)
  end, ...)
end

-- run without the check for live tasks: for specs of what the shutdown
-- does to tasks still alive.
function run_leaving(fn, ...)
  return corun.run(with_watchdog, nil, fn, ...)
end

-- Virtual seconds a spec on the paused clock may last: its watchdog is on
-- that clock, so it catches a task that sleeps in a loop for ever; a
-- deadlock ends the runtime by itself.  (A paused clock stands still while
-- I/O is in progress: such a hang is left to the suite's own time limit.)
local PAUSED_WATCHDOG = 1e7

-- run(fn, ...) with the clock paused from the start: timing is checked
-- exactly, on corun's test clock, whatever the machine's load.
function paused(fn, ...)
  return corun.run(function(...)
    corun.clock.pause()
    local r = table.pack(with_watchdog(PAUSED_WATCHDOG, fn, ...))
    no_task_left()
    return table.unpack(r, 1, r.n)
  end, ...)
end

-- Assert that the time 'actual' is 'expected' seconds: exactly, on the
-- paused clock, up to the rounding of seconds as floats.
function near(expected, actual, what)
  assert(type(actual) == "number", (what or "time") .. " is not a number: "
         .. tostring(actual))
  assert(math.abs(expected - actual) < 1e-6, ("%sexpected %.9f s, got %.9f s")
         :format(what and what .. ": " or "", expected, actual))
end

-- Real (wall-clock) seconds, read outside every runtime's clock: for the
-- few checks that must use real time (child processes, real I/O), as
-- lower bounds and comparisons within one run.
function wall()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("a"))
  p:close()
  return t
end

-- A fresh table in the global SHARED.  Tasks report through it: globals are
-- shared by every task of a runtime, while what a spawned function captures
-- may be copied into the task.
function shared()
  local t = {}
  rawset(_G, "SHARED", t)
  return t
end

-- A to-be-closed value that appends 'name' to SHARED.closed when closed.
function closer(name)
  return setmetatable({}, { __close = function()
    local s = rawget(_G, "SHARED")
    s.closed = s.closed or {}
    s.closed[#s.closed + 1] = name
  end })
end

-- Let the other ready tasks run: n (default 5) rounds of yield_now.
function settle(n)
  for _ = 1, n or 5 do corun.yield_now() end
end

-- The corun executable under test.
CORUN = (os.getenv("CORUN_BUILD") or "build") .. "/corun"

-- A shell word for 's'.
function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- The contents of file 'path', which is removed.
function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  os.remove(path)
  return s
end

-- Run 'program' with 'args' (an array of strings) and 'input' on stdin;
-- returns exit status, stdout, stderr.  A hang is killed after 60 s.
function exec(program, args, input)
  local inp, out, err, rc = os.tmpname(), os.tmpname(), os.tmpname(),
                            os.tmpname()
  local f = assert(io.open(inp, "wb"))
  f:write(input or "")
  f:close()
  local words = { "timeout -s KILL 60", shell_quote(program) }
  for _, a in ipairs(args or {}) do words[#words + 1] = shell_quote(a) end
  os.execute(("%s <%s >%s 2>%s; echo $? >%s"):format(table.concat(words, " "),
             shell_quote(inp), shell_quote(out), shell_quote(err), shell_quote(rc)))
  os.remove(inp)
  local status = tonumber(slurp(rc):match("%d+"))
  return status, slurp(out), slurp(err)
end

-- Run the shell command line 'cmd' without the sanitizer preload of `make
-- test-asan` (the programs it runs are not instrumented, and their own
-- leaks would be reported); returns exit status, stdout, stderr.
function sh(cmd)
  return exec("sh", { "-c", "unset LD_PRELOAD; " .. cmd })
end

-- A fresh temporary directory (the caller removes it: rm -rf).
function tmpdir()
  local p = io.popen("mktemp -d")
  local d = p:read("l")
  p:close()
  return d
end

-- Run the corun executable: exec(CORUN, args, input).
function corun_exec(args, input)
  return exec(CORUN, args, input)
end

-- The pid of this Lua process (the one the specs run in).
function my_pid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("n")
  f:close()
  return pid
end

-- Run Lua 'code' as a script file: corun_exec({file, ...}).
function corun_script(code, ...)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(code)
  f:close()
  local status, out, err = corun_exec({ path, ... })
  os.remove(path)
  return status, out, err
end
