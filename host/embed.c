/*
** embed.c - the C API for applications that embed corun (corun.h): a
** runtime on the application's state and loop, tasks spawned from C,
** native waits.
**
** Every entry point checks the state it is called in and returns a code
** (the message in corun_State.errmsg) instead of raising; what touches Lua
** in a way that may raise runs under lua_pcall.
**
** Tasks spawned from C carry CORUN_TASK_CSPAWN.  The runtime keeps, in a
** registry table (rt->cspawn_ref), id -> a Spawn userdata holding the host's
** callback, with the task's userdata as its user value; when the task ends,
** it is linked into rt->cdone and told after the scheduler pass (or in
** corun_close), then forgotten.
**
** A native wait is a slot in rt->waiters named by a corun_Waker: the slot's
** generation in the high 32 bits, its index + 1 in the low ones.  A slot is
** freed when the wait ends whichever way (woken, cancelled, abandoned) and
** its generation moves on, so a late or repeated wake finds a stale waker.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "corun.h"
#include "runtime.h"
#include "sched.h"
#include "timer.h"

typedef struct Spawn {
  corun_DoneFn done;      /* may be NULL */
  void *ud;
} Spawn;                  /* user value 1: the task userdata */

static const char native_error = 0;  /* marks a wake with an error */

/* Record what went wrong in L's corun_State; returns 'code'. */
static int fail(lua_State *L, int code, const char *fmt, ...) {
  corun_State *st = corun__state_peek(L);
  if (st != NULL) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->errmsg, sizeof st->errmsg, fmt, ap);
    va_end(ap);
  }
  return code;
}

/* Record the error message on top of L (popped). */
static int fail_top(lua_State *L, int code, const char *fname) {
  const char *msg = lua_tostring(L, -1);
  fail(L, code, "%s: %s", fname, msg != NULL ? msg : "(error object)");
  lua_pop(L, 1);
  return code;
}

/* The runtime open on L's state, or NULL (after recording why). */
static corun_Runtime *runtime_of(lua_State *L, const char *fname) {
  corun_State *st = corun__state_peek(L);
  if (st == NULL || st->rt == NULL) {
    fail(L, CORUN_EINVAL, "%s: no runtime is open on this Lua state",
         fname);
    return NULL;
  }
  return st->rt;
}

/* Inside a task, a scheduler pass or a done callback? */
static int busy(lua_State *L, corun_Runtime *rt, const char *fname) {
  if (rt->current != NULL || rt->stepping) {
    fail(L, CORUN_EBUSY, "%s: not allowed from inside a task, a scheduler "
         "step or a done callback", fname);
    return 1;
  }
  return 0;
}

const char *corun_errmsg(lua_State *L) {
  corun_State *st = corun__state_peek(L);
  return st != NULL ? st->errmsg
                    : "no runtime was ever opened on this Lua state";
}

/* ---------------------------------------------------------- runtime */

/*
** Waits must pass through the coroutines a task runs (a native call in a
** coroutine.wrap iterator), and a task's top level must look like the main
** thread to coroutine.*, even if no script has required "corun" yet:
** install corun's coroutine functions (corun.core's 'coroutine' table) in
** the global 'coroutine' table, as init.lua does.  corun_open and corun_run
** call it; it may raise a memory error.
*/
void corun__embed_coroutines(lua_State *L) {
  luaL_requiref(L, "corun.core", luaopen_corun_core, 0);
  lua_getfield(L, -1, "coroutine");  /* L: core ours */
  if (lua_getglobal(L, "coroutine") == LUA_TTABLE) {  /* L: core ours co */
    lua_pushnil(L);
    while (lua_next(L, -3)) {  /* L: core ours co key fn */
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_settable(L, -4);
    }
  }
  lua_pop(L, 3);
}

