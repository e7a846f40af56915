/*
** task.c - the life of a task record: spawn, start, end, cancel.
**
** A task takes a coroutine from the runtime's pool when it is first
** resumed and gives it back when it ends, so a million pending tasks cost
** a million small records, not a million coroutines.  Values crossing into
** or out of a task go through transfer.c; a branch (work a task runs on its
** own behalf, such as corun.timeout's function) and the main task share the
** caller's values and are not copied.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "compat.h"
#include "task.h"
#include "runtime.h"
#include "sched.h"
#include "timer.h"
#include "transfer.h"

/* Tasks whose values are not copied in or out: a branch (it runs for its
   parent), the main task and a task spawned from C (their values come from
   and go to C, outside every task).  The first two report no panic: their
   caller gets it. */
#define NOCOPY (CORUN_TASK_BRANCH | CORUN_TASK_MAIN | CORUN_TASK_NOCOPY)
#define NOREPORT (CORUN_TASK_BRANCH | CORUN_TASK_MAIN)

/* User coroutines a wait passes through (see sched.c): the innermost is
   recorded first, as the wait passes up; resuming pops the outermost. */
struct corun_Nest {
  int n;                  /* coroutines recorded */
  int cap;                /* slots allocated */
  lua_State *co[];        /* borrows: each is on its resumer's stack */
};

static void finish(lua_State *L, corun_Task *t, corun_Outcome outcome);
static void report(const char *text);

/* 't' stops waiting before its wait ended (cancelled, or ending): the one
   who parked it undoes the wait (task.h, corun_Wait). */
static void leave_wait(corun_Task *t) {
  corun_Wait *w = t->wait;
  if (w != NULL) {
    t->wait = NULL;
    w->leave(t, w);
  }
}

/* Cancel the branches 't' runs (its end, or its cancellation). */
static void cancel_children(lua_State *L, corun_Task *t) {
  corun_Link *l;
  while ((l = corun__link_first(&t->children)) != NULL) {
    corun_Task *child = corun__container_of(l, corun_Task, sibling);
    corun__link_remove(l);
    child->u.parent = NULL;
    corun__task_cancel(L, child);
  }
}

/* The task is ending: it waits inside no user coroutine any more (and its
   slot is about to hold the report). */
static void drop_nest(corun_Task *t) {
  free(t->nest);
  t->nest = NULL;
}

/* Push the userdata of live task 't' (it is anchored in the task table). */
void corun__task_push(lua_State *L, corun_Task *t) {
  lua_State *A = t->rt->A;
  lua_rawgeti(A, CORUN_ANCHOR_TASKS, t->ref);
  lua_xmove(A, L, 1);
}

/* Set user values 'from'..nvals of the task userdata at 'idx' to nil (a
   name above them stays). */
static void clear_values(lua_State *L, int idx, corun_Task *t, int from) {
  int i, n = corun__task_nvals(t);
  idx = lua_absindex(L, idx);
  for (i = from; i <= n; i++) {
    lua_pushnil(L);
    lua_setiuservalue(L, idx, i);
  }
}

/* In protected mode: ud site target state fnarg fn args... -> set the
   user values of ud to what fn and the arguments become in the task;
   fnarg is fn's argument number in the caller, for messages. */
static int copy_in_protected(lua_State *L) {
  int i, n = lua_gettop(L) - 6, fnarg = (int)lua_tointeger(L, 5);
  corun_Crossing c;
  corun__transfer_begin(L, &c, lua_touserdata(L, 4), lua_touserdata(L, 2),
                        "into a task", (lua_Integer)lua_tointeger(L, 3));
  corun__transfer_push_fn(L, 6, &c);
  lua_setiuservalue(L, 1, 1);
  c.what = "argument";
  for (i = 1; i <= n; i++) {
    c.index = fnarg + i;
    corun__transfer_push(L, 6 + i, &c);
    lua_setiuservalue(L, 1, i + 1);
  }
  corun__transfer_commit(L, &c, 1);
  return 0;
}

/* Copy the function at 'fnidx' and its 'nargs' arguments into the user
   values of the task userdata on top of L.  Misuse errors propagate as
   they are; running out of memory says where. */
