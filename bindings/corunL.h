/*
** corunL.h - helpers shared by the bindings (the lauxlib of corun).
** Every message starts with the qualified name of the function at fault,
** e.g. "corun.spawn: bad argument #1 (function expected, got nil)".
*/
#ifndef CORUNL_H
#define CORUNL_H

#include <lua.h>
#include "../host/runtime.h"

#define CORUN_JOINERROR "corun.JoinError"
#define CORUN_INTERVAL "corun.Interval"

/* The corun_State: upvalue 1 of every function of the module. */
#define corunL_state(L) \
  ((corun_State *)lua_touserdata((L), lua_upvalueindex(1)))

int corunL_error(lua_State *L, const char *fname, const char *fmt, ...);
int corunL_typeerror(lua_State *L, const char *fname, int arg,
                     const char *expected);
void corunL_checkfunction(lua_State *L, const char *fname, int arg);
double corunL_checkseconds(lua_State *L, const char *fname, int arg);
corun_Task *corunL_task(lua_State *L, const char *fname);
corun_Task *corunL_waiter(lua_State *L, const char *fname);
void corunL_can_wait(lua_State *L, corun_Task *t, const char *fname);
void corunL_newclass(lua_State *L, const char *name, const luaL_Reg *methods,
                     const luaL_Reg *metamethods);
void *corunL_checkself(lua_State *L, const char *fname, const char *tname);

/*
** The class word: the objects corun's hot paths check (tasks, channel
** ends, semaphores and their permits, JoinSets...) begin with a pointer,
** their class's tag, a static address nothing else has.  The check reads
** it from the userdata itself: two C API calls instead of fetching and
** comparing metatables, and an object of another class given a corun
** metatable with debug.setmetatable is still refused.  lua_rawlen is 0
** for a light userdata and for values with no length, so only a full
** userdata at least a word long is read (a string or a table has a
** length, but no userdata block: lua_touserdata gives NULL).
*/
static inline void *corunL_toobj(lua_State *L, int idx, const void *tag) {
  if (lua_rawlen(L, idx) >= sizeof tag) {
    const void **p = (const void **)lua_touserdata(L, idx);
    if (p != NULL && *p == tag)
      return p;
  }
  return NULL;
}

/* The object at index 1 if its class word is 'tag', else raise "fname:
   bad argument #1 (tname expected, got ...)". */
static inline void *corunL_checkobj(lua_State *L, const void *tag,
                                    const char *fname, const char *tname) {
  void *p = corunL_toobj(L, 1, tag);
  if (p == NULL)
    corunL_typeerror(L, fname, 1, tname);
  return p;
}
int corunL_owned_here(lua_State *L, lua_Integer owner);
void corunL_check_owner(lua_State *L, const char *fname, lua_Integer owner,
                        int moved, const char *what);
void corunL_check_owner_by(lua_State *L, corun_Task *self, const char *fname,
                           lua_Integer owner, int moved, const char *what);
int corunL_done(lua_State *L, int status, lua_KContext ctx);
void corunL_setcrossing(lua_State *L, const corun_Class *c);

void corunL_open_handle(lua_State *L);
void corunL_open_coroutine(lua_State *L);
void corunL_open_time(lua_State *L);
void corunL_open_join(lua_State *L);
void corunL_open_joinset(lua_State *L);
void corunL_open_sync(lua_State *L);
void corunL_open_channel(lua_State *L);
void corunL_open_token(lua_State *L);
void corunL_open_oneshot(lua_State *L);
void corunL_open_broadcast(lua_State *L);
void corunL_open_watch(lua_State *L);
void corunL_push_joinerror(lua_State *L, int idx, corun_Task *t);
int corunL_push_ended(lua_State *L, int idx, corun_Task *t);

#endif
