-- packaging_spec.lua: the rockspecs, `make install` / `make uninstall`
-- with the embedding files and pkg-config, rebuilds when flags change, and
-- the executable's lua5.4-compatible options (LUA_INIT, -E, -W).

local function rm_rf(d)
  os.execute("rm -rf " .. shell_quote(d))
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function version()
  return read("host/corun.h"):match('#define CORUN_VERSION "([^"]+)"')
end

describe("the rockspecs", function()
  it("have the version of host/corun.h, and the versioned one exists",
     function()
    local v = version()
    assert.is_truthy(v)
    local spec = read("rockspecs/corun-" .. v .. "-1.rockspec")
    assert.equal(v .. "-1", spec:match('\nversion = "([^"]+)"'))
    assert.is_truthy(spec:find('corun%-' .. v:gsub("%.", "%%.") .. '%.tar%.gz'))
    assert.equal("scm-1", read("corun-scm-1.rockspec")
                 :match('\nversion = "([^"]+)"'))
  end)

  it("pass luarocks lint", function()
    local status, out, err = sh("make -s lint")
    assert.equal(0, status, out .. err)
    assert.matches("corun%-scm%-1%.rockspec: lint ok", out)
    assert.matches("corun%-" .. version():gsub("%.", "%%.") ..
                   "%-1%.rockspec: lint ok", out)
  end)

  it("declare the MIT license, which the repository carries", function()
    for _, path in ipairs { "corun-scm-1.rockspec",
                            "rockspecs/corun-" .. version() .. "-1.rockspec" } do
      assert.matches('license = "MIT"', read(path), 1, true)
    end
    assert.matches("^MIT License\n\nCopyright %(c%) the corun authors\n",
                   read("LICENSE"))
  end)
end)

describe("make install", function()
  it("installs the embedding files, with which a host builds through " ..
     "pkg-config alone; make uninstall removes every corun file", function()
    local tmp = tmpdir()
    local prefix, build = tmp .. "/prefix", tmp .. "/build"
    local status, out, err = sh(("make -s BUILD=%s CFLAGS=-O0 install " ..
      "PREFIX=%s >/dev/null"):format(shell_quote(build), shell_quote(prefix)))
    assert.equal(0, status, err)
    for _, f in ipairs { "bin/corun", "lib/lua/5.4/corun/core.so",
                         "share/lua/5.4/corun/init.lua", "include/corun.h",
                         "lib/libcorun.a", "lib/libcorun.so",
                         "lib/pkgconfig/corun.pc" } do
      assert.is_truthy(io.open(prefix .. "/" .. f), f)
    end
    -- the shared library carries its soname
    status, out = sh("objdump -p " .. shell_quote(prefix ..
                     "/lib/libcorun.so") .. " | grep SONAME")
    assert.matches("libcorun%.so%.%d+%.%d+", out)
    -- a host built against the installed files only
    local host = tmp .. "/host"
    status, out, err = sh(("PKG_CONFIG_PATH=%s/lib/pkgconfig cc -o %s " ..
      "examples/embed/host.c $(PKG_CONFIG_PATH=%s/lib/pkgconfig " ..
      "pkg-config --cflags --libs corun)"):format(shell_quote(prefix),
      shell_quote(host), shell_quote(prefix)))
    assert.equal(0, status, err)
    status, out, err = sh(("LD_LIBRARY_PATH=%s/lib %s " ..
      "examples/embed/fanout.lua"):format(shell_quote(prefix),
      shell_quote(host)))
    assert.equal(0, status, err)
    assert.matches("script returned", out)
    status, out, err = sh(("make -s BUILD=%s CFLAGS=-O0 uninstall " ..
      "PREFIX=%s"):format(shell_quote(build), shell_quote(prefix)))
    assert.equal(0, status, err)
    status, out = sh("find " .. shell_quote(prefix) .. " -name '*corun*'")
    assert.equal("", out)
    rm_rf(tmp)
  end)
end)

