--- corun: Tokio's task model for Lua, on libuv.
-- The C core (corun.core) does the work; this file assembles the public
-- module and makes corun's waits pass through the coroutines a task runs.
local core = require "corun.core"

-- corun's versions of coroutine.*: waits inside a task's own coroutines
-- (generators, coroutine.wrap iterators) pass up to the scheduler, and a
-- task's top level behaves as the main thread (docs/api.md, "Coroutines
-- inside tasks"); outside a task they behave exactly as the standard ones.
for name, fn in pairs(core.coroutine) do
  coroutine[name] = fn
end

-- The module is what the core registers, but for the coroutine functions
-- installed above.
local corun = {}
for name, value in pairs(core) do
  if name ~= "coroutine" then corun[name] = value end
end

return corun
