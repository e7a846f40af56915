-- 06-try-join.lua: tokio::try_join! short-circuits on the first error.
-- Rust -> corun:
--   Result<String, String>      -> return value | return nil, err
--   tokio::try_join!(a, b)      -> corun.try_join(fa, fb): true, r1, r2 or
--                                  false, err; the other branches are
--                                  cancelled at the first failure
-- Run it with: build/corun examples/lesson/06-try-join.lua
local corun = require "corun"

local function fetch_required_data()
  corun.sleep(0.2)
  return "data"
end

local function fetch_with_error()
  corun.sleep(0.1)
  return nil, "service unavailable"
end

local ok, data, other = corun.try_join(fetch_required_data, fetch_with_error)

if ok then
  print(("Got: %s, %s"):format(data, other))
else
  -- Prints "Failed fast: service unavailable" after ~0.1 s
  -- The other branch is cancelled
  print(("Failed fast: %s"):format(data))
end
