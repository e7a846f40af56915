/*
** stream.c - corun.Stream (stream.h): a byte stream on a libuv stream
** handle (a TCP or Unix-domain connection, a pipe to a child process, a
** standard stream that is a pipe or a terminal).
**
** Reading: libuv reads into the stream's buffer while somebody waits or
** the buffer holds less than READ_HIGH (then it stops: backpressure on the
** peer); read and read_line take from the buffer and wait only when it
** cannot answer.  Writing: uv_try_write first; what is left is copied into
** a write request, and write returns true at once ("taken") unless libuv
** queues more than WRITE_HIGH, then it waits until the queue drains.  A
** write error is kept and returned by the next write (or shutdown).
** Closing waits for the writes already taken (they are never dropped),
** unless the runtime itself is closing.
**
** A filter (TLS) may sit between the socket and the buffers: the socket
** then reads into 'raw', the filter decodes that into the read buffer,
** and writes go through the filter, which sends what it makes with
** corun__stream_send (the path of a plain write).  Everything above the
** buffers is the same.
*/
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include "../host/check.h"
#include "stream.h"

#define READ_CHUNK 65536             /* room offered to each uv read */
#define READ_HIGH (256 * 1024)      /* buffered: stop reading above */
#define LINE_MAX_BYTES (1024 * 1024) /* longest line read_line accepts */
#define WRITE_HIGH (256 * 1024)     /* write waits above this queue */

struct corun_Stream {
  corun_Io io;            /* first: the object's life (io.h) */
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
    uv_tty_t tty;
  } h;                    /* the libuv handle, freed in on_closed */
  corun_Runtime *rt;      /* borrows: valid while not closing */
  int kind;               /* what 'h' is: CORUN_STREAM_TCP, ... */
  int fd;                 /* a standard stream's descriptor, or -1 */
  int fd_flags;           /* its file status flags before libuv's */
  char *buf;              /* owns: bytes read, not returned yet */
  size_t len;             /* bytes in 'buf' */
  size_t cap;             /* size of 'buf' */
  int eof;                /* the peer ended its side */
  int rerr;               /* a read failed (libuv code), sticky */
  int werr;               /* a write failed (libuv code), sticky */
  int reading;            /* uv_read_start is on */
  corun_Waker reader;     /* waits in read or read_line, or 0 */
  corun_Waker writer;     /* waits for the write queue, or 0 */
  unsigned nwrites;       /* write requests libuv has not finished */
  int handle_closed;      /* uv_close was called */
  uv_timer_t linger;      /* a graceful close is forced when it fires */
  int linger_on;          /* 'linger' was initialised */
  int draining;           /* closing: reads (and drops) until the peer's
                             end, so that what it still sends (TLS 1.3
                             session tickets) does not make our close a
                             reset that loses our last words */
  int shut_sent;          /* uv_shutdown was called (our end is sent) */
  uv_shutdown_t shut;     /* the shutdown of a draining close */
  int open_handles;       /* handles not closed yet: freed at 0 */
  corun_StreamFilter *filter;  /* owns: between socket and buffers, or
                                  NULL */
  char *raw;              /* owns: with a filter, READ_CHUNK bytes the
                             socket reads into (made on first use) */
};

/* A write libuv could not take at once: the bytes left, copied. */
typedef struct WriteReq {
  uv_write_t req;         /* the libuv request (first: the cast back) */
  corun_Stream *s;        /* borrows: the stream frees only after it */
  char data[];            /* the bytes, owned by the request */
} WriteReq;

/* A wake with no values: the woken continuation looks at the stream. */
static int push_nothing(lua_State *L, void *ud) {
  (void)L; (void)ud;
  return 0;
}

/* The stream boxed at index 1, or NULL if it was closed. */
static corun_Stream *self_of(lua_State *L) {
  return (corun_Stream *)*(corun_Io **)lua_touserdata(L, 1);
}

/* ------------------------------------------------------------ life */

