-- api-aggregator.lua: the lesson's opening story.  An API aggregator calls
-- five services at once over HTTPS and prints what they say, and how long
-- it took: about as long as the slowest service, not the sum of them.
-- Rust -> corun:
--   tokio::spawn(async move { reqwest::get(url).await })  -> set:spawn(fetch, url)
--   join_all(handles).await                                -> set:join_next() loop
-- Run it with: build/corun examples/api-aggregator.lua BASE_URL [CA_FILE]
--   e.g. https://127.0.0.1:8443, the services being BASE_URL/users,
--   /orders, /inventory, /prices and /reviews; CA_FILE, if given, is the
--   certificate authority to trust (default: the system's store).
local corun = require "corun"

local base = arg and arg[1] or "https://127.0.0.1:8443"
local ca_file = arg and arg[2]
local services = { "users", "orders", "inventory", "prices", "reviews" }

-- One service: its status and body, or nil and why not.
local function fetch(name, url, ca_file)
  local resp, err = corun.http.get(url, { ca_file = ca_file, timeout = 10 })
  if not resp then return name, nil, err end
  return name, resp.status, resp.body
end

local started = corun.now()
local calls = corun.JoinSet()
for _, name in ipairs(services) do
  calls:spawn(fetch, name, base .. "/" .. name, ca_file)  -- all at once
end

local answers, failed = {}, 0
while true do
  local ok, name, status, body = calls:join_next()
  if ok == nil then break end                      -- every call is in
  if not ok then error(name) end                   -- a task failed: say so
  if status == 200 then
    answers[name] = body
  else
    answers[name] = "FAILED (" .. tostring(status or body) .. ")"
    failed = failed + 1
  end
end
local took = corun.now() - started

for _, name in ipairs(services) do
  print(("%-9s %s"):format(name, answers[name]))
end
print(("aggregated %d services (%d failed) in %.1f s"):format(#services,
                                                            failed, took))
