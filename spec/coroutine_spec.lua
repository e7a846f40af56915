local corun = require "corun"

describe("coroutine.wrap", function()
  it("lets a generator wait on corun between its values", function()
    local values, elapsed = paused(function()
      local t0 = corun.now()
      local gen = coroutine.wrap(function()
        for i = 1, 3 do
          corun.sleep(0.02)
          coroutine.yield(i)
        end
      end)
      return { gen(), gen(), gen() }, corun.now() - t0
    end)
    assert.same({ 1, 2, 3 }, values)
    near(0.06, elapsed)
  end)

  it("serves as a for-loop iterator that waits", function()
    local values = run(function()
      local out = {}
      for v in coroutine.wrap(function()
        for i = 1, 3 do
          corun.yield_now()
          coroutine.yield(i * 10)
        end
      end) do
        out[#out + 1] = v
      end
      return out
    end)
    assert.same({ 10, 20, 30 }, values)
  end)

  it("continues the generator where it waited", function()
    local log = run(function()
      local log = {}
      local gen = coroutine.wrap(function(a)
        log[#log + 1] = "before " .. a
        corun.sleep(0.001)
        log[#log + 1] = "after " .. a
        local b = coroutine.yield(a + 1)
        corun.yield_now()
        return b * 2
      end)
      local r1 = gen(1)
      log[#log + 1] = r1
      local r2 = gen(5)
      log[#log + 1] = r2
      return log
    end)
    assert.same({ "before 1", "after 1", 2, 10 }, log)
  end)

  it("lets other tasks run while a generator waits", function()
    local s = shared()
    run(function()
      local h = corun.spawn(function() SHARED.ran = true end)
      local gen = coroutine.wrap(function()
        corun.sleep(0.01)
        coroutine.yield(SHARED.ran)
      end)
      SHARED.seen = gen()
      h:await()
    end)
    assert.is_true(s.seen)
  end)

  it("lets waits pass through nested generators", function()
    local v = run(function()
      local outer = coroutine.wrap(function()
        local inner = coroutine.wrap(function()
          corun.sleep(0.01)
          coroutine.yield("inner value")
        end)
        local got = inner()
        corun.sleep(0.01)
        coroutine.yield(got .. " via outer")
      end)
      return outer()
    end)
    assert.equal("inner value via outer", v)
  end)

  it("keeps coroutine.yield's meaning in a task", function()
    local values = run(function()
      local gen = coroutine.wrap(function(x)
        local y = coroutine.yield(x + 1)
        coroutine.yield(y * 2)
      end)
      return { gen(1), gen(10) }
    end)
    assert.same({ 2, 20 }, values)
  end)

  it("propagates an error of the generator to its caller", function()
    local ok, err = run(function()
      local gen = coroutine.wrap(function()
        corun.sleep(0.001)
        error("gen failed")
      end)
      return pcall(gen)
    end)
    assert.is_false(ok)
    assert.matches("gen failed$", err)
  end)

  it("works as the standard one outside a runtime", function()
    local gen = coroutine.wrap(function()
      coroutine.yield(1)
      coroutine.yield(2)
    end)
    assert.same({ 1, 2 }, { gen(), gen() })
  end)

  it("closes the generator's to-be-closed variables when the task is " ..
     "cancelled", function()
    local s = shared()
    run(function()
      local h = corun.spawn(function()
        local outer <close> = closer("task")
        local gen = coroutine.wrap(function()
          local c <close> = closer("generator")
          corun.sleep(100)
        end)
        gen()
        SHARED.resumed = true
      end)
      corun.yield_now()
      h:abort()
      h:await()
    end)
    assert.same({ "generator", "task" }, s.closed)
    assert.is_nil(s.resumed)
  end)

  -- regression: cancellation closed the outer generator before the inner
  it("closes nested generators innermost first when the task is cancelled",
     function()
    local s = shared()
    run(function()
      local h = corun.spawn(function()
        local t <close> = closer("task")
        local outer = coroutine.wrap(function()
          local o <close> = closer("outer")
          local inner = coroutine.wrap(function()
            local i <close> = closer("inner")
            corun.sleep(100)
          end)
          inner()
        end)
        outer()
      end)
      corun.yield_now()
      h:abort()
      h:await()
    end)
    assert.same({ "inner", "outer", "task" }, s.closed)
  end)
end)

describe("coroutine.resume", function()
  it("lets a coroutine wait on corun and returns its values", function()
    local r = run(function()
      local co = coroutine.create(function(a)
        corun.sleep(0.01)
        local b = coroutine.yield(a + 1)
        corun.yield_now()
        return b * 2
      end)
      local r1 = table.pack(coroutine.resume(co, 1))
      local r2 = table.pack(coroutine.resume(co, 5))
      return { r1, r2, coroutine.status(co) }
    end)
    assert.same({ { n = 2, true, 2 }, { n = 2, true, 10 }, "dead" }, r)
  end)

  it("takes the time of the waits inside the coroutine", function()
    local elapsed = paused(function()
      local t0 = corun.now()
      coroutine.resume(coroutine.create(function() corun.sleep(0.05) end))
      return corun.now() - t0
    end)
    near(0.05, elapsed)
  end)

  it("keeps coroutine.yield's meaning in a task", function()
    local r = run(function()
      local co = coroutine.create(function() coroutine.yield("a", "b") end)
      return table.pack(coroutine.resume(co))
    end)
    assert.same({ n = 3, true, "a", "b" }, r)
  end)

  it("returns false and the error of a coroutine that raised after a wait",
     function()
    local ok, err = run(function()
      return coroutine.resume(coroutine.create(function()
        corun.sleep(0.001)
        error("co failed", 0)
      end))
    end)
    assert.is_false(ok)
    assert.equal("co failed", err)
  end)

  it("works as the standard one outside a runtime", function()
    local co = coroutine.create(function(x) return coroutine.yield(x) + 1 end)
    assert.same({ true, 1 }, { coroutine.resume(co, 1) })
    assert.same({ true, 3 }, { coroutine.resume(co, 2) })
  end)
end)

describe("coroutine.yield", function()
  it("makes a task panic when called at the task's top level", function()
    local ok, err = run(function()
      return corun.spawn(function() coroutine.yield(1) end):await()
    end)
    assert.is_false(ok)
    assert.is_true(err:is_panic())
    assert.matches("attempt to yield from outside a coroutine",
                   tostring(err))
  end)

  it("makes the main task raise when called at its top level", function()
    local ok, err = pcall(corun.run, function() coroutine.yield(1) end)
    assert.is_false(ok)
    assert.matches("attempt to yield from outside a coroutine", err)
  end)

  it("closes the task's to-be-closed variables when it makes it panic",
     function()
    local s = shared()
    run(function()
      corun.spawn(function()
        local c <close> = closer("task")
        coroutine.yield()
      end):await()
    end)
    assert.same({ "task" }, s.closed)
  end)
end)

-- A task's top level (its own coroutine, or a branch's) is to coroutine.*
-- what the main thread is to a plain Lua script.
local YIELD_OUTSIDE = "attempt to yield from outside a coroutine (tasks "
  .. "wait with corun functions, such as corun.yield_now)"

describe("coroutine.running", function()
  it("says a task's top level is the main coroutine: the task's own " ..
     "coroutine and true", function()
    local r = run(function()
      local function probe()
        local co, ismain = coroutine.running()
        return type(co), ismain, co == coroutine.running()
      end
      local _, spawned = corun.spawn(function()
        return { probe() }
      end):await()
      return { spawned, { probe() } }  -- a spawned task, a branch (run)
    end)
    assert.same({ { "thread", true, true }, { "thread", true, true } }, r)
  end)

  it("says so of the main task", function()
    assert.same({ "thread", true }, corun.run(function()
      local co, ismain = coroutine.running()
      return { type(co), ismain }
    end))
  end)

  it("says false inside a coroutine the task runs", function()
    local r = run(function()
      local main = coroutine.running()
      return table.pack(coroutine.wrap(function()
        local co, ismain = coroutine.running()
        return co ~= main, ismain
      end)())
    end)
    assert.same({ n = 2, true, false }, r)
  end)

  it("says so in a script run by the corun executable that does not " ..
     "require corun", function()
    local status, out = corun_script([[
      local co, ismain = coroutine.running()
      print(type(co), ismain, coroutine.isyieldable(), pcall(coroutine.yield))
    ]])
    assert.equal(0, status)
    assert.equal("thread\ttrue\tfalse\tfalse\t" .. YIELD_OUTSIDE .. "\n", out)
  end)
end)

describe("coroutine.isyieldable", function()
  it("is false at a task's top level, true inside its coroutines",
     function()
    local r = run(function()
      local function probe()
        local main = coroutine.running()
        local inner = table.pack(coroutine.wrap(function()
          return coroutine.isyieldable(), coroutine.isyieldable(main)
        end)())
        return { coroutine.isyieldable(), coroutine.isyieldable(main),
                 inner[1], inner[2] }
      end
      local _, spawned = corun.spawn(probe):await()
      return { spawned, probe() }
    end)
    assert.same({ { false, false, true, false },
                  { false, false, true, false } }, r)
  end)

  it("is false of another task's coroutine", function()
    local r = run(function()
      local h = corun.spawn(function()
        VICTIM = coroutine.running()
        corun.sleep(0.01)
      end)
      corun.yield_now()
      local yieldable = coroutine.isyieldable(VICTIM)
      h:await()
      return yieldable
    end)
    assert.is_false(r)
  end)
end)

describe("coroutine.yield", function()
  it("raises an ordinary error that pcall catches at a task's top level",
     function()
    local r = run(function()
      local _, spawned = corun.spawn(function()
        local ok, err = pcall(coroutine.yield, 1)
        return { ok, err, "went on" }
      end):await()
      local ok, err = pcall(coroutine.yield, 1)  -- a branch (run)
      local _, called = pcall(function() coroutine.yield() end)
      return { spawned, { ok, err, "went on" }, called }
    end)
    assert.same({ { false, YIELD_OUTSIDE, "went on" },
                  { false, YIELD_OUTSIDE, "went on" },
                  YIELD_OUTSIDE }, r)  -- no position, as Lua's own
  end)

  it("raises that error at the main task's top level", function()
    assert.same({ false, YIELD_OUTSIDE }, corun.run(function()
      return { pcall(coroutine.yield) }
    end))
  end)
end)

-- Another task's coroutine, and a coroutine that a corun wait suspended
-- in another task, are busy (their task resumes them): resume and close
-- refuse them as they refuse any coroutine that is not suspended.
local NOT_SUSPENDED = "cannot resume non-suspended coroutine"

-- Runs victim(), a task that waits in coroutines it exposes in globals,
-- and thief() in another task at time 'at' (default 0.01), on the paused
-- clock; returns both tasks' await results.
local function hijack(victim, thief, at)
  return paused(function()
    local v = corun.spawn(victim)
    local t = corun.spawn(function()
      corun.sleep(at or 0.01)
      return thief()
    end)
    return { t:await() }, { v:await() }
  end)
end

-- Waits in coroutine CO from 0 to 0.02, then in generator GEN until 0.04.
local function victim()
  VICTIM = coroutine.running()
  CO = coroutine.create(function()
    corun.sleep(0.02)
    coroutine.yield("co value")
  end)
  local co = { coroutine.resume(CO) }
  GEN = coroutine.wrap(function()
    corun.sleep(0.02)
    coroutine.yield("gen value")
  end)
  return co[1], co[2], GEN()
end

describe("coroutine.resume", function()
  it("is refused on the task's own coroutine, as on the main thread",
     function()
    local r = run(function()
      local main = coroutine.running()
      local inner = coroutine.wrap(function()
        return { coroutine.resume(main) }
      end)()
      return { { coroutine.resume(main) }, inner }
    end)
    assert.same({ { false, NOT_SUSPENDED }, { false, NOT_SUSPENDED } }, r)
  end)

  it("is refused on another task's coroutine, which goes on", function()
    local thief, victim_r = hijack(function()
      VICTIM = coroutine.running()
      corun.sleep(0.02)
      return "victim done"
    end, function()
      return coroutine.resume(VICTIM, "hijack")
    end)
    assert.same({ true, false, NOT_SUSPENDED }, thief)
    assert.same({ true, "victim done" }, victim_r)
  end)

  it("is refused on a coroutine that a corun wait suspended in another " ..
     "task, which goes on", function()
    local thief, victim_r = hijack(victim, function()
      return coroutine.resume(CO, "hijack")
    end)
    assert.same({ true, false, NOT_SUSPENDED }, thief)
    assert.same({ true, true, "co value", "gen value" }, victim_r)
  end)

  it("names itself in argument errors as the standard one", function()
    local r = run(function()
      return { select(2, pcall(coroutine.resume, 0)),
               select(2, pcall(function() return coroutine.resume({}) end)) }
    end)
    assert.equal("bad argument #1 to 'coroutine.resume' (thread expected, "
                 .. "got number)", r[1])
    assert.matches(":%d+: bad argument #1 to 'resume' %(thread expected, "
                   .. "got table%)$", r[2])
  end)
end)

describe("coroutine.wrap", function()
  it("refuses to run a generator that another task waits in, which goes " ..
     "on", function()
    local thief, victim_r = hijack(victim, function()
      local ok, err = pcall(GEN, "hijack")
      return ok, err
    end, 0.03)
    assert.same({ true, false, NOT_SUSPENDED }, thief)
    assert.same({ true, true, "co value", "gen value" }, victim_r)
  end)

  it("names itself in argument errors as the standard one", function()
    local r = run(function()
      return select(2, pcall(coroutine.wrap, 0))
    end)
    assert.equal("bad argument #1 to 'coroutine.wrap' (function expected, "
                 .. "got number)", r)
  end)
end)

describe("coroutine.close", function()
  it("is refused on the task's own coroutine, as on the main thread",
     function()
    local r = run(function()
      local main = coroutine.running()
      local inner = coroutine.wrap(function()
        return { pcall(coroutine.close, main) }
      end)()
      return { { pcall(coroutine.close, main) }, inner }
    end)
    assert.same({ { false, "cannot close a running coroutine" },
                  { false, "cannot close a normal coroutine" } }, r)
  end)

  it("is refused on another task's coroutine and on a coroutine that a " ..
     "corun wait suspended there, which go on", function()
    local thief, victim_r = hijack(victim, function()
      return select(2, pcall(coroutine.close, VICTIM)),
             select(2, pcall(coroutine.close, CO))
    end)
    assert.same({ true, "cannot close a normal coroutine",
                  "cannot close a normal coroutine" }, thief)
    assert.same({ true, true, "co value", "gen value" }, victim_r)
  end)

  it("still closes a suspended coroutine of the task", function()
    local s = shared()
    local r = run(function()
      local co = coroutine.create(function()
        local c <close> = closer("co")
        coroutine.yield()
      end)
      coroutine.resume(co)
      return { coroutine.close(co), coroutine.status(co) }
    end)
    assert.same({ true, "dead" }, r)
    assert.same({ "co" }, s.closed)
  end)
end)

describe("coroutine.status", function()
  it("says running of the task's own coroutine, normal from inside its " ..
     "coroutines", function()
    local r = run(function()
      local main = coroutine.running()
      return { coroutine.status(main), coroutine.wrap(function()
        return coroutine.status(main)
      end)() }
    end)
    assert.same({ "running", "normal" }, r)
  end)

  it("says normal of another task's coroutine and of a coroutine that a " ..
     "corun wait suspended there", function()
    local thief = hijack(victim, function()
      return coroutine.status(VICTIM), coroutine.status(CO)
    end)
    assert.same({ true, "normal", "normal" }, thief)
  end)
end)

-- Lua 5.4.4's own tests of coroutines and locals (testes/coroutine.lua,
-- testes/locals.lua, unmodified), run by the corun executable as the main
-- task and inside a spawned task.  They are not part of the repository:
-- CORUN_TESTES names their directory, by default the one next to the
-- checkout (../shared/external/lua-5.4.4-testes).
describe("coroutine (Lua 5.4.4's testes)", function()
  local dir = os.getenv("CORUN_TESTES") or
              "../shared/external/lua-5.4.4-testes"
  -- locals.lua requires the testes' "tracegc" (it only reports
  -- collections): a stub from the command line stands in for it.
  local stub = "package.preload.tracegc = function() return { start = "
    .. "function() end, stop = function() end } end"
  local spawned = "local h = require('corun').spawn(dofile, %q); "
    .. "assert(h:await())"

  local function absolute(path)
    if path:sub(1, 1) == "/" then return path end
    local p = io.popen("pwd")
    local cwd = p:read("l")
    p:close()
    return cwd .. "/" .. path
  end

  -- Run the corun executable on 'args' in the testes' directory.
  local function testes(file, args)
    local f = io.open(dir .. "/" .. file)
    if not f then
      pending(("Lua 5.4.4's testes not found at %s (set CORUN_TESTES to "
               .. "their directory)"):format(dir))
      return
    end
    f:close()
    local status, out, err = exec("sh", { "-c", 'cd "$1" && shift && '
                                  .. 'exec "$@"', "sh", dir,
                                  absolute(CORUN), table.unpack(args) })
    assert.equal(0, status, err)
    assert.matches("\nOK\n$", out, 1)
  end

  it("runs coroutine.lua as the main task", function()
    testes("coroutine.lua", { "coroutine.lua" })
  end)

  it("runs coroutine.lua inside a spawned task", function()
    testes("coroutine.lua", { "-e", spawned:format("coroutine.lua") })
  end)

  it("runs locals.lua as the main task", function()
    testes("locals.lua", { "-e", stub, "locals.lua" })
  end)

  it("runs locals.lua inside a spawned task", function()
    testes("locals.lua", { "-e", stub, "-e", spawned:format("locals.lua") })
  end)
end)
