/*
** io.c - helpers every I/O binding shares (corunio.h).
*/
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "corunio.h"
#include "../host/embed.h"

int corunL_io_fail(lua_State *L, int uverr, const char *fmt, ...) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", uv_err_name(uverr), uv_strerror(uverr));
  if (fmt != NULL) {
    va_list ap;
    lua_pushliteral(L, " (");
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_pushliteral(L, ")");
    lua_concat(L, 4);
  }
  return 2;
}

void corunL_io_push(lua_State *L, corun_Io *io, const char *tname) {
  corun_Io **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = io;
  io->box = box;
  luaL_setmetatable(L, tname);
}

corun_Io *corunL_io_peek(lua_State *L, const char *fname, const char *tname) {
  corun_Io **box = corunL_checkself(L, fname, tname);
  return *box;
}

corun_Io *corunL_io_check(lua_State *L, const char *fname, const char *tname,
                          const char *what) {
  corun_Io *io = corunL_io_peek(L, fname, tname);
  corun_Runtime *rt = corunL_state(L)->rt;
  if (io == NULL)
    corunL_error(L, fname, "the %s is closed", what);
  if (rt == NULL || rt->current == NULL)
    corunL_error(L, fname, "must be called from a task (inside corun.run)");
  corunL_check_owner(L, io->owner, 0, what);
  return io;
}

/* The box at index 1 if it is of the class of the metamethod running
   (its metatable is upvalue 2); else raise "<class>:<event>: bad
   argument #1 (...)", for a metamethod called by hand. */
static corun_Io **check_box(lua_State *L, const char *event) {
  void *p = lua_touserdata(L, 1);
  int none = lua_isnone(L, 1);
  const char *name, *fname;
  if (p != NULL && lua_getmetatable(L, 1)) {
    int same = lua_rawequal(L, -1, lua_upvalueindex(2));
    lua_pop(L, 1);
    if (same)
      return p;
  }
  lua_getfield(L, lua_upvalueindex(2), "__name");
  name = lua_tostring(L, -1);
  fname = lua_pushfstring(L, "%s:%s", name, event);
  if (none)  /* index 1 holds the name now */
    corunL_error(L, fname, "bad argument #1 (%s expected, got no value)",
                 name);
  corunL_typeerror(L, fname, 1, name);
  return NULL;
}

int corunL_io_gc(lua_State *L) {
  corun_Io **box = check_box(L, "__gc");
  if (*box != NULL)  /* the box is emptied: Lua sees it closed */
    corun__io_close(*box, 0);
  return 0;
}

int corunL_io_closevar(lua_State *L) {
  corun_Io **box = check_box(L, "__close");
  if (*box != NULL && corunL_owned_here(L, (*box)->owner))
    corun__io_close(*box, 0);  /* else it moved: its new owner has it */
  return 0;
}

static void io_take(lua_State *L, int idx, corun_Task *t, lua_Integer id) {
  corun_Io **box = lua_touserdata(L, idx);
  if (*box == NULL)
    return;
  if (t != NULL)
    corun__task_own(t, &(*box)->res);
  else
    corun__link_remove(&(*box)->res.link);  /* out of every task */
  (*box)->owner = id;
}

lua_Integer corunL_io_owner(lua_State *L, int idx, int *moved) {
  corun_Io **box = lua_touserdata(L, idx);
  *moved = 0;
  return *box != NULL ? (*box)->owner : 0;  /* closed: nothing moves */
}

const corun_Class corunL_io_class = {CORUN_CLASS_MOVE, io_take,
                                     corunL_io_owner};

void corunL_io_newclass(lua_State *L, const char *tname,
                        const luaL_Reg *methods, const luaL_Reg *meta) {
  corunL_newclass(L, tname, methods, meta);
  corunL_setcrossing(L, &corunL_io_class);
  lua_pushvalue(L, -2);  /* the corun_State, below the metatable */
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, corunL_io_gc, 2);
  lua_setfield(L, -2, "__gc");
  lua_pushvalue(L, -2);
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, corunL_io_closevar, 2);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
}

void corunL_io_ready(lua_State *L, const char *fname) {
  if (corun__io_ready(corunL_task(L, fname)->rt) != 0)
    corunL_error(L, fname, "not enough memory");
}

corun_Waker corunL_io_prepare(lua_State *L, const char *fname,
                              corun_CancelFn cancel, void *ud) {
  corun_Waker w;
  corunL_waiter(L, fname);
  corunL_io_ready(L, fname);
  if ((w = corun_wait_prepare(L, cancel, ud)) == 0)
    corunL_error(L, fname, "%s", corun_errmsg(L));
  return w;
}

