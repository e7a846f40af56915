/*
** channel.c - corun.channel([capacity]) -> Sender, Receiver.
**
** Messages are copied into the channel when sent (the crossing rules of
** transfer.c) and queued in a ring (host/channel.c).  The Sender is shared:
** each task that holds it holds its own reference (made when the sender crosses
** into the task, released at the task's end or by tx:close(); host/channel.c);
** when the last is released, or the Sender itself is collected, recv returns
** nil once the queue is drained.  The Receiver is owned by one task and moves
** with spawn; its owner's end, its <close> and its collection close the channel
** and let go of the queued messages at once.
*/
#include <lauxlib.h>
#include "../host/channel.h"
#include "../host/sched.h"
#include "../host/sync.h"
#include "../host/transfer.h"
#include "corunL.h"

#define CORUN_SENDER "corun.Sender"
#define CORUN_RECEIVER "corun.Receiver"

/* The class words of the two ends (see corunL_checkobj). */
static const char tx_tag = 0, rx_tag = 0;

/* A Sender: user value 1 is the channel. */
typedef struct Sender {
  const void *tag;        /* &tx_tag */
  corun_Channel *ch;      /* borrows: user value 1 keeps it alive */
} Sender;

typedef struct Receiver {
  const void *tag;        /* &rx_tag */
  corun_Resource res;     /* owned by one task */
  corun_Channel *ch;      /* borrows: user value 1 keeps it alive */
  lua_Integer moved_to;   /* moved into this task, or 0 */
  int chref;              /* registry ref: the channel userdata, until the
                             receiver is gone (so that its owner's end can
                             let go of the queue), or LUA_NOREF */
} Receiver;

/* Push the channel of the sender or receiver at index 1. */
static corun_Channel *push_channel(lua_State *L) {
  lua_getiuservalue(L, 1, 1);
  return lua_touserdata(L, -1);
}

/* ------------------------------------------------------------ senders */

/* The sender at 'idx' crossed into task 't': that task's reference. */
static void tx_take(lua_State *L, int idx, corun_Task *t, lua_Integer id) {
  corun_Channel *ch = ((Sender *)lua_touserdata(L, idx))->ch;
  (void)id;
  if (t != NULL && corun__channel_ref(ch, t) != 0)
    luaL_error(L, "corun: not enough memory for a sender reference");
}

static const corun_Class tx_class = {CORUN_CLASS_SHARE, tx_take, NULL};

static int send_closed(lua_State *L) {
  lua_pushboolean(L, 0);
  lua_pushliteral(L, "closed");
  return 2;
}

static int k_send(lua_State *L, int status, lua_KContext ctx) {
  corun_Channel *ch = lua_touserdata(L, 3);
  (void)status; (void)ctx;
  if (!corun__sync_granted(corunL_state(L)->rt->current))
    return send_closed(L);
  ch->reserved--;
  if (ch->closed)  /* closed after the slot was handed over */
    return send_closed(L);
  lua_pushvalue(L, 4);
  corun__channel_enqueue(L, 3, ch, "Sender:send");
  lua_pushboolean(L, 1);
  return 1;
}

/* The message at index 2 as it crosses into the channel, on top: as it
   is when nothing in it needs a copy (a number, a string, a share). */
static void copy_message(lua_State *L, corun_Channel *ch, const char *fname) {
  if (lua_isnoneornil(L, 2))
    corunL_error(L, fname, "cannot send nil");
  if (!corun__transfer_needed(L, 2, 1))
    lua_pushvalue(L, 2);
  else
    corun__channel_copy(L, 2, ch, fname, corunL_state(L));
}

/* tx:send(v): true once queued (waiting while full), or false, "closed". */
static int tx_send(lua_State *L) {
  corun_Task *self;
  corun_Channel *ch;
  corunL_checkobj(L, &tx_tag, "Sender:send", "Sender");
  self = corunL_task(L, "Sender:send");
  lua_settop(L, 2);
  ch = push_channel(L);                    /* tx v ch */
  if (ch->closed)
    return send_closed(L);
  copy_message(L, ch, "Sender:send");     /* tx v ch copy */
  if (ch->closed)  /* the receiver was collected during the copy */
    return send_closed(L);
  if (corun__channel_has_room(ch) &&
      !corun__link_linked(&ch->senders_waiting.waiters)) {
    corun__channel_enqueue(L, 3, ch, "Sender:send");
    lua_pushboolean(L, 1);
    return 1;
  }
  corunL_can_wait(L, self, "Sender:send");  /* it waits: it must be able to */
  corun__sync_wait(&ch->senders_waiting, self, 1);
  return corun__sched_wait(L, 0, k_send);
}

