/*
** timer.c - the runtime's clock and the deadlines of waiting tasks (see
** timer.h).
**
** On the real clock, one libuv timer serves the whole runtime: it is armed
** for the earliest deadline of a binary heap of task records.  Each record
** knows its slot (heap_index), so removal is O(log n).  When the libuv
** timer fires, the expired tasks are first taken off the heap and only
** then woken, so a woken task may set a new deadline at once.  Removing
** the earliest deadline does not re-arm the libuv timer: when it fires
** early, it finds nothing expired and re-arms for what is then first.
**
** On a paused clock the libuv timer is stopped; a prepare handle, active
** while a deadline is pending, makes the clock jump to the earliest
** deadline just before the loop would poll, when no task is ready and no
** I/O operation holds the clock.
*/
#include <math.h>
#include <stdlib.h>
#include "timer.h"
#include "sched.h"

static int earlier(const corun_Task *a, const corun_Task *b) {
  return a->deadline < b->deadline ||
         (a->deadline == b->deadline && (int32_t)(a->seq - b->seq) < 0);
}

static void heap_set(corun_Runtime *rt, uint32_t i, corun_Task *t) {
  CORUN_ASSERT(i < rt->nheap);
  rt->heap[i] = t;
  t->heap_index = i;
}

static void sift_up(corun_Runtime *rt, uint32_t i) {
  corun_Task *t = rt->heap[i];
  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (!earlier(t, rt->heap[parent]))
      break;
    heap_set(rt, i, rt->heap[parent]);
    i = parent;
  }
  heap_set(rt, i, t);
}

static void sift_down(corun_Runtime *rt, uint32_t i) {
  corun_Task *t = rt->heap[i];
  for (;;) {
    uint32_t child = 2 * i + 1;
    if (child >= rt->nheap)
      break;
    if (child + 1 < rt->nheap && earlier(rt->heap[child + 1], rt->heap[child]))
      child++;
    if (!earlier(rt->heap[child], t))
      break;
    heap_set(rt, i, rt->heap[child]);
    i = child;
  }
  heap_set(rt, i, t);
}

static void on_timer(uv_timer_t *handle);
static void on_prepare(uv_prepare_t *handle);

/* The earliest deadline, or CORUN_FOREVER. */
static uint64_t first_deadline(const corun_Runtime *rt) {
  return rt->nheap > 0 ? rt->heap[0]->deadline : CORUN_FOREVER;
}

static void prep_set(corun_Runtime *rt, int on) {
  if (on == rt->clock_prep_on)
    return;
  rt->clock_prep_on = on;
  if (on)
    uv_prepare_start(&rt->clock_prep, on_prepare);
  else
    uv_prepare_stop(&rt->clock_prep);
}

/* Arm for the earliest deadline: the libuv timer on the real clock, the
   auto-advance on a paused one (or stop both when nothing is pending). */
static void arm(corun_Runtime *rt) {
  uint64_t now, first = first_deadline(rt), ms;
  if (first == CORUN_FOREVER || rt->clock_paused) {
    uv_timer_stop(&rt->timer);
    prep_set(rt, first != CORUN_FOREVER);
    return;
  }
  prep_set(rt, 0);
  uv_update_time(rt->loop);
  now = corun__clock_now(rt);
  ms = first > now ? (first - now + 999999) / 1000000 : 0;
  uv_timer_start(&rt->timer, on_timer, ms, 0);
}

/* Stop waiting for deadlines (there are none left, or the runtime ends). */
void corun__timer_disarm(corun_Runtime *rt) {
  uv_timer_stop(&rt->timer);
  prep_set(rt, 0);
}

/* Wake every task whose deadline is 'now' or earlier, and re-arm. */
void corun__timer_expire(corun_Runtime *rt, uint64_t now) {
  if (rt->nheap == 0 || rt->heap[0]->deadline > now)
    return;
  while (rt->nheap > 0 && rt->heap[0]->deadline <= now)
    corun__sched_wake(rt->heap[0], CORUN_WAKE_TIMER);  /* takes it off */
  arm(rt);
}

static void on_timer(uv_timer_t *handle) {
  corun_Runtime *rt = handle->data;
  corun__timer_expire(rt, corun__clock_now(rt));
  arm(rt);
}

/* Paused clock, before the loop polls: if nothing else can happen, the
   time jumps to the earliest deadline (auto-advance). */
static void on_prepare(uv_prepare_t *handle) {
  corun_Runtime *rt = handle->data;
  uint64_t first = first_deadline(rt);
  if (!rt->clock_paused || rt->clock_holds > 0 ||
      corun__link_linked(&rt->ready) || first == CORUN_FOREVER)
    return;
  if (first > rt->clock_frozen)
    rt->clock_frozen = first;
  corun__timer_expire(rt, rt->clock_frozen);
}

