/*
** sched.c - the scheduler.
**
** Ready tasks wait in an intrusive FIFO (rt->ready).  A libuv idle handle
** is active exactly while the queue is non-empty: it keeps the loop from
** blocking in poll and runs one pass over the queue per loop iteration, so
** whoever calls uv_run on the loop drives the tasks.  Timers, I/O and
** wake-ups only move task records onto the queue.
**
** Every corun wait ends by yielding one light userdata, &wait_sentinel.
** That is how a resumer tells a corun wait from a plain coroutine.yield:
** the scheduler suspends the task, and coroutine.resume/wrap (bindings/
** coroutine.c) pass such a yield on up to the scheduler.
**
** A thread suspended by a corun wait keeps a mark on top of its stack
** until it is resumed: &wait_sentinel itself on a task's coroutine,
** &pass_mark on a coroutine of a task that a wait passed through.  That is
** how corun's coroutine.* functions refuse to resume or close it from
** elsewhere (corun__sched_waiting), at no cost to the waits themselves.
*/
#include <lauxlib.h>
#include "sched.h"
#include "timer.h"

static const char wait_sentinel = 0;  /* its address marks a corun wait */
static const char pass_mark = 0;  /* marks a coroutine a wait passed */

static int is_wait(lua_State *co, int nres) {
  return nres == 1 && lua_type(co, -1) == LUA_TLIGHTUSERDATA &&
         lua_touserdata(co, -1) == (void *)&wait_sentinel;
}

/* Is 'co' suspended by a corun wait?  CORUN_WAITING_TASK: it is a task's
   coroutine (waiting or woken, not resumed yet); CORUN_WAITING_PASS: a
   coroutine of a task that a wait passed through; 0: neither. */
int corun__sched_waiting(lua_State *co) {
  const void *mark;
  if (lua_status(co) != LUA_YIELD || lua_gettop(co) == 0 ||
      lua_type(co, -1) != LUA_TLIGHTUSERDATA)
    return 0;
  mark = lua_touserdata(co, -1);
  return mark == (const void *)&wait_sentinel ? CORUN_WAITING_TASK
       : mark == (const void *)&pass_mark ? CORUN_WAITING_PASS : 0;
}

/* The 'n' values on top of 'co' were just given to it while it waits
   (corun_wake): put its mark back on top, above them. */
void corun__sched_given(lua_State *co, int n) {
  if (lua_gettop(co) > n && lua_type(co, -(n + 1)) == LUA_TLIGHTUSERDATA) {
    const void *mark = lua_touserdata(co, -(n + 1));
    if (mark == (const void *)&wait_sentinel ||
        mark == (const void *)&pass_mark)
      lua_rotate(co, -(n + 1), -1);
  }
}

/* Coroutine 'co', which a wait passed through, is about to be resumed
   where it waited: take its mark off. */
void corun__sched_unmark(lua_State *co) {
  if (lua_gettop(co) > 0 && lua_touserdata(co, -1) == (void *)&pass_mark)
    lua_pop(co, 1);
}

/* Drop the anchors of the JoinSet members that a collected set let go. */
static void drop_orphans(corun_Runtime *rt) {
  corun_Link *l;
  while ((l = corun__link_first(&rt->orphans)) != NULL) {
    corun_Task *t = corun__container_of(l, corun_Task, sibling);
    corun__link_remove(l);
    corun__runtime_unanchor(rt, t->ref);
    t->ref = LUA_NOREF;
  }
}

/* One scheduler pass, in protected mode on the scheduler thread. */
static int pass(lua_State *S) {
  corun_Runtime *rt = lua_touserdata(S, 1);
  uint64_t start = uv_hrtime();  /* the slice is CPU time: real time,
                                    whatever the runtime's clock says */
  int n = 0;
  corun_Link *l;
  drop_orphans(rt);
  while (n < CORUN_SCHED_BUDGET &&
         (l = corun__link_first(&rt->ready)) != NULL) {
    corun_Task *t = corun__container_of(l, corun_Task, link);
    corun__link_remove(l);
    corun__sched_step(rt, t, S);
    if (++n % CORUN_SCHED_CHECK == 0) {
      corun__timer_expire(rt, corun__clock_now(rt));  /* due deadlines
                                                         join the queue */
      drop_orphans(rt);
      if (uv_hrtime() - start > CORUN_SCHED_SLICE_NS)
        break;                       /* let libuv poll */
    }
  }
  return 0;
}

static void on_idle(uv_idle_t *handle) {
  corun_Runtime *rt = handle->data;
  lua_State *S = rt->S;
  int outer = rt->stepping;
  rt->stepping = 1;
  lua_pushcfunction(S, pass);
  lua_pushlightuserdata(S, rt);
  if (lua_pcall(S, 1, 0, 0) != LUA_OK)  /* only a memory error gets here */
    corun__runtime_fatal(rt);
  else
    corun__runtime_after_pass(S, rt);
  rt->stepping = outer;
  if (!corun__link_linked(&rt->ready)) {
    uv_idle_stop(&rt->idle);
    rt->idle_on = 0;
  }
}

/* Run what is ready (deadlines that passed included) until nothing is,
   without polling for I/O: corun_step(L, CORUN_STEP_READY). */
void corun__sched_run_ready(corun_Runtime *rt) {
  corun__timer_expire(rt, corun__clock_now(rt));
  while (corun__link_linked(&rt->ready) && !rt->failed)
    on_idle(&rt->idle);
}

