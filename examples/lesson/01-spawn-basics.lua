-- 01-spawn-basics.lua: spawn a task, keep working, await its result.
-- Rust -> corun:
--   tokio::spawn(async { ... })     -> corun.spawn(function() ... end)
--   sleep(Duration::from_millis(n)) -> corun.sleep(n / 1000)
--   handle.await.unwrap()           -> local ok, v = handle:await(); assert(ok)
--   Result<T, JoinError>            -> true, results... | false, JoinError
-- Run it with: build/corun examples/lesson/01-spawn-basics.lua
local corun = require "corun"

local handle = corun.spawn(function()
  corun.sleep(0.1)
  return 42
end)

-- The task runs concurrently with whatever else we do here
print("Task is running in the background...")

-- await the handle to get the result
local ok, result = handle:await()
assert(ok, result)
print(("Got: %d"):format(result))
