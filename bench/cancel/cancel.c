/*
** cancel.c - the cost of cancelling many waiting tasks at once (issue 13):
** 100 000 tasks parked in a native wait (corun_wait_prepare, what every
** I/O wait of corun is) against 100 000 sleepers, cancelled by
** corun_close, in the same run.  Prints nanoseconds per task of each and
** their ratio (target: native <= 2x sleepers).
**
**   build/bench/cancel [N] [repetitions]
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <uv.h>
#include "corun.h"

static void on_cancel(corun_Waker w, void *ud) {
  (void)w;
  (*(long *)ud)++;
}

static long cancelled;

/* wait_forever(): parks the task in a native wait nobody wakes. */
static int wait_forever(lua_State *L) {
  corun_Waker w = corun_wait_prepare(L, on_cancel, &cancelled);
  if (w == 0)
    return luaL_error(L, "%s", corun_errmsg(L));
  return corun_wait(L, w);
}

static double seconds(void) {
  return (double)uv_hrtime() / 1e9;
}

/* Spawn n tasks running 'chunk', let them all park, then time the close
   that cancels them.  Returns seconds. */
static double cancel_all(const char *chunk, long n) {
  lua_State *L = luaL_newstate();
  uv_loop_t loop;
  double t0, t;
  long i;
  luaL_openlibs(L);
  corun_preload(L);
  lua_pushcfunction(L, wait_forever);
  lua_setglobal(L, "wait_forever");
  uv_loop_init(&loop);
  if (corun_open(L, &loop) != CORUN_OK) {
    fprintf(stderr, "cancel: %s\n", corun_errmsg(L));
    exit(1);
  }
  for (i = 0; i < n; i++)
    if (corun_spawn_chunk(L, chunk, strlen(chunk), "=task", NULL, NULL,
                          NULL) != CORUN_OK) {
      fprintf(stderr, "cancel: %s\n", corun_errmsg(L));
      exit(1);
    }
  corun_step(L, CORUN_STEP_READY);  /* every task runs and parks */
  if (corun_pending(L) != (size_t)n) {
    fprintf(stderr, "cancel: %zu tasks parked, not %ld\n", corun_pending(L),
            n);
    exit(1);
  }
  t0 = seconds();
  corun_close(L);
  t = seconds() - t0;
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  lua_close(L);
  return t;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 100000;
  int reps = argc > 2 ? atoi(argv[2]) : 5, r;
  double *sleep = calloc((size_t)reps, sizeof *sleep);
  double *native = calloc((size_t)reps, sizeof *native);
  for (r = 0; r < reps; r++) {  /* alternate, to share the machine's mood */
    sleep[r] = cancel_all("require('corun').sleep(1e9)", n);
    cancelled = 0;
    native[r] = cancel_all("wait_forever()", n);
    if (cancelled != n) {
      fprintf(stderr, "cancel: %ld cancel callbacks, not %ld\n", cancelled,
              n);
      return 1;
    }
  }
  qsort(sleep, (size_t)reps, sizeof *sleep, by_value);
  qsort(native, (size_t)reps, sizeof *native, by_value);
  printf("cancel-all of %ld tasks (median of %d): sleepers %.0f ns/task, "
         "native waits %.0f ns/task, ratio %.2f (target <= 2)\n", n, reps,
         sleep[reps / 2] * 1e9 / (double)n, native[reps / 2] * 1e9 / (double)n,
         native[reps / 2] / sleep[reps / 2]);
  free(sleep);
  free(native);
  return 0;
}
