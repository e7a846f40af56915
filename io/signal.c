/*
** signal.c - waits for a signal (signal.h): corun.signal.wait's watchers,
** the runtime's own SIGINT watcher stepping aside for them, and the
** process-wide table of the actions they replaced.
**
** Each wait is a malloc'd record with its own uv_signal_t, started for
** the wait and closed when it ends (the signal came, or the task stopped
** waiting), so a signal that arrives while no task waits for it gets its
** usual action.  While a task waits for SIGINT, the runtime's own SIGINT
** watcher (the executable's: Ctrl-C cancels the main task) is stopped, so
** that the waiting task gets the signal instead; it is started again once
** no watcher for SIGINT is left on the loop.
**
** libuv sets a signal's action to the default when its last watcher
** stops, whatever it was before (ignored SIGPIPE, nohup's ignored SIGHUP,
** a host's handler): the action found when the first wait for a signal
** began is put back when the last one ends.  Signal actions belong to the
** process, so that record is the one process-wide table here.  SIGCHLD is
** the exception: its action is libuv's (libuv reaps children through it,
** for every process corun starts), and libuv alone sets it, so a wait for
** SIGCHLD never puts back an action it found.
*/
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <lauxlib.h>
#include "signal.h"

/* ----------------------------------------------- the runtime's SIGINT */

static void count_sigint(uv_handle_t *h, void *arg) {
  if (h->type == UV_SIGNAL && uv_is_active(h) &&
      ((uv_signal_t *)h)->signum == SIGINT)
    ++*(int *)arg;
}

/* A task is about to wait for SIGINT: the runtime's watcher steps aside. */
static void sigint_pause(corun_Runtime *rt) {
  if (rt->sigint_on && uv_is_active((uv_handle_t *)&rt->sigint))
    uv_signal_stop(&rt->sigint);
}

/* A wait for SIGINT is over: if nothing else on the loop watches SIGINT,
   the runtime's watcher takes it back (before the last watcher stops, or
   libuv would restore the default action in between). */
static void sigint_resume(corun_Runtime *rt) {
  int watchers = 0;
  if (!rt->sigint_on || uv_is_active((uv_handle_t *)&rt->sigint))
    return;
  uv_walk(rt->loop, count_sigint, &watchers);
  if (watchers <= 1)  /* only the wait that ends */
    uv_signal_start(&rt->sigint, rt->sigint.signal_cb, SIGINT);
}

/* ------------------------------------------------ previous actions */

static pthread_mutex_t saved_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  unsigned waits;          /* corun waits for the signal, all runtimes */
  int restore;             /* 'old' is to be put back after the last */
  struct sigaction old;    /* its action before the first wait began */
} saved[NSIG];

/* A wait for 'num' begins (before its watcher starts). */
static void action_keep(int num) {
  pthread_mutex_lock(&saved_lock);
  if (saved[num].waits++ == 0)
    saved[num].restore = num != SIGCHLD &&  /* libuv's: see above */
                         sigaction(num, NULL, &saved[num].old) == 0;
  pthread_mutex_unlock(&saved_lock);
}

/* The first wait's watcher runs: if the action was libuv's already
   (another watcher on some loop), libuv keeps managing it. */
static void action_started(int num) {
  struct sigaction now;
  pthread_mutex_lock(&saved_lock);
  if (saved[num].waits == 1 && saved[num].restore &&
      sigaction(num, NULL, &now) == 0 &&
      now.sa_handler == saved[num].old.sa_handler)
    saved[num].restore = 0;
  pthread_mutex_unlock(&saved_lock);
}

/* A wait for 'num' has ended (after its watcher stopped). */
static void action_restore(int num) {
  pthread_mutex_lock(&saved_lock);
  if (--saved[num].waits == 0 && saved[num].restore)
    sigaction(num, &saved[num].old, NULL);
  pthread_mutex_unlock(&saved_lock);
}

/* ------------------------------------------------------------- waits */

typedef struct Watch {
  uv_signal_t handle;     /* started while the task waits */
  corun_Runtime *rt;      /* borrows: valid while the handle is open */
  corun_Waker w;          /* the waiting task, or 0 once it was told */
  int num;                /* the signal it waits for */
  const char *name;       /* borrows (static): its name, the result */
} Watch;

static void on_closed(uv_handle_t *handle) {
  free(handle->data);
}

/* Stop watching and close the handle (freed in its close callback). */
static void watch_end(Watch *x) {
  if (x->num == SIGINT)
    sigint_resume(x->rt);
  uv_signal_stop(&x->handle);
  action_restore(x->num);
  uv_close((uv_handle_t *)&x->handle, on_closed);
}

static int push_name(lua_State *L, void *ud) {
  lua_pushstring(L, ((Watch *)ud)->name);
  return 1;
}

static void on_signal(uv_signal_t *handle, int signum) {
  Watch *x = handle->data;
  (void)signum;
  if (x->w == 0)  /* a second delivery before the close */
    return;
  corun__io_wake_slot(x->rt, &x->w, push_name, x);
  watch_end(x);
}

static void cancel_watch(corun_Waker w, void *ud) {
  Watch *x = ud;
  (void)w;
  x->w = 0;
  watch_end(x);
}

int corun__signal_wait(lua_State *L, const char *fname, corun_Task *self,
                       int num, const char *name) {
  corun_Runtime *rt = self->rt;
  Watch *x;
  int rc;
  if ((x = calloc(1, sizeof *x)) == NULL)
    return corun__io_fail(L, UV_ENOMEM, "%s", name);
  x->rt = rt;
  x->num = num;
  x->name = name;
  if ((rc = uv_signal_init(rt->loop, &x->handle)) != 0) {
    free(x);
    return corun__io_fail(L, rc, "%s", name);
  }
  x->handle.data = x;
  action_keep(num);
  rc = uv_signal_start(&x->handle, on_signal, num);
  if (rc == 0) {
    action_started(num);
    if (num == SIGINT)  /* after ours started: never a moment with no
                           handler for Ctrl-C */
      sigint_pause(rt);
  }
  if (rc != 0 || (x->w = corun_wait_prepare(L, cancel_watch, x)) == 0) {
    watch_end(x);
    if (rc != 0)
      return corun__io_fail(L, rc, "%s", name);
    return corun__error(L, fname, "%s", corun_errmsg(L));
  }
  corun__wait_unheld(rt, x->w);  /* a signal may never come */
  lua_settop(L, 0);
  return corun_wait(L, x->w);
}
