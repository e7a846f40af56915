/*
** io.c - the life of I/O objects (see io.h): owned by a task, listed in
** the runtime, closed by whichever comes first of an explicit close, the
** owner's end, the userdata's collection and the runtime's close.
*/
#include "io.h"

static void release(lua_State *L, corun_Resource *r) {
  (void)L;
  corun__io_close(corun__container_of(r, corun_Io, res), 0);
}

/* 'io' is open: owned by the task 'owner' (its root), listed in 'rt'. */
void corun__io_open(corun_Runtime *rt, corun_Io *io, corun_Task *owner,
                    void (*close)(corun_Io *io, int force)) {
  corun__link_init(&io->res.link);
  io->res.release = release;
  corun__link_init(&io->all);
  corun__link_append(&rt->io, &io->all);
  io->box = NULL;
  io->closing = 0;
  io->close = close;
  owner = corun__task_root(owner);
  io->owner = owner->id;
  corun__task_own(owner, &io->res);
}

/*
** The same for an object a libuv callback makes for a task waiting in it
** (a connection, a file): owned by that very task, a branch perhaps, so
** that if the branch is cancelled before it runs again, its end closes
** the object nobody will see; the wait's continuation then gives it to
** the root task (corun__io_adopt), like everything a branch acquires.
*/
void corun__io_open_pending(corun_Runtime *rt, corun_Io *io,
                            corun_Task *waiter,
                            void (*close)(corun_Io *io, int force)) {
  corun__io_open(rt, io, waiter, close);
  corun__link_remove(&io->res.link);
  corun__link_append(&waiter->owned, &io->res.link);
}

/* 'io', made while task 't' waited, reached it: its root task owns it. */
void corun__io_adopt(corun_Io *io, corun_Task *t) {
  if (io->closing == 0 && corun__link_linked(&io->res.link))
    corun__task_own(t, &io->res);
}

/* Start closing 'io' (again, with 'force', if it closes gracefully):
   Lua sees it closed at once. */
void corun__io_close(corun_Io *io, int force) {
  int level = force ? 2 : 1;
  if (io->closing >= level)
    return;
  io->closing = level;
  corun__link_remove(&io->res.link);
  if (io->box != NULL)
    *io->box = NULL;
  io->box = NULL;
  io->close(io, force);
}

/* 'io' has handed its last handle to libuv to close: the runtime need not
   close it any more. */
void corun__io_done(corun_Io *io) {
  corun__link_remove(&io->all);
}

/*
** Close every object of the runtime: gracefully (objects still closing
** stay listed until they are done), or by force (the runtime closes: the
** list ends empty).  Closing one may close others, hence the fresh look
** after each close.
*/
void corun__io_close_all(corun_Runtime *rt, int force) {
  corun_Link *l;
  int closed;
  do {
    closed = 0;
    for (l = rt->io.next; l != &rt->io && !closed; l = l->next) {
      corun_Io *io = corun__container_of(l, corun_Io, all);
      if (io->closing < (force ? 2 : 1)) {
        corun__io_close(io, force);
        if (force)  /* it must not stay: the runtime's memory goes */
          corun__link_remove(&io->all);
        closed = 1;
      }
    }
  } while (closed);
  if (force)  /* what was forced already and is still listed */
    while ((l = corun__link_first(&rt->io)) != NULL)
      corun__link_remove(l);
}
