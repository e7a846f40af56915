/*
** channel.c - the waiting side of channels.
**
** The queue itself is a Lua table (bindings/channel.c); here is who waits
** and who is woken.  A sender finding the channel full waits in a FIFO and
** is handed a reserved slot when one frees up, so no later sender takes
** it; a granted sender cancelled before it runs gives the slot to the next
** one.  The receiver waits for a message or for the last sender to go.
*/
#include <lauxlib.h>
#include "channel.h"
#include "sched.h"

static corun_Task *first(corun_Link *q) {
  corun_Link *l = corun__link_first(q);
  return l != NULL ? corun__container_of(l, corun_Task, link) : NULL;
}

/* Hand free slots to the senders waiting, in order. */
static void grant_slots(corun_Channel *ch) {
  corun_Task *t;
  while (!ch->closed && corun__channel_has_room(ch) &&
         (t = first(&ch->senders_waiting.waiters)) != NULL) {
    ch->reserved++;
    t->flags |= CORUN_TASK_GRANTED;
    corun__sched_wake(t, CORUN_WAKE_SIGNAL);
  }
}

static void regrant(corun_Sync *s, corun_Task *t) {
  corun_Channel *ch = corun__container_of(s, corun_Channel, senders_waiting);
  (void)t;
  ch->reserved--;
  grant_slots(ch);
}

static void left(corun_Sync *s) {
  grant_slots(corun__container_of(s, corun_Channel, senders_waiting));
}

void corun__channel_init(corun_Channel *ch, lua_Integer capacity) {
  corun__link_init(&ch->receivers);
  corun__link_init(&ch->senders_waiting.waiters);
  ch->senders_waiting.regrant = regrant;
  ch->senders_waiting.left = left;
  ch->capacity = capacity;
  ch->count = ch->reserved = 0;
  ch->head = 1;
  ch->rx_owner = 0;
  ch->rx_task = NULL;
  ch->senders = 0;
  ch->closed = 0;
  ch->anchor = LUA_NOREF;
}

/* May a sender that holds no reserved slot queue a message now? */
int corun__channel_has_room(const corun_Channel *ch) {
  return ch->capacity == 0 || ch->count + ch->reserved < ch->capacity;
}

/* A message was queued: wake the receiver. */
void corun__channel_pushed(corun_Channel *ch) {
  corun_Task *t = first(&ch->receivers);
  if (t != NULL)
    corun__sched_wake(t, CORUN_WAKE_SIGNAL);
}

/* A message was taken: a slot is free for a waiting sender. */
void corun__channel_popped(corun_Channel *ch) {
  grant_slots(ch);
}

/* The receiver closed the channel (or is gone): waiting senders wake and
   find it closed. */
void corun__channel_close(corun_Channel *ch) {
  corun_Task *t;
  ch->closed = 1;
  while ((t = first(&ch->senders_waiting.waiters)) != NULL)
    corun__sched_wake(t, CORUN_WAKE_SIGNAL);
}

/* A sender reference was released: when it was the last, the receiver
   wakes to find the end. */
void corun__channel_sender_gone(corun_Channel *ch) {
  if (--ch->senders == 0)
    corun__channel_pushed(ch);
}
