/*
** file.c - corun.File and corun.fs.open: the class, its methods'
** argument checks, and calls of the operations of io/file.h, which run
** them through libuv's thread pool (the path functions of corun.fs are in
** fs.c, whose corunL_open_fs adds what this file registers).
*/
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <lauxlib.h>
#include "corunio.h"
#include "../io/file.h"

/* -------------------------------------------------------- arguments */

/* Method self: the open corun.File at index 1, which the running task may
   use. */
static corun_File *check_file(lua_State *L, const char *fname) {
  return corun__file_of(corunL_io_check(L, fname, CORUN_FILE, "file"));
}

/* An optional integer argument. */
static lua_Integer opt_integer(lua_State *L, const char *fname, int arg,
                               lua_Integer def) {
  lua_Integer v;
  int ok;
  if (lua_isnoneornil(L, arg))
    return def;
  v = lua_tointegerx(L, arg, &ok);
  if (!ok || lua_type(L, arg) != LUA_TNUMBER)
    corunL_typeerror(L, fname, arg, "integer");
  return v;
}

/* -------------------------------------------------------- corun.File */

/* file:read([n]) -> up to n bytes (default: the rest), nil at the end of
   the file, or nil, err */
static int f_read(lua_State *L) {
  static const char fname[] = "file:read";
  corun_File *f = check_file(L, fname);
  lua_Integer n = opt_integer(L, fname, 2, LUA_MAXINTEGER);
  if (n < 1)
    return corunL_error(L, fname, "bad argument #2 (at least 1 byte, got "
                        "%I)", (LUAI_UACINT)n);
  corunL_waiter(L, fname);
  return corun__file_read(L, fname, f,
                          n == LUA_MAXINTEGER || (lua_Unsigned)n >= SIZE_MAX
                          ? SIZE_MAX : (size_t)n);
}

/* file:write(data) -> true, or nil, err */
static int f_write(lua_State *L) {
  static const char fname[] = "file:write";
  corun_File *f = check_file(L, fname);
  size_t len;
  const char *data;
  if (lua_type(L, 2) != LUA_TSTRING)
    return corunL_typeerror(L, fname, 2, "string");
  data = lua_tolstring(L, 2, &len);
  corunL_waiter(L, fname);
  return corun__file_write(L, fname, f, data, len);
}

/* file:seek([whence[, offset]]) -> the new position, or nil, err */
static int f_seek(lua_State *L) {
  static const char fname[] = "file:seek";
  static const char *const names[] = {"set", "cur", "end", NULL};
  static const int whences[] = {SEEK_SET, SEEK_CUR, SEEK_END};
  corun_File *f = check_file(L, fname);
  const char *name = "cur";
  lua_Integer off;
  int i;
  if (!lua_isnoneornil(L, 2)) {
    if (lua_type(L, 2) != LUA_TSTRING)
      return corunL_typeerror(L, fname, 2, "string");
    name = lua_tostring(L, 2);
  }
  for (i = 0; names[i] != NULL && strcmp(names[i], name) != 0; i++)
    ;
  if (names[i] == NULL)
    return corunL_error(L, fname, "bad argument #2 (invalid option '%s')",
                        name);
  off = opt_integer(L, fname, 3, 0);
  corunL_waiter(L, fname);
  return corun__file_seek(L, fname, f, whences[i], (int64_t)off);
}

/* file:sync() -> true, or nil, err: the data is on the device. */
static int f_sync(lua_State *L) {
  static const char fname[] = "file:sync";
  corun_File *f = check_file(L, fname);
  corunL_waiter(L, fname);
  return corun__file_sync(L, fname, f);
}

/* file:close() -> true; closing an already closed file does nothing. */
static int f_close(lua_State *L) {
  corun_Io *io = corunL_io_peek(L, "file:close", CORUN_FILE);
  if (io != NULL) {
    check_file(L, "file:close");
    corun__io_close(io, 0);
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int f_tostring(lua_State *L) {
  corun_Io *io = corunL_io_peek(L, "file:__tostring", CORUN_FILE);
  if (io == NULL)
    lua_pushliteral(L, "corun.File (closed)");
  else
    lua_pushfstring(L, "corun.File (%s)",
                    corun__file_path(corun__file_of(io)));
  return 1;
}

/* -------------------------------------------------------------- open */

/* corun.fs.open(path[, mode]) -> file, or nil, err */
static int l_open(lua_State *L) {
  static const char fname[] = "corun.fs.open";
  const char *mode = "r", *path;
  size_t len;
  int flags;
  path = corunL_checkcstring(L, fname, 1, "path", &len);
  if (!lua_isnoneornil(L, 2)) {
    if (lua_type(L, 2) != LUA_TSTRING)
      return corunL_typeerror(L, fname, 2, "string");
    mode = lua_tostring(L, 2);
  }
  if ((flags = corun__file_flags(mode)) < 0)
    return corunL_error(L, fname, "bad argument #2 (invalid mode '%s')",
                        mode);
  corunL_waiter(L, fname);
  return corun__file_open(L, fname, path, len, flags);
}

/* ------------------------------------------------------------ module */

static const luaL_Reg file_methods[] = {
  {"read", f_read}, {"write", f_write}, {"seek", f_seek}, {"sync", f_sync},
  {"close", f_close}, {NULL, NULL}
};

static const luaL_Reg file_meta[] = {
  {"__tostring", f_tostring}, {NULL, NULL}
};

/* Register corun.File and add corun.fs.open to the table on top of L
   (corun.fs), the corun_State just below it. */
void corunL_fs_open_file(lua_State *L) {
  lua_pushvalue(L, -2);             /* the corun_State */
  corunL_io_newclass(L, CORUN_FILE, file_methods, file_meta);
  lua_pushcclosure(L, l_open, 1);   /* the state is its upvalue */
  lua_setfield(L, -2, "open");
}
