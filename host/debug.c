/*
** debug.c - seeing inside a runtime: its live tasks, what each waits on,
** where its function comes from and where it is suspended (corun.tasks,
** corun.dump, the deadlock error, SIGQUIT in the executable).
**
** Nothing here costs a task anything until it is asked for: no record is
** kept per spawn or per wait.  Everything is read, on demand, from what
** the runtime keeps anyway:
**   - the live tasks: the runtime's task table (runtime.h);
**   - the state: the task record (a suspended task that was woken is
**     "ready", one that was not is "waiting");
**   - waiting_on: the wait's own description when the one who parked the
**     task gave one (corun_Wait.describe: a host's native wait), else the
**     function the task is suspended in (the C function that yielded, its
**     name as the calling code gives it) and its first argument (the
**     object it waits on: a JoinHandle says "await task N", an object of
**     corun's classes its __tostring, a string is shown as it is, e.g. a
**     path), plus the time left when the task is also on the timers;
**   - spawned_at: where the task's function was defined ("file:line"),
**     from the function itself (user value 1, or the bottom frame of the
**     task's coroutine once user value 1 holds the coroutine).  Where
**     spawn was called would cost every spawn a lua_getinfo: measured at
**     +190 to +310 instructions on W1's 4 025 (bench/README.md);
**   - traceback: luaL_traceback of the suspended coroutine (the innermost
**     user coroutine the wait passed through, then the task's own).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "debug.h"
#include "timer.h"

static int by_id(const void *a, const void *b) {
  lua_Integer x = (*(corun_Task *const *)a)->id;
  lua_Integer y = (*(corun_Task *const *)b)->id;
  return x < y ? -1 : x > y;
}

/* The live tasks of 'rt' (not branches), in order of id, in a userdata
   array pushed on L (it keeps nothing alive: live tasks are anchored). */
static corun_Task **collect(lua_State *L, corun_Runtime *rt, int *n) {
  corun_Task **list = lua_newuserdatauv(L, (rt->live + 1) * sizeof *list, 0);
  *n = 0;
  lua_pushvalue(rt->A, CORUN_ANCHOR_TASKS);
  lua_xmove(rt->A, L, 1);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    corun_Task *t = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (t != NULL && t->state != CORUN_TASK_DONE &&
        !(t->flags & CORUN_TASK_BRANCH) && (size_t)*n < rt->live)
      list[(*n)++] = t;
  }
  lua_pop(L, 1);
  qsort(list, (size_t)*n, sizeof *list, by_id);
  return list;
}

/* Is 't' running: resumed now, itself or through one of its branches? */
static int is_running(corun_Runtime *rt, corun_Task *t) {
  return rt->current != NULL && corun__task_root(rt->current) == t;
}

static const char *state_name(corun_Runtime *rt, corun_Task *t) {
  if (is_running(rt, t))
    return "running";
  switch (t->state) {
    case CORUN_TASK_NEW: return "new";
    case CORUN_TASK_SUSPENDED:
      return t->wake == CORUN_WAKE_NONE ? "waiting" : "ready";
    default: return "running";
  }
}

/* In protected mode: the __tostring of the value at 1. */
static int tostring_protected(lua_State *L) {
  luaL_tolstring(L, 1, NULL);
  return 1;
}