static void on_closed(uv_handle_t *handle) {
  corun_Stream *s = handle->data;
  if (--s->open_handles > 0)
    return;
  if (s->fd >= 0)  /* shared with others: as it was before */
    fcntl(s->fd, F_SETFL, s->fd_flags);
  if (s->filter != NULL)
    s->filter->ops->free(s->filter);
  free(s->raw);
  free(s->buf);
  free(s);
}

/* Close the handle now (writes still queued are dropped) and free it. */
static void really_close(corun_Stream *s) {
  if (s->handle_closed)
    return;
  s->handle_closed = 1;
  corun__io_done(&s->io);
  if (s->linger_on) {
    uv_timer_stop(&s->linger);
    uv_close((uv_handle_t *)&s->linger, on_closed);
  }
  uv_close(&s->h.handle, on_closed);
}

/* The writes of a closed stream did not go out in time, or its peer did
   not end: the peer does not read, or does not answer.  Drop them, so
   that a server does not keep its descriptor. */
static void on_linger(uv_timer_t *timer) {
  really_close(timer->data);
}

/* A closing stream may go once its writes are out and it drains no
   more. */
static void close_if_done(corun_Stream *s) {
  if (s->nwrites == 0 && !s->draining)
    really_close(s);
}

static void on_drain_shutdown(uv_shutdown_t *req, int status) {
  (void)req; (void)status;  /* the end of the drain says it all */
}

static int start_reading(corun_Stream *s);

/*
** The stream's close (corun_Io.close): whoever waits wakes and finds it
** closed; the handle closes once the writes taken have gone out and, if
** the filter said its last words, the peer has ended too (at most
** CORUN_STREAM_LINGER_MS in all), at once if 'force'.
*/
static void stream_close(corun_Io *io, int force) {
  corun_Stream *s = (corun_Stream *)io;
  if (s->filter != NULL && s->filter->ops->close(s->filter, force) &&
      !force && !s->eof && !s->rerr && !s->werr) {
    s->draining = 1;  /* on_read drops what comes, until the end */
    if (!s->shut_sent &&
        uv_shutdown(&s->shut, &s->h.stream, on_drain_shutdown) == 0)
      s->shut_sent = 1;
    if (start_reading(s) != 0)
      s->draining = 0;
  }
  corun__io_wake_slot(s->rt, &s->reader, push_nothing, NULL);
  corun__io_wake_slot(s->rt, &s->writer, push_nothing, NULL);
  if (s->reading && !s->draining) {
    uv_read_stop(&s->h.stream);
    s->reading = 0;
  }
  if (force || (s->nwrites == 0 && !s->draining))
    really_close(s);
  else if (uv_timer_init(s->rt->loop, &s->linger) == 0) {
    /* on_write or on_read (close_if_done) closes it once the writes
       taken have gone out and the drain ended, or on_linger after
       CORUN_STREAM_LINGER_MS */
    s->linger_on = 1;
    s->open_handles++;
    s->linger.data = s;
    uv_timer_start(&s->linger, on_linger, CORUN_STREAM_LINGER_MS, 0);
  }
}

/* A stream record of 'kind', its handle not made yet. */
static corun_Stream *new_stream(corun_Runtime *rt, int kind, int *err) {
  corun_Stream *s = calloc(1, sizeof *s);
  if (s == NULL) {
    *err = UV_ENOMEM;
    return NULL;
  }
  s->rt = rt;
  s->kind = kind;
  s->fd = -1;
  s->open_handles = 1;
  corun__link_init(&s->io.res.link);  /* unlinked until it is opened */
  corun__link_init(&s->io.all);
  return s;
}

corun_Stream *corun__stream_alloc(corun_Runtime *rt, int kind, int *err) {
  corun_Stream *s = new_stream(rt, kind, err);
  CORUN_ASSERT(kind != CORUN_STREAM_TTY);
  if (s == NULL)
    return NULL;
  *err = kind != CORUN_STREAM_TCP ? uv_pipe_init(rt->loop, &s->h.pipe, 0)
                                  : uv_tcp_init(rt->loop, &s->h.tcp);
  if (*err != 0) {
    free(s);
    return NULL;
  }
  s->h.handle.data = s;
  return s;
}

