-- 03-abort.lua: a JoinHandle is also the cancellation mechanism.
-- Rust -> corun:
--   handle.abort()                     -> handle:abort()
--   Err(e) if e.is_cancelled()         -> ok == false and err:is_cancelled()
--   Err(e) (a panic): println!("{e}")  -> tostring(err)
-- Run it with: build/corun examples/lesson/03-abort.lua
local corun = require "corun"

local handle = corun.spawn(function()
  while true do
    print("Working...")
    corun.sleep(0.2)
  end
end)

-- Let it run for a bit
corun.sleep(1)

-- Cancel the task by aborting it
handle:abort()

-- Awaiting an aborted task gives a JoinError
local ok, err = handle:await()
if ok then
  print("Task completed normally")
elseif err:is_cancelled() then
  print("Task was cancelled")
else
  print(("Task panicked: %s"):format(tostring(err)))
end
