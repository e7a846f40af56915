-- 10-shared-state.lua: tasks update one counter behind a mutex.
-- Rust -> corun:
--   Arc::new(Mutex::new(0u64))     -> corun.Mutex(0) (shared by identity
--                                     when it crosses into a task: no Arc,
--                                     no clone() needed)
--   let mut lock = counter.lock().await; *lock += 1
--                                  -> local lock <close> = counter:lock();
--                                     lock.value = lock.value + 1
--   result.unwrap()                -> assert(ok, err)
-- Run it with: build/corun examples/lesson/10-shared-state.lua
local corun = require "corun"

local counter = corun.Mutex(0)
local set <close> = corun.JoinSet()

for _ = 1, 10 do
  set:spawn(function()
    corun.sleep(0.05)
    local lock <close> = counter:lock()
    lock.value = lock.value + 1
  end)
end

while true do
  local ok, err = set:join_next()
  if ok == nil then break end
  assert(ok, err)
end

local lock <close> = counter:lock()
print(("Counter: %d"):format(lock.value))  -- 10
