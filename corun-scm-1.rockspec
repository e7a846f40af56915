-- corun, built from a checkout with its Makefile (build.type = "make"):
--   luarocks --lua-version 5.4 --tree <dir> make corun-scm-1.rockspec
-- The versioned rockspec of a release is rockspecs/corun-<version>-1.rockspec.
rockspec_format = "3.0"
package = "corun"
version = "scm-1"

source = {
  url = "git+https://github.com/corun-lua/corun.git",
}

description = {
  summary = "Tokio's task model for Lua 5.4, on libuv",
  detailed = [[
corun is an async runtime for Lua 5.4 written in C on libuv. Lua functions
run as tasks with join handles (spawn, await, abort), join sets, sleeps,
timeouts and intervals on a clock that tests can pause, structured
concurrency (join, try_join, select), semaphores, mutexes, notifies and
channels, and I/O that suspends only the calling task: TCP, DNS, files,
child processes and signals. Values that cross a task boundary are copied
or moved, as Tokio's 'static + Send, so tasks never share state by
accident. It installs the module corun (require "corun"), the corun
executable (a lua5.4 whose script runs as the main task), and libcorun with
corun.h for C applications that embed it.
]],
  homepage = "https://github.com/corun-lua/corun",
  license = "MIT",
  labels = { "async", "coroutines", "libuv", "concurrency" },
}

dependencies = {
  "lua >= 5.4, < 5.5",
}

external_dependencies = {
  LIBUV = {
    header = "uv.h",
    library = "uv",
  },
  LIBCURL = {
    -- no header check: Debian keeps curl/curl.h in a multiarch include
    -- directory that LuaRocks does not search (the compiler does)
    library = "curl",
  },
  OPENSSL = {
    header = "openssl/ssl.h",
    library = "ssl",
  },
  HTTP_PARSER = {
    header = "http_parser.h",
    library = "http_parser",
  },
  READLINE = {  -- the prompt of the corun executable (corun -i)
    header = "readline/readline.h",
    library = "readline",
  },
}

build = {
  type = "make",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LIBFLAG = "$(LIBFLAG)",
    LUA = "$(LUA)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    LUA_DIR = "$(LUA_DIR)",
    LIBUV_INCDIR = "$(LIBUV_INCDIR)",
    LIBUV_LIBDIR = "$(LIBUV_LIBDIR)",
    LIBCURL_INCDIR = "$(LIBCURL_INCDIR)",
    LIBCURL_LIBDIR = "$(LIBCURL_LIBDIR)",
    OPENSSL_INCDIR = "$(OPENSSL_INCDIR)",
    OPENSSL_LIBDIR = "$(OPENSSL_LIBDIR)",
    HTTP_PARSER_INCDIR = "$(HTTP_PARSER_INCDIR)",
    HTTP_PARSER_LIBDIR = "$(HTTP_PARSER_LIBDIR)",
    READLINE_INCDIR = "$(READLINE_INCDIR)",
    READLINE_LIBDIR = "$(READLINE_LIBDIR)",
  },
  install_variables = {
    PREFIX = "$(PREFIX)",
    BINDIR = "$(BINDIR)",
    LIBDIR = "$(LIBDIR)",
    LUADIR = "$(LUADIR)",
    INSTALL_EMBED = "no",
  },
}
