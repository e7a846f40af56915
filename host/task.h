/*
** task.h - task records: the unit that corun schedules.
**
** A task is a full userdata (so Lua's collector owns its memory) whose
** metatable is "corun.JoinHandle": the record and the handle are one
** object.  While a task is not done, the runtime anchors it in its task
** table (its slot 'ref' in the anchor thread's table, runtime.h); once
** done, only Lua references to the handle keep it, so a dropped handle
** frees the record (a JoinSet member stays anchored until it is joined).
**
** User values of the task userdata, by state:
**   NEW       1 = function, 2..nvalues+1 = arguments
**   started   as NEW; once it has waited, 1 = its coroutine (the anchor
**             that keeps the coroutine alive while it is suspended)
**   DONE ok   1..nvalues = results, or 1 = table of them (PACKED)
**   DONE panic  1 = error value, 2 = traceback string
** A named task (CORUN_TASK_NAMED) has one more user value, the last
** (index nuv): its name, a string, kept whatever the state; the values
** above use only 1..corun__task_nvals(t).
*/
#ifndef CORUN_TASK_H
#define CORUN_TASK_H

#include <stdint.h>
#include <lua.h>
#include "check.h"
#include "queue.h"

typedef struct corun_Runtime corun_Runtime;
typedef struct corun_Task corun_Task;
typedef struct corun_Nest corun_Nest;

/*
** Something a task owns and gives up when it ends, whatever the end: a
** JoinSet, a permit, a lock guard, a channel end.  Embedded in the owned
** object; 'release' runs from the end of the owner (it may run Lua code)
** and must not free the object, which Lua owns.
*/
typedef struct corun_Resource corun_Resource;
struct corun_Resource {
  corun_Link link;        /* in the owner's 'owned' list, or unlinked */
  void (*release)(lua_State *L, corun_Resource *r);
};

/* A task's metatable.  Only a task that panicked gets the variant with a
   finalizer (to report an error nobody observed): finalizers are costly,
   and a million tasks should not pay for a few failures. */
#define CORUN_JOINHANDLE "corun.JoinHandle"
#define CORUN_JOINHANDLE_PANIC "corun.JoinHandle (panicked)"

typedef enum {
  CORUN_TASK_NEW,        /* spawned, never resumed: no coroutine yet */
  CORUN_TASK_RUNNING,    /* its coroutine is being resumed now */
  CORUN_TASK_SUSPENDED,  /* waiting, or woken and queued */
  CORUN_TASK_CLOSING,    /* being cancelled: its <close> handlers run */
  CORUN_TASK_DONE        /* returned, raised or cancelled */
} corun_TaskState;

typedef enum {
  CORUN_OUTCOME_NONE,
  CORUN_OUTCOME_OK,
  CORUN_OUTCOME_PANIC,
  CORUN_OUTCOME_CANCELLED
} corun_Outcome;

typedef enum {
  CORUN_WAKE_NONE,    /* waiting: nothing has woken it yet */
  CORUN_WAKE_SIGNAL,  /* what it waited for happened */
  CORUN_WAKE_TIMER,   /* its deadline passed */
  CORUN_WAKE_CANCEL   /* it is to be cancelled */
} corun_Wake;

#define CORUN_TASK_CANCEL   0x01  /* cancel requested: never resume again */
#define CORUN_TASK_BRANCH   0x02  /* runs for its parent: values not copied */
#define CORUN_TASK_MAIN     0x04  /* the runtime's main task */
#define CORUN_TASK_JOINED   0x08  /* its outcome was delivered by await */
#define CORUN_TASK_PACKED   0x10  /* results are in a table (user value 1) */
#define CORUN_TASK_OWNCO    0x20  /* it has waited: user value 1 holds its
                                     coroutine (else it is on A's stack) */
#define CORUN_TASK_WAITKIDS 0x40  /* waits until one of its branches ends */
#define CORUN_TASK_GRANTED  0x80  /* woken with what it waited for (a sync
                                     object handed it over) */
