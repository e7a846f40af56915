/*
** branch.h - corun.join, corun.try_join and corun.select (branch.c).
*/
#ifndef CORUN_BRANCH_H
#define CORUN_BRANCH_H

#include <lua.h>
#include "task.h"

enum { CORUN_JOIN, CORUN_TRY_JOIN, CORUN_SELECT };

int corun__branch_run(lua_State *L, corun_Task *self, int mode,
                      const char *name);

#endif