/* tx:try_send(v): true, or false and "full" or "closed". */
static int tx_try_send(lua_State *L) {
  corun_Channel *ch;
  corunL_checkobj(L, &tx_tag, "Sender:try_send", "Sender");
  lua_settop(L, 2);
  ch = push_channel(L);
  if (ch->closed)
    return send_closed(L);
  if (!corun__channel_has_room(ch) ||
      corun__link_linked(&ch->senders_waiting.waiters)) {
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "full");
    return 2;
  }
  copy_message(L, ch, "Sender:try_send");
  if (ch->closed)
    return send_closed(L);
  corun__channel_enqueue(L, 3, ch, "Sender:try_send");
  lua_pushboolean(L, 1);
  return 1;
}

/* tx:close(): release the calling task's sender reference. */
static int tx_close(lua_State *L) {
  corun_Task *self;
  corunL_checkobj(L, &tx_tag, "Sender:close", "Sender");
  self = corunL_task(L, "Sender:close");
  corun__channel_unref(push_channel(L), self);
  return 0;
}

/* Collected: nobody can send any more; every reference goes. */
static int tx_gc(lua_State *L) {
  Sender *tx = corunL_checkobj(L, &tx_tag, "Sender:__gc", "Sender");
  corun__channel_tx_gone(tx->ch);
  return 0;
}

static int tx_tostring(lua_State *L) {
  corun_Channel *ch;
  corunL_checkobj(L, &tx_tag, "Sender:__tostring", "Sender");
  ch = push_channel(L);
  lua_pushfstring(L, "corun.Sender (%I queued%s)", (LUAI_UACINT)ch->count,
                  ch->closed ? ", closed" : "");
  return 1;
}

/* ----------------------------------------------------------- receiver */

/* The receiver is gone (its owner ended, a <close> closed it, or it is
   being collected): the channel closes and lets go of its queue. */
static void rx_gone(lua_State *L, Receiver *rx) {
  corun__link_remove(&rx->res.link);
  if (rx->chref != LUA_NOREF && lua_checkstack(L, 2)) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, rx->chref);
    lua_pushnil(L);
    lua_setiuservalue(L, -2, 1);
    lua_pop(L, 1);
    luaL_unref(L, LUA_REGISTRYINDEX, rx->chref);
    rx->chref = LUA_NOREF;
  }
  corun__channel_rx_gone(rx->ch);
}

/* Its owner ended. */
static void rx_release(lua_State *L, corun_Resource *r) {
  rx_gone(L, corun__container_of(r, Receiver, res));
}

/* The receiver at index 1, used by the task that owns it: the one that
   made the channel or the one it moved to (0 once it left every task:
   anyone).  Outside every task (try_recv, close) there is nobody to
   check. */
static Receiver *check_rx(lua_State *L, const char *fname) {
  Receiver *rx = corunL_checkobj(L, &rx_tag, fname, "Receiver");
  corunL_check_owner(L, NULL, rx->ch->rx_owner, rx->moved_to != 0,
                     "channel receiver");
  return rx;
}

static int recv_step(lua_State *L, corun_Task *self);

static int k_recv(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  return recv_step(L, corunL_state(L)->rt->current);
}

/* The running task 'self' receives. */
static int recv_step(lua_State *L, corun_Task *self) {  /* rx ch */
  corun_Channel *ch = lua_touserdata(L, 2);
  if (ch->count > 0) {
    corun__channel_dequeue(L, 2, ch);
    return 1;
  }
  if (ch->senders == 0 || ch->closed) {
    lua_pushnil(L);
    return 1;
  }
  corunL_can_wait(L, self, "Receiver:recv");  /* it waits: it must be able to */
  corun__sched_block(self, &ch->receivers);
  return corun__sched_wait(L, 0, k_recv);
}

/* rx:recv(): the next message, or nil once every sender is gone (or the
   channel closed) and the queue is drained. */
static int rx_recv(lua_State *L) {
  Receiver *rx = corunL_checkobj(L, &rx_tag, "Receiver:recv", "Receiver");
  corun_Task *self = corunL_task(L, "Receiver:recv");
  corunL_check_owner_by(L, self, NULL, rx->ch->rx_owner, rx->moved_to != 0,
                        "channel receiver");
  lua_settop(L, 1);
  push_channel(L);
  return recv_step(L, self);
}

/* rx:try_recv(): a message, or nil and "empty" or "closed". */
static int rx_try_recv(lua_State *L) {
  corun_Channel *ch;
  check_rx(L, "Receiver:try_recv");
  lua_settop(L, 1);
  ch = push_channel(L);
  if (ch->count > 0) {
    corun__channel_dequeue(L, 2, ch);
    return 1;
  }
  lua_pushnil(L);
  if (ch->senders == 0 || ch->closed)
    lua_pushliteral(L, "closed");
  else
    lua_pushliteral(L, "empty");
  return 2;
}

/* rx:close(): later sends return false, "closed"; queued messages can
   still be received; whoever waits on the channel wakes. */
static int rx_close(lua_State *L) {
  Receiver *rx = check_rx(L, "Receiver:close");
  corun__channel_close(rx->ch);
  return 0;
}

