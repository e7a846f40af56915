/*
** sync.c - Semaphore, Mutex, Notify, RwLock and Barrier.
**
** Each keeps a FIFO of waiting tasks (corun_Sync).  What a waiter asked
** for is handed over when it is woken (GRANTED): no task that arrives
** later can take it first, and a waiter asking for much holds back the
** ones behind it, even if they ask for less (as Tokio's semaphore does).
** A granted waiter cancelled before it runs gives its grant back through
** 'regrant' (its task->wait is the queue's corun_Wait: the core calls
** 'leave' below), which hands it to the next waiter.  An RwLock is such a
** semaphore.  A Barrier keeps its FIFO with a corun_Wait of its own, as
** what a waiter leaving takes back depends on the generation it came in.
*/
#include "sync.h"
#include "sched.h"

static corun_Task *first_waiter_of(corun_Link *waiters) {
  corun_Link *l = corun__link_first(waiters);
  return l != NULL ? corun__container_of(l, corun_Task, link) : NULL;
}

static corun_Task *first_waiter(corun_Sync *s) {
  return first_waiter_of(&s->waiters);
}

/* Hand 't' what it waits for, and wake it. */
static void grant(corun_Task *t) {
  t->flags |= CORUN_TASK_GRANTED;
  corun__sched_wake(t, CORUN_WAKE_SIGNAL);
}

/* Task 't' leaves the queue before its continuation ran (cancelled):
   give back what it was granted, or let the ones behind it be served. */
static void leave(corun_Task *t, corun_Wait *w) {
  corun_Sync *s = corun__container_of(w, corun_Sync, wait);
  int granted = (t->flags & CORUN_TASK_GRANTED) != 0;
  t->flags &= (unsigned short)~CORUN_TASK_GRANTED;
  if (granted)
    s->regrant(s, t);
  else if (s->left != NULL)
    s->left(s);
}

void corun__sync_init(corun_Sync *s,
                      void (*regrant)(corun_Sync *s, corun_Task *t),
                      void (*left)(corun_Sync *s)) {
  s->wait.leave = leave;
  s->wait.describe = NULL;  /* described by the function that waits */
  corun__link_init(&s->waiters);
  s->regrant = regrant;
  s->left = left;
}

/* Put 't' at the end of the queue of 's', asking for 'n' units. */
void corun__sync_wait(corun_Sync *s, corun_Task *t, lua_Integer n) {
  CORUN_ASSERT(t->wait == NULL);
  t->nvalues = (int)n;
  t->flags &= (unsigned short)~CORUN_TASK_GRANTED;
  corun__sched_block(t, &s->waiters);
  t->wait = &s->wait;
}

/* In the continuation of a wait on a sync object: did it end with a
   grant?  (The wait is over: the grant is taken.) */
int corun__sync_granted(corun_Task *t) {
  int granted = (t->flags & CORUN_TASK_GRANTED) != 0;
  t->flags &= (unsigned short)~CORUN_TASK_GRANTED;
  t->wait = NULL;
  return granted;
}

/* ---------------------------------------------------------- Semaphore */

static void sem_regrant(corun_Sync *s, corun_Task *t) {
  corun__sem_release(corun__container_of(s, corun_Semaphore, sync), t->nvalues);
}

static void sem_left(corun_Sync *s) {
  corun__sem_release(corun__container_of(s, corun_Semaphore, sync), 0);
}

void corun__sem_init(corun_Semaphore *s, lua_Integer permits) {
  corun__sync_init(&s->sync, sem_regrant, sem_left);
  s->permits = s->total = permits;
  s->closed = 0;
}

/* Take 'k' permits now if nobody waits before and there are enough. */
int corun__sem_try(corun_Semaphore *s, lua_Integer k) {
  if (s->closed || corun__link_linked(&s->sync.waiters) || s->permits < k)
    return 0;
  s->permits -= k;
  return 1;
}

void corun__sem_wait(corun_Semaphore *s, corun_Task *t, lua_Integer k) {
  corun__sync_wait(&s->sync, t, k);
}

/* Give back 'k' permits, and hand them to the waiters in order. */
void corun__sem_release(corun_Semaphore *s, lua_Integer k) {
  corun_Task *t;
  s->permits += k;
  while (!s->closed && (t = first_waiter(&s->sync)) != NULL &&
         t->nvalues <= s->permits) {
    s->permits -= t->nvalues;
    grant(t);
  }
}

/* Close: every waiter wakes without permits ("closed"). */
void corun__sem_close(corun_Semaphore *s) {
  corun_Task *t;
  s->closed = 1;
  while ((t = first_waiter(&s->sync)) != NULL)
    corun__sched_wake(t, CORUN_WAKE_SIGNAL);
}

/* -------------------------------------------------------------- Mutex */

static void mutex_regrant(corun_Sync *s, corun_Task *t) {
  (void)t;
  corun__mutex_unlock(corun__container_of(s, corun_Mutex, sync));
}

void corun__mutex_init(corun_Mutex *m) {
  corun__sync_init(&m->sync, mutex_regrant, NULL);
  m->locked = 0;
}

int corun__mutex_try(corun_Mutex *m) {
  if (m->locked || corun__link_linked(&m->sync.waiters))
    return 0;
  m->locked = 1;
  return 1;
}

