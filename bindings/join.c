/*
** join.c - corun.join, corun.try_join, corun.select: functions run at the
** same time on the calling task, as its branches.
**
** Each function becomes a branch (a task record with the caller's id; its
** values are not copied, so it may use the caller's locals), started at
** once in argument order until it first waits.  The caller then waits for
** its branches (CORUN_TASK_WAITKIDS: each branch that ends wakes it) and
** decides, in the order the branches ended (their completion stamps):
** join waits for all and re-raises the first error; try_join stops at the
** first failure (an error, or a return of nil, err); select stops at the
** first to end.  The branches still running are then cancelled.  The
** caller's cancellation cancels its branches (task.c).
*/
#include <lauxlib.h>
#include "../host/sched.h"
#include "corunL.h"

enum { JOIN, TRY_JOIN, SELECT };

static const char *const names[] = {"corun.join", "corun.try_join",
                                    "corun.select"};

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
    counts = mode == SELECT ? b->outcome != CORUN_OUTCOME_CANCELLED
             : mode == JOIN ? b->outcome == CORUN_OUTCOME_PANIC
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
    if (b->outcome == CORUN_OUTCOME_PANIC && mode != TRY_JOIN) {
      lua_getiuservalue(L, first, 1);
      return lua_error(L);
    }
    if (mode == SELECT) {
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
  if (mode == TRY_JOIN)
    lua_pushboolean(L, 1);
  for (i = 1; i <= n; i++)
    push_first(L, i, BRANCH(L, i));
  return n + (mode == TRY_JOIN);
}

static int wait_branches(lua_State *L, int mode);

static int k_branches(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  corunL_state(L)->rt->current->flags &=
    (unsigned short)~(CORUN_TASK_WAITKIDS | CORUN_TASK_SELECT);
  return wait_branches(L, (int)ctx);
}

static int wait_branches(lua_State *L, int mode) {
  int n = lua_gettop(L), r = decide(L, mode, n);
  corun_Task *self;
  if (r >= 0)
    return r;
  self = corunL_state(L)->rt->current;
  self->flags |= CORUN_TASK_WAITKIDS;
  if (mode == SELECT)  /* the first to end stops the rest at once */
    self->flags |= CORUN_TASK_SELECT;
  self->wake = CORUN_WAKE_NONE;
  return corun__sched_wait(L, mode, k_branches);
}

static int run_branches(lua_State *L, int mode) {
  const char *name = names[mode];
  corun_Task *self = corunL_waiter(L, name);
  int i, n = lua_gettop(L);
  if (n == 0 && mode == SELECT)
    return corunL_error(L, name, "needs at least one function");
  for (i = 1; i <= n; i++)
    corunL_checkfunction(L, name, i);
  luaL_checkstack(L, 4, NULL);
  for (i = 1; i <= n; i++) {  /* all branches exist before any runs */
    corun__task_new(self->rt, L, i, 0, self, CORUN_TASK_BRANCH, name);
    lua_replace(L, i);
  }
  for (i = 1; i <= n; i++) {  /* start them in order, until it is decided */
    corun_Task *b = BRANCH(L, i);
    corun__link_remove(&b->link);
    corun__sched_step(self->rt, b, L);
    if (mode == SELECT && b->state == CORUN_TASK_DONE)
      break;
    if (mode == TRY_JOIN && b->state == CORUN_TASK_DONE && failed(L, i, b))
      break;
    if (mode == JOIN && b->outcome == CORUN_OUTCOME_PANIC)
      break;
  }
  return wait_branches(L, mode);
}

static int l_join(lua_State *L) { return run_branches(L, JOIN); }
static int l_try_join(lua_State *L) { return run_branches(L, TRY_JOIN); }
static int l_select(lua_State *L) { return run_branches(L, SELECT); }

static const luaL_Reg functions[] = {
  {"join", l_join},
  {"try_join", l_try_join},
  {"select", l_select},
  {NULL, NULL}
};

void corunL_open_join(lua_State *L) {
  corun__state(L);
  luaL_setfuncs(L, functions, 1);
}
