-- echo-server.lua: a TCP echo server, Tokio's server pattern in corun:
-- accept a connection, then spawn a task that owns it (the connection
-- moves into the task) and echoes what it reads until the client is done.
-- Rust -> corun:
--   TcpListener::bind(addr).await?        -> corun.net.listen(host, port)
--   listener.accept().await?              -> server:accept()
--   tokio::spawn(async move { .. socket }) -> corun.spawn(fn, conn)
--   socket.read(&mut buf).await? / write_all -> conn:read() / conn:write(data)
-- Run it with: build/corun examples/echo-server.lua [port [max]]
--   port 0 (the default) picks a free port; with max, it serves that many
--   connections, then stops.  Try it with: nc 127.0.0.1 <port>
local corun = require "corun"

local port = tonumber(arg and arg[1]) or 0
local max = tonumber(arg and arg[2]) or math.huge

local server = assert(corun.net.listen("127.0.0.1", port))
local host, bound = server:address()
print(("listening on %s:%d"):format(host, bound))
io.stdout:flush()

local function serve(conn)
  -- A client may be gone (reset) before this task runs: peer() then
  -- fails like any operation on the connection.
  local peer_host, peer_port = conn:peer()
  local who = peer_host and ("%s:%d"):format(peer_host, peer_port)
              or "a client"
  local bytes = 0
  while true do
    local data, err = conn:read()
    if not data then
      if err then io.stderr:write(who, ": ", err, "\n") end
      break
    end
    bytes = bytes + #data
    local ok, werr = conn:write(data)
    if not ok then
      io.stderr:write(who, ": ", werr, "\n")
      break
    end
  end
  conn:close()
  return bytes
end

local connections = corun.JoinSet()
local served, total = 0, 0
local function collect(ok, bytes)          -- a connection task's outcome
  if ok then
    total = total + bytes
  elseif ok == false then                  -- bytes is the JoinError
    io.stderr:write("connection task failed: ", tostring(bytes), "\n")
  end
  return ok ~= nil
end
while served < max do
  local conn, err = server:accept()
  if not conn then
    io.stderr:write("accept: ", err, "\n")
    break
  end
  served = served + 1
  connections:spawn(serve, conn)       -- the connection moves into the task
  while collect(connections:try_join_next()) do end  -- the ones that ended
end
server:close()
while collect(connections:join_next()) do end
print(("served %d connections, echoed %d bytes"):format(served, total))
