/*
** main.c - the corun executable: a Lua interpreter whose script runs as
** the main task of a corun runtime.
**
**   corun [options] [script [args]]
**
** As in lua.c, main() only creates the state and runs pmain() in protected
** mode; message() prints "corun: message".  Ctrl-C is handled by the
** runtime (it cancels the main task; the exit status is then 130).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include "corun.h"
#include "repl.h"

#define EXIT_INTERRUPTED 130

static const char *progname = "corun";


static void print_usage(const char *badoption) {
  if (badoption[1] == 'e' || badoption[1] == 'l')
    fprintf(stderr, "%s: '%s' needs argument\n", progname, badoption);
  else if (badoption[0] != '\0')
    fprintf(stderr, "%s: unrecognized option '%s'\n", progname, badoption);
  fprintf(stderr,
          "usage: %s [options] [script [args]]\n"
          "Available options are:\n"
          "  -e stat   execute string 'stat'\n"
          "  -i        enter interactive mode after executing 'script'\n"
          "  -l mod    require library 'mod' into global 'mod'\n"
          "  -v        show version information\n"
          "  -E        ignore environment variables\n"
          "  -W        turn warnings on\n"
          "  --paused-clock  start with the clock paused (corun.clock)\n"
          "  --        stop handling options\n"
          "  -         execute stdin and stop handling options\n",
          progname);
}

static void message(const char *msg) {
  fprintf(stderr, "%s: %s\n", progname, msg);
  fflush(stderr);
}

/* The text of the error value on top of L (which it replaces). */
static const char *error_text(lua_State *L) {
  const char *msg = NULL;
  if (luaL_callmeta(L, -1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
    msg = lua_tostring(L, -1);
  else if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER)
    msg = lua_tostring(L, -1);
  if (msg == NULL)
    msg = lua_pushfstring(L, "(error object is a %s value)",
                          luaL_typename(L, -1));
  return msg;
}

/* arg table as lua.c makes it: script at 0, options before, args after. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script) {
  int i;
  lua_createtable(L, argc - script - 1, script + 1);
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

/* Runs the actions (-e, -l, the script) in order as one main task. */
static const char driver[] =
  "local acts = ...\n"
  "return function(...)\n"
  "  for i = 1, #acts - 1 do\n"
  "    local a = acts[i]\n"
  "    if a[3] then a[1](...) else a[1](a[2]) end\n"
  "  end\n"
  "  local last = acts[#acts]\n"
  "  if last[3] then return last[1](...) end\n"
  "  return last[1](last[2])\n"
  "end\n";

/* Append {fn, arg, is_script} (fn and arg on top of L) to the table at
   index 1. */
static void add_action(lua_State *L, int is_script) {
  lua_createtable(L, 3, 0);
  lua_insert(L, -3);
  lua_rawseti(L, -3, 2);
  lua_rawseti(L, -2, 1);
  lua_pushboolean(L, is_script);
  lua_rawseti(L, -2, 3);
  lua_rawseti(L, 1, (lua_Integer)lua_rawlen(L, 1) + 1);
}

static int load_failed(lua_State *L) {
  message(lua_tostring(L, -1));
  return 0;
}

/*
** Parse the command line into the actions table (index 1).  Returns the
** index of the script in argv (argc if none), 0 after printing an error.
*/
static int collect_actions(lua_State *L, char **argv, int argc, int *version,
                           int *flags, int *noenv, int *warn,
                           int *interactive) {
  int i;
  for (i = 1; i < argc && argv[i][0] == '-'; i++) {
    const char *opt = argv[i];
    if (strcmp(opt, "--") == 0)
      return i + 1;
    if (strcmp(opt, "-") == 0)
      return i;
    if (strcmp(opt, "-v") == 0) {
      *version = 1;
      continue;
    }
    if (strcmp(opt, "-i") == 0) {  /* as lua5.4: -i shows the version */
      *interactive = *version = 1;
      continue;
    }
    if (strcmp(opt, "-E") == 0 || strcmp(opt, "-W") == 0) {
      *(opt[1] == 'E' ? noenv : warn) = 1;
      continue;
    }
    if (strcmp(opt, "--paused-clock") == 0) {
      *flags |= CORUN_PAUSED_CLOCK;
      continue;
    }
    if ((opt[1] != 'e' && opt[1] != 'l') || opt[2] != '\0') {
      print_usage(opt);
      return 0;
    }
    if (i + 1 >= argc) {
      print_usage(opt);
      return 0;
    }
    if (opt[1] == 'e') {
      if (luaL_loadbuffer(L, argv[i + 1], strlen(argv[i + 1]),
                          "=(command line)") != LUA_OK)
        return load_failed(L);
      lua_pushnil(L);
    }
    else {
      luaL_loadstring(L, "local name = ...; _G[name] = require(name)");
      lua_pushstring(L, argv[i + 1]);
    }
    add_action(L, 0);
    i++;
  }
  return i;
}

/*
** LUA_INIT_5_4, or else LUA_INIT, as lua5.4 runs it: "@file" runs the
** file, anything else is Lua code.  If set, it becomes the first action
** (it runs in the main task, before -e, -l and the script).  Returns 0
** after printing a load error.
*/
static int init_action(lua_State *L) {
  const char *name = "=LUA_INIT_5_4", *init = getenv(name + 1);
  int status, i, n;
  if (init == NULL) {
    name = "=LUA_INIT";
    init = getenv(name + 1);
  }
  if (init == NULL)
    return 1;
  if (init[0] == '@')
    status = luaL_loadfile(L, init + 1);
  else
    status = luaL_loadbuffer(L, init, strlen(init), name);
  if (status != LUA_OK)
    return load_failed(L);
  lua_pushnil(L);
  add_action(L, 0);
  n = (int)lua_rawlen(L, 1);  /* move it from the end to the front */
  lua_rawgeti(L, 1, n);
  for (i = n; i > 1; i--) {
    lua_rawgeti(L, 1, i - 1);
    lua_rawseti(L, 1, i);
  }
  lua_rawseti(L, 1, 1);
  return 1;
}

static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  int script, version = 0, status, n;
  int flags = CORUN_HANDLE_SIGINT | CORUN_HANDLE_SIGQUIT;
  int noenv = 0, warn = 0, interactive = 0;
  lua_settop(L, 0);
  lua_newtable(L);  /* 1: actions */
  if ((script = collect_actions(L, argv, argc, &version, &flags, &noenv,
                                &warn, &interactive)) == 0)
    return 0;
  if (script == argc && argc <= 1 && isatty(0))  /* as lua5.4 does */
    interactive = version = 1;
  if (noenv) {  /* before the libraries: package ignores LUA_PATH too */
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
  luaL_openlibs(L);
  corun_preload(L);
  if (warn)
    lua_warning(L, "@on", 0);
  if (version)
    printf("%s\n", corun_version_string());
  create_arg_table(L, argv, argc, script < argc ? script : 0);
  if (script < argc || (lua_rawlen(L, 1) == 0 && !version)) {
    const char *path = script < argc ? argv[script] : "-";
    if (script == argc && isatty(0)) {
      print_usage("");
      return 0;
    }
    if (luaL_loadfile(L, strcmp(path, "-") == 0 ? NULL : path) != LUA_OK)
      return load_failed(L);
    lua_pushnil(L);
    add_action(L, 1);
  }
  if (!noenv && !init_action(L))
    return 0;
  if (interactive) {  /* the prompt, last, in the main task */
    corun__repl_push(L);
    lua_pushnil(L);
    add_action(L, 0);
    flags &= ~CORUN_HANDLE_SIGINT;  /* Ctrl-C is the prompt's (repl.c) */
  }
  if (lua_rawlen(L, 1) == 0) {  /* only -v */
    lua_pushboolean(L, 1);
    return 1;
  }
  luaL_loadstring(L, driver);
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);  /* the main task's function */
  n = 0;
  if (script < argc) {
    int i;
    luaL_checkstack(L, argc - script, "too many arguments to script");
    for (i = script + 1; i < argc; i++, n++)
      lua_pushstring(L, argv[i]);
  }
  status = corun_run(L, n, flags, &n);
  if (status == CORUN_INTERRUPTED) {
    message("interrupted");
    lua_pushinteger(L, EXIT_INTERRUPTED);
    return 1;
  }
  if (status != CORUN_OK) {  /* error value, traceback */
    const char *tb = lua_tostring(L, -1);
    lua_pushvalue(L, -2);
    fprintf(stderr, "%s: %s\n", progname, error_text(L));
    if (tb != NULL && tb[0] != '\0')
      fprintf(stderr, "%s\n", tb);
    fflush(stderr);
    return 0;
  }
  lua_pushboolean(L, 1);
  return 1;
}

int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  int status, code;
  if (L == NULL) {
    message("cannot create state: not enough memory");
    return EXIT_FAILURE;
  }
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  status = lua_pcall(L, 2, 1, 0);
  if (status != LUA_OK) {
    message(lua_tostring(L, -1));
    code = EXIT_FAILURE;
  }
  else if (lua_isinteger(L, -1))
    code = (int)lua_tointeger(L, -1);
  else
    code = lua_toboolean(L, -1) ? EXIT_SUCCESS : EXIT_FAILURE;
  lua_close(L);
  return code;
}
