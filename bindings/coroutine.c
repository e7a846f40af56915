/*
** coroutine.c - corun's versions of the functions of Lua's 'coroutine'
** table, for coroutines inside tasks.
**
** A task may run its own coroutines (generators, coroutine.wrap
** iterators).  When one of them waits on corun (sleep, await...), its
** yield carries corun's marker: resume and wrap then suspend their caller
** too, up to the scheduler, and resume the inner coroutine where it
** waited once the wait is over.
**
** To Lua code, the top level of a task (its own coroutine, or a branch's)
** is what the main thread is to a plain Lua script: running says it is the
** main one, isyieldable is false, and yield raises an ordinary error.  A
** coroutine that a corun wait suspended (another task's own coroutine, or
** one of its coroutines a wait passed through) is busy: its task will
** resume it.  status says "normal" of it, and resume and close refuse it
** as they refuse any coroutine that is not suspended.
**
** Outside every task, each function behaves exactly as the standard one.
** The corun module (and corun_open, corun_run) installs them in the global
** 'coroutine' table, from the table corun.core.coroutine.  Messages are
** the standard ones (argument errors name the function as the caller
** called it, as luaL_argerror does), since these functions stand in for
** Lua's own.
*/
#include <lauxlib.h>
#include "../host/compat.h"
#include "../host/sched.h"
#include "corunL.h"

#define PASS (-2)  /* auxresume: a corun wait passes through */

/* Is L the top level of the running task (its own coroutine)? */
static int at_task_top(lua_State *L) {
  corun_Runtime *rt = corunL_state(L)->rt;
  return rt != NULL && rt->current != NULL && rt->current->co == L;
}

/*
** Is 'co' the own coroutine of a task: the running one, the tasks it runs
** for (a branch runs for its parent, which may have started it at once),
** or a task suspended by a corun wait?
*/
static int is_task_thread(lua_State *L, lua_State *co) {
  corun_Runtime *rt = corunL_state(L)->rt;
  corun_Task *t;
  if (corun__sched_waiting(co) == CORUN_WAITING_TASK)
    return 1;
  for (t = rt != NULL ? rt->current : NULL; t != NULL;
       t = (t->flags & CORUN_TASK_BRANCH) ? t->u.parent : NULL)
    if (t->co == co)
      return 1;
  return 0;
}

static lua_State *check_thread(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTHREAD);
  return lua_tothread(L, 1);
}

/* ------------------------------------------------------ resume, wrap */

/* Resume 'co' with the 'narg' values on top of L (the checks done).
   Returns the number of results moved to L, -1 on error (message on L's
   top), or PASS. */
static int resume_now(lua_State *L, lua_State *co, int narg) {
  int nres, status = corun__sched_resume_user(corunL_state(L)->rt, L, co,
                                              narg, &nres);
  if (status == CORUN_PASS_WAIT)
    return PASS;
  if (status == LUA_OK || status == LUA_YIELD) {
    if (!lua_checkstack(L, nres + 1)) {
      lua_pop(co, nres);
      lua_pushliteral(L, "too many results to resume");
      return -1;
    }
    lua_xmove(co, L, nres);
    return nres;
  }
  lua_xmove(co, L, 1);
  return -1;
}

/* As resume_now, for a resume by Lua code: a thread that a corun wait
   suspended is not suspended for it. */
static int auxresume(lua_State *L, lua_State *co, int narg) {
  if (corun__sched_waiting(co)) {  /* busy: its task will resume it */
    lua_pushliteral(L, "cannot resume non-suspended coroutine");
    return -1;
  }
  if (!lua_checkstack(co, narg)) {
    lua_pushliteral(L, "too many arguments to resume");
    return -1;
  }
  return resume_now(L, co, narg);
}

/* The wait that passed through 'co' is over: resume 'co' again. */
static int resume_again(lua_State *L, lua_State *co) {
  corun__task_nest_pop(corunL_state(L)->rt->current);
  corun__sched_unmark(co);
  return resume_now(L, co, 0);
}

static int resume_results(lua_State *L, int r) {
  if (r < 0) {
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
  }
  lua_pushboolean(L, 1);
  lua_insert(L, -(r + 1));
  return r + 1;
}

static int k_resume(lua_State *L, int status, lua_KContext ctx) {
  int r = resume_again(L, lua_tothread(L, 1));
  (void)status; (void)ctx;
  if (r == PASS)
    return corun__sched_wait(L, 0, k_resume);
  return resume_results(L, r);
}

static int co_resume(lua_State *L) {
  lua_State *co = check_thread(L);
  int r = auxresume(L, co, lua_gettop(L) - 1);
  if (r == PASS)
    return corun__sched_wait(L, 0, k_resume);
  return resume_results(L, r);
}

