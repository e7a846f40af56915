/*
** fs.c - corun.fs: files and directories through libuv's thread pool
** (uv_fs_* with a callback, so only the calling task waits), and
** corun.File.
**
** Every call is a malloc'd request record (Req) shared by the waiting task
** and libuv's callbacks.  A call may take several steps (open, read,
** close), each a uv_fs_t request on the record's one uv_fs_t.  If the task
** stops waiting (cancelled, timed out), the cancel callback marks the
** record orphaned and uv_cancel's the step in flight, unless that step
** gives something back (a close, the removal of a temporary file); the
** step's callback, which always comes, then only gives back what the
** record holds (closes its descriptor, removes its temporary file) and
** frees it.  Otherwise the last callback makes the Lua values
** (corunL_io_wake) and frees the record.  Callbacks of orphaned records
** never touch the runtime, which may be gone by then.
**
** A corun.File (an I/O object, io.h) runs its operations one at a time, in
** call order: one is in flight, the others wait in its queue.  It keeps
** its own position and reads and writes at it (pread, pwrite), moving it
** only when an answer is delivered: an operation that was cancelled leaves
** the position alone, and one still in flight never races the next.
** Closing waits for the operation in flight, then closes the descriptor
** (uv_fs_close, whose callback frees the file).
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <lauxlib.h>
#include "corunio.h"

#define CORUN_FILE "corun.File"
#define CHUNK (64 * 1024)       /* first room for a read of unknown size */
#define STEP_MAX (1u << 30)     /* most bytes one read or write step moves */
#define TEMP_TRIES 16           /* names tried for a temporary file */
#define TEMP_EXTRA 32           /* ".", ".", 16 hex digits, ".tmp", NUL */

typedef struct Req Req;
typedef struct File File;

/* What to do when the step in flight ends with libuv's result 'res'. */
typedef void (*Then)(Req *r, ssize_t res);

/* Operations of a corun.File. */
enum { OP_READ, OP_WRITE, OP_SEEK, OP_SYNC };

struct Req {
  uv_fs_t fs;             /* the step in flight (fs.data is this record) */
  corun_Link queue;       /* in its file's queue while it waits its turn */
  corun_Runtime *rt;      /* borrows: valid unless orphaned */
  uv_loop_t *loop;        /* borrows: outlives every request on it */
  corun_Waker w;          /* the wait of the calling task */
  corunL_Push push;       /* makes the results (see answer) */
  Then then;              /* goes on once the step in flight ends */
  File *file;             /* borrows: the file of a method, or NULL */
  int busy;               /* a step is in flight */
  int keep;               /* that step gives something back: never
                             uv_cancel it */
  int orphaned;           /* nobody to answer: the task stopped waiting,
                             or was answered */
  int status;             /* the libuv error to report, or 0 */
  uv_file fd;             /* owns: a descriptor the request opened, or -1 */
  int has_temp;           /* the temporary file 'path2' exists: owns it */
  int atomic;             /* write_file: through a temporary file */
  int chmod;              /* write_file: give the temporary file 'mode' */
  int tries;              /* names tried for the temporary file */
  int flags;              /* open: UV_FS_O_* flags */
  int mode;               /* open: permission bits of a new file */
  int is_rename;          /* messages name both paths */
  int kind;               /* OP_*, for a file's operation */
  int whence;             /* seek: SEEK_SET, SEEK_CUR or SEEK_END */
  char *buf;              /* owns: what was read, or is to be written */
  size_t len;             /* bytes read, or written so far */
  size_t size;            /* bytes to write; room in 'buf' when reading */
  size_t want;            /* most bytes to read (SIZE_MAX: to the end) */
  int64_t off;            /* seek: the offset, then the new position */
  uv_stat_t st;           /* what the last stat step found */
  const char *path;       /* the path (in 'mem') */
  char *path2;            /* rename: the target; write_file: the
                             temporary file (in 'mem') */
  char mem[];             /* room for the paths */
};

struct File {
  corun_Io io;            /* first: the object's life (io.h) */
  uv_fs_t close_req;      /* closes 'fd' at the end */
  corun_Runtime *rt;      /* borrows: valid while open */
  uv_loop_t *loop;        /* borrows: outlives the file */
  uv_file fd;             /* owns */
  int64_t pos;            /* where the next read or write goes */
  int append;             /* "a" modes: every write goes to the end */
  int seekable;           /* a regular file or a block device: reads and
                             writes at 'pos'; else at the OS's position */
  Req *inflight;          /* the operation under way, or NULL */
  corun_Link queue;       /* operations waiting their turn (Req.queue) */
  char path[];            /* as given to open, for messages */
};

