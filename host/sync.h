/*
** sync.h - Semaphore, Mutex, Notify: waiters served first in, first out,
** through the one wait-queue primitive (corun_Sync in task.h).
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
  corun_Sync sync;        /* waiters; each asks task->nvalues permits */
  lua_Integer permits;    /* available now */
  lua_Integer total;      /* it can ever have: given + added - forgotten */
  int closed;             /* closed: no permit any more */
} corun_Semaphore;

typedef struct corun_Mutex {
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

void corun__sync_init(corun_Sync *s,
                      void (*regrant)(corun_Sync *s, corun_Task *t),
                      void (*left)(corun_Sync *s));
void corun__sync_wait(corun_Sync *s, corun_Task *t, lua_Integer n);
int corun__sync_granted(corun_Task *t);

#endif