static int open_protected(lua_State *L) {
  uv_loop_t *loop = lua_touserdata(L, 1);
  int *rc = lua_touserdata(L, 2);
  corun_Runtime *rt;
  corun__embed_coroutines(L);
  if ((rt = corun__runtime_open(L, loop, 0, rc)) != NULL)
    rt->embedded = 1;
  return 0;
}

int corun_open(lua_State *L, uv_loop_t *loop) {
  corun_State *st = corun__state_peek(L);
  int rc = 0;
  if (st != NULL && st->rt != NULL)
    return fail(L, CORUN_EBUSY, "corun_open: a runtime is already open on "
                "this Lua state");
  if (!lua_checkstack(L, 4))
    return fail(L, CORUN_ENOMEM, "corun_open: not enough memory");
  lua_pushcfunction(L, open_protected);
  lua_pushlightuserdata(L, loop);
  lua_pushlightuserdata(L, &rc);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK)
    return fail_top(L, CORUN_ENOMEM, "corun_open");
  if (rc != 0)
    return fail(L, CORUN_ELOOP, "corun_open: %s: %s", uv_err_name(rc),
                uv_strerror(rc));
  return CORUN_OK;
}

static int close_protected(lua_State *L) {
  corun_Runtime *rt = lua_touserdata(L, 1);
  rt->stepping = 1;  /* done callbacks may not step or close it */
  corun__runtime_cancel_all(L, rt);
  corun__runtime_close(L, rt);  /* tells the host what ended, first */
  return 0;
}

int corun_close(lua_State *L) {
  corun_Runtime *rt = runtime_of(L, "corun_close");
  if (rt == NULL || busy(L, rt, "corun_close"))
    return rt == NULL ? CORUN_EINVAL : CORUN_EBUSY;
  if (!rt->embedded)
    return fail(L, CORUN_EBUSY, "corun_close: the runtime belongs to "
                "corun_run (corun.run), which closes it");
  if (!lua_checkstack(L, 4))
    return fail(L, CORUN_ENOMEM, "corun_close: not enough memory");
  lua_pushcfunction(L, close_protected);
  lua_pushlightuserdata(L, rt);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK)
    return fail_top(L, CORUN_ENOMEM, "corun_close");
  return CORUN_OK;
}

uv_loop_t *corun_loop(lua_State *L) {
  corun_State *st = corun__state_peek(L);
  return st != NULL && st->rt != NULL ? st->rt->loop : NULL;
}

size_t corun_pending(lua_State *L) {
  corun_State *st = corun__state_peek(L);
  return st != NULL && st->rt != NULL ? st->rt->live : 0;
}

int corun_step(lua_State *L, int mode) {
  static const uv_run_mode modes[] = {UV_RUN_ONCE, UV_RUN_ONCE,
                                      UV_RUN_NOWAIT, UV_RUN_DEFAULT};
  corun_Runtime *rt = runtime_of(L, "corun_step");
  if (rt == NULL || busy(L, rt, "corun_step"))
    return rt == NULL ? CORUN_EINVAL : CORUN_EBUSY;
  if (mode < CORUN_STEP_READY || mode > CORUN_STEP_ALL)
    return fail(L, CORUN_EINVAL, "corun_step: unknown mode %d", mode);
  if (!rt->failed) {
    rt->stepping = 1;  /* libuv's loop must not be run re-entrantly */
    if (mode == CORUN_STEP_READY)
      corun__sched_run_ready(rt);
    else
      uv_run(rt->loop, modes[mode]);
    rt->stepping = 0;
  }
  if (rt->failed) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->fatal_ref);
    return fail_top(L, CORUN_ERROR, "corun_step: the runtime failed");
  }
  return CORUN_OK;
}

/* ---------------------------------------------------- tasks from C */

