/*
** embed.c - the C API for applications that embed corun (corun.h): a
** runtime run to completion (corun_run) or open on the application's state
** and loop (corun_open), tasks spawned from C, native waits.
**
** Every entry point checks the state it is called in and returns a code
** (the message in corun_State.errmsg) instead of raising; what touches Lua
** in a way that may raise runs under lua_pcall.
**
** This layer keeps its state per runtime in an Embed record, a corun_Hook
** of the runtime (made on first use): the core tells it about the end of
** each scheduler pass and about the runtime's close, and knows nothing
** else of it.
**
** A task spawned from C owns a Spawn record (a corun_Resource): its end
** links the record into the Embed's 'ended' list, and after the scheduler
** pass (or in corun_close) the host is told and the record forgotten.
** Until then the record is in a registry table, id -> record, with the
** task's userdata as its user value.
**
** A native wait is a Waiter, found from a corun_Waker: the slot's
** generation in the high 32 bits, its index + 1 in the low ones.  Waiters
** live in chunks that never move, so a parked task's 'wait' can point
** into them; a slot is freed when the wait ends whichever way (woken,
** cancelled, abandoned) and its generation moves on, so a late or
** repeated wake finds a stale waker.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "corun.h"
#include "embed.h"
#include "runtime.h"
#include "sched.h"
#include "timer.h"

#define CHUNK 64          /* waiters per chunk */

/* A native wait: a slot that a corun_Waker names. */
typedef struct Waiter {
  corun_Wait wait;        /* the parked task's 'wait' points here */
  uint32_t gen;           /* matches the waker's high half while in use */
  uint32_t next_free;     /* next free slot + 1 while free */
  corun_Task *task;       /* the task that prepared it, NULL when free */
  lua_State *co;          /* the thread that waits in it */
  corun_CancelFn cancel;
  void *ud;
  int waiting;            /* 0: prepared; 1: the task waits in it */
  int holds;              /* while waiting, it holds a paused clock (an I/O
                             operation in progress; see timer.h) */
  const char *desc;       /* borrows (valid until the wait is over): the
                             host's description (corun_wait_describe), or
                             NULL */
} Waiter;

/* This layer's state in one runtime. */
typedef struct Embed {
  corun_Hook hook;        /* in the runtime's hooks (kind: &embed_kind) */
  corun_Runtime *rt;      /* borrows: the runtime, which outlives it */
  int spawned_ref;        /* registry ref: id -> Spawn record of a task
                             spawned from C, until its end is told; or
                             LUA_NOREF before the first */
  corun_Link ended;       /* Spawn records of tasks that ended, to tell */
  Waiter **chunks;        /* owns: chunks of CHUNK waiters (each owned) */
  uint32_t nchunks;       /* chunks allocated */
  uint32_t nwaiters;      /* slots used */
  uint32_t free_waiter;   /* first free slot + 1, or 0 */
} Embed;

/* A task spawned from C: a full userdata, user value 1 = the task. */
typedef struct Spawn {
  corun_Resource res;     /* owned by the task: its end tells us */
  corun_Link ended;       /* in Embed.ended once the task ended */
  corun_Task *task;       /* borrows: user value 1 keeps it */
  Embed *e;               /* borrows */
  corun_DoneFn done;      /* may be NULL */
  void *ud;
} Spawn;

static const char embed_kind = 0;  /* identifies the Embed hook */

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

/* ------------------------------------------------------------ state */

static void deliver_all(lua_State *L, Embed *e);

static void after_pass(lua_State *L, corun_Hook *h) {
  Embed *e = corun__container_of(h, Embed, hook);
  if (corun__link_linked(&e->ended))  /* tell the host what ended */
    deliver_all(L, e);
}

/* The runtime closes: the host hears how the rest of its tasks ended
   (cancelled, mostly), then the Embed goes. */
static void embed_close(lua_State *L, corun_Hook *h) {
  Embed *e = corun__container_of(h, Embed, hook);
  uint32_t i;
  deliver_all(L, e);
  if (e->spawned_ref != LUA_NOREF)
    luaL_unref(L, LUA_REGISTRYINDEX, e->spawned_ref);
  for (i = 0; i < e->nchunks; i++)
    free(e->chunks[i]);
  free(e->chunks);
  free(e);
}

