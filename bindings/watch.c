/*
** watch.c - corun.watch(value) -> WatchSender, WatchReceiver.
**
** The channel holds the latest value, copied in when it is given (it must
** not hold what moves: every receiver reads it) and copied out into the
** task of each get() (host/handoff.c).  The Sender and every receiver are
** owned by one task each and move with spawn; tx:subscribe() and
** rx:clone() make more receivers.  The Sender gone (closed, its owner
** ended, collected) ends every changed() that has nothing newer to see
** with nil, "closed"; get() still returns the last value.
*/
#include <lauxlib.h>
#include "../host/handoff.h"
#include "../host/sched.h"
#include "../host/watch.h"
#include "corunL.h"

#define CORUN_WATCH_TX "corun.WatchSender"
#define CORUN_WATCH_RX "corun.WatchReceiver"

/* The Sender or a receiver; user value 1: the channel (corun_Watch). */
typedef struct End {
  corun_Resource res;     /* in its owner's list until it is gone */
  corun_Watch *w;         /* borrows: user value 1 keeps it alive */
  lua_Integer seen;       /* a receiver: the version it has seen */
  lua_Integer owner;      /* the task that may use it, or 0: any */
  lua_Integer moved_to;   /* moved into this task, or 0 */
  int gone;               /* closed, its owner ended, or collected */
} End;

/* The end at 'idx' moved into task 't' whose id is 'id'. */
static void end_take(lua_State *L, int idx, corun_Task *t, lua_Integer id) {
  End *e = lua_touserdata(L, idx);
  if (!e->gone) {
    if (t != NULL)
      corun__task_own(t, &e->res);
    else
      corun__link_remove(&e->res.link);
  }
  e->moved_to = id;
  e->owner = id;
}

static lua_Integer end_owner(lua_State *L, int idx, int *moved) {
  End *e = lua_touserdata(L, idx);
  *moved = e->moved_to != 0;
  return e->owner;
}

static const corun_Class end_class = {CORUN_CLASS_MOVE, end_take,
                                      end_owner};

/* The end at index 1, of class 'tname', used by the task that owns it
   (outside every task there is nobody to check). */
static End *check_end(lua_State *L, const char *fname, const char *tname,
                      const char *what) {
  End *e = corunL_checkself(L, fname, tname);
  corunL_check_owner(L, NULL, e->owner, e->moved_to != 0, what);
  return e;
}

static void tx_drop(End *tx) {
  if (tx->gone)
    return;
  tx->gone = 1;
  corun__link_remove(&tx->res.link);
  corun__watch_tx_gone(tx->w);
}

static void rx_drop(End *rx) {
  if (rx->gone)
    return;
  rx->gone = 1;
  corun__link_remove(&rx->res.link);
  rx->w->receivers--;
}

static void tx_release(lua_State *L, corun_Resource *r) {
  (void)L;
  tx_drop(corun__container_of(r, End, res));
}

static void rx_release(lua_State *L, corun_Resource *r) {
  (void)L;
  rx_drop(corun__container_of(r, End, res));
}

/* Push a new end of the channel at 'widx', owned by 'self'. */
static End *push_end(lua_State *L, int widx, corun_Task *self,
                     const char *tname,
                     void (*release)(lua_State *L, corun_Resource *r)) {
  End *e;
  widx = lua_absindex(L, widx);
  e = lua_newuserdatauv(L, sizeof *e, 1);
  corun__link_init(&e->res.link);
  e->res.release = release;
  e->w = lua_touserdata(L, widx);
  e->seen = e->w->version;
  e->owner = corun__task_root(self)->id;
  e->moved_to = 0;
  e->gone = 0;
  lua_pushvalue(L, widx);
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, tname);
  corun__task_own(self, &e->res);
  if (release == rx_release)
    e->w->receivers++;
  return e;
}

/* The value at 'idx' as it goes into the channel (by 'site', argument
   'arg'): a copy that holds nothing that moves. */
static void copy_in(lua_State *L, int idx, const char *site, int arg) {
  corun_Handoff h;
  h.site = site;
  h.direction = "into a watch channel";
  h.st = corunL_state(L);
  h.target = 0;
  h.task = NULL;
  h.arg = arg;
  h.share_only = 1;
  corun__handoff_copy(L, idx, &h);
}

/* ------------------------------------------------------------- Sender */

static End *check_tx(lua_State *L, const char *fname) {
  return check_end(L, fname, "WatchSender", "watch sender");
}

