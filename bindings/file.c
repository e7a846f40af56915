/*
** file.c - corun.File and corun.fs.open, on the requests of fsreq.h (the
** path functions of corun.fs are in fs.c, whose corunL_open_fs adds what
** this file registers).
**
** A corun.File (an I/O object, io.h) runs its operations one at a time, in
** call order: one is in flight, the others wait in its queue.  Each
** operation is a request record (Req, fsreq.h) whose 'file' is the file.
** The file keeps its own position and reads and writes at it (pread,
** pwrite), moving it only when an answer is delivered: an operation that
** was cancelled leaves the position alone, and one still in flight never
** races the next.  Closing waits for the operation in flight, then closes
** the descriptor (uv_fs_close, whose callback frees the file).
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <lauxlib.h>
#include "fsreq.h"

#define CORUN_FILE "corun.File"

/* Operations of a corun.File (Req.kind). */
enum { OP_READ, OP_WRITE, OP_SEEK, OP_SYNC };

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
    corunL_fs_req_free(r);
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
      corunL_fs_req_free(r);
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
      corun__io_wake(f->rt, r->w, r->push, r);
    f->inflight = NULL;
    corunL_fs_req_free(r);
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
    if (corunL_fs_grow(r, n < r->want ? n : r->want) != 0)
      return UV_ENOMEM;
  }
  return corunL_fs_do_read(r, f->fd,
                           f->seekable ? f->pos + (int64_t)r->len : -1,
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
  return corunL_fs_do_write(r, f->fd, off, op_wrote);
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
      rc = corunL_fs_do_fstat(r, f->fd, op_at_end);
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
      rc = corunL_fs_do_fsync(r, f->fd, op_ended);
      break;
    default:  /* OP_SEEK */
      if (r->whence == SEEK_END && f->seekable) {
        rc = corunL_fs_do_fstat(r, f->fd, op_sought);
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
    return corunL_fs_push_fail(L, r);
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
    return corunL_fs_push_fail(L, r);
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
    return corunL_fs_push_fail(L, r);
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
  return corun__io_fail(L, UV_ECANCELED, "the file was closed");
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
      corunL_fs_req_free(r);
      if (status != 0)
        return corun__io_fail(L, status, "%s", f->path);
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
  r->w = corun__io_prepare(L, fname, corunL_fs_cancel_req, r);
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
  r = corunL_fs_req_new(L, fname, 0);
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
  if (corunL_fs_grow(r, len) != 0) {
    corunL_fs_req_free(r);
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
  r->push = corunL_fs_push_true;
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
    return corunL_fs_push_fail(L, r);
  if ((f = calloc(1, sizeof *f + n + 1)) == NULL) {
    r->status = UV_ENOMEM;
    return corunL_fs_push_fail(L, r);
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
  corun__io_push(L, &f->io, CORUN_FILE);
  return 1;
}

static void open_stat(Req *r, ssize_t res) {
  if (res == 0)
    r->st = r->fs.statbuf;
  if (corunL_fs_proceed(r, res))
    corunL_fs_answer(r);  /* the file takes the descriptor */
}

static void open_opened(Req *r, ssize_t res) {
  if (res >= 0)
    r->fd = (uv_file)res;
  if (corunL_fs_proceed(r, res))
    corunL_fs_go(r, corunL_fs_do_fstat(r, r->fd, open_stat));
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
  corunL_fs_check_path(L, fname, 1, &n);
  if (!lua_isnoneornil(L, 2)) {
    if (lua_type(L, 2) != LUA_TSTRING)
      return corunL_typeerror(L, fname, 2, "string");
    mode = lua_tostring(L, 2);
  }
  if ((flags = open_flags(mode)) < 0)
    return corunL_error(L, fname, "bad argument #2 (invalid mode '%s')",
                        mode);
  r = corunL_fs_path_req(L, fname, 1, 0);
  r->push = push_file;
  r->flags = flags;
  return corunL_fs_begin(L, r, fname, corunL_fs_do_open(r, r->path, flags,
                         0666, open_opened));
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
