/*
** token.c - cancellation tokens.
**
** Cancelling a token sets its flag, wakes every task in cancelled(),
** aborts the branches of the tok:run calls in progress (each ends
** cancelled at once if it waits, else at its next wait, and its caller
** then returns false, "cancelled"), and cancels its children the same way,
** and theirs: a walk over a work list, so that a deep chain of child
** tokens does not deepen the C stack.  None of it runs Lua code.
*/
#include "token.h"
#include "sched.h"

/* A child of a token that is not cancelled joins its parent's list; the
   child of a cancelled token is cancelled from the start. */
void corun__token_init(corun_Token *tok, corun_Token *parent) {
  corun__link_init(&tok->waiters);
  corun__link_init(&tok->runs);
  corun__link_init(&tok->children);
  corun__link_init(&tok->sibling);
  tok->cancelled = parent != NULL && parent->cancelled;
  if (parent != NULL && !tok->cancelled)
    corun__link_append(&parent->children, &tok->sibling);
}

/* Cancel 'tok' alone: its children move to 'pending' for the caller. */
static void cancel_one(corun_Token *tok, corun_Link *pending) {
  corun_Link *l;
  corun__link_remove(&tok->sibling);  /* its parent need not reach it */
  if (tok->cancelled)
    return;
  tok->cancelled = 1;
  while ((l = corun__link_first(&tok->children)) != NULL) {
    corun__link_remove(l);
    corun__link_append(pending, l);
  }
  while ((l = corun__link_first(&tok->waiters)) != NULL)
    corun__sched_wake(corun__container_of(l, corun_Task, link),
                      CORUN_WAKE_SIGNAL);  /* takes it off the queue */
  for (l = tok->runs.next; l != &tok->runs; l = l->next)
    corun__task_abort(corun__container_of(l, corun_TokenRun,
                                          link)->branch);
}

/* tok:cancel(): 'tok' and its descendants are cancelled (once). */
void corun__token_cancel(corun_Token *tok) {
  corun_Link pending, *l;
  corun__link_init(&pending);
  cancel_one(tok, &pending);
  while ((l = corun__link_first(&pending)) != NULL)
    cancel_one(corun__container_of(l, corun_Token, sibling), &pending);
}

/* The token is being collected (nobody waits on it: a waiting task keeps
   it alive), or its __gc was called by hand: its parent lets go of it, and
   will not cancel it any more. */
void corun__token_gone(corun_Token *tok) {
  corun__link_remove(&tok->sibling);
}

/* tok:cancelled() on a token not cancelled: 't' waits until it is. */
void corun__token_wait(corun_Token *tok, corun_Task *t) {
  corun__sched_block(t, &tok->waiters);
}

/* The caller of a tok:run leaves its wait before the branch ended
   (cancelled, or ending): the run is over. */
static void run_leave(corun_Task *t, corun_Wait *w) {
  (void)t;
  corun__link_remove(&corun__container_of(w, corun_TokenRun, wait)->link);
}

/* tok:run, whose branch has not ended, on a token not cancelled: 'caller'
   waits for the 'branch', which the token's cancellation aborts. */
void corun__token_run_wait(corun_Token *tok, corun_TokenRun *run,
                           corun_Task *caller, corun_Task *branch) {
  CORUN_ASSERT(!tok->cancelled && caller->wait == NULL);
  run->wait.leave = run_leave;
  run->wait.describe = NULL;
  run->branch = branch;
  corun__link_append(&tok->runs, &run->link);
  corun__sched_block(caller, &branch->joiners);
  caller->wait = &run->wait;
}

/* In the continuation of tok:run: the branch has ended; the run is
   over. */
void corun__token_run_done(corun_TokenRun *run, corun_Task *caller) {
  caller->wait = NULL;
  corun__link_remove(&run->link);
}
