/*
** refs.c - task references to a shared object (refs.h).
**
** Each reference is a small record in two lists: its task's owned list
** (so that the task's end releases it, whatever the end) and the object's
** list (so that the object's collection can drop every reference before
** its memory goes).  A task holds at most one reference per object.
*/
#include <stdlib.h>
#include "refs.h"

typedef struct Ref {
  corun_Resource res;     /* in the holding task's owned list */
  corun_Link in_refs;     /* in the object's list */
  corun_Refs *refs;       /* borrows: the object drops every reference
                             (corun__refs_gone) before it can be freed */
  corun_Task *task;       /* borrows: the holding task (a root), valid
                             while this is in its owned list */
} Ref;

void corun__refs_init(corun_Refs *r, void (*last)(corun_Refs *r)) {
  corun__link_init(&r->list);
  r->count = 0;
  r->gone = 0;
  r->last = last;
}

static void ref_free(Ref *ref) {
  corun__link_remove(&ref->res.link);
  corun__link_remove(&ref->in_refs);
  free(ref);
}

/* One reference fewer: tell the object when it was the last. */
static void ref_gone(corun_Refs *r) {
  if (--r->count == 0 && r->last != NULL)
    r->last(r);
}

/* The holding task ended. */
static void ref_release(lua_State *L, corun_Resource *res) {
  Ref *ref = corun__container_of(res, Ref, res);
  corun_Refs *r = ref->refs;
  (void)L;
  ref_free(ref);
  ref_gone(r);
}

/* The reference of task 't' (a root) in 'r', or NULL.  The task's owned
   list and the object's list are walked side by side: the shorter one
   settles it. */
static Ref *find(corun_Refs *r, corun_Task *t) {
  corun_Link *a = t->owned.next, *b = r->list.next;
  while (a != &t->owned && b != &r->list) {
    corun_Resource *res = corun__container_of(a, corun_Resource, link);
    Ref *ref = corun__container_of(b, Ref, in_refs);
    if (res->release == ref_release &&
        corun__container_of(res, Ref, res)->refs == r)
      return corun__container_of(res, Ref, res);
    if (ref->task == t)
      return ref;
    a = a->next;
    b = b->next;
  }
  return NULL;
}

/* Task 't' holds the object: it gets a reference, unless it has one (or
   the object was collected).  Returns 0, or -1 without memory. */
int corun__refs_take(corun_Refs *r, corun_Task *t) {
  Ref *ref;
  t = corun__task_root(t);
  if (r->gone || find(r, t) != NULL)
    return 0;
  ref = malloc(sizeof *ref);
  if (ref == NULL)
    return -1;
  corun__link_init(&ref->res.link);
  ref->res.release = ref_release;
  ref->refs = r;
  ref->task = t;
  corun__link_append(&r->list, &ref->in_refs);
  r->count++;
  corun__task_own(t, &ref->res);
  return 0;
}

/* Task 't' lets go of its reference, if it holds one (tx:close()). */
void corun__refs_drop(corun_Refs *r, corun_Task *t) {
  Ref *ref = find(r, corun__task_root(t));
  if (ref != NULL) {
    ref_free(ref);
    ref_gone(r);
  }
}

/* The object was collected: every reference goes, and no new one is
   made. */
void corun__refs_gone(corun_Refs *r) {
  corun_Link *l;
  r->gone = 1;
  if (r->count == 0)
    return;
  while ((l = corun__link_first(&r->list)) != NULL)
    ref_free(corun__container_of(l, Ref, in_refs));
  r->count = 0;
  if (r->last != NULL)
    r->last(r);
}
