/*
** runtime.h - the runtime: one libuv loop, its tasks and their scheduler.
*/
#ifndef CORUN_RUNTIME_H
#define CORUN_RUNTIME_H

#include <stdarg.h>
#include <stdint.h>
#include <lua.h>
#include <uv.h>
#include "queue.h"
#include "task.h"

#define CORUN_POOL_MAX 256  /* idle coroutines kept for reuse */

/*
** What a layer above the core keeps per runtime (the I/O objects, the
** native waits and the tasks spawned from C): it is told after each
** scheduler pass, when the main task ends, and when the runtime closes.
** The core calls the layers only through these; none of them raises.
*/
typedef struct corun_Hook corun_Hook;
struct corun_Hook {
  corun_Link link;        /* in rt->hooks */
  const void *kind;       /* the address of a static of the layer that
                             made it: corun__runtime_hook finds it by it */
  /* After each scheduler pass, on the scheduler thread S (may be NULL). */
  void (*after_pass)(lua_State *L, corun_Hook *h);
  /* The main task of corun_run ended, and every other task was
     cancelled: wind down (may be NULL). */
  void (*main_done)(corun_Hook *h);
  /* The runtime closes (its tasks have ended): let go of everything; the
     hook is unlinked already and may free itself. */
  void (*close)(lua_State *L, corun_Hook *h);
};

/*
** The anchor thread's stack: the task table, the JoinHandle metatable and its
** variant for panicked tasks, then the coroutine pool: 'npool' idle coroutines,
** and above them the coroutines of running tasks that have not waited yet
** ("busy"), the innermost lowest.  A task that finishes without waiting thus
** never moves its coroutine: it becomes idle where it is.  Only a task that
** waits takes its coroutine off this stack, into its user value 1.
*/
#define CORUN_ANCHOR_TASKS 1  /* table: slot -> live task userdata */
#define CORUN_ANCHOR_META  2  /* the JoinHandle metatable */
#define CORUN_ANCHOR_PANIC 3  /* its variant for panicked tasks (__gc) */
#define CORUN_ANCHOR_POOL  4  /* first idle coroutine */
#define CORUN_ANCHOR_ROOM  (CORUN_POOL_MAX + 64)  /* stack kept on A */

/* Per lua_State: which runtime (if any) is running on it.  A userdata in
   the registry; the module's functions hold it as their upvalue. */
typedef struct corun_State {
  corun_Runtime *rt;      /* owns: the open runtime, or NULL */
  uint32_t opened;        /* runtimes opened on this state so far (seeds
                             waker generations, so that a stale waker of
                             an earlier runtime is never taken for one of
                             the current runtime) */
  char errmsg[256];       /* what the last failed C API call said */
  lua_Integer loaded_adds;   /* entries added to package.loaded, counted
                                by its __newindex (transfer.c) */
  lua_Integer loaded_seen;   /* loaded_adds when the reverse map of
                                modules was made, or -1 */
} corun_State;