/* ---------------------------------------------------------- requests */

static Req *req_new(lua_State *L, const char *fname, size_t mem) {
  Req *r = calloc(1, sizeof *r + mem);
  if (r == NULL)
    corunL_error(L, fname, "not enough memory");
  r->rt = corunL_state(L)->rt;
  r->loop = r->rt->loop;
  r->fd = -1;
  corun__link_init(&r->queue);
  return r;
}

static void req_free(Req *r) {
  uv_fs_req_cleanup(&r->fs);
  free(r->buf);
  free(r);
}

/* Make room for 'n' bytes in r->buf; 0, or UV_ENOMEM. */
static int grow(Req *r, size_t n) {
  char *p = realloc(r->buf, n > 0 ? n : 1);
  if (p == NULL)
    return UV_ENOMEM;
  r->buf = p;
  r->size = n;
  return 0;
}

static void on_fs(uv_fs_t *fs) {
  Req *r = fs->data;
  r->busy = 0;
  r->then(r, fs->result);
}

/* The request, made ready for its next step: the last one cleaned up,
   'then' to go on. */
static uv_fs_t *step(Req *r, Then then) {
  uv_fs_req_cleanup(&r->fs);
  r->fs.data = r;
  r->then = then;
  r->keep = 0;
  return &r->fs;
}

/* 'rc' is what a uv_fs_* call returned: 0 (the step is in flight) or a
   libuv error (it did not start). */
static int started(Req *r, int rc) {
  if (rc == 0)
    r->busy = 1;
  return rc;
}

/* A step that could not start goes on at once with its error. */
static void go(Req *r, int rc) {
  if (rc < 0)
    r->then(r, rc);
}

static int do_open(Req *r, const char *path, int flags, int mode,
                   Then then) {
  return started(r, uv_fs_open(r->loop, step(r, then), path, flags, mode,
                               on_fs));
}

static int do_close(Req *r, uv_file fd, Then then) {
  uv_fs_t *fs = step(r, then);
  r->keep = 1;
  return started(r, uv_fs_close(r->loop, fs, fd, on_fs));
}

/* Read into r->buf after r->len, at 'off' (-1: the OS's position). */
static int do_read(Req *r, uv_file fd, int64_t off, Then then) {
  size_t room = r->size - r->len;
  uv_buf_t b = uv_buf_init(r->buf + r->len,
                           room < STEP_MAX ? (unsigned)room : STEP_MAX);
  return started(r, uv_fs_read(r->loop, step(r, then), fd, &b, 1, off,
                               on_fs));
}

/* Write r->buf after r->len, at 'off' (-1: the OS's position). */
static int do_write(Req *r, uv_file fd, int64_t off, Then then) {
  size_t left = r->size - r->len;
  uv_buf_t b = uv_buf_init(r->buf + r->len,
                           left < STEP_MAX ? (unsigned)left : STEP_MAX);
  return started(r, uv_fs_write(r->loop, step(r, then), fd, &b, 1, off,
                                on_fs));
}

static int do_fstat(Req *r, uv_file fd, Then then) {
  return started(r, uv_fs_fstat(r->loop, step(r, then), fd, on_fs));
}

static int do_fsync(Req *r, uv_file fd, Then then) {
  return started(r, uv_fs_fsync(r->loop, step(r, then), fd, on_fs));
}

/* The task stopped waiting: stop what can be stopped.  A file's operation
   that has not started leaves the queue; the others end in their
   callbacks. */
static void cancel_req(corun_Waker w, void *ud) {
  Req *r = ud;
  (void)w;
  r->orphaned = 1;
  if (r->busy) {
    if (!r->keep)
      uv_cancel((uv_req_t *)&r->fs);  /* ECANCELED, if not yet running */
  }
  else if (corun__link_linked(&r->queue)) {
    corun__link_remove(&r->queue);
    req_free(r);
  }
}

/* Push nil and the request's error, naming its path(s). */
static int push_fail(lua_State *L, Req *r) {
  if (r->file != NULL)
    return corunL_io_fail(L, r->status, "%s", r->file->path);
  if (r->is_rename)
    return corunL_io_fail(L, r->status, "%s -> %s", r->path, r->path2);
  return corunL_io_fail(L, r->status, "%s", r->path);
}

static int push_true(lua_State *L, void *ud) {
  Req *r = ud;
  if (r->status != 0)
    return push_fail(L, r);
  lua_pushboolean(L, 1);
  return 1;
}

/* -------------------------------------------- ending a path function */

static void settle(Req *r);

/* Answer the task (unless nobody waits), then free the request; what the
   answer did not take over (open's descriptor) is given back first. */
