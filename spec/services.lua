-- services.lua: start spec/servers/service.py (a small HTTP(S) service in
-- python3) for a spec, and stop it.  require "services".start(opts):
--   opts.tls = true      serve HTTPS with spec/pki.lua's certificate
--   opts.delays = { ["/users"] = 0.5, ... }   per-path delays in seconds
-- returns { port = N, url = "http(s)://127.0.0.1:N", stop = function }.
-- stop() closes the service's standard input: it shuts down and exits;
-- call it in a finally block, so a failing spec stops it too.

local M = {}

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

function M.start(opts)
  opts = opts or {}
  local portfile = os.tmpname()
  os.remove(portfile)
  local args = { q(portfile) }
  if opts.tls then
    local pki = require "pki"
    args[#args + 1] = "--cert " .. q(pki.cert) .. " --key " .. q(pki.key)
  end
  for path, s in pairs(opts.delays or {}) do
    args[#args + 1] = "--delay " .. q(path .. "=" .. s)
  end
  local p = assert(io.popen("unset LD_PRELOAD; exec python3 " ..
                            "spec/servers/service.py " ..
                            table.concat(args, " "), "w"))
  local port
  for _ = 1, 400 do  -- up to 20 s for python to start
    local f = io.open(portfile)
    if f then
      port = tonumber(f:read("a"))
      f:close()
      break
    end
    os.execute("sleep 0.05")
  end
  os.remove(portfile)
  if not port then
    p:close()
    error("services: service.py did not start", 2)
  end
  return {
    port = port,
    url = (opts.tls and "https" or "http") .. "://127.0.0.1:" .. port,
    stop = function() p:close() end,
  }
end

return M
