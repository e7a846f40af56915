-- aggregator.lua: the lesson's opening story.  Five service calls of 0.4 s
-- each, awaited one after the other (about 2 s), then spawned as tasks that
-- run at once (about 0.4 s).
-- Rust -> corun:
--   call_service(name).await       -> call_service(name) (a plain call)
--   tokio::spawn(call_service(n))  -> corun.spawn(call_service, n)
--   handle.await.unwrap()          -> assert(h:await())
-- Run it with: build/corun examples/aggregator.lua
local corun = require "corun"

local services = { "users", "orders", "inventory", "pricing", "reviews" }

local function call_service(name)
  corun.sleep(0.4)                     -- a simulated network call
  return name .. ": ok"
end

local start = corun.now()
local results = {}
for i, name in ipairs(services) do
  results[i] = call_service(name)
end
print(("sequential: %d responses in %.1f s"):format(#results,
                                                     corun.now() - start))

start = corun.now()
local handles = {}
for i, name in ipairs(services) do
  handles[i] = corun.spawn(call_service, name)
end
results = {}
for i, h in ipairs(handles) do
  local ok, r = h:await()
  assert(ok, r)
  results[i] = r
end
print(("concurrent: %d responses in %.1f s"):format(#results,
                                                     corun.now() - start))
print(table.concat(results, ", "))
