--- corun: Tokio's task model for Lua, on libuv.
-- The C core (corun.core) does the work; this file assembles the public
-- module and makes corun's waits pass through the coroutines a task runs.
local core = require "corun.core"

-- Waits inside a task's own coroutines (generators, coroutine.wrap
-- iterators) pass up to the scheduler; every other use of these two
-- functions behaves exactly as the standard ones.
coroutine.resume = core.coroutine_resume
coroutine.wrap = core.coroutine_wrap

local corun = {}
for _, name in ipairs {
  "run", "spawn", "task_id", "yield_now", "live_tasks",
  "sleep", "sleep_until", "now", "timeout", "interval", "clock",
  "join", "try_join", "select", "JoinSet",
  "Semaphore", "Mutex", "Notify", "channel",
  "net", "dns", "fs", "process", "signal",
  "version",
} do
  corun[name] = core[name]
end

return corun
