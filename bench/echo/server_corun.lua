-- bench/echo/server_corun.lua: the corun side of the echo benchmark
-- (bench/echo/run.lua), written as a corun program would be: an accept
-- loop, one task per connection that owns it (the connection moves into
-- the task), reading and writing back until the client is done.
--
--   build/corun bench/echo/server_corun.lua
--
-- Listens on 127.0.0.1, a free port, prints `ready <port> <pid>` and
-- serves until it is killed (SIGTERM).  corun has no getpid: the pid is
-- the first field of /proc/self/stat.
local corun = require "corun"

local function serve(conn)
  while true do
    local data = conn:read()
    if not data or not conn:write(data) then break end
  end
  conn:close()
end

local server = assert(corun.net.listen("127.0.0.1", 0))
local _, port = server:address()
local stat = assert(io.open("/proc/self/stat"))
local pid = stat:read("n")
stat:close()
io.stdout:write(("ready %d %d\n"):format(port, pid))
io.stdout:flush()

while true do
  local conn = assert(server:accept())
  corun.spawn(serve, conn)          -- detached: runs until the peer is done
end
