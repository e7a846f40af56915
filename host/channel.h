/*
** channel.h - bounded or unbounded multi-producer, single-consumer
** channels.
*/
#ifndef CORUN_CHANNEL_H
#define CORUN_CHANNEL_H

#include <lua.h>
#include "task.h"

/* A full userdata; user value 1 is the queue (a table used as a ring from
   'head' to 'head + count - 1'). */
typedef struct corun_Channel {
  corun_Link receivers;   /* wait queue: the receiver in recv */
  corun_Sync senders_waiting;  /* senders waiting for room, FIFO; a granted
                             one has a slot reserved */
  lua_Integer capacity;   /* 0: unbounded */
  lua_Integer count;      /* messages queued */
  lua_Integer reserved;   /* slots handed to waiting senders */
  lua_Integer head;       /* index of the first message */
  lua_Integer rx_owner;   /* the task the receiver belongs to */
  corun_Task *rx_task;    /* borrows: that task while it owns the receiver
                             (its end closes the channel), or NULL */
  int senders;            /* sender references alive */
  int closed;             /* the receiver closed it, or is gone */
  int anchor;             /* registry ref keeping it alive while senders
                             hold references, or LUA_NOREF */
} corun_Channel;

void corun__channel_init(corun_Channel *ch, lua_Integer capacity);
int corun__channel_has_room(const corun_Channel *ch);
void corun__channel_pushed(corun_Channel *ch);
void corun__channel_popped(corun_Channel *ch);
void corun__channel_close(corun_Channel *ch);
void corun__channel_sender_gone(corun_Channel *ch);

#endif