corun_Stream *corun__stream_open_fd(corun_Runtime *rt, int fd, int kind,
                                    int *err) {
  corun_Stream *s = new_stream(rt, kind, err);
  int flags;
  CORUN_ASSERT(kind == CORUN_STREAM_TTY || kind == CORUN_STREAM_PIPE);
  if (s == NULL)
    return NULL;
  if ((flags = fcntl(fd, F_GETFL)) == -1) {
    *err = uv_translate_sys_error(errno);
    free(s);
    return NULL;
  }
  if (kind == CORUN_STREAM_TTY)
    *err = uv_tty_init(rt->loop, &s->h.tty, fd, 0);
  else if ((*err = uv_pipe_init(rt->loop, &s->h.pipe, 0)) == 0 &&
           (*err = uv_pipe_open(&s->h.pipe, fd)) != 0) {
    s->h.handle.data = s;
    corun__stream_discard(s);  /* the handle was made: close it */
    fcntl(fd, F_SETFL, flags);
    return NULL;
  }
  if (*err != 0) {
    fcntl(fd, F_SETFL, flags);
    free(s);
    return NULL;
  }
  s->fd = fd;
  s->fd_flags = flags;
  s->h.handle.data = s;
  return s;
}

uv_stream_t *corun__stream_handle(corun_Stream *s) {
  return &s->h.stream;
}

/* A stream that never became a Lua object: close its handle, free it. */
void corun__stream_discard(corun_Stream *s) {
  s->handle_closed = 1;
  uv_close(&s->h.handle, on_closed);
}

void corun__stream_push(lua_State *L, corun_Stream *s, corun_Task *owner) {
  corun__io_open(s->rt, &s->io, owner, stream_close);
  corun__io_push(L, &s->io, CORUN_STREAM);
}

void corun__stream_push_pending(lua_State *L, corun_Stream *s,
                                corun_Task *waiter) {
  corun__io_open_pending(s->rt, &s->io, waiter, stream_close);
  corun__io_push(L, &s->io, CORUN_STREAM);
}

void corun__stream_push_as(lua_State *L, corun_Stream *s, corun_Task *owner,
                           const char *tname) {
  corun__io_open(s->rt, &s->io, owner, stream_close);
  corun__io_push(L, &s->io, tname);
}

/* A waiting task stopped waiting (cancelled, timed out): forget it. */
static void cancel_wait(corun_Waker w, void *ud) {
  corun_Stream *s = ud;
  if (s->reader == w)
    s->reader = 0;
  if (s->writer == w)
    s->writer = 0;
}

/* ---------------------------------------------------------- reading */

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  corun_Stream *s = handle->data;
  (void)suggested;
  if (s->filter != NULL) {  /* the filter decodes what comes into 'buf' */
    if (s->raw == NULL)
      s->raw = malloc(READ_CHUNK);
    *buf = uv_buf_init(s->raw, s->raw != NULL ? READ_CHUNK : 0);
    return;
  }
  corun__io_read_room(&s->buf, s->len, &s->cap, READ_CHUNK, buf);
}

/* What the socket read ('n' bytes at 'data', or UV_EOF, or an error)
   through the filter: the end, or an error, are kept. */
static void filter_input(corun_Stream *s, const char *data, ssize_t n) {
  int rc = s->filter->ops->input(s->filter, data, n);
  if (rc == CORUN_FILTER_END)
    s->eof = 1;
  else if (rc != 0 && s->rerr == 0)
    s->rerr = rc;
}

/* Bytes came (or the end, or an error): keep them, stop reading when the
   buffer is full enough and nobody waits, wake the reader. */
