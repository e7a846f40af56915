/*
** runtime.h - the runtime: one libuv loop, its tasks and their scheduler.
*/
#ifndef CORUN_RUNTIME_H
#define CORUN_RUNTIME_H

#include <stdint.h>
#include <lua.h>
#include <uv.h>
#include "queue.h"
#include "task.h"

#define CORUN_POOL_MAX 256  /* idle coroutines kept for reuse */
#define CORUN_LINGER_MS 2000  /* at most, at the end of corun.run, for the
                                 writes of closed streams to go out */

/*
** The anchor thread's stack: the task table, the JoinHandle metatable,
** then the coroutine pool: 'npool' idle coroutines, and above them the
** coroutines of running tasks that have not waited yet ("busy"), the
** innermost lowest.  A task that finishes without waiting thus never moves
** its coroutine: it becomes idle where it is.  Only a task that waits
** takes its coroutine off this stack, into its user value 1.
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
                             ANCHOR_TASKS, ANCHOR_META, then the pool of
                             idle coroutines */
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
  int idle_on;            /* is 'idle' started? */
  int sigint_on;          /* was 'sigint' initialised? */
  int handles;            /* libuv handles not yet closed */
  corun_Link ready;       /* ready queue: tasks to resume, FIFO */
  corun_Link unobserved;  /* done tasks with an unobserved panic */
  corun_Link io;          /* open I/O objects (io.h: corun_Io.all) */
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
  int embedded;           /* opened by corun_open: no main task */
  int failed;             /* a callback failed: see fatal_ref */
  int stepping;           /* inside corun_step or a scheduler pass */
  int cspawn_ref;         /* registry ref: id -> record of a task spawned
                             from C (embed.c), until its end is told */
  corun_Link cdone;       /* tasks spawned from C that ended, to be told
                             (task->sibling) */
  struct corun_Waiter *waiters;  /* owns: native waits (embed.c) */
  uint32_t nwaiters;      /* slots used in 'waiters' */
  uint32_t capwaiters;    /* slots allocated */
  uint32_t free_waiter;   /* first free slot + 1, or 0 */
};

/* A native wait (embed.c): a slot that a corun_Waker names. */
typedef struct corun_Waiter {
  uint32_t gen;           /* matches the waker's high half while in use */
  uint32_t next_free;     /* next free slot + 1 while free */
  corun_Task *task;       /* the task that prepared it, NULL when free */
  lua_State *co;          /* the thread that waits in it */
  void (*cancel)(uint64_t waker, void *ud);
  void *ud;
  int waiting;            /* 0: prepared; 1: the task waits in it */
  int holds;              /* while waiting, it holds a paused clock (an I/O
                             operation in progress; see timer.h) */
} corun_Waiter;

/* Does 'rt' run on a loop of its own (initialised: it is 'loop')? */
static inline int corun__owns_loop(const corun_Runtime *rt) {
  return rt->loop == &rt->own_loop;
}

corun_State *corun__state(lua_State *L);
corun_State *corun__state_peek(lua_State *L);
void corun__runtime_main_done(lua_State *L, corun_Runtime *rt);
void corun__runtime_cancel_all(lua_State *L, corun_Runtime *rt);
corun_Runtime *corun__runtime_open(lua_State *L, uv_loop_t *loop, int flags,
                                   int *rc);
void corun__runtime_close(lua_State *L, corun_Runtime *rt);
void corun__embed_coroutines(lua_State *L);
void corun__embed_abandon(corun_Task *t);
void corun__embed_task_done(corun_Task *t);
void corun__embed_deliver(lua_State *L, corun_Runtime *rt);
int corun__wait_k(lua_State *L, uint64_t waker, lua_KContext ctx,
                  lua_KFunction k);
void corun__wait_unheld(corun_Runtime *rt, uint64_t waker);
corun_Task *corun__waker_task(corun_Runtime *rt, uint64_t waker);
void corun__wait_check(lua_State *L, int base);
void corun__runtime_fatal(corun_Runtime *rt);
int corun__runtime_anchor(lua_State *L, corun_Runtime *rt);
void corun__runtime_unanchor(corun_Runtime *rt, int slot);

#endif
