/*
** stdio.c - the Lua side of corun.io (stdin, stdout, stderr) and the
** class corun.StdFile: checks the arguments and calls io/stdio.c.  Each
** function returns the same stream on every call while that stream is
** open (a registry table, weak in its values, keeps them by descriptor);
** once it is closed (by its owner, at its owner's end, or at the end of
** the runtime), the next call makes a new one.
*/
#include <lauxlib.h>
#include "corunio.h"
#include "../io/stdio.h"
#include "../io/stream.h"

static const char streams_key = 0;  /* registry: fd -> its stream */

/* Push the open stream of 'fd' kept from an earlier call, or nothing
   (returns 0). */
static int kept(lua_State *L, int fd) {
  corun_Io **box;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &streams_key);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  lua_rawgeti(L, -1, fd);
  lua_remove(L, -2);
  box = lua_touserdata(L, -1);
  if (box != NULL && *box != NULL)
    return 1;
  lua_pop(L, 1);
  return 0;
}

/* Keep the stream on top of L as the one of 'fd'. */
static void keep(lua_State *L, int fd) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &streams_key) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "v");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &streams_key);
  }
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, fd);
  lua_pop(L, 1);
}

/* corun.io.<name>() -> the stream of 'fd', or nil, err */
static int open_std(lua_State *L, const char *fname, int fd) {
  corun_Task *self = corunL_task(L, fname);
  corunL_io_ready(L, fname);
  if (kept(L, fd))
    return 1;
  if (corun__stdio_open(L, fname, self, fd) != 1)
    return 2;
  keep(L, fd);
  return 1;
}

static int l_stdin(lua_State *L) {
  return open_std(L, "corun.io.stdin", 0);
}

static int l_stdout(lua_State *L) {
  return open_std(L, "corun.io.stdout", 1);
}

static int l_stderr(lua_State *L) {
  return open_std(L, "corun.io.stderr", 2);
}

/* ------------------------------------------------------ corun.StdFile */

/* Method self: the open file stream the running task may use. */
static corun_StdFile *check(lua_State *L, const char *fname) {
  return (corun_StdFile *)corunL_io_check(L, fname, CORUN_STDFILE,
                                          "stream");
}

/* read([want]) -> bytes, or nil at the end, or nil, err */
static int f_read(lua_State *L) {
  static const char fname[] = "stream:read";
  corun_StdFile *f = check(L, fname);
  lua_Integer want;
  if (lua_isnoneornil(L, 2))
    want = LUA_MAXINTEGER;
  else if (!lua_isinteger(L, 2))
    return corunL_typeerror(L, fname, 2, "integer");
  else
    want = lua_tointeger(L, 2);
  if (want < 1)
    return corunL_error(L, fname, "bad argument #2 (at least 1 byte, got "
                        "%I)", (LUAI_UACINT)want);
  corunL_waiter(L, fname);
  return corun__stdfile_read(L, fname, f, want);
}

/* read_line() -> line, or nil at the end, or nil, err */
static int f_read_line(lua_State *L) {
  static const char fname[] = "stream:read_line";
  corun_StdFile *f = check(L, fname);
  corunL_waiter(L, fname);
  return corun__stdfile_read_line(L, fname, f);
}

/* write(data) -> true, or nil, err */
static int f_write(lua_State *L) {
  static const char fname[] = "stream:write";
  corun_StdFile *f = check(L, fname);
  size_t len;
  const char *data = corunL_checkstring(L, fname, 2, &len);
  corunL_waiter(L, fname);
  return corun__stdfile_write(L, fname, f, data, len);
}

static int f_close(lua_State *L) {
  corun_Io *io = corunL_io_peek(L, "stream:close", CORUN_STDFILE);
  if (io != NULL) {
    check(L, "stream:close");
    corun__io_close(io, 0);
  }
  return 0;
}

static int f_tostring(lua_State *L) {
  corun_Io *io = corunL_io_peek(L, "stream:__tostring", CORUN_STDFILE);
  return corun__stdfile_tostring(L, (corun_StdFile *)io);  /* any task */
}

static const luaL_Reg methods[] = {
  {"read", f_read}, {"read_line", f_read_line}, {"write", f_write},
  {"close", f_close}, {NULL, NULL}
};

static const luaL_Reg meta[] = {{"__tostring", f_tostring}, {NULL, NULL}};

static const luaL_Reg io_functions[] = {
  {"stdin", l_stdin}, {"stdout", l_stdout}, {"stderr", l_stderr},
  {NULL, NULL}
};

void corunL_open_stdio(lua_State *L) {
  corun__state(L);
  corunL_io_newclass(L, CORUN_STDFILE, methods, meta);
  lua_newtable(L);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, io_functions, 1);
  lua_setfield(L, -3, "io");
  lua_pop(L, 1);
}