static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf) {
  corun_Stream *s = stream->data;
  (void)buf;
  if (s->io.closing) {  /* draining: drop it, until the end */
    if (n < 0) {
      uv_read_stop(stream);
      s->reading = 0;
      s->draining = 0;
      close_if_done(s);
    }
    return;
  }
  if (s->filter != NULL) {
    if (n != 0)
      filter_input(s, n > 0 ? s->raw : NULL, n);
    if (s->handle_closed)  /* the filter's owner discarded it */
      return;
  }
  else if (n > 0)
    s->len += (size_t)n;
  else if (n == UV_EOF)
    s->eof = 1;
  else if (n < 0)
    s->rerr = (int)n;
  if (s->eof || s->rerr || (s->reader == 0 && s->len >= READ_HIGH) ||
      s->len >= LINE_MAX_BYTES) {
    uv_read_stop(stream);
    s->reading = 0;
  }
  corun__io_wake_slot(s->rt, &s->reader, push_nothing, NULL);
}

static int start_reading(corun_Stream *s) {
  int rc;
  if (s->reading || s->eof || s->rerr)
    return 0;
  if ((rc = uv_read_start(&s->h.stream, on_alloc, on_read)) == 0)
    s->reading = 1;
  return rc;
}

/* Take 'n' bytes from the front of the buffer onto L, and drop 'skip'
   more (a line's end); reading starts again below READ_HIGH. */
static void take(lua_State *L, corun_Stream *s, size_t n, size_t skip) {
  lua_pushlstring(L, s->buf, n);
  n += skip;
  memmove(s->buf, s->buf + n, s->len - n);
  s->len -= n;
  if (s->len < READ_HIGH)
    start_reading(s);
}

static int read_step(lua_State *L, corun_Stream *s, const char *fname);

/* Push nil and what the read or write error 'rc' of 's' is. */
static int stream_fail(lua_State *L, corun_Stream *s, int rc) {
  if (rc == CORUN_FILTER_ERROR)
    return s->filter->ops->fail(L, s->filter);
  return corun__io_fail(L, rc, NULL);
}

/* A read woke ('ctx': its fname): answer, or wait again. */
static int k_read(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  corun__wait_check(L, 3);
  return read_step(L, self_of(L), (const char *)ctx);
}

/*
** Stack: self want line.  Answer from the buffer, or wait for more: the
** bytes read so far ('want' at most), or the next line ('line'); nil at
** the end; nil, err if the stream failed or was closed ('s' NULL) while
** the task waited.
*/
static int read_step(lua_State *L, corun_Stream *s, const char *fname) {
  lua_Integer want = lua_tointeger(L, 2);
  int line = lua_toboolean(L, 3), rc;
  corun_Waker w;
  if (s == NULL)
    return corun__io_fail(L, UV_ECANCELED, "the connection was closed");
  if (line && s->len > 0) {
    char *nl = memchr(s->buf, '\n', s->len);
    if (nl != NULL) {
      size_t n = (size_t)(nl - s->buf);
      take(L, s, n > 0 && nl[-1] == '\r' ? n - 1 : n,
           n > 0 && nl[-1] == '\r' ? 2 : 1);
      return 1;
    }
    if (s->len >= LINE_MAX_BYTES)
      return corun__io_fail(L, UV_E2BIG, "line longer than %d bytes",
                            LINE_MAX_BYTES);
    if (s->eof || s->rerr) {  /* the last line, without its end */
      take(L, s, s->len, 0);
      return 1;
    }
  }
  else if (s->len > 0) {
    take(L, s, (size_t)want < s->len ? (size_t)want : s->len, 0);
    return 1;
  }
  if (s->rerr)
    return stream_fail(L, s, s->rerr);
  if (s->eof) {
    lua_pushnil(L);
    return 1;
  }
  if (s->reader != 0) {  /* another branch of the task reads already */
    return corun__error(L, fname, "another read is already waiting on "
                        "this connection");
  }
  if ((rc = start_reading(s)) != 0)
    return corun__io_fail(L, rc, NULL);
  w = corun__io_prepare(L, fname, cancel_wait, s);
  s->reader = w;
  return corun__wait_k(L, w, (lua_KContext)(intptr_t)fname, k_read);
}

