/*
** oneshot.h - oneshot channels (Tokio's tokio::sync::oneshot): one value,
** sent once by the one Sender, received once by the one Receiver.
*/
#ifndef CORUN_ONESHOT_H
#define CORUN_ONESHOT_H

#include "task.h"

typedef enum {
  CORUN_ONESHOT_EMPTY,    /* nothing sent yet */
  CORUN_ONESHOT_SENT,     /* a value waits: user value 1 of the channel */
  CORUN_ONESHOT_TAKEN     /* the receiver took it */
} corun_OneshotState;

/*
** A full userdata; user value 1 holds the value sent until the receiver
** takes it (or is gone).  The Sender and the Receiver (bindings) each
** hold it in a user value; each is owned by one task.
*/
typedef struct corun_Oneshot {
  corun_Link receivers;   /* wait queue: tasks in recv (branches of the
                             receiver's owner) */
  corun_Link senders;     /* wait queue: tasks in tx:closed() */
  lua_Integer rx_owner;   /* the task the receiver belongs to (0: none),
                             whom a value sent is copied for */
  corun_Task *rx_task;    /* borrows: that task while it owns the receiver,
                             or NULL */
  int state;              /* corun_OneshotState */
  int tx_gone;            /* the sender closed, or is gone, unused: nothing
                             will come */
  int rx_closed;          /* the receiver closed, or is gone: a send fails */
} corun_Oneshot;

void corun__oneshot_init(corun_Oneshot *os);
void corun__oneshot_sent(corun_Oneshot *os);
void corun__oneshot_tx_gone(corun_Oneshot *os);
void corun__oneshot_rx_close(corun_Oneshot *os);
void corun__oneshot_recv_wait(corun_Oneshot *os, corun_Task *t);
void corun__oneshot_closed_wait(corun_Oneshot *os, corun_Task *t);

#endif
