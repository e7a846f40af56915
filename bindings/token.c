/*
** token.c - corun.CancellationToken(): a token shared by identity between
** tasks (as a Semaphore is); tok:run(fn, ...) runs fn as a branch of the
** calling task, cancelled when the token is (host/token.c).
**
** User value 1 of a child token is its parent token, which must outlive
** it (the parent lists it); its finalizer takes it off that list.
*/
#include <lauxlib.h>
#include "../host/sched.h"
#include "../host/token.h"
#include "corunL.h"

#define CORUN_TOKEN "corun.CancellationToken"

static const corun_Class token_class = {CORUN_CLASS_SHARE, NULL, NULL};

static corun_Token *check_token(lua_State *L, const char *fname) {
  return corunL_checkself(L, fname, "CancellationToken");
}

/* Push a new token, the child of 'parent' (at index 'pidx') or a root
   (parent NULL). */
static corun_Token *push_token(lua_State *L, corun_Token *parent, int pidx) {
  corun_Token *tok = lua_newuserdatauv(L, sizeof *tok, parent != NULL);
  corun__token_init(tok, NULL);
  luaL_setmetatable(L, CORUN_TOKEN);
  if (parent != NULL) {
    lua_pushvalue(L, pidx);
    lua_setiuservalue(L, -2, 1);
    corun__token_init(tok, parent);  /* linked once nothing can raise */
  }
  return tok;
}

static int l_token(lua_State *L) {
  push_token(L, NULL, 0);
  return 1;
}

static int t_cancel(lua_State *L) {
  corun__token_cancel(check_token(L, "CancellationToken:cancel"));
  return 0;
}

static int t_is_cancelled(lua_State *L) {
  lua_pushboolean(L, check_token(L, "CancellationToken:is_cancelled")
                     ->cancelled);
  return 1;
}

/* tok:cancelled(): returns once the token is cancelled (at once if it
   is). */
static int t_cancelled(lua_State *L) {
  corun_Token *tok = check_token(L, "CancellationToken:cancelled");
  corun_Task *self = corunL_waiter(L, "CancellationToken:cancelled");
  if (tok->cancelled)
    return 0;
  lua_settop(L, 1);  /* the token stays alive while it waits */
  corun__token_wait(tok, self);
  return corun__sched_wait(L, 0, corunL_done);
}

/* tok:child(): a token cancelled with this one (not the other way). */
static int t_child(lua_State *L) {
  corun_Token *tok = check_token(L, "CancellationToken:child");
  push_token(L, tok, 1);
  return 1;
}

static int run_cancelled(lua_State *L) {
  lua_pushboolean(L, 0);
  lua_pushliteral(L, "cancelled");
  return 2;
}

/* The branch at index 2 has ended: what tok:run returns. */
static int run_outcome(lua_State *L, corun_Task *b) {
  if (b->outcome == CORUN_OUTCOME_PANIC) {  /* errors of fn propagate */
    lua_getiuservalue(L, 2, 1);
    return lua_error(L);
  }
  if (b->outcome == CORUN_OUTCOME_CANCELLED)
    return run_cancelled(L);
  lua_pushboolean(L, 1);
  return 1 + corun__task_push_results(L, 2, b);
}

static int k_run(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  corun__token_run_done(lua_touserdata(L, 3), corunL_state(L)->rt->current);
  lua_settop(L, 2);
  return run_outcome(L, lua_touserdata(L, 2));
}

/*
** tok:run(fn, ...): fn runs at once, as a branch of the calling task (its
** id, values not copied), as corun.timeout's does; if it waits, the
** caller waits for it, and the token's cancellation cancels it.  Returns
** true and fn's results, or false, "cancelled"; errors of fn propagate.
** On a cancelled token fn does not run.
*/
static int t_run(lua_State *L) {
  corun_Token *tok = check_token(L, "CancellationToken:run");
  corun_Task *self = corunL_waiter(L, "CancellationToken:run");
  corun_TokenRun *run;
  corun_Task *b;
  corunL_checkfunction(L, "CancellationToken:run", 2);
  if (tok->cancelled)
    return run_cancelled(L);
  b = corun__task_new(self->rt, L, 2, lua_gettop(L) - 2, self,
                      CORUN_TASK_BRANCH, "CancellationToken:run");
  lua_replace(L, 2);
  lua_settop(L, 2);  /* token branch */
  run = lua_newuserdatauv(L, sizeof *run, 0);  /* before the branch runs:
                                                  nothing raises after */
  corun__link_init(&run->link);
  corun__link_remove(&b->link);  /* not queued: it runs now */
  corun__sched_step(self->rt, b, L);
  if (b->state == CORUN_TASK_DONE)
    return run_outcome(L, b);
  if (tok->cancelled) {  /* fn cancelled the token, then waited */
    corun__task_cancel(L, b);
    return run_outcome(L, b);
  }
  corun__token_run_wait(tok, run, self, b);
  return corun__sched_wait(L, 0, k_run);
}

/* Collected: its parent lets go of it. */
static int t_gc(lua_State *L) {
  corun__token_gone(check_token(L, "CancellationToken:__gc"));
  return 0;
}

static int t_tostring(lua_State *L) {
  corun_Token *tok = check_token(L, "CancellationToken:__tostring");
  lua_pushfstring(L, "corun.CancellationToken (%s)",
                  tok->cancelled ? "cancelled" : "not cancelled");
  return 1;
}

static const luaL_Reg token_methods[] = {
  {"cancel", t_cancel}, {"is_cancelled", t_is_cancelled},
  {"cancelled", t_cancelled}, {"child", t_child}, {"run", t_run},
  {NULL, NULL}
};
static const luaL_Reg token_meta[] = {
  {"__gc", t_gc}, {"__tostring", t_tostring}, {NULL, NULL}
};
static const luaL_Reg functions[] = {
  {"CancellationToken", l_token}, {NULL, NULL}
};

void corunL_open_token(lua_State *L) {
  corun__state(L);
  corunL_newclass(L, CORUN_TOKEN, token_methods, token_meta);
  corunL_setcrossing(L, &token_class);
  lua_pop(L, 1);
  luaL_setfuncs(L, functions, 1);
}
