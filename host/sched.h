/*
** sched.h - the scheduler: the ready queue, resuming tasks, waiting.
** Only this module calls lua_resume.
*/
#ifndef CORUN_SCHED_H
#define CORUN_SCHED_H

#include <lua.h>
#include "runtime.h"

/* How many resumes one scheduler pass may make before letting libuv poll
   for I/O and timers again; every CORUN_SCHED_CHECK resumes, due timers
   fire and a pass longer than CORUN_SCHED_SLICE_NS ends early, so that a
   task that keeps yielding cannot hold back a deadline or I/O. */
#define CORUN_SCHED_BUDGET 4096
#define CORUN_SCHED_CHECK 16
#define CORUN_SCHED_SLICE_NS 2000000

void corun__sched_init(corun_Runtime *rt);
void corun__sched_run_ready(corun_Runtime *rt);
void corun__sched_ready(corun_Runtime *rt, corun_Task *t, corun_Wake why);
void corun__sched_wake(corun_Task *t, corun_Wake why);
void corun__sched_block(corun_Task *t, corun_Link *queue);
void corun__sched_unwait(corun_Task *t);
void corun__sched_step(corun_Runtime *rt, corun_Task *t, lua_State *from);
int corun__sched_wait(lua_State *L, lua_KContext ctx, lua_KFunction k);
int corun__sched_resume_user(corun_Runtime *rt, lua_State *L,
                             lua_State *co, int narg, int *nres);
int corun__sched_waiting(lua_State *co);
void corun__sched_given(lua_State *co, int n);
void corun__sched_unmark(lua_State *co);

/* corun__sched_resume_user's extra status: a corun wait inside the user
   coroutine must pass up (the caller returns corun__sched_wait). */
#define CORUN_PASS_WAIT (-1)

/* What a yield at a task's top level (outside every coroutine the task
   runs) raises, or makes the task panic with. */
#define CORUN_YIELD_OUTSIDE "attempt to yield from outside a coroutine " \
  "(tasks wait with corun functions, such as corun.yield_now)"

/* What corun__sched_waiting says of a thread a corun wait suspended. */
#define CORUN_WAITING_TASK 1  /* a task's own coroutine */
#define CORUN_WAITING_PASS 2  /* a coroutine the wait passed through */

#endif
