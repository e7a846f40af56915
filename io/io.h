/*
** io.h - the base of the I/O layer (io/): the life of I/O objects, and
** what every kind of I/O object shares (waiting for a libuv callback,
** waking the waiting task with results, errors in API.md's shape).
**
** Files in io/ are written against the core's headers (host/) and corun.h's
** native-wait API only; the bindings (bindings/) check a Lua call's
** arguments and call them.
**
** I/O objects: sockets, servers, files, processes, signal watchers.
** Each is malloc'd, because it holds libuv handles or requests whose memory
** may only be freed in their callbacks, and is reached from Lua through a
** userdata holding a pointer to it ('box').  An open object is owned by one
** task (a corun_Resource: its owner's end closes it) and listed in its
** runtime (the runtime's close closes it, whoever owns it).  Closing is
** asynchronous: 'close' starts it and the object frees itself once libuv
** has let go; from the moment it starts, the object leaves its owner and
** its box is emptied, so Lua sees it closed.  It stays listed in the
** runtime until it hands its last handle to uv_close (corun__io_done), so
** that a graceful close still under way (a stream draining its writes) is
** forced when the runtime closes.
*/
#ifndef CORUN_IO_H
#define CORUN_IO_H

#include <lua.h>
#include <uv.h>
#include "../host/corun.h"
#include "../host/embed.h"
#include "../host/runtime.h"

typedef struct corun_Io corun_Io;
struct corun_Io {
  corun_Resource res;     /* in its owner task's 'owned' list */
  corun_Link all;         /* in rt->io while open */
  corun_Io **box;         /* borrows: the userdata's pointer to this, or
                             NULL once the userdata was collected */
  lua_Integer owner;      /* id of the task that may use it */
  int closing;            /* 0 open; 1 closing; 2 forced (runtime close) */
  /* Start closing (the object is already unlinked and unboxed); free it
     when done.  'force': the runtime is closing, do not linger. */
  void (*close)(corun_Io *io, int force);
};

/* How every I/O object crosses into a task: it moves (io.c); its owner
   (corun_Class.owner), for classes that extend the crossing. */
extern const corun_Class corun__io_class;
lua_Integer corun__io_owner(lua_State *L, int idx, int *moved);

int corun__io_ready(corun_Runtime *rt);
void corun__io_open(corun_Runtime *rt, corun_Io *io, corun_Task *owner,
                    void (*close)(corun_Io *io, int force));
void corun__io_open_pending(corun_Runtime *rt, corun_Io *io,
                            corun_Task *waiter,
                            void (*close)(corun_Io *io, int force));
void corun__io_pend(corun_Io *io, corun_Task *waiter);
void corun__io_adopt(corun_Io *io, corun_Task *t);
void corun__io_close(corun_Io *io, int force);
void corun__io_done(corun_Io *io);


/* Push nil and "UV_NAME: what libuv says (detail)"; returns 2.  'fmt'
   (may be NULL) formats the detail, as lua_pushfstring. */
int corun__io_fail(lua_State *L, int uverr, const char *fmt, ...);

/* The same for a failure libuv has no code for (TLS and HTTP: "ECERT",
   "ETLS", "EHTTP", ...): nil and "name: what (detail)"; returns 2. */
int corun__io_fail_named(lua_State *L, const char *name, const char *what,
                         const char *fmt, ...);

/* Push a new userdata of class 'tname' (a registered metatable) that
   boxes 'io'. */
void corun__io_push(lua_State *L, corun_Io *io, const char *tname);

/* Prepare the running task 'self' to wait for a libuv callback; raises
   "fname: ..." if it cannot (where it cannot yield, out of memory).  Call
   it before starting the libuv request, or mark the request orphaned
   around the call: a raise must leave no callback waking a waker that is
   not. */
corun_Waker corun__io_prepare(lua_State *L, const char *fname,
                              corun_CancelFn cancel, void *ud);

/* The end of a function whose libuv request has just started: prepare the
   wait ('*orphaned' is set meanwhile, so that if that raises, the
   request's callback frees it), store the waker in '*w' and suspend; the
   results are those the callback wakes the task with (objects among them
   go to the task's root: corun__io_k_adopt).  Use it as
     return corun__io_wait_request(L, fname, cancel, r, &r->orphaned, &r->w);
*/
int corun__io_wait_request(lua_State *L, const char *fname,
                           corun_CancelFn cancel, void *req, int *orphaned,
                           corun_Waker *w);
/* The same with the continuation 'k' instead of corun__io_k_adopt, for an
   operation that goes on after the request (a TLS handshake after the
   connect): 'k' runs with 'ctx' the stack height below the values the
   callback woke the task with, and calls corun__io_adopt_results(L, ctx)
   first. */
int corun__io_wait_request_k(lua_State *L, const char *fname,
                             corun_CancelFn cancel, void *req,
                             int *orphaned, corun_Waker *w,
                             lua_KFunction k);

/* Give the native wait the running task prepared ('w', not waited in yet)
   a deadline on the runtime's clock (a corun__timer_deadline value): if it
   comes first, the task wakes with nothing pushed, and its continuation
   learns so from corun__io_expired.  The deadline follows a paused clock
   like every corun timer.  Raises "fname: not enough memory" if the timer
   heap cannot grow (the prepared wait cannot be woken, and is left when
   the task next waits or ends). */
void corun__io_deadline(lua_State *L, const char *fname, corun_Waker w,
                        uint64_t deadline);

/* In the continuation of a wait given a deadline: 1 if the deadline woke
   the task, which then leaves the wait (its cancel callback runs: nothing
   wakes the task for it any more); 0 if what it waited for woke it. */
int corun__io_expired(lua_State *L);

/* From a libuv callback: wake the task waiting in 'w' with the values
   'push' pushes (returning how many), in protected mode on the runtime's
   scheduler thread; a memory error wakes it with that error instead (a
   continuation of corun__wait_k raises it with corun__wait_check). */
typedef int (*corun_IoPush)(lua_State *L, void *ud);
void corun__io_wake(corun_Runtime *rt, corun_Waker w, corun_IoPush push,
                    void *ud);

/* The same for the task whose waker is in '*slot' (a field of the I/O
   object): the slot is emptied first; nothing if it was empty (nobody
   waits, or a second callback came). */
void corun__io_wake_slot(corun_Runtime *rt, corun_Waker *slot,
                         corun_IoPush push, void *ud);

/* Continuations of waits whose libuv callback made I/O objects for the
   waiting task (corun__io_open_pending): raise an error wake, give the
   objects among the values above 'base' to the running task's root.
   corun__io_k_adopt is such a continuation returning every value above
   the stack height 'ctx'. */
void corun__io_adopt_results(lua_State *L, int base);
int corun__io_k_adopt(lua_State *L, int status, lua_KContext ctx);

/* An alloc callback's answer for a buffer that grows as it is read into
   (*data holding 'len' bytes in '*cap'): at least 'least' bytes free at
   its end, the buffer doubling as it grows; no room if memory runs out
   (libuv then reports UV_ENOBUFS to the read callback). */
void corun__io_read_room(char **data, size_t len, size_t *cap, size_t least,
                         uv_buf_t *buf);

/* Push "1.2.3.4" or "::1" and a port from a socket address. */
void corun__io_push_addr(lua_State *L, const struct sockaddr *sa);

#endif