/* The Embed of 'rt', if it was made. */
static Embed *embed_peek(corun_Runtime *rt) {
  corun_Hook *h = corun__runtime_hook(rt, &embed_kind);
  return h != NULL ? corun__container_of(h, Embed, hook) : NULL;
}

/* The Embed of 'rt', made on first use; NULL when memory runs out. */
static Embed *embed_of(corun_Runtime *rt) {
  Embed *e = embed_peek(rt);
  if (e != NULL || (e = calloc(1, sizeof *e)) == NULL)
    return e;
  e->hook.kind = &embed_kind;
  e->hook.after_pass = after_pass;
  e->hook.close = embed_close;
  e->rt = rt;
  e->spawned_ref = LUA_NOREF;
  corun__link_init(&e->ended);
  corun__runtime_add_hook(rt, &e->hook);
  return e;
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

/* In protected mode: fn args... rt -> the main task's userdata (see
   corun__runtime_run_main); corun's coroutine functions first, as
   corun_open does. */
static int run_protected(lua_State *L) {
  corun_Runtime *rt = lua_touserdata(L, -1);
  lua_pop(L, 1);
  corun__embed_coroutines(L);
  corun__runtime_run_main(L, rt, lua_gettop(L) - 1);
  return 1;
}

/* Replace the main task userdata on top of L by what corun_run returns. */
static int main_outcome(lua_State *L, corun_Runtime *rt, int *nresults) {
  int ud = lua_gettop(L);
  corun_Task *main = lua_touserdata(L, ud);
  if (lua_rawgeti(L, LUA_REGISTRYINDEX, rt->fatal_ref) != LUA_TBOOLEAN) {
    lua_pushliteral(L, "");
    lua_remove(L, ud);
    return CORUN_ERROR;
  }
  lua_pop(L, 1);
  if (main->outcome != CORUN_OUTCOME_CANCELLED) {
    *nresults = corun__task_push_outcome(L, ud, main);
    lua_remove(L, ud);
    if (main->outcome == CORUN_OUTCOME_OK)
      return CORUN_OK;
    *nresults = 0;
    return CORUN_ERROR;  /* the error value and its traceback */
  }
  lua_pop(L, 1);
  if (rt->interrupted)
    return CORUN_INTERRUPTED;
  lua_pushliteral(L, "corun.run: deadlock: the main task waits for "
                  "something that no task or event can bring\n");
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->deadlock_ref);  /* the tasks then */
  if (!lua_isstring(L, -1)) {
    lua_pop(L, 1);
    lua_pushliteral(L, "");
  }
  lua_concat(L, 2);
  {  /* no newline at the end */
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    if (len > 0 && msg[len - 1] == '\n') {
      lua_pushlstring(L, msg, len - 1);
      lua_replace(L, -2);
    }
  }
  lua_pushliteral(L, "");
  return CORUN_ERROR;
}

int corun_run(lua_State *L, int nargs, int flags, int *nresults) {
  int fn = lua_gettop(L) - nargs;
  corun_State *st = corun__state(L);
  corun_Runtime *rt;
  int status, rc, ignored;
  lua_pop(L, 1);
  if (nresults == NULL)
    nresults = &ignored;
  *nresults = 0;
  if (st->rt != NULL) {
    lua_settop(L, fn - 1);
    lua_pushliteral(L, "cannot start a runtime from within a runtime");
    return CORUN_EBUSY;
  }
  if ((rt = corun__runtime_open(L, NULL, flags, &rc)) == NULL) {
    lua_settop(L, fn - 1);
    lua_pushfstring(L, "corun.run: cannot start the loop: %s: %s",
                    uv_err_name(rc), uv_strerror(rc));
    lua_pushliteral(L, "");
    return CORUN_ERROR;
  }
  lua_pushcfunction(L, run_protected);
  lua_insert(L, fn);
  lua_pushlightuserdata(L, rt);
  if (lua_pcall(L, nargs + 2, 1, 0) == LUA_OK)
    status = main_outcome(L, rt, nresults);
  else {
    lua_pushliteral(L, "");
    status = CORUN_ERROR;
  }
  corun__runtime_close(L, rt);
  return status;
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
      corun__runtime_run(rt, modes[mode]);
    rt->stepping = 0;
  }
  if (rt->failed) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->fatal_ref);
    return fail_top(L, CORUN_ERROR, "corun_step: the runtime failed");
  }
  return CORUN_OK;
}

