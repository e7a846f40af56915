/*
** corun.h - corun's C API: the only header an embedding application needs.
**
** corun runs Lua functions as tasks on a libuv loop.  An application can
**   - run a function to completion as the main task of a runtime that
**     owns its loop (corun_run: what the `corun` executable does), or
**   - open a runtime on its own lua_State and its own uv_loop_t
**     (corun_open), spawn tasks from C and be told how they end
**     (corun_spawn), give Lua native async functions that suspend the
**     calling task until a libuv callback wakes it (corun_wait_prepare,
**     corun_wait, corun_wake), step it (corun_step) and close it
**     (corun_close).
**
** A runtime belongs to one Lua state (lua_newstate); every function takes
** any thread of that state.  Several states may each have a runtime, in
** one thread of the process; corun keeps no global state but one table:
** the signal actions corun.signal.wait replaces are process-wide, and
** corun keeps what they were behind a mutex (io/signal.c).  Functions that
** return an int return CORUN_OK or one of the error codes below, never
** raise and never abort; after an error, corun_errmsg says what went
** wrong.  docs/embedding.md walks through examples/embed/host.c.
*/
#ifndef CORUN_H
#define CORUN_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>
#include <uv.h>

#define CORUN_VERSION "0.2.0"

/* Result codes. */
#define CORUN_OK          0  /* done; for a task: it returned */
#define CORUN_ERROR       1  /* a Lua error (the main task or a task spawned
                                from C raised; a chunk did not load) */
#define CORUN_INTERRUPTED 2  /* SIGINT cancelled the main task (corun_run) */
#define CORUN_EBUSY       3  /* not now: a runtime already runs on this
                                state, or the call came from inside a task
                                or a scheduler step */
#define CORUN_EINVAL      4  /* wrong state or argument: no runtime open,
                                no such task, a native wait misused */
#define CORUN_ESTALE      5  /* the waker is no longer valid: its task was
                                woken already, or cancelled (the values
                                given are dropped) */
#define CORUN_CANCELLED   6  /* status of a task that was cancelled */
#define CORUN_ENOMEM      7  /* out of memory */
#define CORUN_ELOOP       8  /* libuv failed (corun_errmsg has its error) */

/* Flags of corun_run. */
#define CORUN_HANDLE_SIGINT 0x1  /* Ctrl-C cancels the main task */
#define CORUN_PAUSED_CLOCK  0x2  /* the clock starts paused (the test
                                    clock: corun.clock in docs/api.md) */
#define CORUN_HANDLE_SIGQUIT 0x4 /* SIGQUIT (Ctrl-\) writes the live tasks
                                    to stderr (corun.dump) and the program
                                    goes on */

/* Modes of corun_step. */
#define CORUN_STEP_READY  0  /* run the tasks that are ready (and those
                                whose deadline passed) until none is; no
                                I/O polling, never blocks */
#define CORUN_STEP_ONCE   1  /* uv_run(loop, UV_RUN_ONCE) */
#define CORUN_STEP_NOWAIT 2  /* uv_run(loop, UV_RUN_NOWAIT) */
#define CORUN_STEP_ALL    3  /* uv_run(loop, UV_RUN_DEFAULT): until the
                                loop has nothing left (its other handles
                                count too) */

/* "corun 0.1.0 (Lua 5.4.4, libuv 1.44.2)" */
const char *corun_version_string(void);

/* Open the corun.core module (for package.preload or luaL_requiref). */
int luaopen_corun_core(lua_State *L);

/* Let `require "corun"` find the whole module (its C part and its Lua
   part, built into libcorun) in L's package.preload. */
void corun_preload(lua_State *L);

/* The message of the last failed call of this API on L's state (corun_run
   reports on the stack instead).  Valid until the next call. */
const char *corun_errmsg(lua_State *L);

/*
** Run the function below the 'nargs' values on top of L as the main task
** of a new runtime on its own libuv loop, until it ends; then cancel every
** task still alive and close the loop.  Installs corun's coroutine.*
** functions first, as corun_open does.  The function and arguments are
** popped.  CORUN_OK: '*nresults' results are pushed; CORUN_ERROR: the
** error value and a traceback string; CORUN_INTERRUPTED: nothing;
** CORUN_EBUSY: a message (a runtime is already open on this state).
** 'nresults' may be NULL.
*/
int corun_run(lua_State *L, int nargs, int flags, int *nresults);

/* ------------------------------------------------------------------
** A runtime on the application's state and loop
** ------------------------------------------------------------------ */

/*
** Open a runtime on L's state.  'loop' is the application's loop (it keeps
** calling uv_run; corun's tasks progress inside it), or NULL for a loop that
** corun owns (drive it with corun_step).  corun adds an idle handle and a timer
** to the loop; they keep it running only while tasks are ready or sleeping.  It
** also installs corun's coroutine.* functions (as `require "corun"` and
** corun_run do), so that a native wait inside a task's own coroutines passes
** through them and a task's top level is the main thread to coroutine.running,
** isyieldable and yield.  If SIGPIPE still has its default action, it is set to
** ignored (a write to a closed peer then fails with EPIPE instead of killing
** the process; corun_run does the same).  CORUN_EBUSY if a runtime is already
** open on L's state.
*/
int corun_open(lua_State *L, uv_loop_t *loop);

