/*
** timer.c - deadlines for waiting tasks.
**
** One libuv timer serves the whole runtime: it is armed for the earliest
** deadline of a binary heap of task records.  Each record knows its slot
** (heap_index), so removal is O(log n).  When the libuv timer fires, the
** expired tasks are first taken off the heap and only then woken, so a
** woken task may set a new deadline at once.  Removing the earliest
** deadline does not re-arm the libuv timer: when it fires early, it finds
** nothing expired and re-arms for what is then first.
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

/* Arm the libuv timer for the earliest deadline (or stop it). */
static void arm(corun_Runtime *rt) {
  uint64_t now, first, ms;
  if (rt->nheap == 0 || rt->heap[0]->deadline == CORUN_FOREVER) {
    uv_timer_stop(&rt->timer);
    return;
  }
  uv_update_time(rt->loop);
  now = uv_hrtime();
  first = rt->heap[0]->deadline;
  ms = first > now ? (first - now + 999999) / 1000000 : 0;
  uv_timer_start(&rt->timer, on_timer, ms, 0);
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
  corun__timer_expire(rt, uv_hrtime());
  arm(rt);
}

int corun__timer_init(corun_Runtime *rt) {
  int rc = uv_timer_init(rt->loop, &rt->timer);
  if (rc == 0) {
    rt->timer.data = rt;
    rt->handles++;
  }
  return rc;
}

/*
** Give task 't' a deadline (uv_hrtime() nanoseconds).  Returns 0, or
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
  t->heap_index = CORUN_NO_TIMER;
  if (i != --rt->nheap) {
    heap_set(rt, i, rt->heap[rt->nheap]);  /* the last fills the hole */
    if (i > 0 && earlier(rt->heap[i], rt->heap[(i - 1) / 2]))
      sift_up(rt, i);
    else
      sift_down(rt, i);
  }
  if (rt->nheap == 0)
    uv_timer_stop(&rt->timer);
}

/* The deadline 'seconds' from now; huge waits never end. */
uint64_t corun__timer_deadline(double seconds) {
  uint64_t now = uv_hrtime();
  double ns = seconds * 1e9;
  if (!(ns < (double)(CORUN_FOREVER - now)))
    return CORUN_FOREVER;
  return now + (uint64_t)ns;
}
