/*
** signal.h - waits for a signal (signal.c), for corun.signal.wait.
*/
#ifndef CORUN_SIGNAL_H
#define CORUN_SIGNAL_H

#include "io.h"

/*
** The running task 'self' (the bindings checked it may wait) waits until
** signal 'num' arrives, then returns 'name' (borrows: a string that lives
** as long as the program, such as a literal).  Pushes nil and
** "UV_NAME: ... (name)" if the wait cannot start; raises "fname: ..." if
** the task cannot wait.  'num' must be a signal whose handler may return
** (the bindings refuse SIGKILL, SIGSTOP and the faults).
*/
int corun__signal_wait(lua_State *L, const char *fname, corun_Task *self,
                       int num, const char *name);

#endif
