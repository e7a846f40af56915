/*
** watch.c - watch channels: versions, who waits and who is woken.
**
** A send replaces the value and counts a new version; every receiver
** waiting in changed() wakes and compares the version with the one it
** has seen, so a receiver cancelled before it runs has seen nothing new
** (its next changed() returns at once).  The sender's end wakes them too:
** with nothing newer to see, they find the channel closed.
*/
#include "watch.h"
#include "sched.h"

static void wake_all(corun_Link *q) {
  corun_Link *l;
  while ((l = corun__link_first(q)) != NULL)
    corun__sched_wake(corun__container_of(l, corun_Task, link),
                      CORUN_WAKE_SIGNAL);  /* takes it off the queue */
}

void corun__watch_init(corun_Watch *w) {
  corun__link_init(&w->waiting);
  w->version = 0;
  w->receivers = 0;
  w->tx_gone = 0;
}

/* A new value was stored (user value 1): a new version. */
void corun__watch_sent(corun_Watch *w) {
  w->version++;
  wake_all(&w->waiting);
}

/* The sender is gone (closed, its owner ended, collected). */
void corun__watch_tx_gone(corun_Watch *w) {
  w->tx_gone = 1;
  wake_all(&w->waiting);
}

/* 't' waits in changed() for a newer version or the sender's end. */
void corun__watch_wait(corun_Watch *w, corun_Task *t) {
  corun__sched_block(t, &w->waiting);
}
