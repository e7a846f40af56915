local corun = require "corun"

-- Spawn fn(...) and await it; returns what await returns.
local function spawn_await(fn, ...)
  return run(function(...) return corun.spawn(fn, ...):await() end, ...)
end

-- corun.spawn(fn, ...) called from Lua code in a task, under pcall: false
-- and the message.
local function spawn_error(...)
  return run(function(...)
    local args = table.pack(...)
    return pcall(function()
      corun.spawn(function() end, table.unpack(args, 1, args.n))
    end)
  end, ...)
end

describe("corun.spawn", function()
  it("passes nil, booleans, numbers and strings as they are", function()
    local ok, r = spawn_await(function(...) return table.pack(...) end,
                              nil, true, false, 42, 2.5, "text")
    assert.is_true(ok)
    assert.same({ n = 6, nil, true, false, 42, 2.5, "text" }, r)
    assert.equal("integer", math.type(r[4]))
    assert.equal("float", math.type(r[5]))
  end)

  it("gives the task a copy of a table argument", function()
    local s = shared()
    local t = { sub = {} }
    s.original = t
    local ok, same, same_sub = spawn_await(function(a)
      return a == SHARED.original, a.sub == SHARED.original.sub
    end, t)
    assert.is_true(ok)
    assert.is_false(same)
    assert.is_false(same_sub)
  end)

  it("copies the contents of a table argument deeply", function()
    local t = { 1, 2, x = "y", sub = { deeper = { true } }, [10] = 10 }
    local ok, got = spawn_await(function(a) return a end, t)
    assert.is_true(ok)
    assert.same({ 1, 2, x = "y", sub = { deeper = { true } }, [10] = 10 }, got)
  end)

  it("copies tables used as keys", function()
    local s = shared()
    s.key = { "k" }
    local ok, same, k1, v = spawn_await(function(a)
      local k, v = next(a)
      return k == SHARED.key, k[1], v
    end, { [s.key] = "v" })
    assert.is_true(ok)
    assert.is_false(same)
    assert.same({ "k", "v" }, { k1, v })
  end)

  it("does not change the spawner's table when the task mutates its copy",
     function()
    local t = { x = 1, sub = { y = 2 } }
    run(function()
      corun.spawn(function(a)
        a.x = 100
        a.sub.y = 200
        a.new = true
      end, t):await()
    end)
    assert.same({ x = 1, sub = { y = 2 } }, t)
  end)

  it("copies the table when spawn is called, not when the task starts",
     function()
    local ok, x = run(function()
      local t = { x = "at spawn" }
      local h = corun.spawn(function(a) return a.x end, t)
      t.x = "changed later"
      return h:await()
    end)
    assert.is_true(ok)
    assert.equal("at spawn", x)
  end)

  it("keeps a cycle's shape", function()
    local t = {}
    t.self = t
    local ok, same = spawn_await(function(a) return a.self == a end, t)
    assert.is_true(ok)
    assert.is_true(same)
  end)

  it("keeps the shape of a sub-table shared inside one argument", function()
    local shared_sub = {}
    local ok, same = spawn_await(function(a) return a.x == a.y end,
                                 { x = shared_sub, y = shared_sub })
    assert.is_true(ok)
    assert.is_true(same)
  end)

  it("passes metatables by reference", function()
    local s = shared()
    local mt = { __index = { kind = "object" } }
    s.mt = mt
    local ok, same, kind = spawn_await(function(a)
      return getmetatable(a) == SHARED.mt, a.kind
    end, setmetatable({}, mt))
    assert.is_true(ok)
    assert.is_true(same)
    assert.equal("object", kind)
  end)

  it("refuses a coroutine argument", function()
    local ok, err = spawn_error(coroutine.create(function() end))
    assert.is_false(ok)
    assert.truthy(err:find(
      "corun.spawn: cannot move a coroutine into a task (argument 2)", 1,
      true), err)
  end)

  it("names the place of a coroutine inside a table argument", function()
    local ok, err = spawn_error(1, { a = { b = { 1, 2,
                                     coroutine.create(function() end) } } })
    assert.is_false(ok)
    assert.truthy(err:find("corun.spawn: cannot move a coroutine into a " ..
                           "task (argument 3, field 'a.b[3]')", 1, true), err)
  end)

  it("refuses a function inside a table argument", function()
    local ok, err = spawn_error({ f = function() end })
    assert.is_false(ok)
    assert.truthy(err:find("corun.spawn: cannot move a function into a " ..
                           "task (argument 2, field 'f')", 1, true), err)
  end)

  it("refuses a userdata argument", function()
    local ok, err = spawn_error(io.stdout)
    assert.is_false(ok)
    assert.truthy(err:find("corun.spawn: cannot move a FILE* into a task " ..
                           "(argument 2)", 1, true), err)
  end)

  it("starts a refused value's message with the function name", function()
    local ok, err = spawn_error(coroutine.create(function() end))
    assert.is_false(ok)
    assert.matches("^corun%.spawn: cannot move a coroutine", err)
  end)

  it("starts no task when it refuses an argument", function()
    local s = shared()
    run(function()
      pcall(corun.spawn, function() SHARED.ran = true end,
            coroutine.create(function() end))
      corun.sleep(0.01)
    end)
    assert.is_nil(s.ran)
  end)
end)

describe("JoinHandle:await", function()
  it("gives the awaiter a copy of a table result", function()
    local s = shared()
    local ok, got = spawn_await(function()
      local t = { x = 1, sub = { 2 } }
      SHARED.result = t
      return t
    end)
    assert.is_true(ok)
    assert.same({ x = 1, sub = { 2 } }, got)
    assert.not_equal(s.result, got)
    assert.not_equal(s.result.sub, got.sub)
  end)

  it("keeps a cycle's shape in a result", function()
    local ok, got = spawn_await(function()
      local t = {}
      t.self = t
      return t
    end)
    assert.is_true(ok)
    assert.equal(got, got.self)
  end)

  it("keeps the metatable of a result by reference", function()
    local s = shared()
    s.mt = {}
    local ok, got = spawn_await(function()
      return setmetatable({}, SHARED.mt)
    end)
    assert.is_true(ok)
    assert.equal(s.mt, getmetatable(got))
  end)

  it("makes a task that returns a coroutine panic", function()
    local ok, err = spawn_await(function()
      return coroutine.create(function() end)
    end)
    assert.is_false(ok)
    assert.is_true(err:is_panic())
    assert.truthy(tostring(err):find("cannot move a coroutine out of a task",
                                     1, true), tostring(err))
  end)
end)