describe("the Makefile", function()
  -- One object built three times in a scratch build directory: the same
  -- flags do nothing, other flags rebuild it; its dependency file names
  -- the headers it includes.
  it("rebuilds an object when the compile flags change, not otherwise",
     function()
    local tmp = tmpdir()
    local obj = tmp .. "/obj/host/timer.o"
    local function build(flags)
      local status, out, err = sh(("make BUILD=%s %s %s"):format(
        shell_quote(tmp), flags, shell_quote(obj)))
      assert.equal(0, status, err)
      return out
    end
    assert.matches("timer%.c", build("CFLAGS=-O2"))
    assert.is_nil(build("CFLAGS=-O2"):find("timer.c", 1, true))
    assert.matches("timer%.c", build("CFLAGS=-O0"))
    local deps = read(tmp .. "/obj/host/timer.d")
    assert.matches("host/timer%.h", deps)
    assert.matches("host/runtime%.h", deps)
    rm_rf(tmp)
  end)

  it("does not make warnings errors for a user's build", function()
    local status, out = sh("make -pn 2>/dev/null | grep '^WARN '")
    assert.equal(0, status)
    assert.is_nil(out:find("-Werror", 1, true))
  end)
end)

describe("the corun executable", function()
  local function with_env(env, args)
    local words = {}
    for _, a in ipairs(args) do words[#words + 1] = shell_quote(a) end
    return sh(("%s %s %s"):format(env, shell_quote(CORUN),
                                  table.concat(words, " ")))
  end

  it("runs LUA_INIT first, as lua5.4 does", function()
    local status, out = with_env("LUA_INIT='print(\"init\")'",
                                 { "-e", "print(1)" })
    assert.equal(0, status)
    assert.equal("init\n1\n", out)
  end)

  it("prefers LUA_INIT_5_4 to LUA_INIT", function()
    local status, out = with_env(
      "LUA_INIT_5_4='print(54)' LUA_INIT='print(\"init\")'",
      { "-e", "print(1)" })
    assert.equal(0, status)
    assert.equal("54\n1\n", out)
  end)

  it("runs the file LUA_INIT names with @", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("print('from file')")
    f:close()
    local status, out = with_env("LUA_INIT=@" .. shell_quote(path),
                                 { "-e", "print(1)" })
    os.remove(path)
    assert.equal(0, status)
    assert.equal("from file\n1\n", out)
  end)

  it("runs LUA_INIT in the main task: it can wait", function()
    local status, out = with_env(
      "LUA_INIT='require(\"corun\").sleep(0) print(\"waited\")'",
      { "-e", "print(require('corun').task_id())" })
    assert.equal(0, status)
    assert.equal("waited\n1\n", out)
  end)

  it("with -E ignores LUA_INIT and LUA_PATH", function()
    local status, out = with_env(
      "LUA_INIT='print(\"init\")' LUA_PATH='/nowhere/?.lua'",
      { "-E", "-e", "print(1, package.path:find('/nowhere', 1, true))" })
    assert.equal(0, status)
    assert.equal("1\tnil\n", out)
  end)

  it("reports an error in LUA_INIT as lua5.4 does, status 1", function()
    local status, _, err = with_env("LUA_INIT='error(\"x\", 0)'",
                                    { "-e", "print(1)" })
    assert.equal(1, status)
    assert.matches("^corun: x\n", err)
    status, _, err = with_env("LUA_INIT='('", { "-e", "print(1)" })
    assert.equal(1, status)
    assert.matches("^corun: LUA_INIT:1: unexpected symbol", err)
  end)

  it("with -W turns warnings on", function()
    local _, _, off = with_env("", { "-e", "warn('hey')" })
    local _, _, on = with_env("", { "-W", "-e", "warn('hey')" })
    assert.equal("", off)
    assert.equal("Lua warning: hey\n", on)
  end)

  it("stops handling options at --", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("print(...)")
    f:close()
    local status, out = with_env("", { "--", path, "-e", "x" })
    os.remove(path)
    assert.equal(0, status)
    assert.equal("-e\tx\n", out)
  end)
end)
