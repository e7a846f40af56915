-- Hostile input from pure Lua against corun's own objects: their
-- metatables (reached with getmetatable, or debug.getmetatable) and the
-- metamethods in them, called by hand with arguments of the wrong kind.
-- What crashed before is run in a child process (corun_script), so that a
-- regression fails one spec, not the suite.
local corun = require "corun"

-- A script prelude: one object of every class of corun, in 'objects'
-- (class name -> object), made in the main task of the corun executable.
local OBJECTS = [[
  local corun = require "corun"
  local objects = {}
  local sem = corun.Semaphore(2)
  objects["corun.Semaphore"] = sem
  objects["corun.Permit"] = sem:try_acquire()
  local m = corun.Mutex(1)
  objects["corun.Mutex"] = m
  objects["corun.MutexGuard"] = m:try_lock()
  objects["corun.Notify"] = corun.Notify()
  local rw = corun.RwLock(1)
  objects["corun.RwLock"] = rw
  objects["corun.RwLockReadGuard"] = rw:try_read()
  objects["corun.RwLockWriteGuard"] = corun.RwLock(2):try_write()
  objects["corun.Barrier"] = corun.Barrier(2)
  objects["corun.CancellationToken"] = corun.CancellationToken():child()
  objects["corun.OneshotSender"], objects["corun.OneshotReceiver"] =
    corun.oneshot()
  objects["corun.BroadcastSender"], objects["corun.BroadcastReceiver"] =
    corun.broadcast(4)
  objects["corun.WatchSender"], objects["corun.WatchReceiver"] =
    corun.watch({})
  objects["corun.Sender"], objects["corun.Receiver"] = corun.channel()
  local h = corun.spawn(function() error("panicked on purpose", 0) end)
  corun.yield_now()
  objects["corun.JoinHandle"] = h  -- panicked: the variant with a __gc
  objects["corun.JoinError"] = select(2, corun.spawn(error):await())
  local set = corun.JoinSet()
  objects["corun.JoinSet"] = set
  objects["corun.AbortHandle"] = set:spawn(function() end)
  objects["corun.Interval"] = corun.interval(1)
  local server = assert(corun.net.listen("127.0.0.1", 0))
  objects["corun.Server"] = server
  objects["corun.Stream"] = assert(corun.net.connect(server:address()))
  objects["corun.Process"] = assert(corun.process.spawn("true", {}))
  objects["corun.File"] = assert(corun.fs.open(arg[0], "r"))
]]