static void copy_in(lua_State *L, corun_Runtime *rt, int fnidx, int nargs,
                    const char *site) {
  int i, status;
  luaL_checkstack(L, nargs + 6, "too many arguments");
  lua_pushcfunction(L, copy_in_protected);
  lua_pushvalue(L, -2);
  lua_pushlightuserdata(L, (void *)site);
  lua_pushinteger(L, rt->next_id);
  lua_pushlightuserdata(L, rt->state);
  lua_pushinteger(L, fnidx);
  for (i = 0; i <= nargs; i++)
    lua_pushvalue(L, fnidx + i);
  status = lua_pcall(L, nargs + 6, 0, 0);
  if (status == LUA_ERRMEM)
    luaL_error(L, "%s: not enough memory to copy the values into the task",
               site);
  if (status != LUA_OK)
    lua_error(L);
}

/*
** Push the JoinHandle metatable and its variant for panicked tasks: the
** core makes them (in the registry, by name) and so owns their identity;
** the bindings give them their methods when the module opens, which may
** be after the first runtime opened.
*/
const char corun__task_tag = 0;

void corun__task_metatables(lua_State *L) {
  luaL_newmetatable(L, CORUN_JOINHANDLE);
  luaL_newmetatable(L, CORUN_JOINHANDLE_PANIC);
}

/*
** Create a task running the function at 'fnidx' with the 'nargs' values
** after it, queue it, and leave its userdata (the JoinHandle) on top of L.
** The arguments are copied unless the task is a branch or the main task.
** With CORUN_TASK_NAMED in 'flags', the string just below the function
** (at fnidx - 1) is the task's name.  Raises on a value that cannot
** cross; nothing is registered then.
*/
corun_Task *corun__task_new(corun_Runtime *rt, lua_State *L, int fnidx,
                            int nargs, corun_Task *parent, int flags,
                            const char *site) {
  int i, nuv = nargs < 1 ? 2 : nargs + 1, light = 0;
  corun_Light seen;
  corun_Task *t;
  fnidx = lua_absindex(L, fnidx);
  if (flags & CORUN_TASK_NAMED)
    nuv++;  /* the last holds the name */
  if (nargs > 8)
    luaL_checkstack(L, 4, NULL);
  t = lua_newuserdatauv(L, sizeof *t, nuv);
  memset(t, 0, sizeof *t);
  t->tag = &corun__task_tag;
  corun__link_init(&t->link);
  corun__link_init(&t->joiners);
  corun__link_init(&t->children);
  corun__link_init(&t->sibling);
  corun__link_init(&t->owned);
  t->heap_index = CORUN_NO_TIMER;
  t->ref = LUA_NOREF;
  t->nuv = (unsigned short)nuv;
  t->state = CORUN_TASK_NEW;
  t->flags = (unsigned short)flags;
  lua_pushvalue(rt->A, CORUN_ANCHOR_META);
  lua_xmove(rt->A, L, 1);
  lua_setmetatable(L, -2);
  if (flags & CORUN_TASK_NAMED) {
    CORUN_ASSERT(lua_type(L, fnidx - 1) == LUA_TSTRING);
    lua_pushvalue(L, fnidx - 1);
    lua_setiuservalue(L, -2, nuv);
  }
  if (!(flags & NOCOPY) && corun__transfer_plain_fn(L, fnidx, rt->state,
                                                     rt->globals))
    light = corun__transfer_needed(L, fnidx + 1, nargs) ? 2 : 1;
  if ((flags & NOCOPY) || light == 1 ||
      (light == 2 && corun__transfer_light(L, fnidx + 1, nargs, rt, &seen)))
    for (i = 0; i <= nargs; i++) {  /* nothing to copy: the fast path */
      lua_pushvalue(L, fnidx + i);
      lua_setiuservalue(L, -2, i + 1);
    }
  else {
    light = 0;
    copy_in(L, rt, fnidx, nargs, site);
  }
  t->ref = corun__runtime_anchor(L, rt);
  t->rt = rt;
  t->nvalues = nargs;
  if (parent != NULL) {
    t->u.parent = parent;
    t->id = parent->id;
    corun__link_append(&parent->children, &t->sibling);
  }
  else
    t->id = rt->next_id++;
  rt->live++;
  if (flags & CORUN_TASK_BRANCH)
    rt->live_branches++;
  corun__sched_ready(rt, t, CORUN_WAKE_SIGNAL);
  if (light == 2)  /* moves and shares of the light crossing */
    corun__transfer_light_commit(L, fnidx + 1, nargs, lua_gettop(L), t,
                                 &seen);
  return t;
}

