/*
** io.c - helpers every I/O binding shares (corunio.h).
*/
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "corunio.h"
#include "../host/embed.h"

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
  corunL_check_owner(L, NULL, io->owner, 0, what);
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

void corunL_io_newclass(lua_State *L, const char *tname,
                        const luaL_Reg *methods, const luaL_Reg *meta) {
  corunL_newclass(L, tname, methods, meta);
  corunL_setcrossing(L, &corun__io_class);
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

