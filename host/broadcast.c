/*
** broadcast.c - broadcast channels: the ring, the receivers' positions,
** who waits and who is woken.
**
** A send stores the value (a copy made by the bindings, handoff.c) at the
** tail of the ring, overwriting the oldest when the ring is full, and
** wakes every receiver waiting: each looks at its own position again, so
** a receiver cancelled before it runs takes nothing (its position stays).
** Sending never waits: a receiver too slow to keep up is the one that
** loses values (it is told how many, and goes on from the oldest kept),
** as in Tokio.  The last sender reference gone wakes the receivers too:
** they take what is left, then find the channel closed.
**
** A value stays in the ring until it is overwritten (Tokio drops it as
** soon as every receiver has taken it: here the ring keeps at most
** 'capacity' values alive for a little longer).
*/
#include "broadcast.h"
#include "sched.h"

static void wake_all(corun_Link *q) {
  corun_Link *l;
  while ((l = corun__link_first(q)) != NULL)
    corun__sched_wake(corun__container_of(l, corun_Task, link),
                      CORUN_WAKE_SIGNAL);  /* takes it off the queue */
}

/* The last sender reference went: the receivers find the end. */
static void senders_gone(corun_Refs *r) {
  wake_all(&corun__container_of(r, corun_Broadcast, senders)->waiting);
}

void corun__broadcast_init(corun_Broadcast *bc, lua_Integer capacity) {
  corun__link_init(&bc->waiting);
  corun__refs_init(&bc->senders, senders_gone);
  bc->capacity = capacity;
  bc->tail = 0;
  bc->receivers = 0;
}

/* The ring slot (from 1) of position 'pos'. */
static lua_Integer slot(const corun_Broadcast *bc, lua_Integer pos) {
  return pos % bc->capacity + 1;
}

/* Store the value on top (popped) at the tail of the ring of the channel
   at 'bcidx', and wake the receivers.  Raises only on a memory error,
   before anything changed. */
void corun__broadcast_send(lua_State *L, int bcidx, corun_Broadcast *bc) {
  bcidx = lua_absindex(L, bcidx);
  lua_getiuservalue(L, bcidx, 1);
  lua_insert(L, -2);
  lua_rawseti(L, -2, slot(bc, bc->tail));
  lua_pop(L, 1);
  bc->tail++;
  wake_all(&bc->waiting);
}

/*
** What a receiver whose next position is '*next' finds in the channel at
** 'bcidx': the value there (pushed; '*next' moves past it), or that it
** lagged ('*missed' values were overwritten before it took them; '*next'
** moves to the oldest value kept), or nothing yet, or the end.
*/
int corun__broadcast_next(lua_State *L, int bcidx, corun_Broadcast *bc,
                          lua_Integer *next, lua_Integer *missed) {
  if (bc->tail - *next > bc->capacity) {
    *missed = bc->tail - bc->capacity - *next;
    *next = bc->tail - bc->capacity;
    return CORUN_BROADCAST_LAGGED;
  }
  if (*next < bc->tail) {
    lua_getiuservalue(L, bcidx, 1);
    lua_rawgeti(L, -1, slot(bc, *next));
    lua_remove(L, -2);
    (*next)++;
    return CORUN_BROADCAST_VALUE;
  }
  return bc->senders.count == 0 ? CORUN_BROADCAST_CLOSED
                                : CORUN_BROADCAST_EMPTY;
}

/* A new receiver: returns its first position (the values sent from now
   on are for it). */
lua_Integer corun__broadcast_subscribe(corun_Broadcast *bc) {
  bc->receivers++;
  return bc->tail;
}

/* A receiver is gone (closed, its owner ended, collected). */
void corun__broadcast_unsubscribe(corun_Broadcast *bc) {
  bc->receivers--;
}

/* 't' waits in recv for the next value or the end. */
void corun__broadcast_wait(corun_Broadcast *bc, corun_Task *t) {
  corun__sched_block(t, &bc->waiting);
}