/* Take an idle coroutine for a task about to start.  It stays on A's
   stack, as the lowest busy one (see runtime.h). */
static lua_State *pool_take(lua_State *L, corun_Runtime *rt) {
  lua_State *A = rt->A, *co;
  if (rt->npool > 0) {
    co = lua_tothread(A, CORUN_ANCHOR_POOL + --rt->npool);
    /* an idle coroutine: fresh or reset, nothing on its stack */
    CORUN_ASSERT(co != NULL && lua_status(co) == LUA_OK &&
                 lua_gettop(co) == 0);
    return co;
  }
  co = lua_newthread(L);
  if (!lua_checkstack(A, 3))
    luaL_error(L, "corun: not enough memory");
  lua_xmove(L, A, 1);
  lua_insert(A, CORUN_ANCHOR_POOL);  /* no idle ones: lowest busy slot */
  return co;
}

/*
** The task's coroutine is free again: make it idle (or drop it when the
** pool is full).  Called before anything that may run the collector, as
** the coroutine may be anchored nowhere else by then.
*/
static void pool_return(corun_Runtime *rt, corun_Task *t) {
  lua_State *A = rt->A, *co = t->co;
  lua_settop(co, 0);
  if (lua_gethook(co) != NULL)
    lua_sethook(co, NULL, 0, 0);
  if (!(t->flags & CORUN_TASK_OWNCO)) {  /* it is the lowest busy one */
    if (rt->npool < CORUN_POOL_MAX)
      rt->npool++;
    else
      lua_remove(A, CORUN_ANCHOR_POOL + rt->npool);
  }
  else if (rt->npool < CORUN_POOL_MAX && lua_checkstack(A, 2)) {
    lua_pushthread(co);
    lua_xmove(co, A, 1);
    lua_insert(A, CORUN_ANCHOR_POOL + rt->npool++);
  }
  t->co = NULL;
  t->flags &= (unsigned short)~CORUN_TASK_OWNCO;
}

/*
** Task 't' has just waited for the first time: its coroutine (the lowest
** busy one on A) moves into its user value 1.
*/
void corun__task_suspended(corun_Task *t) {
  corun_Runtime *rt = t->rt;
  lua_State *A = rt->A;
  int pos = CORUN_ANCHOR_POOL + rt->npool;
  /* the lowest busy coroutine is the task's own */
  CORUN_ASSERT(!(t->flags & CORUN_TASK_OWNCO) &&
               lua_tothread(A, pos) == t->co);
  lua_rawgeti(A, CORUN_ANCHOR_TASKS, t->ref);  /* A: ... ud */
  lua_pushvalue(A, pos);
  lua_setiuservalue(A, -2, 1);
  lua_pop(A, 1);
  lua_remove(A, pos);
  t->flags |= CORUN_TASK_OWNCO;
}

/*
** Give task 't' a coroutine and set its function and arguments on it; the
** coroutine's first slot holds the task userdata while it runs.  The user
** values keep the function and arguments until the task ends.  Returns
** the coroutine; '*nargs' gets the number of arguments to resume it with.
*/
lua_State *corun__task_start(lua_State *L, corun_Task *t, int *nargs) {
  lua_State *co = pool_take(L, t->rt);
  int i, n = t->nvalues;
  if (n > LUA_MINSTACK - 4 && !lua_checkstack(co, n + 4))
    luaL_error(L, "corun: not enough memory to start task %I",
               (LUAI_UACINT)t->id);
  corun__task_push(co, t);  /* co: ud */
  for (i = 1; i <= n + 1; i++)
    lua_getiuservalue(co, 1, i);  /* co: ud fn args... */
  t->co = co;
  t->nvalues = 0;
  *nargs = n;
  return co;
}

/* In protected mode: copy the values on the stack out of the task; what
   they are ("result", "error value") is upvalue 1, the task's id upvalue
   3 (what it owns it may hand over). */
