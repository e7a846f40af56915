/*
** fs.c - the path functions of corun.fs (fs.h): read_file, write_file,
** stat, list, mkdir, remove, rename, copy, chmod, symlink, readlink, on
** files and directories through
** libuv's thread pool (uv_fs_* with a callback, so only the calling task
** waits).
**
** Each is a chain of steps on one request record, whose machinery (steps,
** cancellation, giving back, answering) is in fsreq.c and described in
** fsreq.h.  corun.File and corun.fs.open are in file.c; the bindings
** (bindings/fs.c) check the arguments and call the operations below.
*/
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <lauxlib.h>
#include "fs.h"
#include "fsreq.h"

#define TEMP_TRIES 16           /* names tried for a temporary file */
#define TEMP_EXTRA 32           /* ".", ".", 16 hex digits, ".tmp", NUL */

/* --------------------------------------------------------- read_file */

static int push_data(lua_State *L, void *ud) {
  corun_FsReq *r = ud;
  if (r->status != 0)
    return corun__fsreq_push_fail(L, r);
  lua_pushlstring(L, r->buf != NULL ? r->buf : "", r->len);
  return 1;
}

static void rf_read(corun_FsReq *r, ssize_t res) {
  int rc;
  if (res == 0) {  /* end of file */
    corun__fsreq_settle(r);
    return;
  }
  if (!corun__fsreq_proceed(r, res))
    return;
  r->len += (size_t)res;
  if (r->len == r->size && (rc = corun__fsreq_grow(r, r->size * 2)) != 0) {
    r->status = rc;
    corun__fsreq_settle(r);
    return;
  }
  corun__fsreq_go(r, corun__fsreq_read(r, r->fd, -1, rf_read));
}

/* Room for the whole file (and one byte more, to see its end at once). */
static void rf_stat(corun_FsReq *r, ssize_t res) {
  uint64_t size;
  int rc;
  if (!corun__fsreq_proceed(r, res))
    return;
  size = r->fs.statbuf.st_size;
  if (size >= SIZE_MAX / 4)
    rc = UV_ENOMEM;
  else
    rc = corun__fsreq_grow(r, size > 0 ? (size_t)size + 1 : CORUN_FS_CHUNK);
  if (rc != 0) {
    r->status = rc;
    corun__fsreq_settle(r);
    return;
  }
  corun__fsreq_go(r, corun__fsreq_read(r, r->fd, -1, rf_read));
}

static void rf_opened(corun_FsReq *r, ssize_t res) {
  if (res >= 0)
    r->fd = (uv_file)res;
  if (corun__fsreq_proceed(r, res))
    corun__fsreq_go(r, corun__fsreq_fstat(r, r->fd, rf_stat));
}

/* corun.fs.read_file: open, fstat, read to the end (see fs.h). */
int corun__fs_read_file(lua_State *L, const char *fname, const char *path,
                        size_t len) {
  corun_FsReq *r = corun__fsreq_path(L, fname, path, len, 0);
  r->push = push_data;
  return corun__fsreq_begin(L, r, fname, corun__fsreq_open(r, r->path,
                            UV_FS_O_RDONLY, 0, rf_opened));
}

/* -------------------------------------------------------- write_file */

static void aw_synced(corun_FsReq *r, ssize_t res);

static void wf_written(corun_FsReq *r, ssize_t res);

/* Write what is left of the data, then end (atomic: fsync first). */
static void wf_next(corun_FsReq *r) {
  if (r->len < r->size)
    corun__fsreq_go(r, corun__fsreq_write(r, r->fd, -1, wf_written));
  else if (r->atomic)
    corun__fsreq_go(r, corun__fsreq_fsync(r, r->fd, aw_synced));
  else
    corun__fsreq_settle(r);  /* its close reports a late write error */
}

static void wf_written(corun_FsReq *r, ssize_t res) {
  if (res == 0)
    res = UV_EIO;  /* no progress: never loop on it */
  if (!corun__fsreq_proceed(r, res))
    return;
  r->len += (size_t)res;
  wf_next(r);
}

static void wf_opened(corun_FsReq *r, ssize_t res) {
  if (res >= 0)
    r->fd = (uv_file)res;
  if (corun__fsreq_proceed(r, res))
    wf_next(r);
}

