/*
** stdio.c - corun.io.stdin/stdout/stderr (stdio.h).
**
** A corun.StdFile runs one request at a time on its descriptor: a read
** of up to READ_CHUNK bytes into its read-ahead buffer, or a write of
** what one write call gave (repeated until all of it is written).  A
** read's bytes always go to the buffer, whether or not its task still
** waits: a task cancelled while it reads loses nothing, the next read
** finds them.  A write whose task stopped waiting still goes out whole
** (its bytes were taken).  Closing leaves the descriptor open; with a
** request in flight, the file is freed by the request's callback, which
** touches nothing else then (the runtime may be gone).
*/
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "stdio.h"
#include "stream.h"

#define READ_CHUNK 65536            /* bytes asked of each read */
#define LINE_MAX_BYTES (1024 * 1024) /* longest line read_line accepts */

/* The request in flight. */
typedef struct Op {
  uv_fs_t fs;             /* the libuv request (fs.data: this) */
  corun_StdFile *f;       /* borrows: the file frees only after it */
  int write;              /* a write (else a read into 'data') */
  size_t len;             /* bytes in 'data' (a write), room (a read) */
  size_t done;            /* bytes written so far */
  char data[];            /* owns: the bytes */
} Op;

struct corun_StdFile {
  corun_Io io;            /* first: the object's life (io.h) */
  corun_Runtime *rt;      /* borrows: valid while open */
  uv_loop_t *loop;        /* borrows: outlives the file's requests */
  int fd;                 /* borrows: a standard descriptor, never
                             closed here */
  Op *op;                 /* owns until its callback: the request in
                             flight, or NULL */
  corun_Waker waiter;     /* the task waiting for 'op', or 0 */
  char *buf;              /* owns: bytes read, not returned yet */
  size_t len;             /* bytes in 'buf' */
  size_t cap;             /* size of 'buf' */
  int eof;                /* a read found the end of the file */
  int rerr;               /* a read failed (libuv code), sticky */
  int werr;               /* a write failed (libuv code), sticky */
};

/* A wake with no values: the continuation looks at the file. */
static int push_nothing(lua_State *L, void *ud) {
  (void)L; (void)ud;
  return 0;
}

/* The file boxed at index 1, or NULL if it was closed. */
static corun_StdFile *self_of(lua_State *L) {
  return (corun_StdFile *)*(corun_Io **)lua_touserdata(L, 1);
}

static const char *const fd_names[] = {"stdin", "stdout", "stderr"};

/* ------------------------------------------------------------ life */

static void release(corun_StdFile *f) {
  corun__io_done(&f->io);
  free(f->buf);
  free(f);
}

/* The file's close (corun_Io.close): at once if nothing is in flight;
   else the request's callback frees it (a forced close cancels a
   request not started yet).  Whoever waits finds it closed. */
static void stdfile_close(corun_Io *io, int force) {
  corun_StdFile *f = (corun_StdFile *)io;
  corun__io_wake_slot(f->rt, &f->waiter, push_nothing, NULL);
  if (f->op == NULL)
    release(f);
  else if (force)
    uv_cancel((uv_req_t *)&f->op->fs);  /* fails if it runs: it ends */
}

static int start(corun_StdFile *f, Op *op);

/* The request in flight ended: keep what it read, or go on writing;
   then wake the waiter, or free a file closed meanwhile. */
static void on_fs(uv_fs_t *req) {
  Op *op = req->data;
  corun_StdFile *f = op->f;
  ssize_t res = req->result;
  uv_fs_req_cleanup(req);
  if (!op->write) {
    if (res > 0 && f->cap - f->len < (size_t)res) {
      size_t want = f->len + (size_t)res;
      char *p = realloc(f->buf, want > f->cap * 2 ? want : f->cap * 2);
      if (p == NULL)
        res = UV_ENOMEM;
      else {
        f->buf = p;
        f->cap = want > f->cap * 2 ? want : f->cap * 2;
      }
    }
    if (res > 0) {
      memcpy(f->buf + f->len, op->data, (size_t)res);
      f->len += (size_t)res;
    }
    else if (res == 0)
      f->eof = 1;
    else if (f->rerr == 0)
      f->rerr = (int)res;
  }
  else {
    if (res == 0)
      res = UV_EIO;  /* no progress: never loop on it */
    if (res < 0) {
      if (f->werr == 0)
        f->werr = (int)res;
    }
    else if ((op->done += (size_t)res) < op->len &&
             f->io.closing < 2 && start(f, op) == 0)
      return;  /* the rest of it */
  }
  f->op = NULL;
  free(op);
  if (f->io.closing) {
    release(f);
    return;
  }
  corun__io_wake_slot(f->rt, &f->waiter, push_nothing, NULL);
}

