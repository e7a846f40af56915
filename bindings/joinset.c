/*
** joinset.c - corun.JoinSet() and AbortHandle.
*/
#include <lauxlib.h>
#include "../host/joinset.h"
#include "../host/sched.h"
#include "corunL.h"

#define CORUN_ABORTHANDLE "corun.AbortHandle"

static const char set_tag = 0;  /* the class word of a JoinSet */

static corun_JoinSet *to_set(lua_State *L, const char *fname) {
  return corunL_checkobj(L, &set_tag, fname, "JoinSet");
}

/* The set at index 1, used by the task that owns it ('*self': that
   task). */
static corun_JoinSet *check_set_by(lua_State *L, const char *fname,
                                   corun_Task **self) {
  corun_JoinSet *set = to_set(L, fname);
  *self = corunL_task(L, fname);
  if (corun__task_root(*self)->id != set->owner)  /* says who owns it */
    corunL_check_owner(L, fname, set->owner, 0, "the JoinSet");
  return set;
}

static corun_JoinSet *check_set(lua_State *L, const char *fname) {
  corun_Task *self;
  return check_set_by(L, fname, &self);
}

static int l_joinset(lua_State *L) {
  corun_Task *self = corunL_task(L, "corun.JoinSet");
  corun_JoinSet *set = lua_newuserdatauv(L, sizeof *set, 0);
  corun__joinset_init(set, self);
  set->tag = &set_tag;
  luaL_setmetatable(L, CORUN_JOINSET);
  return 1;
}

/* set:spawn(fn, ...) and set:spawn_named(name, fn, ...) -> AbortHandle */
static int spawn(lua_State *L, const char *fname, int named) {
  corun_Task *self, *t;
  corun_JoinSet *set = check_set_by(L, fname, &self);
  if (named && lua_type(L, 2) != LUA_TSTRING)
    return corunL_typeerror(L, fname, 2, "string");
  corunL_checkfunction(L, fname, 2 + named);
  if (set->closed)
    return corunL_error(L, fname, "the JoinSet is closed");
  if (self->rt->shutdown)
    return corunL_error(L, fname, "the runtime is shutting down");
  t = corun__task_new(self->rt, L, 2 + named, lua_gettop(L) - 2 - named,
                      NULL, named ? CORUN_TASK_NAMED : 0,
                      fname);                    /* set fn args... t */
  corun__joinset_add(set, t);                    /* t stays anchored */
  lua_newuserdatauv(L, 0, 1);                    /* the AbortHandle */
  lua_insert(L, -2);
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, CORUN_ABORTHANDLE);
  return 1;
}

static int s_spawn(lua_State *L) { return spawn(L, "JoinSet:spawn", 0); }

static int s_spawn_named(lua_State *L) {
  return spawn(L, "JoinSet:spawn_named", 1);
}

/* Push the outcome of member 't' (taken from the set, userdata on top):
   [id,] true, results... / [id,] false, JoinError. */
static int deliver(lua_State *L, corun_Task *t, int with_id) {
  int ud = lua_gettop(L);
  if (with_id)
    lua_pushinteger(L, t->id);
  return with_id + corunL_push_ended(L, ud, t);
}

static int join_next(lua_State *L, int with_id);

static int k_join_next(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  return join_next(L, (int)ctx);
}

static int join_next(lua_State *L, int with_id) {
  const char *name = with_id ? "JoinSet:join_next_with_id"
                             : "JoinSet:join_next";
  corun_JoinSet *set = check_set(L, name);
  corun_Task *t;
  lua_settop(L, 1);
  if ((t = corun__joinset_take(L, set)) != NULL)
    return deliver(L, t, with_id);
  if (set->count == 0) {
    lua_pushnil(L);
    return 1;
  }
  corunL_waiter(L, name);
  corun__sched_block(corunL_state(L)->rt->current, &set->waiters);
  return corun__sched_wait(L, with_id, k_join_next);
}

static int s_join_next(lua_State *L) { return join_next(L, 0); }
static int s_join_next_with_id(lua_State *L) { return join_next(L, 1); }

static int s_try_join_next(lua_State *L) {
  corun_JoinSet *set = check_set(L, "JoinSet:try_join_next");
  corun_Task *t;
  lua_settop(L, 1);
  if ((t = corun__joinset_take(L, set)) != NULL)
    return deliver(L, t, 0);
  lua_pushnil(L);
  return 1;
}

/* set:join_all(): array of first results in completion order; a task's
   error is re-raised after the rest are aborted.  Stack: set results. */
static int join_all(lua_State *L);

static int k_join_all(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  return join_all(L);
}

static int join_all(lua_State *L) {
  corun_JoinSet *set = check_set(L, "JoinSet:join_all");
  corun_Task *t;
  while ((t = corun__joinset_take(L, set)) != NULL) {  /* set results ud */
    if (t->outcome != CORUN_OUTCOME_OK) {
      corun__joinset_abort_all(set);
      corun__task_observe(t);
      if (t->outcome == CORUN_OUTCOME_PANIC)
        lua_getiuservalue(L, -1, 1);
      else
        corunL_push_joinerror(L, lua_gettop(L), t);
      return lua_error(L);
    }
    if (t->nvalues == 0)
      lua_pushnil(L);
    else {
      corun__task_push_results(L, 3, t);
      lua_settop(L, 4);
    }
    lua_rawseti(L, 2, (lua_Integer)lua_rawlen(L, 2) + 1);
    lua_settop(L, 2);
    corun__task_observe(t);
  }
  if (set->count == 0)
    return 1;
  corunL_waiter(L, "JoinSet:join_all");
  corun__sched_block(corunL_state(L)->rt->current, &set->waiters);
  return corun__sched_wait(L, 0, k_join_all);
}

