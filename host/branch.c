/*
** branch.c - corun.join, corun.try_join and corun.select: functions run at
** the same time on the calling task, as its branches.
**
** Each function becomes a branch (a task record with the caller's id; its
** values are not copied, so it may use the caller's locals), started at
** once in argument order until it first waits.  The caller then waits for
** its branches (CORUN_TASK_WAITKIDS: each branch that ends wakes it) and
** decides, in the order the branches ended (their completion stamps):
** join waits for all and re-raises the first error; try_join stops at the
** first failure (an error, or a return of nil, err); select stops at the
** first to end.  The branches still running are then cancelled.  The
** caller's cancellation cancels its branches (task.c), and in a select
** the first branch to end stops the others at once (task.c, finish).
*/
#include <lauxlib.h>
#include "branch.h"
#include "sched.h"

#define BRANCH(L, i) ((corun_Task *)lua_touserdata((L), (i)))

/* Push the first result of finished branch 'b' (at index i). */
static void push_first(lua_State *L, int i, corun_Task *b) {
  if (b->nvalues == 0)
    lua_pushnil(L);
  else if (b->flags & CORUN_TASK_PACKED) {
    lua_getiuservalue(L, i, 1);
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
  }
  else
    lua_getiuservalue(L, i, 1);
}

/* Did branch 'b' (at index i) fail, for try_join?  It raised, or returned
   nil and an error. */
static int failed(lua_State *L, int i, corun_Task *b) {
  int bad;
  if (b->outcome == CORUN_OUTCOME_PANIC)
    return 1;
  if (b->outcome != CORUN_OUTCOME_OK || b->nvalues < 2)
    return 0;
  push_first(L, i, b);
  bad = lua_isnil(L, -1);
  lua_pop(L, 1);
  if (bad) {
    corun__task_push_results(L, i, b);
    bad = !lua_isnil(L, -(b->nvalues - 1));
    lua_pop(L, b->nvalues);
  }
  return bad;
}

/* Cancel every branch not done yet (they are at 1..n). */
static void cancel_rest(lua_State *L, int n) {
  int i;
  for (i = 1; i <= n; i++)
    if (BRANCH(L, i)->state != CORUN_TASK_DONE)
      corun__task_cancel(L, BRANCH(L, i));
}

/*
** The branches at 1..n: decide if the call is over.  Returns the number of
** results pushed, or -1 to wait on.  Raises a branch's error where the
** call re-raises it.
*/
static int decide(lua_State *L, int mode, int n) {
  int i, first = 0, pending = 0;
  uint64_t stamp = UINT64_MAX;
  for (i = 1; i <= n; i++) {  /* the deciding branch: the earliest to end */
    corun_Task *b = BRANCH(L, i);
    int counts;
    if (b->state != CORUN_TASK_DONE) {
      pending = 1;
      continue;
    }
    counts = mode == CORUN_SELECT ? b->outcome != CORUN_OUTCOME_CANCELLED
             : mode == CORUN_JOIN ? b->outcome == CORUN_OUTCOME_PANIC
             : failed(L, i, b);
    if (counts && b->deadline < stamp) {
      stamp = b->deadline;
      first = i;
    }
  }
  if (first == 0 && pending)
    return -1;
  cancel_rest(L, n);
  if (first != 0) {
    corun_Task *b = BRANCH(L, first);
    if (b->outcome == CORUN_OUTCOME_PANIC && mode != CORUN_TRY_JOIN) {
      lua_getiuservalue(L, first, 1);
      return lua_error(L);
    }
    if (mode == CORUN_SELECT) {
      lua_pushinteger(L, first);
      return 1 + corun__task_push_results(L, first, b);
    }
    lua_pushboolean(L, 0);  /* try_join: its error */
    if (b->outcome == CORUN_OUTCOME_PANIC)
      lua_getiuservalue(L, first, 1);
    else {  /* false r1 r2 ... rn -> false r2 */
      corun__task_push_results(L, first, b);
      lua_settop(L, lua_gettop(L) - (b->nvalues - 2));
      lua_remove(L, -2);
    }
    return 2;
  }
  luaL_checkstack(L, n + 1, "too many results");
  if (mode == CORUN_TRY_JOIN)
    lua_pushboolean(L, 1);
  for (i = 1; i <= n; i++)
    push_first(L, i, BRANCH(L, i));
  return n + (mode == CORUN_TRY_JOIN);
}

static int wait_branches(lua_State *L, int mode);

static int k_branches(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  BRANCH(L, 1)->rt->current->flags &=  /* a task that waits has a branch */
    (unsigned short)~(CORUN_TASK_WAITKIDS | CORUN_TASK_SELECT);
  return wait_branches(L, (int)ctx);
}

static int wait_branches(lua_State *L, int mode) {
  int n = lua_gettop(L), r = decide(L, mode, n);
  corun_Task *self;
  if (r >= 0)
    return r;
  self = BRANCH(L, 1)->rt->current;
  CORUN_ASSERT(self != NULL && n >= 1);
  self->flags |= CORUN_TASK_WAITKIDS;
  if (mode == CORUN_SELECT)  /* the first to end stops the rest at once */
    self->flags |= CORUN_TASK_SELECT;
  self->wake = CORUN_WAKE_NONE;
  return corun__sched_wait(L, mode, k_branches);
}

/*
** Run the functions at 1..top as branches of 'self' (which may wait), in
** 'mode' (CORUN_JOIN, CORUN_TRY_JOIN, CORUN_SELECT); 'name' is the Lua
** function's, for messages.  Returns what the call returns, or the wait
** (use as `return corun__branch_run(...)`).  Raises a branch's error
** where the call re-raises it.
*/
int corun__branch_run(lua_State *L, corun_Task *self, int mode,
                      const char *name) {
  int i, n = lua_gettop(L);
  luaL_checkstack(L, 4, NULL);
  for (i = 1; i <= n; i++) {  /* all branches exist before any runs */
    corun__task_new(self->rt, L, i, 0, self, CORUN_TASK_BRANCH, name);
    lua_replace(L, i);
  }
  for (i = 1; i <= n; i++) {  /* start them in order, until it is decided */
    corun_Task *b = BRANCH(L, i);
    corun__link_remove(&b->link);
    corun__sched_step(self->rt, b, L);
    if (mode == CORUN_SELECT && b->state == CORUN_TASK_DONE)
      break;
    if (mode == CORUN_TRY_JOIN && b->state == CORUN_TASK_DONE &&
        failed(L, i, b))
      break;
    if (mode == CORUN_JOIN && b->outcome == CORUN_OUTCOME_PANIC)
      break;
  }
  return wait_branches(L, mode);
}
