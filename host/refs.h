/*
** refs.h - the references that tasks hold to a shared object which must
** know when its last holder lets go (a broadcast channel's Sender): one
** per holding (root) task, made when the object crosses into it, released
** at the task's end (a corun_Resource) or on request.
*/
#ifndef CORUN_REFS_H
#define CORUN_REFS_H

#include "task.h"

typedef struct corun_Refs corun_Refs;
struct corun_Refs {
  corun_Link list;        /* the references (refs.c), one per task */
  int count;              /* references alive */
  int gone;               /* the shared object was collected: no new
                             reference */
  void (*last)(corun_Refs *r);  /* the last reference went (NULL: nobody
                             is told); must not run Lua code */
};

void corun__refs_init(corun_Refs *r, void (*last)(corun_Refs *r));
int corun__refs_take(corun_Refs *r, corun_Task *t);
void corun__refs_drop(corun_Refs *r, corun_Task *t);
void corun__refs_gone(corun_Refs *r);

#endif