struct corun_Runtime {
  lua_State *S;           /* scheduler thread: the stack callbacks use */
  int S_ref;              /* registry ref of S */
  lua_State *A;           /* anchor thread: it never runs; its stack holds
                             ANCHOR_TASKS, ANCHOR_META, ANCHOR_PANIC, then
                             the pool of idle coroutines */
  int A_ref;              /* registry ref of A */
  int nslots;             /* slots used in the task table */
  int *free_slots;        /* owns: task table slots free for reuse */
  int nfree;              /* entries in free_slots */
  int freecap;            /* room in free_slots (always >= nslots) */
  corun_State *state;     /* borrows: the state this runtime runs on */
  const void *globals;    /* the global table (identity only) */
  uv_loop_t *loop;        /* borrows (embedder's loop) or &own_loop */
  uv_loop_t own_loop;     /* the loop corun.run creates */
  uv_idle_t idle;         /* active while tasks are ready */
  uv_timer_t timer;       /* armed for the earliest deadline (real
                             clock) */
  uv_prepare_t clock_prep;  /* paused clock: active while a deadline is
                             pending; before each poll, jumps the clock to
                             the earliest deadline if nothing else can
                             happen (timer.c) */
  uv_signal_t sigint;     /* Ctrl-C cancels the main task (executable) */
  uv_signal_t sigquit;    /* Ctrl-\ dumps the live tasks (executable) */
  int idle_on;            /* is 'idle' started? */
  int sigint_on;          /* was 'sigint' initialised? */
  int sigquit_on;         /* was 'sigquit' initialised? */
  int handles;            /* libuv handles not yet closed */
  corun_Link ready;       /* ready queue: tasks to resume, FIFO */
  corun_Link unobserved;  /* done tasks with an unobserved panic */
  corun_Link hooks;       /* corun_Hook: the layers above the core */
  corun_Link orphans;     /* done JoinSet members whose set was collected:
                             their anchors go at the next pass (a finalizer
                             must not touch A) */
  corun_Task *current;    /* the task being resumed, or NULL */
  corun_Task *main;       /* the main task */
  corun_Task **heap;      /* owns: timer heap, by (deadline, seq) */
  uint32_t nheap;         /* tasks in the heap */
  uint32_t heapcap;       /* slots allocated in 'heap' */
  uint32_t timer_seq;     /* next timer sequence number (wraps) */
  int64_t clock_offset;   /* real clock: now = uv_hrtime() + offset */
  uint64_t clock_frozen;  /* paused clock: now, in nanoseconds */
  int clock_paused;       /* is the clock paused (corun.clock.pause)? */
  int clock_prep_on;      /* is 'clock_prep' started? */
  uint32_t clock_holds;   /* waits on the outside world in progress (an
                             I/O operation): a paused clock stands still */
  int npool;              /* idle coroutines on A's stack */
  lua_Integer next_id;    /* id of the next spawned task */
  uint64_t done_seq;      /* branches ended so far (completion order) */
  size_t live;            /* tasks not done, branches included */
  size_t live_branches;   /* of which branches */
  int shutdown;           /* main task done: cancelling the rest */
  int interrupted;        /* SIGINT was received */
  int fatal_ref;          /* registry ref of the error that stopped the
                             loop (a callback failed), or LUA_NOREF */
  int deadlock;           /* the loop ran dry with the main task waiting */
  int deadlock_ref;       /* registry ref of the live tasks then, as text
                             (debug.h), or LUA_NOREF */
  int embedded;           /* opened by corun_open: no main task */
  int failed;             /* a callback failed: see fatal_ref */
  int stepping;           /* inside corun_step or a scheduler pass */
};

/* Does 'rt' run on a loop of its own (initialised: it is 'loop')? */
static inline int corun__owns_loop(const corun_Runtime *rt) {
  return rt->loop == &rt->own_loop;
}

int corun__error(lua_State *L, const char *fname, const char *fmt, ...);
int corun__verror(lua_State *L, const char *fname, const char *fmt,
                  va_list ap);
corun_State *corun__state(lua_State *L);
corun_State *corun__state_peek(lua_State *L);
void corun__runtime_main_done(lua_State *L, corun_Runtime *rt);
void corun__runtime_cancel_all(lua_State *L, corun_Runtime *rt);
corun_Runtime *corun__runtime_open(lua_State *L, uv_loop_t *loop, int flags,
                                   int *rc);
void corun__runtime_close(lua_State *L, corun_Runtime *rt);
int corun__runtime_run(corun_Runtime *rt, uv_run_mode mode);
void corun__runtime_add_hook(corun_Runtime *rt, corun_Hook *h);
corun_Hook *corun__runtime_hook(corun_Runtime *rt, const void *kind);
void corun__runtime_fatal(corun_Runtime *rt);
void corun__runtime_ignore_sigpipe(void);
void corun__runtime_run_main(lua_State *L, corun_Runtime *rt, int nargs);
void corun__runtime_after_pass(lua_State *L, corun_Runtime *rt);
int corun__runtime_anchor(lua_State *L, corun_Runtime *rt);
void corun__runtime_unanchor(corun_Runtime *rt, int slot);

#endif
