-- bench/echo/server_luv.lua: the luv side of the echo benchmark
-- (bench/echo/run.lua): the same echo server with raw luv callbacks (Debian
-- package lua-luv), no coroutines: each read callback writes back what it
-- got.
--
--   lua5.4 bench/echo/server_luv.lua
--
-- Listens on 127.0.0.1, a free port, prints `ready <port> <pid>` and
-- serves until it is killed (SIGTERM).
local uv = require "luv"

local function on_closed() end

local server = uv.new_tcp()
assert(server:bind("127.0.0.1", 0))
assert(server:listen(511, function(err)
  assert(not err, err)
  local conn = uv.new_tcp()
  assert(server:accept(conn))
  conn:read_start(function(rerr, data)
    if rerr or not data then        -- an error, or the end of the stream
      conn:close(on_closed)
    else
      conn:write(data)
    end
  end)
end))

io.stdout:write(("ready %d %d\n"):format(server:getsockname().port,
                                         uv.os_getpid()))
io.stdout:flush()
uv.run()
