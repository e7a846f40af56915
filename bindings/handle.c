/*
** handle.c - JoinHandle (the task record itself) and JoinError.
*/
#include <lauxlib.h>
#include "../host/sched.h"
#include "corunL.h"

typedef struct JoinError {
  lua_Integer id;         /* the task's id */
  int cancelled;          /* 1: cancelled; 0: panicked */
} JoinError;              /* user values: 1 = error value, 2 = traceback,
                             3 = the task's name, or nil */

/* The task at index 1: its metatable is the class's (upvalue 2) or, for a
   task that panicked, the variant with a finalizer.  A handle moved into
   another task is usable only there. */
static corun_Task *check_handle(lua_State *L, const char *fname) {
  corun_Task *t = corunL_checkobj(L, &corun__task_tag, fname, "JoinHandle");
  corunL_check_owner(L, NULL, t->owner, 1, "JoinHandle");  /* 0: anyone's */
  return t;
}

static JoinError *check_error(lua_State *L, const char *fname) {
  return corunL_checkself(L, fname, "JoinError");
}

/* Push a JoinError for finished task 't' (userdata at 'idx'). */
void corunL_push_joinerror(lua_State *L, int idx, corun_Task *t) {
  JoinError *e = lua_newuserdatauv(L, sizeof *e, 3);
  idx = lua_absindex(L, idx);
  e->id = t->id;
  e->cancelled = t->outcome == CORUN_OUTCOME_CANCELLED;
  luaL_setmetatable(L, CORUN_JOINERROR);
  if (corun__task_push_name(L, idx, t))
    lua_setiuservalue(L, -2, 3);
  if (!e->cancelled) {
    lua_getiuservalue(L, idx, 1);
    lua_setiuservalue(L, -2, 1);
    lua_getiuservalue(L, idx, 2);
    lua_setiuservalue(L, -2, 2);
  }
}

/* Push how finished task 't' (userdata at 'idx') ended, as await and
   join_next give it: true, results..., or false, JoinError; its error is
   observed then.  Returns how many values it pushed. */
int corunL_push_ended(lua_State *L, int idx, corun_Task *t) {
  corun__task_observe(t);
  if (t->outcome == CORUN_OUTCOME_OK) {
    lua_pushboolean(L, 1);
    return 1 + corun__task_push_results(L, idx, t);
  }
  lua_pushboolean(L, 0);
  corunL_push_joinerror(L, idx, t);
  return 2;
}

/* Deliver the outcome of finished task 't' (userdata at 'idx'). */
static int deliver(lua_State *L, int idx, corun_Task *t) {
  t->flags |= CORUN_TASK_JOINED;
  return corunL_push_ended(L, idx, t);
}

static int k_await(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  return deliver(L, 1, lua_touserdata(L, 1));
}

static int h_await(lua_State *L) {
  corun_Task *t = check_handle(L, "JoinHandle:await");
  corun_Task *self = corunL_waiter(L, "JoinHandle:await");
  if (t->flags & CORUN_TASK_JOINED)
    return corunL_error(L, "JoinHandle:await", "task %I was already awaited "
                        "(a handle can be awaited once)", (LUAI_UACINT)t->id);
  if (t == self)
    return corunL_error(L, "JoinHandle:await", "task %I cannot await itself",
                        (LUAI_UACINT)t->id);
  lua_settop(L, 1);
  if (t->state == CORUN_TASK_DONE)
    return deliver(L, 1, t);
  if (corun__link_linked(&t->joiners))
    return corunL_error(L, "JoinHandle:await", "task %I is already being "
                        "awaited by another task", (LUAI_UACINT)t->id);
  corun__sched_block(self, &t->joiners);
  return corun__sched_wait(L, 0, k_await);
}

static int h_abort(lua_State *L) {
  corun__task_abort(check_handle(L, "JoinHandle:abort"));
  return 0;
}

static int h_is_finished(lua_State *L) {
  corun_Task *t = check_handle(L, "JoinHandle:is_finished");
  lua_pushboolean(L, t->state == CORUN_TASK_DONE);
  return 1;
}

static int h_id(lua_State *L) {
  lua_pushinteger(L, check_handle(L, "JoinHandle:id")->id);
  return 1;
}

static int h_tostring(lua_State *L) {
  corun_Task *t = check_handle(L, "JoinHandle:__tostring");
  static const char *const states[] = {"new", "running", "waiting",
                                       "closing", "finished"};
  if (corun__task_push_name(L, 1, t))  /* a named task: its name too */
    lua_pushfstring(L, "corun.JoinHandle (task %I (%s), %s)",
                    (LUAI_UACINT)t->id, lua_tostring(L, -1),
                    states[t->state]);
  else
    lua_pushfstring(L, "corun.JoinHandle (task %I, %s)", (LUAI_UACINT)t->id,
                    states[t->state]);
  return 1;
}