static void aw_renamed(corun_FsReq *r, ssize_t res) {
  if (res == 0)
    r->has_temp = 0;  /* it is the target now */
  corun__fsreq_done(r, res);
}

static void aw_closed(corun_FsReq *r, ssize_t res) {
  uv_fs_t *fs;
  int rc;
  if (!corun__fsreq_proceed(r, res))
    return;
  fs = corun__fsreq_step(r, aw_renamed);
  rc = uv_fs_rename(r->loop, fs, r->path2, r->path, corun__fsreq_on_step);
  corun__fsreq_go(r, corun__fsreq_started(r, rc));
}

static void aw_synced(corun_FsReq *r, ssize_t res) {
  uv_file fd = r->fd;
  if (!corun__fsreq_proceed(r, res))
    return;
  r->fd = -1;
  corun__fsreq_go(r, corun__fsreq_close(r, fd, aw_closed));
}

static void aw_moded(corun_FsReq *r, ssize_t res) {
  if (corun__fsreq_proceed(r, res))
    wf_next(r);
}

/*
** A fresh name for the temporary file next to the target:
** "dir/.name.<16 hex digits>.tmp".  uv_hrtime is read here directly, not
** through the runtime's clock (host/timer.c, which may be paused): it is
** no time of a task's, only a seed of the name's random part, with the
** request's address and the number of names tried.
*/
static void temp_name(corun_FsReq *r) {
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

static void aw_opened(corun_FsReq *r, ssize_t res);

static void aw_open(corun_FsReq *r) {
  temp_name(r);
  corun__fsreq_go(r, corun__fsreq_open(r, r->path2, UV_FS_O_WRONLY |
                                       UV_FS_O_CREAT | UV_FS_O_EXCL, r->mode,
                                       aw_opened));
}

static void aw_opened(corun_FsReq *r, ssize_t res) {
  if (res == UV_EEXIST && !r->orphaned && ++r->tries < TEMP_TRIES) {
    aw_open(r);  /* that name is taken: another */
    return;
  }
  if (res >= 0) {
    r->fd = (uv_file)res;
    r->has_temp = 1;
  }
  if (!corun__fsreq_proceed(r, res))
    return;
  if (r->chmod) {
    uv_fs_t *fs = corun__fsreq_step(r, aw_moded);
    int rc = uv_fs_fchmod(r->loop, fs, r->fd, r->mode,
                          corun__fsreq_on_step);
    corun__fsreq_go(r, corun__fsreq_started(r, rc));
  }
  else
    wf_next(r);
}

/* The target's permission bits, if it is a file, go to its replacement. */
static void aw_stat(corun_FsReq *r, ssize_t res) {
  if (r->orphaned) {
    corun__fsreq_settle(r);
    return;
  }
  if (res == 0 && S_ISREG(r->fs.statbuf.st_mode)) {
    r->mode = (int)(r->fs.statbuf.st_mode & 07777);
    r->chmod = 1;
  }
  aw_open(r);
}

/*
** corun.fs.write_file: open (truncating), write, close; atomic: stat the
** target, open a fresh temporary file next to it, write, fsync, close,
** rename it over the target (see fs.h).
*/
int corun__fs_write_file(lua_State *L, const char *fname, const char *path,
                         size_t len, const char *data, size_t size,
                         int atomic) {
  corun_FsReq *r = corun__fsreq_path(L, fname, path, len,
                                     atomic ? len + 1 + TEMP_EXTRA : 0);
  int rc;
  r->push = corun__fsreq_push_true;
  r->atomic = atomic;
  r->mode = 0666;
  if (corun__fsreq_grow(r, size) != 0) {
    corun__fsreq_free(r);
    return corun__error(L, fname, "not enough memory");
  }
  memcpy(r->buf, data, size);  /* the string may go with a cancelled task */
  if (atomic)
    rc = corun__fsreq_started(r, uv_fs_stat(r->loop,
                              corun__fsreq_step(r, aw_stat), r->path,
                              corun__fsreq_on_step));
  else
    rc = corun__fsreq_open(r, r->path, UV_FS_O_WRONLY | UV_FS_O_CREAT |
                           UV_FS_O_TRUNC, r->mode, wf_opened);
  return corun__fsreq_begin(L, r, fname, rc);
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
  corun_FsReq *r = ud;
  const uv_stat_t *st = &r->st;
  if (r->status != 0)
    return corun__fsreq_push_fail(L, r);
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

static void st_done(corun_FsReq *r, ssize_t res) {
  if (res == 0)
    r->st = r->fs.statbuf;
  corun__fsreq_done(r, res);
}

/* corun.fs.stat: stat, or lstat if not 'follow' (see fs.h). */
int corun__fs_stat(lua_State *L, const char *fname, const char *path,
                   size_t len, int follow) {
  corun_FsReq *r = corun__fsreq_path(L, fname, path, len, 0);
  int rc;
  r->push = push_stat;
  if (follow)
    rc = uv_fs_stat(r->loop, corun__fsreq_step(r, st_done), r->path,
                    corun__fsreq_on_step);
  else
    rc = uv_fs_lstat(r->loop, corun__fsreq_step(r, st_done), r->path,
                     corun__fsreq_on_step);
  return corun__fsreq_begin(L, r, fname, corun__fsreq_started(r, rc));
}

/* --------------------------------------- list, mkdir, remove, rename */

/* The names libuv's scandir found ("." and ".." are left out). */
static int push_names(lua_State *L, void *ud) {
  corun_FsReq *r = ud;
  uv_dirent_t ent;
  int i = 0;
  if (r->status != 0)
    return corun__fsreq_push_fail(L, r);
  lua_createtable(L, r->len < 1000000 ? (int)r->len : 1000000, 0);
  while (uv_fs_scandir_next(&r->fs, &ent) == 0) {
    lua_pushstring(L, ent.name);
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

static void ls_done(corun_FsReq *r, ssize_t res) {
  if (res > 0)
    r->len = (size_t)res;
  corun__fsreq_done(r, res);
}

/* corun.fs.list: scandir (see fs.h). */
int corun__fs_list(lua_State *L, const char *fname, const char *path,
                   size_t len) {
  corun_FsReq *r = corun__fsreq_path(L, fname, path, len, 0);
  int rc;
  r->push = push_names;
  rc = uv_fs_scandir(r->loop, corun__fsreq_step(r, ls_done), r->path, 0,
                     corun__fsreq_on_step);
  return corun__fsreq_begin(L, r, fname, corun__fsreq_started(r, rc));
}

/*
** mkdir with parents, as mkdir -p: make the whole path; if its parent is
** missing (ENOENT) or no directory (ENOTDIR), back off one directory at
** a time until one can be made (or exists), then go forward making each;
** an existing directory on the way is fine.  So an error names the first
** directory that could not be made.  The directory being made is the
** prefix of 'path' of length r->len, which 'path2' holds cut there.  Once
** going forward (r->tries), an ENOENT is final: a parent removed
** meanwhile ends it rather than starting over.
*/

/* The length of the parent of the prefix of 'p' of length 'n': up to the
   slashes before its last component ("/" for "/a"); 0 if it has none. */
static size_t parent_len(const char *p, size_t n) {
  while (n > 0 && p[n - 1] == '/')
    n--;
  while (n > 0 && p[n - 1] != '/')
    n--;
  while (n > 1 && p[n - 1] == '/')
    n--;
  return n;
}

/* The length of the next prefix of 'p' after the one of length 'n'
   (one component more), at most 'size'. */
static size_t next_len(const char *p, size_t n, size_t size) {
  while (n < size && p[n] == '/')
    n++;
  while (n < size && p[n] != '/')
    n++;
  return n;
}

/* Make path2 the prefix of length 'n'. */
static void mp_cut(corun_FsReq *r, size_t n) {
  r->path2[r->len] = r->path[r->len];
  r->len = n;
  r->path2[n] = '\0';
}

static void mp_made(corun_FsReq *r, ssize_t res);

static void mp_make(corun_FsReq *r) {
  uv_fs_t *fs = corun__fsreq_step(r, mp_made);
  int rc = uv_fs_mkdir(r->loop, fs, r->path2, 0777, corun__fsreq_on_step);
  corun__fsreq_go(r, corun__fsreq_started(r, rc));
}

/* The path exists: true if it is a directory (or a link to one). */
static void mp_stat(corun_FsReq *r, ssize_t res) {
  if (res < 0 || !S_ISDIR(r->fs.statbuf.st_mode))
    res = UV_EEXIST;
  corun__fsreq_done(r, res);
}

static void mp_made(corun_FsReq *r, ssize_t res) {
  size_t n;
  if (r->orphaned)
    corun__fsreq_settle(r);
  else if (res == UV_EEXIST && r->len == r->size) {
    uv_fs_t *fs = corun__fsreq_step(r, mp_stat);
    int rc = uv_fs_stat(r->loop, fs, r->path, corun__fsreq_on_step);
    corun__fsreq_go(r, corun__fsreq_started(r, rc));
  }
  else if (res == 0 && r->len == r->size)
    corun__fsreq_settle(r);
  else if (res == 0 || res == UV_EEXIST) {
    r->tries = 1;
    mp_cut(r, next_len(r->path, r->len, r->size));
    mp_make(r);
  }
  else if ((res == UV_ENOENT || res == UV_ENOTDIR) && !r->tries &&
           (n = parent_len(r->path, r->len)) > 0) {
    mp_cut(r, n);
    mp_make(r);
  }
  else {
    r->path = r->path2;  /* the error names the directory that failed */
    corun__fsreq_done(r, res);
  }
}

/* corun.fs.mkdir: mkdir, with permission bits 0777; with 'parents', the
   missing parents too, and an existing directory is no error (see
   fs.h). */
int corun__fs_mkdir(lua_State *L, const char *fname, const char *path,
                    size_t len, int parents) {
  corun_FsReq *r = corun__fsreq_path(L, fname, path, len,
                                     parents ? len + 1 : 0);
  int rc;
  r->push = corun__fsreq_push_true;
  if (parents) {
    memcpy(r->path2, r->path, len + 1);
    r->len = r->size = len;
    rc = uv_fs_mkdir(r->loop, corun__fsreq_step(r, mp_made), r->path2,
                     0777, corun__fsreq_on_step);
  }
  else
    rc = uv_fs_mkdir(r->loop, corun__fsreq_step(r, corun__fsreq_done),
                     r->path, 0777, corun__fsreq_on_step);
  return corun__fsreq_begin(L, r, fname, corun__fsreq_started(r, rc));
}

static void rm_rmdired(corun_FsReq *r, ssize_t res) {
  int first = r->status;  /* what unlink said */
  r->status = 0;
  if (res == UV_ENOTDIR && first == UV_EPERM)
    res = first;  /* not a directory after all: unlink's answer stands */
  corun__fsreq_done(r, res);
}

/* unlink refuses a directory (EISDIR on Linux, EPERM in POSIX): rmdir. */
static void rm_unlinked(corun_FsReq *r, ssize_t res) {
  if ((res == UV_EISDIR || res == UV_EPERM) && !r->orphaned) {
    r->status = (int)res;
    uv_fs_t *fs = corun__fsreq_step(r, rm_rmdired);
    int rc = uv_fs_rmdir(r->loop, fs, r->path, corun__fsreq_on_step);
    corun__fsreq_go(r, corun__fsreq_started(r, rc));
    return;
  }
  corun__fsreq_done(r, res);
}

/* corun.fs.remove: unlink, or rmdir if that is a directory (see fs.h). */
int corun__fs_remove(lua_State *L, const char *fname, const char *path,
                     size_t len) {
  corun_FsReq *r = corun__fsreq_path(L, fname, path, len, 0);
  int rc;
  r->push = corun__fsreq_push_true;
  rc = uv_fs_unlink(r->loop, corun__fsreq_step(r, rm_unlinked), r->path,
                    corun__fsreq_on_step);
  return corun__fsreq_begin(L, r, fname, corun__fsreq_started(r, rc));
}

/* A request answering true on the paths 'a' (r->path) and 'b'
   (r->path2), which its messages name both: "(a -> b)". */
static corun_FsReq *two_paths(lua_State *L, const char *fname,
                              const char *a, size_t a_len, const char *b,
                              size_t b_len) {
  corun_FsReq *r = corun__fsreq_path(L, fname, a, a_len, b_len + 1);
  memcpy(r->path2, b, b_len + 1);
  r->two_paths = 1;
  r->push = corun__fsreq_push_true;
  return r;
}

/* corun.fs.rename: rename (see fs.h). */
int corun__fs_rename(lua_State *L, const char *fname, const char *from,
                     size_t from_len, const char *to, size_t to_len) {
  corun_FsReq *r = two_paths(L, fname, from, from_len, to, to_len);
  int rc = uv_fs_rename(r->loop, corun__fsreq_step(r, corun__fsreq_done),
                        r->path, r->path2, corun__fsreq_on_step);
  return corun__fsreq_begin(L, r, fname, corun__fsreq_started(r, rc));
}

/* ---------------------------------- copy, chmod, symlink, readlink */

/* The source is no directory: copy it with libuv's copyfile, which
   replaces an existing target and gives it the source's permission bits
   (and removes the target if the copy fails). */
static void cp_stat(corun_FsReq *r, ssize_t res) {
  uv_fs_t *fs;
  int rc;
  if (res == 0 && S_ISDIR(r->fs.statbuf.st_mode))
    res = UV_EISDIR;
  if (!corun__fsreq_proceed(r, res))
    return;
  fs = corun__fsreq_step(r, corun__fsreq_done);
  rc = uv_fs_copyfile(r->loop, fs, r->path, r->path2, 0,
                      corun__fsreq_on_step);
  corun__fsreq_go(r, corun__fsreq_started(r, rc));
}

/* corun.fs.copy: stat the source first, for a directory would fail only
   once copyfile has truncated the target, then removed it (see fs.h). */
int corun__fs_copy(lua_State *L, const char *fname, const char *from,
                   size_t from_len, const char *to, size_t to_len) {
  corun_FsReq *r = two_paths(L, fname, from, from_len, to, to_len);
  int rc = uv_fs_stat(r->loop, corun__fsreq_step(r, cp_stat), r->path,
                      corun__fsreq_on_step);
  return corun__fsreq_begin(L, r, fname, corun__fsreq_started(r, rc));
}

/* corun.fs.chmod (see fs.h). */
int corun__fs_chmod(lua_State *L, const char *fname, const char *path,
                    size_t len, int mode) {
  corun_FsReq *r = corun__fsreq_path(L, fname, path, len, 0);
  int rc;
  r->push = corun__fsreq_push_true;
  rc = uv_fs_chmod(r->loop, corun__fsreq_step(r, corun__fsreq_done),
                   r->path, mode, corun__fsreq_on_step);
  return corun__fsreq_begin(L, r, fname, corun__fsreq_started(r, rc));
}

/* corun.fs.symlink: the messages name "(path -> target)", as ls -l shows
   a link (see fs.h). */
int corun__fs_symlink(lua_State *L, const char *fname, const char *target,
                      size_t target_len, const char *path, size_t len) {
  corun_FsReq *r = two_paths(L, fname, path, len, target, target_len);
  int rc = uv_fs_symlink(r->loop, corun__fsreq_step(r, corun__fsreq_done),
                         r->path2, r->path, 0, corun__fsreq_on_step);
  return corun__fsreq_begin(L, r, fname, corun__fsreq_started(r, rc));
}

/* What readlink found (libuv's string in the request). */
static int push_link(lua_State *L, void *ud) {
  corun_FsReq *r = ud;
  if (r->status != 0)
    return corun__fsreq_push_fail(L, r);
  lua_pushstring(L, r->fs.ptr);
  return 1;
}

/* corun.fs.readlink (see fs.h). */
int corun__fs_readlink(lua_State *L, const char *fname, const char *path,
                       size_t len) {
  corun_FsReq *r = corun__fsreq_path(L, fname, path, len, 0);
  int rc;
  r->push = push_link;
  rc = uv_fs_readlink(r->loop, corun__fsreq_step(r, corun__fsreq_done),
                      r->path, corun__fsreq_on_step);
  return corun__fsreq_begin(L, r, fname, corun__fsreq_started(r, rc));
}

