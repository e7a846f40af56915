/*
** core.c - luaopen_corun_core: the runtime and task functions.
*/
#include <stdio.h>
#include <lauxlib.h>
#include "../host/corun.h"
#include "../host/debug.h"
#include "../host/sched.h"
#include "../host/transfer.h"
#include "corunL.h"
#include "corunio.h"

static int l_run(lua_State *L) {
  int n, status;
  if (corunL_state(L)->rt != NULL)
    return corunL_error(L, "corun.run",
                        "cannot start a runtime from within a runtime");
  corunL_checkfunction(L, "corun.run", 1);
  status = corun_run(L, lua_gettop(L) - 1, 0, &n);
  if (status == CORUN_OK)
    return n;
  lua_pop(L, 1);  /* the traceback: Lua errors carry only their value */
  return lua_error(L);
}

static int l_spawn(lua_State *L) {
  corun_Task *self = corunL_task(L, "corun.spawn");
  corunL_checkfunction(L, "corun.spawn", 1);
  if (self->rt->shutdown)
    return corunL_error(L, "corun.spawn", "the runtime is shutting down");
  corun__task_new(self->rt, L, 1, lua_gettop(L) - 1, NULL, 0,
                  "corun.spawn");
  return 1;
}

/* corun.spawn_named(name, fn, ...): a task with a name, shown in errors,
   reports and dumps. */
static int l_spawn_named(lua_State *L) {
  corun_Task *self = corunL_task(L, "corun.spawn_named");
  if (lua_type(L, 1) != LUA_TSTRING)
    return corunL_typeerror(L, "corun.spawn_named", 1, "string");
  corunL_checkfunction(L, "corun.spawn_named", 2);
  if (self->rt->shutdown)
    return corunL_error(L, "corun.spawn_named",
                        "the runtime is shutting down");
  corun__task_new(self->rt, L, 2, lua_gettop(L) - 2, NULL, CORUN_TASK_NAMED,
                  "corun.spawn_named");
  return 1;
}

/* corun.tasks(): a table per live task (host/debug.c). */
static int l_tasks(lua_State *L) {
  corun__debug_push_tasks(L, corunL_task(L, "corun.tasks")->rt);
  return 1;
}

static int k_dump(lua_State *L, int status, lua_KContext ctx) {
  (void)L; (void)status; (void)ctx;
  return 0;
}

/* corun.dump([file]): the live tasks as text, written with file:write
   (default io.stderr; a corun stream may wait in its write). */
static int l_dump(lua_State *L) {
  corun_Runtime *rt = corunL_task(L, "corun.dump")->rt;
  lua_settop(L, 1);
  if (lua_isnil(L, 1)) {
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    if (lua_getfield(L, -1, "io") == LUA_TTABLE)
      lua_getfield(L, -1, "stderr");
    else
      lua_pushnil(L);
    lua_replace(L, 1);
    lua_settop(L, 1);
  }
  corun__debug_push_dump(L, rt, 1);  /* file text */
  if (lua_isnil(L, 1)) {  /* no io library: C's stderr */
    size_t len;
    const char *text = lua_tolstring(L, 2, &len);
    fwrite(text, 1, len, stderr);
    fflush(stderr);
    return 0;
  }
  if ((!lua_istable(L, 1) && !lua_isuserdata(L, 1)) ||
      lua_getfield(L, 1, "write") != LUA_TFUNCTION)
    return corunL_typeerror(L, "corun.dump", 1, "file handle");
  lua_insert(L, 1);  /* write file text */
  lua_callk(L, 2, 0, 0, k_dump);
  return 0;
}

static int l_task_id(lua_State *L) {
  lua_pushinteger(L, corunL_task(L, "corun.task_id")->id);
  return 1;
}

static int l_yield_now(lua_State *L) {
  corun_Task *self = corunL_waiter(L, "corun.yield_now");
  corun__sched_ready(self->rt, self, CORUN_WAKE_SIGNAL);
  return corun__sched_wait(L, 0, corunL_done);
}

/* corun.live_tasks(): how many tasks of the runtime have not ended, the
   caller included (branches of corun.join and friends are not tasks). */
static int l_live_tasks(lua_State *L) {
  corun_Runtime *rt = corunL_task(L, "corun.live_tasks")->rt;
  lua_pushinteger(L, (lua_Integer)(rt->live - rt->live_branches));
  return 1;
}

static const luaL_Reg functions[] = {
  {"run", l_run},
  {"spawn", l_spawn},
  {"spawn_named", l_spawn_named},
  {"tasks", l_tasks},
  {"dump", l_dump},
  {"task_id", l_task_id},
  {"yield_now", l_yield_now},
  {"live_tasks", l_live_tasks},
  {NULL, NULL}
};

/* Each corunL_open_* adds its part to the module table on top of L. */
int luaopen_corun_core(lua_State *L) {
  corun_State *st;
  lua_newtable(L);
  st = corun__state(L);
  if (st->loaded_seen == -1 && st->loaded_adds == 0)
    corun__transfer_watch_loaded(L, st);
  luaL_setfuncs(L, functions, 1);
  corunL_open_time(L);
  corunL_open_join(L);
  corunL_open_joinset(L);
  corunL_open_sync(L);
  corunL_open_channel(L);
  corunL_open_token(L);
  corunL_open_oneshot(L);
  corunL_open_broadcast(L);
  corunL_open_watch(L);
  corunL_open_coroutine(L);
  corunL_open_stream(L);
  corunL_open_net(L);
  corunL_open_udp(L);
  corunL_open_stdio(L);
  corunL_open_tls(L);
  corunL_open_fs(L);
  corunL_open_process(L);
  corunL_open_signal(L);
  corunL_open_http(L);
  corunL_open_httpd(L);
  corunL_open_handle(L);
  lua_pushliteral(L, CORUN_VERSION);
  lua_setfield(L, -2, "version");
  return 1;
}