static int s_join_all(lua_State *L) {
  check_set(L, "JoinSet:join_all");
  lua_settop(L, 1);
  lua_newtable(L);
  return join_all(L);
}

static int s_len(lua_State *L) {
  corun_JoinSet *set = to_set(L, "JoinSet:len");
  lua_pushinteger(L, set->count);
  return 1;
}

static int s_len_meta(lua_State *L) {  /* #set */
  corun_JoinSet *set = to_set(L, "JoinSet:__len");
  lua_pushinteger(L, set->count);
  return 1;
}

static int s_is_empty(lua_State *L) {
  corun_JoinSet *set = to_set(L, "JoinSet:is_empty");
  lua_pushboolean(L, set->count == 0);
  return 1;
}

static int s_abort_all(lua_State *L) {
  corun__joinset_abort_all(check_set(L, "JoinSet:abort_all"));
  return 0;
}

/* set:shutdown(): abort all and wait until they have stopped; their
   outcomes are dropped and the set is empty after. */
static int shutdown_wait(lua_State *L);

static int k_shutdown(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  return shutdown_wait(L);
}

static int shutdown_wait(lua_State *L) {
  corun_JoinSet *set = check_set(L, "JoinSet:shutdown");
  corun_Task *t;
  lua_settop(L, 1);
  while ((t = corun__joinset_take(L, set)) != NULL) {
    corun__task_observe(t);
    lua_settop(L, 1);
  }
  if (set->count == 0)
    return 0;
  corunL_waiter(L, "JoinSet:shutdown");
  corun__sched_block(corunL_state(L)->rt->current, &set->waiters);
  return corun__sched_wait(L, 0, k_shutdown);
}

static int s_shutdown(lua_State *L) {
  corun__joinset_abort_all(check_set(L, "JoinSet:shutdown"));
  return shutdown_wait(L);
}

static int s_detach_all(lua_State *L) {
  corun__joinset_forget(check_set(L, "JoinSet:detach_all"), 0);
  return 0;
}

/* <close>: cancel every task still in the set. */
static int s_closevar(lua_State *L) {
  corun_JoinSet *set = to_set(L, "JoinSet:__close");
  corun__joinset_close(set, 0);
  return 0;
}

/* set:close(): the same, by the task that owns the set. */
static int s_close(lua_State *L) {
  check_set(L, "JoinSet:close");
  return s_closevar(L);
}

static int s_gc(lua_State *L) {
  corun__joinset_close(to_set(L, "JoinSet:__gc"), 1);
  return 0;
}

static int s_tostring(lua_State *L) {
  corun_JoinSet *set = to_set(L, "JoinSet:__tostring");
  lua_pushfstring(L, "corun.JoinSet (%d tasks%s)", set->count,
                  set->closed ? ", closed" : "");
  return 1;
}

static const corun_Class abort_class = {CORUN_CLASS_SHARE, NULL, NULL};

static corun_Task *check_abort(lua_State *L, const char *fname) {
  corunL_checkself(L, fname, "AbortHandle");
  lua_getiuservalue(L, 1, 1);
  return lua_touserdata(L, -1);
}

static int a_abort(lua_State *L) {
  corun__task_abort(check_abort(L, "AbortHandle:abort"));
  return 0;
}

static int a_id(lua_State *L) {
  lua_pushinteger(L, check_abort(L, "AbortHandle:id")->id);
  return 1;
}

static int a_is_finished(lua_State *L) {
  corun_Task *t = check_abort(L, "AbortHandle:is_finished");
  lua_pushboolean(L, t->state == CORUN_TASK_DONE);
  return 1;
}

static int a_tostring(lua_State *L) {
  lua_pushfstring(L, "corun.AbortHandle (task %I)",
                  (LUAI_UACINT)check_abort(L, "AbortHandle:__tostring")->id);
  return 1;
}

static const luaL_Reg set_methods[] = {
  {"spawn", s_spawn},
  {"spawn_named", s_spawn_named},
  {"join_next", s_join_next},
  {"join_next_with_id", s_join_next_with_id},
  {"try_join_next", s_try_join_next},
  {"join_all", s_join_all},
  {"len", s_len},
  {"is_empty", s_is_empty},
  {"abort_all", s_abort_all},
  {"shutdown", s_shutdown},
  {"detach_all", s_detach_all},
  {"close", s_close},
  {NULL, NULL}
};

static const luaL_Reg set_meta[] = {
  {"__len", s_len_meta},
  {"__close", s_closevar},
  {"__gc", s_gc},
  {"__tostring", s_tostring},
  {NULL, NULL}
};

static const luaL_Reg abort_methods[] = {
  {"abort", a_abort},
  {"id", a_id},
  {"is_finished", a_is_finished},
  {NULL, NULL}
};

static const luaL_Reg abort_meta[] = {
  {"__tostring", a_tostring},
  {NULL, NULL}
};

static const luaL_Reg functions[] = {
  {"JoinSet", l_joinset},
  {NULL, NULL}
};

void corunL_open_joinset(lua_State *L) {
  corun__state(L);
  corunL_newclass(L, CORUN_JOINSET, set_methods, set_meta);
  lua_pop(L, 1);
  corunL_newclass(L, CORUN_ABORTHANDLE, abort_methods, abort_meta);
  corunL_setcrossing(L, &abort_class);  /* see host/transfer.c */
  lua_pop(L, 1);
  luaL_setfuncs(L, functions, 1);
}
