/*
** broadcast.c - corun.broadcast(capacity) -> BroadcastSender,
** BroadcastReceiver.
**
** The Sender is shared as a channel's Sender is: each task that holds it
** holds its own reference (host/refs.c), released at the task's end or by
** tx:close(); when the last is released, or the Sender is collected, the
** receivers take what is left and then get nil, "closed".  Receivers are
** owned by one task each and move with spawn; tx:subscribe() and
** rx:resubscribe() make more.  A value is copied when it is sent (it must
** not hold what moves: it goes to every receiver), and copied again into
** each receiving task (host/handoff.c).
*/
#include <lauxlib.h>
#include "../host/broadcast.h"
#include "../host/handoff.h"
#include "../host/sched.h"
#include "corunL.h"

#define CORUN_BROADCAST_TX "corun.BroadcastSender"
#define CORUN_BROADCAST_RX "corun.BroadcastReceiver"

/* A receiver; user value 1: the channel (corun_Broadcast). */
typedef struct Receiver {
  corun_Resource res;     /* in its owner's list until it is gone */
  corun_Broadcast *bc;    /* borrows: user value 1 keeps it alive */
  lua_Integer next;       /* position of the next value it takes */
  lua_Integer owner;      /* the task that may use it, or 0: any */
  lua_Integer moved_to;   /* moved into this task, or 0 */
  int gone;               /* closed (rx:close, <close>), its owner ended,
                             or collected: it takes nothing more */
} Receiver;

/* Push the channel of the sender or receiver at index 1. */
static corun_Broadcast *push_channel(lua_State *L) {
  lua_getiuservalue(L, 1, 1);
  return lua_touserdata(L, -1);
}

/* ----------------------------------------------------------- receivers */

static void rx_drop(Receiver *rx) {
  if (rx->gone)
    return;
  rx->gone = 1;
  corun__link_remove(&rx->res.link);
  corun__broadcast_unsubscribe(rx->bc);
}

static void rx_release(lua_State *L, corun_Resource *r) {
  (void)L;
  rx_drop(corun__container_of(r, Receiver, res));
}

/* Push a new receiver of the channel at 'bcidx', owned by 'self' (the
   values sent from now on are for it). */
static void push_receiver(lua_State *L, int bcidx, corun_Task *self) {
  corun_Broadcast *bc = lua_touserdata(L, bcidx);
  Receiver *rx;
  bcidx = lua_absindex(L, bcidx);
  rx = lua_newuserdatauv(L, sizeof *rx, 1);
  corun__link_init(&rx->res.link);
  rx->res.release = rx_release;
  rx->bc = bc;
  rx->owner = corun__task_root(self)->id;
  rx->moved_to = 0;
  rx->gone = 0;
  lua_pushvalue(L, bcidx);
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, CORUN_BROADCAST_RX);
  rx->next = corun__broadcast_subscribe(bc);
  corun__task_own(self, &rx->res);
}

/* The receiver at 'idx' moved into task 't' whose id is 'id'. */
static void rx_take(lua_State *L, int idx, corun_Task *t, lua_Integer id) {
  Receiver *rx = lua_touserdata(L, idx);
  if (!rx->gone) {
    if (t != NULL)
      corun__task_own(t, &rx->res);
    else
      corun__link_remove(&rx->res.link);
  }
  rx->moved_to = id;
  rx->owner = id;
}

static lua_Integer rx_owner(lua_State *L, int idx, int *moved) {
  Receiver *rx = lua_touserdata(L, idx);
  *moved = rx->moved_to != 0;
  return rx->owner;
}

static const corun_Class rx_class = {CORUN_CLASS_MOVE, rx_take, rx_owner};

static Receiver *check_rx(lua_State *L, const char *fname) {
  Receiver *rx = corunL_checkself(L, fname, "BroadcastReceiver");
  corunL_check_owner(L, NULL, rx->owner, rx->moved_to != 0,
                     "broadcast receiver");
  return rx;
}

/*
** The stack holds: rx bc.  What the receiver takes now: the next value,
** copied into the running task (or into no task outside every task); nil,
** "lagged", k; nil, "closed"; or -1 when there is nothing yet.
*/
static int take(lua_State *L, const char *fname) {
  Receiver *rx = lua_touserdata(L, 1);
  corun_Broadcast *bc = lua_touserdata(L, 2);
  lua_Integer pos = rx->next, missed = 0;
  corun_Runtime *rt = corunL_state(L)->rt;
  corun_Task *self = rt != NULL && rt->current != NULL
                     ? corun__task_root(rt->current) : NULL;
  corun_Handoff h;
  if (rx->gone) {
    lua_pushnil(L);
    lua_pushliteral(L, "closed");
    return 2;
  }
  switch (corun__broadcast_next(L, 2, bc, &pos, &missed)) {
    case CORUN_BROADCAST_VALUE:
      h.site = fname;
      h.direction = "into a task";
      h.st = corunL_state(L);
      h.target = self != NULL ? self->id : 0;
      h.task = self;
      h.arg = 0;
      h.share_only = 1;
      corun__handoff_copy(L, -1, &h);  /* may raise: the position stays */
      rx->next = pos;
      return 1;
    case CORUN_BROADCAST_LAGGED:
      rx->next = pos;
      lua_pushnil(L);
      lua_pushliteral(L, "lagged");
      lua_pushinteger(L, missed);
      return 3;
    case CORUN_BROADCAST_CLOSED:
      lua_pushnil(L);
      lua_pushliteral(L, "closed");
      return 2;
    default:
      return -1;
  }
}

