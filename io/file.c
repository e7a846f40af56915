/*
** file.c - corun.File and corun.fs.open (file.h), on the requests of
** fsreq.h (the path functions of corun.fs are in fs.c).  The bindings
** (bindings/file.c) register the class and call the operations below.
**
** A corun.File (an I/O object, io.h) runs its operations one at a time, in
** call order: one is in flight, the others wait in its queue.  Each
** operation is a request record (corun_FsReq, fsreq.h) whose 'file' is
** the file.  The file keeps its own position and reads and writes at it
** (pread, pwrite), moving it only when an answer is delivered: an
** operation that was cancelled leaves the position alone, and one still in
** flight never races the next.  Closing waits for the operation in flight,
** then closes the descriptor (uv_fs_close, whose callback frees the file).
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <lauxlib.h>
#include "file.h"
#include "fsreq.h"

/* A corun.File; its requests' messages name its path. */
struct corun_File {
  corun_Io io;            /* first: the object's life (io.h) */
  uv_fs_t close_req;      /* closes 'fd' at the end */
  corun_Runtime *rt;      /* borrows: valid while open */
  uv_loop_t *loop;        /* borrows: outlives the file */
  uv_file fd;             /* owns */
  int64_t pos;            /* where the next read or write goes */
  int append;             /* "a" modes: every write goes to the end */
  int seekable;           /* a regular file or a block device: reads and
                             writes at 'pos'; else at the OS's position */
  corun_FsReq *inflight;  /* the operation under way, or NULL */
  corun_Link queue;       /* operations waiting their turn
                             (corun_FsReq.queue) */
  char path[];            /* as given to open, for messages */
};

/* Operations of a corun.File (corun_FsReq.kind). */
enum { OP_READ, OP_WRITE, OP_SEEK, OP_SYNC };

/* -------------------------------------------------------- corun.File */

static void file_closed(uv_fs_t *fs) {
  corun_File *f = fs->data;
  uv_fs_req_cleanup(fs);
  free(f);
}

/* Nothing is under way any more: close the descriptor, then free. */
static void file_release(corun_File *f) {
  corun__io_done(&f->io);
  f->close_req.data = f;
  if (uv_fs_close(f->loop, &f->close_req, f->fd, file_closed) != 0)
    free(f);
}

/* The close of io.h: operations still queued end now (their tasks find
   the file closed); the one in flight ends first (forced: cancelled). */
static void file_close(corun_Io *io, int force) {
  corun_File *f = corun__file_of(io);
  corun_Link *l;
  while ((l = corun__link_first(&f->queue)) != NULL) {
    corun_FsReq *r = corun__container_of(l, corun_FsReq, queue);
    corun__link_remove(l);
    if (!r->orphaned)
      corun_wake(f->rt->S, r->w, 0);  /* no values: k_op says closed */
    corun__fsreq_free(r);
  }
  if (f->inflight == NULL)
    file_release(f);
  else if (force && f->inflight->busy)
    uv_cancel((uv_req_t *)&f->inflight->fs);
  /* else op_done releases it */
}

static int op_start(corun_FsReq *r);

/* Take the first live operation off f's queue and start it; it is
   returned if it ended at once (to be answered), NULL otherwise. */
