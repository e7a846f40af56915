/*
** check.h - CORUN_ASSERT: the invariants the comments state, checked in
** the builds of the project's own tests (make test and make test-asan
** compile with -DCORUN_CHECKS); in a user's build they cost nothing.
*/
#ifndef CORUN_CHECK_H
#define CORUN_CHECK_H

#ifdef CORUN_CHECKS
#include <stdio.h>
#include <stdlib.h>
#define CORUN_ASSERT(cond) \
  ((cond) ? (void)0 : corun__assert_failed(#cond, __FILE__, __LINE__))
/* Report a broken invariant on stderr and abort. */
static inline void corun__assert_failed(const char *what, const char *file,
                                        int line) {
  fprintf(stderr, "corun: %s:%d: invariant broken: %s\n", file, line, what);
  fflush(stderr);
  abort();
}
#else
#define CORUN_ASSERT(cond) ((void)0)
#endif

#endif
