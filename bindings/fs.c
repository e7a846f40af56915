/*
** fs.c - corun.fs: files and directories through libuv's thread pool
** (uv_fs_* with a callback, so only the calling task waits).
**
** This file holds the path functions (read_file, write_file, stat, list,
** mkdir, remove, rename): each is a chain of steps on one request record,
** whose machinery (steps, cancellation, giving back, answering) is in
** fsreq.c and described in fsreq.h.  corun.File and corun.fs.open are in
** file.c; corunL_open_fs, at the end, builds corun.fs from both.
*/
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <lauxlib.h>
#include "fsreq.h"

#define TEMP_TRIES 16           /* names tried for a temporary file */
#define TEMP_EXTRA 32           /* ".", ".", 16 hex digits, ".tmp", NUL */

/* --------------------------------------------------------- arguments */

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

/* --------------------------------------------------------- read_file */

static int push_data(lua_State *L, void *ud) {
  Req *r = ud;
  if (r->status != 0)
    return corunL_fs_push_fail(L, r);
  lua_pushlstring(L, r->buf != NULL ? r->buf : "", r->len);
  return 1;
}

static void rf_read(Req *r, ssize_t res) {
  int rc;
  if (res == 0) {  /* end of file */
    corunL_fs_settle(r);
    return;
  }
  if (!corunL_fs_proceed(r, res))
    return;
  r->len += (size_t)res;
  if (r->len == r->size && (rc = corunL_fs_grow(r, r->size * 2)) != 0) {
    r->status = rc;
    corunL_fs_settle(r);
    return;
  }
  corunL_fs_go(r, corunL_fs_do_read(r, r->fd, -1, rf_read));
}

/* Room for the whole file (and one byte more, to see its end at once). */
static void rf_stat(Req *r, ssize_t res) {
  uint64_t size;
  int rc;
  if (!corunL_fs_proceed(r, res))
    return;
  size = r->fs.statbuf.st_size;
  if (size >= SIZE_MAX / 4)
    rc = UV_ENOMEM;
  else
    rc = corunL_fs_grow(r, size > 0 ? (size_t)size + 1 : CHUNK);
  if (rc != 0) {
    r->status = rc;
    corunL_fs_settle(r);
    return;
  }
  corunL_fs_go(r, corunL_fs_do_read(r, r->fd, -1, rf_read));
}

static void rf_opened(Req *r, ssize_t res) {
  if (res >= 0)
    r->fd = (uv_file)res;
  if (corunL_fs_proceed(r, res))
    corunL_fs_go(r, corunL_fs_do_fstat(r, r->fd, rf_stat));
}

/* corun.fs.read_file(path) -> string, or nil, err */
static int l_read_file(lua_State *L) {
  static const char fname[] = "corun.fs.read_file";
  Req *r = corunL_fs_path_req(L, fname, 1, 0);
  r->push = push_data;
  return corunL_fs_begin(L, r, fname, corunL_fs_do_open(r, r->path,
                         UV_FS_O_RDONLY, 0, rf_opened));
}

/* -------------------------------------------------------- write_file */

static void aw_synced(Req *r, ssize_t res);

static void wf_written(Req *r, ssize_t res);

/* Write what is left of the data, then end (atomic: fsync first). */
static void wf_next(Req *r) {
  if (r->len < r->size)
    corunL_fs_go(r, corunL_fs_do_write(r, r->fd, -1, wf_written));
  else if (r->atomic)
    corunL_fs_go(r, corunL_fs_do_fsync(r, r->fd, aw_synced));
  else
    corunL_fs_settle(r);  /* its close reports a late write error */
}

static void wf_written(Req *r, ssize_t res) {
  if (res == 0)
    res = UV_EIO;  /* no progress: never loop on it */
  if (!corunL_fs_proceed(r, res))
    return;
  r->len += (size_t)res;
  wf_next(r);
}

static void wf_opened(Req *r, ssize_t res) {
  if (res >= 0)
    r->fd = (uv_file)res;
  if (corunL_fs_proceed(r, res))
    wf_next(r);
}

