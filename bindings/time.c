/*
** time.c - corun.sleep, sleep_until, now, timeout, interval and the test
** clock (corun.clock).  Every time here is the runtime's clock
** (corun__clock_now, timer.h).
*/
#include <math.h>
#include <lauxlib.h>
#include "../host/sched.h"
#include "../host/timer.h"
#include "corunL.h"

typedef struct Interval {
  uint64_t period;        /* nanoseconds */
  uint64_t next;          /* deadline of the next tick, or 0 before the first */
} Interval;

/* The time now on the clock of L's runtime (outside one: real time). */
static uint64_t now_of(lua_State *L) {
  corun_Runtime *rt = corunL_state(L)->rt;
  return rt != NULL ? corun__clock_now(rt) : uv_hrtime();
}

/* Wait until 'deadline' (clock ns); a deadline already past yields. */
static int wait_until(lua_State *L, corun_Task *self, uint64_t deadline,
                      lua_KFunction k) {
  if (deadline <= corun__clock_now(self->rt))
    corun__sched_ready(self->rt, self, CORUN_WAKE_SIGNAL);
  else if (corun__timer_add(self->rt, self, deadline) != 0)
    return luaL_error(L, "corun: not enough memory for a timer");
  return corun__sched_wait(L, 0, k);
}

static int l_sleep(lua_State *L) {
  corun_Task *self = corunL_waiter(L, "corun.sleep");
  double s = corunL_checkseconds(L, "corun.sleep", 1);
  return wait_until(L, self, s == 0 ? 0 : corun__timer_deadline(self->rt, s),
                    corunL_done);
}

/* The first clock tick (ns) at which corun.now() is 'at' or later. */
static uint64_t deadline_at(double at) {
  uint64_t d;
  if (at <= 0)
    return 0;
  if (at >= 1.8e10)
    return CORUN_FOREVER;
  d = (uint64_t)ceil(at * 1e9);
  while ((lua_Number)d / 1e9 < at)  /* the rounding of the division */
    d++;
  return d;
}

static int l_sleep_until(lua_State *L) {
  corun_Task *self = corunL_waiter(L, "corun.sleep_until");
  double at;
  if (lua_type(L, 1) != LUA_TNUMBER)
    return corunL_typeerror(L, "corun.sleep_until", 1, "number");
  at = lua_tonumber(L, 1);
  if (at != at)
    return corunL_error(L, "corun.sleep_until", "bad argument #1 (NaN)");
  return wait_until(L, self, deadline_at(at), corunL_done);
}

static int l_now(lua_State *L) {
  lua_pushnumber(L, (lua_Number)now_of(L) / 1e9);
  return 1;
}

/* The branch at index 1 has ended: return what timeout returns. */
static int timeout_outcome(lua_State *L, corun_Task *b) {
  if (b->outcome == CORUN_OUTCOME_PANIC) {  /* errors of fn propagate */
    lua_getiuservalue(L, 1, 1);
    return lua_error(L);
  }
  if (b->outcome == CORUN_OUTCOME_CANCELLED) {
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "deadline has elapsed");
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1 + corun__task_push_results(L, 1, b);
}

static int k_timeout(lua_State *L, int status, lua_KContext ctx) {
  corun_Task *b = lua_touserdata(L, 1);
  corun_Task *self = corunL_state(L)->rt->current;
  (void)status; (void)ctx;
  if (self->wake == CORUN_WAKE_TIMER)
    corun__task_cancel(L, b);  /* no-op if it ended at the same moment */
  return timeout_outcome(L, b);
}

/*
** corun.timeout(seconds, fn, ...): fn runs at once, as a branch of the
** calling task (same id, values not copied); if it waits, the caller waits
** for it with a deadline, and cancels it when the deadline passes first.
*/
static int l_timeout(lua_State *L) {
  corun_Task *self = corunL_waiter(L, "corun.timeout");
  double s = corunL_checkseconds(L, "corun.timeout", 1);
  uint64_t deadline = corun__timer_deadline(self->rt, s);
  corun_Task *b;
  corunL_checkfunction(L, "corun.timeout", 2);
  b = corun__task_new(self->rt, L, 2, lua_gettop(L) - 2, self,
                      CORUN_TASK_BRANCH, "corun.timeout");
  lua_replace(L, 1);
  lua_settop(L, 1);  /* branch */
  corun__link_remove(&b->link);  /* not queued: it runs now */
  corun__sched_step(self->rt, b, L);
  if (b->state == CORUN_TASK_DONE)
    return timeout_outcome(L, b);
  corun__sched_block(self, &b->joiners);
  if (corun__timer_add(self->rt, self, deadline) != 0) {
    corun__sched_unwait(self);
    corun__task_cancel(L, b);
    return luaL_error(L, "corun: not enough memory for a timer");
  }
  return corun__sched_wait(L, 0, k_timeout);
}