static int k_recv(lua_State *L, int status, lua_KContext ctx);

static int recv_step(lua_State *L) {  /* rx bc */
  int n = take(L, "BroadcastReceiver:recv");
  if (n >= 0)
    return n;
  corun__broadcast_wait(lua_touserdata(L, 2), corunL_state(L)->rt->current);
  return corun__sched_wait(L, 0, k_recv);
}

static int k_recv(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  return recv_step(L);
}

/* rx:recv(): the next value, waiting for one; nil, "lagged", k once the
   receiver fell behind (then the oldest value kept); nil, "closed" once
   every sender is gone and the values left were taken, or the receiver
   was closed. */
static int rx_recv(lua_State *L) {
  check_rx(L, "BroadcastReceiver:recv");
  corunL_waiter(L, "BroadcastReceiver:recv");
  lua_settop(L, 1);
  push_channel(L);
  return recv_step(L);
}

/* rx:try_recv(): as recv, but nil, "empty" instead of waiting. */
static int rx_try_recv(lua_State *L) {
  int n;
  check_rx(L, "BroadcastReceiver:try_recv");
  lua_settop(L, 1);
  push_channel(L);
  n = take(L, "BroadcastReceiver:try_recv");
  if (n >= 0)
    return n;
  lua_pushnil(L);
  lua_pushliteral(L, "empty");
  return 2;
}

/* rx:resubscribe(): a new receiver of the same channel, owned by the
   calling task, for the values sent from now on. */
static int rx_resubscribe(lua_State *L) {
  corun_Task *self;
  check_rx(L, "BroadcastReceiver:resubscribe");
  self = corunL_task(L, "BroadcastReceiver:resubscribe");
  lua_settop(L, 1);
  push_channel(L);
  push_receiver(L, 2, self);
  return 1;
}

/* rx:close(): the receiver takes nothing more (and no longer counts). */
static int rx_close(lua_State *L) {
  rx_drop(check_rx(L, "BroadcastReceiver:close"));
  return 0;
}

/* <close>: gone, unless it moved to another task (which owns it). */
static int rx_closevar(lua_State *L) {
  Receiver *rx = corunL_checkself(L, "BroadcastReceiver:__close",
                                  "BroadcastReceiver");
  if (corunL_owned_here(L, rx->owner))
    rx_drop(rx);
  return 0;
}

static int rx_gc(lua_State *L) {
  rx_drop(corunL_checkself(L, "BroadcastReceiver:__gc", "BroadcastReceiver"));
  return 0;
}

static int rx_tostring(lua_State *L) {
  Receiver *rx = corunL_checkself(L, "BroadcastReceiver:__tostring",
                                  "BroadcastReceiver");
  corun_Broadcast *bc = rx->bc;
  lua_Integer n = bc->tail - rx->next;
  if (rx->gone)
    lua_pushliteral(L, "corun.BroadcastReceiver (closed)");
  else
    lua_pushfstring(L, "corun.BroadcastReceiver (%I queued%s)",
                    (LUAI_UACINT)(n < bc->capacity ? n : bc->capacity),
                    n > bc->capacity ? ", lagged" : "");
  return 1;
}

/* ------------------------------------------------------------- senders */

/* The sender at 'idx' crossed into task 't': that task's reference. */
static void tx_take(lua_State *L, int idx, corun_Task *t, lua_Integer id) {
  corun_Broadcast *bc = *(corun_Broadcast **)lua_touserdata(L, idx);
  (void)id;
  if (t != NULL && corun__refs_take(&bc->senders, t) != 0)
    luaL_error(L, "corun: not enough memory for a sender reference");
}

static const corun_Class tx_class = {CORUN_CLASS_SHARE, tx_take, NULL};

static corun_Broadcast *check_tx(lua_State *L, const char *fname) {
  return *(corun_Broadcast **)corunL_checkself(L, fname, "BroadcastSender");
}

/* tx:send(v): the number of receivers the value is for, or false,
   "closed" when there are none (the value is not kept).  Never waits. */