/* tx:send(v): true once v is the latest value, or false, "closed" when
   there is no receiver (v is then not kept, as in Tokio).  Raises once
   the sender was closed. */
static int tx_send(lua_State *L) {
  End *tx = check_tx(L, "WatchSender:send");
  lua_settop(L, 2);
  if (tx->gone)
    return corunL_error(L, "WatchSender:send", "the sender is closed");
  copy_in(L, 2, "WatchSender:send", 2);    /* tx v copy */
  if (tx->w->receivers == 0) {
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "closed");
    return 2;
  }
  lua_getiuservalue(L, 1, 1);              /* tx v copy w */
  lua_insert(L, 3);
  lua_setiuservalue(L, 3, 1);
  corun__watch_sent(tx->w);
  lua_pushboolean(L, 1);
  return 1;
}

/* tx:subscribe(): a new receiver, owned by the calling task, that has
   seen the latest value. */
static int tx_subscribe(lua_State *L) {
  corun_Task *self;
  check_tx(L, "WatchSender:subscribe");
  self = corunL_task(L, "WatchSender:subscribe");
  lua_settop(L, 1);
  lua_getiuservalue(L, 1, 1);
  push_end(L, 2, self, CORUN_WATCH_RX, rx_release);
  return 1;
}

static int tx_receiver_count(lua_State *L) {
  lua_pushinteger(L, check_tx(L, "WatchSender:receiver_count")->w
                     ->receivers);
  return 1;
}

/* tx:is_closed(): is every receiver gone (a send would fail)? */
static int tx_is_closed(lua_State *L) {
  lua_pushboolean(L, check_tx(L, "WatchSender:is_closed")->w->receivers
                     == 0);
  return 1;
}

/* tx:close(): the sender is gone: changed() ends with nil, "closed". */
static int tx_close(lua_State *L) {
  tx_drop(check_tx(L, "WatchSender:close"));
  return 0;
}

static int tx_closevar(lua_State *L) {
  End *tx = corunL_checkself(L, "WatchSender:__close", "WatchSender");
  if (corunL_owned_here(L, tx->owner))
    tx_drop(tx);
  return 0;
}

static int tx_gc(lua_State *L) {
  tx_drop(corunL_checkself(L, "WatchSender:__gc", "WatchSender"));
  return 0;
}

static int tx_tostring(lua_State *L) {
  End *tx = corunL_checkself(L, "WatchSender:__tostring", "WatchSender");
  if (tx->gone)
    lua_pushliteral(L, "corun.WatchSender (closed)");
  else
    lua_pushfstring(L, "corun.WatchSender (%I receiver%s)",
                    (LUAI_UACINT)tx->w->receivers,
                    tx->w->receivers == 1 ? "" : "s");
  return 1;
}

/* ----------------------------------------------------------- Receiver */

static End *check_rx(lua_State *L, const char *fname) {
  return check_end(L, fname, "WatchReceiver", "watch receiver");
}

/* rx:get(): the latest value (copied into the running task), now seen. */
static int rx_get(lua_State *L) {
  End *rx = check_rx(L, "WatchReceiver:get");
  corun_Runtime *rt = corunL_state(L)->rt;
  corun_Task *self = rt != NULL && rt->current != NULL
                     ? corun__task_root(rt->current) : NULL;
  corun_Handoff h;
  lua_settop(L, 1);
  lua_getiuservalue(L, 1, 1);
  lua_getiuservalue(L, 2, 1);              /* rx w value */
  h.site = "WatchReceiver:get";
  h.direction = "into a task";
  h.st = corunL_state(L);
  h.target = self != NULL ? self->id : 0;
  h.task = self;
  h.arg = 0;
  h.share_only = 1;
  corun__handoff_copy(L, 3, &h);
  rx->seen = rx->w->version;
  return 1;
}

static int closed(lua_State *L) {
  lua_pushnil(L);
  lua_pushliteral(L, "closed");
  return 2;
}

static int k_changed(lua_State *L, int status, lua_KContext ctx);

/* The stack holds the receiver: true (and the version is seen) once
   there is a newer one than it has seen; nil, "closed" once the sender
   is gone and there is none, or the receiver is closed. */
static int changed_step(lua_State *L) {
  End *rx = lua_touserdata(L, 1);
  if (rx->gone)
    return closed(L);
  if (rx->seen != rx->w->version) {
    rx->seen = rx->w->version;
    lua_pushboolean(L, 1);
    return 1;
  }
  if (rx->w->tx_gone)
    return closed(L);
  corun__watch_wait(rx->w, corunL_state(L)->rt->current);
  return corun__sched_wait(L, 0, k_changed);
}

