-- pki.lua: a throwaway certificate authority for the TLS and HTTPS specs,
-- made with the openssl command line in a temporary directory, once per
-- process (require "pki" returns the same table each time).
--
-- Fields (paths of PEM files):
--   dir          the directory (removed at exit)
--   ca           the CA's certificate (give it as ca_file)
--   cert, key    a server certificate for localhost, 127.0.0.1 and ::1,
--                signed by the CA
--   expired      a certificate like 'cert' but expired (key: 'key')
--   wrong_host   a certificate for example.invalid only (key: 'key')
--   self_signed  a self-signed certificate for localhost (key: 'key')
--   client_cert, client_key   a client certificate signed by the CA
-- and pki.sh(cmd): run a shell command, raise with its output on failure.

local function sh(cmd)
  local p = assert(io.popen("unset LD_PRELOAD; (" .. cmd .. ") 2>&1; echo \"rc=$?\""))
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)\n?$"))
  if rc ~= 0 then
    error("pki: command failed (" .. tostring(rc) .. "): " .. cmd .. "\n" .. out, 2)
  end
  return out:gsub("rc=%d+\n?$", "")
end

local p = io.popen("mktemp -d /tmp/corun-pki.XXXXXX")
local dir = p:read("l")
p:close()

local function path(name) return dir .. "/" .. name end

local function write(name, text)
  local f = assert(io.open(path(name), "w"))
  f:write(text)
  f:close()
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- A certificate for 'subject' with the extensions in 'ext' (a file of
-- openssl x509v3 lines), signed by the CA, valid from 'days_before' days
-- ago for 'days' days.
local function issue(name, subject, ext, days, expired)
  write(name .. ".ext", ext)
  sh(("openssl req -new -key %s -subj %s -out %s"):format(q(path("key.pem")),
     q(subject), q(path(name .. ".csr"))))
  if expired then
    -- valid from 2 days ago to yesterday: openssl ca can set both dates
    write("ca.cnf", ([[
[ ca ]
default_ca = ca_default
[ ca_default ]
database = %s
new_certs_dir = %s
serial = %s
default_md = sha256
policy = policy_any
[ policy_any ]
commonName = supplied
]]):format(path("index.txt"), dir, path("serial")))
    write("index.txt", "")
    write("serial", "1000\n")
    local function day(offset)
      return os.date("!%Y%m%d%H%M%SZ", os.time() + offset * 86400)
    end
    sh(("openssl ca -batch -config %s -cert %s -keyfile %s -in %s -out %s " ..
        "-extfile %s -startdate %s -enddate %s -notext"):format(
        q(path("ca.cnf")), q(path("ca.pem")), q(path("ca-key.pem")),
        q(path(name .. ".csr")), q(path(name .. ".pem")),
        q(path(name .. ".ext")), day(-2), day(-1)))
  else
    sh(("openssl x509 -req -in %s -CA %s -CAkey %s -CAcreateserial " ..
        "-days %d -sha256 -extfile %s -out %s"):format(
        q(path(name .. ".csr")), q(path("ca.pem")), q(path("ca-key.pem")),
        days, q(path(name .. ".ext")), q(path(name .. ".pem"))))
  end
  return path(name .. ".pem")
end

sh(("openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 30 " ..
    "-subj '/CN=corun test CA' -addext basicConstraints=critical,CA:TRUE " ..
    "-addext keyUsage=critical,keyCertSign,cRLSign"):format(
    q(path("ca-key.pem")), q(path("ca.pem"))))
sh(("openssl genrsa -out %s 2048"):format(q(path("key.pem"))))

local server_ext = [[
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
]]

local pki = { dir = dir, sh = sh }
pki.ca = path("ca.pem")
pki.key = path("key.pem")
pki.cert = issue("cert", "/CN=localhost", server_ext, 30)
pki.expired = issue("expired", "/CN=localhost", server_ext, 1, true)
pki.wrong_host = issue("wrong", "/CN=example.invalid", [[
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
subjectAltName = DNS:example.invalid
]], 30)
sh(("openssl req -x509 -key %s -out %s -days 30 -subj /CN=localhost " ..
    "-addext subjectAltName=DNS:localhost,IP:127.0.0.1"):format(
    q(path("key.pem")), q(path("self.pem"))))
pki.self_signed = path("self.pem")
sh(("openssl genrsa -out %s 2048"):format(q(path("client-key.pem"))))
write("client.ext", "basicConstraints = CA:FALSE\nextendedKeyUsage = clientAuth\n")
sh(("openssl req -new -key %s -subj /CN=corun-client -out %s && " ..
    "openssl x509 -req -in %s -CA %s -CAkey %s -CAcreateserial -days 30 " ..
    "-sha256 -extfile %s -out %s"):format(q(path("client-key.pem")),
    q(path("client.csr")), q(path("client.csr")), q(path("ca.pem")),
    q(path("ca-key.pem")), q(path("client.ext")), q(path("client.pem"))))
pki.client_cert = path("client.pem")
pki.client_key = path("client-key.pem")

-- The directory goes when the process ends (a userdata-free finalizer:
-- a table with __gc, kept alive by the module table).
pki._cleanup = setmetatable({}, { __gc = function()
  os.execute("rm -rf " .. q(dir))
end })

return pki