static corun_FsReq *op_next(corun_File *f) {
  corun_Link *l;
  while ((l = corun__link_first(&f->queue)) != NULL) {
    corun_FsReq *r = corun__container_of(l, corun_FsReq, queue);
    corun__link_remove(l);
    if (r->orphaned) {  /* its wait could not be prepared */
      corun__fsreq_free(r);
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
static void op_done(corun_FsReq *r) {
  corun_File *f = r->file;
  while (r != NULL) {
    if (!r->orphaned)
      corun__io_wake(f->rt, r->w, r->push, r);
    f->inflight = NULL;
    corun__fsreq_free(r);
    r = op_next(f);
  }
  if (f->io.closing && f->inflight == NULL)
    file_release(f);
}

/* 'base' plus the offset in r->off, in r->off; 0, or a libuv error. */
static int seek_to(corun_FsReq *r, int64_t base) {
  int64_t off = r->off;
  if (!r->file->seekable)
    return UV_ESPIPE;
  if ((off > 0 && base > INT64_MAX - off) || base + off < 0)
    return UV_EINVAL;
  r->off = base + off;
  return 0;
}

static void op_ended(corun_FsReq *r, ssize_t res) {
  if (res < 0)
    r->status = (int)res;
  op_done(r);
}

static void op_sought(corun_FsReq *r, ssize_t res) {
  if (res < 0)
    r->status = (int)res;
  else
    r->status = seek_to(r, (int64_t)r->fs.statbuf.st_size);
  op_done(r);
}

static void op_at_end(corun_FsReq *r, ssize_t res) {
  if (res < 0)
    r->status = (int)res;
  else
    r->off = (int64_t)r->fs.statbuf.st_size;
  op_done(r);
}

static void op_got(corun_FsReq *r, ssize_t res);

/* Read at the file's position (plus what this read got so far). */
static int op_read(corun_FsReq *r) {
  corun_File *f = r->file;
  if (r->len == r->size) {
    size_t n = r->size == 0 ? CORUN_FS_CHUNK : r->size * 2;
    if (corun__fsreq_grow(r, n < r->want ? n : r->want) != 0)
      return UV_ENOMEM;
  }
  return corun__fsreq_read(r, f->fd,
                           f->seekable ? f->pos + (int64_t)r->len : -1,
                           op_got);
}

/* A read step ended: go on until 'want' bytes or the end of the file
   (what is there, for a pipe or a terminal asked for 'n' bytes). */
static void op_got(corun_FsReq *r, ssize_t res) {
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

static void op_wrote(corun_FsReq *r, ssize_t res);

static int op_write(corun_FsReq *r) {
  corun_File *f = r->file;
  int64_t off = f->append || !f->seekable ? -1 : f->pos + (int64_t)r->len;
  return corun__fsreq_write(r, f->fd, off, op_wrote);
}

static void op_wrote(corun_FsReq *r, ssize_t res) {
  corun_File *f = r->file;
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
      rc = corun__fsreq_fstat(r, f->fd, op_at_end);
    if (rc == 0 && r->busy)
      return;
  }
  r->status = rc;
  op_done(r);
}

/* Start operation 'r' (its file's inflight): 1 if a step is in flight;
   0 if it ended at once (r->status, r->off say how). */
static int op_start(corun_FsReq *r) {
  corun_File *f = r->file;
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
      rc = corun__fsreq_fsync(r, f->fd, op_ended);
      break;
    default:  /* OP_SEEK */
      if (r->whence == SEEK_END && f->seekable) {
        rc = corun__fsreq_fstat(r, f->fd, op_sought);
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
  corun_FsReq *r = ud;
  if (r->status != 0)
    return corun__fsreq_push_fail(L, r);
  if (r->len == 0)
    lua_pushnil(L);  /* end of file */
  else {
    lua_pushlstring(L, r->buf, r->len);
    r->file->pos += (int64_t)r->len;
  }
  return 1;
}

static int push_wrote(lua_State *L, void *ud) {
  corun_FsReq *r = ud;
  corun_File *f = r->file;
  if (r->status != 0)
    return corun__fsreq_push_fail(L, r);
  if (f->append && f->seekable)
    f->pos = r->off;
  else
    f->pos += (int64_t)r->len;
  lua_pushboolean(L, 1);
  return 1;
}

static int push_pos(lua_State *L, void *ud) {
  corun_FsReq *r = ud;
  if (r->status != 0)
    return corun__fsreq_push_fail(L, r);
  r->file->pos = r->off;
  lua_pushinteger(L, (lua_Integer)r->off);
  return 1;
}

/* After a file's wait: its values, or none if the file was closed while
   the operation was queued.  A light userdata on top is corun_wait's mark
   of an error wake (corun__io_wake out of memory): raise it. */
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
static int op_run(lua_State *L, corun_FsReq *r, const char *fname) {
  corun_File *f = r->file;
  if (f->inflight == NULL && !corun__link_linked(&f->queue)) {
    f->inflight = r;
    if (op_start(r) == 0) {  /* ended at once: an error, a seek, "" */
      int status = r->status, kind = r->kind;
      int64_t pos = r->off;
      f->inflight = NULL;
      corun__fsreq_free(r);
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
  r->w = corun__io_prepare(L, fname, corun__fsreq_cancel, r);
  r->orphaned = 0;
  lua_settop(L, 1);  /* the file stays reachable while it works */
  return corun__wait_k(L, r->w, 1, k_op);
}

/* A new operation of kind 'kind' on file 'f', for the running task;
   raises "fname: not enough memory". */
static corun_FsReq *op_new(lua_State *L, const char *fname, corun_File *f,
                           int kind) {
  corun_FsReq *r = corun__fsreq_new(L, fname, 0);
  r->file = f;
  r->path = f->path;  /* for messages */
  r->kind = kind;
  return r;
}

corun_File *corun__file_of(corun_Io *io) {
  return corun__container_of(io, corun_File, io);
}

const char *corun__file_path(const corun_File *f) {
  return f->path;
}

/* file:read: up to 'want' bytes at the file's position (see file.h). */
int corun__file_read(lua_State *L, const char *fname, corun_File *f,
                     size_t want) {
  corun_FsReq *r = op_new(L, fname, f, OP_READ);
  r->want = want;
  r->push = push_read;
  return op_run(L, r, fname);
}

/* file:write: the 'len' bytes at 'data' (see file.h). */
int corun__file_write(lua_State *L, const char *fname, corun_File *f,
                      const char *data, size_t len) {
  corun_FsReq *r = op_new(L, fname, f, OP_WRITE);
  r->push = push_wrote;
  if (corun__fsreq_grow(r, len) != 0) {
    corun__fsreq_free(r);
    return corun__error(L, fname, "not enough memory");
  }
  memcpy(r->buf, data, len);  /* the string may go with a cancelled task */
  return op_run(L, r, fname);
}

/* file:seek: to 'off' from 'whence' (see file.h). */
int corun__file_seek(lua_State *L, const char *fname, corun_File *f,
                     int whence, int64_t off) {
  corun_FsReq *r = op_new(L, fname, f, OP_SEEK);
  r->whence = whence;
  r->off = off;
  r->push = push_pos;
  return op_run(L, r, fname);
}

/* file:sync: fsync (see file.h). */
int corun__file_sync(lua_State *L, const char *fname, corun_File *f) {
  corun_FsReq *r = op_new(L, fname, f, OP_SYNC);
  r->push = corun__fsreq_push_true;
  return op_run(L, r, fname);
}

/* -------------------------------------------------------------- open */

static int push_file(lua_State *L, void *ud) {
  corun_FsReq *r = ud;
  size_t n = strlen(r->path);
  corun_File *f;
  int mode;
  if (r->status != 0)
    return corun__fsreq_push_fail(L, r);
  if ((f = calloc(1, sizeof *f + n + 1)) == NULL) {
    r->status = UV_ENOMEM;
    return corun__fsreq_push_fail(L, r);
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

static void open_stat(corun_FsReq *r, ssize_t res) {
  if (res == 0)
    r->st = r->fs.statbuf;
  if (corun__fsreq_proceed(r, res))
    corun__fsreq_answer(r);  /* the file takes the descriptor */
}

static void open_opened(corun_FsReq *r, ssize_t res) {
  if (res >= 0)
    r->fd = (uv_file)res;
  if (corun__fsreq_proceed(r, res))
    corun__fsreq_go(r, corun__fsreq_fstat(r, r->fd, open_stat));
}

/* io.open's modes: r w a, then an optional +, then any b; -1 if not. */
int corun__file_flags(const char *mode) {
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

/* corun.fs.open: open, fstat, then the file is made (see file.h). */
int corun__file_open(lua_State *L, const char *fname, const char *path,
                     size_t len, int flags) {
  corun_FsReq *r = corun__fsreq_path(L, fname, path, len, 0);
  r->push = push_file;
  r->flags = flags;
  return corun__fsreq_begin(L, r, fname, corun__fsreq_open(r, r->path,
                            flags, 0666, open_opened));
}
