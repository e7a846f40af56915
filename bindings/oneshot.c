/*
** oneshot.c - corun.oneshot() -> OneshotSender, OneshotReceiver.
**
** One value goes from the Sender to the Receiver, copied into the
** receiver's task when it is sent (the crossing rules, as a channel
** message: host/handoff.c).  Each end is owned by one task, moves with
** spawn, and is dropped when its task ends, when it is closed (<close>) or
** when it is collected: a Sender dropped unused makes recv return nil,
** "closed"; a Receiver dropped makes send return false, "closed".
*/
#include <lauxlib.h>
#include "../host/handoff.h"
#include "../host/oneshot.h"
#include "../host/sched.h"
#include "corunL.h"

#define CORUN_ONESHOT_TX "corun.OneshotSender"
#define CORUN_ONESHOT_RX "corun.OneshotReceiver"

/* A Sender or a Receiver; user value 1: the channel (corun_Oneshot). */
typedef struct End {
  corun_Resource res;     /* in its owner's list until it is done */
  corun_Oneshot *os;      /* borrows: user value 1 keeps it alive */
  lua_Integer owner;      /* the task that may use it, or 0: any */
  lua_Integer moved_to;   /* moved into this task, or 0 */
  int done;               /* Sender: it sent or closed (it is used);
                             Receiver: it is gone (closed by <close>, its
                             owner's end or its collection) */
} End;

/* The end at index 1, of class 'tname', used by the task that owns it
   (outside every task there is nobody to check). */
static End *check_end(lua_State *L, const char *fname, const char *tname,
                      const char *what) {
  End *e = corunL_checkself(L, fname, tname);
  corunL_check_owner(L, NULL, e->owner, e->moved_to != 0, what);
  return e;
}

/* The end is done: its owner has nothing left to release. */
static void end_done(End *e) {
  e->done = 1;
  corun__link_remove(&e->res.link);
}

/* The end at 'idx' moved into task 't' whose id is 'id' (t NULL: out of
   every task, nobody owns it). */
static void end_take(lua_State *L, int idx, corun_Task *t, lua_Integer id) {
  End *e = lua_touserdata(L, idx);
  if (!e->done) {
    if (t != NULL)
      corun__task_own(t, &e->res);
    else
      corun__link_remove(&e->res.link);
  }
  e->moved_to = id;
  e->owner = id;
}

static void rx_take(lua_State *L, int idx, corun_Task *t, lua_Integer id) {
  End *e = lua_touserdata(L, idx);
  end_take(L, idx, t, id);
  e->os->rx_owner = id;
  e->os->rx_task = t != NULL && !e->done ? corun__task_root(t) : NULL;
}

/* Who may hand the end at 'idx' over (see corun_Class.owner). */
static lua_Integer end_owner(lua_State *L, int idx, int *moved) {
  End *e = lua_touserdata(L, idx);
  *moved = e->moved_to != 0;
  return e->owner;
}

static const corun_Class tx_class = {CORUN_CLASS_MOVE, end_take, end_owner};
static const corun_Class rx_class = {CORUN_CLASS_MOVE, rx_take, end_owner};

static int closed2(lua_State *L, int first_is_false) {
  if (first_is_false)
    lua_pushboolean(L, 0);
  else
    lua_pushnil(L);
  lua_pushliteral(L, "closed");
  return 2;
}

/* ------------------------------------------------------------- Sender */

static End *check_tx(lua_State *L, const char *fname) {
  return check_end(L, fname, "OneshotSender", "oneshot sender");
}

/* The sender is dropped unused (closed, its owner ended, collected). */
static void tx_drop(End *tx) {
  if (tx->done)
    return;
  end_done(tx);
  corun__oneshot_tx_gone(tx->os);
}

static void tx_release(lua_State *L, corun_Resource *r) {
  (void)L;
  tx_drop(corun__container_of(r, End, res));
}

/* tx:send(v): true once the value is there for the receiver, or false,
   "closed" if the receiver is gone or closed; a sender sends once. */
static int tx_send(lua_State *L) {
  End *tx = check_tx(L, "OneshotSender:send");
  corun_Oneshot *os = tx->os;
  corun_Handoff h;
  lua_settop(L, 2);
  if (tx->done)
    return corunL_error(L, "OneshotSender:send", "the sender was already "
                        "used (a oneshot sends once)");
  if (lua_isnil(L, 2))
    return corunL_error(L, "OneshotSender:send", "cannot send nil");
  if (!os->rx_closed) {
    h.site = "OneshotSender:send";
    h.direction = "into a oneshot channel";
    h.st = corunL_state(L);
    h.target = os->rx_owner;
    h.task = os->rx_task;
    h.arg = 2;
    h.share_only = 0;
    corun__handoff_copy(L, 2, &h);         /* tx v copy */
    if (tx->done)  /* a finalizer run by the copy used it */
      return corunL_error(L, "OneshotSender:send", "the sender was "
                          "already used (a oneshot sends once)");
  }
  end_done(tx);
  if (os->rx_closed)  /* also: the receiver was collected by the copy */
    return closed2(L, 1);
  lua_getiuservalue(L, 1, 1);              /* tx v copy os */
  lua_pushvalue(L, 3);
  lua_setiuservalue(L, -2, 1);
  corun__oneshot_sent(os);
  lua_pushboolean(L, 1);
  return 1;
}