static int copy_out(lua_State *L) {
  int i, n = lua_gettop(L);
  corun_Crossing c;
  luaL_checkstack(L, n + 8, "too many results");
  corun__transfer_begin(L, &c, lua_touserdata(L, lua_upvalueindex(2)),
                        "corun", "out of a task", 0);
  c.what = lua_touserdata(L, lua_upvalueindex(1));
  c.source = lua_tointeger(L, lua_upvalueindex(3));
  for (i = 1; i <= n; i++) {
    c.index = i;
    corun__transfer_push(L, i, &c);
  }
  corun__transfer_commit(L, &c, 0);
  return n;
}

static void push_copy_out(lua_State *L, const char *what, corun_Task *t) {
  lua_pushlightuserdata(L, (void *)what);  /* no allocation */
  lua_pushlightuserdata(L, t->rt->state);
  lua_pushinteger(L, t->id);
  lua_pushcclosure(L, copy_out, 3);
}

/* Push the message of the error value at 'idx' (may call __tostring). */
void corun__task_describe(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  if (luaL_callmeta(L, idx, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
    return;
  if (lua_type(L, idx) == LUA_TSTRING || lua_type(L, idx) == LUA_TNUMBER)
    lua_pushstring(L, lua_tostring(L, idx));
  else
    lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, idx));
}

static int describe_protected(lua_State *L) {
  corun__task_describe(L, 1);
  return 1;
}

/*
** Push the name of task 't' (userdata at 'idx') and return 1, or push
** nothing and return 0 if it has none.
*/
int corun__task_push_name(lua_State *L, int idx, corun_Task *t) {
  if (!(t->flags & CORUN_TASK_NAMED))
    return 0;
  lua_getiuservalue(L, idx, t->nuv);
  return 1;
}

/* The text corun prints if nobody observes this panic ('ud': the task's
   userdata): "task 7 (name) panicked: message", then the traceback. */
static void set_report(lua_State *co, corun_Task *t, int err, int tb,
                       int ud) {
  const char *msg = "(error object cannot be described)", *name = NULL;
  size_t size;
  if (corun__task_push_name(co, ud, t))
    name = lua_tostring(co, -1);
  lua_pushcfunction(co, describe_protected);
  lua_pushvalue(co, err);
  if (lua_pcall(co, 1, 1, 0) == LUA_OK)
    msg = lua_tostring(co, -1);
  size = strlen(msg) + lua_rawlen(co, tb) + (name ? strlen(name) : 0) + 64;
  t->report = malloc(size);
  if (t->report != NULL)
    snprintf(t->report, size, "task %lld%s%s%s panicked: %s\n%s",
             (long long)t->id, name ? " (" : "", name ? name : "",
             name ? ")" : "", msg, lua_tostring(co, tb));
  lua_pop(co, name ? 2 : 1);
}

/*
** End 't' as panicked.  Its coroutine 'co' is closed and holds the error
** value at index 1 and the traceback at index 2.
*/
static void store_panic(lua_State *L, corun_Task *t) {
  lua_State *co = t->co;  /* co: err tb */
  drop_nest(t);
  corun__task_push(co, t);  /* co: err tb ud */
  if (!(t->flags & NOREPORT)) {
    set_report(co, t, 1, 2, 3);
    lua_pushvalue(t->rt->A, CORUN_ANCHOR_PANIC);  /* now it needs __gc */
    lua_xmove(t->rt->A, co, 1);
    lua_setmetatable(co, 3);
  }
  if (!(t->flags & NOCOPY) && corun__transfer_needed(co, 1, 1)) {
    push_copy_out(co, "error value", t);
    lua_pushvalue(co, 1);
    if (lua_pcall(co, 1, 1, 0) != LUA_OK) {  /* keep what it says */
      lua_pop(co, 1);
      lua_pushcfunction(co, describe_protected);
      lua_pushvalue(co, 1);
      if (lua_pcall(co, 1, 1, 0) != LUA_OK) {
        lua_pop(co, 1);
        lua_pushliteral(co, "(error object cannot be described)");
      }
    }
  }
  else
    lua_pushvalue(co, 1);
  lua_setiuservalue(co, 3, 1);
  lua_pushvalue(co, 2);
  lua_setiuservalue(co, 3, 2);
  clear_values(co, 3, t, 3);
  finish(L, t, CORUN_OUTCOME_PANIC);
}

/* Close the coroutine of 't' (running its <close> handlers as 't'). */
static int close_coroutine(lua_State *L, corun_Task *t, lua_State *co) {
  corun_Runtime *rt = t->rt;
  corun_Task *prev = rt->current;
  int status;
  rt->current = t;
  status = corun__close_thread(co, L);
  rt->current = prev;
  return status;
}

