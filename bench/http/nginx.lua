-- bench/http/nginx.lua: a local nginx for the HTTP benchmarks, with its own
-- configuration in a temporary directory, on 127.0.0.1 only.
--   local nginx = dofile("bench/http/nginx.lua").start{workers = 1}
--   nginx.http, nginx.https (base URLs), nginx.ca (CA file), nginx.stop()
-- Serves /hello (13 bytes) and /small (1 KiB) over HTTP/1.1 on one port
-- and HTTPS with HTTP/2 on another, keep-alive on (1 000 000 requests per
-- connection), access log off.

local M = {}

local function sh(cmd)
  local p = assert(io.popen("(" .. cmd .. ") 2>&1; echo rc=$?"))
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)\n$"))
  assert(rc == 0, cmd .. ":\n" .. out)
  return out
end

local function free_port()
  local p = io.popen([[python3 -c 'import socket; s=socket.socket(); ]] ..
                     [[s.bind(("127.0.0.1",0)); print(s.getsockname()[1])']])
  local port = tonumber(p:read("a"))
  p:close()
  return port
end

function M.start(opts)
  opts = opts or {}
  local dir = sh("mktemp -d /tmp/corun-nginx.XXXXXX"):match("^(%S+)")
  sh(("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key " ..
      "-out ca.pem -days 2 -subj '/CN=bench CA' 2>/dev/null && " ..
      "openssl req -newkey rsa:2048 -nodes -keyout key.pem -out cert.csr " ..
      "-subj /CN=localhost 2>/dev/null && printf " ..
      "'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext && " ..
      "openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca.key " ..
      "-CAcreateserial -days 2 -extfile ext -out cert.pem 2>/dev/null && " ..
      "mkdir www && printf 'Hello, world!' > www/hello && " ..
      "head -c 1024 /dev/zero | tr '\\0' x > www/small"):format(dir))
  local http, https = free_port(), free_port()
  local conf = dir .. "/nginx.conf"
  local f = assert(io.open(conf, "w"))
  f:write(([[
daemon on;
worker_processes %d;
pid %s/nginx.pid;
error_log %s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  client_body_temp_path %s/tmp;
  proxy_temp_path %s/tmp;
  fastcgi_temp_path %s/tmp;
  uwsgi_temp_path %s/tmp;
  scgi_temp_path %s/tmp;
  server {
    listen 127.0.0.1:%d;
    root %s/www;
  }
  server {
    listen 127.0.0.1:%d ssl http2;
    ssl_certificate %s/cert.pem;
    ssl_certificate_key %s/key.pem;
    http2_max_requests 1000000;
    root %s/www;
  }
}
]]):format(opts.workers or 1, dir, dir, dir, dir, dir, dir, dir, http, dir,
           https, dir, dir, dir))
  f:close()
  sh("mkdir -p " .. dir .. "/tmp && chmod -R a+rX " .. dir)
  sh(("nginx -c %s -p %s"):format(conf, dir))
  for _ = 1, 100 do  -- it forks: wait for its pid file
    local pf = io.open(dir .. "/nginx.pid")
    if pf then
      M.pid = tonumber(pf:read("a"))
      pf:close()
      break
    end
    os.execute("sleep 0.05")
  end
  assert(M.pid, "nginx did not start: see " .. dir .. "/error.log")
  return {
    dir = dir,
    pid = M.pid,
    http = "http://127.0.0.1:" .. http,
    https = "https://127.0.0.1:" .. https,
    ca = dir .. "/ca.pem",
    stop = function()
      os.execute(("nginx -c %s -p %s -s quit 2>/dev/null; sleep 0.2; " ..
                  "rm -rf %s"):format(conf, dir, dir))
    end,
  }
end

return M
