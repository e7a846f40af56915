-- The corun executable, run as a child process (see corun_exec in
-- helper.lua).

describe("corun executable", function()
  it("runs a script file", function()
    local status, out, err = corun_script [[print("hello from the script")]]
    assert.equal(0, status, err)
    assert.equal("hello from the script\n", out)
  end)

  it("runs the script as the main task", function()
    local status, out, err = corun_script [[
      local corun = require "corun"
      corun.sleep(0.01)
      print(corun.task_id())
    ]]
    assert.equal(0, status, err)
    assert.equal("1\n", out)
  end)

  it("gives the script its arguments in arg", function()
    local status, out, err = corun_script([[
      print(#arg, arg[1], arg[2], arg[3])
    ]], "one", "two words", "")
    assert.equal(0, status, err)
    assert.equal("3\tone\ttwo words\t\n", out)
  end)

  it("puts the script name at arg[0]", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("print(arg[0])")
    f:close()
    local status, out, err = corun_exec({ path })
    os.remove(path)
    assert.equal(0, status, err)
    assert.equal(path .. "\n", out)
  end)

  it("puts the executable at arg[-1]", function()
    local status, out, err = corun_script([[print(arg[-1])]])
    assert.equal(0, status, err)
    assert.equal(CORUN .. "\n", out)
  end)

  it("gives the script its arguments as ...", function()
    local status, out, err = corun_script([[
      print(select("#", ...), ...)
    ]], "a", "b")
    assert.equal(0, status, err)
    assert.equal("2\ta\tb\n", out)
  end)

  it("runs -e code", function()
    local status, out, err = corun_exec { "-e", "print(6 * 7)" }
    assert.equal(0, status, err)
    assert.equal("42\n", out)
  end)

  it("runs -e code as the main task", function()
    local status, out, err = corun_exec {
      "-e", "local c = require 'corun'; c.sleep(0.01); print(c.task_id())" }
    assert.equal(0, status, err)
    assert.equal("1\n", out)
  end)

  it("runs several -e options in order", function()
    local status, out, err = corun_exec {
      "-e", "x = 1", "-e", "x = x * 10", "-e", "print(x)" }
    assert.equal(0, status, err)
    assert.equal("10\n", out)
  end)

  it("runs -e code before the script", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("print(greeting)")
    f:close()
    local status, out, err = corun_exec { "-e", "greeting = 'hi'", path }
    os.remove(path)
    assert.equal(0, status, err)
    assert.equal("hi\n", out)
  end)

  it("requires -l mod into the global mod", function()
    local status, out, err = corun_exec {
      "-l", "corun", "-e", "print(type(corun.spawn))" }
    assert.equal(0, status, err)
    assert.equal("function\n", out)
  end)

  it("prints its version with -v", function()
    local version = require("corun").version
    local status, out, err = corun_exec { "-v" }
    assert.equal(0, status, err)
    assert.equal("string", type(version))
    assert.matches("^corun " .. version:gsub("%p", "%%%0") ..
                   " %(Lua 5%.4[^,]*, libuv [%d.]+%)\n$", out)
  end)

  it("runs stdin with -", function()
    local status, out, err = corun_exec({ "-" },
      "local c = require 'corun'; c.sleep(0.01); print('from stdin')")
    assert.equal(0, status, err)
    assert.equal("from stdin\n", out)
  end)

  it("gives the arguments after - to the stdin chunk", function()
    local status, out, err = corun_exec({ "-", "x", "y" },
                                        "print(arg[1], arg[2], ...)")
    assert.equal(0, status, err)
    assert.equal("x\ty\tx\ty\n", out)
  end)

  it("exits with status 0 when the main task succeeds", function()
    local status = corun_script [[
      local corun = require "corun"
      corun.spawn(function() corun.sleep(0.01) end):await()
    ]]
    assert.equal(0, status)
  end)

  it("exits with status 1 when the main task raises", function()
    local status = corun_exec { "-e", "error('boom')" }
    assert.equal(1, status)
  end)

  it("writes corun: and the error message to stderr", function()
    local _, _, err = corun_exec { "-e", "error('boom')" }
    assert.matches("^corun: %(command line%):1: boom\n", err)
  end)

  it("writes a stack traceback after the error message", function()
    local _, _, err = corun_exec { "-e", "error('boom')" }
    assert.matches("^corun: [^\n]*boom\nstack traceback:\n", err)
  end)

  it("reports an error the main task raises after waiting", function()
    local status, _, err = corun_script [[
      local corun = require "corun"
      corun.sleep(0.01)
      error("late boom", 0)
    ]]
    assert.equal(1, status)
    assert.matches("^corun: late boom\n", err)
  end)

  it("uses the __tostring of an error object", function()
    local status, _, err = corun_exec {
      "-e", "error(setmetatable({}, {__tostring = function() " ..
            "return 'custom' end}))" }
    assert.equal(1, status)
    assert.matches("^corun: custom\n", err)
  end)

  it("exits with status 1 on a syntax error", function()
    local status, _, err = corun_script [[this is not Lua]]
    assert.equal(1, status)
    assert.matches("^corun: ", err)
  end)

  it("exits with status 1 when the script file does not exist", function()
    local status, _, err = corun_exec { "/nonexistent/script.lua" }
    assert.equal(1, status)
    assert.matches("^corun: cannot open /nonexistent/script%.lua", err)
  end)

  it("exits with status 0 when only another task raised", function()
    local status, _, err = corun_script [[
      local corun = require "corun"
      local ok = corun.spawn(function() error("task error") end):await()
      assert(ok == false)
    ]]
    assert.equal(0, status, err)
  end)

  it("exits with status 130 on SIGINT", function()
    local script, ready = os.tmpname(), os.tmpname()
    local out, err, rc = os.tmpname(), os.tmpname(), os.tmpname()
    os.remove(ready)
    local f = assert(io.open(script, "w"))
    f:write(([[
      local corun = require "corun"
      local f = assert(io.open(%q, "w"))
      f:write("ready")
      f:close()
      corun.sleep(30)
      print("not interrupted")
    ]]):format(ready))
    f:close()
    -- Start corun, wait until the script runs, send SIGINT, and stop it
    -- the hard way if it is still alive 10 s later.
    os.execute(([[
      %s %s >%s 2>%s &
      pid=$!
      i=0
      while [ ! -s %s ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
      kill -INT $pid
      i=0
      while kill -0 $pid 2>/dev/null && [ $i -lt 200 ]; do
        sleep 0.05; i=$((i+1))
      done
      kill -KILL $pid 2>/dev/null
      wait $pid
      echo $? >%s
    ]]):format(shell_quote(CORUN), shell_quote(script), shell_quote(out), shell_quote(err),
               shell_quote(ready), shell_quote(rc)))
    local status = tonumber(slurp(rc):match("%d+"))
    local stdout = slurp(out)
    for _, p in ipairs { script, ready, out, err, rc } do os.remove(p) end
    assert.equal("", stdout)
    assert.equal(130, status)
  end)
end)