/*
** End 't' after its coroutine raised (the error is on its top), or, when
** 'msg' is given, after a misuse that did not raise.
*/
void corun__task_end_panic(lua_State *L, corun_Task *t, const char *msg) {
  lua_State *co = t->co;
  luaL_traceback(L, co, NULL, 0);  /* L: tb */
  if (close_coroutine(L, t, co) == LUA_OK || msg != NULL) {
    lua_settop(co, 0);
    lua_pushstring(co, msg != NULL ? msg : "(no error value)");
  }
  lua_settop(co, 1);  /* co: err */
  lua_xmove(L, co, 1);  /* co: err tb */
  store_panic(L, t);
}

/* End 't' after its coroutine returned 'nres' values: co: ud results... */
void corun__task_end_ok(lua_State *L, corun_Task *t, int nres) {
  lua_State *co = t->co;
  int i;
  drop_nest(t);
  if (!(t->flags & NOCOPY) && corun__transfer_needed(co, 2, nres)) {
    push_copy_out(co, "result", t);
    lua_insert(co, 2);
    if (lua_pcall(co, nres, LUA_MULTRET, 0) != LUA_OK) {
      /* a result cannot leave the task: it fails with that error */
      lua_replace(co, 1);  /* co: err */
      lua_pushliteral(co, "");
      store_panic(L, t);
      return;
    }
    nres = lua_gettop(co) - 1;
  }
  if (nres > corun__task_nvals(t)) {  /* more than fit: pack them */
    lua_createtable(co, nres, 0);
    lua_insert(co, 2);
    for (i = nres; i >= 1; i--)
      lua_rawseti(co, 2, i);
    lua_setiuservalue(co, 1, 1);
    clear_values(co, 1, t, 2);
    t->flags |= CORUN_TASK_PACKED;
  }
  else {
    for (i = nres; i >= 1; i--)
      lua_setiuservalue(co, 1, i);
    clear_values(co, 1, t, nres + 1);
  }
  t->nvalues = nres;
  finish(L, t, CORUN_OUTCOME_OK);
}

/*
** Cancel 't' now: it never resumes.  Its branches are cancelled first,
** then the user coroutines it waits inside (innermost first) and its own
** coroutine are closed, which runs their pending <close> handlers.  A
** running task cannot be closed under its own feet: it is marked and
** cancelled when it next waits.  If a <close> handler raises, the task
** ends as panicked with that error.
*/
void corun__task_cancel(lua_State *L, corun_Task *t) {
  int have_err = 0;
  switch (t->state) {
    case CORUN_TASK_DONE: case CORUN_TASK_CLOSING:
      return;
    case CORUN_TASK_RUNNING:
      t->flags |= CORUN_TASK_CANCEL;
      return;
    case CORUN_TASK_NEW:
      corun__task_push(L, t);
      clear_values(L, -1, t, 1);
      lua_pop(L, 1);
      finish(L, t, CORUN_OUTCOME_CANCELLED);
      return;
    default:
      break;
  }
  t->state = CORUN_TASK_CLOSING;
  t->flags |= CORUN_TASK_CANCEL;
  corun__sched_unwait(t);
  leave_wait(t);
  cancel_children(L, t);
  if (t->nest != NULL) {  /* innermost first, as an unwinding would */
    int i;
    for (i = 0; i < t->nest->n; i++) {
      lua_State *inner = t->nest->co[i];
      if (close_coroutine(L, t, inner) != LUA_OK) {
        lua_settop(L, lua_gettop(L) - have_err);  /* the last error wins */
        lua_xmove(inner, L, 1);
        have_err = 1;
      }
    }
    t->nest->n = 0;
  }
  drop_nest(t);
  if (close_coroutine(L, t, t->co) != LUA_OK) {
    lua_settop(L, lua_gettop(L) - have_err);
    lua_xmove(t->co, L, 1);
    have_err = 1;
  }
  lua_settop(t->co, 0);
  if (have_err) {
    lua_xmove(L, t->co, 1);  /* co: err */
    lua_pushliteral(t->co, "(raised by a <close> handler of a cancelled task)");
    store_panic(L, t);
    return;
  }
  corun__task_push(t->co, t);
  clear_values(t->co, 1, t, 1);
  lua_pop(t->co, 1);
  finish(L, t, CORUN_OUTCOME_CANCELLED);
}

