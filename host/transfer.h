/*
** transfer.h - every value that crosses a task boundary goes through here.
**
** A crossing is one act of handing values to another task (a spawn call,
** a task's results, its error value): begin, push each value, commit.
** Within one crossing, tables, functions and upvalue cells that appear
** twice are copied once, so the copy keeps the shape of the original.
** What each kind of value becomes is the table in API.md (Ownership).
*/
#ifndef CORUN_TRANSFER_H
#define CORUN_TRANSFER_H

#include <lua.h>
#include "runtime.h"

#define CORUN_TRANSFER_MAXDEPTH 200  /* nesting limit of one crossing */
#define CORUN_TRANSFER_MAXPATH 16    /* path steps kept for messages */

/* One step of the path from a root value to where the walk is. */
typedef struct corun_PathStep {
  int key;                /* stack index of a table key, or 0 */
  const char *upvalue;    /* or the name of an upvalue, or NULL */
  const char *part;       /* or the words for a part of a userdata */
} corun_PathStep;

typedef struct corun_Crossing {
  const char *site;       /* who crosses, for messages: "corun.spawn" */
  const char *direction;  /* "into a task" or "out of a task" */
  const char *what;       /* root of the value being pushed: "argument",
                             "result", or NULL for the spawned function */
  int index;              /* number of that argument or result */
  lua_Integer target;     /* id of the receiving task (0: none) */
  lua_Integer source;     /* id of the (root) task handing the values
                             over, the only one that may move what it
                             owns (0: none, outside every task) */
  int map;                /* stack index of the identity map */
  int depth;              /* current nesting of tables and functions */
  int classify;           /* current nesting of a classification of
                             functions (plain_fn) */
  int assumed;            /* a classification assumed a function in a
                             cycle was plain: its result is not kept */
  int share_only;         /* the copy will be handed out again and again
                             (broadcast, watch): what moves is refused */
  const void *globals;    /* the global table */
  corun_State *st;        /* borrows: for the set of module values */
  corun_PathStep path[CORUN_TRANSFER_MAXPATH];  /* where the walk is */
} corun_Crossing;

int corun__transfer_needed(lua_State *L, int first, int n);
int corun__transfer_plain_fn(lua_State *L, int idx, corun_State *st,
                             const void *globals);
void corun__transfer_watch_loaded(lua_State *L, corun_State *st);
void corun__transfer_begin(lua_State *L, corun_Crossing *c, corun_State *st,
                           const char *site, const char *direction,
                           lua_Integer target);
void corun__transfer_push(lua_State *L, int idx, corun_Crossing *c);
void corun__transfer_push_fn(lua_State *L, int idx, corun_Crossing *c);
void corun__transfer_commit(lua_State *L, corun_Crossing *c, int task);
/* What the light crossing found, for its commit: the class of each of
   the first CORUN_LIGHT_MAX values (NULL: not one of corun's), so that
   the commit does not look them up again. */
#define CORUN_LIGHT_MAX 8
typedef struct corun_Light {
  const corun_Class *cls[CORUN_LIGHT_MAX];
} corun_Light;

int corun__transfer_light(lua_State *L, int first, int n, corun_Runtime *rt,
                          corun_Light *seen);
void corun__transfer_light_commit(lua_State *L, int first, int n, int ud,
                                  corun_Task *t, const corun_Light *seen);

#endif