static void answer(Req *r) {
  if (!r->orphaned) {
    r->orphaned = 1;
    corunL_io_wake(r->rt, r->w, r->push, r);
  }
  if (r->fd >= 0 || r->has_temp)
    settle(r);
  else
    req_free(r);
}

static void released(Req *r, ssize_t res) {
  if (res < 0 && r->status == 0 && r->fs.fs_type == UV_FS_CLOSE)
    r->status = (int)res;  /* a close that fails may have lost writes */
  settle(r);
}

/* The work is over (r->status says how): give back what the request
   holds, one step at a time, then answer. */
static void settle(Req *r) {
  uv_file fd = r->fd;
  if (fd >= 0) {
    r->fd = -1;
    go(r, do_close(r, fd, released));
  }
  else if (r->has_temp) {
    r->has_temp = 0;
    step(r, released);
    r->keep = 1;
    go(r, started(r, uv_fs_unlink(r->loop, &r->fs, r->path2, on_fs)));
  }
  else
    answer(r);
}

/* A step ended: 1 to go on; 0 if it failed or nobody waits any more, and
   the request settles. */
static int proceed(Req *r, ssize_t res) {
  if (res < 0 && r->status == 0)
    r->status = (int)res;
  if (res >= 0 && !r->orphaned)
    return 1;
  settle(r);
  return 0;
}

/* The last step of a function ended. */
static void done(Req *r, ssize_t res) {
  if (proceed(r, res))
    settle(r);
}

/* Start the task's wait for request 'r' whose first step started with
   'rc'; if it did not start, answer nil, err now. */
static int begin(lua_State *L, Req *r, const char *fname, int rc) {
  if (rc < 0) {
    r->status = rc;
    push_fail(L, r);
    req_free(r);
    return 2;
  }
  r->orphaned = 1;  /* if the wait cannot be prepared, the callback frees */
  r->w = corunL_io_prepare(L, fname, cancel_req, r);
  r->orphaned = 0;
  return corun__wait_k(L, r->w, (lua_KContext)lua_gettop(L),
                       corunL_io_k_adopt);  /* a file opened: ours */
}

/* --------------------------------------------------------- arguments */

