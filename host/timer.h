/*
** timer.h - the runtime's clock and its deadlines.
**
** One function reads the time, corun__clock_now: real time (libuv's
** monotonic uv_hrtime plus an offset), or, while the clock is paused (the
** test clock, corun.clock), a value that moves only when told to or when
** nothing else can happen.  Every deadline (sleep, timeout, interval) is
** on this clock, in nanoseconds.
**
** Deadlines wait in a heap of task records ordered by (deadline,
** sequence), so that equal deadlines fire in the order they were set; on
** the real clock one libuv timer is armed for the earliest.
**
** Paused clock: while no task is ready and no I/O operation is in progress
** (clock_holds is 0), the loop jumps the clock to the earliest deadline
** before it would poll (auto-advance); corun.clock.advance moves it by a
** given amount, firing the deadlines in order.
*/
#ifndef CORUN_TIMER_H
#define CORUN_TIMER_H

#include <stdint.h>
#include "runtime.h"

#define CORUN_FOREVER UINT64_MAX  /* a deadline that never comes */

/* The runtime's time now, in nanoseconds. */
static inline uint64_t corun__clock_now(const corun_Runtime *rt) {
  return rt->clock_paused ? rt->clock_frozen
                          : uv_hrtime() + (uint64_t)rt->clock_offset;
}

int corun__timer_init(corun_Runtime *rt);
void corun__timer_close(corun_Runtime *rt, uv_close_cb cb);
int corun__timer_add(corun_Runtime *rt, corun_Task *t, uint64_t deadline);
void corun__timer_remove(corun_Runtime *rt, corun_Task *t);
uint64_t corun__timer_deadline(const corun_Runtime *rt, double seconds);
void corun__timer_expire(corun_Runtime *rt, uint64_t now);
void corun__timer_disarm(corun_Runtime *rt);

void corun__clock_pause(corun_Runtime *rt);
void corun__clock_resume(corun_Runtime *rt);
int corun__clock_fire_next(corun_Runtime *rt, uint64_t target);
void corun__clock_hold(corun_Runtime *rt);
void corun__clock_unhold(corun_Runtime *rt);

#endif