static Interval *check_interval(lua_State *L, const char *fname) {
  return corunL_checkself(L, fname, "Interval");
}

/* The interval's period from the number at index 1: positive and finite;
   periods beyond the clock's range (about 584 years) never tick again. */
static uint64_t check_period(lua_State *L) {
  double s;
  if (lua_type(L, 1) != LUA_TNUMBER)
    corunL_typeerror(L, "corun.interval", 1, "number");
  s = (double)lua_tonumber(L, 1);
  if (s != s)
    corunL_error(L, "corun.interval", "bad argument #1 (period is NaN)");
  if (!(s > 0))
    corunL_error(L, "corun.interval", "bad argument #1 (period must be "
                 "positive, got %f)", (LUAI_UACNUMBER)s);
  if (s == HUGE_VAL)
    corunL_error(L, "corun.interval", "bad argument #1 (period must be "
                 "finite, got inf)");
  if (s * 1e9 >= 1.8e19)
    return CORUN_FOREVER;
  return s * 1e9 < 1 ? 1 : (uint64_t)(s * 1e9);
}

static int l_interval(lua_State *L) {
  uint64_t period = check_period(L);
  Interval *iv = lua_newuserdatauv(L, sizeof *iv, 0);
  iv->period = period;
  iv->next = 0;
  luaL_setmetatable(L, CORUN_INTERVAL);
  return 1;
}

/* 'due' plus the period, saturating at never. */
static uint64_t after(const Interval *iv, uint64_t due) {
  return due >= CORUN_FOREVER - iv->period ? CORUN_FOREVER
                                            : due + iv->period;
}

static int tick_step(lua_State *L, corun_Task *self);

/* The tick's deadline came (a cancelled wait never gets here, so it
   leaves the schedule as it was): take the tick, unless a reset or
   another tick of the same interval moved the schedule meanwhile. */
static int k_tick(lua_State *L, int status, lua_KContext ctx) {
  Interval *iv = lua_touserdata(L, 1);
  uint64_t due = (uint64_t)lua_tointeger(L, 2);
  (void)status; (void)ctx;
  if (iv->next != due) {
    lua_settop(L, 1);
    return tick_step(L, corunL_state(L)->rt->current);
  }
  iv->next = after(iv, due);
  lua_pushnumber(L, (lua_Number)due / 1e9);
  return 1;
}

/* The stack holds the interval alone: take the tick that is due, or wait
   for the next one. */
static int tick_step(lua_State *L, corun_Task *self) {
  Interval *iv = lua_touserdata(L, 1);
  uint64_t now = corun__clock_now(self->rt), due = iv->next == 0 ? now
                                                                 : iv->next;
  if (due <= now) {  /* due (or missed: burst): at once, no yield */
    iv->next = after(iv, due);
    lua_pushnumber(L, (lua_Number)due / 1e9);
    return 1;
  }
  lua_pushinteger(L, (lua_Integer)due);
  if (corun__timer_add(self->rt, self, due) != 0)
    return luaL_error(L, "corun: not enough memory for a timer");
  return corun__sched_wait(L, 0, k_tick);
}

/* iv:tick(): wait for the next tick (the first is immediate); returns its
   scheduled time on corun.now()'s clock.  Missed ticks fire at once, one
   per call, as with Tokio's default (Burst).  Cancel-safe: a wait that is
   cancelled takes no tick. */
static int iv_tick(lua_State *L) {
  corun_Task *self;
  check_interval(L, "Interval:tick");
  self = corunL_waiter(L, "Interval:tick");
  lua_settop(L, 1);
  return tick_step(L, self);
}

/* iv:reset(): the next tick comes one period from now. */
static int iv_reset(lua_State *L) {
  Interval *iv = check_interval(L, "Interval:reset");
  iv->next = after(iv, now_of(L));
  return 0;
}

