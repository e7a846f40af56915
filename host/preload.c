/*
** preload.c - corun_preload: `require "corun"` served from the module
** built into libcorun (the C part, and lua/corun/init.lua embedded by
** tools/embed.lua), with no LUA_PATH or LUA_CPATH needed.
*/
#include <lauxlib.h>
#include "corun.h"

extern const char corun_init_lua[];  /* lua/corun/init.lua, embedded */
extern const size_t corun_init_lua_len;

static int load_corun(lua_State *L) {
  if (luaL_loadbuffer(L, corun_init_lua, corun_init_lua_len,
                      "=[corun/init.lua]") != LUA_OK)
    return lua_error(L);
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  return 1;
}

void corun_preload(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_corun_core);
  lua_setfield(L, -2, "corun.core");
  lua_pushcfunction(L, load_corun);
  lua_setfield(L, -2, "corun");
  lua_pop(L, 1);
}