describe("getmetatable", function()
  it("gives a table holding only the class name for every corun object",
     function()
    local status, out, err = corun_script(OBJECTS .. [[
      local names = {}
      for name in pairs(objects) do names[#names + 1] = name end
      table.sort(names)
      for _, name in ipairs(names) do
        local mt = getmetatable(objects[name])
        local keys = {}
        for k in pairs(mt) do keys[#keys + 1] = tostring(k) end
        print(name, type(mt), mt.__name, table.concat(keys, ","))
      end
    ]])
    assert.equal(0, status, err)
    local n = 0
    for line in out:gmatch("[^\n]+") do
      local name, kind, mtname, keys = line:match("^(%S+)\t(%S+)\t(%S+)\t(.*)$")
      assert.equal("table", kind, line)
      assert.equal(name, mtname, line)
      assert.equal("__name", keys, line)
      n = n + 1
    end
    assert.equal(27, n, out)
  end)

  it("reaches no metamethod: getmetatable(permit).__gc is nil", function()
    local status, out, err = corun_script([[
      local corun = require "corun"
      local p = corun.Semaphore(1):try_acquire()
      print(pcall(function() getmetatable(p).__gc() end))
      print(p)
    ]])
    assert.equal(0, status, err)
    assert.matches("^false\t.-attempt to call a nil value %(field '__gc'%)\n"
                   .. "corun.Permit %(1%)\n$", out)
  end)
end)

describe("debug.getmetatable", function()
  it("reaches metamethods that check their argument: each called with "
     .. "something else raises an error naming it", function()
    local status, out, err = corun_script(OBJECTS .. [[
      local others = { n = 6, nil, 42, "text", {}, io.stdout,
                       corun.Semaphore(1) }
      local count, bad = 0, {}
      for name, obj in pairs(objects) do
        local mt = debug.getmetatable(obj)
        for event, f in pairs(mt) do
          if type(f) == "function" then
            for i = 1, others.n do
              local other = others[i]
              if getmetatable(other) ~= getmetatable(obj) then
                local ok, e = pcall(f, other, "value", 1)
                count = count + 1
                if ok or type(e) ~= "string" or
                   not e:find(event, 1, true) then
                  bad[#bad + 1] = name .. "." .. event .. ": " ..
                                  tostring(ok) .. " " .. tostring(e)
                end
              end
            end
          end
        end
      end
      print(count > 80, table.concat(bad, "\n"))
      objects["corun.Process"]:wait()
    ]])
    assert.equal(0, status, err)
    assert.equal("true\t\n", out)
  end)

  it("reaches no __corun_take: no metamethod moves an object", function()
    local status, out, err = corun_script([[
      local corun = require "corun"
      local p = corun.Semaphore(1):try_acquire()
      local take = debug.getmetatable(p).__corun_take
      if take then pcall(take, p, io.stdout, 7) end
      print(take, p)
      p:release()
    ]])
    assert.equal(0, status, err)
    assert.equal("nil\tcorun.Permit (1)\n", out)
  end)

  it("__gc called by hand on a server closes it: it is seen closed after",
     function()
    local status, out, err = corun_script([[
      local corun = require "corun"
      local server = assert(corun.net.listen("127.0.0.1", 0))
      debug.getmetatable(server).__gc(server)
      print(pcall(server.address, server))
      print(server)
      collectgarbage()
    ]])
    assert.equal(0, status, err)
    assert.equal("false\tserver:address: the server is closed\n"
                 .. "corun.Server (closed)\n", out)
  end)

  it("__gc called by hand on a permit gives its permits back once",
     function()
    local status, out, err = corun_script([[
      local corun = require "corun"
      local sem = corun.Semaphore(2)
      local p = sem:try_acquire(2)
      local gc = debug.getmetatable(p).__gc
      gc(p)
      gc(p)
      p:release()
      p = nil
      collectgarbage()
      print(sem:available_permits())
    ]])
    assert.equal(0, status, err)
    assert.equal("2\n", out)
  end)

  it("__close called by hand on a receiver moved away leaves it to its "
     .. "owner", function()
    local status, out, err = corun_script([[
      local corun = require "corun"
      local tx, rx = corun.channel()
      local h = corun.spawn(function(r) return r:recv() end, rx)
      debug.getmetatable(rx).__close(rx)
      tx:send("still open")
      print(h:await())
    ]])
    assert.equal(0, status, err)
    assert.equal("true\tstill open\n", out)
  end)
end)

describe("debug.setmetatable", function()
  it("gives another userdata a corun metatable: every checked method of "
     .. "the hot classes still refuses it (the class word is the object's)",
     function()
    local status, out, err = corun_script([=[
      local corun = require "corun"
      local sem = corun.Semaphore(1)
      local tx, rx = corun.channel()
      local objects = {
        Semaphore = sem, Permit = sem:try_acquire(), Mutex = corun.Mutex(1),
        Sender = tx, Receiver = rx, JoinSet = corun.JoinSet(),
        JoinHandle = corun.spawn(function() end),
      }
      local calls = {
        Semaphore = "acquire", Permit = "release", Mutex = "try_lock",
        Sender = "try_send", Receiver = "try_recv", JoinSet = "len",
        JoinHandle = "abort",
      }
      local names = {}
      for name in pairs(objects) do names[#names + 1] = name end
      table.sort(names)
      for _, name in ipairs(names) do
        local forged = io.tmpfile()  -- a full userdata of another class
        local method, file_mt = objects[name][calls[name]],
                                debug.getmetatable(forged)
        debug.setmetatable(forged, debug.getmetatable(objects[name]))
        print(name, pcall(method, forged, 1))
        debug.setmetatable(forged, file_mt)
        forged:close()
      end
      objects.JoinHandle:await()
    ]=])
    assert.equal(0, status, err)
    local n = 0
    for line in out:gmatch("[^\n]+") do
      local name, ok, msg = line:match("^(%S+)\t(%S+)\t(.*)$")
      assert.equal("false", ok, line)
      assert.matches(":" .. (name == "JoinHandle" and "abort" or "")
                     .. ".-bad argument #1 %(" .. name .. " expected", msg)
      n = n + 1
    end
    assert.equal(7, n, out)
  end)
end)

describe("package.loaded", function()
  it("its __newindex called by hand on something else raises", function()
    local status, out, err = corun_script([[
      print(pcall(getmetatable(package.loaded).__newindex, 42, "k", "v"))
      print(pcall(getmetatable(package.loaded).__newindex))
    ]])
    assert.equal(0, status, err)
    assert.equal("false\tpackage.loaded.__newindex: bad argument #1 "
                 .. "(table expected, got number)\n"
                 .. "false\tpackage.loaded.__newindex: bad argument #1 "
                 .. "(table expected, got no value)\n", out)
  end)
end)
