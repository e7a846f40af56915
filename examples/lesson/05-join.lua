-- 05-join.lua: tokio::join! runs futures concurrently on the current task.
-- Rust -> corun:
--   async fn fetch_user(id)            -> local function fetch_user(id)
--   tokio::join!(a, b, c)              -> corun.join(fa, fb, fc): plain
--                                         functions, branches of this task
--                                         (nothing spawned, nothing copied)
--   Instant::now(), start.elapsed()    -> corun.now(), corun.now() - start
-- Run it with: build/corun examples/lesson/05-join.lua
local corun = require "corun"

local function fetch_user(id)
  corun.sleep(0.2)
  return ("user-%d"):format(id)
end

local function fetch_profile(id)
  corun.sleep(0.3)
  return ("profile-%d"):format(id)
end

local function fetch_settings(id)
  corun.sleep(0.15)
  return ("settings-%d"):format(id)
end

local start = corun.now()

local user, profile, settings = corun.join(
  function() return fetch_user(1) end,
  function() return fetch_profile(1) end,
  function() return fetch_settings(1) end)

print(("%s, %s, %s"):format(user, profile, settings))
print(("Took %.1f s"):format(corun.now() - start))  -- ~0.3 s, not 0.65 s