static int iv_period(lua_State *L) {
  Interval *iv = check_interval(L, "Interval:period");
  lua_pushnumber(L, (lua_Number)iv->period / 1e9);
  return 1;
}

static int iv_tostring(lua_State *L) {
  Interval *iv = check_interval(L, "Interval:__tostring");
  lua_pushfstring(L, "corun.Interval (%f s)",
                  (LUAI_UACNUMBER)iv->period / 1e9);
  return 1;
}

/* ------------------------------------------------------- corun.clock */

static int l_clock_pause(lua_State *L) {
  corun__clock_pause(corunL_task(L, "corun.clock.pause")->rt);
  return 0;
}

static int l_clock_resume(lua_State *L) {
  corun__clock_resume(corunL_task(L, "corun.clock.resume")->rt);
  return 0;
}

static int l_clock_is_paused(lua_State *L) {
  corun_Runtime *rt = corunL_state(L)->rt;
  lua_pushboolean(L, rt != NULL && rt->clock_paused);
  return 1;
}

/* Yields per instant of corun.clock.advance, at most, for the tasks its
   timers woke (and those they wake) to run to their next wait. */
#define ADVANCE_ROUNDS 100

/*
** corun.clock.advance's loop; the stack holds: seconds, target (clock ns),
** yields left at this instant.  While other tasks are ready, let them run;
** then fire the deadlines of the next instant up to the target, or end
** there.
*/
static int k_advance(lua_State *L, int status, lua_KContext ctx) {
  corun_Runtime *rt = corunL_state(L)->rt;
  lua_Integer rounds = lua_tointeger(L, 3);
  (void)status; (void)ctx;
  if (rounds > 0 && corun__link_linked(&rt->ready))
    rounds--;
  else if (rt->clock_paused &&
           corun__clock_fire_next(rt, (uint64_t)lua_tointeger(L, 2)))
    rounds = ADVANCE_ROUNDS;
  else
    return 0;
  lua_pushinteger(L, rounds);
  lua_replace(L, 3);
  corun__sched_ready(rt, rt->current, CORUN_WAKE_SIGNAL);
  return corun__sched_wait(L, 0, k_advance);
}

/* corun.clock.advance(s): move the paused clock forward by exactly 's',
   firing the deadlines due meanwhile in order; returns once the tasks
   they woke have run. */
static int l_clock_advance(lua_State *L) {
  corun_Task *self = corunL_waiter(L, "corun.clock.advance");
  double s = corunL_checkseconds(L, "corun.clock.advance", 1);
  uint64_t now = self->rt->clock_frozen, ns;
  if (!self->rt->clock_paused)
    return corunL_error(L, "corun.clock.advance", "the clock is not paused "
                        "(call corun.clock.pause first)");
  ns = s * 1e9 < (double)(CORUN_FOREVER - 1 - now)
       ? (uint64_t)(s * 1e9) : CORUN_FOREVER - 1 - now;
  lua_settop(L, 1);
  lua_pushinteger(L, (lua_Integer)(now + ns));
  lua_pushinteger(L, 0);
  return k_advance(L, LUA_OK, 0);
}

static const luaL_Reg clock_functions[] = {
  {"pause", l_clock_pause},
  {"resume", l_clock_resume},
  {"is_paused", l_clock_is_paused},
  {"advance", l_clock_advance},
  {NULL, NULL}
};

static const luaL_Reg functions[] = {
  {"sleep", l_sleep},
  {"sleep_until", l_sleep_until},
  {"now", l_now},
  {"timeout", l_timeout},
  {"interval", l_interval},
  {NULL, NULL}
};

static const luaL_Reg interval_methods[] = {
  {"tick", iv_tick},
  {"reset", iv_reset},
  {"period", iv_period},
  {NULL, NULL}
};

static const luaL_Reg interval_meta[] = {
  {"__tostring", iv_tostring},
  {NULL, NULL}
};

void corunL_open_time(lua_State *L) {
  corun__state(L);
  corunL_newclass(L, CORUN_INTERVAL, interval_methods, interval_meta);
  lua_pop(L, 1);
  luaL_setfuncs(L, functions, 1);
  lua_createtable(L, 0, 4);
  corun__state(L);
  luaL_setfuncs(L, clock_functions, 1);
  lua_setfield(L, -2, "clock");
}
