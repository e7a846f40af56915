-- 11-task-panics.lua: a task that raises does not crash the program.
-- Rust -> corun:
--   panic!("oops!")                -> error("oops!", 0) (0: no position)
--   Err(e) if e.is_panic()         -> ok == false and err:is_panic()
--   e.into_panic()                 -> err:into_panic() (the raised value)
-- Run it with: build/corun examples/lesson/11-task-panics.lua
local corun = require "corun"

local handle = corun.spawn(function()
  error("oops!", 0)
end)

local ok, err = handle:await()
if ok then
  print("Success")
elseif err:is_panic() then
  print(("Task panicked: %s"):format(err:into_panic()))
else
  print(("Task error: %s"):format(tostring(err)))
end

print("Main continues running fine")
