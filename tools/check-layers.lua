-- check-layers.lua: hold corun's layers to their rules (make check-layers).
--
--   lua5.4 tools/check-layers.lua [ROOT [OBJDIR]]
--
-- The layers, from the bottom (docs/internals.md has the map):
--   core      host/*.c and *.h but embed.c, preload.c, main.c: the runtime,
--             tasks, scheduler, clock, transfer, branches, sync objects,
--             channels, join sets
--   api       host/embed.c, host/preload.c, host/main.c: corun.h's C API
--             and the executable, built on the core
--   io        io/*: libuv I/O objects, on the core and corun.h's waits
--   bindings  bindings/*: the Lua module's argument checks, userdata and
--             results, on everything below
-- Two checks:
--   includes  a file of host/ includes nothing of io/ or bindings/; a file
--             of io/ nothing of bindings/ (read from the sources);
--   calls     an object of a layer calls no function defined in a layer
--             above it, and the inner core (task.c, sched.c, timer.c,
--             runtime.c) names no function of the embedding layer, io/,
--             the sync objects and channels (sync.c, token.c, channel.c,
--             oneshot.c, broadcast.c, watch.c, refs.c, handoff.c) or
--             joinset.c: whoever they must reach is reached through a hook
--             (read with nm from OBJDIR, when given).
-- Prints each breach as "file: what" and exits with status 1 if any.

local root = arg[1] or "."
local objdir = arg[2]

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

-- The names in directory 'dir' that match 'pattern'.
local function files(dir, pattern)
  local list = {}
  for name in sh(("ls %s 2>/dev/null"):format(dir)):gmatch("[^\n]+") do
    if name:match(pattern) then list[#list + 1] = name end
  end
  table.sort(list)
  return list
end

local API = { ["embed.c"] = true, ["preload.c"] = true, ["main.c"] = true,
              ["repl.c"] = true, ["repl.h"] = true }
local INNER = { task = true, sched = true, timer = true, runtime = true }
local OUTER_OF_INNER = { embed = true, preload = true, main = true,
                         repl = true,
                         sync = true, channel = true, joinset = true,
                         token = true, oneshot = true, broadcast = true,
                         watch = true, refs = true, handoff = true }

-- The layer of 'dir/name'.
local function layer(dir, name)
  if dir == "host" then return API[name] and "api" or "core" end
  return dir
end

-- What a layer may include or call.
local RANK = { core = 1, api = 2, io = 2, bindings = 3 }
local may_use = {
  core = { core = true },
  api = { core = true, api = true, io = true, bindings = true },
  io = { core = true, api = true, io = true },
  bindings = { core = true, api = true, io = true, bindings = true },
}

local breaches = {}
local function breach(file, what)
  breaches[#breaches + 1] = file .. ": " .. what
end

-- includes
for _, dir in ipairs { "host", "io", "bindings" } do
  for _, name in ipairs(files(root .. "/" .. dir, "%.[ch]$")) do
    local path = ("%s/%s/%s"):format(root, dir, name)
    local f = assert(io.open(path))
    local n = 0
    for line in f:lines() do
      n = n + 1
      local inc = line:match('^%s*#%s*include%s+"([^"]+)"')
      if inc then
        local target = inc:match("^%.%./(%w+)/")
        local tl = target == "host" and "core" or target
        if target and not may_use[layer(dir, name)][tl] then
          breach(("%s/%s:%d"):format(dir, name, n),
                 ("includes %s (%s may not use %s)"):format(inc,
                 layer(dir, name), target))
        end
      end
    end
    f:close()
  end
end

-- calls
if objdir then
  local defined = {}  -- symbol -> { layer, base name }
  local objects = {}
  for _, dir in ipairs { "host", "io", "bindings" } do
    for _, name in ipairs(files(objdir .. "/" .. dir, "%.o$")) do
      local src = name:gsub("%.o$", ".c")
      local o = { dir = dir, name = src, base = src:gsub("%.c$", ""),
                  path = ("%s/%s/%s"):format(objdir, dir, name) }
      o.layer = layer(dir, src)
      objects[#objects + 1] = o
      for sym in sh("nm -g --defined-only " .. o.path):gmatch("%x+ [TDBR] ([%w_]+)") do
        defined[sym] = o
      end
    end
  end
  if #objects == 0 then
    io.stderr:write("check-layers: no objects in " .. objdir .. " (run make)\n")
    os.exit(1)
  end
  for _, o in ipairs(objects) do
    for sym in sh("nm -u " .. o.path):gmatch("U ([%w_]+)") do
      local d = defined[sym]
      if d then
        if not may_use[o.layer][d.layer] then
          breach(o.dir .. "/" .. o.name, ("calls %s of %s/%s (%s may not "
                 .. "use %s)"):format(sym, d.dir, d.name, o.layer, d.layer))
        elseif INNER[o.base] and o.dir == "host" and
               (d.dir ~= "host" or OUTER_OF_INNER[d.base]) then
          breach(o.dir .. "/" .. o.name, ("calls %s of %s/%s (the inner "
                 .. "core reaches it through a hook)"):format(sym, d.dir,
                 d.name))
        end
      end
    end
  end
end

for _, b in ipairs(breaches) do print(b) end
if #breaches > 0 then
  print(("check-layers: %d breach%s of the layers"):format(#breaches,
        #breaches == 1 and "" or "es"))
  os.exit(1)
end
print("check-layers: ok" .. (objdir and "" or " (includes only)"))
