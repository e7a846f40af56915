/*
** channel.h - bounded or unbounded multi-producer, single-consumer
** channels.
*/
#ifndef CORUN_CHANNEL_H
#define CORUN_CHANNEL_H

#include <lua.h>
#include "sync.h"
#include "runtime.h"

/*
** A full userdata; user value 1 is the queue: a table whose array part,
** of 'size' slots, is used as a ring (message i of 'count' at slot
** (head + i) mod size, plus one), or nil while 'size' is 0.  The Sender
** userdata holds the channel (its user value) and has a finalizer that
** drops every sender reference: so no reference outlives the channel.
*/
typedef struct corun_Channel {
  corun_Link receivers;   /* wait queue: tasks in recv (branches of the
                             receiver's owner) */
  corun_Sync senders_waiting;  /* senders waiting for room, FIFO; a granted
                             one has a slot reserved */
  corun_Link refs;        /* the sender references (channel.c), one per
                             holding task */
  lua_Integer capacity;   /* 0: unbounded */
  lua_Integer count;      /* messages queued */
  lua_Integer reserved;   /* slots handed to waiting senders */
  lua_Integer head;       /* ring slot of the first message, from 0 */
  lua_Integer size;       /* slots of the ring: a power of 2, or 0 */
  lua_Integer rx_owner;   /* the task the receiver belongs to */
  corun_Task *rx_task;    /* borrows: that task while it owns the receiver
                             (its end closes the channel), or NULL */
  int senders;            /* sender references alive */
  int closed;             /* the receiver closed it, or is gone */
  int tx_gone;            /* the Sender was collected: no new reference */
} corun_Channel;

void corun__channel_init(corun_Channel *ch, lua_Integer capacity);
int corun__channel_has_room(const corun_Channel *ch);
void corun__channel_pushed(corun_Channel *ch);
void corun__channel_popped(corun_Channel *ch);
void corun__channel_close(corun_Channel *ch);
void corun__channel_rx_gone(corun_Channel *ch);
int corun__channel_ref(corun_Channel *ch, corun_Task *t);
void corun__channel_unref(corun_Channel *ch, corun_Task *t);
void corun__channel_tx_gone(corun_Channel *ch);

void corun__channel_enqueue(lua_State *L, int chidx, corun_Channel *ch,
                           const char *fname);
void corun__channel_dequeue(lua_State *L, int chidx, corun_Channel *ch);
void corun__channel_copy(lua_State *L, int idx, corun_Channel *ch,
                         const char *fname, corun_State *st);

#endif