/* Stack: self [args].  Leave self want line, then read. */
static int read_start(lua_State *L, const char *fname, corun_Stream *s,
                      lua_Integer want, int line) {
  lua_settop(L, 1);
  lua_pushinteger(L, want);
  lua_pushboolean(L, line);
  return read_step(L, s, fname);
}

int corun__stream_read(lua_State *L, const char *fname, corun_Stream *s,
                       lua_Integer want) {
  return read_start(L, fname, s, want, 0);
}

int corun__stream_read_line(lua_State *L, const char *fname,
                            corun_Stream *s) {
  return read_start(L, fname, s, LUA_MAXINTEGER, 1);
}

/* ------------------------------------------ the read buffer, in C */

const char *corun__stream_buffered(corun_Stream *s, size_t *len) {
  *len = s->len;
  return s->buf;
}

void corun__stream_consume(corun_Stream *s, size_t n) {
  if (n > s->len)
    n = s->len;
  if (n > 0 && n < s->len)
    memmove(s->buf, s->buf + n, s->len - n);
  s->len -= n;
  if (s->len < READ_HIGH)
    start_reading(s);
}

void corun__stream_trim(corun_Stream *s) {
  if (s->len == 0) {  /* READ_CHUNK is allocated again when bytes come */
    free(s->buf);
    s->buf = NULL;
    s->cap = 0;
  }
}

int corun__stream_read_status(corun_Stream *s) {
  return s->rerr != 0 ? s->rerr : s->eof ? UV_EOF : 0;
}

corun_Waker corun__stream_want(lua_State *L, const char *fname,
                               corun_Stream *s, int *err) {
  corun_Waker w;
  if (s->reader != 0) {  /* another branch of the task reads already */
    corun__error(L, fname, "another read is already waiting on this "
                 "connection");
    return 0;
  }
  if ((*err = start_reading(s)) != 0)
    return 0;
  w = corun__io_prepare(L, fname, cancel_wait, s);
  s->reader = w;
  return w;
}

/* ---------------------------------------------------------- writing */

/* A write request ended: keep its error; close the stream if it was the
   last a closed stream waited for; wake the writer once the queue is
   down to half of WRITE_HIGH. */
static void on_write(uv_write_t *req, int status) {
  WriteReq *wr = (WriteReq *)req;
  corun_Stream *s = wr->s;
  free(wr);
  s->nwrites--;
  if (status < 0 && s->werr == 0)
    s->werr = status;
  if (s->io.closing) {
    close_if_done(s);
    return;
  }
  if (uv_stream_get_write_queue_size(&s->h.stream) <= WRITE_HIGH / 2)
    corun__io_wake_slot(s->rt, &s->writer, push_nothing, NULL);
}

/* A write woke: the queue drained (true), or the stream failed or was
   closed (nil, err). */
static int k_write(lua_State *L, int status, lua_KContext ctx) {
  corun_Stream *s = self_of(L);
  (void)status; (void)ctx;
  corun__wait_check(L, 1);
  if (s == NULL)  /* closed meanwhile: what was taken still goes out */
    return corun__io_fail(L, UV_ECANCELED, "the connection was closed");
  if (s->werr != 0)
    return stream_fail(L, s, s->werr);
  lua_pushboolean(L, 1);
  return 1;
}

/* Hand the 'len' bytes at 'data' to the socket: what it does not take at
   once is copied into a write request.  0, or libuv's error (not kept:
   see corun__stream_send). */
static int send_bytes(corun_Stream *s, const char *data, size_t len) {
  size_t off = 0;
  WriteReq *wr;
  uv_buf_t buf;
  int rc;
  if (s->nwrites == 0 && len > 0) {  /* nothing queued: write at once */
    buf = uv_buf_init((char *)data, (unsigned)len);
    rc = uv_try_write(&s->h.stream, &buf, 1);
    if (rc >= 0)
      off = (size_t)rc;
    else if (rc != UV_EAGAIN && rc != UV_ENOSYS)
      return rc;
  }
  if (off < len) {
    if ((wr = malloc(sizeof *wr + (len - off))) == NULL)
      return UV_ENOMEM;
    memcpy(wr->data, data + off, len - off);
    wr->s = s;
    buf = uv_buf_init(wr->data, (unsigned)(len - off));
    if ((rc = uv_write(&wr->req, &s->h.stream, &buf, 1, on_write)) != 0) {
      free(wr);
      return rc;
    }
    s->nwrites++;
  }
  return 0;
}