/* fn args... spawn-args -> (nothing); the task is queued. */
static int spawn_protected(lua_State *L) {
  const Spawn *how = lua_touserdata(L, -1);
  lua_Integer *id = lua_touserdata(L, -2);
  corun_Runtime *rt = lua_touserdata(L, -3);
  corun_Task *t;
  Spawn *rec;
  lua_pop(L, 3);
  t = corun__task_new(rt, L, 1, lua_gettop(L) - 1, NULL, CORUN_TASK_CSPAWN,
                      "corun_spawn");            /* fn args... task */
  rec = lua_newuserdatauv(L, sizeof *rec, 1);
  *rec = *how;
  lua_insert(L, -2);
  lua_setiuservalue(L, -2, 1);                   /* fn args... rec */
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->cspawn_ref);
  lua_insert(L, -2);
  lua_rawseti(L, -2, t->id);
  *id = t->id;
  return 0;
}

int corun_spawn(lua_State *L, int nargs, corun_DoneFn done, void *ud,
                lua_Integer *id) {
  corun_Runtime *rt = runtime_of(L, "corun_spawn");
  Spawn how;
  lua_Integer tid = 0;
  if (rt == NULL || nargs < 0 || lua_gettop(L) < nargs + 1 ||
      lua_type(L, -(nargs + 1)) != LUA_TFUNCTION || rt->shutdown) {
    int code = rt == NULL ? CORUN_EINVAL : rt->shutdown ? CORUN_EBUSY
                                                         : CORUN_EINVAL;
    if (nargs >= 0 && lua_gettop(L) >= nargs + 1)
      lua_pop(L, nargs + 1);
    if (rt == NULL)
      return code;
    return fail(L, code, rt->shutdown ? "corun_spawn: the runtime is "
                "shutting down" : "corun_spawn: no function below the "
                "arguments");
  }
  if (!lua_checkstack(L, 8)) {
    lua_pop(L, nargs + 1);
    return fail(L, CORUN_ENOMEM, "corun_spawn: not enough memory");
  }
  how.done = done;
  how.ud = ud;
  lua_pushcfunction(L, spawn_protected);
  lua_insert(L, -(nargs + 2));
  lua_pushlightuserdata(L, rt);
  lua_pushlightuserdata(L, &tid);
  lua_pushlightuserdata(L, &how);
  if (lua_pcall(L, nargs + 4, 0, 0) != LUA_OK)
    return fail_top(L, CORUN_ENOMEM, "corun_spawn");
  if (id != NULL)
    *id = tid;
  return CORUN_OK;
}

int corun_spawn_chunk(lua_State *L, const char *chunk, size_t len,
                      const char *chunkname, corun_DoneFn done, void *ud,
                      lua_Integer *id) {
  if (runtime_of(L, "corun_spawn_chunk") == NULL)
    return CORUN_EINVAL;
  if (chunk == NULL)
    return fail(L, CORUN_EINVAL, "corun_spawn_chunk: no chunk");
  if (!lua_checkstack(L, 2))
    return fail(L, CORUN_ENOMEM, "corun_spawn_chunk: not enough memory");
  if (luaL_loadbufferx(L, chunk, len, chunkname, "t") != LUA_OK)
    return fail_top(L, CORUN_ERROR, "corun_spawn_chunk");
  return corun_spawn(L, 0, done, ud, id);
}

int corun_spawn_file(lua_State *L, const char *path, corun_DoneFn done,
                     void *ud, lua_Integer *id) {
  if (runtime_of(L, "corun_spawn_file") == NULL)
    return CORUN_EINVAL;
  if (!lua_checkstack(L, 2))
    return fail(L, CORUN_ENOMEM, "corun_spawn_file: not enough memory");
  if (luaL_loadfilex(L, path, NULL) != LUA_OK)
    return fail_top(L, CORUN_ERROR, "corun_spawn_file");
  return corun_spawn(L, 0, done, ud, id);
}

