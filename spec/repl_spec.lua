-- corun -i: the interactive prompt, driven through a pipe and through a
-- pseudo-terminal (spec/repl_pty.py, on python3's pty module).

local VERSION = require("corun").version

-- The lines of 'text'.
local function lines(text)
  local t = {}
  for l in (text .. "\n"):gmatch("(.-)\n") do t[#t + 1] = l end
  if t[#t] == "" then t[#t] = nil end
  return t
end

describe("corun -i through a pipe", function()
  it("prints the values of expressions, =expr and multi-line input",
     function()
    local status, out, err = corun_exec({ "-i" }, table.concat({
      "x = 6 * 7", "x", "=x + 1", "return 'a', nil, 3",
      "for i = 1, 2 do", "print('line', i)", "end", "" }, "\n"))
    assert.equal(0, status, err)
    assert.equal("", err)
    local got = lines(out)
    assert.matches("^corun " .. VERSION:gsub("%p", "%%%0") ..
                   " %(Lua 5%.4[^,]*, libuv [%d.]+%)$", got[1])
    got[1] = "(version)"
    assert.same({
      "(version)",
      "> > 42", "> 43", "> a\tnil\t3", "> >> >> line\t1", "line\t2", "> ",
    }, got)
  end)

  it("runs each line in the main task, where waits work", function()
    local t0 = wall()
    local status, out, err = corun_exec({ "-i" },
      "corun.sleep(0.2); print(corun.task_id(), corun.live_tasks())\n")
    assert.equal(0, status, err)
    assert.truthy(wall() - t0 >= 0.2)
    assert.truthy(out:find("\n> 1\t1\n> \n", 1, true) or
                  out:find("\n> 1\t1\n> $"), out)
  end)

  it("makes corun a global", function()
    local _, out = corun_exec({ "-i" }, "type(corun.spawn)\n")
    assert.truthy(out:find("> function\n", 1, true), out)
  end)

  it("reports an error and goes on", function()
    local status, out, err = corun_exec({ "-i" },
      "error('bad')\nprint('still here')\nx = = 1\nprint('and here')\n")
    assert.equal(0, status, err)
    assert.truthy(err:find("^stdin:1: bad\nstack traceback:"), err)
    assert.truthy(err:find("stdin:1: unexpected symbol near '='", 1, true),
                  err)
    assert.truthy(out:find("still here\n", 1, true), out)
    assert.truthy(out:find("and here\n", 1, true), out)
  end)

  it("runs the script first, then prompts", function()
    local dir = tmpdir()
    local f = assert(io.open(dir .. "/s.lua", "w"))
    f:write("greeting = 'hi from ' .. select(1, ...)\n")
    f:close()
    local status, out, err = corun_exec({ "-i", dir .. "/s.lua", "arg1" },
                                        "greeting\n")
    os.execute("rm -rf " .. shell_quote(dir))
    assert.equal(0, status, err)
    assert.truthy(out:find("> hi from arg1\n", 1, true), out)
  end)

  it("keeps spawned tasks running while it waits for input", function()
    local dir = tmpdir()
    -- the second line is sent only once the task has printed: it printed
    -- while the prompt waited
    local status, out = sh(([[
      mkfifo %s/in
      %s -i < %s/in > %s/out 2>&1 &
      pid=$!
      exec 3> %s/in
      echo "corun.spawn(function() corun.sleep(0.05) print('from a task') end)" >&3
      i=0; until grep -q 'from a task' %s/out || [ $i -ge 600 ]; do sleep 0.1; i=$((i+1)); done
      echo "print('next line')" >&3
      exec 3>&-
      wait $pid
      echo "status $?"
    ]]):format(dir, CORUN, dir, dir, dir, dir))
    local text = slurp(dir .. "/out")
    os.execute("rm -rf " .. shell_quote(dir))
    assert.equal(0, status)
    assert.equal("status 0\n", out)
    local a, b = text:find("from a task", 1, true), text:find("next line", 1,
                                                               true)
    assert.truthy(a and b and a < b, text)
  end)

  it("describes its wait for input in a dump", function()
    local dir = tmpdir()
    local status = sh(([[
      mkfifo %s/in
      %s -i < %s/in > %s/out 2> %s/err &
      pid=$!
      exec 3> %s/in
      echo "corun.spawn_named('dumper', function() corun.sleep(0.05) corun.dump() end)" >&3
      i=0; until grep -q 'live task' %s/err || [ $i -ge 600 ]; do sleep 0.1; i=$((i+1)); done
      exec 3>&-
      wait $pid
    ]]):format(dir, CORUN, dir, dir, dir, dir, dir))
    local err = slurp(dir .. "/err")
    slurp(dir .. "/out")
    os.execute("rm -rf " .. shell_quote(dir))
    assert.equal(0, status)
    assert.truthy(err:find("corun: 2 live tasks\ntask 1: waiting on input "
                           .. "at the prompt, spawned at ", 1, true), err)
    assert.truthy(err:find("\ntask 2 (dumper): running", 1, true), err)
  end)

  it("exits at the end of input, cancelling live tasks", function()
    local status, out, err = corun_exec({ "-i" },
      "corun.spawn(function() local c <close> = setmetatable({}, {__close = "
      .. "function() print('task closed') end}) corun.sleep(3600) end)\n"
      .. "corun.sleep(0.01)\n")
    assert.equal(0, status, err)
    assert.truthy(out:find("task closed\n", 1, true), out)
  end)

  it("does not start without -i when stdin is not a terminal", function()
    local status, out = corun_exec({}, "print('as a script')")
    assert.equal(0, status)
    assert.equal("as a script\n", out)
  end)
end)

describe("corun -i at a terminal", function()
  -- repl_pty.py types: a sleep, expressions, =expr, a multi-line loop, a
  -- task that prints while the prompt waits, Ctrl-C while a line runs and
  -- at the prompt, ^P (history), then Ctrl-D with a task alive.
  local function check(args)
    local cmd = { "python3", "spec/repl_pty.py", CORUN }
    for _, a in ipairs(args) do cmd[#cmd + 1] = a end
    local quoted = {}
    for i, w in ipairs(cmd) do quoted[i] = shell_quote(w) end
    local status, out, err = sh(table.concat(quoted, " "))
    assert.equal(0, status, out .. err)
    local want = {
      "> corun.sleep(0.1); print('slept')", "slept", "> 6 * 7", "42",
      "> =6 * 7 + 1", "43", ">> print('line', i) end", "line\t1", "line\t2",
      "from a task", "^Cinterrupted", "> print('kept')", "kept",
      "task closed", "status 0",
    }
    local at = 1
    for _, w in ipairs(want) do
      local i = out:find(w, at, true)
      assert.truthy(i, "no " .. w .. " after position " .. at .. " in:\n"
                    .. out)
      at = i + #w
    end
    assert.is_nil(out:find("dropped\r?\n"), out)  -- the line ^C dropped
    local _, kept = out:gsub("\nkept\r?\n", "")
    assert.equal(2, kept, out)  -- typed, then recalled with ^P
  end

  it("edits lines with readline, runs them in the main task", function()
    check({ "-i" })
  end)

  it("starts with no arguments, as lua5.4 does", function()
    check({})
  end)
end)
