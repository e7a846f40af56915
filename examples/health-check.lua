-- health-check.lua: the lesson's fan-out health check, for real.  It
-- checks every URL given at once over HTTP or HTTPS, each with its own
-- deadline, and prints UP or DOWN for each, and how long the whole check
-- took (about the slowest deadline, not the sum).
-- Rust -> corun:
--   tokio::spawn(check(url))                   -> set:spawn(check, url)
--   timeout(d, reqwest::get(&url)).await       -> corun.http.get(url, {timeout = d})
--   join_all(handles).await                    -> set:join_next() in a loop
-- Run it with:
--   build/corun examples/health-check.lua [--ca CA_FILE] [--deadline S] URL...
-- e.g. build/corun examples/health-check.lua https://example.com/health
local corun = require "corun"

local deadline, ca_file, urls = 0.5, nil, {}
do
  local i = 1
  while arg and arg[i] do
    if arg[i] == "--ca" then ca_file, i = arg[i + 1], i + 1
    elseif arg[i] == "--deadline" then deadline, i = tonumber(arg[i + 1]), i + 1
    else urls[#urls + 1] = arg[i] end
    i = i + 1
  end
end
if #urls == 0 or not deadline then
  io.stderr:write("usage: corun examples/health-check.lua [--ca CA_FILE] "
                  .. "[--deadline SECONDS] URL...\n")
  os.exit(2)
end

-- UP with the status and the time taken, or DOWN and why.
local function check(url, deadline, ca_file)
  local started = corun.now()
  local resp, err = corun.http.get(url, { timeout = deadline,
                                          ca_file = ca_file })
  local ms = (corun.now() - started) * 1000
  if not resp then
    return ("DOWN (%s)"):format(err)
  elseif resp.status >= 200 and resp.status < 300 then
    return ("UP (%d, HTTP/%s, %.0f ms)"):format(resp.status,
                                                resp.http_version, ms)
  end
  return ("DOWN (status %d)"):format(resp.status)
end

local started = corun.now()
local checks = corun.JoinSet()
for i, url in ipairs(urls) do
  checks:spawn(function(i, url, deadline, ca_file)
    return i, check(url, deadline, ca_file)
  end, i, url, deadline, ca_file)
end
local verdicts = {}
while true do
  local ok, i, verdict = checks:join_next()
  if ok == nil then break end
  if not ok then error(i) end          -- a check raised: a bug, say so
  verdicts[i] = verdict
end
for i, url in ipairs(urls) do
  print(("%s  %s"):format(url, verdicts[i]))
end
print(("checked %d endpoints in %.2f s"):format(#urls,
                                               corun.now() - started))
