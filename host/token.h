/*
** token.h - cancellation tokens (Tokio's CancellationToken): a flag set
** once, that wakes the tasks waiting for it, cancels the functions run
** under it, and is passed on to child tokens.
*/
#ifndef CORUN_TOKEN_H
#define CORUN_TOKEN_H

#include "task.h"

/*
** A token.  A child token is linked in its parent's list until one of them
** is cancelled or the child is collected (the child keeps its parent
** alive: the bindings hold it in a user value).  Tasks that wait on the
** token keep it alive on their stacks.
*/
typedef struct corun_Token corun_Token;
struct corun_Token {
  corun_Link waiters;     /* wait queue: tasks in cancelled() */
  corun_Link runs;        /* corun_TokenRun: tok:run calls in progress */
  corun_Link children;    /* child tokens not cancelled (their 'sibling') */
  corun_Link sibling;     /* in the parent's 'children', or unlinked */
  int cancelled;          /* set once, for good */
};

/*
** A tok:run(fn) in progress: its caller waits for the branch that runs fn
** (in the branch's joiners), and the token's cancellation aborts that
** branch.  Lives in a userdata on the caller's stack.
*/
typedef struct corun_TokenRun {
  corun_Wait wait;        /* the caller's task->wait: leaving unlinks */
  corun_Link link;        /* in the token's 'runs' */
  corun_Task *branch;     /* borrows: the branch running fn (on the
                             caller's stack while this is linked) */
} corun_TokenRun;

void corun__token_init(corun_Token *tok, corun_Token *parent);
void corun__token_cancel(corun_Token *tok);
void corun__token_gone(corun_Token *tok);
void corun__token_wait(corun_Token *tok, corun_Task *t);
void corun__token_run_wait(corun_Token *tok, corun_TokenRun *run,
                           corun_Task *caller, corun_Task *branch);
void corun__token_run_done(corun_TokenRun *run, corun_Task *caller);

#endif