int corun_abort(lua_State *L, lua_Integer id) {
  corun_Runtime *rt = runtime_of(L, "corun_abort");
  corun_Task *t = NULL;
  int top = lua_gettop(L);
  if (rt == NULL)
    return CORUN_EINVAL;
  if (!lua_checkstack(L, 3))
    return fail(L, CORUN_ENOMEM, "corun_abort: not enough memory");
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->cspawn_ref);
  if (lua_rawgeti(L, -1, id) == LUA_TUSERDATA &&
      lua_getiuservalue(L, -1, 1) == LUA_TUSERDATA)
    t = lua_touserdata(L, -1);
  lua_settop(L, top);
  if (t == NULL || t->state == CORUN_TASK_DONE)
    return fail(L, CORUN_EINVAL, "corun_abort: no task %lld spawned from "
                "C is running", (long long)id);
  corun__task_abort(t);
  return CORUN_OK;
}

/* Task 't', spawned from C, has ended: tell the host after the pass. */
void corun__embed_task_done(corun_Task *t) {
  corun__link_append(&t->rt->cdone, &t->sibling);
}

/* In protected mode: tell the host that task (light userdata 1) ended. */
static int deliver_one(lua_State *L) {
  corun_Task *t = lua_touserdata(L, 1);
  corun_Runtime *rt = t->rt;
  Spawn *rec;
  int ud, n, status;
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->cspawn_ref);   /* tbl */
  lua_rawgeti(L, 1, t->id);                            /* tbl rec */
  rec = lua_touserdata(L, 2);
  lua_getiuservalue(L, 2, 1);                          /* tbl rec task */
  lua_pushnil(L);
  lua_rawseti(L, 1, t->id);                            /* forgotten */
  if (rec == NULL || rec->done == NULL)
    return 0;  /* a panic stays unobserved: reported */
  ud = 3;
  corun__task_observe(t);
  switch (t->outcome) {
    case CORUN_OUTCOME_OK:
      n = corun__task_push_results(L, ud, t);
      status = CORUN_OK;
      break;
    case CORUN_OUTCOME_PANIC:
      lua_getiuservalue(L, ud, 1);
      lua_getiuservalue(L, ud, 2);
      n = 2;
      status = CORUN_ERROR;
      break;
    default:
      lua_pushfstring(L, "task %I was cancelled", (LUAI_UACINT)t->id);
      n = 1;
      status = CORUN_CANCELLED;
      break;
  }
  rec->done(L, t->id, status, n, rec->ud);
  return 0;
}

/* Tell the host about every task it spawned that has ended. */
void corun__embed_deliver(lua_State *L, corun_Runtime *rt) {
  corun_Link *l;
  int top = lua_gettop(L);
  while ((l = corun__link_first(&rt->cdone)) != NULL) {
    corun_Task *t = corun__container_of(l, corun_Task, sibling);
    corun__link_remove(l);
    lua_pushcfunction(L, deliver_one);
    lua_pushlightuserdata(L, t);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
      const char *msg = lua_tostring(L, -1);
      fprintf(stderr, "corun: telling the host that task %lld ended "
              "failed: %s\n", (long long)t->id, msg ? msg : "(error object)");
      fflush(stderr);
    }
    lua_settop(L, top);
  }
}

/* ----------------------------------------------------- native waits */

static corun_Waiter *waiter_of(corun_Runtime *rt, corun_Waker w) {
  uint32_t slot = (uint32_t)(w & 0xffffffffu), gen = (uint32_t)(w >> 32);
  corun_Waiter *x;
  if (slot == 0 || slot > rt->nwaiters)
    return NULL;
  x = &rt->waiters[slot - 1];
  return x->task != NULL && x->gen == gen ? x : NULL;
}

static corun_Waker waker_of(corun_Runtime *rt, corun_Waiter *x) {
  return ((uint64_t)x->gen << 32) | (uint64_t)(x - rt->waiters + 1);
}

