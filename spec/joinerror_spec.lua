local corun = require "corun"

-- The JoinError of a task that raised 'value' (error level 0: no position),
-- and the task's id.
local function panic_of(value)
  return run(function()
    local h = corun.spawn(function(v) error(v, 0) end, value)
    local ok, err = h:await()
    assert(ok == false)
    return err, h:id()
  end)
end

-- The JoinError of a task cancelled while it slept, and the task's id.
local function cancelled()
  return run(function()
    local h = corun.spawn(function() corun.sleep(100) end)
    corun.yield_now()
    h:abort()
    local ok, err = h:await()
    assert(ok == false)
    return err, h:id()
  end)
end

describe("JoinError:is_panic", function()
  it("is true for a task that raised", function()
    assert.is_true(panic_of("oops!"):is_panic())
  end)

  it("is false for a cancelled task", function()
    assert.is_false(cancelled():is_panic())
  end)

  it("raises when called on something that is not a JoinError", function()
    local err = panic_of("x")
    local ok, msg = pcall(err.is_panic, "x")
    assert.is_false(ok)
    assert.equal(
      "JoinError:is_panic: bad argument #1 (JoinError expected, got string)",
      msg)
  end)
end)

describe("JoinError:is_cancelled", function()
  it("is true for a cancelled task", function()
    assert.is_true(cancelled():is_cancelled())
  end)

  it("is false for a task that raised", function()
    assert.is_false(panic_of("oops!"):is_cancelled())
  end)
end)

describe("JoinError:into_panic", function()
  it("returns the string the task raised", function()
    assert.equal("oops!", panic_of("oops!"):into_panic())
  end)

  it("returns a non-string value the task raised", function()
    assert.equal(42, panic_of(42):into_panic())
  end)

  it("returns a copy of a table the task raised", function()
    local s = shared()
    local err = run(function()
      local _, err = corun.spawn(function()
        local e = { code = 7, detail = { "a", "b" } }
        SHARED.raised = e
        error(e)
      end):await()
      return err
    end)
    local v = err:into_panic()
    assert.same({ code = 7, detail = { "a", "b" } }, v)
    assert.not_equal(s.raised, v)
  end)

  it("keeps the metatable of a table the task raised", function()
    local mt = { __tostring = function() return "custom error" end }
    assert.equal(mt, getmetatable(panic_of(setmetatable({}, mt)):into_panic()))
  end)

  it("raises for a cancelled task", function()
    local err, id = cancelled()
    local ok, msg = pcall(err.into_panic, err)
    assert.is_false(ok)
    assert.equal("JoinError:into_panic: task " .. id ..
                 " was cancelled, it did not panic", msg)
  end)
end)

describe("JoinError:id", function()
  it("returns the id of the task that raised", function()
    local err, id = panic_of("x")
    assert.equal(id, err:id())
  end)

  it("returns the id of the cancelled task", function()
    local err, id = cancelled()
    assert.equal(id, err:id())
  end)
end)

describe("JoinError:traceback", function()
  it("returns a stack traceback of the panic", function()
    local tb = run(function()
      local _, err = corun.spawn(function()
        local function deep_function() error("x") end
        deep_function()
      end):await()
      return err:traceback()
    end)
    assert.equal("string", type(tb))
    assert.matches("^stack traceback:", tb)
    assert.truthy(tb:find("deep_function", 1, true), tb)
  end)
end)

describe("JoinError:__tostring", function()
  it("says the task panicked, with the message", function()
    local err, id = panic_of("oops!")
    assert.equal("task " .. id .. " panicked: oops!", tostring(err))
  end)

  it("keeps the position information of the message", function()
    local err = run(function()
      return select(2, corun.spawn(function() error("where") end):await())
    end)
    assert.matches("^task %d+ panicked: .-:%d+: where$", tostring(err))
  end)

  it("uses the __tostring of a table error value", function()
    local mt = { __tostring = function() return "custom error" end }
    local err, id = panic_of(setmetatable({}, mt))
    assert.equal("task " .. id .. " panicked: custom error", tostring(err))
  end)

  it("says the task was cancelled", function()
    local err, id = cancelled()
    assert.equal("task " .. id .. " was cancelled", tostring(err))
  end)
end)