static int rx_gc(lua_State *L) {  /* collected: nobody can receive */
  rx_gone(L, corunL_checkobj(L, &rx_tag, "Receiver:__gc", "Receiver"));
  return 0;
}

/* <close>: gone, unless it moved to another task (which owns it). */
static int rx_closevar(lua_State *L) {
  Receiver *rx = corunL_checkobj(L, &rx_tag, "Receiver:__close", "Receiver");
  if (corunL_owned_here(L, rx->ch->rx_owner))
    rx_gone(L, rx);
  return 0;
}

/* The receiver at 'idx' moved into task 't'. */
static void rx_take(lua_State *L, int idx, corun_Task *t, lua_Integer id) {
  Receiver *rx = lua_touserdata(L, idx);
  if (t != NULL)
    corun__task_own(t, &rx->res);
  else
    corun__link_remove(&rx->res.link);
  rx->moved_to = id;
  rx->ch->rx_owner = rx->moved_to;
  rx->ch->rx_task = t != NULL ? corun__task_root(t) : NULL;
}

/* Who may hand the receiver at 'idx' over (see corun_Class.owner). */
static lua_Integer rx_owner(lua_State *L, int idx, int *moved) {
  Receiver *rx = lua_touserdata(L, idx);
  *moved = rx->moved_to != 0;
  return rx->ch->rx_owner;
}

static const corun_Class rx_class = {CORUN_CLASS_MOVE, rx_take, rx_owner};

static int rx_tostring(lua_State *L) {
  Receiver *rx = corunL_checkobj(L, &rx_tag, "Receiver:__tostring", "Receiver");
  lua_pushfstring(L, "corun.Receiver (%I queued%s)",
                  (LUAI_UACINT)rx->ch->count, rx->ch->closed ? ", closed" : "");
  return 1;
}

/* ------------------------------------------------------------ channel */

/* corun.channel([capacity]) -> tx, rx */
static int l_channel(lua_State *L) {
  corun_Task *self = corunL_task(L, "corun.channel");
  lua_Integer cap = 0;
  corun_Channel *ch;
  Sender *tx;
  Receiver *rx;
  if (!lua_isnoneornil(L, 1)) {
    if (!lua_isinteger(L, 1))
      return corunL_typeerror(L, "corun.channel", 1, "integer");
    cap = lua_tointeger(L, 1);
    if (cap < 1)
      return corunL_error(L, "corun.channel", "bad argument #1 (capacity "
                          "must be at least 1, got %I)", (LUAI_UACINT)cap);
  }
  lua_settop(L, 0);
  ch = lua_newuserdatauv(L, sizeof *ch, 1);       /* 1: channel (no ring
                                                     until the first send) */
  corun__channel_init(ch, cap);
  ch->rx_owner = self->id;
  tx = lua_newuserdatauv(L, sizeof *tx, 1);       /* 2: tx */
  tx->tag = &tx_tag;
  tx->ch = ch;
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 2, 1);
  luaL_setmetatable(L, CORUN_SENDER);
  rx = lua_newuserdatauv(L, sizeof *rx, 1);       /* 3: rx */
  rx->tag = &rx_tag;
  corun__link_init(&rx->res.link);
  rx->res.release = rx_release;
  rx->ch = ch;
  rx->moved_to = 0;
  rx->chref = LUA_NOREF;
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 3, 1);
  luaL_setmetatable(L, CORUN_RECEIVER);
  lua_pushvalue(L, 1);
  rx->chref = luaL_ref(L, LUA_REGISTRYINDEX);
  ch->rx_task = corun__task_root(self);
  corun__task_own(self, &rx->res);
  if (corun__channel_ref(ch, self) != 0)
    return corunL_error(L, "corun.channel", "not enough memory");
  return 2;
}

static const luaL_Reg tx_methods[] = {
  {"send", tx_send}, {"try_send", tx_try_send}, {"close", tx_close},
  {NULL, NULL}
};
static const luaL_Reg tx_meta[] = {
  {"__gc", tx_gc}, {"__tostring", tx_tostring}, {NULL, NULL}
};
static const luaL_Reg rx_methods[] = {
  {"recv", rx_recv}, {"try_recv", rx_try_recv}, {"close", rx_close},
  {NULL, NULL}
};
static const luaL_Reg rx_meta[] = {
  {"__gc", rx_gc}, {"__close", rx_closevar}, {"__tostring", rx_tostring},
  {NULL, NULL}
};
static const luaL_Reg functions[] = {{"channel", l_channel}, {NULL, NULL}};

void corunL_open_channel(lua_State *L) {
  corun__state(L);
  corunL_newclass(L, CORUN_SENDER, tx_methods, tx_meta);
  corunL_setcrossing(L, &tx_class);
  lua_pop(L, 1);
  corunL_newclass(L, CORUN_RECEIVER, rx_methods, rx_meta);
  corunL_setcrossing(L, &rx_class);
  lua_pop(L, 1);
  luaL_setfuncs(L, functions, 1);
}