/* ---------------------------------------------------- tasks from C */

/* The task of 'rec' ended (its resource is released at its end): tell
   the host after the scheduler pass. */
static void spawn_ended(lua_State *L, corun_Resource *r) {
  Spawn *rec = corun__container_of(r, Spawn, res);
  (void)L;
  corun__link_append(&rec->e->ended, &rec->ended);
}

/* fn args... spawn-args -> (nothing); the task is queued. */
static int spawn_protected(lua_State *L) {
  const Spawn *how = lua_touserdata(L, -1);
  lua_Integer *id = lua_touserdata(L, -2);
  Embed *e = lua_touserdata(L, -3);
  corun_Task *t;
  Spawn *rec;
  lua_pop(L, 3);
  if (e->spawned_ref == LUA_NOREF) {
    lua_newtable(L);
    e->spawned_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  rec = lua_newuserdatauv(L, sizeof *rec, 1);    /* fn args... rec */
  lua_insert(L, 1);                              /* rec fn args... */
  t = corun__task_new(e->rt, L, 2, lua_gettop(L) - 2, NULL,
                      CORUN_TASK_NOCOPY, "corun_spawn");
  lua_setiuservalue(L, 1, 1);                    /* rec fn args... */
  *rec = *how;
  corun__link_init(&rec->res.link);
  corun__link_init(&rec->ended);
  rec->res.release = spawn_ended;
  rec->task = t;
  rec->e = e;
  lua_rawgeti(L, LUA_REGISTRYINDEX, e->spawned_ref);
  lua_pushvalue(L, 1);
  lua_rawseti(L, -2, t->id);
  corun__task_own(t, &rec->res);
  *id = t->id;
  return 0;
}

int corun_spawn(lua_State *L, int nargs, corun_DoneFn done, void *ud,
                lua_Integer *id) {
  corun_Runtime *rt = runtime_of(L, "corun_spawn");
  Embed *e;
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
  if (!lua_checkstack(L, 8) || (e = embed_of(rt)) == NULL) {
    lua_pop(L, nargs + 1);
    return fail(L, CORUN_ENOMEM, "corun_spawn: not enough memory");
  }
  memset(&how, 0, sizeof how);
  how.done = done;
  how.ud = ud;
  lua_pushcfunction(L, spawn_protected);
  lua_insert(L, -(nargs + 2));
  lua_pushlightuserdata(L, e);
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
  Embed *e = rt != NULL ? embed_peek(rt) : NULL;
  corun_Task *t = NULL;
  int top = lua_gettop(L);
  if (rt == NULL)
    return CORUN_EINVAL;
  if (!lua_checkstack(L, 3))
    return fail(L, CORUN_ENOMEM, "corun_abort: not enough memory");
  if (e != NULL && e->spawned_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, e->spawned_ref);
    if (lua_rawgeti(L, -1, id) == LUA_TUSERDATA)
      t = ((Spawn *)lua_touserdata(L, -1))->task;
    lua_settop(L, top);
  }
  if (t == NULL || t->state == CORUN_TASK_DONE)
    return fail(L, CORUN_EINVAL, "corun_abort: no task %lld spawned from "
                "C is running", (long long)id);
  corun__task_abort(t);
  return CORUN_OK;
}

/* In protected mode: tell the host that the task of 'rec' (light
   userdata 1) ended, and forget it. */
