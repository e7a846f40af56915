-- bench/http/luahttp_client.lua: the same GETs with lua-http (Debian
-- lua-http, on cqueues): N requests, C at a time, each its own connection
-- (lua-http's request API keeps none), timed.
--   lua5.4 bench/http/luahttp_client.lua URL CA N C   -> "<seconds>"
package.path = "/usr/share/lua/5.2/?.lua;/usr/share/lua/5.2/?/init.lua;" ..
               package.path
local cqueues = require "cqueues"
local request = require "http.request"
local http_tls = require "http.tls"
local openssl_ctx = require "openssl.ssl.context"
local url, ca, n, c = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4] or "8")

local ctx = http_tls.new_client_context()
if ca ~= "-" then
  local store = ctx:getStore()
  store:add(ca)
end

local cq = cqueues.new()
local left, done = n, 0
local t0 = cqueues.monotime()
for _ = 1, c do
  cq:wrap(function()
    while left > 0 do
      left = left - 1
      local req = request.new_from_uri(url)
      req.ctx = ctx
      local headers, stream = assert(req:go(10))
      assert(headers:get(":status") == "200")
      assert(stream:get_body_as_string())
      stream:shutdown()
      done = done + 1
    end
  end)
end
assert(cq:loop())
assert(done == n)
print(("%.4f"):format(cqueues.monotime() - t0))
