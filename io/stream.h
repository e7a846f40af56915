/*
** stream.h - corun.Stream (stream.c): a byte stream on a libuv stream
** handle.  Made by TCP (tcp.c: connections) and for the pipes to child
** processes; its operations are called by the bindings of corun.Stream.
*/
#ifndef CORUN_STREAM_H
#define CORUN_STREAM_H

#include "io.h"

#define CORUN_STREAM "corun.Stream"
#define CORUN_STREAM_LINGER_MS 2000  /* at most, for the writes a closed
                                        stream took to go out (also at the
                                        end of corun.run) */

/* Opaque.  It begins with its corun_Io: the corun_Io of an object of
   class CORUN_STREAM (corunL_io_check's answer) is its corun_Stream. */
typedef struct corun_Stream corun_Stream;

/* ------------------------------------------------------------ making */

/* A stream around a new TCP (pipe = 0) or pipe handle on rt's loop, not
   yet a Lua object; NULL with '*err' set if libuv refuses. */
corun_Stream *corun__stream_alloc(corun_Runtime *rt, int pipe, int *err);
uv_stream_t *corun__stream_handle(corun_Stream *s);
/* Close and free a stream that never became a Lua object. */
void corun__stream_discard(corun_Stream *s);
/* Make it a Lua object owned by task 'owner' (its root) and push it; the
   _pending form, from a libuv callback, for the task waiting for it (see
   corun__io_open_pending). */
void corun__stream_push(lua_State *L, corun_Stream *s, corun_Task *owner);
void corun__stream_push_pending(lua_State *L, corun_Stream *s,
                                corun_Task *waiter);

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
   connection only). */
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
