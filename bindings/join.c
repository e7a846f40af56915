/*
** join.c - corun.join, corun.try_join, corun.select: the arguments are
** checked here; host/branch.c runs the branches and decides.
*/
#include <lauxlib.h>
#include "../host/branch.h"
#include "corunL.h"

static const char *const names[] = {"corun.join", "corun.try_join",
                                    "corun.select"};

static int run_branches(lua_State *L, int mode) {
  const char *name = names[mode];
  corun_Task *self = corunL_waiter(L, name);
  int i, n = lua_gettop(L);
  if (n == 0 && mode == CORUN_SELECT)
    return corunL_error(L, name, "needs at least one function");
  for (i = 1; i <= n; i++)
    corunL_checkfunction(L, name, i);
  return corun__branch_run(L, self, mode, name);
}

static int l_join(lua_State *L) { return run_branches(L, CORUN_JOIN); }
static int l_try_join(lua_State *L) { return run_branches(L, CORUN_TRY_JOIN); }
static int l_select(lua_State *L) { return run_branches(L, CORUN_SELECT); }
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
