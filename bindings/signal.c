/*
** signal.c - corun.signal.wait (the waits are io/signal.c's), and the
** table of signal names that process:kill shares (corunL_checksignal).
*/
#include <signal.h>
#include <string.h>
#include <lauxlib.h>
#include "corunio.h"
#include "../io/signal.h"

/* ------------------------------------------------------------ names */

typedef struct SignalName {
  const char *name;       /* "SIGTERM" */
  int num;                /* SIGTERM */
  int catchable;          /* corun.signal.wait may wait for it */
} SignalName;

/* The signals a script may name.  Those that cannot be caught, or whose
   handler could not return (faults), are for kill only, as in Tokio. */
static const SignalName names[] = {
  {"SIGHUP", SIGHUP, 1}, {"SIGINT", SIGINT, 1}, {"SIGQUIT", SIGQUIT, 1},
  {"SIGILL", SIGILL, 0}, {"SIGTRAP", SIGTRAP, 1}, {"SIGABRT", SIGABRT, 1},
  {"SIGBUS", SIGBUS, 0}, {"SIGFPE", SIGFPE, 0}, {"SIGKILL", SIGKILL, 0},
  {"SIGUSR1", SIGUSR1, 1}, {"SIGSEGV", SIGSEGV, 0},
  {"SIGUSR2", SIGUSR2, 1}, {"SIGPIPE", SIGPIPE, 1},
  {"SIGALRM", SIGALRM, 1}, {"SIGTERM", SIGTERM, 1},
  {"SIGCHLD", SIGCHLD, 1}, {"SIGCONT", SIGCONT, 1},
  {"SIGSTOP", SIGSTOP, 0}, {"SIGTSTP", SIGTSTP, 1},
  {"SIGTTIN", SIGTTIN, 1}, {"SIGTTOU", SIGTTOU, 1}, {"SIGURG", SIGURG, 1},
  {"SIGXCPU", SIGXCPU, 1}, {"SIGXFSZ", SIGXFSZ, 1},
  {"SIGVTALRM", SIGVTALRM, 1}, {"SIGPROF", SIGPROF, 1},
  {"SIGWINCH", SIGWINCH, 1}, {"SIGSYS", SIGSYS, 1},
#ifdef SIGIO
  {"SIGIO", SIGIO, 1},
#endif
#ifdef SIGPWR
  {"SIGPWR", SIGPWR, 1},
#endif
  {NULL, 0, 0}
};

/* The entry named by the string at 'arg'; raises if there is none. */
static const SignalName *check_name(lua_State *L, const char *fname,
                                    int arg) {
  const char *s;
  int i;
  if (lua_type(L, arg) != LUA_TSTRING)
    corunL_typeerror(L, fname, arg, "signal name");
  s = lua_tostring(L, arg);
  for (i = 0; names[i].name != NULL; i++)
    if (strcmp(names[i].name, s) == 0)
      return &names[i];
  corunL_error(L, fname, "bad argument #%d (unknown signal '%s')", arg, s);
  return NULL;
}

int corunL_checksignal(lua_State *L, const char *fname, int arg) {
  return check_name(L, fname, arg)->num;
}

/* ------------------------------------------------------------- wait */

/* corun.signal.wait(name) -> name, once that signal arrives. */
static int l_wait(lua_State *L) {
  static const char fname[] = "corun.signal.wait";
  const SignalName *sig = check_name(L, fname, 1);
  corun_Task *self;
  if (!sig->catchable)
    return corunL_error(L, fname, "bad argument #1 (%s cannot be waited "
                        "for)", sig->name);
  self = corunL_waiter(L, fname);
  return corun__signal_wait(L, fname, self, sig->num, sig->name);
}

/* -------------------------------------------------------------- open */

static const luaL_Reg signal_functions[] = {
  {"wait", l_wait}, {NULL, NULL}
};

void corunL_open_signal(lua_State *L) {
  corun__state(L);                  /* module state */
  lua_newtable(L);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, signal_functions, 1);
  lua_setfield(L, -3, "signal");
  lua_pop(L, 1);
}
