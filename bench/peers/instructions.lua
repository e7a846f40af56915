-- bench/peers/instructions.lua: exact instructions per unit of work, from
-- valgrind --tool=callgrind, for corun's peer program (and the others
-- given with -p).
--
--   lua5.4 bench/peers/instructions.lua [-p corun,floor,apifloor] [W1 ...]
--
-- Each workload runs twice under callgrind, at N and at 2N; the difference
-- of the two totals over N is the cost of one unit (task or message), with
-- start-up and the runtime's fixed costs cancelled out.  The counts are
-- exact: two runs of this script agree to well within 1%.

local script = arg and arg[0] or "bench/peers/instructions.lua"
local dir = script:match("^(.*)/[^/]*$") or "."

local N = { W1 = 100000, W2 = 100000, W4 = 100000, W5 = 50000 }
local programs = {
  corun = "lua5.4 " .. dir .. "/corun_peer.lua",
  floor = "lua5.4 " .. dir .. "/floor_peer.lua",
  apifloor = "lua5.4 " .. dir .. "/apifloor_peer.lua",
}
local which, only = { "corun" }, {}
local i = 1
while i <= #arg do
  if arg[i] == "-p" then
    which = {}
    for p in arg[i + 1]:gmatch("[^,]+") do which[#which + 1] = p end
    i = i + 1
  elseif N[arg[i]] then
    only[#only + 1] = arg[i]
  else
    io.stderr:write("usage: lua5.4 bench/peers/instructions.lua [-p corun,floor,apifloor] [W1 W2 W4 W5]\n")
    os.exit(2)
  end
  i = i + 1
end
if #only == 0 then only = { "W1", "W2", "W4", "W5" } end

-- Total instructions of 'cmd' under callgrind.
local function instructions(cmd)
  local out = os.tmpname()
  local p = io.popen(("valgrind --tool=callgrind --callgrind-out-file=%s %s 2>&1 >/dev/null")
                     :format(out, cmd))
  local log = p:read("a")
  p:close()
  os.remove(out)
  local total = log:match("Collected : (%d+)")
  assert(total, "callgrind did not report a total for: " .. cmd .. "\n" .. log)
  return tonumber(total)
end

print(("%-9s %-3s %8s  %s"):format("program", "W", "N", "instructions per unit"))
for _, w in ipairs(only) do
  for _, prog in ipairs(which) do
    local cmd = assert(programs[prog], "unknown program " .. prog)
    if prog ~= "apifloor" or w == "W1" then
      local n = N[w]
      local a = instructions(("%s %s %d"):format(cmd, w, n))
      local b = instructions(("%s %s %d"):format(cmd, w, 2 * n))
      print(("%-9s %-3s %8d  %.0f"):format(prog, w, n, (b - a) / n))
    end
  end
end