/* The wait of 'x' is over: free its slot; the task no longer has one. */
static void release(corun_Runtime *rt, corun_Waiter *x) {
  if (x->waiting && x->holds)
    corun__clock_unhold(rt);
  x->task->flags &= (unsigned short)~CORUN_TASK_NATIVE;
  x->task = NULL;
  x->co = NULL;
  x->gen++;
  x->next_free = rt->free_waiter;
  rt->free_waiter = (uint32_t)(x - rt->waiters + 1);
}

corun_Waker corun_wait_prepare(lua_State *L, corun_CancelFn cancel,
                               void *ud) {
  corun_State *st = corun__state_peek(L);
  corun_Runtime *rt = st != NULL ? st->rt : NULL;
  corun_Waiter *x;
  if (rt == NULL || rt->current == NULL) {
    fail(L, CORUN_EINVAL, "corun_wait_prepare: must be called from a task "
         "(a native function called by Lua code that runs in corun)");
    return 0;
  }
  if (!lua_isyieldable(L)) {
    fail(L, CORUN_EINVAL, "corun_wait_prepare: the task cannot wait here "
         "(inside a metamethod, iterator or C function that cannot yield)");
    return 0;
  }
  if (rt->current->flags & CORUN_TASK_NATIVE)  /* prepared, never used: */
    corun__embed_abandon(rt->current);           /* its function raised */
  if (rt->free_waiter == 0) {
    if (rt->nwaiters == rt->capwaiters) {
      uint32_t cap = rt->capwaiters ? rt->capwaiters * 2 : 16;
      corun_Waiter *w = realloc(rt->waiters, cap * sizeof *w);
      if (w == NULL) {
        fail(L, CORUN_ENOMEM, "corun_wait_prepare: not enough memory");
        return 0;
      }
      rt->waiters = w;
      rt->capwaiters = cap;
    }
    x = &rt->waiters[rt->nwaiters++];
    /* wakers of another runtime, or of another state, should not match */
    x->gen = (uint32_t)((uintptr_t)st >> 4) ^ (st->opened << 24);
  }
  else {
    x = &rt->waiters[rt->free_waiter - 1];
    rt->free_waiter = x->next_free;
  }
  x->task = rt->current;
  x->co = L;
  x->cancel = cancel;
  x->ud = ud;
  x->waiting = 0;
  x->holds = 1;
  x->next_free = 0;
  x->task->flags |= CORUN_TASK_NATIVE;
  x->task->seq = (uint32_t)(x - rt->waiters + 1);  /* the hint: task.h */
  return waker_of(rt, x);
}

/* The task waiting (or about to wait) in 'w', or NULL if it is over. */
corun_Task *corun__waker_task(corun_Runtime *rt, corun_Waker w) {
  corun_Waiter *x = waiter_of(rt, w);
  return x != NULL ? x->task : NULL;
}

/* In a continuation of corun__wait_k: if corun_wake_error woke the task,
   raise its error (the stack held 'base' values before the wake). */
void corun__wait_check(lua_State *L, int base) {
  if (lua_gettop(L) > base && lua_type(L, -1) == LUA_TLIGHTUSERDATA &&
      lua_touserdata(L, -1) == (void *)&native_error) {
    lua_pop(L, 1);
    lua_error(L);
  }
}

static int k_native(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  corun__wait_check(L, (int)ctx);
  return lua_gettop(L) - (int)ctx;
}

/* corun_wait with continuation 'k' (corun's own I/O): when it runs, the
   values given to corun_wake are on top of the stack. */
int corun__wait_k(lua_State *L, corun_Waker w, lua_KContext ctx,
                  lua_KFunction k) {
  corun_State *st = corun__state_peek(L);
  corun_Runtime *rt = st != NULL ? st->rt : NULL;
  corun_Waiter *x = rt != NULL ? waiter_of(rt, w) : NULL;
  if (x == NULL || x->waiting || x->co != L || x->task != rt->current)
    return luaL_error(L, "corun_wait: the waker was not prepared by this "
                      "call (corun_wait_prepare, then return corun_wait)");
  x->waiting = 1;
  if (x->holds)
    corun__clock_hold(rt);
  x->task->wake = CORUN_WAKE_NONE;  /* until corun_wake or a cancel */
  return corun__sched_wait(L, ctx, k);
}

