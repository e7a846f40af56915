/*
** embed_api.c - the embedding API (host/corun.h) at its edges, for
** spec/embed_spec.lua: each scenario named on the command line prints
** what happened, a line per fact.
**
**   embed_api <scenario>
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <uv.h>
#include "corun.h"

static uv_loop_t loop;
static lua_State *app;   /* the state whose callbacks wake tasks */

static void say(lua_State *L, const char *what, int code) {
  printf("%s: %d %s\n", what, code, code == CORUN_OK ? "" : corun_errmsg(L));
}

static lua_State *new_state(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  corun_preload(L);
  return L;
}

/* Run Lua text in L (outside any task); print its error if any. */
static void lua_do(lua_State *L, const char *code) {
  if (luaL_dostring(L, code) != LUA_OK) {
    printf("lua error: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

/* A done callback that prints the status and the first value. */
static void print_done(lua_State *L, lua_Integer id, int status, int n,
                       void *ud) {
  printf("done %s: status %d, %d values, first %s\n", (const char *)ud,
         status, n, n > 0 ? luaL_tolstring(L, -n, NULL) : "-");
  if (n > 0)
    lua_pop(L, 1);
  (void)id;
}

/* ------------------------------------------------ native functions */

typedef struct Req {
  uv_timer_t timer;
  corun_Waker waker;
  int mode;               /* 0 value, 1 error, 2 keep running on cancel */
  int cancelled;
} Req;

static void req_free(uv_handle_t *h) { free(h->data); }

static void req_fire(uv_timer_t *t) {
  Req *r = t->data;
  int rc;
  if (r->mode == 1) {
    lua_pushliteral(app, "the host says no");
    rc = corun_wake_error(app, r->waker);
  }
  else {
    lua_pushliteral(app, "answer");
    lua_pushinteger(app, 42);
    rc = corun_wake(app, r->waker, 2);
  }
  if (r->cancelled || rc != CORUN_OK)
    say(app, "late wake", rc);
  else {
    lua_pushliteral(app, "again");
    say(app, "second wake", corun_wake(app, r->waker, 1));
  }
  uv_close((uv_handle_t *)t, req_free);
}

static void req_cancel(corun_Waker w, void *ud) {
  Req *r = ud;
  (void)w;
  printf("cancel callback (mode %d)\n", r->mode);
  r->cancelled = 1;
  if (r->mode != 2) {
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, req_free);
  }
}

/* wait(ms, mode): waits ms, then answers "answer", 42 (mode 0) or
   raises (mode 1); mode 2: the host ignores cancellation and wakes late. */
static int l_wait(lua_State *L) {
  lua_Integer ms = luaL_checkinteger(L, 1);
  int mode = (int)luaL_optinteger(L, 2, 0);
  Req *r = calloc(1, sizeof *r);
  r->mode = mode;
  r->waker = corun_wait_prepare(L, req_cancel, r);
  if (r->waker == 0) {
    free(r);
    return luaL_error(L, "wait: %s", corun_errmsg(L));
  }
  uv_timer_init(&loop, &r->timer);
  r->timer.data = r;
  uv_timer_start(&r->timer, req_fire, (uint64_t)ms, 0);
  return corun_wait(L, r->waker);
}

static void say_abandoned(corun_Waker w, void *ud) {
  (void)w;
  printf("abandoned: %s\n", (const char *)ud);
}

/* native(ms): as wait(ms), and checks that a second prepare replaces the
   first (abandoned: its cancel callback runs, its waker is stale) and
   that a wake before the task waits is refused. */
static int l_native(lua_State *L) {
  lua_Integer ms = luaL_checkinteger(L, 1);
  Req *r;
  corun_Waker first = corun_wait_prepare(L, say_abandoned, "first"), w;
  if (first == 0)
    return luaL_error(L, "native: %s", corun_errmsg(L));
  w = corun_wait_prepare(L, NULL, NULL);
  lua_pushinteger(app, 0);
  say(app, "wake the replaced waker", corun_wake(app, first, 1));
  lua_pushinteger(app, 0);
  say(app, "wake before wait", corun_wake(app, w, 1));
  r = calloc(1, sizeof *r);
  r->waker = w;
  uv_timer_init(&loop, &r->timer);
  r->timer.data = r;
  uv_timer_start(&r->timer, req_fire, (uint64_t)ms, 0);
  return corun_wait(L, w);
}

/* described(ms): as wait(ms), described to corun.tasks() by the host;
   describing it once it is over is refused. */
static int l_described(lua_State *L) {
  lua_Integer ms = luaL_checkinteger(L, 1);
  Req *r = calloc(1, sizeof *r);
  r->waker = corun_wait_prepare(L, req_cancel, r);
  if (r->waker == 0) {
    free(r);
    return luaL_error(L, "described: %s", corun_errmsg(L));
  }
  say(L, "describe", corun_wait_describe(L, r->waker, "the host's request"));
  uv_timer_init(&loop, &r->timer);
  r->timer.data = r;
  uv_timer_start(&r->timer, req_fire, (uint64_t)ms, 0);
  return corun_wait(L, r->waker);
}

/* stale_describe(): corun_wait_describe of a waker whose wait is over. */
static int l_stale_describe(lua_State *L) {
  corun_Waker w = corun_wait_prepare(L, NULL, NULL);
  lua_pushinteger(app, 0);
  corun_wake(app, w, 1);  /* refused: not waiting yet; prepare again */
  corun_wait_prepare(L, NULL, NULL);  /* abandons w */
  say(L, "describe a stale waker", corun_wait_describe(L, w, "x"));
  return 0;
}

/* prepare_and_raise(): prepares a wait, then raises (the wait is never
   used: its cancel callback runs when the task ends or prepares again). */
static int l_prepare_and_raise(lua_State *L) {
  if (corun_wait_prepare(L, say_abandoned, "raised") == 0)
    return luaL_error(L, "prepare_and_raise: %s", corun_errmsg(L));
  return luaL_error(L, "raised after preparing");
}

/* try_close(): corun_close from inside a task. */
static int l_try_close(lua_State *L) {
  say(L, "close inside a task", corun_close(L));
  say(L, "step inside a task", corun_step(L, CORUN_STEP_READY));
  return 0;
}

static void register_natives(lua_State *L) {
  lua_register(L, "native", l_native);
  lua_register(L, "wait", l_wait);
  lua_register(L, "try_close", l_try_close);
  lua_register(L, "prepare_and_raise", l_prepare_and_raise);
  lua_register(L, "described", l_described);
  lua_register(L, "stale_describe", l_stale_describe);
}

static void run_loop(void) { uv_run(&loop, UV_RUN_DEFAULT); }

static void finish(lua_State *L) {
  say(L, "close", corun_close(L));
  uv_run(&loop, UV_RUN_NOWAIT);
  printf("loop close: %d\n", uv_loop_close(&loop));
  lua_close(L);
}

/* ------------------------------------------------------ scenarios */

static void errors(void) {
  lua_State *L = app = new_state();
  lua_Integer id = 0;
  uv_loop_init(&loop);
  say(L, "close without runtime", corun_close(L));
  say(L, "step without runtime", corun_step(L, CORUN_STEP_READY));
  lua_pushinteger(L, 1);
  say(L, "wake without runtime", corun_wake(L, 99, 1));
  printf("stack after: %d\n", lua_gettop(L));
  say(L, "abort without runtime", corun_abort(L, 1));
  printf("pending without runtime: %zu\n", corun_pending(L));
  say(L, "open", corun_open(L, &loop));
  say(L, "open again", corun_open(L, &loop));
  lua_pushinteger(L, 7);
  say(L, "spawn a number", corun_spawn(L, 0, NULL, NULL, NULL));
  printf("stack after: %d\n", lua_gettop(L));
  say(L, "spawn bad chunk", corun_spawn_chunk(L, "return +", 8, "=bad",
                                              NULL, NULL, &id));
  say(L, "spawn missing file", corun_spawn_file(L, "/nonexistent/x.lua",
                                                NULL, NULL, &id));
  lua_pushliteral(L, "host value A");
  lua_pushliteral(L, "host value B");
  say(L, "abort unknown task", corun_abort(L, 12345));
  printf("stack after abort: %d, top %s\n", lua_gettop(L),
         lua_tostring(L, -1));
  lua_settop(L, 0);
  lua_pushinteger(L, 1);
  say(L, "wake bogus waker", corun_wake(L, 0x500000001ull, 1));
  say(L, "step bad mode", corun_step(L, 9));
  register_natives(L);
  lua_do(L, "native(1)");      /* outside a task */
  lua_do(L, "local ok, e = pcall(native, 1) print('pcall:', ok, e)");
  finish(L);
  L = new_state();
  say(L, "close twice (fresh state)", corun_close(L));
  lua_close(L);
}

static void owned_loop(void) {
  lua_State *L = new_state();
  const char *chunk = "local corun = require 'corun' corun.sleep(0.05) "
                      "return 42, 'x'";
  lua_Integer id = 0;
  int steps = 0;
  say(L, "open own loop", corun_open(L, NULL));
  printf("has a loop: %d\n", corun_loop(L) != NULL);
  say(L, "spawn", corun_spawn_chunk(L, chunk, strlen(chunk), "=chunk",
                                    print_done, "sleeper", &id));
  printf("id %lld, pending %zu\n", (long long)id, corun_pending(L));
  while (corun_pending(L) > 0 && steps < 1000) {
    corun_step(L, CORUN_STEP_ONCE);
    steps++;
  }
  printf("pending %zu after stepping\n", corun_pending(L));
  say(L, "step all", corun_step(L, CORUN_STEP_ALL));
  say(L, "close", corun_close(L));
  say(L, "close again", corun_close(L));
  lua_do(L, "print('the state still works', 1 + 1)");
  lua_close(L);
}

static void step_ready(void) {
  lua_State *L = new_state();
  const char *chunk = "local corun = require 'corun' "
                      "local h = corun.spawn(function() return 5 end) "
                      "corun.yield_now() return select(2, h:await()) * 2";
  uv_loop_init(&loop);
  say(L, "open", corun_open(L, &loop));
  corun_spawn_chunk(L, chunk, strlen(chunk), "=chunk", print_done, "ready",
                    NULL);
  say(L, "step ready", corun_step(L, CORUN_STEP_READY));
  printf("pending %zu without running the loop\n", corun_pending(L));
  finish(L);
}

static void native(void) {
  lua_State *L = app = new_state();
  const char *chunk =
    "local corun = require 'corun'\n"
    "print('native:', native(30))\n"
    "print('wait:', wait(30))\n"
    "print('raise:', pcall(wait, 10, 1))\n"
    "print('timeout:', corun.timeout(0.03, wait, 5000))\n"
    "print('late:', corun.timeout(0.03, wait, 80, 2))\n"
    "print('raised:', pcall(prepare_and_raise))\n"
    "corun.sleep(0.01)  -- a wait of another kind meanwhile\n"
    "print('after:', pcall(prepare_and_raise))\n"
    "corun.sleep(0.1)  -- the late wake happens meanwhile\n"
    "try_close()\n"
    "return 'end'";
  uv_loop_init(&loop);
  say(L, "open", corun_open(L, &loop));
  register_natives(L);
  corun_spawn_chunk(L, chunk, strlen(chunk), "=chunk", print_done, "native",
                    NULL);
  run_loop();
  finish(L);
}

static void describe(void) {
  lua_State *L = app = new_state();
  const char *chunk =
    "local corun = require 'corun'\n"
    "local h = corun.spawn(described, 50)\n"
    "local u = corun.spawn(wait, 50)\n"
    "corun.sleep(0.01)\n"
    "for _, t in ipairs(corun.tasks()) do\n"
    "  print(t.id, t.state, t.waiting_on)\n"
    "end\n"
    "h:await(); u:await()\n"
    "stale_describe()\n"
    "return 'end'";
  uv_loop_init(&loop);
  say(L, "open", corun_open(L, &loop));
  register_natives(L);
  corun_spawn_chunk(L, chunk, strlen(chunk), "=chunk", print_done,
                    "describe", NULL);
  run_loop();
  finish(L);
}

static void two_runtimes(void) {
  lua_State *A = new_state(), *B = new_state();
  const char *chunk = "local corun = require 'corun' corun.sleep(0.02) "
                      "return corun.task_id()";
  uv_loop_init(&loop);
  say(A, "open A", corun_open(A, &loop));
  say(B, "open B", corun_open(B, &loop));
  corun_spawn_chunk(A, chunk, strlen(chunk), "=a", print_done, "A", NULL);
  corun_spawn_chunk(B, chunk, strlen(chunk), "=b", print_done, "B", NULL);
  corun_spawn_chunk(B, chunk, strlen(chunk), "=b", print_done, "B", NULL);
  run_loop();
  say(A, "close A", corun_close(A));
  say(B, "close B", corun_close(B));
  uv_run(&loop, UV_RUN_NOWAIT);
  printf("loop close: %d\n", uv_loop_close(&loop));
  lua_close(A);
  lua_close(B);
}

static void on_after(uv_timer_t *t) {
  printf("the loop still runs after close\n");
  uv_close((uv_handle_t *)t, NULL);
}

/* A done callback that tries to step and close the runtime (refused:
   it runs inside corun_close). */
static void done_reenters(lua_State *L, lua_Integer id, int status, int n,
                          void *ud) {
  lua_State *S = ud;
  (void)L; (void)id; (void)n;
  printf("done with status %d\n", status);
  say(S, "close from a done callback", corun_close(S));
  say(S, "step from a done callback", corun_step(S, CORUN_STEP_READY));
  lua_pushcfunction(S, luaopen_base);
  say(S, "spawn from a done callback", corun_spawn(S, 0, NULL, NULL, NULL));
}

static void close_cancels(void) {
  lua_State *L = app = new_state();
  const char *waiter =
    "local corun = require 'corun'\n"
    "local guard <close> = setmetatable({}, {__close = function()\n"
    "  print('close handler ran') end})\n"
    "return wait(60000)";
  const char *sleeper = "require('corun').sleep(60) return 1";
  const char *again = "return 'reopened'";
  uv_timer_t after;
  uv_loop_init(&loop);
  say(L, "open", corun_open(L, &loop));
  register_natives(L);
  corun_spawn_chunk(L, waiter, strlen(waiter), "=w", print_done, "waiter",
                    NULL);
  corun_spawn_chunk(L, sleeper, strlen(sleeper), "=s", print_done,
                    "sleeper", NULL);
  corun_spawn_chunk(L, sleeper, strlen(sleeper), "=s2", done_reenters, L,
                    NULL);
  corun_step(L, CORUN_STEP_READY);
  printf("pending %zu\n", corun_pending(L));
  say(L, "close", corun_close(L));
  uv_timer_init(&loop, &after);
  uv_timer_start(&after, on_after, 10, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  lua_do(L, "print('the state still works')");
  say(L, "open again", corun_open(L, &loop));
  corun_spawn_chunk(L, again, strlen(again), "=r", print_done, "again",
                    NULL);
  run_loop();
  finish(L);
}

static void on_abort_timer(uv_timer_t *t) {
  lua_Integer *id = t->data;
  say(app, "abort", corun_abort(app, *id));
  say(app, "abort again", corun_abort(app, *id));
  uv_close((uv_handle_t *)t, NULL);
}

static void failures(void) {
  lua_State *L = app = new_state();
  const char *raiser = "error('boom')";
  const char *sleeper = "require('corun').sleep(60) return 1";
  lua_Integer id = 0;
  uv_timer_t t;
  uv_loop_init(&loop);
  say(L, "open", corun_open(L, &loop));
  corun_spawn_chunk(L, raiser, strlen(raiser), "=raiser", print_done,
                    "raiser", NULL);
  corun_spawn_chunk(L, sleeper, strlen(sleeper), "=sleeper", print_done,
                    "aborted", &id);
  uv_timer_init(&loop, &t);
  t.data = &id;
  uv_timer_start(&t, on_abort_timer, 20, 0);
  run_loop();
  corun_spawn_chunk(L, raiser, strlen(raiser), "=detached", NULL, NULL,
                    NULL);
  run_loop();
  finish(L);
}

int main(int argc, char **argv) {
  static const struct { const char *name; void (*fn)(void); } all[] = {
    {"errors", errors}, {"owned-loop", owned_loop},
    {"step-ready", step_ready}, {"native", native},
    {"two-runtimes", two_runtimes}, {"close-cancels", close_cancels},
    {"failures", failures}, {"describe", describe},
  };
  size_t i;
  setvbuf(stdout, NULL, _IONBF, 0);
  for (i = 0; argc > 1 && i < sizeof all / sizeof all[0]; i++)
    if (strcmp(argv[1], all[i].name) == 0) {
      all[i].fn();
      return 0;
    }
  fprintf(stderr, "usage: embed_api <scenario>\n");
  return 2;
}
