/*
** transfer.h - every value that crosses a task boundary goes through here.
*/
#ifndef CORUN_TRANSFER_H
#define CORUN_TRANSFER_H

#include <lua.h>

#define CORUN_TRANSFER_MAXDEPTH 200  /* nesting limit of one crossing */
#define CORUN_TRANSFER_MAXPATH 8     /* path components kept for messages */

/* One crossing: where the values go and how to name them in errors. */
typedef struct corun_Crossing {
  const char *site;       /* who crosses, for messages: "corun.spawn" */
  const char *direction;  /* "into a task" or "out of a task" */
  const char *what;       /* "argument" or "result" */
  int index;              /* number of the argument or result */
  int visited;            /* stack index of the identity map, or 0 */
  int depth;              /* current table nesting */
  int keys[CORUN_TRANSFER_MAXPATH];  /* stack indices of the keys walked */
} corun_Crossing;

void corun__transfer_push(lua_State *L, int idx, corun_Crossing *c);
int corun__transfer_needed(lua_State *L, int first, int n);

#endif
