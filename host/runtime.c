/*
** runtime.c - a runtime's life: open, run the main task, shut down.
**
** Only this module calls uv_run (corun_step through corun__runtime_run).
** The runtime owns its loop, or borrows the application's; its memory is
** freed only after the close callbacks of all its libuv handles have run.
** The layers above the core (I/O objects, native waits, tasks spawned
** from C) are reached only through the runtime's hooks (corun_Hook).
*/
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <lauxlib.h>
#include "corun.h"
#include "debug.h"
#include "runtime.h"
#include "sched.h"
#include "timer.h"

static const char state_key = 0;  /* registry key of the corun_State */

/*
** Raise "fname: <formatted message>", the form of every misuse error of
** corun (API.md): the message names the function, so no position is
** added (luaL_error would prefix the Lua caller's file and line).
*/
int corun__verror(lua_State *L, const char *fname, const char *fmt,
                  va_list ap) {
  lua_pushfstring(L, "%s: ", fname);
  lua_pushvfstring(L, fmt, ap);
  lua_concat(L, 2);
  return lua_error(L);
}

int corun__error(lua_State *L, const char *fname, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  return corun__verror(L, fname, fmt, ap);  /* does not return */
}

const char *corun_version_string(void) {
  static char text[96];
  if (text[0] == '\0')
    snprintf(text, sizeof text, "corun %s (%s, libuv %s)", CORUN_VERSION,
             LUA_RELEASE, uv_version_string());
  return text;
}

/* The corun_State of L's Lua state, or NULL if none was made yet (pushes
   nothing, never raises). */
corun_State *corun__state_peek(lua_State *L) {
  corun_State *st = NULL;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &state_key) == LUA_TUSERDATA)
    st = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return st;
}

/* Push the corun_State of L's Lua state (made on first use). */
corun_State *corun__state(lua_State *L) {
  corun_State *st;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &state_key) == LUA_TUSERDATA)
    return lua_touserdata(L, -1);
  lua_pop(L, 1);
  st = lua_newuserdatauv(L, sizeof *st, 0);
  st->rt = NULL;
  st->opened = 0;
  st->errmsg[0] = '\0';
  st->loaded_adds = 0;
  st->loaded_seen = -1;
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &state_key);
  return st;
}

static void on_sigint(uv_signal_t *handle, int signum) {
  corun_Runtime *rt = handle->data;
  (void)signum;
  if (!rt->interrupted && rt->main->state != CORUN_TASK_DONE) {
    rt->interrupted = 1;
    corun__task_abort(rt->main);
    return;
  }
  uv_signal_stop(handle);  /* a second Ctrl-C: die the default way */
  signal(SIGINT, SIG_DFL);
  raise(SIGINT);
}

/* Ctrl-\: the live tasks and where they wait, on stderr; nothing stops. */
static void on_sigquit(uv_signal_t *handle, int signum) {
  (void)signum;
  corun__debug_dump_stderr(handle->data);
}

/* Open 'rt' on 'loop' (NULL: a loop of its own).  Returns 0 or a libuv
   error code; raises on a memory error. */
static int open_runtime(lua_State *L, corun_Runtime *rt, uv_loop_t *loop,
                        int flags) {
  int rc;
  corun__link_init(&rt->unobserved);
  corun__link_init(&rt->orphans);
  corun__link_init(&rt->hooks);
  rt->next_id = 1;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  rt->globals = lua_topointer(L, -1);
  lua_pop(L, 1);
  rt->S = lua_newthread(L);
  rt->S_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  rt->A = lua_newthread(L);
  rt->A_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (!lua_checkstack(rt->A, CORUN_ANCHOR_ROOM))
    luaL_error(L, "corun.run: not enough memory");
  lua_newtable(rt->A);  /* CORUN_ANCHOR_TASKS */
  corun__task_metatables(L);
  lua_xmove(L, rt->A, 2);  /* CORUN_ANCHOR_META, CORUN_ANCHOR_PANIC */
  lua_pushboolean(L, 0);  /* a slot, so that storing an error never allocates */
  rt->fatal_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  rt->deadlock_ref = LUA_NOREF;
  if (loop == NULL) {
    if ((rc = uv_loop_init(&rt->own_loop)) != 0)
      return rc;
    loop = &rt->own_loop;
  }
  rt->loop = loop;
  corun__sched_init(rt);
  if ((rc = corun__timer_init(rt)) != 0)
    return rc;
  if (flags & CORUN_PAUSED_CLOCK)
    corun__clock_pause(rt);
  if (flags & CORUN_HANDLE_SIGINT) {
    if ((rc = uv_signal_init(rt->loop, &rt->sigint)) != 0)
      return rc;
    rt->sigint.data = rt;
    rt->sigint_on = 1;
    rt->handles++;
    if ((rc = uv_signal_start(&rt->sigint, on_sigint, SIGINT)) != 0)
      return rc;
    uv_unref((uv_handle_t *)&rt->sigint);  /* it keeps no task alive */
  }
  if (flags & CORUN_HANDLE_SIGQUIT) {
    if ((rc = uv_signal_init(rt->loop, &rt->sigquit)) != 0)
      return rc;
    rt->sigquit.data = rt;
    rt->sigquit_on = 1;
    rt->handles++;
    if ((rc = uv_signal_start(&rt->sigquit, on_sigquit, SIGQUIT)) != 0)
      return rc;
    uv_unref((uv_handle_t *)&rt->sigquit);
  }
  return 0;
}