/*
** Push what suspended task 't' waits on, as the function it waits in
** sees it: "name", "name <string argument>", "name on <corun object>" or
** "await task N".
*/
static void push_from_frame(lua_State *L, corun_Runtime *rt, lua_State *co) {
  lua_Debug ar;
  const char *fname = "wait";
  int base = lua_gettop(L), self = base + 1;
  if (lua_getstack(co, 0, &ar) && lua_getinfo(co, "n", &ar) &&
      ar.name != NULL)
    fname = ar.name;
  lua_pushstring(L, fname);  /* base + 1, until the end */
  if (!lua_checkstack(co, 2) || !lua_getstack(co, 0, &ar) ||
      lua_getlocal(co, &ar, 1) == NULL)
    return;  /* no argument: the name alone */
  lua_xmove(co, L, 1);  /* its first argument */
  self = base + 2;
  if (lua_type(L, self) == LUA_TSTRING) {
    lua_pushfstring(L, "%s %s", fname, lua_tostring(L, self));
  }
  else if (lua_type(L, self) == LUA_TUSERDATA && lua_getmetatable(L, self)) {
    int is_task;
    lua_pushvalue(rt->A, CORUN_ANCHOR_META);
    lua_pushvalue(rt->A, CORUN_ANCHOR_PANIC);
    lua_xmove(rt->A, L, 2);  /* L: ... self mt meta panic */
    is_task = lua_rawequal(L, -3, -2) || lua_rawequal(L, -3, -1);
    lua_settop(L, self);
    if (is_task && (((corun_Task *)lua_touserdata(L, self))->flags &
                    CORUN_TASK_BRANCH))
      lua_pushstring(L, fname);  /* a branch it runs: part of the task */
    else if (is_task) {
      corun_Task *other = lua_touserdata(L, self);
      if (corun__task_push_name(L, self, other))
        lua_pushfstring(L, "%s task %I (%s)", fname,
                        (LUAI_UACINT)other->id, lua_tostring(L, -1));
      else
        lua_pushfstring(L, "%s task %I", fname, (LUAI_UACINT)other->id);
    }
    else if (luaL_getmetafield(L, self, "__name") == LUA_TSTRING &&
             strncmp(lua_tostring(L, -1), "corun.", 6) == 0) {
      /* one of corun's classes: its __tostring is C and says what it is */
      lua_pushcfunction(L, tostring_protected);
      lua_pushvalue(L, self);
      if (lua_pcall(L, 1, 1, 0) != LUA_OK)
        lua_pushvalue(L, self + 1);  /* its class name */
      lua_pushfstring(L, "%s on %s", fname, lua_tostring(L, -1));
    }
    else
      lua_pushstring(L, fname);
  }
  else
    lua_pushstring(L, fname);
  lua_replace(L, base + 1);
  lua_settop(L, base + 1);
}

/* Push the time left before deadline 'd' in seconds, to the millisecond
   ("0.4", "12", "forever"). */
static void push_left(lua_State *L, corun_Runtime *rt, uint64_t d) {
  uint64_t now = corun__clock_now(rt);
  char buf[32];
  if (d == CORUN_FOREVER) {
    lua_pushliteral(L, "forever");
    return;
  }
  snprintf(buf, sizeof buf, "%.3f", d > now ? (double)(d - now) / 1e9 : 0.0);
  {  /* no trailing zeros */
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '0')
      buf[--n] = '\0';
    if (buf[n - 1] == '.')
      buf[n - 1] = '\0';
  }
  lua_pushfstring(L, "%s s left", buf);
}

/* Push what live task 't' waits on, or nil if it does not wait. */
static void push_waiting_on(lua_State *L, corun_Runtime *rt, corun_Task *t) {
  if (t->state != CORUN_TASK_SUSPENDED || t->wake != CORUN_WAKE_NONE ||
      is_running(rt, t)) {
    lua_pushnil(L);
    return;
  }
  if (t->wait == NULL || t->wait->describe == NULL ||
      !t->wait->describe(L, t, t->wait))
    push_from_frame(L, rt, corun__task_inner(t));
  if (t->heap_index != CORUN_NO_TIMER) {
    lua_pushliteral(L, " (");
    push_left(L, rt, t->deadline);
    lua_pushliteral(L, ")");
    lua_concat(L, 4);
  }
}

/* Push "file:line" of where the function at the top of L, or of the
   bottom frame of 'co' if 'co' is given, was defined ("[C]" for a C
   function); nothing is left but that string. */
static void push_defined(lua_State *L, lua_State *co) {
  lua_Debug ar;
  if (co != NULL) {
    int level = 0;
    while (lua_getstack(co, level + 1, &ar))
      level++;
    if (!lua_getstack(co, level, &ar) || !lua_getinfo(co, "S", &ar)) {
      lua_pushliteral(L, "?");
      return;
    }
  }
  else if (lua_type(L, -1) != LUA_TFUNCTION) {
    lua_pop(L, 1);
    lua_pushliteral(L, "?");
    return;
  }
  else
    lua_getinfo(L, ">S", &ar);  /* pops the function */
  if (ar.what[0] == 'C')
    lua_pushliteral(L, "[C]");
  else
    lua_pushfstring(L, "%s:%d", ar.short_src, ar.linedefined);
}

/* Push spawned_at of live task 't' (userdata at 'ud'). */
static void push_spawned_at(lua_State *L, corun_Task *t, int ud) {
  if (t->flags & CORUN_TASK_OWNCO) {  /* user value 1 is its coroutine */
    push_defined(L, t->co);
    return;
  }
  lua_getiuservalue(L, ud, 1);
  push_defined(L, NULL);
}

/* Push the traceback of suspended task 't', or nil. */
static void push_traceback(lua_State *L, corun_Runtime *rt, corun_Task *t) {
  lua_State *co;
  if (t->state != CORUN_TASK_SUSPENDED || t->co == NULL ||
      is_running(rt, t)) {
    lua_pushnil(L);
    return;
  }
  co = corun__task_inner(t);
  luaL_traceback(L, co, NULL, 0);
  if (co != t->co) {  /* then the task's own coroutine, below it */
    luaL_traceback(L, t->co, NULL, 0);
    lua_pushliteral(L, "\n");
    lua_insert(L, -2);
    lua_concat(L, 3);
  }
}

