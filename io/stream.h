/*
** stream.h - corun.Stream (stream.c) for the bindings that make streams:
** TCP connections (net.c) and pipes to child processes.
*/
#ifndef CORUN_STREAM_H
#define CORUN_STREAM_H

#include "io.h"

#define CORUN_STREAM "corun.Stream"
#define CORUN_STREAM_LINGER_MS 2000  /* at most, for the writes a closed
                                        stream took to go out (also at the
                                        end of corun.run) */

typedef struct corun_Stream corun_Stream;

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

#endif