/* The prepared wait 'w' may never end by itself (accept, a signal): it
   does not hold a paused clock. */
void corun__wait_unheld(corun_Runtime *rt, corun_Waker w) {
  corun_Waiter *x = waiter_of(rt, w);
  if (x != NULL)
    x->holds = 0;
}

int corun_wait(lua_State *L, corun_Waker w) {
  return corun__wait_k(L, w, (lua_KContext)lua_gettop(L), k_native);
}

/* Move the 'n' values on top of L into the waiting thread and wake it. */
static int wake(lua_State *L, corun_Waker w, int n, int is_error,
                const char *fname) {
  corun_State *st = corun__state_peek(L);
  corun_Runtime *rt = st != NULL ? st->rt : NULL;
  corun_Waiter *x;
  corun_Task *t;
  if (n < 0 || lua_gettop(L) < n)
    return fail(L, CORUN_EINVAL, "%s: fewer than %d values on the stack",
                fname, n);
  if (rt == NULL) {
    lua_pop(L, n);
    return fail(L, CORUN_EINVAL, "%s: no runtime is open on this Lua state",
                fname);
  }
  if ((x = waiter_of(rt, w)) == NULL) {
    lua_pop(L, n);
    return fail(L, CORUN_ESTALE, "%s: the wait is over (woken already, or "
                "its task was cancelled)", fname);
  }
  if (!x->waiting || x->co == L) {
    lua_pop(L, n);
    return fail(L, CORUN_EINVAL, "%s: the task is not waiting yet (wake it "
                "from a later callback, after corun_wait)", fname);
  }
  if (!lua_checkstack(x->co, n + 2)) {
    lua_pop(L, n);
    return fail(L, CORUN_ENOMEM, "%s: not enough memory", fname);
  }
  t = x->task;
  lua_xmove(L, x->co, n);
  if (is_error)
    lua_pushlightuserdata(x->co, (void *)&native_error);
  corun__sched_given(x->co, n + is_error);  /* its mark stays on top */
  release(rt, x);
  corun__sched_wake(t, CORUN_WAKE_SIGNAL);
  return CORUN_OK;
}

int corun_wake(lua_State *L, corun_Waker w, int nvalues) {
  return wake(L, w, nvalues, 0, "corun_wake");
}

int corun_wake_error(lua_State *L, corun_Waker w) {
  return wake(L, w, 1, 1, "corun_wake_error");
}

/* Task 't' is cancelled, or ends, or prepares again, with a native wait:
   the host is told.  The slot is found in O(1) through the hint in
   t->seq (task.h), which holds unless the task prepared a wait, raised
   before waiting in it, and then set a deadline: only then a scan. */
void corun__embed_abandon(corun_Task *t) {
  corun_Runtime *rt = t->rt;
  corun_Waiter *x = NULL;
  corun_CancelFn cancel;
  corun_Waker w;
  uint32_t i;
  void *ud;
  if (t->seq >= 1 && t->seq <= rt->nwaiters &&
      rt->waiters[t->seq - 1].task == t)
    x = &rt->waiters[t->seq - 1];
  for (i = 0; i < rt->nwaiters && x == NULL; i++)
    if (rt->waiters[i].task == t)
      x = &rt->waiters[i];
  if (x == NULL) {
    t->flags &= (unsigned short)~CORUN_TASK_NATIVE;
    return;
  }
  cancel = x->cancel;
  ud = x->ud;
  w = waker_of(rt, x);
  release(rt, x);
  if (cancel != NULL)
    cancel(w, ud);
}
