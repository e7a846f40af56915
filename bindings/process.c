/*
** process.c - corun.process: spawn (corun.Process, whose pipes are
** corun.Stream objects) and run, over io/process.c: the checks of the
** command, its arguments and the option table (into a
** corun_ProcessOptions), and the methods of corun.Process.
*/
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <lauxlib.h>
#include "corunio.h"
#include "../io/process.h"

/* ------------------------------------------------------------ options */

/* Checked into a corun_ProcessOptions (io/process.h) whose strings live
   on the Lua stack, in the scratch table at 'anchor' that check_options
   pushes. */

/* A string for argv or env from the value on top (popped), anchored in
   the scratch table at 'anchor'; NULL if it is neither string nor
   number.  Raises "bad argument #arg (where contains a zero byte)". */
static const char *anchored(lua_State *L, const char *fname, int anchor,
                            int arg, const char *where) {
  size_t len;
  const char *s;
  int t = lua_type(L, -1);
  if (t != LUA_TSTRING && t != LUA_TNUMBER) {
    lua_pop(L, 1);
    return NULL;
  }
  s = lua_tolstring(L, -1, &len);
  corunL_check_nozero(L, fname, arg, where, s, len);
  lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
  return s;
}

/* A Lua-managed array of n + 1 pointers (the last NULL), anchored. */
static char **new_array(lua_State *L, int anchor, size_t n) {
  char **a = lua_newuserdatauv(L, (n + 1) * sizeof *a, 0);
  memset(a, 0, (n + 1) * sizeof *a);
  lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
  return a;
}

static void check_args(lua_State *L, const char *fname,
                       corun_ProcessOptions *o, int anchor) {
  lua_Integer i, n = 0;
  if (!lua_isnoneornil(L, 2)) {
    if (lua_type(L, 2) != LUA_TTABLE)
      corunL_typeerror(L, fname, 2, "table of arguments");
    n = (lua_Integer)lua_rawlen(L, 2);
  }
  o->argv = new_array(L, anchor, (size_t)n + 1);
  o->argv[0] = (char *)o->cmd;
  for (i = 1; i <= n; i++) {
    char where[32];
    lua_rawgeti(L, 2, i);
    snprintf(where, sizeof where, "args[%d]", (int)i);
    if ((o->argv[i] = (char *)anchored(L, fname, anchor, 2, where)) == NULL) {
      lua_rawgeti(L, 2, i);
      corunL_error(L, fname, "bad argument #2 (args[%I] must be a "
                   "string, got %s)", (LUAI_UACINT)i, luaL_typename(L, -1));
    }
  }
}

static void check_env(lua_State *L, const char *fname,
                      corun_ProcessOptions *o, int anchor, int env) {
  size_t n = 0, i = 0;
  if (lua_type(L, env) != LUA_TTABLE)
    corunL_error(L, fname, "bad argument #3 (opts.env must be a table, "
                 "got %s)", luaL_typename(L, env));
  lua_pushnil(L);
  while (lua_next(L, env)) {
    lua_pop(L, 1);
    n++;
  }
  o->env = new_array(L, anchor, n);
  lua_pushnil(L);
  while (lua_next(L, env)) {                  /* key value */
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2)
                                                   : NULL;
    if (k == NULL || k[0] == '\0' || strchr(k, '=') != NULL ||
        strlen(k) != lua_rawlen(L, -2))
      corunL_error(L, fname, "bad argument #3 (opts.env: bad variable "
                   "name %s)", k != NULL ? k : luaL_typename(L, -2));
    if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
      corunL_error(L, fname, "bad argument #3 (opts.env.%s must be a "
                   "string, got %s)", k, luaL_typename(L, -1));
    lua_pushfstring(L, "%s=", k);
    lua_insert(L, -2);
    lua_concat(L, 2);                         /* key "k=v" */
    o->env[i++] = (char *)anchored(L, fname, anchor, 3, "opts.env");
  }
}

