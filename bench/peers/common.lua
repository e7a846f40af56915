-- bench/peers/common.lua: what every Lua peer shares: the command line
-- (`<peer>.lua W# [N]`) and the memory readings from /proc/self/status.
-- Each peer loads it with dofile(<its own directory> .. "/common.lua").
local common = {}

local DEFAULT_N = { W1 = 1000000, W2 = 200000, W3 = 100000, W4 = 1000000,
                    W5 = 200000, W6 = 100000 }

-- The workload and its N from the command line; exits 2 on a bad one.
function common.workload(peer)
  local w = arg[1] or "W1"
  local n = tonumber(arg[2]) or DEFAULT_N[w]
  if not n then
    io.stderr:write(peer, ": unknown workload ", w, "\n")
    os.exit(2)
  end
  return w, math.tointeger(n) or error("N must be an integer")
end

local function status()
  local m = {}
  local f = assert(io.open("/proc/self/status", "r"))
  for line in f:lines() do
    local k, v = line:match("^(%w+):%s+(%d+) kB")
    if k == "VmRSS" or k == "VmHWM" then m[k] = tonumber(v) * 1024 end
  end
  f:close()
  return m
end

-- Before a measurement: collect, reset the peak, return the RSS in bytes.
function common.mem_begin()
  collectgarbage() collectgarbage()
  local f = io.open("/proc/self/clear_refs", "w")
  if f then f:write("5") f:close() end
  return status().VmRSS
end

-- After: the peak RSS in bytes since mem_begin.
function common.mem_peak() return status().VmHWM end

return common