/* The handle at 'idx' moved at a crossing; only task 'id' may use it
   now (0: out of a task, anyone). */
static void h_take(lua_State *L, int idx, corun_Task *t, lua_Integer id) {
  (void)t;
  ((corun_Task *)lua_touserdata(L, idx))->owner = id;
}

/* Who may hand the handle at 'idx' over: the task it moved to, or any
   (see corun_Class.owner). */
static lua_Integer h_owner(lua_State *L, int idx, int *moved) {
  lua_Integer owner = ((corun_Task *)lua_touserdata(L, idx))->owner;
  *moved = owner != 0;
  return owner;
}

static const corun_Class handle_class = {CORUN_CLASS_MOVE, h_take, h_owner};

/* A JoinError is immutable: it crosses as a copy of itself (its panic
   value copied as any value). */
static const corun_Class error_class = {CORUN_CLASS_COPY, NULL, NULL};

/* The __gc of a panicked task's handle (upvalue 2: that metatable). */
static int h_gc(lua_State *L) {
  corun__task_gc(corunL_checkself(L, "JoinHandle:__gc", "JoinHandle"));
  return 0;
}

static int e_is_cancelled(lua_State *L) {
  lua_pushboolean(L, check_error(L, "JoinError:is_cancelled")->cancelled);
  return 1;
}

static int e_is_panic(lua_State *L) {
  lua_pushboolean(L, !check_error(L, "JoinError:is_panic")->cancelled);
  return 1;
}

static int e_into_panic(lua_State *L) {
  JoinError *e = check_error(L, "JoinError:into_panic");
  if (e->cancelled)
    return corunL_error(L, "JoinError:into_panic", "task %I was cancelled, "
                        "it did not panic", (LUAI_UACINT)e->id);
  lua_getiuservalue(L, 1, 1);
  return 1;
}

static int e_id(lua_State *L) {
  lua_pushinteger(L, check_error(L, "JoinError:id")->id);
  return 1;
}

static int e_traceback(lua_State *L) {
  check_error(L, "JoinError:traceback");
  lua_getiuservalue(L, 1, 2);
  return 1;
}

/* "task 7" or, for a named task, "task 7 (name)". */
static const char *push_who(lua_State *L, JoinError *e) {
  if (lua_getiuservalue(L, 1, 3) == LUA_TSTRING)
    return lua_pushfstring(L, "task %I (%s)", (LUAI_UACINT)e->id,
                           lua_tostring(L, -1));
  return lua_pushfstring(L, "task %I", (LUAI_UACINT)e->id);
}

static int e_tostring(lua_State *L) {
  JoinError *e = check_error(L, "JoinError:__tostring");
  const char *who = push_who(L, e);
  if (e->cancelled) {
    lua_pushfstring(L, "%s was cancelled", who);
    return 1;
  }
  lua_getiuservalue(L, 1, 1);
  corun__task_describe(L, -1);
  lua_pushfstring(L, "%s panicked: %s", who, lua_tostring(L, -1));
  return 1;
}

static const luaL_Reg handle_methods[] = {
  {"await", h_await},
  {"abort", h_abort},
  {"is_finished", h_is_finished},
  {"id", h_id},
  {NULL, NULL}
};

static const luaL_Reg handle_meta[] = {
  {"__tostring", h_tostring},
  {NULL, NULL}
};

static const luaL_Reg error_methods[] = {
  {"is_cancelled", e_is_cancelled},
  {"is_panic", e_is_panic},
  {"into_panic", e_into_panic},
  {"id", e_id},
  {"traceback", e_traceback},
  {NULL, NULL}
};

static const luaL_Reg error_meta[] = {
  {"__tostring", e_tostring},
  {NULL, NULL}
};

void corunL_open_handle(lua_State *L) {
  corun__state(L);
  corunL_newclass(L, CORUN_JOINHANDLE, handle_methods, handle_meta);
  corunL_setcrossing(L, &handle_class);  /* see host/transfer.c */
  luaL_newmetatable(L, CORUN_JOINHANDLE_PANIC);  /* the same, plus __gc */
  lua_pushnil(L);
  while (lua_next(L, -3)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
  lua_pushvalue(L, -3);  /* the corun_State */
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, h_gc, 2);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 2);
  corunL_newclass(L, CORUN_JOINERROR, error_methods, error_meta);
  corunL_setcrossing(L, &error_class);
  lua_pop(L, 2);
}
