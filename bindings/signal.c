/*
** signal.c - corun.signal.wait, and the table of signal names that
** process:kill shares (corunL_checksignal).
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
#include <string.h>
#include <lauxlib.h>
#include "corunio.h"

/* ------------------------------------------------------------ names */

typedef struct SignalName {
  const char *name;       /* "SIGTERM" */
  int num;                /* SIGTERM */
  int catchable;          /* corun.signal.wait may wait for it */
} SignalName;

/* The signals a script may name.  Those that cannot be caught, or whose
   handler could not return (faults), are for kill only, as in Tokio. */
static const SignalName names[] = {
  {"SIGHUP", SIGHUP, 1}, {"SIGINT", SIGINT, 1}, {"SIGQUIT", SIGQUIT, 1},
  {"SIGILL", SIGILL, 0}, {"SIGTRAP", SIGTRAP, 1}, {"SIGABRT", SIGABRT, 1},
  {"SIGBUS", SIGBUS, 0}, {"SIGFPE", SIGFPE, 0}, {"SIGKILL", SIGKILL, 0},
  {"SIGUSR1", SIGUSR1, 1}, {"SIGSEGV", SIGSEGV, 0},
  {"SIGUSR2", SIGUSR2, 1}, {"SIGPIPE", SIGPIPE, 1},
  {"SIGALRM", SIGALRM, 1}, {"SIGTERM", SIGTERM, 1},
  {"SIGCHLD", SIGCHLD, 1}, {"SIGCONT", SIGCONT, 1},
  {"SIGSTOP", SIGSTOP, 0}, {"SIGTSTP", SIGTSTP, 1},
  {"SIGTTIN", SIGTTIN, 1}, {"SIGTTOU", SIGTTOU, 1}, {"SIGURG", SIGURG, 1},
  {"SIGXCPU", SIGXCPU, 1}, {"SIGXFSZ", SIGXFSZ, 1},
  {"SIGVTALRM", SIGVTALRM, 1}, {"SIGPROF", SIGPROF, 1},
  {"SIGWINCH", SIGWINCH, 1}, {"SIGSYS", SIGSYS, 1},
#ifdef SIGIO
  {"SIGIO", SIGIO, 1},
#endif
#ifdef SIGPWR
  {"SIGPWR", SIGPWR, 1},
#endif
  {NULL, 0, 0}
};

/* The entry named by the string at 'arg'; raises if there is none. */
static const SignalName *check_name(lua_State *L, const char *fname,
                                    int arg) {
  const char *s;
  int i;
  if (lua_type(L, arg) != LUA_TSTRING)
    corunL_typeerror(L, fname, arg, "signal name");
  s = lua_tostring(L, arg);
  for (i = 0; names[i].name != NULL; i++)
    if (strcmp(names[i].name, s) == 0)
      return &names[i];
  corunL_error(L, fname, "bad argument #%d (unknown signal '%s')", arg, s);
  return NULL;
}

int corunL_checksignal(lua_State *L, const char *fname, int arg) {
  return check_name(L, fname, arg)->num;
}

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
  const SignalName *sig;  /* what it waits for */
} Watch;

static void on_closed(uv_handle_t *handle) {
  free(handle->data);
}

/* Stop watching and close the handle (freed in its close callback). */
static void watch_end(Watch *x) {
  if (x->sig->num == SIGINT)
    sigint_resume(x->rt);
  uv_signal_stop(&x->handle);
  action_restore(x->sig->num);
  uv_close((uv_handle_t *)&x->handle, on_closed);
}

static int push_name(lua_State *L, void *ud) {
  lua_pushstring(L, ((Watch *)ud)->sig->name);
  return 1;
}

static void on_signal(uv_signal_t *handle, int signum) {
  Watch *x = handle->data;
  corun_Waker w = x->w;
  (void)signum;
  if (w == 0)  /* a second delivery before the close */
    return;
  x->w = 0;
  corun__io_wake(x->rt, w, push_name, x);
  watch_end(x);
}

static void cancel_watch(corun_Waker w, void *ud) {
  Watch *x = ud;
  (void)w;
  x->w = 0;
  watch_end(x);
}

/* corun.signal.wait(name) -> name, once that signal arrives. */
static int l_wait(lua_State *L) {
  static const char fname[] = "corun.signal.wait";
  const SignalName *sig = check_name(L, fname, 1);
  corun_Runtime *rt;
  Watch *x;
  int rc;
  if (!sig->catchable)
    return corunL_error(L, fname, "bad argument #1 (%s cannot be waited "
                        "for)", sig->name);
  rt = corunL_waiter(L, fname)->rt;
  if ((x = calloc(1, sizeof *x)) == NULL)
    return corun__io_fail(L, UV_ENOMEM, "%s", sig->name);
  x->rt = rt;
  x->sig = sig;
  if ((rc = uv_signal_init(rt->loop, &x->handle)) != 0) {
    free(x);
    return corun__io_fail(L, rc, "%s", sig->name);
  }
  x->handle.data = x;
  action_keep(sig->num);
  rc = uv_signal_start(&x->handle, on_signal, sig->num);
  if (rc == 0) {
    action_started(sig->num);
    if (sig->num == SIGINT)  /* after ours started: never a moment with
                                no handler for Ctrl-C */
      sigint_pause(rt);
  }
  if (rc != 0 || (x->w = corun_wait_prepare(L, cancel_watch, x)) == 0) {
    watch_end(x);
    if (rc != 0)
      return corun__io_fail(L, rc, "%s", sig->name);
    return corunL_error(L, fname, "%s", corun_errmsg(L));
  }
  corun__wait_unheld(rt, x->w);  /* a signal may never come */
  lua_settop(L, 0);
  return corun_wait(L, x->w);
}

/* -------------------------------------------------------------- open */

static const luaL_Reg signal_functions[] = {
  {"wait", l_wait}, {NULL, NULL}
};

void corunL_open_signal(lua_State *L) {
  corun__state(L);                  /* module state */
  lua_newtable(L);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, signal_functions, 1);
  lua_setfield(L, -3, "signal");
  lua_pop(L, 1);
}