/*
** Close L's runtime: cancel every task (their <close> handlers run, each
** native wait's cancel callback is called, each task spawned from C is
** told CORUN_CANCELLED), report panics nobody observed, close corun's
** libuv handles and let go of everything corun held in the Lua state.
** The Lua state and the application's loop stay usable; on the
** application's loop, the handles finish closing (and corun's memory is
** freed) the next time the application runs the loop, so run it before
** uv_loop_close: once (UV_RUN_NOWAIT) is enough unless a name look-up or
** a file operation was still running on libuv's thread pool, which
** cannot be stopped: run it until uv_loop_alive is 0.  CORUN_EINVAL if no
** runtime is open; CORUN_EBUSY from inside a task, a step or a done
** callback, and for the runtime of corun_run (which closes it itself).
*/
int corun_close(lua_State *L);

/* The loop of L's runtime, or NULL if none is open. */
uv_loop_t *corun_loop(lua_State *L);

/* Tasks of L's runtime that have not ended (0 if none is open). */
size_t corun_pending(lua_State *L);

/*
** Let the runtime work, in one of the CORUN_STEP_* modes.  CORUN_ERROR if
** the runtime failed (out of memory inside the scheduler; corun_errmsg
** says so), CORUN_EBUSY from inside a task, a step or a done callback.
*/
int corun_step(lua_State *L, int mode);

/*
** What a host is told when a task it spawned ends; 'L' is a thread of the
** state with the task's values on top, valid only during the call:
**   CORUN_OK         'nvalues' results;
**   CORUN_ERROR      the error value and a traceback string (2);
**   CORUN_CANCELLED  a message (1).
** It runs inside the loop (after a scheduler pass, or in corun_close) and
** must not raise; it may spawn (not during corun_close: CORUN_EBUSY).
** Values are popped after it returns.
*/
typedef void (*corun_DoneFn)(lua_State *L, lua_Integer id, int status,
                             int nvalues, void *ud);

/*
** Spawn the function below the 'nargs' values on top of L as a task of
** L's runtime (popped; not copied: they come from C, outside every task).
** The task starts at the next scheduler pass.  'done' (may be NULL) is
** called with 'ud' when it ends; '*id' (may be NULL) gets its task id.
** With no 'done', a panic is reported on stderr as for a detached task.
*/
int corun_spawn(lua_State *L, int nargs, corun_DoneFn done, void *ud,
                lua_Integer *id);

/* Load a chunk (text) or a file (NULL: standard input) and spawn it as
   for corun_spawn, with no arguments.  CORUN_ERROR if it does not load
   (corun_errmsg has the message). */
int corun_spawn_chunk(lua_State *L, const char *chunk, size_t len,
                      const char *chunkname, corun_DoneFn done, void *ud,
                      lua_Integer *id);
int corun_spawn_file(lua_State *L, const char *path, corun_DoneFn done,
                     void *ud, lua_Integer *id);

/* Cancel task 'id' spawned from C (deferred, as JoinHandle:abort): its
   'done' gets CORUN_CANCELLED.  CORUN_EINVAL if no such task is running. */
int corun_abort(lua_State *L, lua_Integer id);

/* ------------------------------------------------------------------
** Native async functions
** ------------------------------------------------------------------ */

/* Names one native wait; 0 is never a valid waker. */
typedef uint64_t corun_Waker;

/* Called when the task waiting in 'w' is cancelled (abort, a timeout
   around the call, the runtime closing) or ends without waiting: stop the
   work if you can.  'w' is invalid from then on (corun_wake returns
   CORUN_ESTALE).  Must not call Lua. */
typedef void (*corun_CancelFn)(corun_Waker w, void *ud);

/*
** In a lua_CFunction called by a task: prepare to suspend the task.  Start
** the work that will wake it, then end the function with
**     return corun_wait(L, w);
** Returns 0 if the caller is not a task, or cannot yield (a metamethod),
** or memory runs out: corun_errmsg says which (raise it: return
** luaL_error(...)).  A task has one native wait at a time: a wait it
** prepared and never waited in (its function raised in between) is
** abandoned when it prepares the next one or ends (cancel is called).
** While the task waits in it, a native wait holds a paused clock (the test
** clock, corun.clock in docs/api.md): the clock stands still until the
** host's work completes, as it does for corun's own I/O.
*/
corun_Waker corun_wait_prepare(lua_State *L, corun_CancelFn cancel,
                               void *ud);

/* Describe the native wait 'w' for corun.tasks(), corun.dump() and the
   deadlock error ("waiting on <text>"; without it, the function that
   waits describes it).  'text' is borrowed: it must stay valid until the
   wait is over (a string literal, or memory freed once corun_wake or the
   cancel callback ran).  CORUN_ESTALE if the wait is over already. */
int corun_wait_describe(lua_State *L, corun_Waker w, const char *text);

/* Suspend the calling task until corun_wake(w); the C function returns
   what corun_wake gave (or raises what corun_wake_error gave).  Use only
   as `return corun_wait(L, w);` right after corun_wait_prepare.  Raises if
   'w' was not prepared by this call. */
int corun_wait(lua_State *L, corun_Waker w);

/*
** From any callback, later: resume the task waiting in 'w' with the
** 'nvalues' values on top of L (popped, whatever the result, unless L
** holds fewer than 'nvalues': CORUN_EINVAL), at the next scheduler pass.
** CORUN_ESTALE if the wait is over (woken already, or cancelled: the late
** completion is dropped); CORUN_EINVAL if no runtime is open, or the task
** has not started waiting yet.  L must be a thread of the runtime's state.
*/
int corun_wake(lua_State *L, corun_Waker w, int nvalues);

/* The same, but the native call raises the value on top of L (popped). */
int corun_wake_error(lua_State *L, corun_Waker w);

#endif
