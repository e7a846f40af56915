/*
** compat.h - the few calls whose name or shape changed between Lua
** releases, so the rest of corun is written once.
*/
#ifndef CORUN_COMPAT_H
#define CORUN_COMPAT_H

#include <lua.h>

/* Close a coroutine: run its pending <close> handlers (with its error, if
   it failed) and leave it reusable.  Returns the status, the error object
   on top of 'co' when not LUA_OK. */
static inline int corun__close_thread(lua_State *co, lua_State *from) {
#if LUA_VERSION_RELEASE_NUM >= 50406
  return lua_closethread(co, from);
#else
  (void)from;
  return lua_resetthread(co);
#endif
}

#endif