static int deliver_one(lua_State *L) {
  Spawn *rec = lua_touserdata(L, 1);
  corun_Task *t = rec->task;
  int ud, n, status;
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rec->e->spawned_ref);  /* tbl */
  lua_rawgeti(L, 1, t->id);                                /* tbl rec */
  lua_getiuservalue(L, 2, 1);                              /* tbl rec task */
  lua_pushnil(L);
  lua_rawseti(L, 1, t->id);                  /* forgotten (kept on L) */
  if (rec->done == NULL)
    return 0;  /* a panic stays unobserved: reported */
  ud = 3;
  n = corun__task_push_outcome(L, ud, t);
  status = t->outcome == CORUN_OUTCOME_OK ? CORUN_OK
           : t->outcome == CORUN_OUTCOME_PANIC ? CORUN_ERROR
           : CORUN_CANCELLED;
  if (status == CORUN_CANCELLED) {
    lua_pushfstring(L, "task %I was cancelled", (LUAI_UACINT)t->id);
    n = 1;
  }
  rec->done(L, t->id, status, n, rec->ud);
  return 0;
}

/* Tell the host about every task it spawned that has ended. */
static void deliver_all(lua_State *L, Embed *e) {
  corun_Link *l;
  int top = lua_gettop(L);
  while ((l = corun__link_first(&e->ended)) != NULL) {
    Spawn *rec = corun__container_of(l, Spawn, ended);
    lua_Integer id = rec->task->id;
    corun__link_remove(l);
    lua_pushcfunction(L, deliver_one);
    lua_pushlightuserdata(L, rec);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
      const char *msg = lua_tostring(L, -1);
      fprintf(stderr, "corun: telling the host that task %lld ended "
              "failed: %s\n", (long long)id, msg ? msg : "(error object)");
      fflush(stderr);
    }
    lua_settop(L, top);
  }
}

/* ----------------------------------------------------- native waits */

static Waiter *slot_at(Embed *e, uint32_t i) {
  return &e->chunks[i / CHUNK][i % CHUNK];
}

static Waiter *waiter_of(corun_Runtime *rt, corun_Waker w) {
  uint32_t slot = (uint32_t)(w & 0xffffffffu), gen = (uint32_t)(w >> 32);
  Embed *e = embed_peek(rt);
  Waiter *x;
  if (e == NULL || slot == 0 || slot > e->nwaiters)
    return NULL;
  x = slot_at(e, slot - 1);
  return x->task != NULL && x->gen == gen ? x : NULL;
}

static corun_Waker waker_of(Embed *e, Waiter *x, uint32_t index) {
  (void)e;
  return ((uint64_t)x->gen << 32) | (uint64_t)(index + 1);
}

/* The wait of 'x' (slot 'index') is over: free its slot; its task no
   longer waits in it. */
static void release(Embed *e, Waiter *x, uint32_t index) {
  if (x->waiting && x->holds)
    corun__clock_unhold(e->rt);
  if (x->task->wait == &x->wait)
    x->task->wait = NULL;
  x->task = NULL;
  x->co = NULL;
  x->gen++;
  x->next_free = e->free_waiter;
  e->free_waiter = index + 1;
}

/* Where 'x' is: its slot index (the chunk that holds it). */
static uint32_t index_of(Embed *e, const Waiter *x) {
  uint32_t c;
  for (c = 0; c < e->nchunks; c++)
    if (x >= e->chunks[c] && x < e->chunks[c] + CHUNK)
      return c * CHUNK + (uint32_t)(x - e->chunks[c]);
  CORUN_ASSERT(!"a waiter outside every chunk");
  return 0;
}

/* Task 't' leaves the native wait 'w' before it ended (cancelled, ending,
   or preparing another after a function that raised): the host is told
   through the cancel callback. */
static void native_leave(corun_Task *t, corun_Wait *w) {
  Waiter *x = corun__container_of(w, Waiter, wait);
  Embed *e = embed_peek(t->rt);
  uint32_t index = index_of(e, x);
  corun_CancelFn cancel = x->cancel;
  void *ud = x->ud;
  corun_Waker waker = waker_of(e, x, index);
  CORUN_ASSERT(x->task == t);
  release(e, x, index);
  if (cancel != NULL)
    cancel(waker, ud);
}

/* corun.tasks' waiting_on of a task in native wait 'w': what the host
   said, if it did (corun_Wait.describe). */
static int native_describe(lua_State *L, corun_Task *t, corun_Wait *w) {
  Waiter *x = corun__container_of(w, Waiter, wait);
  (void)t;
  if (x->desc == NULL)
    return 0;
  lua_pushstring(L, x->desc);
  return 1;
}