void corun__sched_init(corun_Runtime *rt) {
  corun__link_init(&rt->ready);
  uv_idle_init(rt->loop, &rt->idle);
  rt->idle.data = rt;
  rt->handles++;
}

/* Queue 't' to be resumed, remembering why. */
void corun__sched_ready(corun_Runtime *rt, corun_Task *t, corun_Wake why) {
  CORUN_ASSERT(!corun__link_linked(&t->link));  /* in no queue yet */
  CORUN_ASSERT(t->state != CORUN_TASK_DONE);
  t->wake = (unsigned char)why;
  corun__link_append(&rt->ready, &t->link);
  if (!rt->idle_on) {
    uv_idle_start(&rt->idle, on_idle);
    rt->idle_on = 1;
  }
}

/* Wake a waiting task: take it out of whatever it waits on and queue it.
   A task already woken, or not waiting, is left alone. */
void corun__sched_wake(corun_Task *t, corun_Wake why) {
  if (t->state != CORUN_TASK_SUSPENDED || t->wake != CORUN_WAKE_NONE)
    return;
  corun__sched_unwait(t);
  corun__sched_ready(t->rt, t, why);
}

/* Make 't' wait in 'queue' (the one wait-queue primitive). */
void corun__sched_block(corun_Task *t, corun_Link *queue) {
  CORUN_ASSERT(!corun__link_linked(&t->link));  /* in no queue yet */
  t->wake = CORUN_WAKE_NONE;
  corun__link_append(queue, &t->link);
}

/* Take 't' out of its wait queue (or the ready queue) and off the timers. */
void corun__sched_unwait(corun_Task *t) {
  corun__link_remove(&t->link);
  corun__timer_remove(t->rt, t);
}

/*
** Resume task 't' until it waits, returns or raises.  'from' is the thread
** whose C code calls this: the scheduler thread, or the task that runs a
** branch at once.  A task whose cancellation was requested is cancelled
** instead of resumed.
*/
void corun__sched_step(corun_Runtime *rt, corun_Task *t, lua_State *from) {
  corun_Task *prev = rt->current;
  lua_State *co;
  int nargs = 0, nres = 0, status;
  if (t->flags & CORUN_TASK_CANCEL) {
    corun__task_cancel(from, t);
    return;
  }
  /* only a task that has not started or that waits is resumed */
  CORUN_ASSERT(t->state == CORUN_TASK_NEW ||
               t->state == CORUN_TASK_SUSPENDED);
  if (t->state == CORUN_TASK_NEW)
    co = corun__task_start(from, t, &nargs);
  else {
    co = t->co;
    lua_pop(co, 1);  /* its mark, &wait_sentinel */
  }
  t->state = CORUN_TASK_RUNNING;
  rt->current = t;
  status = lua_resume(co, from, nargs, &nres);
  rt->current = prev;
  if (status == LUA_YIELD) {
    if (is_wait(co, nres)) {  /* the sentinel stays as its mark */
      t->state = CORUN_TASK_SUSPENDED;
      if (!(t->flags & CORUN_TASK_OWNCO))
        corun__task_suspended(t);
      if (t->flags & CORUN_TASK_CANCEL)  /* aborted while it ran */
        corun__task_cancel(from, t);
      return;
    }
    lua_pop(co, nres);  /* corun's coroutine.yield raises instead: this
                           is a yield from C, or Lua's own yield function */
    corun__task_end_panic(from, t, CORUN_YIELD_OUTSIDE);
  }
  else if (status == LUA_OK)  /* nres counts the userdata below results */
    corun__task_end_ok(from, t, lua_gettop(co) - 1);
  else
    corun__task_end_panic(from, t, NULL);
}

/*
** Suspend the running task: the last act of a C function that waits, after
** it registered the task with whatever will wake it; use it as
**   return corun__sched_wait(L, ctx, k);
** 'k' runs when the task is resumed and returns the wait's results.
*/
int corun__sched_wait(lua_State *L, lua_KContext ctx, lua_KFunction k) {
  lua_pushlightuserdata(L, (void *)&wait_sentinel);
  return lua_yieldk(L, 1, ctx, k);
}

/*
** coroutine.resume's core, for a user coroutine 'co' run by a task: resume
** it with the 'narg' values on top of L.  Returns lua_resume's status, with
** the results (or the error) on top of 'co', or CORUN_PASS_WAIT when 'co'
** waits on corun: the wait is then recorded in the running task, 'co'
** bears &pass_mark until corun__sched_unmark, and the caller must suspend
** L too (return corun__sched_wait(...)).
*/
int corun__sched_resume_user(corun_Runtime *rt, lua_State *L,
                             lua_State *co, int narg, int *nres) {
  int status;
  lua_xmove(L, co, narg);
  status = lua_resume(co, L, narg, nres);
  if (status != LUA_YIELD || rt == NULL || rt->current == NULL ||
      !is_wait(co, *nres))
    return status;
  lua_pop(co, 1);
  if (lua_isyieldable(L) && corun__task_nest_push(rt->current, co) == 0) {
    lua_pushlightuserdata(co, (void *)&pass_mark);  /* until resumed */
    return CORUN_PASS_WAIT;
  }
  corun__sched_unwait(rt->current);  /* the wait cannot pass: undo it */
  lua_pushliteral(co, "corun: cannot wait inside a coroutine resumed "
                  "where the task cannot yield (a metamethod or C call)");
  return LUA_ERRRUN;
}