static int k_changed(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  return changed_step(L);
}

/* rx:changed(): waits for a value newer than the one seen (at once if
   there is one). */
static int rx_changed(lua_State *L) {
  check_rx(L, "WatchReceiver:changed");
  corunL_waiter(L, "WatchReceiver:changed");
  lua_settop(L, 1);
  return changed_step(L);
}

/* rx:has_changed(): is there a value newer than the one seen?  nil,
   "closed" once the sender is gone (or the receiver closed). */
static int rx_has_changed(lua_State *L) {
  End *rx = check_rx(L, "WatchReceiver:has_changed");
  if (rx->gone || rx->w->tx_gone)
    return closed(L);
  lua_pushboolean(L, rx->seen != rx->w->version);
  return 1;
}

/* rx:clone(): a new receiver, owned by the calling task, that has seen
   what this one has. */
static int rx_clone(lua_State *L) {
  End *rx = check_rx(L, "WatchReceiver:clone");
  corun_Task *self = corunL_task(L, "WatchReceiver:clone");
  lua_settop(L, 1);
  lua_getiuservalue(L, 1, 1);
  push_end(L, 2, self, CORUN_WATCH_RX, rx_release)->seen = rx->seen;
  return 1;
}

/* rx:close(): the receiver no longer counts; changed() returns nil,
   "closed". */
static int rx_close(lua_State *L) {
  rx_drop(check_rx(L, "WatchReceiver:close"));
  return 0;
}

static int rx_closevar(lua_State *L) {
  End *rx = corunL_checkself(L, "WatchReceiver:__close", "WatchReceiver");
  if (corunL_owned_here(L, rx->owner))
    rx_drop(rx);
  return 0;
}

static int rx_gc(lua_State *L) {
  rx_drop(corunL_checkself(L, "WatchReceiver:__gc", "WatchReceiver"));
  return 0;
}

static int rx_tostring(lua_State *L) {
  End *rx = corunL_checkself(L, "WatchReceiver:__tostring", "WatchReceiver");
  const char *s = rx->gone ? "closed"
                  : rx->seen != rx->w->version ? "changed"
                  : rx->w->tx_gone ? "sender closed" : "seen";
  lua_pushfstring(L, "corun.WatchReceiver (%s)", s);
  return 1;
}

/* -------------------------------------------------------------- watch */

/* corun.watch(value) -> tx, rx, both owned by the calling task; rx has
   seen 'value'. */
static int l_watch(lua_State *L) {
  corun_Task *self = corunL_task(L, "corun.watch");
  corun_Watch *w;
  lua_settop(L, 1);
  copy_in(L, 1, "corun.watch", 1);         /* v copy */
  w = lua_newuserdatauv(L, sizeof *w, 1);  /* v copy w */
  corun__watch_init(w);
  lua_insert(L, 2);                        /* v w copy */
  lua_setiuservalue(L, 2, 1);
  push_end(L, 2, self, CORUN_WATCH_TX, tx_release);
  push_end(L, 2, self, CORUN_WATCH_RX, rx_release);
  return 2;
}

static const luaL_Reg tx_methods[] = {
  {"send", tx_send}, {"subscribe", tx_subscribe},
  {"receiver_count", tx_receiver_count}, {"is_closed", tx_is_closed},
  {"close", tx_close}, {NULL, NULL}
};
static const luaL_Reg tx_meta[] = {
  {"__close", tx_closevar}, {"__gc", tx_gc}, {"__tostring", tx_tostring},
  {NULL, NULL}
};
static const luaL_Reg rx_methods[] = {
  {"get", rx_get}, {"changed", rx_changed}, {"has_changed", rx_has_changed},
  {"clone", rx_clone}, {"close", rx_close}, {NULL, NULL}
};
static const luaL_Reg rx_meta[] = {
  {"__close", rx_closevar}, {"__gc", rx_gc}, {"__tostring", rx_tostring},
  {NULL, NULL}
};
static const luaL_Reg functions[] = {{"watch", l_watch}, {NULL, NULL}};

void corunL_open_watch(lua_State *L) {
  corun__state(L);
  corunL_newclass(L, CORUN_WATCH_TX, tx_methods, tx_meta);
  corunL_setcrossing(L, &end_class);
  lua_pop(L, 1);
  corunL_newclass(L, CORUN_WATCH_RX, rx_methods, rx_meta);
  corunL_setcrossing(L, &end_class);
  lua_pop(L, 1);
  luaL_setfuncs(L, functions, 1);
}