/* A free slot of 'e', or NULL when memory runs out; '*index' gets it. */
static Waiter *new_slot(Embed *e, corun_State *st, uint32_t *index) {
  Waiter *x;
  if (e->free_waiter != 0) {
    *index = e->free_waiter - 1;
    x = slot_at(e, *index);
    e->free_waiter = x->next_free;
    return x;
  }
  if (e->nwaiters == e->nchunks * CHUNK) {
    Waiter **chunks = realloc(e->chunks, (e->nchunks + 1) * sizeof *chunks);
    if (chunks == NULL)
      return NULL;
    e->chunks = chunks;
    if ((chunks[e->nchunks] = malloc(CHUNK * sizeof(Waiter))) == NULL)
      return NULL;
    e->nchunks++;
  }
  *index = e->nwaiters++;
  x = slot_at(e, *index);
  /* wakers of another runtime, or of another state, should not match */
  x->gen = (uint32_t)((uintptr_t)st >> 4) ^ (st->opened << 24);
  x->wait.leave = native_leave;
  x->wait.describe = native_describe;
  return x;
}

corun_Waker corun_wait_prepare(lua_State *L, corun_CancelFn cancel,
                               void *ud) {
  corun_State *st = corun__state_peek(L);
  corun_Runtime *rt = st != NULL ? st->rt : NULL;
  corun_Task *t;
  Embed *e;
  Waiter *x;
  uint32_t index;
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
  t = rt->current;
  if (t->wait != NULL) {  /* prepared, never used: its function raised */
    corun_Wait *old = t->wait;
    CORUN_ASSERT(old->leave == native_leave);
    t->wait = NULL;
    old->leave(t, old);
  }
  if ((e = embed_of(rt)) == NULL || (x = new_slot(e, st, &index)) == NULL) {
    fail(L, CORUN_ENOMEM, "corun_wait_prepare: not enough memory");
    return 0;
  }
  x->task = t;
  x->co = L;
  x->cancel = cancel;
  x->ud = ud;
  x->waiting = 0;
  x->holds = 1;
  x->desc = NULL;
  x->next_free = 0;
  t->wait = &x->wait;
  return waker_of(e, x, index);
}

/* The task waiting (or about to wait) in 'w', or NULL if it is over. */
corun_Task *corun__waker_task(corun_Runtime *rt, corun_Waker w) {
  Waiter *x = waiter_of(rt, w);
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
  Waiter *x = rt != NULL ? waiter_of(rt, w) : NULL;
  if (x == NULL || x->waiting || x->co != L || x->task != rt->current)
    return luaL_error(L, "corun_wait: the waker was not prepared by this "
                      "call (corun_wait_prepare, then return corun_wait)");
  x->waiting = 1;
  if (x->holds)
    corun__clock_hold(rt);
  x->task->wake = CORUN_WAKE_NONE;  /* until corun_wake or a cancel */
  return corun__sched_wait(L, ctx, k);
}

int corun_wait_describe(lua_State *L, corun_Waker w, const char *text) {
  corun_State *st = corun__state_peek(L);
  Waiter *x = st != NULL && st->rt != NULL ? waiter_of(st->rt, w) : NULL;
  if (x == NULL)
    return fail(L, CORUN_ESTALE, "corun_wait_describe: the wait is over");
  x->desc = text;
  return CORUN_OK;
}

/* The prepared wait 'w' may never end by itself (accept, a signal): it
   does not hold a paused clock. */
void corun__wait_unheld(corun_Runtime *rt, corun_Waker w) {
  Waiter *x = waiter_of(rt, w);
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
  Waiter *x;
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
  release(embed_peek(rt), x, (uint32_t)(w & 0xffffffffu) - 1);
  corun__sched_wake(t, CORUN_WAKE_SIGNAL);
  return CORUN_OK;
}

int corun_wake(lua_State *L, corun_Waker w, int nvalues) {
  return wake(L, w, nvalues, 0, "corun_wake");
}

int corun_wake_error(lua_State *L, corun_Waker w) {
  return wake(L, w, 1, 1, "corun_wake_error");
}