/* As the standard wrap: an error closes the coroutine and propagates,
   with position information added to string messages. */
static int wrap_results(lua_State *L, lua_State *co, int r) {
  if (r < 0) {
    int status = lua_status(co);
    if (status != LUA_OK && status != LUA_YIELD) {
      status = corun__close_thread(co, L);
      lua_xmove(co, L, 1);
    }
    if (status != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
      luaL_where(L, 1);
      lua_insert(L, -2);
      lua_concat(L, 2);
    }
    return lua_error(L);
  }
  return r;
}

static int k_wrap(lua_State *L, int status, lua_KContext ctx) {
  lua_State *co = lua_tothread(L, lua_upvalueindex(2));
  int r = resume_again(L, co);
  (void)status; (void)ctx;
  if (r == PASS)
    return corun__sched_wait(L, 0, k_wrap);
  return wrap_results(L, co, r);
}

static int auxwrap(lua_State *L) {
  lua_State *co = lua_tothread(L, lua_upvalueindex(2));
  int r = auxresume(L, co, lua_gettop(L));
  if (r == PASS)
    return corun__sched_wait(L, 0, k_wrap);
  return wrap_results(L, co, r);
}

static int co_wrap(lua_State *L) {
  lua_State *co;
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_pushvalue(L, lua_upvalueindex(1));  /* corun_State */
  co = lua_newthread(L);
  lua_pushvalue(L, 1);
  lua_xmove(L, co, 1);
  lua_pushcclosure(L, auxwrap, 2);
  return 1;
}

/* ------------------------------------------ yield and the thread's state */

/* At a task's top level there is no coroutine to yield from: raise, as
   the main thread does (tasks wait with corun's functions), with no
   position, as Lua's own message has none. */
static int co_yield(lua_State *L) {
  if (at_task_top(L)) {
    lua_pushliteral(L, CORUN_YIELD_OUTSIDE);
    return lua_error(L);
  }
  return lua_yield(L, lua_gettop(L));
}

static int co_running(lua_State *L) {
  int ismain = lua_pushthread(L);
  lua_pushboolean(L, ismain || at_task_top(L));
  return 2;
}

static int co_isyieldable(lua_State *L) {
  lua_State *co = lua_isnone(L, 1) ? L : check_thread(L);
  lua_pushboolean(L, lua_isyieldable(co) && !is_task_thread(L, co));
  return 1;
}

enum { RUNNING, DEAD, SUSPENDED, NORMAL };
static const char *const status_names[] = {
  "running", "dead", "suspended", "normal"
};

/* The status of 'co' seen from L, as the standard coroutine.status says
   it, except that a thread a corun wait suspended is busy ("normal"). */
static int status_of(lua_State *L, lua_State *co) {
  lua_Debug ar;
  if (L == co)
    return RUNNING;
  switch (lua_status(co)) {
    case LUA_YIELD:
      return corun__sched_waiting(co) ? NORMAL : SUSPENDED;
    case LUA_OK:
      if (lua_getstack(co, 0, &ar))  /* it has frames: it resumed another */
        return NORMAL;
      return lua_gettop(co) == 0 ? DEAD : SUSPENDED;  /* or not started */
    default:  /* it raised */
      return DEAD;
  }
}

static int co_status(lua_State *L) {
  lua_State *co = check_thread(L);
  lua_pushstring(L, status_names[status_of(L, co)]);
  return 1;
}

static int co_close(lua_State *L) {
  lua_State *co = check_thread(L);
  int status = status_of(L, co);
  if (status != DEAD && status != SUSPENDED)
    return luaL_error(L, "cannot close a %s coroutine",
                      status_names[status]);
  if (corun__close_thread(co, L) == LUA_OK) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  lua_xmove(co, L, 1);
  return 2;
}

static const luaL_Reg functions[] = {
  {"resume", co_resume},
  {"wrap", co_wrap},
  {"yield", co_yield},
  {"running", co_running},
  {"isyieldable", co_isyieldable},
  {"status", co_status},
  {"close", co_close},
  {NULL, NULL}
};

/* corun.core.coroutine: the functions above, each with the corun_State
   (on top of L) as upvalue 1.  A table of their own, so that an argument
   error found by name in package.loaded names them "coroutine.resume",
   not "corun.core...". */
void corunL_open_coroutine(lua_State *L) {
  lua_createtable(L, 0, sizeof functions / sizeof functions[0] - 1);
  corun__state(L);
  luaL_setfuncs(L, functions, 1);
  lua_setfield(L, -2, "coroutine");
}