void corun__mutex_wait(corun_Mutex *m, corun_Task *t) {
  corun__sync_wait(&m->sync, t, 1);
}

/* Unlock: the lock passes to the first waiter, if any. */
void corun__mutex_unlock(corun_Mutex *m) {
  corun_Task *t = first_waiter(&m->sync);
  if (t != NULL)
    grant(t);  /* it stays locked, for 't' */
  else
    m->locked = 0;
}

/* ------------------------------------------------------------- Notify */

static void notify_regrant(corun_Sync *s, corun_Task *t) {
  (void)t;
  corun__notify_one((corun_Notify *)s);
}

void corun__notify_init(corun_Notify *n) {
  corun__sync_init(&n->sync, notify_regrant, NULL);
  n->permit = 0;
}

/* Take a stored permit, if there is one. */
int corun__notify_try(corun_Notify *n) {
  if (!n->permit)
    return 0;
  n->permit = 0;
  return 1;
}

void corun__notify_wait(corun_Notify *n, corun_Task *t) {
  corun__sync_wait(&n->sync, t, 1);
}

/* Wake the first waiter, or store one permit when nobody waits. */
void corun__notify_one(corun_Notify *n) {
  corun_Task *t = first_waiter(&n->sync);
  if (t != NULL)
    grant(t);
  else
    n->permit = 1;
}

/* Wake every task waiting now; store nothing (and hand over nothing: a
   woken waiter cancelled before it runs passes on no permit). */
void corun__notify_waiters(corun_Notify *n) {
  corun_Task *t;
  while ((t = first_waiter(&n->sync)) != NULL)
    corun__sched_wake(t, CORUN_WAKE_SIGNAL);  /* takes it off the queue */
}

/* ------------------------------------------------------------- RwLock */

void corun__rwlock_init(corun_RwLock *rw) {
  corun__sem_init(&rw->sem, CORUN_RWLOCK_MAX_READS);
}

/* The read guards held now (a granted waiter counts as held); -1 while a
   writer holds the lock. */
lua_Integer corun__rwlock_readers(const corun_RwLock *rw) {
  if (rw->sem.permits == 0)
    return -1;
  return CORUN_RWLOCK_MAX_READS - rw->sem.permits;
}

/* Lock now with 'k' permits (1: read, CORUN_RWLOCK_MAX_READS: write) if
   nobody waits before and the lock allows it. */
int corun__rwlock_try(corun_RwLock *rw, lua_Integer k) {
  return corun__sem_try(&rw->sem, k);
}

/* Wait in line for 'k' permits: they are handed over when 't' is woken
   (corun__sync_granted), or given back if it leaves first. */
void corun__rwlock_wait(corun_RwLock *rw, corun_Task *t, lua_Integer k) {
  corun__sem_wait(&rw->sem, t, k);
}

/* A guard holding 'k' permits is let go: the waiters it held back are
   served, in order. */
void corun__rwlock_unlock(corun_RwLock *rw, lua_Integer k) {
  corun__sem_release(&rw->sem, k);
}

/* ------------------------------------------------------------ Barrier */

/* The tag of the current generation, as a waiter's task->nvalues keeps
   it: a task waits through one generation, so its low bits tell them
   apart. */
static int generation_tag(const corun_Barrier *b) {
  return (int)(b->generation & 0x3fffffff);
}

/* Task 't' leaves the barrier before its continuation ran (cancelled):
   one released has nothing to give back (its generation is complete);
   one still waiting no longer counts, if its generation still runs. */
static void barrier_leave(corun_Task *t, corun_Wait *w) {
  corun_Barrier *b = corun__container_of(w, corun_Barrier, wait);
  int released = (t->flags & CORUN_TASK_GRANTED) != 0;
  t->flags &= (unsigned short)~CORUN_TASK_GRANTED;
  if (!released && t->nvalues == generation_tag(b))
    b->arrived--;
}

void corun__barrier_init(corun_Barrier *b, lua_Integer n) {
  b->wait.leave = barrier_leave;
  b->wait.describe = NULL;
  corun__link_init(&b->waiters);
  b->n = n < 1 ? 1 : n;
  b->arrived = 0;
  b->generation = 0;
}

/* A task arrives.  Returns 1 if it completes the generation (it is the
   leader: the waiters are released, and the next generation starts), 0
   if it must wait (corun__barrier_wait). */
int corun__barrier_arrive(corun_Barrier *b) {
  corun_Task *t;
  if (b->arrived + 1 < b->n)
    return 0;
  while ((t = first_waiter_of(&b->waiters)) != NULL)
    grant(t);
  b->arrived = 0;
  b->generation++;
  return 1;
}

/* The arriving task 't' waits for the rest of its generation; its
   continuation ends the wait with corun__sync_granted. */
void corun__barrier_wait(corun_Barrier *b, corun_Task *t) {
  CORUN_ASSERT(t->wait == NULL);
  b->arrived++;
  t->nvalues = generation_tag(b);
  t->flags &= (unsigned short)~CORUN_TASK_GRANTED;
  corun__sched_block(t, &b->waiters);
  t->wait = &b->wait;
}
