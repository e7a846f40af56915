/*
** handoff.h - a value handed to another task through a oneshot, a
** broadcast or a watch channel, copied by the crossing rules
** (transfer.c).
*/
#ifndef CORUN_HANDOFF_H
#define CORUN_HANDOFF_H

#include <lua.h>
#include "runtime.h"

typedef struct corun_Handoff {
  const char *site;       /* who hands it over, for messages:
                             "OneshotSender:send" */
  const char *direction;  /* where it goes, for messages: "into a oneshot
                             channel" */
  corun_State *st;        /* borrows: the state of the runtime */
  lua_Integer target;     /* id of the (root) task that receives it, or 0:
                             none yet */
  corun_Task *task;       /* borrows: that task, or NULL: what moves or
                             counts its holders belongs to no task */
  int arg;                /* the value's argument number, for messages,
                             or 0 */
  int share_only;         /* it is handed out again and again: what moves
                             is refused (corun_Crossing.share_only) */
} corun_Handoff;

void corun__handoff_copy(lua_State *L, int idx, const corun_Handoff *h);

#endif
