-- 07-joinset.lua: a dynamic set of tasks, joined as they complete.
-- Rust -> corun:
--   JoinSet::new()                 -> corun.JoinSet()
--   set.spawn(process_item(id))    -> set:spawn(process_item, id)
--   while let Some(r) = set.join_next().await
--                                  -> loop on set:join_next() until nil
--   Ok(val) / Err(e)               -> true, val / false, JoinError
--   dropping the JoinSet aborts    -> set:close(), <close>, or the end of
--                                     the task that owns it
-- Run it with: build/corun examples/lesson/07-joinset.lua
local corun = require "corun"

local function process_item(id)
  corun.sleep(0.1 * id)
  return ("processed-%d"):format(id)
end

local items = { 1, 2, 3, 4, 5 }
local set <close> = corun.JoinSet()

for _, id in ipairs(items) do
  set:spawn(process_item, id)
end

-- Collect results as they complete (not in order!)
while true do
  local ok, val = set:join_next()
  if ok == nil then break end        -- the set is empty
  if ok then
    print(("Completed: %s"):format(val))
  else
    io.stderr:write(("Task failed: %s\n"):format(tostring(val)))
  end
end

print("All tasks done")
