/*
** channel.c - the waiting side of channels, and the sender references.
**
** The queue itself is a Lua table (bindings/channel.c); here is who waits
** and who is woken.  A sender finding the channel full waits in a FIFO and
** is handed a reserved slot when one frees up, so no later sender takes
** it; a granted sender cancelled before it runs gives the slot to the next
** one.  Receivers (the branches of the receiver's owner) wait for a
** message, for the last sender to go or for the channel to close; they
** are all woken and each looks again (usually there is one: a receiver
** woken and cancelled before it runs must not keep a message from the
** others).  Every wait ends when the channel closes.
**
** A task that holds the Sender holds one sender reference (a resource it
** releases at its end, or by tx:close()); the channel lists them too, so
** that the Sender's collection can drop them all.
*/
#include <stdlib.h>
#include "channel.h"
#include "sched.h"

/* A task's reference to the senders of a channel. */
typedef struct SenderRef {
  corun_Resource res;     /* in the holding task's owned list */
  corun_Link in_channel;  /* in ch->refs */
  corun_Channel *ch;      /* borrows: the Sender's finalizer frees every
                             reference before the channel can be freed */
  corun_Task *task;       /* borrows: the holding task (a root), valid
                             while this is in its owned list */
} SenderRef;

static corun_Task *first(corun_Link *q) {
  corun_Link *l = corun__link_first(q);
  return l != NULL ? corun__container_of(l, corun_Task, link) : NULL;
}

/* Wake every task in 'q' without a grant: each looks at the channel
   again. */
static void wake_all(corun_Link *q) {
  corun_Task *t;
  while ((t = first(q)) != NULL)
    corun__sched_wake(t, CORUN_WAKE_SIGNAL);  /* takes it off the queue */
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
  corun__sync_init(&ch->senders_waiting, regrant, left);
  corun__link_init(&ch->refs);
  ch->capacity = capacity;
  ch->count = ch->reserved = 0;
  ch->head = ch->size = 0;
  ch->rx_owner = 0;
  ch->rx_task = NULL;
  ch->senders = 0;
  ch->closed = 0;
  ch->tx_gone = 0;
}

/* May a sender that holds no reserved slot queue a message now? */
int corun__channel_has_room(const corun_Channel *ch) {
  return ch->capacity == 0 || ch->count + ch->reserved < ch->capacity;
}

/* A message was queued: wake the receivers. */
void corun__channel_pushed(corun_Channel *ch) {
  wake_all(&ch->receivers);
}

/* A message was taken: a slot is free for a waiting sender. */
void corun__channel_popped(corun_Channel *ch) {
  grant_slots(ch);
}

/* The receiver closed the channel: every waiting sender wakes and finds
   it closed, every waiting receiver finds nothing more will come. */
void corun__channel_close(corun_Channel *ch) {
  ch->closed = 1;
  wake_all(&ch->senders_waiting.waiters);
  wake_all(&ch->receivers);
}

/* The receiver is gone (its owner ended, a <close> closed it, or it was
   collected): the channel closes and its queue is forgotten (the bindings
   let go of the table). */
void corun__channel_rx_gone(corun_Channel *ch) {
  ch->rx_task = NULL;
  ch->count = ch->head = ch->size = 0;
  corun__channel_close(ch);
}

/* ---------------------------------------------------- sender references */

/* One reference fewer: when it was the last, the receivers wake to find
   the end. */
static void sender_gone(corun_Channel *ch) {
  if (--ch->senders == 0)
    wake_all(&ch->receivers);
}

static void ref_free(SenderRef *ref) {
  corun__link_remove(&ref->res.link);
  corun__link_remove(&ref->in_channel);
  free(ref);
}

/* The holding task ended. */
static void ref_release(lua_State *L, corun_Resource *r) {
  SenderRef *ref = corun__container_of(r, SenderRef, res);
  corun_Channel *ch = ref->ch;
  (void)L;
  ref_free(ref);
  sender_gone(ch);
}

/* The reference of task 't' (a root) to 'ch', or NULL.  The two lists
   are walked side by side: the shorter one settles it. */
static SenderRef *find_ref(corun_Channel *ch, corun_Task *t) {
  corun_Link *a = t->owned.next, *b = ch->refs.next;
  while (a != &t->owned && b != &ch->refs) {
    corun_Resource *r = corun__container_of(a, corun_Resource, link);
    SenderRef *ref = corun__container_of(b, SenderRef, in_channel);
    if (r->release == ref_release &&
        corun__container_of(r, SenderRef, res)->ch == ch)
      return corun__container_of(r, SenderRef, res);
    if (ref->task == t)
      return ref;
    a = a->next;
    b = b->next;
  }
  return NULL;
}

/* Task 't' holds the Sender of 'ch': it gets a reference, unless it has
   one (or the Sender was collected).  Returns 0, or -1 without memory. */
int corun__channel_ref(corun_Channel *ch, corun_Task *t) {
  SenderRef *ref;
  t = corun__task_root(t);
  if (ch->tx_gone || find_ref(ch, t) != NULL)
    return 0;
  ref = malloc(sizeof *ref);
  if (ref == NULL)
    return -1;
  corun__link_init(&ref->res.link);
  ref->res.release = ref_release;
  ref->ch = ch;
  ref->task = t;
  corun__link_append(&ch->refs, &ref->in_channel);
  ch->senders++;
  corun__task_own(t, &ref->res);
  return 0;
}

/* tx:close() in task 't': release its reference, if it holds one. */
void corun__channel_unref(corun_Channel *ch, corun_Task *t) {
  SenderRef *ref = find_ref(ch, corun__task_root(t));
  if (ref != NULL) {
    ref_free(ref);
    sender_gone(ch);
  }
}

/* The Sender was collected: nobody can send any more, so every reference
   goes (the channel itself may be collected next). */
void corun__channel_tx_gone(corun_Channel *ch) {
  corun_Link *l;
  ch->tx_gone = 1;
  if (ch->senders == 0)
    return;
  while ((l = corun__link_first(&ch->refs)) != NULL)
    ref_free(corun__container_of(l, SenderRef, in_channel));
  ch->senders = 0;
  wake_all(&ch->receivers);
}
