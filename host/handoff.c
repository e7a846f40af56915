/*
** handoff.c - the one crossing of oneshot, broadcast and watch channels:
** like a channel message (channel.c), a value is copied when it is handed
** over, so that the task that receives it shares nothing with the one
** that sent it.
*/
#include <lauxlib.h>
#include "handoff.h"
#include "transfer.h"

/* In protected mode: (value, handoff) -> the value as it crosses. */
static int copy_protected(lua_State *L) {
  const corun_Handoff *h = lua_touserdata(L, 2);
  corun_Crossing c;
  corun__transfer_begin(L, &c, h->st, h->site, h->direction, h->target);
  c.share_only = h->share_only;
  if (h->arg > 0) {
    c.what = "argument";
    c.index = h->arg;
  }
  corun__transfer_push(L, 1, &c);          /* v h map copy */
  if (h->task != NULL) {
    lua_pushlightuserdata(L, h->task);
    corun__transfer_commit(L, &c, lua_gettop(L));
    lua_pop(L, 1);
  }
  else
    corun__transfer_commit(L, &c, 0);      /* the copy takes the map's place */
  return 1;
}

/*
** Push what the value at 'idx' becomes as it is handed over as 'h' says:
** itself when nothing in it needs a copy (nil, a boolean, a number, a
** string), else its copy.  A value that cannot cross raises as the
** crossing says; running out of memory raises "site: not enough memory".
*/
void corun__handoff_copy(lua_State *L, int idx, const corun_Handoff *h) {
  int status;
  if (!corun__transfer_needed(L, idx, 1)) {
    lua_pushvalue(L, idx);
    return;
  }
  idx = lua_absindex(L, idx);
  lua_pushcfunction(L, copy_protected);
  lua_pushvalue(L, idx);
  lua_pushlightuserdata(L, (void *)h);
  status = lua_pcall(L, 2, 1, 0);
  if (status == LUA_ERRMEM)
    corun__error(L, h->site, "not enough memory");
  if (status != LUA_OK)
    lua_error(L);
}