#define CORUN_TASK_NOCOPY   0x100 /* spawned from C: its function, arguments
                                     and results come from and go to C,
                                     outside every task, and are not copied */
#define CORUN_TASK_NAMED    0x200 /* its last user value is its name */
#define CORUN_TASK_DETACHED 0x400 /* nobody can observe its outcome any
                                     more (let go by its JoinSet): a panic
                                     is reported when it ends */
#define CORUN_TASK_SELECT   0x800 /* waits in corun.select: the first branch
                                     to end stops the others at once */

/*
** The wait a task is parked in, as seen by whoever parked it (a sync
** object's queue, a native wait).  The parker sets task->wait; the task
** leaves it either because the wait ended (the parker or the wait's
** continuation clears task->wait) or because the task is cancelled or
** ends first: then the core calls 'leave', which must undo the wait (give
** back a grant, tell the host to stop its work).  'leave' is called with
** task->wait already NULL, and must not run Lua code.  A wait kept past
** its continuation (a native wait prepared by a function that then
** raised) is left when the task ends, is cancelled, or parks again in a
** wait of the same kind (the parker's choice).
*/
typedef struct corun_Wait corun_Wait;
struct corun_Wait {
  void (*leave)(corun_Task *t, corun_Wait *w);
  /* May be NULL: push a short description of the wait (corun.tasks'
     waiting_on) and return 1, or push nothing and return 0 (the core then
     describes it from the function that waits).  Must not raise but on a
     memory error, nor run Lua code. */
  int (*describe)(lua_State *L, corun_Task *t, corun_Wait *w);
};

/*
** A group of tasks told when a member ends (a JoinSet): a member's
** u.group, called from the member's end with the member's outcome set.
** Members of a group stay anchored in the runtime's task table until the
** group lets go of them.
*/
typedef struct corun_Group corun_Group;
struct corun_Group {
  void (*member_done)(corun_Task *t);
};

#define CORUN_NO_TIMER UINT32_MAX

/* The class word of every task (bindings/corunL.h, corunL_checkobj): the
   first word of its record, whatever its metatable. */
extern const char corun__task_tag;

struct corun_Task {
  const void *tag;        /* &corun__task_tag */
  corun_Link link;        /* in the ready queue or one wait queue; once
                             done, in rt->unobserved while 'report' is set */
  corun_Link joiners;     /* wait queue: tasks waiting for this one to end */
  corun_Link children;    /* branches running on behalf of this task */
  corun_Link sibling;     /* in parent->children, or in its JoinSet */
  corun_Link owned;       /* corun_Resource: what it gives up at its end */
  corun_Runtime *rt;      /* borrows: set once registered, valid until done */
  union {                 /* a branch is never in a group */
    corun_Task *parent;   /* CORUN_TASK_BRANCH: the task it runs for */
    corun_Group *group;   /* otherwise: its group (a JoinSet; borrows), or
                             NULL */
  } u;
  corun_Wait *wait;       /* borrows: the wait it is parked in, to leave if
                             it is cancelled or ends first, or NULL */
  lua_State *co;          /* its coroutine while started and not done */
  union {                 /* never both: nest is dropped before the end */
    corun_Nest *nest;     /* owns, while not done: user coroutines the
                             current wait passes through, innermost first */
    char *report;         /* owns, once done: text of an unobserved panic */
  };
  lua_Integer id;         /* task id (a branch has its parent's) */
  lua_Integer owner;      /* its handle was moved into this task, or 0 */
  uint64_t deadline;      /* timer deadline (timer.h: clock nanoseconds);
                             once a branch is done: its completion order */
  uint32_t seq;           /* timer order among equal deadlines (wraps) */
  uint32_t heap_index;    /* slot in the timer heap, or CORUN_NO_TIMER */
  int ref;                /* anchor in rt's task table while not done */
  int nvalues;            /* arguments before start, results when done,
                             units asked of a sync object while waiting */
  unsigned short nuv;     /* number of user values */
  unsigned char state;    /* corun_TaskState */
  unsigned char outcome;  /* corun_Outcome */
  unsigned char wake;     /* corun_Wake: why it was last woken */
  unsigned short flags;   /* CORUN_TASK_* */
};

