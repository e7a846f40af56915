/*
** fswatch.c - corun.fs.watch (fswatch.h): a corun.FsWatcher holds a
** uv_fs_event_t, started when it is made and stopped when it closes.
**
** libuv calls back for each change, whether or not a task waits in
** next(): the change is kept in the watcher's queue, a ring of at most
** CORUN_FSWATCH_QUEUE events.  A change of content to the entry whose
** change of content is the newest event kept (a file written in several
** pieces) is merged into it; renames never are, since libuv reports an
** entry that appears and one that goes alike (a file created, then
** removed).  When the ring is full, the oldest event is dropped and
** counted; next() reports the count (nil, "lagged", k) before the oldest
** event still kept, as a broadcast receiver that fell behind does.  A
** task waiting in next() is only woken: it takes the event in its
** continuation, so that a task cancelled between its wake and its run
** leaves the event for the next call.
**
** The wait does not hold a paused clock (corun__wait_unheld): a change
** may never come.
*/
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "fswatch.h"

/* One change kept for next(). */
typedef struct Event {
  int events;             /* UV_RENAME and/or UV_CHANGE */
  char name[];            /* the changed entry's base name */
} Event;

struct corun_FsWatcher {
  corun_Io io;            /* first: the object's life (io.h) */
  uv_fs_event_t handle;   /* started while open; freed in on_closed */
  corun_Runtime *rt;      /* borrows: valid while open */
  corun_Waker waiter;     /* the task waiting in next(), or 0 */
  Event *ring[CORUN_FSWATCH_QUEUE];  /* owns: the events kept, the
                             oldest at 'head' */
  unsigned head;          /* index of the oldest event kept */
  unsigned count;         /* events kept */
  lua_Integer lagged;     /* events dropped since next() last said so */
  int err;                /* the watch failed (libuv error), sticky */
  char path[];            /* what is watched, for messages */
};

/* A wake with no values: the continuation looks at the watcher. */
static int push_nothing(lua_State *L, void *ud) {
  (void)L; (void)ud;
  return 0;
}

static void on_closed(uv_handle_t *h) {
  corun_FsWatcher *w = h->data;
  while (w->count > 0) {
    free(w->ring[w->head]);
    w->head = (w->head + 1) % CORUN_FSWATCH_QUEUE;
    w->count--;
  }
  free(w);
}

/* The watcher's close (corun_Io.close): at once, there is nothing to
   finish.  A task waiting in next() finds it closed. */
static void watcher_close(corun_Io *io, int force) {
  corun_FsWatcher *w = (corun_FsWatcher *)io;
  (void)force;
  corun__io_wake_slot(w->rt, &w->waiter, push_nothing, NULL);
  uv_fs_event_stop(&w->handle);
  corun__io_done(io);
  uv_close((uv_handle_t *)&w->handle, on_closed);
}

/* Keep the change 'events' of 'name' (see above: merged, or the oldest
   dropped when the ring is full; an event that cannot be allocated is
   counted as dropped). */
static void keep(corun_FsWatcher *w, const char *name, int events) {
  size_t len = strlen(name);
  Event *e;
  if (w->count > 0) {
    Event *last = w->ring[(w->head + w->count - 1) % CORUN_FSWATCH_QUEUE];
    if (events == UV_CHANGE && last->events == UV_CHANGE &&
        strcmp(last->name, name) == 0)
      return;
  }
  if ((e = malloc(sizeof *e + len + 1)) == NULL) {
    w->lagged++;
    return;
  }
  e->events = events;
  memcpy(e->name, name, len + 1);
  if (w->count == CORUN_FSWATCH_QUEUE) {
    free(w->ring[w->head]);
    w->head = (w->head + 1) % CORUN_FSWATCH_QUEUE;
    w->count--;
    w->lagged++;
  }
  w->ring[(w->head + w->count) % CORUN_FSWATCH_QUEUE] = e;
  w->count++;
}

