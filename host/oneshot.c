/*
** oneshot.c - oneshot channels: who waits and who is woken.
**
** Tasks in recv wait for the value or for the sender's end; tasks in
** tx:closed() wait for the receiver's end.  Every change wakes all the
** waiters of the other side, and each looks again: there is nothing to
** hand over, so a waiter cancelled before it runs takes nothing with it
** (the value stays for the next recv).
*/
#include "oneshot.h"
#include "sched.h"

static void wake_all(corun_Link *q) {
  corun_Link *l;
  while ((l = corun__link_first(q)) != NULL)
    corun__sched_wake(corun__container_of(l, corun_Task, link),
                      CORUN_WAKE_SIGNAL);  /* takes it off the queue */
}

void corun__oneshot_init(corun_Oneshot *os) {
  corun__link_init(&os->receivers);
  corun__link_init(&os->senders);
  os->rx_owner = 0;
  os->rx_task = NULL;
  os->state = CORUN_ONESHOT_EMPTY;
  os->tx_gone = 0;
  os->rx_closed = 0;
}

/* The value was stored (user value 1): the receivers wake to take it. */
void corun__oneshot_sent(corun_Oneshot *os) {
  os->state = CORUN_ONESHOT_SENT;
  wake_all(&os->receivers);
}

/* The sender closed or is gone without sending: nothing will come. */
void corun__oneshot_tx_gone(corun_Oneshot *os) {
  os->tx_gone = 1;
  wake_all(&os->receivers);
}

/* The receiver closed, or is gone: a send fails from now on, and the
   tasks in tx:closed() wake. */
void corun__oneshot_rx_close(corun_Oneshot *os) {
  os->rx_closed = 1;
  wake_all(&os->senders);
}

/* 't' waits in recv for the value or the sender's end. */
void corun__oneshot_recv_wait(corun_Oneshot *os, corun_Task *t) {
  corun__sched_block(t, &os->receivers);
}

/* 't' waits in tx:closed() for the receiver's end. */
void corun__oneshot_closed_wait(corun_Oneshot *os, corun_Task *t) {
  corun__sched_block(t, &os->senders);
}