static int tx_send(lua_State *L) {
  corun_Broadcast *bc = check_tx(L, "BroadcastSender:send");
  corun_Handoff h;
  lua_settop(L, 2);
  if (lua_isnil(L, 2))
    return corunL_error(L, "BroadcastSender:send", "cannot send nil");
  h.site = "BroadcastSender:send";
  h.direction = "into a broadcast channel";
  h.st = corunL_state(L);
  h.target = 0;
  h.task = NULL;
  h.arg = 2;
  h.share_only = 1;
  corun__handoff_copy(L, 2, &h);           /* tx v copy */
  if (bc->receivers == 0) {
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "closed");
    return 2;
  }
  push_channel(L);                         /* tx v copy bc */
  lua_insert(L, 3);                        /* tx v bc copy */
  corun__broadcast_send(L, 3, bc);
  lua_pushinteger(L, bc->receivers);
  return 1;
}

/* tx:subscribe(): a new receiver, owned by the calling task, for the
   values sent from now on. */
static int tx_subscribe(lua_State *L) {
  corun_Task *self;
  check_tx(L, "BroadcastSender:subscribe");
  self = corunL_task(L, "BroadcastSender:subscribe");
  lua_settop(L, 1);
  push_channel(L);
  push_receiver(L, 2, self);
  return 1;
}

static int tx_receiver_count(lua_State *L) {
  lua_pushinteger(L, check_tx(L, "BroadcastSender:receiver_count")
                     ->receivers);
  return 1;
}

/* tx:close(): release the calling task's sender reference. */
static int tx_close(lua_State *L) {
  corun_Broadcast *bc = check_tx(L, "BroadcastSender:close");
  corun__refs_drop(&bc->senders, corunL_task(L, "BroadcastSender:close"));
  return 0;
}

/* Collected: nobody can send any more; every reference goes. */
static int tx_gc(lua_State *L) {
  corun__refs_gone(&check_tx(L, "BroadcastSender:__gc")->senders);
  return 0;
}

static int tx_tostring(lua_State *L) {
  corun_Broadcast *bc = check_tx(L, "BroadcastSender:__tostring");
  lua_pushfstring(L, "corun.BroadcastSender (%I receiver%s)",
                  (LUAI_UACINT)bc->receivers, bc->receivers == 1 ? "" : "s");
  return 1;
}

/* ---------------------------------------------------------- broadcast */

/* corun.broadcast(capacity) -> tx, rx */
static int l_broadcast(lua_State *L) {
  corun_Task *self = corunL_task(L, "corun.broadcast");
  lua_Integer cap;
  corun_Broadcast *bc;
  if (!lua_isinteger(L, 1))
    return corunL_typeerror(L, "corun.broadcast", 1, "integer");
  cap = lua_tointeger(L, 1);
  if (cap < 1)
    return corunL_error(L, "corun.broadcast", "bad argument #1 (capacity "
                        "must be at least 1, got %I)", (LUAI_UACINT)cap);
  lua_settop(L, 0);
  bc = lua_newuserdatauv(L, sizeof *bc, 1);       /* 1: channel */
  corun__broadcast_init(bc, cap);
  lua_newtable(L);
  lua_setiuservalue(L, 1, 1);                     /* the ring */
  *(corun_Broadcast **)lua_newuserdatauv(L, sizeof bc, 1) = bc;  /* 2: tx */
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 2, 1);
  luaL_setmetatable(L, CORUN_BROADCAST_TX);
  push_receiver(L, 1, self);                      /* 3: rx */
  if (corun__refs_take(&bc->senders, self) != 0)
    return corunL_error(L, "corun.broadcast", "not enough memory");
  return 2;
}

static const luaL_Reg tx_methods[] = {
  {"send", tx_send}, {"subscribe", tx_subscribe},
  {"receiver_count", tx_receiver_count}, {"close", tx_close}, {NULL, NULL}
};
static const luaL_Reg tx_meta[] = {
  {"__gc", tx_gc}, {"__tostring", tx_tostring}, {NULL, NULL}
};
static const luaL_Reg rx_methods[] = {
  {"recv", rx_recv}, {"try_recv", rx_try_recv},
  {"resubscribe", rx_resubscribe}, {"close", rx_close}, {NULL, NULL}
};
static const luaL_Reg rx_meta[] = {
  {"__close", rx_closevar}, {"__gc", rx_gc}, {"__tostring", rx_tostring},
  {NULL, NULL}
};
static const luaL_Reg functions[] = {
  {"broadcast", l_broadcast}, {NULL, NULL}
};

void corunL_open_broadcast(lua_State *L) {
  corun__state(L);
  corunL_newclass(L, CORUN_BROADCAST_TX, tx_methods, tx_meta);
  corunL_setcrossing(L, &tx_class);
  lua_pop(L, 1);
  corunL_newclass(L, CORUN_BROADCAST_RX, rx_methods, rx_meta);
  corunL_setcrossing(L, &rx_class);
  lua_pop(L, 1);
  luaL_setfuncs(L, functions, 1);
}