/* Start 'op' (the rest of a write) at the descriptor's position: 0, or
   libuv's error. */
static int start(corun_StdFile *f, Op *op) {
  uv_buf_t buf;
  int rc;
  op->fs.data = op;
  if (op->write) {
    buf = uv_buf_init(op->data + op->done, (unsigned)(op->len - op->done));
    rc = uv_fs_write(f->loop, &op->fs, f->fd, &buf, 1, -1, on_fs);
  }
  else {
    buf = uv_buf_init(op->data, (unsigned)op->len);
    rc = uv_fs_read(f->loop, &op->fs, f->fd, &buf, 1, -1, on_fs);
  }
  if (rc == 0)
    f->op = op;
  return rc;
}

int corun__stdio_open(lua_State *L, const char *fname, corun_Task *self,
                      int fd) {
  corun_StdFile *f;
  corun_Stream *s;
  int rc;
  (void)fname;  /* fails with results, never raises its own */
  switch (uv_guess_handle(fd)) {
  case UV_TTY:
  case UV_NAMED_PIPE:
  case UV_TCP:
    s = corun__stream_open_fd(self->rt, fd, uv_guess_handle(fd) == UV_TTY
                              ? CORUN_STREAM_TTY : CORUN_STREAM_PIPE, &rc);
    if (s == NULL)
      return corun__io_fail(L, rc, "%s", fd_names[fd]);
    corun__stream_push(L, s, self);
    return 1;
  case UV_FILE:
    break;
  case UV_UDP:
    return corun__io_fail(L, UV_ENOTSUP, "%s is a datagram socket",
                          fd_names[fd]);
  default:  /* not open, or neither a file nor a stream */
    return corun__io_fail(L, UV_EBADF, "%s is not open, or not a file or "
                          "a stream", fd_names[fd]);
  }
  if ((f = calloc(1, sizeof *f)) == NULL)
    return corun__io_fail(L, UV_ENOMEM, NULL);
  f->rt = self->rt;
  f->loop = self->rt->loop;
  f->fd = fd;
  corun__io_open(self->rt, &f->io, self, stdfile_close);
  corun__io_push(L, &f->io, CORUN_STDFILE);
  return 1;
}

/* A task stopped waiting (cancelled, timed out): forget it; its request
   goes on (see above). */
static void cancel_wait(corun_Waker w, void *ud) {
  corun_StdFile *f = ud;
  if (f->waiter == w)
    f->waiter = 0;
}

/* Prepare the running task to wait for the request in flight, with the
   continuation 'k' ('fname' its context). */
static int wait_op(lua_State *L, const char *fname, corun_StdFile *f,
                   lua_KFunction k) {
  if (f->waiter != 0)
    return corun__error(L, fname, "another read or write is already "
                        "waiting on this stream");
  f->waiter = corun__io_prepare(L, fname, cancel_wait, f);
  return corun__wait_k(L, f->waiter, (lua_KContext)(intptr_t)fname, k);
}

/* ---------------------------------------------------------- reading */

/* Take 'n' bytes from the front of the buffer onto L, and drop 'skip'
   more (a line's end). */
static void take(lua_State *L, corun_StdFile *f, size_t n, size_t skip) {
  lua_pushlstring(L, f->buf, n);
  n += skip;
  memmove(f->buf, f->buf + n, f->len - n);
  f->len -= n;
}

static int read_step(lua_State *L, const char *fname);

static int k_read(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  corun__wait_check(L, 3);
  return read_step(L, (const char *)ctx);
}

/* Stack: self want line.  As a corun.Stream's read_step (stream.c):
   answer from the buffer, or read more and wait. */