static void aw_renamed(Req *r, ssize_t res) {
  if (res == 0)
    r->has_temp = 0;  /* it is the target now */
  corunL_fs_done(r, res);
}

static void aw_closed(Req *r, ssize_t res) {
  uv_fs_t *fs;
  if (!corunL_fs_proceed(r, res))
    return;
  fs = corunL_fs_step(r, aw_renamed);
  corunL_fs_go(r, corunL_fs_started(r, uv_fs_rename(r->loop, fs, r->path2,
                                    r->path, corunL_fs_on_step)));
}

static void aw_synced(Req *r, ssize_t res) {
  uv_file fd = r->fd;
  if (!corunL_fs_proceed(r, res))
    return;
  r->fd = -1;
  corunL_fs_go(r, corunL_fs_do_close(r, fd, aw_closed));
}

static void aw_moded(Req *r, ssize_t res) {
  if (corunL_fs_proceed(r, res))
    wf_next(r);
}

/* A fresh name for the temporary file next to the target:
   "dir/.name.<16 hex digits>.tmp". */
static void temp_name(Req *r) {
  const char *slash = strrchr(r->path, '/');
  size_t dir = slash != NULL ? (size_t)(slash - r->path) + 1 : 0;
  size_t n = strlen(r->path);
  uint64_t x = uv_hrtime() + (uint64_t)(uintptr_t)r +
               (uint64_t)r->tries * 0x9E3779B97F4A7C15u;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9u;  /* splitmix64's mixer */
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBu;
  x ^= x >> 31;
  memcpy(r->path2, r->path, dir);
  r->path2[dir] = '.';
  memcpy(r->path2 + dir + 1, r->path + dir, n - dir);
  snprintf(r->path2 + n + 1, TEMP_EXTRA, ".%016llx.tmp",
           (unsigned long long)x);
}

static void aw_opened(Req *r, ssize_t res);

static void aw_open(Req *r) {
  temp_name(r);
  corunL_fs_go(r, corunL_fs_do_open(r, r->path2, UV_FS_O_WRONLY |
                                    UV_FS_O_CREAT | UV_FS_O_EXCL, r->mode,
                                    aw_opened));
}

static void aw_opened(Req *r, ssize_t res) {
  if (res == UV_EEXIST && !r->orphaned && ++r->tries < TEMP_TRIES) {
    aw_open(r);  /* that name is taken: another */
    return;
  }
  if (res >= 0) {
    r->fd = (uv_file)res;
    r->has_temp = 1;
  }
  if (!corunL_fs_proceed(r, res))
    return;
  if (r->chmod) {
    uv_fs_t *fs = corunL_fs_step(r, aw_moded);
    corunL_fs_go(r, corunL_fs_started(r, uv_fs_fchmod(r->loop, fs, r->fd,
                                      r->mode, corunL_fs_on_step)));
  }
  else
    wf_next(r);
}

/* The target's permission bits, if it is a file, go to its replacement. */
static void aw_stat(Req *r, ssize_t res) {
  if (r->orphaned) {
    corunL_fs_settle(r);
    return;
  }
  if (res == 0 && S_ISREG(r->fs.statbuf.st_mode)) {
    r->mode = (int)(r->fs.statbuf.st_mode & 07777);
    r->chmod = 1;
  }
  aw_open(r);
}