/* User values of 't' that hold its function, arguments or outcome (the
   name of a named task sits above them). */
static inline int corun__task_nvals(const corun_Task *t) {
  return t->nuv - ((t->flags & CORUN_TASK_NAMED) != 0);
}

/* In all of these, 'L' is the thread whose C code makes the call: values
   are pushed there, and a memory error is raised there. */
void corun__task_metatables(lua_State *L);
corun_Task *corun__task_new(corun_Runtime *rt, lua_State *L, int fnidx,
                            int nargs, corun_Task *parent, int flags,
                            const char *site);
void corun__task_push(lua_State *L, corun_Task *t);
lua_State *corun__task_start(lua_State *L, corun_Task *t, int *nargs);
void corun__task_end_ok(lua_State *L, corun_Task *t, int nres);
void corun__task_end_panic(lua_State *L, corun_Task *t, const char *msg);
void corun__task_suspended(corun_Task *t);
void corun__task_cancel(lua_State *L, corun_Task *t);
void corun__task_abort(corun_Task *t);
int corun__task_push_results(lua_State *L, int idx, corun_Task *t);
int corun__task_push_outcome(lua_State *L, int idx, corun_Task *t);
void corun__task_describe(lua_State *L, int idx);
void corun__task_observe(corun_Task *t);
void corun__task_gc(corun_Task *t);
void corun__task_report_unobserved(corun_Runtime *rt);
void corun__task_detach(corun_Task *t);
int corun__task_push_name(lua_State *L, int idx, corun_Task *t);
void corun__task_own(corun_Task *t, corun_Resource *r);
corun_Task *corun__task_root(corun_Task *t);
corun_Task *corun__task_running(lua_State *L, corun_Runtime *rt,
                                const char *fname);
corun_Task *corun__task_waiting(lua_State *L, corun_Runtime *rt,
                                const char *fname);

/*
** How an object of one of corun's own classes crosses into a task, in C:
** its metatable holds a light userdata of this descriptor at key
** &corun__class_key (besides the __corun metafield), so that a crossing
** finds it with one look-up and calls the class's C functions directly.
** They are never reachable from Lua: no metamethod of corun's can be
** called by hand to move an object.
*/
#define CORUN_CLASS_SHARE 0  /* by identity: every task uses the object */
#define CORUN_CLASS_MOVE  1  /* by identity; the receiving task owns it */
#define CORUN_CLASS_COPY  2  /* a new object of the class, its memory
                                copied byte for byte (it must hold no
                                pointer and own nothing) and its user
                                values copied by the crossing */

typedef struct corun_Class {
  int move;   /* CORUN_CLASS_*: how the object crosses */
  /* The object at 'idx' crossed into task 't' whose id is 'id' (t NULL
     and id 0: out of every task); NULL if the class needs to know
     nothing.  Must leave the stack as it found it. */
  void (*take)(lua_State *L, int idx, corun_Task *t, lua_Integer id);
  /* A moved class: the id of the (root) task that owns the object at
     'idx', the only one that may hand it over, or 0 if any task may;
     '*moved' is set to 1 when it owns it because the object was moved
     to it.  NULL: any task may hand it over. */
  lua_Integer (*owner)(lua_State *L, int idx, int *moved);
} corun_Class;

extern const char corun__class_key;
const corun_Class *corun__class_of(lua_State *L, int idx);
int corun__class_movable(lua_State *L, int idx, const corun_Class *c,
                         lua_Integer by, lua_Integer *owner, int *moved);
int corun__task_nest_push(corun_Task *t, lua_State *co);
void corun__task_nest_pop(corun_Task *t);
lua_State *corun__task_inner(const corun_Task *t);

#endif