/* The path at 'arg': a string without zero bytes; '*len' its length. */
static const char *check_path(lua_State *L, const char *fname, int arg,
                              size_t *len) {
  const char *p;
  if (lua_type(L, arg) != LUA_TSTRING)
    corunL_typeerror(L, fname, arg, "string");
  p = lua_tolstring(L, arg, len);
  if (strlen(p) != *len)
    corunL_error(L, fname, "bad argument #%d (path contains a zero byte)",
                 arg);
  return p;
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

/* A request for a path function on the path at 'arg' ('extra' bytes of
   room after it). */
static Req *path_req(lua_State *L, const char *fname, int arg,
                     size_t extra) {
  size_t n;
  const char *path = check_path(L, fname, arg, &n);
  Req *r;
  corunL_waiter(L, fname);
  r = req_new(L, fname, n + 1 + extra);
  memcpy(r->mem, path, n + 1);
  r->path = r->mem;
  r->path2 = r->mem + n + 1;
  return r;
}

/* --------------------------------------------------------- read_file */

static int push_data(lua_State *L, void *ud) {
  Req *r = ud;
  if (r->status != 0)
    return push_fail(L, r);
  lua_pushlstring(L, r->buf != NULL ? r->buf : "", r->len);
  return 1;
}

static void rf_read(Req *r, ssize_t res) {
  int rc;
  if (res == 0) {  /* end of file */
    settle(r);
    return;
  }
  if (!proceed(r, res))
    return;
  r->len += (size_t)res;
  if (r->len == r->size && (rc = grow(r, r->size * 2)) != 0) {
    r->status = rc;
    settle(r);
    return;
  }
  go(r, do_read(r, r->fd, -1, rf_read));
}

/* Room for the whole file (and one byte more, to see its end at once). */
static void rf_stat(Req *r, ssize_t res) {
  uint64_t size;
  int rc;
  if (!proceed(r, res))
    return;
  size = r->fs.statbuf.st_size;
  if (size >= SIZE_MAX / 4)
    rc = UV_ENOMEM;
  else
    rc = grow(r, size > 0 ? (size_t)size + 1 : CHUNK);
  if (rc != 0) {
    r->status = rc;
    settle(r);
    return;
  }
  go(r, do_read(r, r->fd, -1, rf_read));
}

static void rf_opened(Req *r, ssize_t res) {
  if (res >= 0)
    r->fd = (uv_file)res;
  if (proceed(r, res))
    go(r, do_fstat(r, r->fd, rf_stat));
}

/* corun.fs.read_file(path) -> string, or nil, err */
static int l_read_file(lua_State *L) {
  static const char fname[] = "corun.fs.read_file";
  Req *r = path_req(L, fname, 1, 0);
  r->push = push_data;
  return begin(L, r, fname,
               do_open(r, r->path, UV_FS_O_RDONLY, 0, rf_opened));
}

/* -------------------------------------------------------- write_file */

static void aw_synced(Req *r, ssize_t res);

static void wf_written(Req *r, ssize_t res);

/* Write what is left of the data, then end (atomic: fsync first). */
static void wf_next(Req *r) {
  if (r->len < r->size)
    go(r, do_write(r, r->fd, -1, wf_written));
  else if (r->atomic)
    go(r, do_fsync(r, r->fd, aw_synced));
  else
    settle(r);  /* its close reports a late write error */
}

static void wf_written(Req *r, ssize_t res) {
  if (res == 0)
    res = UV_EIO;  /* no progress: never loop on it */
  if (!proceed(r, res))
    return;
  r->len += (size_t)res;
  wf_next(r);
}

static void wf_opened(Req *r, ssize_t res) {
  if (res >= 0)
    r->fd = (uv_file)res;
  if (proceed(r, res))
    wf_next(r);
}

static void aw_renamed(Req *r, ssize_t res) {
  if (res == 0)
    r->has_temp = 0;  /* it is the target now */
  done(r, res);
}

static void aw_closed(Req *r, ssize_t res) {
  if (proceed(r, res))
    go(r, started(r, uv_fs_rename(r->loop, step(r, aw_renamed), r->path2,
                                  r->path, on_fs)));
}

static void aw_synced(Req *r, ssize_t res) {
  uv_file fd = r->fd;
  if (!proceed(r, res))
    return;
  r->fd = -1;
  go(r, do_close(r, fd, aw_closed));
}

static void aw_moded(Req *r, ssize_t res) {
  if (proceed(r, res))
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
  go(r, do_open(r, r->path2, UV_FS_O_WRONLY | UV_FS_O_CREAT | UV_FS_O_EXCL,
                r->mode, aw_opened));
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
  if (!proceed(r, res))
    return;
  if (r->chmod)
    go(r, started(r, uv_fs_fchmod(r->loop, step(r, aw_moded), r->fd,
                                  r->mode, on_fs)));
  else
    wf_next(r);
}

/* The target's permission bits, if it is a file, go to its replacement. */
static void aw_stat(Req *r, ssize_t res) {
  if (r->orphaned) {
    settle(r);
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
  check_path(L, fname, 1, &len);
  if (lua_type(L, 2) != LUA_TSTRING)
    return corunL_typeerror(L, fname, 2, "string");
  data = lua_tolstring(L, 2, &len);
  atomic = opt_flag(L, fname, 3, "atomic", 0);
  r = path_req(L, fname, 1,
               atomic ? lua_rawlen(L, 1) + 1 + TEMP_EXTRA : 0);
  r->push = push_true;
  r->atomic = atomic;
  r->mode = 0666;
  if (grow(r, len) != 0) {
    req_free(r);
    return corunL_error(L, fname, "not enough memory");
  }
  memcpy(r->buf, data, len);  /* the string may go with a cancelled task */
  if (atomic)
    rc = started(r, uv_fs_stat(r->loop, step(r, aw_stat), r->path, on_fs));
  else
    rc = do_open(r, r->path, UV_FS_O_WRONLY | UV_FS_O_CREAT | UV_FS_O_TRUNC,
                 r->mode, wf_opened);
  return begin(L, r, fname, rc);
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
    return push_fail(L, r);
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
  done(r, res);
}

/* corun.fs.stat(path[, {follow = false}]) -> table, or nil, err */
static int l_stat(lua_State *L) {
  static const char fname[] = "corun.fs.stat";
  int follow, rc;
  Req *r;
  size_t n;
  check_path(L, fname, 1, &n);
  follow = opt_flag(L, fname, 2, "follow", 1);
  r = path_req(L, fname, 1, 0);
  r->push = push_stat;
  if (follow)
    rc = uv_fs_stat(r->loop, step(r, st_done), r->path, on_fs);
  else
    rc = uv_fs_lstat(r->loop, step(r, st_done), r->path, on_fs);
  return begin(L, r, fname, started(r, rc));
}

/* --------------------------------------- list, mkdir, remove, rename */

/* The names libuv's scandir found ("." and ".." are left out). */
static int push_names(lua_State *L, void *ud) {
  Req *r = ud;
  uv_dirent_t ent;
  int i = 0;
  if (r->status != 0)
    return push_fail(L, r);
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
  done(r, res);
}

/* corun.fs.list(dir) -> { name, ... }, or nil, err */
static int l_list(lua_State *L) {
  static const char fname[] = "corun.fs.list";
  Req *r = path_req(L, fname, 1, 0);
  r->push = push_names;
  return begin(L, r, fname, started(r, uv_fs_scandir(r->loop,
               step(r, ls_done), r->path, 0, on_fs)));
}

/* corun.fs.mkdir(path) -> true, or nil, err */
static int l_mkdir(lua_State *L) {
  static const char fname[] = "corun.fs.mkdir";
  Req *r = path_req(L, fname, 1, 0);
  r->push = push_true;
  return begin(L, r, fname, started(r, uv_fs_mkdir(r->loop, step(r, done),
                                                   r->path, 0777, on_fs)));
}

static void rm_rmdired(Req *r, ssize_t res) {
  int first = r->status;  /* what unlink said */
  r->status = 0;
  if (res == UV_ENOTDIR && first == UV_EPERM)
    res = first;  /* not a directory after all: unlink's answer stands */
  done(r, res);
}

/* unlink refuses a directory (EISDIR on Linux, EPERM in POSIX): rmdir. */
static void rm_unlinked(Req *r, ssize_t res) {
  if ((res == UV_EISDIR || res == UV_EPERM) && !r->orphaned) {
    r->status = (int)res;
    go(r, started(r, uv_fs_rmdir(r->loop, step(r, rm_rmdired), r->path,
                                 on_fs)));
    return;
  }
  done(r, res);
}

/* corun.fs.remove(path) -> true, or nil, err */
static int l_remove(lua_State *L) {
  static const char fname[] = "corun.fs.remove";
  Req *r = path_req(L, fname, 1, 0);
  r->push = push_true;
  return begin(L, r, fname, started(r, uv_fs_unlink(r->loop,
               step(r, rm_unlinked), r->path, on_fs)));
}

/* corun.fs.rename(from, to) -> true, or nil, err */
static int l_rename(lua_State *L) {
  static const char fname[] = "corun.fs.rename";
  size_t n;
  const char *to;
  Req *r;
  check_path(L, fname, 1, &n);
  to = check_path(L, fname, 2, &n);
  r = path_req(L, fname, 1, n + 1);
  memcpy(r->path2, to, n + 1);
  r->is_rename = 1;
  r->push = push_true;
  return begin(L, r, fname, started(r, uv_fs_rename(r->loop,
               step(r, done), r->path, r->path2, on_fs)));
}

/* -------------------------------------------------------- corun.File */

static void file_closed(uv_fs_t *fs) {
  File *f = fs->data;
  uv_fs_req_cleanup(fs);
  free(f);
}

/* Nothing is under way any more: close the descriptor, then free. */
static void file_release(File *f) {
  corun__io_done(&f->io);
  f->close_req.data = f;
  if (uv_fs_close(f->loop, &f->close_req, f->fd, file_closed) != 0)
    free(f);
}

/* The close of io.h: operations still queued end now (their tasks find
   the file closed); the one in flight ends first (forced: cancelled). */
static void file_close(corun_Io *io, int force) {
  File *f = (File *)io;
  corun_Link *l;
  while ((l = corun__link_first(&f->queue)) != NULL) {
    Req *r = corun__container_of(l, Req, queue);
    corun__link_remove(l);
    if (!r->orphaned)
      corun_wake(f->rt->S, r->w, 0);  /* no values: k_op says closed */
    req_free(r);
  }
  if (f->inflight == NULL)
    file_release(f);
  else if (force && f->inflight->busy)
    uv_cancel((uv_req_t *)&f->inflight->fs);
  /* else op_done releases it */
}

static int op_start(Req *r);

/* Take the first live operation off f's queue and start it; it is
   returned if it ended at once (to be answered), NULL otherwise. */
static Req *op_next(File *f) {
  corun_Link *l;
  while ((l = corun__link_first(&f->queue)) != NULL) {
    Req *r = corun__container_of(l, Req, queue);
    corun__link_remove(l);
    if (r->orphaned) {  /* its wait could not be prepared */
      req_free(r);
      continue;
    }
    f->inflight = r;
    return op_start(r) ? NULL : r;
  }
  return NULL;
}

/* Operation 'r' of its file is over: answer its task, start the next
   ones; release a file that was closed meanwhile.  The file counts as
   busy while an answer is made: a collection that closes it then only
   marks it. */
static void op_done(Req *r) {
  File *f = r->file;
  while (r != NULL) {
    if (!r->orphaned)
      corunL_io_wake(f->rt, r->w, r->push, r);
    f->inflight = NULL;
    req_free(r);
    r = op_next(f);
  }
  if (f->io.closing && f->inflight == NULL)
    file_release(f);
}

/* The file's position plus 'delta' in r->off; 0, or a libuv error. */
static int seek_to(Req *r, int64_t base) {
  int64_t off = r->off;
  if (!r->file->seekable)
    return UV_ESPIPE;
  if ((off > 0 && base > INT64_MAX - off) || base + off < 0)
    return UV_EINVAL;
  r->off = base + off;
  return 0;
}

static void op_ended(Req *r, ssize_t res) {
  if (res < 0)
    r->status = (int)res;
  op_done(r);
}

static void op_sought(Req *r, ssize_t res) {
  if (res < 0)
    r->status = (int)res;
  else
    r->status = seek_to(r, (int64_t)r->fs.statbuf.st_size);
  op_done(r);
}

static void op_at_end(Req *r, ssize_t res) {
  if (res < 0)
    r->status = (int)res;
  else
    r->off = (int64_t)r->fs.statbuf.st_size;
  op_done(r);
}

static void op_got(Req *r, ssize_t res);

/* Read at the file's position (plus what this read got so far). */
static int op_read(Req *r) {
  File *f = r->file;
  if (r->len == r->size) {
    size_t n = r->size == 0 ? CHUNK : r->size * 2;
    if (grow(r, n < r->want ? n : r->want) != 0)
      return UV_ENOMEM;
  }
  return do_read(r, f->fd, f->seekable ? f->pos + (int64_t)r->len : -1,
                 op_got);
}

/* A read step ended: go on until 'want' bytes or the end of the file
   (what is there, for a pipe or a terminal asked for 'n' bytes). */
static void op_got(Req *r, ssize_t res) {
  if (res < 0)
    r->status = (int)res;
  else if (res > 0) {
    r->len += (size_t)res;
    if (!r->orphaned && r->len < r->want &&
        (r->file->seekable || r->want == SIZE_MAX)) {
      int rc = op_read(r);
      if (rc == 0)
        return;
      r->status = rc;
    }
  }
  op_done(r);
}

static void op_wrote(Req *r, ssize_t res);

static int op_write(Req *r) {
  File *f = r->file;
  int64_t off = f->append || !f->seekable ? -1 : f->pos + (int64_t)r->len;
  return do_write(r, f->fd, off, op_wrote);
}

static void op_wrote(Req *r, ssize_t res) {
  File *f = r->file;
  int rc = 0;
  if (res == 0)
    res = UV_EIO;  /* no progress: never loop on it */
  if (res < 0)
    rc = (int)res;
  else {
    r->len += (size_t)res;  /* orphaned: stop, nobody waits for the rest */
    if (!r->orphaned && r->len < r->size)
      rc = op_write(r);
    else if (!r->orphaned && f->append && f->seekable)  /* the end now? */
      rc = do_fstat(r, f->fd, op_at_end);
    if (rc == 0 && r->busy)
      return;
  }
  r->status = rc;
  op_done(r);
}

/* Start operation 'r' (its file's inflight): 1 if a step is in flight;
   0 if it ended at once (r->status, r->off say how). */
static int op_start(Req *r) {
  File *f = r->file;
  int rc;
  switch (r->kind) {
    case OP_READ:
      rc = op_read(r);
      break;
    case OP_WRITE:
      if (r->size == 0)
        return 0;
      rc = op_write(r);
      break;
    case OP_SYNC:
      rc = do_fsync(r, f->fd, op_ended);
      break;
    default:  /* OP_SEEK */
      if (r->whence == SEEK_END && f->seekable) {
        rc = do_fstat(r, f->fd, op_sought);
        break;
      }
      r->status = seek_to(r, r->whence == SEEK_SET ? 0 : f->pos);
      return 0;
  }
  if (rc < 0) {
    r->status = rc;
    return 0;
  }
  return 1;
}

static int push_read(lua_State *L, void *ud) {
  Req *r = ud;
  if (r->status != 0)
    return push_fail(L, r);
  if (r->len == 0)
    lua_pushnil(L);  /* end of file */
  else {
    lua_pushlstring(L, r->buf, r->len);
    r->file->pos += (int64_t)r->len;
  }
  return 1;
}

static int push_wrote(lua_State *L, void *ud) {
  Req *r = ud;
  File *f = r->file;
  if (r->status != 0)
    return push_fail(L, r);
  if (f->append && f->seekable)
    f->pos = r->off;
  else
    f->pos += (int64_t)r->len;
  lua_pushboolean(L, 1);
  return 1;
}

static int push_pos(lua_State *L, void *ud) {
  Req *r = ud;
  if (r->status != 0)
    return push_fail(L, r);
  r->file->pos = r->off;
  lua_pushinteger(L, (lua_Integer)r->off);
  return 1;
}

/* After a file's wait: its values, or none if the file was closed while
   the operation was queued.  A light userdata on top is corun_wait's mark
   of an error wake (corunL_io_wake out of memory): raise it. */
static int k_op(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  corun__wait_check(L, (int)ctx);  /* woken with an error: raise it */
  if (lua_gettop(L) > (int)ctx)
    return lua_gettop(L) - (int)ctx;
  return corunL_io_fail(L, UV_ECANCELED, "the file was closed");
}

/* Run operation 'r' of its file: now if the file is idle, else after the
   operations before it.  Its task waits for the answer, unless it ended
   at once. */
static int op_run(lua_State *L, Req *r, const char *fname) {
  File *f = r->file;
  if (f->inflight == NULL && !corun__link_linked(&f->queue)) {
    f->inflight = r;
    if (op_start(r) == 0) {  /* ended at once: an error, a seek, "" */
      int status = r->status, kind = r->kind;
      int64_t pos = r->off;
      f->inflight = NULL;
      req_free(r);
      if (status != 0)
        return corunL_io_fail(L, status, "%s", f->path);
      if (kind == OP_SEEK) {
        f->pos = pos;
        lua_pushinteger(L, (lua_Integer)pos);
      }
      else
        lua_pushboolean(L, 1);
      return 1;
    }
  }
  else
    corun__link_append(&f->queue, &r->queue);
  r->orphaned = 1;  /* if the wait cannot be prepared: freed unanswered */
  r->w = corunL_io_prepare(L, fname, cancel_req, r);
  r->orphaned = 0;
  lua_settop(L, 1);  /* the file stays reachable while it works */
  return corun__wait_k(L, r->w, 1, k_op);
}

static File *check_file(lua_State *L, const char *fname) {
  return (File *)corunL_io_check(L, fname, CORUN_FILE, "file");
}

static Req *op_new(lua_State *L, const char *fname, File *f, int kind) {
  Req *r;
  corunL_waiter(L, fname);
  r = req_new(L, fname, 0);
  r->file = f;
  r->kind = kind;
  return r;
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

/* file:read([n]) -> up to n bytes (default: the rest), nil at the end of
   the file, or nil, err */
static int f_read(lua_State *L) {
  static const char fname[] = "file:read";
  File *f = check_file(L, fname);
  lua_Integer n = opt_integer(L, fname, 2, LUA_MAXINTEGER);
  Req *r;
  if (n < 1)
    return corunL_error(L, fname, "bad argument #2 (at least 1 byte, got "
                        "%I)", (LUAI_UACINT)n);
  r = op_new(L, fname, f, OP_READ);
  r->want = n == LUA_MAXINTEGER || (lua_Unsigned)n >= SIZE_MAX
             ? SIZE_MAX : (size_t)n;
  r->push = push_read;
  return op_run(L, r, fname);
}

/* file:write(data) -> true, or nil, err */
static int f_write(lua_State *L) {
  static const char fname[] = "file:write";
  File *f = check_file(L, fname);
  size_t len;
  const char *data;
  Req *r;
  if (lua_type(L, 2) != LUA_TSTRING)
    return corunL_typeerror(L, fname, 2, "string");
  data = lua_tolstring(L, 2, &len);
  r = op_new(L, fname, f, OP_WRITE);
  r->push = push_wrote;
  if (grow(r, len) != 0) {
    req_free(r);
    return corunL_error(L, fname, "not enough memory");
  }
  memcpy(r->buf, data, len);  /* the string may go with a cancelled task */
  return op_run(L, r, fname);
}

/* file:seek([whence[, offset]]) -> the new position, or nil, err */
static int f_seek(lua_State *L) {
  static const char fname[] = "file:seek";
  static const char *const names[] = {"set", "cur", "end", NULL};
  static const int whences[] = {SEEK_SET, SEEK_CUR, SEEK_END};
  File *f = check_file(L, fname);
  const char *name = "cur";
  lua_Integer off;
  Req *r;
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
  r = op_new(L, fname, f, OP_SEEK);
  r->whence = whences[i];
  r->off = (int64_t)off;
  r->push = push_pos;
  return op_run(L, r, fname);
}

/* file:sync() -> true, or nil, err: the data is on the device. */
static int f_sync(lua_State *L) {
  static const char fname[] = "file:sync";
  File *f = check_file(L, fname);
  Req *r = op_new(L, fname, f, OP_SYNC);
  r->push = push_true;
  return op_run(L, r, fname);
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
  File *f = (File *)corunL_io_peek(L, "file:__tostring", CORUN_FILE);
  if (f == NULL)
    lua_pushliteral(L, "corun.File (closed)");
  else
    lua_pushfstring(L, "corun.File (%s)", f->path);
  return 1;
}

/* -------------------------------------------------------------- open */

static int push_file(lua_State *L, void *ud) {
  Req *r = ud;
  size_t n = strlen(r->path);
  File *f;
  int mode;
  if (r->status != 0)
    return push_fail(L, r);
  if ((f = calloc(1, sizeof *f + n + 1)) == NULL) {
    r->status = UV_ENOMEM;
    return push_fail(L, r);
  }
  memcpy(f->path, r->path, n + 1);
  f->rt = r->rt;
  f->loop = r->loop;
  f->fd = r->fd;
  r->fd = -1;  /* the file owns it now */
  mode = (int)(r->st.st_mode & S_IFMT);
  f->seekable = mode == S_IFREG || mode == S_IFBLK;
  f->append = (r->flags & UV_FS_O_APPEND) != 0;
  if (f->append && (r->flags & UV_FS_O_RDWR) == 0)
    f->pos = (int64_t)r->st.st_size;  /* "a": at the end, as io.open */
  corun__link_init(&f->queue);
  corun__io_open_pending(r->rt, &f->io, corun__waker_task(r->rt, r->w),
                         file_close);
  corunL_io_push(L, &f->io, CORUN_FILE);
  return 1;
}

static void open_stat(Req *r, ssize_t res) {
  if (res == 0)
    r->st = r->fs.statbuf;
  if (proceed(r, res))
    answer(r);  /* the file takes the descriptor */
}

static void open_opened(Req *r, ssize_t res) {
  if (res >= 0)
    r->fd = (uv_file)res;
  if (proceed(r, res))
    go(r, do_fstat(r, r->fd, open_stat));
}

/* io.open's modes: r w a, then an optional +, then any b; -1 if not. */
static int open_flags(const char *mode) {
  int flags;
  switch (*mode++) {
    case 'r': flags = UV_FS_O_RDONLY; break;
    case 'w': flags = UV_FS_O_WRONLY | UV_FS_O_CREAT | UV_FS_O_TRUNC; break;
    case 'a': flags = UV_FS_O_WRONLY | UV_FS_O_CREAT | UV_FS_O_APPEND; break;
    default: return -1;
  }
  if (*mode == '+') {
    mode++;
    flags = (flags & ~(UV_FS_O_RDONLY | UV_FS_O_WRONLY)) | UV_FS_O_RDWR;
  }
  if (strspn(mode, "b") != strlen(mode))
    return -1;
  return flags;
}

/* corun.fs.open(path[, mode]) -> file, or nil, err */
static int l_open(lua_State *L) {
  static const char fname[] = "corun.fs.open";
  const char *mode = "r";
  size_t n;
  int flags;
  Req *r;
  check_path(L, fname, 1, &n);
  if (!lua_isnoneornil(L, 2)) {
    if (lua_type(L, 2) != LUA_TSTRING)
      return corunL_typeerror(L, fname, 2, "string");
    mode = lua_tostring(L, 2);
  }
  if ((flags = open_flags(mode)) < 0)
    return corunL_error(L, fname, "bad argument #2 (invalid mode '%s')",
                        mode);
  r = path_req(L, fname, 1, 0);
  r->push = push_file;
  r->flags = flags;
  return begin(L, r, fname, do_open(r, r->path, flags, 0666, open_opened));
}

/* ------------------------------------------------------------ module */

static const luaL_Reg file_methods[] = {
  {"read", f_read}, {"write", f_write}, {"seek", f_seek}, {"sync", f_sync},
  {"close", f_close}, {NULL, NULL}
};

static const luaL_Reg file_meta[] = {
  {"__tostring", f_tostring}, {NULL, NULL}
};

static const luaL_Reg fs_functions[] = {
  {"read_file", l_read_file}, {"write_file", l_write_file},
  {"stat", l_stat}, {"list", l_list}, {"mkdir", l_mkdir},
  {"remove", l_remove}, {"rename", l_rename}, {"open", l_open},
  {NULL, NULL}
};

void corunL_open_fs(lua_State *L) {
  corun__state(L);                  /* module state */
  corunL_io_newclass(L, CORUN_FILE, file_methods, file_meta);
  lua_newtable(L);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, fs_functions, 1);
  lua_setfield(L, -3, "fs");
  lua_pop(L, 1);
}