static void free_runtime(corun_Runtime *rt) {
  free(rt->free_slots);
  free(rt->heap);
  free(rt);
}

/* A runtime on a loop it does not own is freed by the close callback of
   its last handle, which runs when the application next runs its loop. */
static void on_close(uv_handle_t *handle) {
  corun_Runtime *rt = handle->data;
  if (--rt->handles == 0 && !corun__owns_loop(rt) && rt->state == NULL)
    free_runtime(rt);
}

/* Let go of the Lua side of 'rt', then close its handles and free it (on
   its own loop at once; on the application's loop from on_close). */
static void close_runtime(lua_State *L, corun_Runtime *rt) {
  while (corun__link_first(&rt->orphans) != NULL)  /* the table goes too */
    corun__link_remove(corun__link_first(&rt->orphans));
  luaL_unref(L, LUA_REGISTRYINDEX, rt->S_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, rt->A_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, rt->fatal_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, rt->deadlock_ref);
  rt->state = NULL;
  if (rt->loop == NULL) {  /* failed before it had a loop */
    free_runtime(rt);
    return;
  }
  if (rt->handles > 0) {
    uv_close((uv_handle_t *)&rt->idle, on_close);
    corun__timer_close(rt, on_close);
    if (rt->sigint_on)
      uv_close((uv_handle_t *)&rt->sigint, on_close);
    if (rt->sigquit_on)
      uv_close((uv_handle_t *)&rt->sigquit, on_close);
  }
  if (corun__owns_loop(rt)) {
    uv_run(rt->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(rt->loop) != 0) {  /* a corun bug: say so */
      fprintf(stderr, "corun: libuv handles left open at the end\n");
      fflush(stderr);
    }
    free_runtime(rt);
  }
  else if (rt->handles == 0)
    free_runtime(rt);
}

/* A write to a socket or pipe whose reader is gone must fail with EPIPE,
   not kill the process: ignore SIGPIPE, unless the host handles it.  At
   each runtime's open, and again before corun makes a pipe (a wait for
   SIGPIPE ends with libuv setting the default action back). */
void corun__runtime_ignore_sigpipe(void) {
  struct sigaction old;
  if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
      !(old.sa_flags & SA_SIGINFO))
    signal(SIGPIPE, SIG_IGN);
}

/*
** Open a runtime on L's state, on 'loop' (NULL: a loop of its own); it
** becomes the state's runtime.  NULL with '*rc' set to a libuv error code
** if the loop fails; raises on a memory error.
*/
corun_Runtime *corun__runtime_open(lua_State *L, uv_loop_t *loop, int flags,
                                   int *rc) {
  corun_State *st = corun__state(L);
  corun_Runtime *rt = calloc(1, sizeof *rt);
  lua_pop(L, 1);
  if (rt == NULL)
    luaL_error(L, "corun: not enough memory");
  rt->state = st;  /* close_runtime resets it */
  corun__runtime_ignore_sigpipe();
  if ((*rc = open_runtime(L, rt, loop, flags)) != 0) {
    close_runtime(L, rt);
    return NULL;
  }
  st->rt = rt;
  st->opened++;
  return rt;
}

/* Close the state's runtime 'rt' (its tasks have ended): the hooks are
   told, the last made first; then unobserved panics are reported. */
void corun__runtime_close(lua_State *L, corun_Runtime *rt) {
  corun_Link *l;
  while ((l = rt->hooks.prev) != &rt->hooks) {
    corun_Hook *h = corun__container_of(l, corun_Hook, link);
    corun__link_remove(l);
    h->close(L, h);
  }
  corun__task_report_unobserved(rt);
  rt->state->rt = NULL;
  close_runtime(L, rt);
}

/*
** The main task has ended: cancel every other task, and let the hooks
** wind down (I/O objects close gracefully, so that the loop ends once what
** writes took has gone out, as it would had the program gone on).
*/
void corun__runtime_main_done(lua_State *L, corun_Runtime *rt) {
  corun_Link *l;
  corun__runtime_cancel_all(L, rt);
  for (l = rt->hooks.next; l != &rt->hooks; l = l->next) {
    corun_Hook *h = corun__container_of(l, corun_Hook, link);
    if (h->main_done != NULL)
      h->main_done(h);
  }
}