static int read_step(lua_State *L, const char *fname) {
  corun_StdFile *f = self_of(L);
  lua_Integer want = lua_tointeger(L, 2);
  int line = lua_toboolean(L, 3), rc;
  Op *op;
  if (f == NULL)
    return corun__io_fail(L, UV_ECANCELED, "the stream was closed");
  if (f->waiter != 0)  /* before a request starts */
    return wait_op(L, fname, f, k_read);  /* raises */
  if (line && f->len > 0) {
    char *nl = memchr(f->buf, '\n', f->len);
    if (nl != NULL) {
      size_t n = (size_t)(nl - f->buf);
      int cr = n > 0 && nl[-1] == '\r';
      take(L, f, cr ? n - 1 : n, cr ? 2 : 1);
      return 1;
    }
    if (f->len >= LINE_MAX_BYTES)
      return corun__io_fail(L, UV_E2BIG, "line longer than %d bytes",
                            LINE_MAX_BYTES);
    if (f->eof || f->rerr) {  /* the last line, without its end */
      take(L, f, f->len, 0);
      return 1;
    }
  }
  else if (!line && f->len > 0) {
    take(L, f, (size_t)want < f->len ? (size_t)want : f->len, 0);
    return 1;
  }
  if (f->rerr)
    return corun__io_fail(L, f->rerr, "%s", fd_names[f->fd]);
  if (f->eof) {
    f->eof = 0;  /* a file may grow, a terminal's user type on */
    lua_pushnil(L);
    return 1;
  }
  if (f->op == NULL) {  /* else wait for it, then look again */
    if ((op = malloc(sizeof *op + READ_CHUNK)) == NULL)
      return corun__io_fail(L, UV_ENOMEM, NULL);
    op->f = f;
    op->write = 0;
    op->len = READ_CHUNK;
    op->done = 0;
    if ((rc = start(f, op)) != 0) {
      free(op);
      return corun__io_fail(L, rc, "%s", fd_names[f->fd]);
    }
  }
  return wait_op(L, fname, f, k_read);
}

/* Stack: self [args].  Leave self want line, then read. */
static int read_start(lua_State *L, const char *fname, lua_Integer want,
                      int line) {
  lua_settop(L, 1);
  lua_pushinteger(L, want);
  lua_pushboolean(L, line);
  return read_step(L, fname);
}

int corun__stdfile_read(lua_State *L, const char *fname, corun_StdFile *f,
                        lua_Integer want) {
  (void)f;  /* read_step finds it at index 1, after a wait too */
  return read_start(L, fname, want, 0);
}

int corun__stdfile_read_line(lua_State *L, const char *fname,
                             corun_StdFile *f) {
  (void)f;
  return read_start(L, fname, LUA_MAXINTEGER, 1);
}

/* ---------------------------------------------------------- writing */

static int write_step(lua_State *L, const char *fname);

/* Another request ended: write now. */
static int k_write_again(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  corun__wait_check(L, 2);
  return write_step(L, (const char *)ctx);
}

/* This write ended: true, or nil, err. */
static int k_written(lua_State *L, int status, lua_KContext ctx) {
  corun_StdFile *f = self_of(L);
  (void)status; (void)ctx;
  corun__wait_check(L, 2);
  if (f == NULL)  /* closed meanwhile: what was taken still goes out */
    return corun__io_fail(L, UV_ECANCELED, "the stream was closed");
  if (f->werr != 0)
    return corun__io_fail(L, f->werr, "%s", fd_names[f->fd]);
  lua_pushboolean(L, 1);
  return 1;
}

/* Stack: self data.  Write once nothing else is in flight. */
static int write_step(lua_State *L, const char *fname) {
  corun_StdFile *f = self_of(L);
  size_t len;
  const char *data = lua_tolstring(L, 2, &len);
  Op *op;
  int rc;
  if (f == NULL)
    return corun__io_fail(L, UV_ECANCELED, "the stream was closed");
  if (f->waiter != 0)  /* before a request starts */
    return wait_op(L, fname, f, k_write_again);  /* raises */
  if (f->werr != 0)
    return corun__io_fail(L, f->werr, "%s", fd_names[f->fd]);
  if (f->op != NULL)  /* a read, or a write whose task stopped waiting */
    return wait_op(L, fname, f, k_write_again);
  if (len == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if ((op = malloc(sizeof *op + len)) == NULL)
    return corun__io_fail(L, UV_ENOMEM, NULL);
  memcpy(op->data, data, len);
  op->f = f;
  op->write = 1;
  op->len = len;
  op->done = 0;
  if ((rc = start(f, op)) != 0) {
    free(op);
    return corun__io_fail(L, rc, "%s", fd_names[f->fd]);
  }
  return wait_op(L, fname, f, k_written);
}

int corun__stdfile_write(lua_State *L, const char *fname, corun_StdFile *f,
                         const char *data, size_t len) {
  (void)f; (void)data;  /* write_step finds them on the stack */
  if (len > UINT_MAX)  /* one libuv buffer */
    return corun__io_fail(L, UV_E2BIG, "write of more than %u bytes at once",
                          UINT_MAX);
  lua_settop(L, 2);
  return write_step(L, fname);
}

int corun__stdfile_tostring(lua_State *L, corun_StdFile *f) {
  if (f == NULL)
    lua_pushliteral(L, "corun.StdFile (closed)");
  else
    lua_pushfstring(L, "corun.StdFile (%s, %I bytes buffered)",
                    fd_names[f->fd], (LUAI_UACINT)f->len);
  return 1;
}
