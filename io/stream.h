/*
** stream.h - corun.Stream (stream.c): a byte stream on a libuv stream
** handle.  Made by TCP (tcp.c: connections) and for the pipes to child
** processes; its operations are called by the bindings of corun.Stream,
** and of classes of streams with a filter between the socket and the
** buffers (a TLS connection, tls.c).
*/
#ifndef CORUN_STREAM_H
#define CORUN_STREAM_H

#include "io.h"

#define CORUN_STREAM "corun.Stream"
#define CORUN_STREAM_LINGER_MS 2000  /* at most, for the writes a closed
                                        stream took to go out, and for the
                                        end of a peer a filter said its
                                        last words to (also at the end of
                                        corun.run) */

/* Opaque.  It begins with its corun_Io: the corun_Io of an object of
   class CORUN_STREAM (corunL_io_check's answer) is its corun_Stream. */
typedef struct corun_Stream corun_Stream;

/* ------------------------------------------------------------ making */

/* What a stream's handle is. */
#define CORUN_STREAM_TCP 0   /* a TCP socket (uv_tcp_t) */
#define CORUN_STREAM_PIPE 1  /* a pipe (uv_pipe_t): to a child process, or
                                a standard stream */
#define CORUN_STREAM_UNIX 2  /* a Unix-domain socket (uv_pipe_t) */
#define CORUN_STREAM_TTY 3   /* a terminal (uv_tty_t): a standard stream */

/* A stream around a new TCP (kind CORUN_STREAM_TCP) or pipe (_PIPE,
   _UNIX) handle on rt's loop, not yet a Lua object; NULL with '*err' set
   if libuv refuses. */
corun_Stream *corun__stream_alloc(corun_Runtime *rt, int kind, int *err);
/* A stream of kind CORUN_STREAM_PIPE or _TTY on the descriptor 'fd' (a
   standard stream), which stays open when the stream closes, and gets
   back the file status flags it had (libuv makes it non-blocking); NULL
   with '*err' set if libuv refuses. */
corun_Stream *corun__stream_open_fd(corun_Runtime *rt, int fd, int kind,
                                    int *err);
uv_stream_t *corun__stream_handle(corun_Stream *s);
/* Close and free a stream that never became a Lua object. */
void corun__stream_discard(corun_Stream *s);
/* Make it a Lua object owned by task 'owner' (its root) and push it; the
   _pending form, from a libuv callback, for the task waiting for it (see
   corun__io_open_pending). */
void corun__stream_push(lua_State *L, corun_Stream *s, corun_Task *owner);
void corun__stream_push_pending(lua_State *L, corun_Stream *s,
                                corun_Task *waiter);
/* corun__stream_push for a stream of another class ('tname': a TLS
   connection, whose methods are the stream's and more). */
void corun__stream_push_as(lua_State *L, corun_Stream *s, corun_Task *owner,
                           const char *tname);

/* ----------------------------------------------------------- filters */

/*
** A filter between the socket and the stream's buffers (TLS: io/tls.c).
** What the socket reads goes through 'input' into the read buffer; what
** write gives goes through 'output' to the socket.  Reads, writes,
** backpressure, shutdown and close work as without one.  The stream owns
** its filter ('free' runs when the stream is freed).
*/
#define CORUN_FILTER_END (-0x7f000001)    /* input: the stream ended */
#define CORUN_FILTER_ERROR (-0x7f000002)  /* the filter failed: 'fail'
                                             says why */

typedef struct corun_StreamFilter corun_StreamFilter;
typedef struct corun_FilterOps {
  /* 'n' > 0 bytes came from the socket at 'data'; or n < 0, data NULL:
     libuv's UV_EOF or read error.  Decode them into the read buffer
     (corun__stream_room, corun__stream_filled), send what must answer
     them (corun__stream_send).  0 (more may come), CORUN_FILTER_END, or
     an error (libuv's, or CORUN_FILTER_ERROR), kept as the read error. */
  int (*input)(corun_StreamFilter *f, const char *data, ssize_t n);
  /* write: encode the 'len' bytes at 'data' (borrowed for the call) and
     send them; 0 or an error, kept as the write error. */
  int (*output)(corun_StreamFilter *f, const char *data, size_t len);
  /* shutdown: send the last words before the socket's shutdown; 0 or an
     error. */
  int (*shutdown)(corun_StreamFilter *f);
  /* The stream starts closing: the last words if not 'force' (its writes
     still go out), and wake whoever waits on the filter.  1: the peer
     answers last words with its own end, which the stream waits for
     (draining what comes, so that its close is no reset), else 0. */
  int (*close)(corun_StreamFilter *f, int force);
  /* Push nil and what its CORUN_FILTER_ERROR is; return 2. */
  int (*fail)(lua_State *L, corun_StreamFilter *f);
  /* The stream is freed. */
  void (*free)(corun_StreamFilter *f);
} corun_FilterOps;