int corun__timer_init(corun_Runtime *rt) {
  int rc = uv_timer_init(rt->loop, &rt->timer);
  if (rc != 0)
    return rc;
  rt->timer.data = rt;
  rt->handles++;
  if ((rc = uv_prepare_init(rt->loop, &rt->clock_prep)) != 0)
    return rc;
  rt->clock_prep.data = rt;
  rt->handles++;
  return 0;
}

/* Close the handles of corun__timer_init ('cb' runs for each). */
void corun__timer_close(corun_Runtime *rt, uv_close_cb cb) {
  uv_close((uv_handle_t *)&rt->timer, cb);
  uv_close((uv_handle_t *)&rt->clock_prep, cb);
}

/*
** Give task 't' a deadline (corun__clock_now nanoseconds).  Returns 0, or
** UV_ENOMEM when the heap cannot grow.
*/
int corun__timer_add(corun_Runtime *rt, corun_Task *t, uint64_t deadline) {
  if (rt->nheap == rt->heapcap) {
    uint32_t cap = rt->heapcap ? rt->heapcap * 2 : 64;
    corun_Task **heap = realloc(rt->heap, cap * sizeof *heap);
    if (heap == NULL)
      return UV_ENOMEM;
    rt->heap = heap;
    rt->heapcap = cap;
  }
  CORUN_ASSERT(t->heap_index == CORUN_NO_TIMER);  /* one deadline a task */
  t->deadline = deadline;
  t->seq = rt->timer_seq++;
  t->wake = CORUN_WAKE_NONE;
  heap_set(rt, rt->nheap++, t);
  sift_up(rt, t->heap_index);
  if (rt->heap[0] == t)
    arm(rt);
  return 0;
}

/* Take 't' off the heap, if it is there. */
void corun__timer_remove(corun_Runtime *rt, corun_Task *t) {
  uint32_t i = t->heap_index;
  if (i == CORUN_NO_TIMER)
    return;
  CORUN_ASSERT(i < rt->nheap && rt->heap[i] == t);  /* it knows its slot */
  t->heap_index = CORUN_NO_TIMER;
  if (i != --rt->nheap) {
    heap_set(rt, i, rt->heap[rt->nheap]);  /* the last fills the hole */
    if (i > 0 && earlier(rt->heap[i], rt->heap[(i - 1) / 2]))
      sift_up(rt, i);
    else
      sift_down(rt, i);
  }
  if (rt->nheap == 0)
    corun__timer_disarm(rt);
}

/* The deadline 'seconds' from now; huge waits never end. */
uint64_t corun__timer_deadline(const corun_Runtime *rt, double seconds) {
  uint64_t now = corun__clock_now(rt);
  double ns = seconds * 1e9;
  if (!(ns < (double)(CORUN_FOREVER - now)))
    return CORUN_FOREVER;
  return now + (uint64_t)ns;
}

/* ------------------------------------------------------ test clock */

/* Freeze the clock at its current value (no-op if it is paused). */
void corun__clock_pause(corun_Runtime *rt) {
  if (rt->clock_paused)
    return;
  rt->clock_frozen = corun__clock_now(rt);
  rt->clock_paused = 1;
  arm(rt);
}

/* Back to real time, continuing from the paused value (no-op if it runs):
   the clock stays monotonic. */
void corun__clock_resume(corun_Runtime *rt) {
  if (!rt->clock_paused)
    return;
  rt->clock_offset = (int64_t)(rt->clock_frozen - uv_hrtime());
  rt->clock_paused = 0;
  arm(rt);
}

/*
** One step of corun.clock.advance towards 'target': if a deadline is due
** by then, move the paused clock to the earliest and wake the tasks due at
** that instant; returns 1.  Else move it to 'target' and return 0.
*/
int corun__clock_fire_next(corun_Runtime *rt, uint64_t target) {
  uint64_t first = first_deadline(rt);
  if (first > target) {
    if (target > rt->clock_frozen)
      rt->clock_frozen = target;
    return 0;
  }
  if (first > rt->clock_frozen)
    rt->clock_frozen = first;
  corun__timer_expire(rt, rt->clock_frozen);
  return 1;
}

/* A wait on the outside world begins: a paused clock stands still. */
void corun__clock_hold(corun_Runtime *rt) {
  rt->clock_holds++;
}

/* It ended. */
void corun__clock_unhold(corun_Runtime *rt) {
  rt->clock_holds--;
}
