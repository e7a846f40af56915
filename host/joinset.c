/*
** joinset.c - the tasks of a JoinSet, as they run and end.
**
** Members are ordinary tasks (their values copied as for corun.spawn)
** linked into the set through task->sibling: 'running' while not done,
** then 'done' in the order they ended.  Closing a set (close(), <close>,
** collection, or the end of its owner) aborts what still runs and lets go
** of every member; aborting is deferred (the scheduler cancels each task
** when it next reaches it), so closing is safe from a finalizer.
**
** Several branches of the owner may wait in join_next at once.  Each
** member that ends wakes them all (one woken and then cancelled before it
** runs must not keep the member from the others), and so does the set
** becoming empty: a waiter that finds it so gets nil, as join_next on an
** empty set does.
*/
#include <lauxlib.h>
#include "joinset.h"
#include "runtime.h"
#include "sched.h"

static void member_done(corun_Task *t);

static void release(lua_State *L, corun_Resource *r) {
  (void)L;
  corun__joinset_close(corun__container_of(r, corun_JoinSet, res), 0);
}

void corun__joinset_init(corun_JoinSet *set, corun_Task *owner) {
  corun__link_init(&set->res.link);
  set->res.release = release;
  set->group.member_done = member_done;
  set->rt = owner->rt;
  set->owner = owner->id;
  corun__link_init(&set->running);
  corun__link_init(&set->done);
  corun__link_init(&set->waiters);
  set->count = 0;
  set->closed = 0;
  corun__task_own(owner, &set->res);
}

/* Task 't', just spawned, belongs to the set. */
void corun__joinset_add(corun_JoinSet *set, corun_Task *t) {
  t->u.group = &set->group;
  corun__link_append(&set->running, &t->sibling);
  set->count++;
}

/* Wake every task waiting on the set: each looks at it again. */
static void wake_waiters(corun_JoinSet *set) {
  corun_Link *l;
  while ((l = corun__link_first(&set->waiters)) != NULL)
    corun__sched_wake(corun__container_of(l, corun_Task, link),
                      CORUN_WAKE_SIGNAL);  /* takes it off the queue */
}

/* Member 't' has ended (its group hook): it waits in 'done' to be
   joined. */
static void member_done(corun_Task *t) {
  corun_JoinSet *set = corun__container_of(t->u.group, corun_JoinSet, group);
  corun__link_remove(&t->sibling);
  corun__link_append(&set->done, &t->sibling);
  wake_waiters(set);
}

/* Abort every member still running (they come out of join_next as
   cancelled). */
void corun__joinset_abort_all(corun_JoinSet *set) {
  corun_Link *l;
  for (l = set->running.next; l != &set->running; l = l->next)
    corun__task_abort(corun__container_of(l, corun_Task, sibling));
}

/* Drop the anchor of member 't', which ended and leaves the set. */
static void unanchor(corun_Runtime *rt, corun_Task *t) {
  corun__runtime_unanchor(rt, t->ref);
  t->ref = LUA_NOREF;
}

/* Take the first member that ended and push its userdata; NULL (nothing
   pushed) if none.  It is no longer in the set, nor anchored. */
corun_Task *corun__joinset_take(lua_State *L, corun_JoinSet *set) {
  corun_Link *l = corun__link_first(&set->done);
  corun_Task *t;
  if (l == NULL)
    return NULL;
  t = corun__container_of(l, corun_Task, sibling);
  corun__task_push(L, t);
  corun__link_remove(l);
  t->u.group = NULL;
  if (--set->count == 0)
    wake_waiters(set);  /* the others find it empty */
  unanchor(set->rt, t);
  return t;
}

/* Let go of every member: running ones go on detached, ended ones lose
   their anchor (in a finalizer, at the runtime's next pass).  Nobody can
   observe their outcome any more: a panic is reported at once, or when
   the member ends (corun__task_detach). */
void corun__joinset_forget(corun_JoinSet *set, int in_finalizer) {
  corun_Link *l;
  while ((l = corun__link_first(&set->running)) != NULL) {
    corun_Task *t = corun__container_of(l, corun_Task, sibling);
    t->u.group = NULL;
    corun__link_remove(l);
    corun__task_detach(t);  /* a panic is reported when it ends */
  }
  while ((l = corun__link_first(&set->done)) != NULL) {
    corun_Task *t = corun__container_of(l, corun_Task, sibling);
    corun__link_remove(l);
    t->u.group = NULL;
    corun__task_detach(t);  /* a panic nobody joined is reported now */
    if (in_finalizer)
      corun__link_append(&set->rt->orphans, l);
    else
      unanchor(set->rt, t);
  }
  set->count = 0;
  wake_waiters(set);  /* they find it empty */
}

/* Close: abort what runs, forget every member, accept no more spawns.
   Members that panicked and were never joined are reported now. */
void corun__joinset_close(corun_JoinSet *set, int in_finalizer) {
  if (set->closed)
    return;
  corun__joinset_abort_all(set);
  corun__joinset_forget(set, in_finalizer);
  set->closed = 1;
  corun__link_remove(&set->res.link);
}
