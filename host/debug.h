/*
** debug.h - seeing inside a runtime: the live tasks and what they wait on
** (corun.tasks, corun.dump, the deadlock error, SIGQUIT).  Made on demand:
** nothing here costs a task anything until asked for.
*/
#ifndef CORUN_DEBUG_H
#define CORUN_DEBUG_H

#include <lua.h>
#include "runtime.h"

/* Push an array with one table per live task of 'rt' (branches are part
   of their task), by id: id, name, state, waiting_on, spawned_at,
   traceback.  Raises only on a memory error. */
void corun__debug_push_tasks(lua_State *L, corun_Runtime *rt);
/* Push the same as text, a line per task ("task 7 (name): waiting on
   ..., spawned at file:line"), each followed by its traceback if
   'tracebacks'. */
void corun__debug_push_dump(lua_State *L, corun_Runtime *rt,
                            int tracebacks);
/* Write the dump of 'rt' to stderr, from a libuv callback (SIGQUIT):
   in protected mode on the scheduler thread; says so if it fails. */
void corun__debug_dump_stderr(corun_Runtime *rt);

#endif