/* The CORUN_STDIO_* named by the value at 'idx' ('what' is its place in
   the options, for the message). */
static int stdio_mode(lua_State *L, const char *fname, int idx,
                      const char *what) {
  static const char *const modes[] = {"inherit", "pipe", "null", NULL};
  static const int values[] = {CORUN_STDIO_INHERIT, CORUN_STDIO_PIPE,
                               CORUN_STDIO_NULL};
  const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx)
                                                  : NULL;
  int i;
  if (s != NULL)
    for (i = 0; modes[i] != NULL; i++)
      if (strcmp(modes[i], s) == 0)
        return values[i];
  corunL_error(L, fname, "bad argument #3 (%s must be \"pipe\", "
               "\"inherit\" or \"null\", got %s)", what,
               s != NULL ? s : luaL_typename(L, idx));
  return 0;
}

static void check_stdio(lua_State *L, const char *fname,
                        corun_ProcessOptions *o, int idx) {
  static const char *const names[] = {"stdin", "stdout", "stderr"};
  int i;
  if (lua_type(L, idx) != LUA_TTABLE) {
    o->stdio[0] = o->stdio[1] = o->stdio[2] =
      stdio_mode(L, fname, idx, "opts.stdio");
    return;
  }
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2)
                                                   : "";
    for (i = 0; i < 3 && strcmp(names[i], k) != 0; i++)
      ;
    if (i == 3)
      corunL_error(L, fname, "bad argument #3 (opts.stdio: unknown "
                   "stream '%s')", luaL_tolstring(L, -2, NULL));
    lua_pop(L, 1);
  }
  for (i = 0; i < 3; i++) {
    char what[32];
    snprintf(what, sizeof what, "opts.stdio.%s", names[i]);
    if (lua_getfield(L, idx, names[i]) != LUA_TNIL)
      o->stdio[i] = stdio_mode(L, fname, -1, what);
    lua_pop(L, 1);
  }
}

/* The boolean option 'name' of the table at index 3 into '*flag' (left
   as it is when absent). */
static void opt_boolean(lua_State *L, const char *fname, const char *name,
                        int *flag) {
  if (lua_getfield(L, 3, name) != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TBOOLEAN)
      corunL_error(L, fname, "bad argument #3 (opts.%s must be a boolean, "
                   "got %s)", name, luaL_typename(L, -1));
    *flag = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
}

/* The user or group id option 'name' of the table at index 3 (an integer
   0..2^32 - 2: -1 means "unchanged" to the system); 1 if it is given. */
static int opt_id(lua_State *L, const char *fname, const char *name,
                  lua_Integer *id) {
  int given = lua_getfield(L, 3, name) != LUA_TNIL;
  if (given) {
    if (!lua_isinteger(L, -1))
      corunL_error(L, fname, "bad argument #3 (opts.%s must be an integer, "
                   "got %s)", name, lua_type(L, -1) == LUA_TNUMBER ?
                   "float" : luaL_typename(L, -1));
    *id = lua_tointeger(L, -1);
    if (*id < 0 || *id > (lua_Integer)0xFFFFFFFE)
      corunL_error(L, fname, "bad argument #3 (opts.%s must be 0..%I, got "
                   "%I)", name, (LUAI_UACINT)0xFFFFFFFE, (LUAI_UACINT)*id);
  }
  lua_pop(L, 1);
  return given;
}

/* Check cmd, args and opts ('run': run's options) into 'o' (zeroed
   first).  Pushes the scratch table that anchors the strings o points
   to: it must stay on the stack while 'o' is used. */
