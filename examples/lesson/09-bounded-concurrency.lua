-- 09-bounded-concurrency.lua: at most 5 tasks at work, with a semaphore.
-- Rust -> corun:
--   Arc::new(Semaphore::new(5))    -> corun.Semaphore(5) (a shared handle:
--                                     no Arc needed)
--   semaphore.clone().acquire_owned().await.unwrap()
--                                  -> sem:acquire()
--   async move { ... permit ... }  -> set:spawn(fn, permit, i): the permit
--                                     moves into the task
--   drop(permit)                   -> permit:release() (or <close>; the task
--                                     also releases it when it ends)
-- INSIDE and MAX_INSIDE are globals (shared by every task) that count the
-- tasks inside process(), to show the bound holds.
-- Run it with: build/corun examples/lesson/09-bounded-concurrency.lua
local corun = require "corun"

INSIDE, MAX_INSIDE = 0, 0

local function process(id)
  INSIDE = INSIDE + 1
  MAX_INSIDE = math.max(MAX_INSIDE, INSIDE)
  corun.sleep(0.1)
  INSIDE = INSIDE - 1
  return id * 2
end

local semaphore = corun.Semaphore(5)   -- Max 5 concurrent
local set <close> = corun.JoinSet()

for i = 0, 19 do
  local permit = semaphore:acquire()
  set:spawn(function(permit, i)
    local result = process(i)
    permit:release()                   -- Release when done
    return result
  end, permit, i)
end

while true do
  local ok, result = set:join_next()
  if not ok then break end
  print(("Result: %d"):format(result))
end

print(("max inside: %d"):format(MAX_INSIDE))
