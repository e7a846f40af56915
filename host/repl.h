/*
** repl.h - corun -i: the interactive prompt of the executable (repl.c).
*/
#ifndef CORUN_REPL_H
#define CORUN_REPL_H

#include <lua.h>

/* Push the function that runs the prompt in the main task. */
void corun__repl_push(lua_State *L);

#endif
