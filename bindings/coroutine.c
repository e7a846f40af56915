/*
** coroutine.c - coroutine.resume and coroutine.wrap that let corun's waits
** pass through.
**
** A task may run its own coroutines (generators, coroutine.wrap
** iterators).  When one of them waits on corun (sleep, await...), its
** yield carries corun's marker: these versions then suspend their caller
** too, up to the scheduler, and resume the inner coroutine where it
** waited once the wait is over.  Every other yield, and every use outside
** a task, behaves exactly as the standard functions do.  The corun module
** installs them in the global 'coroutine' table when it is loaded.
*/
#include <lauxlib.h>
#include "../host/compat.h"
#include "../host/sched.h"
#include "corunL.h"

#define PASS (-2)  /* auxresume: a corun wait passes through */

/* Resume 'co' with 'narg' values from L.  Returns the number of results
   moved to L, -1 on error (message on L's top), or PASS. */
static int auxresume(lua_State *L, lua_State *co, int narg) {
  int status, nres;
  if (!lua_checkstack(co, narg)) {
    lua_pushliteral(L, "too many arguments to resume");
    return -1;
  }
  status = corun__sched_resume_user(corunL_state(L)->rt, L, co, narg, &nres);
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

/* The wait that passed through 'co' is over: resume 'co' again. */
static int resume_again(lua_State *L, lua_State *co) {
  corun_Runtime *rt = corunL_state(L)->rt;
  corun__task_nest_pop(rt->current);
  return auxresume(L, co, 0);
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
  lua_State *co = lua_tothread(L, 1);
  int r;
  luaL_argexpected(L, co, 1, "coroutine");
  r = auxresume(L, co, lua_gettop(L) - 1);
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

static const luaL_Reg functions[] = {
  {"coroutine_resume", co_resume},
  {"coroutine_wrap", co_wrap},
  {NULL, NULL}
};

void corunL_open_coroutine(lua_State *L) {
  corun__state(L);
  luaL_setfuncs(L, functions, 1);
}
