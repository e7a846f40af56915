/*
** corunio.h - what the I/O bindings share (io.c): failures in API.md's
** shape, the userdata that boxes an I/O object, waits on libuv callbacks.
*/
#ifndef CORUNIO_H
#define CORUNIO_H

#include <uv.h>
#include "../host/corun.h"
#include "../host/io.h"
#include "../host/embed.h"
#include "corunL.h"

/* Push nil and "UV_NAME: what libuv says (detail)"; returns 2.  'fmt'
   (may be NULL) formats the detail, as lua_pushfstring. */
int corunL_io_fail(lua_State *L, int uverr, const char *fmt, ...);

/* Push a new userdata of class 'tname' that boxes 'io'. */
void corunL_io_push(lua_State *L, corun_Io *io, const char *tname);

/* Method self: the open I/O object at index 1, of class 'tname', which
   the running task may use; raises otherwise ('what': "connection"...). */
corun_Io *corunL_io_check(lua_State *L, const char *fname, const char *tname,
                          const char *what);

/* The object at index 1 if open, else NULL (no ownership check). */
corun_Io *corunL_io_peek(lua_State *L, const char *fname, const char *tname);

/* __gc and __close of every I/O class: close the object (__close only if
   the running task may use it: one that moved away is not closed).  Each
   is a closure whose upvalue 2 is the class's metatable; called by hand,
   it checks its argument is of the class. */
int corunL_io_gc(lua_State *L);
int corunL_io_closevar(lua_State *L);

/* The crossing of every I/O class: it moves to the receiving task; only
   its owner may move it (corunL_io_owner: see corun_Class.owner). */
extern const corun_Class corunL_io_class;
lua_Integer corunL_io_owner(lua_State *L, int idx, int *moved);

/* Register an I/O class (methods get the state and the metatable as
   upvalues, see corunL_newclass); __gc, __close and the crossing are
   added.  Leaves nothing on the stack. */
void corunL_io_newclass(lua_State *L, const char *tname,
                        const luaL_Reg *methods, const luaL_Reg *meta);

/* Make sure the runtime can list I/O objects (corun__io_ready): call it
   in a Lua call that may make one without waiting first; raises
   "fname: not enough memory" (or the task checks of corunL_waiter). */
void corunL_io_ready(lua_State *L, const char *fname);

/* Prepare the running task to wait for a libuv callback; raises if it
   cannot (not a task, where it cannot yield, out of memory).  Call it
   before starting the libuv request, or mark the request orphaned around
   the call: a raise must leave no callback waking a waker that is not. */
corun_Waker corunL_io_prepare(lua_State *L, const char *fname,
                              corun_CancelFn cancel, void *ud);

/* The end of a function whose libuv request has just started: prepare the
   wait ('*orphaned' is set meanwhile, so that if that raises, the
   request's callback frees it), store the waker in '*w' and suspend; the
   results are those the callback wakes the task with (objects among them
   go to the task's root: corunL_io_k_adopt).  Use it as
     return corunL_io_wait_request(L, fname, cancel, r, &r->orphaned, &r->w);
*/
int corunL_io_wait_request(lua_State *L, const char *fname,
                           corun_CancelFn cancel, void *req, int *orphaned,
                           corun_Waker *w);

/* From a libuv callback: wake the task waiting in 'w' with the values
   'push' pushes (returning how many), in protected mode on the runtime's
   scheduler thread; a memory error wakes it with that error instead (a
   continuation of corun__wait_k raises it with corun__wait_check). */
typedef int (*corunL_Push)(lua_State *L, void *ud);
void corunL_io_wake(corun_Runtime *rt, corun_Waker w, corunL_Push push,
                    void *ud);

/* Continuations of waits whose libuv callback made I/O objects for the
   waiting task (corun__io_open_pending): raise an error wake, give the
   objects among the values above 'base' to the running task's root.
   corunL_io_k_adopt is such a continuation returning every value above
   the stack height 'ctx'. */
void corunL_io_adopt_results(lua_State *L, int base);
int corunL_io_k_adopt(lua_State *L, int status, lua_KContext ctx);

/* An alloc callback's answer for a buffer that grows as it is read into
   (*data holding 'len' bytes in '*cap'): at least 'least' bytes free at
   its end, the buffer doubling as it grows; no room if memory runs out
   (libuv then reports UV_ENOBUFS to the read callback). */
void corunL_io_read_room(char **data, size_t len, size_t *cap, size_t least,
                         uv_buf_t *buf);

/* The string at 'arg' (not a number: as corun's messages want it). */
const char *corunL_checkstring(lua_State *L, const char *fname, int arg,
                               size_t *len);

/* A string that goes to C as a C string (a path, a host name, a command)
   must hold no zero byte, or C would see it cut short: raise
   "fname: bad argument #arg (<what> contains a zero byte)" if the 'len'
   bytes at 's' hold one.  corunL_checkcstring: the same for the string
   at 'arg', which it returns ('*len' its length, if not NULL). */
void corunL_check_nozero(lua_State *L, const char *fname, int arg,
                         const char *what, const char *s, size_t len);
const char *corunL_checkcstring(lua_State *L, const char *fname, int arg,
                                const char *what, size_t *len);

/* The port at 'arg' (0..65535). */
int corunL_checkport(lua_State *L, const char *fname, int arg);

/* "1.2.3.4" or "::1" and a port from a socket address. */
void corunL_push_addr(lua_State *L, const struct sockaddr *sa);

void corunL_open_stream(lua_State *L);
void corunL_open_net(lua_State *L);
void corunL_open_fs(lua_State *L);
void corunL_open_process(lua_State *L);
void corunL_open_signal(lua_State *L);

/* The number of the signal named by the string at 'arg' ("SIGTERM");
   raises "fname: bad argument #arg (unknown signal ...)" (signal.c). */
int corunL_checksignal(lua_State *L, const char *fname, int arg);

#endif
