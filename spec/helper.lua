-- helper.lua: loaded by busted (see .busted) before the spec files.
-- Globals: run, shared, closer, CORUN, corun_exec, corun_script,
-- shell_quote, slurp, settle.
local corun = require "corun"

-- Wall-clock limit of one run(): a hang fails the test instead of stalling.
local WATCHDOG = 10

-- corun.run(fn, ...) with a watchdog: fn runs under corun.timeout in the
-- main task; its results are returned and its errors propagate.
function run(fn, ...)
  return corun.run(function(...)
    local r = table.pack(corun.timeout(WATCHDOG, fn, ...))
    if not r[1] then
      error(("watchdog: the test still ran after %g s"):format(WATCHDOG), 0)
    end
    return table.unpack(r, 2, r.n)
  end, ...)
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