/* corun.fs.write_file(path, data[, {atomic = true}]) -> true, or nil, err */
static int l_write_file(lua_State *L) {
  static const char fname[] = "corun.fs.write_file";
  size_t len;
  const char *data;
  int atomic, rc;
  Req *r;
  corunL_fs_check_path(L, fname, 1, &len);
  if (lua_type(L, 2) != LUA_TSTRING)
    return corunL_typeerror(L, fname, 2, "string");
  data = lua_tolstring(L, 2, &len);
  atomic = opt_flag(L, fname, 3, "atomic", 0);
  r = corunL_fs_path_req(L, fname, 1,
                         atomic ? lua_rawlen(L, 1) + 1 + TEMP_EXTRA : 0);
  r->push = corunL_fs_push_true;
  r->atomic = atomic;
  r->mode = 0666;
  if (corunL_fs_grow(r, len) != 0) {
    corunL_fs_req_free(r);
    return corunL_error(L, fname, "not enough memory");
  }
  memcpy(r->buf, data, len);  /* the string may go with a cancelled task */
  if (atomic)
    rc = corunL_fs_started(r, uv_fs_stat(r->loop, corunL_fs_step(r, aw_stat),
                                         r->path, corunL_fs_on_step));
  else
    rc = corunL_fs_do_open(r, r->path, UV_FS_O_WRONLY | UV_FS_O_CREAT |
                           UV_FS_O_TRUNC, r->mode, wf_opened);
  return corunL_fs_begin(L, r, fname, rc);
}

/* -------------------------------------------------------------- stat */

static const char *type_name(uint64_t mode) {
  if (S_ISREG(mode))
    return "file";
  if (S_ISDIR(mode))
    return "directory";
  if (S_ISLNK(mode))
    return "link";
  return "other";
}

static void set_time(lua_State *L, const char *k, const uv_timespec_t *t) {
  lua_pushnumber(L, (lua_Number)t->tv_sec + (lua_Number)t->tv_nsec / 1e9);
  lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, uint64_t v) {
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, k);
}

static int push_stat(lua_State *L, void *ud) {
  Req *r = ud;
  const uv_stat_t *st = &r->st;
  if (r->status != 0)
    return corunL_fs_push_fail(L, r);
  lua_createtable(L, 0, 11);
  lua_pushstring(L, type_name(st->st_mode));
  lua_setfield(L, -2, "type");
  set_int(L, "size", st->st_size);
  set_int(L, "mode", st->st_mode & 07777);
  set_time(L, "mtime", &st->st_mtim);
  set_time(L, "atime", &st->st_atim);
  set_time(L, "ctime", &st->st_ctim);
  set_int(L, "nlink", st->st_nlink);
  set_int(L, "uid", st->st_uid);
  set_int(L, "gid", st->st_gid);
  set_int(L, "ino", st->st_ino);
  set_int(L, "dev", st->st_dev);
  return 1;
}

static void st_done(Req *r, ssize_t res) {
  if (res == 0)
    r->st = r->fs.statbuf;
  corunL_fs_done(r, res);
}

/* corun.fs.stat(path[, {follow = false}]) -> table, or nil, err */
static int l_stat(lua_State *L) {
  static const char fname[] = "corun.fs.stat";
  int follow, rc;
  Req *r;
  size_t n;
  corunL_fs_check_path(L, fname, 1, &n);
  follow = opt_flag(L, fname, 2, "follow", 1);
  r = corunL_fs_path_req(L, fname, 1, 0);
  r->push = push_stat;
  if (follow)
    rc = uv_fs_stat(r->loop, corunL_fs_step(r, st_done), r->path,
                    corunL_fs_on_step);
  else
    rc = uv_fs_lstat(r->loop, corunL_fs_step(r, st_done), r->path,
                     corunL_fs_on_step);
  return corunL_fs_begin(L, r, fname, corunL_fs_started(r, rc));
}

/* --------------------------------------- list, mkdir, remove, rename */