static void on_event(uv_fs_event_t *handle, const char *filename,
                     int events, int status) {
  corun_FsWatcher *w = handle->data;
  if (w->io.closing)
    return;
  if (status < 0) {
    if (w->err == 0)
      w->err = status;
  }
  else
    keep(w, filename != NULL ? filename : "", events);
  corun__io_wake_slot(w->rt, &w->waiter, push_nothing, NULL);
}

int corun__fswatch_open(lua_State *L, const char *fname, corun_Task *self,
                        const char *path) {
  size_t len = strlen(path);
  corun_FsWatcher *w = calloc(1, sizeof *w + len + 1);
  int rc;
  (void)fname;  /* watch fails with results, never raises its own */
  if (w == NULL)
    return corun__io_fail(L, UV_ENOMEM, "%s", path);
  memcpy(w->path, path, len + 1);
  w->rt = self->rt;
  if ((rc = uv_fs_event_init(self->rt->loop, &w->handle)) != 0) {
    free(w);
    return corun__io_fail(L, rc, "%s", path);
  }
  w->handle.data = w;
  if ((rc = uv_fs_event_start(&w->handle, on_event, w->path, 0)) != 0) {
    uv_close((uv_handle_t *)&w->handle, on_closed);
    return corun__io_fail(L, rc, "%s", path);
  }
  corun__io_open(self->rt, &w->io, self, watcher_close);
  corun__io_push(L, &w->io, CORUN_FSWATCHER);
  return 1;
}

/* ------------------------------------------------------------- next */

/* Push the oldest event kept, and forget it. */
static int take(lua_State *L, corun_FsWatcher *w) {
  Event *e = w->ring[w->head];
  lua_pushstring(L, e->name);
  lua_createtable(L, 0, 2);
  if (e->events & UV_CHANGE) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "change");
  }
  if (e->events & UV_RENAME) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "rename");
  }
  w->head = (w->head + 1) % CORUN_FSWATCH_QUEUE;
  w->count--;
  free(e);  /* after the pushes: a memory error keeps it */
  return 2;
}

static void cancel_next(corun_Waker wk, void *ud) {
  corun_FsWatcher *w = ud;
  if (w->waiter == wk)
    w->waiter = 0;
}

static int next_step(lua_State *L, const char *fname);

/* next() woke ('ctx': its fname): take what came, or wait again. */
static int k_next(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  corun__wait_check(L, 1);
  return next_step(L, (const char *)ctx);
}

/* Stack: the watcher.  What is kept first, else the watch's error, else
   wait; the watcher may have closed while the task waited. */
static int next_step(lua_State *L, const char *fname) {
  corun_FsWatcher *w = (corun_FsWatcher *)*(corun_Io **)lua_touserdata(L, 1);
  if (w == NULL)
    return corun__io_fail(L, UV_ECANCELED, "the watcher was closed");
  if (w->lagged > 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "lagged");
    lua_pushinteger(L, w->lagged);
    w->lagged = 0;
    return 3;
  }
  if (w->count > 0)
    return take(L, w);
  if (w->err != 0)
    return corun__io_fail(L, w->err, "%s", w->path);
  if (w->waiter != 0)
    return corun__error(L, fname, "another wait for this watcher is under "
                        "way");
  w->waiter = corun__io_prepare(L, fname, cancel_next, w);
  corun__wait_unheld(w->rt, w->waiter);  /* a change may never come */
  return corun__wait_k(L, w->waiter, (lua_KContext)(intptr_t)fname, k_next);
}

int corun__fswatch_next(lua_State *L, const char *fname, corun_FsWatcher *w) {
  (void)w;  /* next_step finds it at index 1, after a wait too */
  lua_settop(L, 1);
  return next_step(L, fname);
}

int corun__fswatch_tostring(lua_State *L, const corun_FsWatcher *w) {
  if (w == NULL)
    lua_pushliteral(L, "corun.FsWatcher (closed)");
  else
    lua_pushfstring(L, "corun.FsWatcher (%s)", w->path);
  return 1;
}