/* tx:close(): drop the sender without sending (nothing if it is used). */
static int tx_close(lua_State *L) {
  tx_drop(check_tx(L, "OneshotSender:close"));
  return 0;
}

/* tx:is_closed(): is the receiver gone or closed (a send would fail)? */
static int tx_is_closed(lua_State *L) {
  lua_pushboolean(L, check_tx(L, "OneshotSender:is_closed")->os->rx_closed);
  return 1;
}

static int k_closed(lua_State *L, int status, lua_KContext ctx);

/* The stack holds the sender: wait until the receiver is gone or
   closed. */
static int closed_step(lua_State *L) {
  End *tx = lua_touserdata(L, 1);
  if (tx->os->rx_closed)
    return 0;
  corun__oneshot_closed_wait(tx->os, corunL_state(L)->rt->current);
  return corun__sched_wait(L, 0, k_closed);
}

static int k_closed(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  return closed_step(L);
}

/* tx:closed(): returns once the receiver is gone or closed (Tokio's
   Sender::closed: stop working on a value nobody will receive). */
static int tx_closed(lua_State *L) {
  check_tx(L, "OneshotSender:closed");
  corunL_waiter(L, "OneshotSender:closed");
  lua_settop(L, 1);
  return closed_step(L);
}

/* <close>: drop it, unless it moved to another task (which owns it). */
static int tx_closevar(lua_State *L) {
  End *tx = corunL_checkself(L, "OneshotSender:__close", "OneshotSender");
  if (corunL_owned_here(L, tx->owner))
    tx_drop(tx);
  return 0;
}

static int tx_gc(lua_State *L) {
  tx_drop(corunL_checkself(L, "OneshotSender:__gc", "OneshotSender"));
  return 0;
}

static int tx_tostring(lua_State *L) {
  End *tx = corunL_checkself(L, "OneshotSender:__tostring", "OneshotSender");
  const char *s = !tx->done ? (tx->os->rx_closed ? "receiver closed"
                                                 : "unused")
                  : tx->os->state != CORUN_ONESHOT_EMPTY ? "sent" : "closed";
  lua_pushfstring(L, "corun.OneshotSender (%s)", s);
  return 1;
}

/* ----------------------------------------------------------- Receiver */

static End *check_rx(lua_State *L, const char *fname) {
  return check_end(L, fname, "OneshotReceiver", "oneshot receiver");
}

/* The receiver is gone: a send fails from now on.  (A value sent already
   goes with the channel, when nothing holds it any more.) */
static void rx_drop(End *rx) {
  if (rx->done)
    return;
  end_done(rx);
  rx->os->rx_task = NULL;
  corun__oneshot_rx_close(rx->os);
}

/* The receiver at index 1 is gone: let go of the value at once too. */
static void rx_gone(lua_State *L) {
  rx_drop(lua_touserdata(L, 1));
  lua_getiuservalue(L, 1, 1);
  lua_pushnil(L);
  lua_setiuservalue(L, -2, 1);
  lua_pop(L, 1);
}

static void rx_release(lua_State *L, corun_Resource *r) {
  (void)L;
  rx_drop(corun__container_of(r, End, res));
}

/* Stack: rx os.  The value if it is there (taken), or nil, "closed" if
   none will come; -1 if it may still come. */
static int try_take(lua_State *L, const char *fname) {
  corun_Oneshot *os = lua_touserdata(L, 2);
  if (((End *)lua_touserdata(L, 1))->done)  /* gone: let go of the value */
    return closed2(L, 0);
  switch (os->state) {
    case CORUN_ONESHOT_SENT:
      lua_getiuservalue(L, 2, 1);
      lua_pushnil(L);
      lua_setiuservalue(L, 2, 1);
      os->state = CORUN_ONESHOT_TAKEN;
      return 1;
    case CORUN_ONESHOT_TAKEN:
      return corunL_error(L, fname, "the value was already received");
    default:
      if (os->tx_gone || os->rx_closed)
        return closed2(L, 0);
      return -1;
  }
}

static int k_recv(lua_State *L, int status, lua_KContext ctx);

static int recv_step(lua_State *L) {  /* rx os */
  int n = try_take(L, "OneshotReceiver:recv");
  if (n >= 0)
    return n;
  corun__oneshot_recv_wait(lua_touserdata(L, 2),
                           corunL_state(L)->rt->current);
  return corun__sched_wait(L, 0, k_recv);
}

