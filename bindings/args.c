/*
** args.c - argument checks and errors that name the function at fault.
*/
#include <math.h>
#include <stdarg.h>
#include <lauxlib.h>
#include "corunL.h"

/* Raise "fname: <formatted message>". */
int corunL_error(lua_State *L, const char *fname, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  return corun__verror(L, fname, fmt, ap);  /* does not return */
}

/* Raise "fname: bad argument #arg (expected expected, got <type>)". */
int corunL_typeerror(lua_State *L, const char *fname, int arg,
                     const char *expected) {
  const char *got;
  if (luaL_getmetafield(L, arg, "__name") == LUA_TSTRING)
    got = lua_tostring(L, -1);
  else if (lua_isnone(L, arg))
    got = "no value";
  else
    got = luaL_typename(L, arg);
  return corunL_error(L, fname, "bad argument #%d (%s expected, got %s)",
                      arg, expected, got);
}

void corunL_checkfunction(lua_State *L, const char *fname, int arg) {
  if (lua_type(L, arg) != LUA_TFUNCTION)
    corunL_typeerror(L, fname, arg, "function");
}

/* A duration: a number, not negative, not NaN (math.huge waits forever). */
double corunL_checkseconds(lua_State *L, const char *fname, int arg) {
  double s;
  if (lua_type(L, arg) != LUA_TNUMBER)
    corunL_typeerror(L, fname, arg, "number");
  s = (double)lua_tonumber(L, arg);
  if (isnan(s) || s < 0)
    corunL_error(L, fname, "bad argument #%d (duration must be a "
                 "non-negative number of seconds, got %f)", arg,
                 (LUAI_UACNUMBER)s);
  return s;
}

/* The running task, or raise "fname: must be called from a task" (the
   core's corun__task_running says it; the check is here, as every call
   of corun's makes it). */
corun_Task *corunL_task(lua_State *L, const char *fname) {
  corun_Runtime *rt = corunL_state(L)->rt;
  if (rt == NULL || rt->current == NULL)
    corun__task_running(L, rt, fname);  /* raises */
  return rt->current;
}

/* The running task, which is about to wait: it must be able to yield. */
corun_Task *corunL_waiter(lua_State *L, const char *fname) {
  corun_Task *t = corunL_task(L, fname);
  corunL_can_wait(L, t, fname);
  return t;
}

/* The running task 't', already known, is about to wait: it must be able
   to yield. */
void corunL_can_wait(lua_State *L, corun_Task *t, const char *fname) {
  if (!lua_isyieldable(L))
    corun__task_waiting(L, t->rt, fname);  /* raises */
}

/* Does the running task own an object owned by task 'owner' (0: by
   none, so by anyone)?  Outside every task: only if by none. */
int corunL_owned_here(lua_State *L, lua_Integer owner) {
  corun_Runtime *rt;
  if (owner == 0)
    return 1;
  rt = corunL_state(L)->rt;
  return rt != NULL && rt->current != NULL &&
         corun__task_root(rt->current)->id == owner;
}

/* An object owned by one task ('owner') is used by the running task:
   raise "<fname>: <what> was moved to task N" ('moved') or "<fname>:
   <what> belongs to task N" if that is another task ('fname' NULL:
   "corun", as API.md words it for objects that move).  Outside every task
   there is nobody to check (the caller requires a task if it must). */
void corunL_check_owner(lua_State *L, const char *fname, lua_Integer owner,
                        int moved, const char *what) {
  corun_Runtime *rt;
  if (owner == 0)  /* nobody's: anyone's (the common case: no look-up) */
    return;
  rt = corunL_state(L)->rt;
  if (rt == NULL || rt->current == NULL ||
      corun__task_root(rt->current)->id == owner)
    return;
  corunL_error(L, fname != NULL ? fname : "corun", "%s %s task %I", what,
               moved ? "was moved to" : "belongs to", (LUAI_UACINT)owner);
}

/* corunL_check_owner for the running task 'self', already known. */
void corunL_check_owner_by(lua_State *L, corun_Task *self, const char *fname,
                           lua_Integer owner, int moved, const char *what) {
  if (owner == 0 || corun__task_root(self)->id == owner)
    return;
  corunL_error(L, fname != NULL ? fname : "corun", "%s %s task %I", what,
               moved ? "was moved to" : "belongs to", (LUAI_UACINT)owner);
}

/*
** Register metatable 'name' with methods in __index; leaves it on top.
** The functions get the corun_State (on top of L) as upvalue 1 and the
** metatable as upvalue 2 (see corunL_checkself).  The metatable is
** protected: getmetatable returns a table holding only __name (the class
** name), so Lua code reaches no metamethod.  debug.getmetatable still
** does, so every metamethod checks its arguments as a method does.
*/
void corunL_newclass(lua_State *L, const char *name, const luaL_Reg *methods,
                     const luaL_Reg *metamethods) {
  int st = lua_gettop(L);
  luaL_newmetatable(L, name);
  lua_createtable(L, 0, 1);
  lua_pushstring(L, name);
  lua_setfield(L, -2, "__name");
  lua_setfield(L, -2, "__metatable");
  lua_pushvalue(L, st);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, metamethods, 2);
  lua_newtable(L);
  lua_pushvalue(L, st);
  lua_pushvalue(L, -3);
  luaL_setfuncs(L, methods, 2);
  lua_setfield(L, -2, "__index");
}

/* In a method made by corunL_newclass: the userdata at index 1 if it is
   of the method's class, else raise "fname: bad argument #1 (...)". */
void *corunL_checkself(lua_State *L, const char *fname, const char *tname) {
  void *p = lua_touserdata(L, 1);
  if (p != NULL && lua_getmetatable(L, 1)) {
    int same = lua_rawequal(L, -1, lua_upvalueindex(2));
    lua_pop(L, 1);
    if (same)
      return p;
  }
  corunL_typeerror(L, fname, 1, tname);
  return NULL;
}

/* Say how objects of the class whose metatable is on top of L cross into
   tasks: __corun and the descriptor (see corun_Class).  The crossings
   call the descriptor's C functions: no metamethod moves an object. */
void corunL_setcrossing(lua_State *L, const corun_Class *c) {
  static const char *const how[] = {"share", "move", "copy"};
  lua_pushstring(L, how[c->move]);
  lua_setfield(L, -2, "__corun");
  lua_pushlightuserdata(L, (void *)c);
  lua_rawsetp(L, -2, &corun__class_key);
}

/* Continuation of a wait that returns nothing. */
int corunL_done(lua_State *L, int status, lua_KContext ctx) {
  (void)L; (void)status; (void)ctx;
  return 0;
}