/* Push the description table of live task 't'. */
static void push_info(lua_State *L, corun_Runtime *rt, corun_Task *t) {
  int ud;
  luaL_checkstack(L, 8, NULL);
  corun__task_push(L, t);
  ud = lua_gettop(L);
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, t->id);
  lua_setfield(L, -2, "id");
  if (corun__task_push_name(L, ud, t))
    lua_setfield(L, -2, "name");
  lua_pushstring(L, state_name(rt, t));
  lua_setfield(L, -2, "state");
  push_waiting_on(L, rt, t);
  lua_setfield(L, -2, "waiting_on");
  push_spawned_at(L, t, ud);
  lua_setfield(L, -2, "spawned_at");
  push_traceback(L, rt, t);
  lua_setfield(L, -2, "traceback");
  lua_remove(L, ud);
}

/* corun.tasks(): push an array with one table per live task, by id. */
void corun__debug_push_tasks(lua_State *L, corun_Runtime *rt) {
  int i, n;
  corun_Task **list = collect(L, rt, &n);
  lua_createtable(L, n, 0);
  for (i = 0; i < n; i++) {
    push_info(L, rt, list[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_remove(L, -2);
}

/* Replace the info table of a task on top of L by its line in a dump,
   "task 7 (name): waiting on X, spawned at f:3" or "task 8: ready, ...",
   followed by its traceback, indented, if 'tracebacks'. */
static void push_line(lua_State *L, int tracebacks) {
  int info = lua_gettop(L);
  luaL_checkstack(L, 12, NULL);
  lua_getfield(L, info, "id");
  lua_getfield(L, info, "name");
  lua_getfield(L, info, "state");
  lua_getfield(L, info, "waiting_on");
  lua_getfield(L, info, "spawned_at");
  lua_getfield(L, info, "traceback");
  if (lua_isstring(L, info + 2))
    lua_pushfstring(L, "task %s (%s): ", lua_tostring(L, info + 1),
                    lua_tostring(L, info + 2));
  else
    lua_pushfstring(L, "task %s: ", lua_tostring(L, info + 1));
  if (lua_isstring(L, info + 4))
    lua_pushfstring(L, "waiting on %s", lua_tostring(L, info + 4));
  else
    lua_pushstring(L, lua_tostring(L, info + 3));
  lua_pushfstring(L, ", spawned at %s\n", lua_tostring(L, info + 5));
  lua_concat(L, 3);
  if (tracebacks && lua_isstring(L, info + 6)) {
    luaL_gsub(L, lua_tostring(L, info + 6), "\n", "\n  ");
    lua_pushfstring(L, "  %s\n", lua_tostring(L, -1));
    lua_remove(L, -2);
    lua_concat(L, 2);
  }
  lua_replace(L, info);
  lua_settop(L, info);
}

/*
** Push the text of a dump: a first line "corun: N live tasks", then a line
** per task (push_line) and its traceback; without 'tracebacks', only the
** lines of the tasks (the deadlock error).
*/
void corun__debug_push_dump(lua_State *L, corun_Runtime *rt,
                            int tracebacks) {
  int i, n, tab;
  corun__debug_push_tasks(L, rt);
  tab = lua_gettop(L);
  n = (int)lua_rawlen(L, tab);
  if (tracebacks)
    lua_pushfstring(L, "corun: %d live task%s\n", n, n == 1 ? "" : "s");
  else
    lua_pushliteral(L, "");
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, tab, i);
    push_line(L, tracebacks);
    lua_concat(L, 2);
  }
  lua_remove(L, tab);
}

static int dump_protected(lua_State *L) {
  corun__debug_push_dump(L, lua_touserdata(L, 1), 1);
  return 1;
}

void corun__debug_dump_stderr(corun_Runtime *rt) {
  lua_State *S = rt->S;
  int top = lua_gettop(S);
  lua_pushcfunction(S, dump_protected);
  lua_pushlightuserdata(S, rt);
  if (lua_pcall(S, 1, 1, 0) == LUA_OK) {
    size_t len;
    const char *text = lua_tolstring(S, -1, &len);
    fwrite(text, 1, len, stderr);
  }
  else
    fprintf(stderr, "corun: cannot dump the tasks: %s\n",
            lua_isstring(S, -1) ? lua_tostring(S, -1) : "(no message)");
  fflush(stderr);
  lua_settop(S, top);
}