static void check_options(lua_State *L, const char *fname,
                          corun_ProcessOptions *o, int run) {
  static const char *const spawn_keys[] = {"cwd", "env", "stdio",
    "kill_on_drop", "process_group", "detached", "uid", "gid", NULL};
  static const char *const run_keys[] = {"cwd", "env", "stdin",
    "process_group", "detached", "uid", "gid", NULL};
  const char *const *keys = run ? run_keys : spawn_keys;
  int anchor, i;
  size_t len;
  lua_Integer id;
  memset(o, 0, sizeof *o);
  o->cmd = corunL_checkcstring(L, fname, 1, "command", NULL);
  if (!lua_isnoneornil(L, 3) && lua_type(L, 3) != LUA_TTABLE)
    corunL_typeerror(L, fname, 3, "table of options");
  lua_settop(L, 3);
  lua_newtable(L);
  anchor = lua_gettop(L);
  check_args(L, fname, o, anchor);
  if (lua_isnil(L, 3))
    return;
  lua_pushnil(L);
  while (lua_next(L, 3)) {  /* no unknown option: a typo would be silent */
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2)
                                                   : "";
    for (i = 0; keys[i] != NULL && strcmp(keys[i], k) != 0; i++)
      ;
    if (keys[i] == NULL)
      corunL_error(L, fname, "bad argument #3 (unknown option '%s')",
                   luaL_tolstring(L, -2, NULL));
    lua_pop(L, 1);
  }
  if (lua_getfield(L, 3, "cwd") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING)
      corunL_error(L, fname, "bad argument #3 (opts.cwd must be a "
                   "string, got %s)", luaL_typename(L, -1));
    o->cwd = lua_tolstring(L, -1, &len);  /* anchored by opts */
    corunL_check_nozero(L, fname, 3, "opts.cwd", o->cwd, len);
  }
  if (lua_getfield(L, 3, "env") != LUA_TNIL)
    check_env(L, fname, o, anchor, lua_gettop(L));
  if (lua_getfield(L, 3, "stdio") != LUA_TNIL)
    check_stdio(L, fname, o, lua_gettop(L));
  opt_boolean(L, fname, "kill_on_drop", &o->kill_on_drop);
  opt_boolean(L, fname, "process_group", &o->process_group);
  opt_boolean(L, fname, "detached", &o->detached);
  if ((o->set_uid = opt_id(L, fname, "uid", &id)) != 0)
    o->uid = (uv_uid_t)id;
  if ((o->set_gid = opt_id(L, fname, "gid", &id)) != 0)
    o->gid = (uv_gid_t)id;
  if (lua_getfield(L, 3, "stdin") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING)
      corunL_error(L, fname, "bad argument #3 (opts.stdin must be a "
                   "string, got %s)", luaL_typename(L, -1));
    o->input = lua_tolstring(L, -1, &o->inlen);
    if (o->inlen > UINT_MAX)  /* one libuv buffer */
      corunL_error(L, fname, "bad argument #3 (opts.stdin longer than "
                   "%u bytes)", UINT_MAX);
  }
  lua_settop(L, anchor);
}

/* ------------------------------------------------------------- spawn */

/* corun.process.spawn(cmd, args[, opts]) -> process, or nil, err */
static int l_spawn(lua_State *L) {
  static const char fname[] = "corun.process.spawn";
  corun_ProcessOptions o;
  corun_Task *self;
  check_options(L, fname, &o, 0);
  self = corunL_task(L, fname);
  corunL_io_ready(L, fname);
  return corun__process_spawn(L, fname, self, &o);
}

/* corun.process.run(cmd, args[, opts]) -> {status, signal, stdout,
   stderr}, or nil, err */
static int l_run(lua_State *L) {
  static const char fname[] = "corun.process.run";
  corun_ProcessOptions o;
  corun_Task *self;
  check_options(L, fname, &o, 1);
  self = corunL_waiter(L, fname);
  corunL_io_ready(L, fname);
  return corun__process_run(L, fname, self, &o);
}

/* ----------------------------------------------------------- methods */

/* Methods get the process (and their own name) by this. */
static corun_Process *check(lua_State *L, const char *fname) {
  return (corun_Process *)corunL_io_check(L, fname, CORUN_PROCESS,
                                          "process");
}

/* proc.stdin, proc.stdout, proc.stderr (the process's user values 1, 2,
   3: see io/process.h), then the methods (upvalue 3; upvalue 2 is the
   class's metatable: see corunL_checkself). */
