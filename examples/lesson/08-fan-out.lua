-- 08-fan-out.lua: fan-out / fan-in health checks with a JoinSet.
-- Rust -> corun:
--   async fn check_endpoint(url) -> (String, bool)
--                                  -> a function returning url, healthy
--   set.spawn(check_endpoint(url.to_string()))
--                                  -> set:spawn(check_endpoint, url)
--   while let Some(Ok(r)) = set.join_next().await
--                                  -> while true: ok, url, healthy = ...
-- Run it with: build/corun examples/lesson/08-fan-out.lua
local corun = require "corun"

local function check_endpoint(url)
  corun.sleep(0.05)
  -- In reality: an HTTP GET of url
  return url, true
end

local endpoints = {
  "https://api1.example.com/health",
  "https://api2.example.com/health",
  "https://api3.example.com/health",
}

local set <close> = corun.JoinSet()
for _, url in ipairs(endpoints) do
  set:spawn(check_endpoint, url)
end

local results = {}
while true do
  local ok, url, healthy = set:join_next()
  if not ok then break end           -- nil: empty; false: a task failed
  results[#results + 1] = { url, healthy }
end

for _, r in ipairs(results) do
  print(("%s: %s"):format(r[1], r[2] and "UP" or "DOWN"))
end