/* Request cancellation: 't' is cancelled when the scheduler next reaches
   it, or at its next wait if it is running (JoinHandle:abort). */
void corun__task_abort(corun_Task *t) {
  if (t->state == CORUN_TASK_DONE || t->state == CORUN_TASK_CLOSING)
    return;
  t->flags |= CORUN_TASK_CANCEL;
  if (t->state == CORUN_TASK_SUSPENDED)
    corun__sched_wake(t, CORUN_WAKE_CANCEL);
}

/*
** The end of a task, whatever its outcome: its user values are already
** set.  Returns the coroutine to the pool, wakes whoever waits for it and
** drops the runtime's anchor, so that only its handle keeps it.
*/
static void finish(lua_State *L, corun_Task *t, corun_Outcome outcome) {
  corun_Runtime *rt = t->rt;
  CORUN_ASSERT(t->state != CORUN_TASK_DONE);  /* a task ends once */
  int is_main = (t->flags & CORUN_TASK_MAIN) != 0, in_set;
  corun_Link *l;
  leave_wait(t);  /* a native wait prepared by a function that raised */
  if (t->co != NULL)
    pool_return(rt, t);
  corun__sched_unwait(t);
  if ((t->flags & CORUN_TASK_BRANCH) && t->u.parent != NULL) {
    corun_Task *parent = t->u.parent;
    t->deadline = ++rt->done_seq;  /* its completion order */
    if (parent->flags & CORUN_TASK_WAITKIDS)
      corun__sched_wake(parent, CORUN_WAKE_SIGNAL);
    corun__link_remove(&t->sibling);
    t->u.parent = NULL;
    if ((parent->flags & CORUN_TASK_SELECT) &&
        outcome != CORUN_OUTCOME_CANCELLED) {  /* it decides the select: */
      for (l = parent->children.next; l != &parent->children; l = l->next)
        corun__task_abort(corun__container_of(l, corun_Task, sibling));
      parent->flags &= (unsigned short)~CORUN_TASK_SELECT;  /* no branch
        woken meanwhile may complete and have its results dropped */
    }
  }
  cancel_children(L, t);
  while ((l = corun__link_first(&t->owned)) != NULL) {
    corun_Resource *r = corun__container_of(l, corun_Resource, link);
    corun__link_remove(l);
    r->release(L, r);
  }
  t->state = CORUN_TASK_DONE;
  t->outcome = (unsigned char)outcome;
  in_set = !(t->flags & CORUN_TASK_BRANCH) && t->u.group != NULL;
  if (in_set)
    t->u.group->member_done(t);
  if (t->report != NULL && (t->flags & CORUN_TASK_DETACHED)) {
    report(t->report);  /* nobody could ever see it */
    free(t->report);
    t->report = NULL;
  }
  else if (t->report != NULL)
    corun__link_append(&rt->unobserved, &t->link);
  while ((l = corun__link_first(&t->joiners)) != NULL)
    corun__sched_wake(corun__container_of(l, corun_Task, link),
                      CORUN_WAKE_SIGNAL);
  rt->live--;
  if (t->flags & CORUN_TASK_BRANCH)
    rt->live_branches--;
  if (!in_set) {  /* a member stays anchored until it is joined */
    corun__runtime_unanchor(rt, t->ref);
    t->ref = LUA_NOREF;
  }
  if (is_main)
    corun__runtime_main_done(L, rt);
}

/*
** Push what finished task 't' (userdata at 'idx') ended with, for those
** it is told to (corun_run, a host's done callback): its results, or its
** error value and traceback, or nothing if it was cancelled.  Its error
** is observed then.  Returns how many values it pushed.
*/
int corun__task_push_outcome(lua_State *L, int idx, corun_Task *t) {
  corun__task_observe(t);
  if (t->outcome == CORUN_OUTCOME_OK)
    return corun__task_push_results(L, idx, t);
  if (t->outcome != CORUN_OUTCOME_PANIC)
    return 0;
  luaL_checkstack(L, 2, NULL);
  lua_getiuservalue(L, idx, 1);
  lua_getiuservalue(L, idx, 2);
  return 2;
}

