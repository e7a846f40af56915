-- bench/peers/apifloor_peer.lua: W1 through bench/peers/apifloor.c, the
-- least a C module can do per task (a handle userdata with the function
-- and its argument, anchored until awaited; await calls the function with
-- lua_pcall on the spot).  Not a runtime: a lower bound for any runtime
-- on the public Lua C API.  Built by `make bench-peers` into
-- build/bench/apifloor.so.
--
--   lua5.4 bench/peers/apifloor_peer.lua W1 [N]

local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.cpath = dir .. "/../../build/bench/?.so;" .. package.cpath
local apifloor = require "apifloor"
local common = dofile(dir .. "/common.lua")
local W, N = common.workload("apifloor_peer")
if W ~= "W1" then print(W .. " n/a") return end

local ok, uv = pcall(require, "luv")
local now = ok and function() return uv.hrtime() * 1e-9 end or os.clock

local function task(i) return i end
local spawn = apifloor.spawn
local hs, sum = {}, 0
local t0 = now()
for i = 1, N do hs[i] = spawn(task, i) end
for i = 1, N do
  local _, v = hs[i]:await()
  hs[i] = nil
  sum = sum + v
end
local dt = now() - t0
assert(sum == N * (N + 1) // 2, "W1: wrong sum")
print(string.format("W1 %.1f ns/task", dt * 1e9 / N))
