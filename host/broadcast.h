/*
** broadcast.h - broadcast channels (Tokio's tokio::sync::broadcast): every
** receiver gets every value sent after it subscribed; one that falls
** behind by more than the capacity misses the oldest values and is told
** how many.
*/
#ifndef CORUN_BROADCAST_H
#define CORUN_BROADCAST_H

#include <lua.h>
#include "refs.h"

/*
** A full userdata; user value 1 is the ring, a table: the value sent at
** position p is at slot p % capacity + 1 until it is overwritten.  The
** Sender and the receivers (bindings) hold it in a user value.  Each
** receiver keeps the position of the next value it takes.
*/
typedef struct corun_Broadcast {
  corun_Link waiting;     /* wait queue: tasks in recv */
  corun_Refs senders;     /* the sender references, one per holding task */
  lua_Integer capacity;   /* values kept, at least 1 */
  lua_Integer tail;       /* position of the next value sent (the values
                             sent so far are 0 .. tail - 1) */
  lua_Integer receivers;  /* receivers alive */
} corun_Broadcast;

/* What corun__broadcast_next finds for a receiver. */
typedef enum {
  CORUN_BROADCAST_VALUE,  /* the next value (pushed) */
  CORUN_BROADCAST_LAGGED, /* it fell behind: values were missed */
  CORUN_BROADCAST_EMPTY,  /* nothing yet: it may wait */
  CORUN_BROADCAST_CLOSED  /* nothing left, and no sender */
} corun_BroadcastNext;

void corun__broadcast_init(corun_Broadcast *bc, lua_Integer capacity);
void corun__broadcast_send(lua_State *L, int bcidx, corun_Broadcast *bc);
int corun__broadcast_next(lua_State *L, int bcidx, corun_Broadcast *bc,
                          lua_Integer *next, lua_Integer *missed);
lua_Integer corun__broadcast_subscribe(corun_Broadcast *bc);
void corun__broadcast_unsubscribe(corun_Broadcast *bc);
void corun__broadcast_wait(corun_Broadcast *bc, corun_Task *t);

#endif
