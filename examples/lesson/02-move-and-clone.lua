-- 02-move-and-clone.lua: the 'static bound, async move and clone().
-- Rust -> corun:
--   async move { ... }     -> corun.spawn(fn): fn's upvalues (and the spawn
--                             arguments) are copied into the task, at spawn
--   data.clone()           -> nothing to write: the task always gets a copy
--   "won't compile" (a task borrowing the spawner's `data`) -> runs, but
--                             the task changes only its own copy
--   .await.unwrap()        -> assert(h:await())
-- Run it with: build/corun examples/lesson/02-move-and-clone.lua
local corun = require "corun"

local data = "hello"

-- Solution 1: move ownership (the task gets `data` as it is at spawn)
assert(corun.spawn(function()
  print(data)
end):await())

-- Solution 2: clone first (in corun the copy is made for you)
local data2 = { text = "world" }
assert(corun.spawn(function()
  print(data2.text)
end):await())

-- data2 is still available here
print(data2.text)

-- The case Rust refuses to compile: the task "borrows" the spawner's
-- locals and even writes to them.  In corun it gets its own copies.
local count = 1
local config = { name = "hello" }
assert(corun.spawn(function()
  count = count + 1
  config.name = "changed by the task"
  print(("task sees: count=%d, name=%s"):format(count, config.name))
end):await())
print(("spawner still has: count=%d, name=%s"):format(count, config.name))
