-- hello.lua: three tasks brew at once; a timeout cuts a slow one short.
-- Run it with: build/corun examples/hello.lua (the script is the main
-- task), or with plain lua5.4 once corun is installed (main() then runs
-- in a runtime of its own: see the last line).
local corun = require "corun"

local function brew(drink, seconds)
  corun.sleep(seconds)
  print(("task %d: %s is ready"):format(corun.task_id(), drink))
  return drink
end

local function main()
  local start = corun.now()
  local orders = { { "tea", 0.3 }, { "coffee", 0.1 }, { "cocoa", 0.2 } }
  local handles = {}
  for i, order in ipairs(orders) do
    handles[i] = corun.spawn(brew, order[1], order[2])  -- all three at once
  end
  for _, h in ipairs(handles) do
    local ok, drink = h:await()
    print(("awaited task %d: %s, %s"):format(h:id(), ok, drink))
  end
  print(("served in %.1f s, not 0.6 s"):format(corun.now() - start))

  local ok, err = corun.timeout(0.1, brew, "soup", 5)
  print(("soup: %s, %s"):format(ok, err))
end

-- Inside the corun executable we are a task already; under lua5.4 not.
if pcall(corun.task_id) then main() else corun.run(main) end