int corunL_io_wait_request(lua_State *L, const char *fname,
                           corun_CancelFn cancel, void *req, int *orphaned,
                           corun_Waker *w) {
  *orphaned = 1;
  *w = corunL_io_prepare(L, fname, cancel, req);
  *orphaned = 0;
  return corun__wait_k(L, *w, (lua_KContext)lua_gettop(L),
                       corunL_io_k_adopt);
}

typedef struct WakeArgs {
  corunL_Push push;
  void *ud;
  corun_Waker w;
} WakeArgs;

static int wake_protected(lua_State *L) {
  WakeArgs *a = lua_touserdata(L, 1);
  lua_pop(L, 1);
  corun_wake(L, a->w, a->push(L, a->ud));  /* popped, even if it is over */
  return 0;
}

void corunL_io_wake(corun_Runtime *rt, corun_Waker w, corunL_Push push,
                    void *ud) {
  lua_State *S = rt->S;
  int top = lua_gettop(S);
  WakeArgs a;
  a.push = push;
  a.ud = ud;
  a.w = w;
  lua_pushcfunction(S, wake_protected);
  lua_pushlightuserdata(S, &a);
  if (lua_pcall(S, 1, 0, 0) != LUA_OK)  /* out of memory: raise that */
    corun_wake_error(S, w);
  lua_settop(S, top);
}

void corunL_io_adopt_results(lua_State *L, int base) {
  corun_Runtime *rt = corunL_state(L)->rt;
  int i;
  corun__wait_check(L, base);
  for (i = base + 1; i <= lua_gettop(L); i++)
    if (lua_type(L, i) == LUA_TUSERDATA &&
        corun__class_of(L, i) == &corunL_io_class) {
      corun_Io *io = *(corun_Io **)lua_touserdata(L, i);
      if (io != NULL)
        corun__io_adopt(io, rt->current);
    }
}

int corunL_io_k_adopt(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  corunL_io_adopt_results(L, (int)ctx);
  return lua_gettop(L) - (int)ctx;
}

void corunL_io_read_room(char **data, size_t len, size_t *cap, size_t least,
                         uv_buf_t *buf) {
  if (*cap - len < least) {
    size_t want = *cap * 2 > len + least ? *cap * 2 : len + least;
    char *p = realloc(*data, want);
    if (p == NULL) {
      *buf = uv_buf_init(NULL, 0);
      return;
    }
    *data = p;
    *cap = want;
  }
  *buf = uv_buf_init(*data + len, (unsigned)(*cap - len));
}

const char *corunL_checkstring(lua_State *L, const char *fname, int arg,
                               size_t *len) {
  if (lua_type(L, arg) != LUA_TSTRING)
    corunL_typeerror(L, fname, arg, "string");
  return lua_tolstring(L, arg, len);
}

void corunL_check_nozero(lua_State *L, const char *fname, int arg,
                         const char *what, const char *s, size_t len) {
  if (memchr(s, '\0', len) != NULL)
    corunL_error(L, fname, "bad argument #%d (%s contains a zero byte)",
                 arg, what);
}

const char *corunL_checkcstring(lua_State *L, const char *fname, int arg,
                                const char *what, size_t *len) {
  size_t n;
  const char *s = corunL_checkstring(L, fname, arg, &n);
  corunL_check_nozero(L, fname, arg, what, s, n);
  if (len != NULL)
    *len = n;
  return s;
}

int corunL_checkport(lua_State *L, const char *fname, int arg) {
  lua_Integer port;
  if (!lua_isinteger(L, arg))
    corunL_typeerror(L, fname, arg, "integer port");
  port = lua_tointeger(L, arg);
  if (port < 0 || port > 65535)
    corunL_error(L, fname, "bad argument #%d (port must be 0..65535, got "
                 "%I)", arg, (LUAI_UACINT)port);
  return (int)port;
}

void corunL_push_addr(lua_State *L, const struct sockaddr *sa) {
  char name[64] = "?";
  int port = 0;
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    uv_ip6_name(a, name, sizeof name);
    port = ntohs(a->sin6_port);
  }
  else if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    uv_ip4_name(a, name, sizeof name);
    port = ntohs(a->sin_port);
  }
  lua_pushstring(L, name);
  lua_pushinteger(L, port);
}
