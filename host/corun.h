/*
** corun.h - corun's C API: the only header an embedding application needs.
**
** corun runs Lua functions as tasks on a libuv loop.  A runtime lives on
** one lua_State at a time; several states may each run their own.
*/
#ifndef CORUN_H
#define CORUN_H

#include <lua.h>

#define CORUN_VERSION "0.1.0"

/* Results of corun_run. */
#define CORUN_OK          0  /* the main task returned: its results are on
                                the stack */
#define CORUN_ERROR       1  /* the main task raised (or the runtime failed):
                                the error value and a traceback string are
                                on the stack */
#define CORUN_INTERRUPTED 2  /* SIGINT cancelled the main task */
#define CORUN_EBUSY       3  /* a runtime already runs on this state: a
                                message is on the stack */

/* Flags of corun_run. */
#define CORUN_HANDLE_SIGINT 0x1  /* Ctrl-C cancels the main task */

/* "corun 0.1.0 (Lua 5.4.4, libuv 1.44.2)" */
const char *corun_version_string(void);

/* Open the corun.core module (for package.preload or luaL_requiref). */
int luaopen_corun_core(lua_State *L);

/*
** Run the function below the 'nargs' values on top of L as the main task
** of a new runtime on its own libuv loop, until it ends; then cancel every
** task still alive and close the loop.  The function and arguments are
** popped; what is pushed depends on the result (see above), and
** '*nresults' gets the number of results on CORUN_OK.
*/
int corun_run(lua_State *L, int nargs, int flags, int *nresults);

#endif