static int p_index(lua_State *L) {
  corunL_checkself(L, "process:__index", CORUN_PROCESS);
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char *k = lua_tostring(L, 2);
    if (strcmp(k, "stdin") == 0)
      return lua_getiuservalue(L, 1, 1), 1;
    if (strcmp(k, "stdout") == 0)
      return lua_getiuservalue(L, 1, 2), 1;
    if (strcmp(k, "stderr") == 0)
      return lua_getiuservalue(L, 1, 3), 1;
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(3));
  return 1;
}

/* proc:wait() -> status, signal; closes proc.stdin first (as Tokio's
   wait does), unless it was moved to another task. */
static int p_wait(lua_State *L) {
  static const char fname[] = "process:wait";
  return corun__process_wait(L, fname, check(L, fname));
}

/* proc:kill([signal[, {group = true}]]) -> true, or nil, err; SIGTERM
   by default; 'group': to the child's whole process group. */
static int p_kill(lua_State *L) {
  static const char fname[] = "process:kill";
  corun_Process *p = check(L, fname);
  int sig = SIGTERM, group = 0;
  if (!lua_isnoneornil(L, 3)) {
    if (lua_type(L, 3) != LUA_TTABLE)
      return corunL_typeerror(L, fname, 3, "table of options");
    lua_pushnil(L);
    while (lua_next(L, 3)) {
      if (lua_type(L, -2) != LUA_TSTRING ||
          strcmp(lua_tostring(L, -2), "group") != 0)
        return corunL_error(L, fname, "bad argument #3 (unknown option "
                            "'%s')", luaL_tolstring(L, -2, NULL));
      if (lua_type(L, -1) != LUA_TBOOLEAN)
        return corunL_error(L, fname, "bad argument #3 (opts.group must "
                            "be a boolean, got %s)", luaL_typename(L, -1));
      group = lua_toboolean(L, -1);
      lua_pop(L, 1);
    }
  }
  if (lua_type(L, 2) == LUA_TNUMBER) {
    lua_Integer n = lua_tointeger(L, 2);
    if (!lua_isinteger(L, 2) || n < 0 || n > 64)
      return corunL_error(L, fname, "bad argument #2 (signal number must "
                          "be an integer 0..64)");
    sig = (int)n;
  }
  else if (!lua_isnoneornil(L, 2))
    sig = corunL_checksignal(L, fname, 2);
  return corun__process_kill(L, fname, p, sig, group);
}

static int p_pid(lua_State *L) {
  lua_pushinteger(L, corun__process_pid(check(L, "process:pid")));
  return 1;
}

static int p_tostring(lua_State *L) {
  corun_Io *io = corunL_io_peek(L, "process:__tostring", CORUN_PROCESS);
  return corun__process_tostring(L, (corun_Process *)io);
}

/* -------------------------------------------------------------- open */

static const luaL_Reg process_methods[] = {
  {"wait", p_wait}, {"kill", p_kill}, {"pid", p_pid}, {NULL, NULL}
};

static const luaL_Reg process_meta[] = {
  {"__tostring", p_tostring}, {NULL, NULL}
};

static const luaL_Reg process_functions[] = {
  {"spawn", l_spawn}, {"run", l_run}, {NULL, NULL}
};

void corunL_open_process(lua_State *L) {
  corun__state(L);                  /* module state */
  corunL_io_newclass(L, CORUN_PROCESS, process_methods, process_meta);
  luaL_getmetatable(L, CORUN_PROCESS);  /* state mt */
  lua_pushvalue(L, -2);
  lua_pushvalue(L, -2);
  lua_getfield(L, -1, "__index");   /* state mt state mt methods */
  lua_pushcclosure(L, p_index, 3);
  lua_setfield(L, -2, "__index");
  corunL_setcrossing(L, &corun__process_class);
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, process_functions, 1);
  lua_setfield(L, -3, "process");
  lua_pop(L, 1);
}
