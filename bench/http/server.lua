-- bench/http/server.lua: corun's HTTP server next to a raw-callback luv
-- server, lua-http's server and nginx (one worker), in one run, each
-- serving a hello-world response to `wrk -t1 -c50 -d5s` on 127.0.0.1.
--   lua5.4 bench/http/server.lua            (from the repository root)
--   CORUN_BUILD=build BENCH_SECONDS=5 BENCH_IDLE=2000 (defaults)
-- Prints requests/s and the server's CPU time per request (utime + stime
-- of the server process, from /proc/PID/stat, before and after, over the
-- requests served), then corun's memory per idle keep-alive connection
-- (VmRSS of the server with N idle connections open, less before), and
-- the targets of issue 17.  Needs wrk, nginx-light, lua-luv, lua-http.

local BUILD = os.getenv("CORUN_BUILD") or "build"
local SECONDS = tonumber(os.getenv("BENCH_SECONDS")) or 5
local IDLE = tonumber(os.getenv("BENCH_IDLE")) or 2000
local CORUN = BUILD .. "/corun"

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

local function write_file(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function free_port()
  return tonumber(sh([[python3 -c 'import socket; s=socket.socket(); ]] ..
                     [[s.bind(("127.0.0.1",0)); print(s.getsockname()[1])']]))
end

local TICK = tonumber(sh("getconf CLK_TCK")) or 100

-- utime + stime of process 'pid', in seconds.
local function cpu(pid)
  local f = assert(io.open("/proc/" .. pid .. "/stat"))
  local stat = f:read("a")
  f:close()
  local fields = {}
  for w in stat:match("%) (.*)$"):gmatch("%S+") do fields[#fields + 1] = w end
  return (tonumber(fields[12]) + tonumber(fields[13])) / TICK
end

local function rss_kib(pid)
  local f = assert(io.open("/proc/" .. pid .. "/status"))
  local kib = tonumber(f:read("a"):match("VmRSS:%s*(%d+)"))
  f:close()
  return kib
end

-- Start 'cmd' in the background; its pid.  Waits (bounded) until 'port'
-- accepts connections.
local function start(cmd, port)
  local pid = tonumber(sh(("sh -c '%s >/dev/null 2>&1 & echo $!'"):format(
                         cmd:gsub("'", "'\\''"))))
  for _ = 1, 100 do
    if sh(("curl -s -o /dev/null -w '%%{http_code}' " ..
           "http://127.0.0.1:%d/"):format(port)) == "200" then
      return pid
    end
    os.execute("sleep 0.1")
  end
  error("server did not come up: " .. cmd)
end

local dir = sh("mktemp -d /tmp/corun-httpbench.XXXXXX"):match("%S+")

local servers = {}

servers[#servers + 1] = { name = "corun.http", cmd = function(port)
  write_file(dir .. "/corun.lua", ([[
    local corun = require "corun"
    local server = assert(corun.http.listen("127.0.0.1", %d))
    server:serve(function(req) return 200, "Hello, world!" end)
  ]]):format(port))
  return CORUN .. " " .. dir .. "/corun.lua"
end }

servers[#servers + 1] = { name = "luv (raw callbacks)", cmd = function(port)
  write_file(dir .. "/luv.lua", ([[
    local uv = require "luv"
    local response = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n" ..
                     "Content-Type: text/plain\r\n\r\nHello, world!"
    local server = uv.new_tcp()
    server:bind("127.0.0.1", %d)
    server:listen(511, function()
      local c = uv.new_tcp()
      server:accept(c)
      local pending = ""
      c:read_start(function(err, data)
        if not data then c:close() return end
        pending = pending .. data
        while true do
          local e = pending:find("\r\n\r\n", 1, true)
          if not e then break end
          pending = pending:sub(e + 4)
          c:write(response)
        end
      end)
    end)
    uv.run()
  ]]):format(port))
  return "lua5.4 " .. dir .. "/luv.lua"
end }

servers[#servers + 1] = { name = "lua-http (cqueues)", cmd = function(port)
  write_file(dir .. "/luahttp.lua", ([[
    package.path = "/usr/share/lua/5.2/?.lua;/usr/share/lua/5.2/?/init.lua;"
                   .. package.path
    local server = require "http.server"
    local headers = require "http.headers"
    local s = assert(server.listen {
      host = "127.0.0.1", port = %d,
      onstream = function(_, stream)
        stream:get_headers()
        local h = headers.new()
        h:append(":status", "200")
        h:append("content-type", "text/plain")
        h:append("content-length", "13")
        stream:write_headers(h, false)
        stream:write_chunk("Hello, world!", true)
      end,
    })
    assert(s:loop())
  ]]):format(port))
  return "lua5.4 " .. dir .. "/luahttp.lua"
end }

servers[#servers + 1] = { name = "nginx (1 worker)", cmd = function(port)
  os.execute("mkdir -p " .. dir .. "/nginx")
  write_file(dir .. "/nginx/nginx.conf", ([[
daemon off;
master_process off;
worker_processes 1;
pid %s/nginx/nginx.pid;
error_log %s/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path %s/nginx;
  proxy_temp_path %s/nginx;
  fastcgi_temp_path %s/nginx;
  uwsgi_temp_path %s/nginx;
  scgi_temp_path %s/nginx;
  server {
    listen 127.0.0.1:%d;
    location / { default_type text/plain; return 200 "Hello, world!"; }
  }
}
]]):format(dir, dir, dir, dir, dir, dir, dir, port))
  return ("nginx -c %s/nginx/nginx.conf -p %s/nginx"):format(dir, dir)
end }

local results = {}
for _, s in ipairs(servers) do
  local port = free_port()
  local pid = start(s.cmd(port), port)
  local c0 = cpu(pid)
  local out = sh(("wrk -t1 -c50 -d%ds http://127.0.0.1:%d/"):format(
                 SECONDS, port))
  local c1 = cpu(pid)
  local total = tonumber(out:match("(%d+) requests in"))
  local rps = tonumber(out:match("Requests/sec:%s*([%d%.]+)"))
  local errors = out:match("Socket errors:[^\n]*") or out:match("Non%-2xx[^\n]*")
  local r = { name = s.name, rps = rps, total = total,
              us = (c1 - c0) / total * 1e6, errors = errors }
  if s.name == "corun.http" then  -- memory per idle keep-alive connection
    write_file(dir .. "/idle.lua", ([[
      local corun = require "corun"
      local conns, set = {}, corun.JoinSet()
      for batch = 1, %d / 50 do
        for i = 1, 50 do
          set:spawn(function()
            local c = assert(corun.net.connect("127.0.0.1", %d))
            assert(c:write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
            assert(c:read())
            corun.sleep(4)  -- idle, open (keepalive_timeout is 5 s)
            c:close()
          end)
        end
        corun.sleep(0.01)
      end
      corun.sleep(1.5)
      io.write("ready\n") io.flush()
      set:join_all()
    ]]):format(IDLE, port))
    os.execute("sleep 0.5")
    local before = rss_kib(pid)
    local p = io.popen(CORUN .. " " .. dir .. "/idle.lua")
    assert(p:read("l") == "ready")
    local during = rss_kib(pid)
    p:close()
    r.idle = (during - before) * 1024 / IDLE
  end
  os.execute("kill " .. pid .. " 2>/dev/null")
  results[#results + 1] = r
  os.execute("sleep 0.3")
end
os.execute("rm -rf " .. dir)

print(("wrk -t1 -c50 -d%ds, hello world (13 bytes), keep-alive, 127.0.0.1")
      :format(SECONDS))
print(("%-22s %12s %14s %s"):format("server", "requests/s", "CPU us/req",
                                    "errors"))
local corun_r, luahttp
for _, r in ipairs(results) do
  print(("%-22s %12.0f %14.2f %s"):format(r.name, r.rps, r.us,
                                           r.errors or "-"))
  if r.name == "corun.http" then corun_r = r end
  if r.name:match("^lua%-http") then luahttp = r end
end
print(("corun: %.0f bytes of RSS per idle keep-alive connection (%d open)")
      :format(corun_r.idle, IDLE))
local t1 = corun_r.us <= 15
local t2 = corun_r.rps >= 4 * luahttp.rps
local t3 = corun_r.idle <= 8192
print(("targets: CPU/request <= 15 us: %s (%.2f); requests/s >= 4x " ..
       "lua-http: %s (%.1fx); idle connection <= 8 KiB: %s (%.0f B)")
      :format(t1 and "met" or "MISSED", corun_r.us, t2 and "met" or "MISSED",
              corun_r.rps / luahttp.rps, t3 and "met" or "MISSED",
              corun_r.idle))
