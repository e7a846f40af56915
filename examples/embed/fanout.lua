-- fanout.lua: a user's script for examples/embed/host.c.  It fans out over
-- the host's native async call host.fetch with corun tasks, one per key,
-- each with a deadline; "omega" is slower than its deadline, so its fetch
-- is cancelled in the host.
local corun = require "corun"

local keys = { "alpha", "beta", "gamma", "delta", "omega" }
local t0 = corun.now()
local set = corun.JoinSet()
for _, key in ipairs(keys) do
  set:spawn(function()
    local ok, value, err = corun.timeout(0.5, host.fetch, key)
    if not ok then return key, "timed out" end
    return key, value or err
  end)
end

local answers = {}
while true do
  local ok, key, answer = set:join_next()
  if ok == nil then break end
  answers[#answers + 1] = string.format("%s = %s", key, answer)
end
table.sort(answers)
for _, line in ipairs(answers) do print(line) end

local ticks = host.stats()
print(string.format("elapsed %.1f s, the host ticked %d times meanwhile",
                    corun.now() - t0, ticks))
return #answers, "answers"
