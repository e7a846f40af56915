-- 04-drop-does-not-cancel.lua: dropping a JoinHandle does not cancel it.
-- Rust -> corun:
--   let _ = tokio::spawn(...)  -> corun.spawn(...) with the handle ignored
--                                 (it may be garbage-collected: the task
--                                 still runs to completion, detached)
-- Run it with: build/corun examples/lesson/04-drop-does-not-cancel.lua
local corun = require "corun"

-- This task runs to completion even though we drop the handle
corun.spawn(function()
  corun.sleep(0.1)
  print("I still ran!")
end)
collectgarbage()  -- the handle is gone now; the task is not

corun.sleep(0.2)
