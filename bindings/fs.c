/*
** fs.c - corun.fs: the Lua functions on paths (read_file, write_file,
** stat, list, mkdir, remove, rename, copy, chmod, symlink, readlink)
** check their arguments and call the operations of io/fs.h, which do the
** work through libuv's thread pool; corun.fs.watch and the class
** corun.FsWatcher call io/fswatch.h.
** corun.File and corun.fs.open are in file.c; corunL_open_fs, at the end,
** builds corun.fs from both.
*/
#include <lauxlib.h>
#include "corunio.h"
#include "../io/fs.h"
#include "../io/fswatch.h"

/* --------------------------------------------------------- arguments */

/* The path at 'arg': a string without zero bytes; '*len' its length. */
static const char *check_path(lua_State *L, const char *fname, int arg,
                              size_t *len) {
  return corunL_checkcstring(L, fname, arg, "path", len);
}

/* Options at 'arg' (nil or a table): its field 'name' as a boolean. */
static int opt_flag(lua_State *L, const char *fname, int arg,
                    const char *name, int def) {
  int t = lua_type(L, arg), v;
  if (t == LUA_TNONE || t == LUA_TNIL)
    return def;
  if (t != LUA_TTABLE)
    corunL_typeerror(L, fname, arg, "table");
  lua_getfield(L, arg, name);
  v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* The operations of io/fs.h on one path, and on two, without options. */
typedef int (*PathOp)(lua_State *L, const char *fname, const char *path,
                      size_t len);
typedef int (*PathsOp)(lua_State *L, const char *fname, const char *a,
                       size_t a_len, const char *b, size_t b_len);

/* fname(path): check the path and the task, then call 'op'. */
static int on_path(lua_State *L, const char *fname, PathOp op) {
  size_t len;
  const char *path = check_path(L, fname, 1, &len);
  corunL_waiter(L, fname);
  return op(L, fname, path, len);
}

/* fname(from, to): check both paths and the task, then call 'op'. */
static int on_paths(lua_State *L, const char *fname, PathsOp op) {
  size_t a_len, b_len;
  const char *a = check_path(L, fname, 1, &a_len);
  const char *b = check_path(L, fname, 2, &b_len);
  corunL_waiter(L, fname);
  return op(L, fname, a, a_len, b, b_len);
}

/* ---------------------------------------------------- path functions */

/* corun.fs.read_file(path) -> string, or nil, err */
static int l_read_file(lua_State *L) {
  return on_path(L, "corun.fs.read_file", corun__fs_read_file);
}

/* corun.fs.write_file(path, data[, {atomic = true}]) -> true, or nil, err */
static int l_write_file(lua_State *L) {
  static const char fname[] = "corun.fs.write_file";
  size_t len, size;
  const char *path = check_path(L, fname, 1, &len), *data;
  int atomic;
  if (lua_type(L, 2) != LUA_TSTRING)
    return corunL_typeerror(L, fname, 2, "string");
  data = lua_tolstring(L, 2, &size);
  atomic = opt_flag(L, fname, 3, "atomic", 0);
  corunL_waiter(L, fname);
  return corun__fs_write_file(L, fname, path, len, data, size, atomic);
}

/* corun.fs.stat(path[, {follow = false}]) -> table, or nil, err */
static int l_stat(lua_State *L) {
  static const char fname[] = "corun.fs.stat";
  size_t len;
  const char *path = check_path(L, fname, 1, &len);
  int follow = opt_flag(L, fname, 2, "follow", 1);
  corunL_waiter(L, fname);
  return corun__fs_stat(L, fname, path, len, follow);
}

/* corun.fs.list(dir) -> { name, ... }, or nil, err */
static int l_list(lua_State *L) {
  return on_path(L, "corun.fs.list", corun__fs_list);
}

/* corun.fs.mkdir(path[, {parents = true}]) -> true, or nil, err */
static int l_mkdir(lua_State *L) {
  static const char fname[] = "corun.fs.mkdir";
  size_t len;
  const char *path = check_path(L, fname, 1, &len);
  int parents = opt_flag(L, fname, 2, "parents", 0);
  corunL_waiter(L, fname);
  return corun__fs_mkdir(L, fname, path, len, parents);
}

/* corun.fs.remove(path) -> true, or nil, err */
static int l_remove(lua_State *L) {
  return on_path(L, "corun.fs.remove", corun__fs_remove);
}

/* corun.fs.rename(from, to) -> true, or nil, err */
static int l_rename(lua_State *L) {
  return on_paths(L, "corun.fs.rename", corun__fs_rename);
}

/* corun.fs.copy(from, to) -> true, or nil, err */
static int l_copy(lua_State *L) {
  return on_paths(L, "corun.fs.copy", corun__fs_copy);
}

/* corun.fs.chmod(path, mode) -> true, or nil, err; mode an integer
   0..07777 (tonumber("755", 8)). */
static int l_chmod(lua_State *L) {
  static const char fname[] = "corun.fs.chmod";
  size_t len;
  const char *path = check_path(L, fname, 1, &len);
  lua_Integer mode;
  if (!lua_isinteger(L, 2))
    return corunL_typeerror(L, fname, 2, "integer mode");
  mode = lua_tointeger(L, 2);
  if (mode < 0 || mode > 07777)
    return corunL_error(L, fname, "bad argument #2 (mode must be 0..4095, "
                        "07777 in octal, got %I)", (LUAI_UACINT)mode);
  corunL_waiter(L, fname);
  return corun__fs_chmod(L, fname, path, len, (int)mode);
}

/* corun.fs.symlink(target, path) -> true, or nil, err */
static int l_symlink(lua_State *L) {
  static const char fname[] = "corun.fs.symlink";
  size_t target_len, len;
  const char *target = corunL_checkcstring(L, fname, 1, "target",
                                           &target_len);
  const char *path = check_path(L, fname, 2, &len);
  corunL_waiter(L, fname);
  return corun__fs_symlink(L, fname, target, target_len, path, len);
}

/* corun.fs.readlink(path) -> target, or nil, err */
static int l_readlink(lua_State *L) {
  return on_path(L, "corun.fs.readlink", corun__fs_readlink);
}

/* ------------------------------------------------------------- watch */

/* corun.fs.watch(path) -> watcher, or nil, err */
static int l_watch(lua_State *L) {
  static const char fname[] = "corun.fs.watch";
  const char *path = check_path(L, fname, 1, NULL);
  corun_Task *self = corunL_task(L, fname);
  corunL_io_ready(L, fname);
  return corun__fswatch_open(L, fname, self, path);
}

/* Method self: the open watcher the running task may use. */
static corun_FsWatcher *check_watcher(lua_State *L, const char *fname) {
  return (corun_FsWatcher *)corunL_io_check(L, fname, CORUN_FSWATCHER,
                                            "watcher");
}

/* watcher:next() -> name, events; nil, "lagged", k; or nil, err */
static int w_next(lua_State *L) {
  static const char fname[] = "watcher:next";
  return corun__fswatch_next(L, fname, check_watcher(L, fname));
}

/* watcher:close(); closing a closed watcher does nothing. */
static int w_close(lua_State *L) {
  corun_Io *io = corunL_io_peek(L, "watcher:close", CORUN_FSWATCHER);
  if (io != NULL) {
    check_watcher(L, "watcher:close");
    corun__io_close(io, 0);
  }
  return 0;
}

static int w_tostring(lua_State *L) {
  corun_Io *io = corunL_io_peek(L, "watcher:__tostring", CORUN_FSWATCHER);
  return corun__fswatch_tostring(L, (corun_FsWatcher *)io);
}

static const luaL_Reg watcher_methods[] = {
  {"next", w_next}, {"close", w_close}, {NULL, NULL}
};

static const luaL_Reg watcher_meta[] = {
  {"__tostring", w_tostring}, {NULL, NULL}
};

/* ------------------------------------------------------------ module */

static const luaL_Reg fs_functions[] = {
  {"read_file", l_read_file}, {"write_file", l_write_file},
  {"stat", l_stat}, {"list", l_list}, {"mkdir", l_mkdir},
  {"remove", l_remove}, {"rename", l_rename}, {"copy", l_copy},
  {"chmod", l_chmod}, {"symlink", l_symlink}, {"readlink", l_readlink},
  {"watch", l_watch}, {NULL, NULL}
};

void corunL_open_fs(lua_State *L) {
  corun__state(L);                  /* module state */
  corunL_io_newclass(L, CORUN_FSWATCHER, watcher_methods, watcher_meta);
  lua_newtable(L);                  /* corun.fs */
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, fs_functions, 1);
  corunL_fs_open_file(L);           /* corun.File, corun.fs.open */
  lua_setfield(L, -3, "fs");
  lua_pop(L, 1);
}
