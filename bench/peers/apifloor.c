/*
** apifloor.c - the least a Lua C module can do for W1 (spawn N tasks
** returning an integer, await each in spawn order), to show where the
** public Lua C API puts the floor for any runtime built on it.
**
**   lua5.4 bench/peers/apifloor_peer.lua W1 [N]
**
** spawn(fn, x) makes a handle (a full userdata with fn and x as user
** values and a metatable, anchored until awaited, as a runtime must);
** h:await() calls fn(x) on the spot with lua_pcall (no coroutine, no
** queue, no checks beyond the handle's type) and returns true, result.
** Nothing here could wait: it is a lower bound, not a runtime.
*/
#include <lua.h>
#include <lauxlib.h>

static lua_Integer nslots;

static int l_spawn(lua_State *L) {
  lua_Integer *slot;
  lua_settop(L, 2);
  slot = lua_newuserdatauv(L, sizeof *slot, 2); /* fn x h */
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_setmetatable(L, -2);
  lua_rotate(L, 1, 1);                          /* h fn x */
  lua_setiuservalue(L, 1, 2);
  lua_setiuservalue(L, 1, 1);
  lua_pushvalue(L, 1);                          /* the runtime's anchor */
  *slot = ++nslots;
  lua_rawseti(L, lua_upvalueindex(2), *slot);
  return 1;
}

static int h_await(lua_State *L) {
  if (!lua_getmetatable(L, 1) || !lua_rawequal(L, -1, lua_upvalueindex(1)))
    return luaL_argerror(L, 1, "handle expected");
  lua_settop(L, 1);
  lua_getiuservalue(L, 1, 1);
  lua_getiuservalue(L, 1, 2);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
  }
  lua_pushnil(L);                               /* drop the anchor */
  lua_rawseti(L, lua_upvalueindex(2), *(lua_Integer *)lua_touserdata(L, 1));
  lua_pushboolean(L, 1);
  lua_insert(L, -2);
  return 2;
}

int luaopen_apifloor(lua_State *L) {
  lua_newtable(L);                              /* module */
  lua_newtable(L);                              /* handle metatable */
  lua_newtable(L);                              /* anchors */
  lua_newtable(L);                              /* __index */
  lua_pushvalue(L, -3);
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, h_await, 2);
  lua_setfield(L, -2, "await");
  lua_setfield(L, -3, "__index");               /* module mt anchors */
  lua_pushcclosure(L, l_spawn, 2);
  lua_setfield(L, -2, "spawn");
  return 1;
}
