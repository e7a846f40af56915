/*
** watch.h - watch channels (Tokio's tokio::sync::watch): one value, which
** the sender replaces; each receiver sees the latest, and can wait for a
** newer one than it has seen.
*/
#ifndef CORUN_WATCH_H
#define CORUN_WATCH_H

#include "task.h"

/*
** A full userdata; user value 1 is the latest value (a copy: the value
** given to corun.watch or sent since).  The Sender and the receivers
** (bindings) hold it in a user value; each receiver keeps the version it
** has seen.
*/
typedef struct corun_Watch {
  corun_Link waiting;     /* wait queue: tasks in changed() */
  lua_Integer version;    /* values sent so far (the first value is
                             version 0) */
  lua_Integer receivers;  /* receivers alive */
  int tx_gone;            /* the sender is gone: no newer value comes */
} corun_Watch;

void corun__watch_init(corun_Watch *w);
void corun__watch_sent(corun_Watch *w);
void corun__watch_tx_gone(corun_Watch *w);
void corun__watch_wait(corun_Watch *w, corun_Task *t);

#endif
