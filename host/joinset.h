/*
** joinset.h - JoinSet: a set of spawned tasks owned by one task, joined in
** the order they end.
*/
#ifndef CORUN_JOINSET_H
#define CORUN_JOINSET_H

#include <lua.h>
#include "queue.h"
#include "task.h"

#define CORUN_JOINSET "corun.JoinSet"

/* A full userdata.  Its members stay anchored in the runtime's task table
   (task->ref) until they are joined or the set lets go of them, so the
   set itself anchors nothing. */
typedef struct corun_JoinSet corun_JoinSet;
struct corun_JoinSet {
  const void *tag;        /* class word, set by the bindings */
  corun_Group group;      /* what its members' u.group points to */
  corun_Resource res;     /* owned by the task that made it */
  corun_Runtime *rt;      /* borrows: valid while the set is open (its
                             owner ends, closing it, before the runtime) */
  lua_Integer owner;      /* id of that task */
  corun_Link running;     /* its tasks not done yet (task->sibling) */
  corun_Link done;        /* its tasks done, not joined: in completion
                             order (task->sibling) */
  corun_Link waiters;     /* wait queue: the owner in join_next */
  int count;              /* tasks not joined yet */
  int closed;             /* closed: no more spawns */
};

void corun__joinset_init(corun_JoinSet *set, corun_Task *owner);
void corun__joinset_add(corun_JoinSet *set, corun_Task *t);
void corun__joinset_abort_all(corun_JoinSet *set);
void corun__joinset_forget(corun_JoinSet *set, int in_finalizer);
void corun__joinset_close(corun_JoinSet *set, int in_finalizer);
corun_Task *corun__joinset_take(lua_State *L, corun_JoinSet *set);

#endif
