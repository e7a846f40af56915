/*
** timer.h - deadlines: one libuv timer armed for the earliest of a heap
** of task records ordered by (deadline, sequence), so that equal deadlines
** fire in the order they were set.
*/
#ifndef CORUN_TIMER_H
#define CORUN_TIMER_H

#include <stdint.h>
#include "runtime.h"

#define CORUN_FOREVER UINT64_MAX  /* a deadline that never comes */

int corun__timer_init(corun_Runtime *rt);
int corun__timer_add(corun_Runtime *rt, corun_Task *t, uint64_t deadline);
void corun__timer_remove(corun_Runtime *rt, corun_Task *t);
uint64_t corun__timer_deadline(double seconds);
void corun__timer_expire(corun_Runtime *rt, uint64_t now);

#endif
