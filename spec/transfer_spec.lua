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

  it("copies a function inside a table argument", function()
    local cell = { n = 1 }
    local ok, a, b = spawn_await(function(t) return t.f(), t.f() end,
                                 { f = function()
                                   cell.n = cell.n + 1
                                   return cell.n
                                 end })
    assert.is_true(ok)
    assert.equal(2, a)
    assert.equal(3, b)
    assert.equal(1, cell.n)
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

-- Ownership (API.md): what crosses with the spawned function's upvalues,
-- what passes by identity, what moves.
describe("corun.spawn", function()
  it("gives the task its own cell for a captured local", function()
    local n = 1
    local ok, got = spawn_await(function() n = n + 1; return n end)
    assert.is_true(ok)
    assert.equal(2, got)
    assert.equal(1, n)
  end)

  it("does not show the spawner's later assignments to the task", function()
    local n = 1
    local ok, got = run(function()
      local h = corun.spawn(function() corun.sleep(0.01); return n end)
      n = 5
      return h:await()
    end)
    assert.is_true(ok)
    assert.equal(1, got)
  end)

  it("gives the task its own copy of a captured table", function()
    local t = { x = 1 }
    local ok, got = spawn_await(function() t.x = 2; return t.x end)
    assert.is_true(ok)
    assert.equal(2, got)
    assert.equal(1, t.x)
  end)

  it("keeps two closures that share a local sharing one cell", function()
    local count = 0
    local function inc() count = count + 1 end
    local function get() return count end
    local ok, got = spawn_await(function() inc(); inc(); return get() end)
    assert.is_true(ok)
    assert.equal(2, got)
    assert.equal(0, count)
  end)

  it("copies a function argument with its upvalues", function()
    local v = { 1 }
    local function f() v[1] = v[1] + 1; return v[1] end
    local ok, a, b = spawn_await(function(g) return g(), g() end, f)
    assert.is_true(ok)
    assert.same({ 2, 3 }, { a, b })
    assert.equal(1, v[1])
    assert.equal(2, f())  -- the spawner's function keeps its own cells
  end)

  it("passes a function without data upvalues by identity", function()
    local function double(x) return 2 * x end
    SHARED_DOUBLE = double
    local ok, same, r = spawn_await(function(g)
      return g == SHARED_DOUBLE, g(21)
    end, double)
    SHARED_DOUBLE = nil
    assert.is_true(ok)
    assert.is_true(same)
    assert.equal(42, r)
  end)

  it("passes C functions by identity", function()
    local ok, same = spawn_await(function(f) return f == print end, print)
    assert.is_true(ok and same)
  end)

  it("passes modules by identity", function()
    package.loaded["corun_spec_module"] = { name = "module" }
    local m = package.loaded["corun_spec_module"]
    local ok, same, same_string = spawn_await(function(a, b)
      return a == package.loaded["corun_spec_module"], b == string
    end, m, string)
    package.loaded["corun_spec_module"] = nil
    assert.is_true(ok)
    assert.is_true(same)
    assert.is_true(same_string)
  end)

  it("passes the global table by identity", function()
    local ok, same = spawn_await(function(g) return g == _G end, _G)
    assert.is_true(ok and same)
  end)

  it("runs a recursive local function in the task", function()
    local function fact(n) return n <= 1 and 1 or n * fact(n - 1) end
    local ok, got = spawn_await(fact, 5)
    assert.is_true(ok)
    assert.equal(120, got)
  end)

  it("gives two live tasks of the same function their own cells",
     function()
    local n = 0
    local function work() n = n + 1; corun.sleep(0.01); return n end
    local a, b = run(function()
      local h1, h2 = corun.spawn(work), corun.spawn(work)
      return select(2, h1:await()), select(2, h2:await())
    end)
    assert.equal(1, a)
    assert.equal(1, b)
    assert.equal(0, n)
  end)

  it("gives independent tasks to a named function spawned in a loop",
     function()
    local config = { scale = 10, seen = 0 }
    local function process(i)
      config.seen = config.seen + 1
      corun.yield_now()
      return i * config.scale, config.seen
    end
    local results = run(function()
      local hs, out = {}, {}
      for i = 1, 5 do hs[i] = corun.spawn(process, i) end
      for i = 1, 5 do out[i] = { select(2, hs[i]:await()) } end
      return out
    end)
    for i = 1, 5 do assert.same({ i * 10, 1 }, results[i]) end
    assert.equal(0, config.seen)
  end)

  it("copies from the spawner's cells each time it spawns a function",
     function()
    local n = 0
    local function work() n = n + 1; return n end
    local first, second = run(function()
      local _, a = corun.spawn(work):await()
      n = 10
      local _, b = corun.spawn(work):await()
      return a, b
    end)
    assert.equal(1, first)
    assert.equal(11, second)
    assert.equal(10, n)
  end)

  it("keeps one table shared by two arguments shared in the task",
     function()
    local t = {}
    local ok, same = spawn_await(function(a, b) return a == b end, t, t)
    assert.is_true(ok and same)
  end)

  it("names the upvalue that holds a refused value", function()
    local co = coroutine.create(function() end)
    local ok, err = run(function()
      return pcall(corun.spawn, function() return co end)
    end)
    assert.is_false(ok)
    assert.equal("corun.spawn: cannot move a coroutine into a task " ..
                 "(upvalue 'co')", err)
  end)

  it("names the path through a function inside an argument", function()
    local co = coroutine.create(function() end)
    local ok, err = run(function()
      return pcall(corun.spawn, function() end,
                   { cb = function() return co end })
    end)
    assert.is_false(ok)
    assert.equal("corun.spawn: cannot move a coroutine into a task " ..
                 "(argument 2, field 'cb', upvalue 'co')", err)
  end)

  it("refuses a value nested deeper than the limit, and goes on", function()
    local deep = {}
    local t = deep
    for _ = 1, 300 do t.next = {}; t = t.next end
    local ok, err, after = run(function()
      local ok, err = pcall(corun.spawn, function() end, deep)
      local _, v = corun.spawn(function() return "still fine" end):await()
      return ok, err, v
    end)
    assert.is_false(ok)
    assert.matches("^corun%.spawn: cannot move a value nested deeper than " ..
                   "200 levels into a task %(argument 2, field 'next", err)
    assert.equal("still fine", after)
  end)
end)

describe("JoinHandle", function()
  it("moves into the task it is passed to", function()
    local ok, inner_ok, v = run(function()
      local h = corun.spawn(function() return 7 end)
      return corun.spawn(function(hh) return hh:await() end, h):await()
    end)
    assert.is_true(ok)
    assert.is_true(inner_ok)
    assert.equal(7, v)
  end)

  it("cannot be used by the spawner after it moved", function()
    local ok, err, id = run(function()
      local h = corun.spawn(function() return 7 end)
      local h2 = corun.spawn(function(hh) return hh:await() end, h)
      local ok, err = pcall(h.await, h)
      h2:await()
      return ok, err, h2:id()
    end)
    assert.is_false(ok)
    assert.equal("corun: JoinHandle was moved to task " .. id, err)
  end)

  it("moves with the upvalue that captures it", function()
    local ok, err = run(function()
      local h = corun.spawn(function() return 1 end)
      local h2 = corun.spawn(function() return h:await() end)
      assert(select(2, h2:await()) == true)
      return pcall(h.is_finished, h)
    end)
    assert.is_false(ok)
    assert.matches("^corun: JoinHandle was moved to task %d+$", err)
  end)

  it("moves out of a task as a result", function()
    local ok, v = run(function()
      local _, inner = corun.spawn(function()
        return corun.spawn(function() return "inner" end)
      end):await()
      return inner:await()
    end)
    assert.is_true(ok)
    assert.equal("inner", v)
  end)
end)

describe("JoinHandle:await", function()
  it("gives the awaiter a working copy of a returned closure", function()
    local ok, a, b = run(function()
      local _, f = corun.spawn(function()
        local n = 0
        return function() n = n + 1; return n end
      end):await()
      return true, f(), f()
    end)
    assert.is_true(ok)
    assert.equal(1, a)
    assert.equal(2, b)
  end)
end)

-- Hostile values: every walk of the copier is bounded, sized by what the
-- value holds, and runs none of the user's metamethods.  What crashed
-- before runs in a child process.
describe("corun.spawn", function()
  it("refuses a chain of 150 000 closures, each the upvalue of the next, "
     .. "with the nesting error (no C stack overflow)", function()
    local status, out, err = corun_script([[
      local corun = require "corun"
      local f = function() return 0 end
      for _ = 1, 150000 do
        local prev = f
        f = function() return prev() + 1 end
      end
      print(pcall(corun.spawn, f))
    ]])
    assert.equal(0, status, err)
    assert.equal("false\tcorun.spawn: cannot move a value nested deeper "
                 .. "than 200 levels into a task (upvalue 'prev', "
                 .. ("upvalue 'prev', "):rep(14) .. "upvalue 'prev'...)\n",
                 out)
  end)

  it("spawns a chain of 300 closures, each the upvalue of the next",
     function()
    local ok, v = spawn_await((function()
      local f = function() return 0 end
      for _ = 1, 300 do
        local prev = f
        f = function() return prev() + 1 end
      end
      return f
    end)())
    assert.is_true(ok)
    assert.equal(300, v)
  end)

  it("copies a sparse table with a huge border (#t) in memory that "
     .. "follows its entries", function()
    local status, out, err = corun_script([[
      local corun = require "corun"
      local t = {}
      for i = 24, 0, -1 do t[1 << i] = i end
      assert(#t >= 1 << 20, "the border is not huge: " .. #t)
      collectgarbage()
      collectgarbage("stop")
      local before = collectgarbage("count")
      local h = corun.spawn(function(x)
        local n = 0
        for k, v in pairs(x) do assert(k == 1 << v) n = n + 1 end
        return n
      end, t)
      print(collectgarbage("count") - before < 256, h:await())
    ]])
    assert.equal(0, status, err)
    assert.equal("true\ttrue\t25\n", out)
  end)

  it("looks up package.loaded raw: a raising __index there does not stop "
     .. "a spawn", function()
    local status, out, err = corun_script([[
      local corun = require "corun"
      local helper = { 1, 2 }
      getmetatable(package.loaded).__index = function(_, k)
        error("no module " .. tostring(k))
      end
      print(corun.spawn(function() return helper[2] end):await())
      setmetatable(package.loaded, { __index = function(_, k)
        error("no module " .. tostring(k))
      end })
      print(corun.spawn(function() return helper[1] end):await())
    ]])
    assert.equal(0, status, err)
    assert.equal("true\t2\ntrue\t1\n", out)
  end)
end)

describe("JoinHandle:await", function()
  it("gives the awaiter a JoinError a task returns, intact (it crosses "
     .. "as a copy)", function()
    local r = run(function()
      local inner = corun.spawn(function() error({ code = 7 }) end)
      local cancelled = corun.spawn(function() corun.sleep(100) end)
      cancelled:abort()
      local ids = { inner:id(), cancelled:id() }
      local ok, e1, e2 = corun.spawn(function(a, b)
        local _, pe = a:await()
        local _, ce = b:await()
        return pe, ce
      end, inner, cancelled):await()
      return { ok = ok, inner = ids[1], cancelled = ids[2],
               panic = { e1:is_panic(), e1:is_cancelled(), e1:id(),
                         e1:into_panic().code, tostring(e1),
                         type(e1:traceback()) },
               cancel = { e2:is_panic(), e2:is_cancelled(), e2:id(),
                          tostring(e2) } }
    end)
    assert.is_true(r.ok)
    assert.same({ true, false, r.inner, 7, "task " .. r.inner
                  .. " panicked: (error object is a table value)", "string" },
                r.panic)
    assert.same({ false, true, r.cancelled, "task " .. r.cancelled
                  .. " was cancelled" }, r.cancel)
  end)

  it("copies a JoinError's panic value: the tasks share no table",
     function()
    local same, code = run(function()
      local _, e = corun.spawn(function() error({ code = 1 }) end):await()
      local ok, e2 = corun.spawn(function(x)
        x:into_panic().code = 2
        return x
      end, e):await()
      assert(ok)
      return rawequal(e:into_panic(), e2:into_panic()), e:into_panic().code
    end)
    assert.is_false(same)
    assert.equal(1, code)
  end)
end)

-- Property tests over random value graphs (spec/transfer_props.lua).
require("transfer_props")()
