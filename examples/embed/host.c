/*
** host.c - a small application that embeds corun as its scripting layer.
**
**   embed-host script.lua [args...]
**
** The application owns a libuv loop with its own work on it (a timer
** ticking every 50 ms) and a "database" with a native async call:
** host.fetch(key) suspends only the calling corun task and answers after
** the key's latency (a uv timer standing in for a network round trip).
** It opens a corun runtime on its own lua_State and loop, runs the user's
** script as a task, keeps calling uv_run itself, and prints what the script
** returned.  A fetch that the script stops waiting for (a timeout, an
** abort) is cancelled in the host: its timer is stopped at once.
**
** docs/embedding.md walks through this file.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <uv.h>
#include "corun.h"

/* The application's state: one loop, one Lua state. */
typedef struct Host {
  uv_loop_t loop;
  uv_timer_t tick;
  lua_State *L;
  unsigned ticks;         /* the host's own work, done while scripts run */
  unsigned fetches;       /* host.fetch calls started */
  unsigned cancelled;     /* ... and cancelled before they answered */
  int exit_code;
} Host;

static Host host;

/* The "database": each key answers after its latency. */
typedef struct Record {
  const char *key;
  const char *value;
  unsigned latency_ms;
} Record;

static const Record records[] = {
  {"alpha", "first letter", 100},
  {"beta", "second letter", 200},
  {"gamma", "third letter", 300},
  {"omega", "last letter, far away", 2000},
};

/* One host.fetch in flight.  Owned by the host: freed when its timer has
   closed, whether it answered or was cancelled. */
typedef struct Fetch {
  uv_timer_t timer;
  corun_Waker waker;
  const Record *record;   /* NULL: no such key */
  char key[64];
} Fetch;

static void free_fetch(uv_handle_t *handle) {
  free(handle->data);
}

/* The answer is ready: wake the task with it.  If the task was cancelled
   meanwhile, on_cancel stopped this timer, so this does not run; had it
   run, corun_wake would return CORUN_ESTALE and drop the values. */
static void on_answer(uv_timer_t *timer) {
  Fetch *f = timer->data;
  lua_State *L = host.L;
  int rc;
  if (f->record != NULL) {
    lua_pushstring(L, f->record->value);
    rc = corun_wake(L, f->waker, 1);
  }
  else {
    lua_pushnil(L);
    lua_pushfstring(L, "not found: %s", f->key);
    rc = corun_wake(L, f->waker, 2);
  }
  if (rc != CORUN_OK)
    fprintf(stderr, "host: %s\n", corun_errmsg(L));
  uv_close((uv_handle_t *)timer, free_fetch);
}

/* The task stopped waiting: stop the work. */
static void on_cancel(corun_Waker w, void *ud) {
  Fetch *f = ud;
  (void)w;
  host.cancelled++;
  printf("host: fetch(%s) cancelled\n", f->key);
  uv_timer_stop(&f->timer);
  uv_close((uv_handle_t *)&f->timer, free_fetch);
}

/* host.fetch(key) -> value, or nil and "not found: key"; waits. */
static int l_fetch(lua_State *L) {
  const char *key = luaL_checkstring(L, 1);
  Fetch *f;
  size_t i;
  if (strlen(key) >= sizeof f->key)
    return luaL_argerror(L, 1, "key too long");
  if ((f = calloc(1, sizeof *f)) == NULL)
    return luaL_error(L, "host.fetch: not enough memory");
  strcpy(f->key, key);
  for (i = 0; i < sizeof records / sizeof records[0]; i++)
    if (strcmp(records[i].key, key) == 0)
      f->record = &records[i];
  f->waker = corun_wait_prepare(L, on_cancel, f);
  if (f->waker == 0) {  /* not called from a task */
    free(f);
    return luaL_error(L, "host.fetch: %s", corun_errmsg(L));
  }
  uv_timer_init(&host.loop, &f->timer);
  f->timer.data = f;
  uv_timer_start(&f->timer, on_answer,
                 f->record != NULL ? f->record->latency_ms : 50, 0);
  host.fetches++;
  return corun_wait(L, f->waker);
}

/* host.stats() -> ticks, fetches started, fetches cancelled */
static int l_stats(lua_State *L) {
  lua_pushinteger(L, host.ticks);
  lua_pushinteger(L, host.fetches);
  lua_pushinteger(L, host.cancelled);
  return 3;
}

static void on_tick(uv_timer_t *timer) {
  (void)timer;
  host.ticks++;
}

/* The script's task has ended: print what it returned, stop the host. */
static void on_script_done(lua_State *L, lua_Integer id, int status,
                           int nvalues, void *ud) {
  int i;
  (void)id;
  (void)ud;
  if (status == CORUN_OK) {
    printf("host: the script returned %d value%s:", nvalues,
           nvalues == 1 ? "" : "s");
    for (i = -nvalues; i < 0; i++)
      printf(" %s", luaL_tolstring(L, i, NULL)), lua_pop(L, 1);
    printf("\n");
  }
  else {
    printf("host: the script %s: %s\n",
           status == CORUN_ERROR ? "failed" : "was cancelled",
           luaL_tolstring(L, -nvalues, NULL));
    lua_pop(L, 1);
    host.exit_code = 1;
  }
  uv_close((uv_handle_t *)&host.tick, NULL);  /* the host's work is done */
}

static const luaL_Reg host_functions[] = {
  {"fetch", l_fetch},
  {"stats", l_stats},
  {NULL, NULL}
};

int main(int argc, char **argv) {
  lua_State *L;
  int i, rc;
  if (argc < 2) {
    fprintf(stderr, "usage: %s script.lua [args...]\n", argv[0]);
    return 2;
  }
  uv_loop_init(&host.loop);
  uv_timer_init(&host.loop, &host.tick);
  uv_timer_start(&host.tick, on_tick, 50, 50);

  host.L = L = luaL_newstate();
  luaL_openlibs(L);
  corun_preload(L);                     /* require "corun" */
  luaL_newlib(L, host_functions);
  lua_setglobal(L, "host");
  lua_createtable(L, argc, 0);          /* arg, as for a script */
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - 1);
  }
  lua_setglobal(L, "arg");

  if (corun_open(L, &host.loop) != CORUN_OK ||
      corun_spawn_file(L, argv[1], on_script_done, NULL, NULL) != CORUN_OK) {
    fprintf(stderr, "host: %s\n", corun_errmsg(L));
    return 1;
  }
  uv_run(&host.loop, UV_RUN_DEFAULT);   /* the host's loop, as ever */

  printf("host: %u ticks, %u fetches, %u cancelled\n", host.ticks,
         host.fetches, host.cancelled);
  if ((rc = corun_close(L)) != CORUN_OK)
    fprintf(stderr, "host: %s\n", corun_errmsg(L));
  uv_run(&host.loop, UV_RUN_NOWAIT);    /* corun's handles finish closing */
  if (uv_loop_close(&host.loop) != 0)
    fprintf(stderr, "host: handles left open on the loop\n");
  lua_close(L);
  return host.exit_code;
}
