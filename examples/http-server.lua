-- http-server.lua: a small HTTP API with corun.http.listen.  Each
-- connection runs in a task of its own, with its own copy of the handler;
-- what the handlers share (the notes) lives in a Mutex made before serve.
-- Rust (axum on Tokio) -> corun:
--   TcpListener::bind + axum::serve(listener, app) -> corun.http.listen,
--                                                     server:serve(handler)
--   Router::new().route("/hello", get(hello))  -> a table of routes
--   Query<T>, Json<T>                          -> req.query, req.body
--   State(Arc<Mutex<..>>)                      -> a corun.Mutex
--   Body::from_stream(..)                      -> a body function (chunked)
--   with_graceful_shutdown(signal)             -> server:close() from a
--                                                 select branch
-- Run it with: build/corun examples/http-server.lua [port]
--   port 0 (the default) picks a free port.  Then, for instance:
--   curl 'http://127.0.0.1:PORT/hello?name=you'
--   curl -d 'buy milk' http://127.0.0.1:PORT/notes
--   curl http://127.0.0.1:PORT/notes
--   curl http://127.0.0.1:PORT/countdown          (streamed, one line a
--                                                   tenth of a second)
--   curl 'http://127.0.0.1:PORT/fetch?url=http://example.org/'
--   curl -X POST http://127.0.0.1:PORT/shutdown   (graceful stop)
local corun = require "corun"

local port = tonumber(arg and arg[1]) or 0

local server = assert(corun.http.listen("127.0.0.1", port))
local host, bound = server:address()
print(("listening on %s:%d"):format(host, bound))
io.stdout:flush()

-- Shared by every connection task (a Mutex crosses by identity).
local notes = corun.Mutex({})
local stop = corun.Notify()

-- Decode one query parameter ("a=1&name=x%20y" -> "x y").
local function param(query, name)
  for k, v in (query or ""):gmatch("([^&=]+)=([^&]*)") do
    if k == name then
      return (v:gsub("+", " "):gsub("%%(%x%x)", function(h)
        return string.char(tonumber(h, 16))
      end))
    end
  end
  return nil
end

local TEXT = { ["content-type"] = "text/plain; charset=utf-8" }

local routes = {}

routes["GET /hello"] = function(req)
  return 200, ("hello, %s\n"):format(param(req.query, "name") or "world"),
         TEXT
end

routes["POST /notes"] = function(req)
  if req.body == "" then return 400, "empty note\n", TEXT end
  local guard <close> = notes:lock()
  guard.value[#guard.value + 1] = req.body
  return 201, ("note %d\n"):format(#guard.value), TEXT
end

routes["GET /notes"] = function()
  local guard <close> = notes:lock()
  local lines = {}
  for i, note in ipairs(guard.value) do
    lines[i] = ("%d. %s\n"):format(i, note)
  end
  return 200, table.concat(lines), TEXT
end

-- A streamed body: the function runs in the connection's task and may
-- wait; each string it returns goes out as one chunk.
routes["GET /countdown"] = function(req)
  local n = math.min(tonumber(param(req.query, "from")) or 3, 10)
  return 200, function()
    if n < 0 then return nil end
    corun.sleep(0.1)
    n = n - 1
    return n + 1 == 0 and "liftoff\n" or (n + 1) .. "\n"
  end, TEXT
end

-- Calls another service with corun.http.get (the HTTP client) and says
-- what it answered.
routes["GET /fetch"] = function(req)
  local url = param(req.query, "url")
  if not url then return 400, "missing url\n", TEXT end
  local resp, err = corun.http.get(url, { timeout = 5 })
  if not resp then return 502, err .. "\n", TEXT end
  return 200, ("%s answered %d with %d bytes\n"):format(url, resp.status,
                                                         #resp.body), TEXT
end

routes["POST /shutdown"] = function()
  stop:notify_one()
  return 202, "shutting down\n", TEXT
end

corun.select(function()
  server:serve(function(req)
    local route = routes[req.method .. " " .. req.path]
    if not route then return 404, "no such route\n", TEXT end
    return route(req)
  end)
end, function()
  stop:notified()
  server:close()        -- stop accepting; requests in flight finish
  corun.sleep(math.huge)  -- serve returns once they have: select ends
end)

local guard <close> = notes:lock()
print(("stopped with %d notes"):format(#guard.value))