int corun__stream_send(corun_Stream *s, const char *data, size_t len) {
  int rc;
  if (s->werr != 0)
    return s->werr;
  if (len > UINT_MAX)  /* the filter sends in pieces: never */
    return s->werr = UV_E2BIG;
  if ((rc = send_bytes(s, data, len)) != 0)
    s->werr = rc;
  return rc;
}

int corun__stream_write(lua_State *L, const char *fname, corun_Stream *s,
                        const char *data, size_t len) {
  int rc;
  if (s->werr != 0)
    return stream_fail(L, s, s->werr);
  if (len > UINT_MAX)  /* one libuv buffer */
    return corun__io_fail(L, UV_E2BIG, "write of more than %u bytes at once",
                          UINT_MAX);
  if (s->writer != 0) {  /* another branch waits in write: keep order */
    return corun__error(L, fname, "another write is already waiting on "
                        "this connection");
  }
  if (s->filter != NULL) {
    if ((rc = s->filter->ops->output(s->filter, data, len)) != 0) {
      if (s->werr == 0)
        s->werr = rc;
      return stream_fail(L, s, rc);
    }
  }
  else if ((rc = send_bytes(s, data, len)) != 0)
    return corun__io_fail(L, rc, NULL);
  if (s->nwrites > 0 &&
      uv_stream_get_write_queue_size(&s->h.stream) > WRITE_HIGH &&
      lua_isyieldable(L)) {  /* else it is taken whole: no wait */
    corun_Waker w = corun__io_prepare(L, fname, cancel_wait, s);
    s->writer = w;
    lua_settop(L, 1);
    return corun__wait_k(L, w, 0, k_write);
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* ------------------------------------------------------------ shutdown */

/* A shutdown under way: shared by the waiting task and libuv's callback,
   which frees it. */
typedef struct ShutReq {
  uv_shutdown_t req;      /* the libuv request (first: the cast back) */
  corun_Runtime *rt;      /* borrows: valid unless orphaned */
  corun_Waker w;          /* the task waiting for it */
  int orphaned;           /* the task stopped waiting */
  int status;             /* libuv's answer */
} ShutReq;

static int push_shut(lua_State *L, void *ud) {
  ShutReq *r = ud;
  if (r->status < 0)
    return corun__io_fail(L, r->status, NULL);
  lua_pushboolean(L, 1);
  return 1;
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  ShutReq *r = (ShutReq *)req;
  if (!r->orphaned) {
    r->status = status;
    corun__io_wake(r->rt, r->w, push_shut, r);
  }
  free(r);
}

static void cancel_shutdown(corun_Waker w, void *ud) {
  (void)w;
  ((ShutReq *)ud)->orphaned = 1;
}

int corun__stream_shutdown(lua_State *L, const char *fname,
                           corun_Stream *s) {
  ShutReq *r;
  int rc = 0;
  if (s->filter != NULL && s->werr == 0 &&
      (rc = s->filter->ops->shutdown(s->filter)) != 0 && s->werr == 0)
    s->werr = rc;
  if ((r = calloc(1, sizeof *r)) == NULL)
    return corun__io_fail(L, UV_ENOMEM, NULL);
  if (s->werr != 0 || (rc = uv_shutdown(&r->req, &s->h.stream,
                                         on_shutdown)) != 0) {
    free(r);
    return stream_fail(L, s, s->werr != 0 ? s->werr : rc);
  }
  s->shut_sent = 1;
  r->rt = s->rt;
  return corun__io_wait_request(L, fname, cancel_shutdown, r, &r->orphaned,
                                &r->w);
}

/* ----------------------------------------------------------- names */

/* host, port of one end of a TCP connection; the path of one end of a
   Unix-domain connection. */
static int name(lua_State *L, corun_Stream *s, int peer) {
  struct sockaddr_storage sa;
  int len = sizeof sa, rc;
  if (s->kind == CORUN_STREAM_UNIX) {
    char path[sizeof ((struct sockaddr_un *)0)->sun_path + 1];
    size_t plen = sizeof path;
    rc = peer ? uv_pipe_getpeername(&s->h.pipe, path, &plen)
              : uv_pipe_getsockname(&s->h.pipe, path, &plen);
    if (rc != 0)
      return corun__io_fail(L, rc, NULL);
    lua_pushlstring(L, path, plen);
    return 1;
  }
  if (s->kind != CORUN_STREAM_TCP)
    return corun__io_fail(L, UV_ENOTSUP, "not a socket");
  rc = peer ? uv_tcp_getpeername(&s->h.tcp, (struct sockaddr *)&sa, &len)
            : uv_tcp_getsockname(&s->h.tcp, (struct sockaddr *)&sa, &len);
  if (rc != 0)
    return corun__io_fail(L, rc, NULL);
  corun__io_push_addr(L, (struct sockaddr *)&sa);
  return 2;
}

int corun__stream_peer(lua_State *L, const char *fname, corun_Stream *s) {
  (void)fname;
  return name(L, s, 1);
}

int corun__stream_address(lua_State *L, const char *fname,
                          corun_Stream *s) {
  (void)fname;
  return name(L, s, 0);
}

int corun__stream_tostring(lua_State *L, const char *fname,
                           corun_Stream *s) {
  struct sockaddr_storage peer;
  int len = (int)sizeof peer;
  char host[64] = "";
  static const char *const kinds[] = {"tcp", "pipe", "unix", "tty"};
  (void)fname;
  /* a TCP stream shows its peer's address, for dumps (corun.tasks) */
  if (s->kind == CORUN_STREAM_TCP &&
      uv_tcp_getpeername(&s->h.tcp, (struct sockaddr *)&peer, &len) == 0) {
    if (peer.ss_family == AF_INET6) {
      host[0] = '[';
      uv_ip6_name((struct sockaddr_in6 *)&peer, host + 1, sizeof host - 8);
      lua_pushfstring(L, "corun.Stream (tcp %s]:%d, %I bytes buffered)",
                      host, ntohs(((struct sockaddr_in6 *)&peer)->sin6_port),
                      (LUAI_UACINT)s->len);
    }
    else {
      uv_ip4_name((struct sockaddr_in *)&peer, host, sizeof host);
      lua_pushfstring(L, "corun.Stream (tcp %s:%d, %I bytes buffered)",
                      host, ntohs(((struct sockaddr_in *)&peer)->sin_port),
                      (LUAI_UACINT)s->len);
    }
    return 1;
  }
  lua_pushfstring(L, "corun.Stream (%s, %I bytes buffered)",
                  kinds[s->kind], (LUAI_UACINT)s->len);
  return 1;
}

/* ----------------------------------------------------------- filters */

int corun__stream_set_filter(corun_Stream *s, corun_StreamFilter *f) {
  char *old = s->buf;
  size_t n = s->len;
  int rc;
  if (s->reader != 0 || s->writer != 0)
    return UV_EBUSY;
  f->s = s;
  s->filter = f;
  if (n > 0) {  /* read before the filter came: it is the filter's */
    s->buf = NULL;
    s->len = s->cap = 0;
    filter_input(s, old, (ssize_t)n);
    free(old);
  }
  if ((rc = start_reading(s)) != 0 && s->rerr == 0)
    s->rerr = rc;
  return rc;
}

corun_StreamFilter *corun__stream_filter(corun_Stream *s) {
  return s->filter;
}

char *corun__stream_room(corun_Stream *s, size_t *avail) {
  uv_buf_t buf;
  corun__io_read_room(&s->buf, s->len, &s->cap, READ_CHUNK / 4, &buf);
  *avail = buf.len;
  return buf.base;
}

void corun__stream_filled(corun_Stream *s, size_t n) {
  s->len += n;
}
