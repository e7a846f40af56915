/*
** oom.c - corun under a memory cap: a Lua state whose allocator refuses
** to grow past a limit the script sets.  Run by spec/limits_spec.lua with
** a script on the command line; prints what the script prints.
*/
#include <stdio.h>
#include <stdlib.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include "../../host/corun.h"


static size_t used;               /* bytes the state holds */
static size_t limit = (size_t)-1; /* cap on 'used' */

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  size_t old = ptr != NULL ? osize : 0;
  void *p;
  (void)ud;
  if (nsize == 0) {
    free(ptr);
    used -= old;
    return NULL;
  }
  if (nsize > old && used - old + nsize > limit)
    return NULL;
  p = realloc(ptr, nsize);
  if (p != NULL)
    used = used - old + nsize;
  return p;
}

/* set_limit(extra): allow 'extra' more bytes than now; nil: no cap. */
static int set_limit(lua_State *L) {
  limit = lua_isnoneornil(L, 1) ? (size_t)-1
                                : used + (size_t)luaL_checkinteger(L, 1);
  return 0;
}

int main(int argc, char **argv) {
  lua_State *L = lua_newstate(capped_alloc, NULL);
  int status;
  if (L == NULL || argc < 2)
    return 2;
  luaL_openlibs(L);
  corun_preload(L);
  lua_register(L, "set_limit", set_limit);
  status = luaL_dofile(L, argv[1]);
  if (status != LUA_OK)
    fprintf(stderr, "oom: %s\n", lua_tostring(L, -1));
  lua_close(L);
  return status == LUA_OK ? 0 : 1;
}
