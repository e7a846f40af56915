/*
** io.h - I/O objects: sockets, servers, files, processes, signal watchers.
**
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
#include "runtime.h"

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

int corun__io_ready(corun_Runtime *rt);
void corun__io_open(corun_Runtime *rt, corun_Io *io, corun_Task *owner,
                    void (*close)(corun_Io *io, int force));
void corun__io_open_pending(corun_Runtime *rt, corun_Io *io,
                            corun_Task *waiter,
                            void (*close)(corun_Io *io, int force));
void corun__io_adopt(corun_Io *io, corun_Task *t);
void corun__io_close(corun_Io *io, int force);
void corun__io_done(corun_Io *io);

#endif
