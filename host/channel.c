/*
** channel.c - channels: the queue of messages, who waits and who is woken, and
** the sender references.
**
** Messages are copied into the channel when sent (corun__channel_copy: the
** crossing rules of transfer.c) and queued in a ring: the array part of a table
** (user value 1 of the channel), which grows by doubling, in protected mode,
** and is let go of when a long queue drains; queuing or taking a message never
** allocates otherwise.  A sender finding the channel full waits in a FIFO and
** is handed a reserved slot when one frees up, so no later sender takes it; a
** granted sender cancelled before it runs gives the slot to the next one.
** Receivers (the branches of the receiver's owner) wait for a message, for the
** last sender to go or for the channel to close; they are all woken and each
** looks again (usually there is one: a receiver woken and cancelled before it
** runs must not keep a message from the others).  Every wait ends when the
** channel closes.
**
** A task that holds the Sender holds one sender reference (a resource it
** releases at its end, or by tx:close()); the channel lists them too, so that
** the Sender's collection can drop them all.
*/
#include <stdlib.h>
#include <lauxlib.h>
#include "channel.h"
#include "sched.h"
#include "transfer.h"

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

/* The ring's first size, and the size above which a ring that drains is
   let go of (the next message starts a small one). */
#define RING_MIN 4
#define RING_KEEP 1024

/* The largest ring: lua_createtable takes an int. */
#define RING_MAX ((lua_Integer)1 << 30)

/* --------------------------------------------------------------- ring */

/* In protected mode: (channel) -> its ring, twice as big (or RING_MIN
   slots), holding the same messages from slot head + 1 on; changes
   nothing unless it succeeds.  Storing into slot size + 1 of a full
   array of 'size' (a power of 2) slots makes Lua double the array part:
   then only the messages that wrapped around (slots 1 to head) move, to
   follow the others. */
static int grow_protected(lua_State *L) {
  corun_Channel *ch = lua_touserdata(L, 1);
  lua_Integer i;
  if (ch->size == 0) {
    lua_createtable(L, RING_MIN, 0);
    lua_setiuservalue(L, 1, 1);
    ch->head = 0;
    ch->size = RING_MIN;
    return 0;
  }
  lua_getiuservalue(L, 1, 1);                    /* ch ring */
  if (ch->head == 0) {
    lua_pushboolean(L, 0);  /* a placeholder: the next message goes here */
    lua_rawseti(L, 2, ch->size + 1);
  }
  for (i = 1; i <= ch->head; i++) {
    lua_rawgeti(L, 2, i);
    lua_rawseti(L, 2, ch->size + i);
  }
  for (i = 1; i <= ch->head; i++) {
    lua_pushnil(L);
    lua_rawseti(L, 2, i);
  }
  ch->size *= 2;
  return 0;
}

/* Make room in the full ring of the channel at 'chidx'; out of memory,
   raise "fname: not enough memory" (a slot reserved for the caller is
   free again: it is passed on first). */
static void grow(lua_State *L, int chidx, corun_Channel *ch,
                 const char *fname) {
  int status;
  if (ch->size >= RING_MAX)
    corun__error(L, fname, "too many messages queued");
  lua_pushcfunction(L, grow_protected);
  lua_pushvalue(L, chidx);
  status = lua_pcall(L, 1, 0, 0);
  if (status == LUA_OK)
    return;
  corun__channel_popped(ch);
  if (status == LUA_ERRMEM)
    corun__error(L, fname, "not enough memory");
  lua_error(L);
}

/* Queue the value on top in the channel at 'chidx'; the ring is left in
   its place (callers return what they push next). */
void corun__channel_enqueue(lua_State *L, int chidx, corun_Channel *ch,
                           const char *fname) {
  if (ch->count == ch->size)
    grow(L, chidx, ch, fname);
  lua_getiuservalue(L, chidx, 1);
  lua_insert(L, -2);
  lua_rawseti(L, -2, ((ch->head + ch->count) & (ch->size - 1)) + 1);
  ch->count++;
  corun__channel_pushed(ch);
}

/* Take the first message of the channel at 'chidx' onto the top of the
   stack (the ring stays below it: callers return 1). */
void corun__channel_dequeue(lua_State *L, int chidx, corun_Channel *ch) {
  lua_Integer slot = ch->head + 1;
  lua_getiuservalue(L, chidx, 1);
  lua_rawgeti(L, -1, slot);
  lua_pushnil(L);
  lua_rawseti(L, -3, slot);
  ch->head = (ch->head + 1) & (ch->size - 1);
  if (--ch->count == 0) {
    ch->head = 0;
    if (ch->size > RING_KEEP) {  /* a long queue drained: let go of it */
      lua_pushnil(L);
      lua_setiuservalue(L, chidx, 1);
      ch->size = 0;
    }
  }
  corun__channel_popped(ch);
}

/* In protected mode: (value, channel, fname, state) -> the value as it
   crosses into the channel; what moves belongs to the receiver's task,
   and a Sender in it gives that task a reference. */
static int copy_protected(lua_State *L) {
  corun_Channel *ch = lua_touserdata(L, 2);
  corun_Crossing c;
  corun__transfer_begin(L, &c, lua_touserdata(L, 4), lua_touserdata(L, 3),
                        "into a channel", ch->rx_owner);
  c.what = "argument";
  c.index = 2;
  corun__transfer_push(L, 1, &c);          /* v ch fname st map copy */
  if (ch->rx_task != NULL) {
    lua_pushlightuserdata(L, ch->rx_task);
    corun__transfer_commit(L, &c, lua_gettop(L));
    lua_pop(L, 1);
  }
  else
    corun__transfer_commit(L, &c, 0);      /* the copy takes the map's place */
  return 1;
}

/* Copy the message at 'idx' (not nil, and something in it needs a copy:
   corun__transfer_needed) for the channel; leaves it on top.  A message
   that cannot cross raises as the crossing says; running out of memory
   raises "fname: not enough memory". */
void corun__channel_copy(lua_State *L, int idx, corun_Channel *ch,
                         const char *fname, corun_State *st) {
  int status;
  lua_pushcfunction(L, copy_protected);
  lua_pushvalue(L, idx);
  lua_pushlightuserdata(L, ch);
  lua_pushlightuserdata(L, (void *)fname);
  lua_pushlightuserdata(L, st);
  status = lua_pcall(L, 4, 1, 0);
  if (status == LUA_ERRMEM)
    corun__error(L, fname, "not enough memory");
  if (status != LUA_OK)
    lua_error(L);
}