/* Push the results of finished task 't' (userdata at 'idx'). */
int corun__task_push_results(lua_State *L, int idx, corun_Task *t) {
  int i, n = t->nvalues;
  luaL_checkstack(L, n + 1, "too many results");
  if (t->flags & CORUN_TASK_PACKED) {
    lua_getiuservalue(L, idx, 1);
    for (i = 1; i <= n; i++)
      lua_rawgeti(L, -i, i);
    lua_remove(L, -(n + 1));
  }
  else
    for (i = 1; i <= n; i++)
      lua_getiuservalue(L, idx, i);
  return n;
}

static void report(const char *text) {
  fprintf(stderr, "corun: %s\n", text);
  fflush(stderr);
}

/*
** Nobody can observe the outcome of 't' any more (its JoinSet let go of
** it): a panic is reported now if it has ended, else when it ends.
*/
void corun__task_detach(corun_Task *t) {
  t->flags |= CORUN_TASK_DETACHED;
  if (t->report != NULL) {
    report(t->report);
    corun__task_observe(t);
  }
}

/* Shutdown: report every panic nobody observed. */
void corun__task_report_unobserved(corun_Runtime *rt) {
  corun_Link *l;
  while ((l = corun__link_first(&rt->unobserved)) != NULL) {
    corun_Task *t = corun__container_of(l, corun_Task, link);
    report(t->report);
    corun__task_observe(t);
  }
}

/* The running task of 'rt' (NULL: none open), or raise "fname: must be
   called from a task (inside corun.run)". */
corun_Task *corun__task_running(lua_State *L, corun_Runtime *rt,
                                const char *fname) {
  if (rt == NULL || rt->current == NULL)
    corun__error(L, fname, "must be called from a task (inside "
                 "corun.run)");
  return rt->current;
}

/* The same, for a task about to wait: it must be able to yield. */
corun_Task *corun__task_waiting(lua_State *L, corun_Runtime *rt,
                                const char *fname) {
  corun_Task *t = corun__task_running(L, rt, fname);
  if (!lua_isyieldable(L))
    corun__error(L, fname, "cannot wait here: the task is inside a "
                 "metamethod, iterator or C function that cannot yield");
  return t;
}

/* The task a branch runs for (a branch owns nothing of its own: what it
   acquires belongs to the task it is part of). */
corun_Task *corun__task_root(corun_Task *t) {
  while ((t->flags & CORUN_TASK_BRANCH) && t->u.parent != NULL)
    t = t->u.parent;
  return t;
}

/* 't' owns 'r' from now on (from its previous owner, if any). */
void corun__task_own(corun_Task *t, corun_Resource *r) {
  t = corun__task_root(t);
  corun__link_remove(&r->link);
  corun__link_append(&t->owned, &r->link);
}

/* Its error has been seen: corun need not report it. */
void corun__task_observe(corun_Task *t) {
  if (t->report == NULL)
    return;
  corun__link_remove(&t->link);
  free(t->report);
  t->report = NULL;
}

/* The handle is being collected: report a panic nobody saw. */
void corun__task_gc(corun_Task *t) {
  if (t->report != NULL) {
    report(t->report);
    corun__task_observe(t);
  }
}

/* Record that the current wait of 't' passes through user coroutine 'co'.
   Returns 0, or -1 when out of memory. */
int corun__task_nest_push(corun_Task *t, lua_State *co) {
  corun_Nest *nest = t->nest;
  if (nest == NULL || nest->n == nest->cap) {
    int cap = nest == NULL ? 4 : nest->cap * 2;
    nest = realloc(nest, sizeof *nest + (size_t)cap * sizeof(lua_State *));
    if (nest == NULL)
      return -1;
    if (t->nest == NULL)
      nest->n = 0;
    nest->cap = cap;
    t->nest = nest;
  }
  nest->co[nest->n++] = co;
  return 0;
}

/* The thread where suspended task 't' waits: the innermost user coroutine
   its wait passed through, or its own coroutine. */
lua_State *corun__task_inner(const corun_Task *t) {
  return t->nest != NULL && t->nest->n > 0 ? t->nest->co[0] : t->co;
}

/* The wait passed through the outermost recorded coroutine is over (the
   resume that ends it runs from outside in). */
void corun__task_nest_pop(corun_Task *t) {
  if (t->nest != NULL && t->nest->n > 0)
    t->nest->n--;
}
