-- LuaRocks builds corun with its Makefile (build.type = "make"), which
-- accepts the variables passed below.  From a checkout:
--   luarocks --lua-version 5.4 --tree <dir> make corun-scm-1.rockspec
rockspec_format = "3.0"
package = "corun"
version = "scm-1"

source = {
  -- Placeholder: replace with the project's public git URL when it has one.
  -- `luarocks make` in a checkout does not fetch it.
  url = "git+https://example.invalid/corun.git",
}

description = {
  summary = "Tokio's task model for Lua 5.4, on libuv",
  detailed = [[
corun runs Lua functions as tasks on a libuv loop: spawn, join handles,
cancellation, sleeps, timeouts and intervals, with values that cross a task
boundary copied so that tasks do not share state. It installs the module
corun (require "corun") and the corun executable.
]],
}

dependencies = {
  "lua >= 5.4, < 5.5",
}

external_dependencies = {
  LIBUV = {
    header = "uv.h",
    library = "uv",
  },
}

build = {
  type = "make",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LIBFLAG = "$(LIBFLAG)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    LUA_LIBDIR = "$(LUA_LIBDIR)",
    LUA = "$(LUA)",
  },
  install_variables = {
    PREFIX = "$(PREFIX)",
    BINDIR = "$(BINDIR)",
    LIBDIR = "$(LIBDIR)",
    LUADIR = "$(LUADIR)",
  },
}
