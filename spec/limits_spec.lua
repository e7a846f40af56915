-- Limits of a crossing: memory, run in a C host whose allocator has a cap
-- (spec/c/oom.c, built as <build>/test/oom).

local OOM = (os.getenv("CORUN_BUILD") or "build") .. "/test/oom"

-- Run 'script' in the capped host; returns exit status and output.
local function capped(script)
  local path, out = os.tmpname(), os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(script)
  f:close()
  local ok, _, code = os.execute(("%s %s > %s 2>&1"):format(
    shell_quote(OOM), shell_quote(path), shell_quote(out)))
  os.remove(path)
  return ok and 0 or code, slurp(out)
end

describe("corun.spawn", function()
  it("fails with a clear error when a copy runs out of memory, and goes on",
     function()
    local status, out = capped [[
      local corun = require "corun"
      corun.run(function()
        local big = {}
        for i = 1, 20000 do big[i] = { i, { tostring(i) } } end
        collectgarbage()
        set_limit(256 * 1024)
        local ok, err = pcall(corun.spawn, function(t) return #t end, big)
        set_limit(nil)
        print(ok, err)
        print(corun.spawn(function(t) return #t end, { 1, 2, 3 }):await())
        print(#big)
      end)
    ]]
    assert.equal(0, status, out)
    assert.equal("false\tcorun.spawn: not enough memory to copy the values " ..
                 "into the task\ntrue\t3\n20000\n", out)
  end)

  it("makes a task whose results run out of memory panic, and goes on",
     function()
    local status, out = capped [[
      local corun = require "corun"
      corun.run(function()
        local h = corun.spawn(function()
          local big = {}
          for i = 1, 20000 do big[i] = { i } end
          collectgarbage()
          set_limit(64 * 1024)
          return big
        end)
        local ok, err = h:await()
        set_limit(nil)
        print(ok, err:is_panic())
        print(corun.spawn(function() return "next" end):await())
      end)
    ]]
    assert.equal(0, status, out)
    assert.equal("false\ttrue\ntrue\tnext\n", out)
  end)
end)

describe("Sender:send", function()
  it("fails naming the function when copying the message runs out of " ..
     "memory, queues nothing, and goes on", function()
    local status, out = capped [[
      local corun = require "corun"
      corun.run(function()
        local tx, rx = corun.channel()
        local big = {}
        for i = 1, 20000 do big[i] = { i, { tostring(i) } } end
        collectgarbage()
        set_limit(256 * 1024)
        local ok, err = pcall(tx.send, tx, big)
        set_limit(nil)
        print(ok, err)
        print(rx:try_recv())
        print(tx:send({ 1, 2, 3 }), #rx:recv())
      end)
    ]]
    assert.equal(0, status, out)
    assert.equal("false\tSender:send: not enough memory\nnil\tempty\n" ..
                 "true\t3\n", out)
  end)

  it("fails naming the function when the queue cannot grow, keeps what " ..
     "it holds, and goes on", function()
    local status, out = capped [[
      local corun = require "corun"
      corun.run(function()
        local tx, rx = corun.channel()
        collectgarbage()
        set_limit(64 * 1024)
        local n, ok, err = 0, true, nil
        while ok do
          ok, err = pcall(tx.send, tx, n + 1)
          if ok then n = n + 1 end
        end
        set_limit(nil)
        print(err)
        local good = n > 0
        for i = 1, n do good = good and rx:try_recv() == i end
        print(good, rx:try_recv())
        print(tx:send("next"), rx:recv())
      end)
    ]]
    assert.equal(0, status, out)
    assert.equal("Sender:send: not enough memory\ntrue\tnil\tempty\n" ..
                 "true\tnext\n", out)
  end)
end)

describe("Sender:try_send", function()
  it("fails naming the function when copying the message runs out of " ..
     "memory", function()
    local status, out = capped [[
      local corun = require "corun"
      corun.run(function()
        local tx, rx = corun.channel()
        local big = {}
        for i = 1, 20000 do big[i] = { i, { tostring(i) } } end
        collectgarbage()
        set_limit(256 * 1024)
        local ok, err = pcall(tx.try_send, tx, big)
        set_limit(nil)
        print(ok, err)
        print(rx:try_recv())
      end)
    ]]
    assert.equal(0, status, out)
    assert.equal("false\tSender:try_send: not enough memory\nnil\tempty\n",
                 out)
  end)
end)