static int k_recv(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  return recv_step(L);
}

/* rx:recv(): the value, waiting for it; or nil, "closed" if the sender
   was dropped or closed without sending (or the receiver closed). */
static int rx_recv(lua_State *L) {
  check_rx(L, "OneshotReceiver:recv");
  corunL_waiter(L, "OneshotReceiver:recv");
  lua_settop(L, 1);
  lua_getiuservalue(L, 1, 1);
  return recv_step(L);
}

/* rx:try_recv(): the value; or nil and "empty" or "closed". */
static int rx_try_recv(lua_State *L) {
  int n;
  check_rx(L, "OneshotReceiver:try_recv");
  lua_settop(L, 1);
  lua_getiuservalue(L, 1, 1);
  n = try_take(L, "OneshotReceiver:try_recv");
  if (n >= 0)
    return n;
  lua_pushnil(L);
  lua_pushliteral(L, "empty");
  return 2;
}

/* rx:close(): a send fails from now on; a value sent already can still
   be received. */
static int rx_close(lua_State *L) {
  corun__oneshot_rx_close(check_rx(L, "OneshotReceiver:close")->os);
  return 0;
}

/* <close>: gone, unless it moved to another task (which owns it). */
static int rx_closevar(lua_State *L) {
  End *rx = corunL_checkself(L, "OneshotReceiver:__close", "OneshotReceiver");
  if (corunL_owned_here(L, rx->owner))
    rx_gone(L);
  return 0;
}

static int rx_gc(lua_State *L) {
  corunL_checkself(L, "OneshotReceiver:__gc", "OneshotReceiver");
  rx_gone(L);
  return 0;
}

static int rx_tostring(lua_State *L) {
  End *rx = corunL_checkself(L, "OneshotReceiver:__tostring",
                             "OneshotReceiver");
  corun_Oneshot *os = rx->os;
  const char *s = os->state == CORUN_ONESHOT_TAKEN ? "received"
                  : os->state == CORUN_ONESHOT_SENT ? "value waiting"
                  : os->tx_gone || os->rx_closed ? "closed" : "empty";
  lua_pushfstring(L, "corun.OneshotReceiver (%s)", s);
  return 1;
}

/* ------------------------------------------------------------ oneshot */

/* Push a new end of the channel at index 1, owned by 'self'. */
static End *push_end(lua_State *L, corun_Task *self, const char *tname,
                     void (*release)(lua_State *L, corun_Resource *r)) {
  End *e = lua_newuserdatauv(L, sizeof *e, 1);
  corun__link_init(&e->res.link);
  e->res.release = release;
  e->os = lua_touserdata(L, 1);
  e->owner = corun__task_root(self)->id;
  e->moved_to = 0;
  e->done = 0;
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, tname);
  corun__task_own(self, &e->res);
  return e;
}

/* corun.oneshot() -> tx, rx, both owned by the calling task. */
static int l_oneshot(lua_State *L) {
  corun_Task *self = corunL_task(L, "corun.oneshot");
  corun_Oneshot *os;
  lua_settop(L, 0);
  os = lua_newuserdatauv(L, sizeof *os, 1);  /* 1: the channel */
  corun__oneshot_init(os);
  push_end(L, self, CORUN_ONESHOT_TX, tx_release);
  push_end(L, self, CORUN_ONESHOT_RX, rx_release);
  os->rx_owner = corun__task_root(self)->id;
  os->rx_task = corun__task_root(self);
  return 2;
}

static const luaL_Reg tx_methods[] = {
  {"send", tx_send}, {"close", tx_close}, {"is_closed", tx_is_closed},
  {"closed", tx_closed}, {NULL, NULL}
};
static const luaL_Reg tx_meta[] = {
  {"__close", tx_closevar}, {"__gc", tx_gc}, {"__tostring", tx_tostring},
  {NULL, NULL}
};
static const luaL_Reg rx_methods[] = {
  {"recv", rx_recv}, {"try_recv", rx_try_recv}, {"close", rx_close},
  {NULL, NULL}
};
static const luaL_Reg rx_meta[] = {
  {"__close", rx_closevar}, {"__gc", rx_gc}, {"__tostring", rx_tostring},
  {NULL, NULL}
};
static const luaL_Reg functions[] = {{"oneshot", l_oneshot}, {NULL, NULL}};

void corunL_open_oneshot(lua_State *L) {
  corun__state(L);
  corunL_newclass(L, CORUN_ONESHOT_TX, tx_methods, tx_meta);
  corunL_setcrossing(L, &tx_class);
  lua_pop(L, 1);
  corunL_newclass(L, CORUN_ONESHOT_RX, rx_methods, rx_meta);
  corunL_setcrossing(L, &rx_class);
  lua_pop(L, 1);
  luaL_setfuncs(L, functions, 1);
}
