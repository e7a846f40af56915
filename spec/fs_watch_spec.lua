-- corun.fs.watch and corun.FsWatcher, on a fresh temporary directory per
-- spec.  The changes are made with Lua's io library and os.rename /
-- os.remove (they do not yield), so that the events wait in the watcher
-- until the task calls next.
local corun = require "corun"

local dir  -- the spec's directory (before_each), removed after it

before_each(function()
  dir = tmpdir()
end)

after_each(function()
  os.execute("rm -rf " .. shell_quote(dir))
end)

local function at(name) return dir .. "/" .. name end

local function put(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

-- An event as a string: "name:change", "name:rename",
-- "name:change+rename".
local function show(name, events)
  local kinds = {}
  if events.change then kinds[#kinds + 1] = "change" end
  if events.rename then kinds[#kinds + 1] = "rename" end
  return name .. ":" .. table.concat(kinds, "+")
end

-- In a task: the events of 'w' (as strings) up to and including the
-- first that is 'want', waiting up to 5 s (real time) in all; the list
-- ends early, without 'want', if that runs out.
local function events_until(w, want)
  local seen = {}
  local deadline = corun.now() + 5
  while corun.now() < deadline do
    local ok, name, events = corun.timeout(deadline - corun.now(),
                                           w.next, w)
    if not ok then break end
    assert(name, events)
    seen[#seen + 1] = show(name, events)
    if seen[#seen] == want then break end
  end
  return seen
end

-- Whether list 't' holds 'v'.
local function has(t, v)
  for _, x in ipairs(t) do if x == v then return true end end
  return false
end

describe("corun.fs.watch", function()
  it("returns a watcher of a directory; tostring names the path",
     function()
    local kind, text = run(function()
      local w = assert(corun.fs.watch(dir))
      return getmetatable(w).__name, tostring(w)
    end)
    assert.equal("corun.FsWatcher", kind)
    assert.equal("corun.FsWatcher (" .. dir .. ")", text)
  end)

  it("returns nil and ENOENT for a path that does not exist", function()
    local w, err = run(function() return corun.fs.watch(at("nope")) end)
    assert.is_nil(w)
    assert.equal("ENOENT: no such file or directory (" .. at("nope") .. ")",
                 err)
  end)

  it("raises for a path that is not a string or holds a zero byte",
     function()
    local e1, e2 = run(function()
      return select(2, pcall(corun.fs.watch, nil)),
             select(2, pcall(corun.fs.watch, dir .. "\0x"))
    end)
    assert.equal("corun.fs.watch: bad argument #1 (string expected, got nil)",
                 e1)
    assert.equal("corun.fs.watch: bad argument #1 (path contains a zero "
                 .. "byte)", e2)
  end)

  it("must be called from a task", function()
    assert.has_error(function() corun.fs.watch(dir) end,
      "corun.fs.watch: must be called from a task (inside corun.run)")
  end)
end)

describe("corun.FsWatcher", function()
  it("in a directory: a file modified, renamed, removed", function()
    put(at("f"), "one")
    local modified, renamed, removed = run(function()
      local w = assert(corun.fs.watch(dir))
      put(at("f"), "two")
      local modified = events_until(w, "f:change")
      assert(os.rename(at("f"), at("g")))
      local renamed = events_until(w, "g:rename")
      assert(os.remove(at("g")))
      local removed = events_until(w, "g:rename")
      return modified, renamed, removed
    end)
    assert.same({ "f:change" }, modified)
    assert.same({ "f:rename", "g:rename" }, renamed)
    assert.same({ "g:rename" }, removed)
  end)

  it("of a file: its base name, {change = true}, then {rename = true}",
     function()
    put(at("f"), "one")
    local modified, renamed, removed = run(function()
      local w = assert(corun.fs.watch(at("f")))
      local f = assert(io.open(at("f"), "ab"))
      f:write("more")
      f:close()
      local modified = events_until(w, "f:change")
      assert(os.rename(at("f"), at("g")))
      local renamed = events_until(w, "f:rename")
      assert(os.remove(at("g")))
      local removed = events_until(w, "f:rename")
      return modified, renamed, removed
    end)
    assert.same({ "f:change" }, modified)
    assert.same({ "f:rename" }, renamed)
    assert.is_true(has(removed, "f:rename"))
  end)

  it("keeps the events that come while nobody waits, in order", function()
    local seen = run(function()
      local w = assert(corun.fs.watch(dir))
      for _, name in ipairs({ "a", "b", "c" }) do put(at(name), "") end
      corun.sleep(0.1)  -- the loop reads them: nobody waits
      local seen = {}
      for i = 1, 3 do seen[i] = show(w:next()) end
      return seen
    end)
    assert.same({ "a:rename", "b:rename", "c:rename" }, seen)
  end)

  it("merges a file's changes that come one after the other", function()
    put(at("f"), "")
    local first, more = run(function()
      local w = assert(corun.fs.watch(dir))
      local f = assert(io.open(at("f"), "wb"))
      for i = 1, 5 do
        f:write(i)
        f:flush()
        corun.sleep(0.02)  -- each write read apart
      end
      f:close()
      return show(w:next()), corun.timeout(0.2, w.next, w)
    end)
    assert.equal("f:change", first)
    assert.is_false(more)
  end)

  it("drops the oldest past 1024 kept events: nil, \"lagged\", k, once",
     function()
    local lagged, k, first, rest, last = run(function()
      local w = assert(corun.fs.watch(dir))
      for i = 1, 1100 do put(at("n" .. i), "") end
      corun.sleep(0.1)  -- the loop reads them all: nobody waits
      local lagged, what, k = w:next()
      local first = show(w:next())
      local rest = 0
      for i = 78, 1100 do
        if show(w:next()) == ("n%d:rename"):format(i) then
          rest = rest + 1
        end
      end
      return lagged == nil and what, k, first, rest,
             corun.timeout(0.2, w.next, w)
    end)
    assert.equal("lagged", lagged)
    assert.equal(1100 - 1024, k)
    assert.equal("n77:rename", first)
    assert.equal(1100 - 77, rest)
    assert.is_false(last)
  end)

  it("waits without holding a paused clock", function()
    paused(function()
      local w = assert(corun.fs.watch(dir))
      local t0 = corun.now()
      local ok, err = corun.timeout(10, w.next, w)
      assert.is_false(ok)
      assert.equal("deadline has elapsed", err)
      near(10, corun.now() - t0)
    end)
  end)

  it("loses no event to a next cancelled by a timeout", function()
    local ok, event = run(function()
      local w = assert(corun.fs.watch(dir))
      local ok = corun.timeout(0.05, w.next, w)
      put(at("late"), "")
      return ok, show(w:next())
    end)
    assert.is_false(ok)
    assert.equal("late:rename", event)
  end)

  it("lets one wait at a time", function()
    local first, second = run(function()
      local w = assert(corun.fs.watch(dir))
      return corun.join(function() return show(w:next()) end,
        function()
          local _, err = pcall(w.next, w)
          put(at("x"), "")
          return err
        end)
    end)
    assert.equal("x:rename", first)
    assert.equal("watcher:next: another wait for this watcher is under way",
                 second)
  end)

  it("wakes a waiting next with ECANCELED when it is closed", function()
    local v, err, after, text = run(function()
      local w = assert(corun.fs.watch(dir))
      local r = corun.join(function() return { w:next() } end,
                           function() w:close() end)
      w:close()  -- again: nothing
      return r[1], r[2], select(2, pcall(w.next, w)), tostring(w)
    end)
    assert.is_nil(v)
    assert.equal("ECANCELED: operation canceled (the watcher was closed)",
                 err)
    assert.equal("watcher:next: the watcher is closed", after)
    assert.equal("corun.FsWatcher (closed)", text)
  end)

  it("moves into a spawned task; the spawner cannot use it", function()
    local got, err = run(function()
      local w = assert(corun.fs.watch(dir))
      local h = corun.spawn(function(w) return show(w:next()) end, w)
      local _, err = pcall(w.next, w)
      corun.yield_now()   -- the task waits
      put(at("moved"), "")
      local _, got = h:await()
      return got, err
    end)
    assert.equal("moved:rename", got)
    assert.matches("^corun: watcher belongs to task %d+$", err)
  end)

  it("is closed when its owner ends, by <close> and by the collector",
     function()
    local owner_end, closed, collected = run(function()
      local s = shared()
      corun.spawn(function(path)
        SHARED.w = assert(corun.fs.watch(path))  -- shared: a global
      end, dir):await()
      local w2
      do
        local w <close> = assert(corun.fs.watch(dir))
        w2 = w
      end
      local w3 = assert(corun.fs.watch(dir))
      local weak = setmetatable({ w3 }, { __mode = "v" })
      w3 = nil
      collectgarbage()
      collectgarbage()
      return tostring(s.w), tostring(w2), weak[1] == nil
    end)
    assert.equal("corun.FsWatcher (closed)", owner_end)
    assert.equal("corun.FsWatcher (closed)", closed)
    assert.is_true(collected)
  end)

  it("leaves nothing behind when the runtime ends during a next",
     function()
    run_leaving(function(path)
      corun.spawn(function()
        local w = assert(corun.fs.watch(path))
        w:next()
      end)
      corun.yield_now()  -- it waits, then the main task ends
    end, dir)
  end)

  it("raises for a method called without its watcher", function()
    local err = run(function()
      local w = assert(corun.fs.watch(dir))
      return select(2, pcall(w.next))
    end)
    assert.equal("watcher:next: bad argument #1 (corun.FsWatcher expected, "
                 .. "got no value)", err)
  end)
end)