struct corun_StreamFilter {
  const corun_FilterOps *ops;  /* borrows: static */
  corun_Stream *s;             /* borrows: the stream, which owns this */
};

/* Put 'f' between the socket and the buffers of 's', which owns it from
   then on: what was read and not returned yet goes through it first, and
   reading starts.  0; or libuv's error of the start of reading (kept as
   the read error); or UV_EBUSY, and 'f' is not taken: a task waits in
   read or write. */
int corun__stream_set_filter(corun_Stream *s, corun_StreamFilter *f);
/* The stream's filter, or NULL. */
corun_StreamFilter *corun__stream_filter(corun_Stream *s);
/* For 'input': free room at the end of the read buffer ('*avail' bytes;
   NULL if memory ran out), and the 'n' bytes put there. */
char *corun__stream_room(corun_Stream *s, size_t *avail);
void corun__stream_filled(corun_Stream *s, size_t n);
/* Write the 'len' bytes at 'data' (copied if the socket does not take
   them at once) to the socket, under the filter: 0, or libuv's error,
   kept as the write error. */
int corun__stream_send(corun_Stream *s, const char *data, size_t len);

/* -------------------------------------------------------- operations */

/*
** The methods of corun.Stream, for the bindings, which have checked the
** arguments: 's' is open, the running task may use it, and its userdata
** is at index 1 of L (a wait finds it there again when it ends: the
** stream may have been closed meanwhile).  Each returns the number of
** results pushed (API.md's shape: nil, err on failure), or suspends the
** task.  'fname' names the method in the errors it raises (misuse only
** the stream can see, a wait refused); it must outlive the call (a
** literal): a read uses it again after waiting.
*/

/* read(want): up to 'want' (>= 1) bytes, as soon as some are there; nil
   at the end of the stream. */
int corun__stream_read(lua_State *L, const char *fname, corun_Stream *s,
                       lua_Integer want);
/* read_line(): the next line without its "\n" or "\r\n"; the last line
   without one; nil at the end of the stream. */
int corun__stream_read_line(lua_State *L, const char *fname,
                            corun_Stream *s);
/* write(data): true once the stream took the 'len' bytes at 'data'
   (borrowed for the call); waits while too much is queued. */
int corun__stream_write(lua_State *L, const char *fname, corun_Stream *s,
                        const char *data, size_t len);
/* shutdown(): end the writing side once what was taken has gone out; true
   then. */
int corun__stream_shutdown(lua_State *L, const char *fname,
                           corun_Stream *s);
/* peer(), address(): host, port of the other end, of this end (a TCP
   connection); the socket's path (a Unix-domain connection: "" for an
   end with no name); nil, ENOTSUP for other streams. */
int corun__stream_peer(lua_State *L, const char *fname, corun_Stream *s);
int corun__stream_address(lua_State *L, const char *fname,
                          corun_Stream *s);
/* ------------------------------------------ the read buffer, in C */

/*
** For a protocol parsed in C straight from the stream's read buffer (the
** HTTP server, io/httpd_conn.c), without a Lua string per read.
*/

/* The bytes read and not taken yet: '*len' of them, borrowed until the
   next call on the stream or the next wait. */
const char *corun__stream_buffered(corun_Stream *s, size_t *len);
/* Take the first 'n' (at most what is buffered) bytes; reading starts
   again below the high mark. */
void corun__stream_consume(corun_Stream *s, size_t n);
/* Give the buffer's memory back if nothing is buffered (a connection
   that stays idle need keep none; one that is busy keeps it, rather than
   allocate it again for each read). */
void corun__stream_trim(corun_Stream *s);
/* 0 while more bytes may come; UV_EOF once the peer ended its side (what
   is buffered is all there is); or the read error. */
int corun__stream_read_status(corun_Stream *s);
/* Prepare the running task to wait until more bytes are buffered, or the
   stream ends, fails or is closed: reading starts, the task is the
   stream's reader, and the waker is returned; the caller then ends with
   return corun__wait_k(L, w, ctx, k) (after corun__wait_unheld, if the
   peer may never send), and 'k' looks at the buffer again, finding the
   stream from its userdata (closed meanwhile: the box is empty).  Raises
   "fname: ..." if another read waits or the wait cannot be prepared;
   returns 0 with '*err' set (a libuv error) if reading cannot start. */
corun_Waker corun__stream_want(lua_State *L, const char *fname,
                               corun_Stream *s, int *err);

/* __tostring of an open stream: "corun.Stream (tcp, N bytes buffered)". */
int corun__stream_tostring(lua_State *L, const char *fname,
                           corun_Stream *s);

#endif