/* The names libuv's scandir found ("." and ".." are left out). */
static int push_names(lua_State *L, void *ud) {
  Req *r = ud;
  uv_dirent_t ent;
  int i = 0;
  if (r->status != 0)
    return corunL_fs_push_fail(L, r);
  lua_createtable(L, r->len < 1000000 ? (int)r->len : 1000000, 0);
  while (uv_fs_scandir_next(&r->fs, &ent) == 0) {
    lua_pushstring(L, ent.name);
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

static void ls_done(Req *r, ssize_t res) {
  if (res > 0)
    r->len = (size_t)res;
  corunL_fs_done(r, res);
}

/* corun.fs.list(dir) -> { name, ... }, or nil, err */
static int l_list(lua_State *L) {
  static const char fname[] = "corun.fs.list";
  Req *r = corunL_fs_path_req(L, fname, 1, 0);
  int rc;
  r->push = push_names;
  rc = uv_fs_scandir(r->loop, corunL_fs_step(r, ls_done), r->path, 0,
                     corunL_fs_on_step);
  return corunL_fs_begin(L, r, fname, corunL_fs_started(r, rc));
}

/* corun.fs.mkdir(path) -> true, or nil, err */
static int l_mkdir(lua_State *L) {
  static const char fname[] = "corun.fs.mkdir";
  Req *r = corunL_fs_path_req(L, fname, 1, 0);
  int rc;
  r->push = corunL_fs_push_true;
  rc = uv_fs_mkdir(r->loop, corunL_fs_step(r, corunL_fs_done), r->path,
                   0777, corunL_fs_on_step);
  return corunL_fs_begin(L, r, fname, corunL_fs_started(r, rc));
}

static void rm_rmdired(Req *r, ssize_t res) {
  int first = r->status;  /* what unlink said */
  r->status = 0;
  if (res == UV_ENOTDIR && first == UV_EPERM)
    res = first;  /* not a directory after all: unlink's answer stands */
  corunL_fs_done(r, res);
}

/* unlink refuses a directory (EISDIR on Linux, EPERM in POSIX): rmdir. */
static void rm_unlinked(Req *r, ssize_t res) {
  if ((res == UV_EISDIR || res == UV_EPERM) && !r->orphaned) {
    r->status = (int)res;
    uv_fs_t *fs = corunL_fs_step(r, rm_rmdired);
    corunL_fs_go(r, corunL_fs_started(r, uv_fs_rmdir(r->loop, fs, r->path,
                                      corunL_fs_on_step)));
    return;
  }
  corunL_fs_done(r, res);
}

/* corun.fs.remove(path) -> true, or nil, err */
static int l_remove(lua_State *L) {
  static const char fname[] = "corun.fs.remove";
  Req *r = corunL_fs_path_req(L, fname, 1, 0);
  int rc;
  r->push = corunL_fs_push_true;
  rc = uv_fs_unlink(r->loop, corunL_fs_step(r, rm_unlinked), r->path,
                    corunL_fs_on_step);
  return corunL_fs_begin(L, r, fname, corunL_fs_started(r, rc));
}

/* corun.fs.rename(from, to) -> true, or nil, err */
static int l_rename(lua_State *L) {
  static const char fname[] = "corun.fs.rename";
  size_t n;
  const char *to;
  Req *r;
  int rc;
  corunL_fs_check_path(L, fname, 1, &n);
  to = corunL_fs_check_path(L, fname, 2, &n);
  r = corunL_fs_path_req(L, fname, 1, n + 1);
  memcpy(r->path2, to, n + 1);
  r->is_rename = 1;
  r->push = corunL_fs_push_true;
  rc = uv_fs_rename(r->loop, corunL_fs_step(r, corunL_fs_done), r->path,
                    r->path2, corunL_fs_on_step);
  return corunL_fs_begin(L, r, fname, corunL_fs_started(r, rc));
}


/* ------------------------------------------------------------ module */

static const luaL_Reg fs_functions[] = {
  {"read_file", l_read_file}, {"write_file", l_write_file},
  {"stat", l_stat}, {"list", l_list}, {"mkdir", l_mkdir},
  {"remove", l_remove}, {"rename", l_rename}, {NULL, NULL}
};

void corunL_open_fs(lua_State *L) {
  corun__state(L);                  /* module state */
  lua_newtable(L);                  /* corun.fs */
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, fs_functions, 1);
  corunL_fs_open_file(L);           /* corun.File, corun.fs.open */
  lua_setfield(L, -3, "fs");
  lua_pop(L, 1);
}