/* After a scheduler pass (sched.c): the hooks that want to know. */
void corun__runtime_after_pass(lua_State *L, corun_Runtime *rt) {
  corun_Link *l;
  for (l = rt->hooks.next; l != &rt->hooks; l = l->next) {
    corun_Hook *h = corun__container_of(l, corun_Hook, link);
    if (h->after_pass != NULL)
      h->after_pass(L, h);
  }
}

/* 'h' is told about the runtime from now on, until it closes. */
void corun__runtime_add_hook(corun_Runtime *rt, corun_Hook *h) {
  CORUN_ASSERT(h->close != NULL && h->kind != NULL);
  corun__link_append(&rt->hooks, &h->link);
}

/* The hook of kind 'kind' (corun_Hook.kind), or NULL. */
corun_Hook *corun__runtime_hook(corun_Runtime *rt, const void *kind) {
  corun_Link *l;
  for (l = rt->hooks.next; l != &rt->hooks; l = l->next) {
    corun_Hook *h = corun__container_of(l, corun_Hook, link);
    if (h->kind == kind)
      return h;
  }
  return NULL;
}

/* Run the loop (the only uv_run of a runtime's life but its close). */
int corun__runtime_run(corun_Runtime *rt, uv_run_mode mode) {
  return uv_run(rt->loop, mode);
}

/*
** Shut down: cancel every task.  Cancelling runs <close> handlers, which
** cannot spawn (the runtime is shutting down) but may end other tasks, so
** the live tasks are collected afresh each round.
*/
void corun__runtime_cancel_all(lua_State *L, corun_Runtime *rt) {
  rt->shutdown = 1;
  luaL_checkstack(L, 6, NULL);
  while (rt->live > 0) {
    size_t before = rt->live;
    int i, n = 0;
    lua_createtable(L, (int)rt->live, 0);  /* snapshot, keeps them alive */
    lua_pushvalue(rt->A, CORUN_ANCHOR_TASKS);
    lua_xmove(rt->A, L, 1);
    lua_pushnil(L);
    while (lua_next(L, -2))  /* snapshot tasks key value */
      if (lua_type(L, -1) == LUA_TUSERDATA)
        lua_rawseti(L, -4, ++n);
      else
        lua_pop(L, 1);
    lua_pop(L, 1);
    for (i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      corun__task_cancel(L, lua_touserdata(L, -1));
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (rt->live == before)  /* only running tasks: they stop at a wait */
      break;
  }
}

/*
** Anchor the value on top of L (a task userdata, which stays there) in the
** task table, so that it lives while the task is not done.  Returns its
** slot.  Slots are reused, lowest-freed-last, so the table stays dense.
*/
int corun__runtime_anchor(lua_State *L, corun_Runtime *rt) {
  int slot;
  if (rt->nfree > 0)
    slot = rt->free_slots[--rt->nfree];
  else {
    if (rt->nslots == rt->freecap) {  /* unanchoring must never allocate */
      int cap = rt->freecap ? rt->freecap * 2 : 1024;
      int *slots = realloc(rt->free_slots, (size_t)cap * sizeof *slots);
      if (slots == NULL)
        luaL_error(L, "corun: not enough memory");
      rt->free_slots = slots;
      rt->freecap = cap;
    }
    slot = ++rt->nslots;
  }
  lua_pushvalue(L, -1);
  lua_xmove(L, rt->A, 1);
  lua_rawseti(rt->A, CORUN_ANCHOR_TASKS, slot);
  return slot;
}

void corun__runtime_unanchor(corun_Runtime *rt, int slot) {
  lua_pushnil(rt->A);
  lua_rawseti(rt->A, CORUN_ANCHOR_TASKS, slot);
  rt->free_slots[rt->nfree++] = slot;
}

/* A scheduler pass failed (out of memory): keep its error, stop. */
void corun__runtime_fatal(corun_Runtime *rt) {
  lua_rawseti(rt->S, LUA_REGISTRYINDEX, rt->fatal_ref);
  rt->failed = 1;
  rt->deadlock = 0;
  if (corun__owns_loop(rt))  /* the application's loop is not ours to stop */
    uv_stop(rt->loop);
}

/*
** From corun_run, in protected mode: run the function below the 'nargs'
** values on top of L as the main task until it ends, or until nothing can
** wake it any more (a deadlock: the live tasks and what they wait on are
** kept as text, rt->deadlock_ref, and the main task is cancelled).  Leaves
** the main task's userdata on top of L.
*/
void corun__runtime_run_main(lua_State *L, corun_Runtime *rt, int nargs) {
  rt->main = corun__task_new(rt, L, lua_gettop(L) - nargs, nargs, NULL,
                             CORUN_TASK_MAIN, "corun.run");
  corun__runtime_run(rt, UV_RUN_DEFAULT);
  if (rt->main->state != CORUN_TASK_DONE) {  /* nothing left to wake it */
    rt->deadlock = 1;
    corun__debug_push_dump(L, rt, 0);
    rt->deadlock_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    corun__task_cancel(L, rt->main);
  }
}
