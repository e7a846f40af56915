/*
** sync.h - Semaphore, Mutex, Notify, RwLock, Barrier: waiters served first
** in, first out, in a wait queue (corun_Sync below, or the barrier's own).
*/
#ifndef CORUN_SYNC_H
#define CORUN_SYNC_H

#include <lua.h>
#include "task.h"

/*
** A sync object's queue of waiters (semaphore, mutex, notify, a channel's
** senders).  A waiter asks for task->nvalues units; whoever grants them
** sets CORUN_TASK_GRANTED before waking it.  A waiter that leaves before
** its continuation ran (cancelled, task->wait) gives back what it was
** granted through 'regrant', so nothing is lost; one not granted yet lets
** the ones behind it be served through 'left' (may be NULL).
*/
typedef struct corun_Sync corun_Sync;
struct corun_Sync {
  corun_Wait wait;        /* what a waiter's task->wait points to */
  corun_Link waiters;     /* FIFO of waiting tasks */
  void (*regrant)(corun_Sync *s, corun_Task *t);
  void (*left)(corun_Sync *s);
};

typedef struct corun_Semaphore {
  const void *tag;        /* class word, set by the bindings */
  corun_Sync sync;        /* waiters; each asks task->nvalues permits */
  lua_Integer permits;    /* available now */
  lua_Integer total;      /* it can ever have: given + added - forgotten */
  int closed;             /* closed: no permit any more */
} corun_Semaphore;

typedef struct corun_Mutex {
  const void *tag;        /* class word, set by the bindings */
  corun_Sync sync;        /* waiters for the lock */
  int locked;             /* held by a guard */
} corun_Mutex;

typedef struct corun_Notify {
  corun_Sync sync;        /* tasks in notified() */
  int permit;             /* a notify_one that found nobody waiting */
} corun_Notify;

void corun__sem_init(corun_Semaphore *s, lua_Integer permits);
int corun__sem_try(corun_Semaphore *s, lua_Integer k);
void corun__sem_wait(corun_Semaphore *s, corun_Task *t, lua_Integer k);
void corun__sem_release(corun_Semaphore *s, lua_Integer k);
void corun__sem_close(corun_Semaphore *s);

void corun__mutex_init(corun_Mutex *m);
int corun__mutex_try(corun_Mutex *m);
void corun__mutex_wait(corun_Mutex *m, corun_Task *t);
void corun__mutex_unlock(corun_Mutex *m);

void corun__notify_init(corun_Notify *n);
int corun__notify_try(corun_Notify *n);
void corun__notify_wait(corun_Notify *n, corun_Task *t);
void corun__notify_one(corun_Notify *n);
void corun__notify_waiters(corun_Notify *n);

/* The most read guards an RwLock hands out at once (Tokio's MAX_READS):
   a writer asks for all of them.  It fits a task's nvalues (an int). */
#define CORUN_RWLOCK_MAX_READS 536870911

/*
** A fair reader-writer lock, as Tokio's: a semaphore of
** CORUN_RWLOCK_MAX_READS permits, of which a reader takes one and a writer
** all.  The semaphore's FIFO makes it fair: a waiting writer holds back
** the readers that come after it, so writers are not starved.
*/
typedef struct corun_RwLock {
  corun_Semaphore sem;    /* the permits; a guard holds 1 or all of them */
} corun_RwLock;

/*
** A barrier for n tasks: the n-th to arrive (the leader) releases the
** n - 1 waiting, and the next generation starts.  A waiter that leaves
** before its generation is complete (cancelled) no longer counts.  A
** waiter's task->nvalues holds the generation it arrived in (its low
** bits), so that one whose leave comes after its generation completed
** (aborted, and reached by the scheduler later) takes nothing from the
** next.
*/
typedef struct corun_Barrier {
  corun_Wait wait;        /* what a waiter's task->wait points to */
  corun_Link waiters;     /* the tasks of this generation that wait, FIFO */
  lua_Integer n;          /* tasks per generation, at least 1 */
  lua_Integer arrived;    /* of this generation, waiting now */
  lua_Integer generation; /* generations completed */
} corun_Barrier;

void corun__rwlock_init(corun_RwLock *rw);
lua_Integer corun__rwlock_readers(const corun_RwLock *rw);
int corun__rwlock_try(corun_RwLock *rw, lua_Integer k);
void corun__rwlock_wait(corun_RwLock *rw, corun_Task *t, lua_Integer k);
void corun__rwlock_unlock(corun_RwLock *rw, lua_Integer k);

void corun__barrier_init(corun_Barrier *b, lua_Integer n);
int corun__barrier_arrive(corun_Barrier *b);
void corun__barrier_wait(corun_Barrier *b, corun_Task *t);

void corun__sync_init(corun_Sync *s,
                      void (*regrant)(corun_Sync *s, corun_Task *t),
                      void (*left)(corun_Sync *s));
void corun__sync_wait(corun_Sync *s, corun_Task *t, lua_Integer n);
int corun__sync_granted(corun_Task *t);

#endif
