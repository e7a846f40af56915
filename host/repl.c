/*
** repl.c - corun -i: the interactive prompt of the executable.
**
** The prompt runs in the main task (main.c's driver below): each line is
** read through a native wait (corun.h), so that spawned tasks go on
** running while the prompt waits for input, and each line then runs in
** the main task, so that waits work at top level.  On a terminal, GNU
** readline gives line editing and history through its callback interface
** (rl_callback_handler_install, then rl_callback_read_char whenever a
** uv_poll_t says stdin is readable); elsewhere (a pipe) lines are read
** with read(2) when the same poll says so, and a file that cannot be
** polled is read directly (it never blocks for long).
**
** Ctrl-C: while a line runs, it is cancelled (the line runs in a select
** against repl.interrupt, a native wait that the SIGINT handle wakes); at
** the prompt, the line being typed is dropped.  Ctrl-D (end of input)
** ends the prompt, and with it the main task: live tasks are cancelled.
**
** Only the executable links this file (and readline): the Lua module and
** libcorun do not.
*/
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <readline/readline.h>
#include <readline/history.h>
#include <lua.h>
#include <lauxlib.h>
#include "corun.h"
#include "repl.h"

/* The prompt's state: one per process (there is one stdin). */
typedef struct Repl {
  lua_State *L;           /* borrows: the main thread, to wake tasks with */
  uv_poll_t poll;         /* stdin readable (poll_on: initialised) */
  uv_signal_t sigint;     /* Ctrl-C (sig_on: initialised) */
  int poll_on, sig_on;
  int polling;            /* 'poll' is started */
  int pollable;           /* 0: stdin cannot be polled (a file) */
  int tty;                /* stdin is a terminal: readline */
  int rl_installed;       /* readline's callback handler is installed */
  corun_Waker reader;     /* the task waiting for a line, or 0 */
  corun_Waker interrupter;  /* the line waiting for Ctrl-C, or 0 */
  char *buf;              /* owns: plain input read, not yet a line */
  size_t len, cap;
  int eof;                /* plain input ended */
} Repl;

static Repl repl;

/* ------------------------------------------------------------ waking */

/* Give the value on top of repl.L (a line, or nil: end of input) to the
   task waiting for it (popped). */
static void deliver_top(void) {
  corun_Waker w = repl.reader;
  repl.reader = 0;
  if (repl.polling) {
    uv_poll_stop(&repl.poll);
    repl.polling = 0;
  }
  if (w == 0)
    lua_pop(repl.L, 1);
  else
    corun_wake(repl.L, w, 1);
}

/* readline's callback: a whole line was typed (NULL: Ctrl-D). */
static void on_line(char *line) {
  rl_callback_handler_remove();
  repl.rl_installed = 0;
  if (line == NULL) {
    fputs("\n", stdout);
    fflush(stdout);
  }
  if (line != NULL)
    lua_pushstring(repl.L, line);
  else
    lua_pushnil(repl.L);
  free(line);
  deliver_top();
}

/* Plain input: push the first whole line of 'buf', or what is left at the
   end of input (nil if nothing is), and return 1; 0 (nothing pushed) if no
   line is whole yet. */
static int plain_line(lua_State *L) {
  char *nl = repl.len > 0 ? memchr(repl.buf, '\n', repl.len) : NULL;
  size_t n;
  if (nl == NULL) {
    if (!repl.eof)
      return 0;
    if (repl.len == 0) {
      lua_pushnil(L);
      return 1;
    }
    nl = repl.buf + repl.len;  /* the last line, without its newline */
  }
  n = (size_t)(nl - repl.buf);
  lua_pushlstring(L, repl.buf, n > 0 && repl.buf[n - 1] == '\r' ? n - 1 : n);
  n = n < repl.len ? n + 1 : n;
  memmove(repl.buf, repl.buf + n, repl.len - n);
  repl.len -= n;
  return 1;
}

/* Read what stdin has (at most one read(2)); 0, or -1 on a memory error. */
static int plain_read(void) {
  ssize_t n;
  if (repl.cap - repl.len < 4096) {
    size_t cap = repl.cap * 2 + 4096;
    char *buf = realloc(repl.buf, cap);
    if (buf == NULL)
      return -1;
    repl.buf = buf;
    repl.cap = cap;
  }
  do
    n = read(0, repl.buf + repl.len, repl.cap - repl.len);
  while (n < 0 && errno == EINTR);
  if (n <= 0)
    repl.eof = 1;
  else
    repl.len += (size_t)n;
  return 0;
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)handle; (void)events;
  if (repl.tty && status == 0) {
    rl_callback_read_char();
    return;
  }
  if (status < 0 || plain_read() != 0)
    repl.eof = 1;
  if (plain_line(repl.L))
    deliver_top();
}

static void on_sigint(uv_signal_t *handle, int signum) {
  (void)handle; (void)signum;
  if (repl.interrupter != 0) {  /* a line runs: cancel it */
    corun_Waker w = repl.interrupter;
    repl.interrupter = 0;
    uv_unref((uv_handle_t *)&repl.sigint);
    corun_wake(repl.L, w, 0);
  }
  else if (repl.rl_installed) {  /* at the prompt: drop the line typed */
    rl_replace_line("", 0);
    rl_crlf();
    rl_on_new_line();
    rl_redisplay();
  }
}

/* ------------------------------------------------- the Lua functions */

/* A task waiting in repl.read or repl.interrupt was cancelled. */
static void cancel_read(corun_Waker w, void *ud) {
  (void)ud;
  if (repl.reader != w)
    return;
  repl.reader = 0;
  if (repl.polling) {
    uv_poll_stop(&repl.poll);
    repl.polling = 0;
  }
  if (repl.rl_installed) {
    rl_callback_handler_remove();
    repl.rl_installed = 0;
  }
}

static void cancel_interrupt(corun_Waker w, void *ud) {
  (void)ud;
  if (repl.interrupter == w) {
    repl.interrupter = 0;
    uv_unref((uv_handle_t *)&repl.sigint);
  }
}

/* Initialise the handles on the runtime's loop, once. */
static void start(lua_State *L) {
  uv_loop_t *loop = corun_loop(L);
  if (loop == NULL)
    luaL_error(L, "corun: the prompt needs a runtime");
  if (!repl.sig_on) {
    if (uv_signal_init(loop, &repl.sigint) != 0 ||
        uv_signal_start(&repl.sigint, on_sigint, SIGINT) != 0)
      luaL_error(L, "corun: cannot handle SIGINT");
    uv_unref((uv_handle_t *)&repl.sigint);  /* keeps no task alive */
    repl.sig_on = 1;
  }
  if (!repl.poll_on && repl.pollable) {
    if (uv_poll_init(loop, &repl.poll, 0) != 0)
      repl.pollable = 0;  /* a file: read it directly */
    else
      repl.poll_on = 1;
  }
}

/* repl.read(prompt): the next line of input, or nil at its end. */
static int l_read(lua_State *L) {
  const char *prompt = luaL_checkstring(L, 1);
  corun_Waker w;
  start(L);
  if (!repl.tty) {
    fputs(prompt, stdout);
    fflush(stdout);
    if (plain_line(L))  /* a whole line is there already */
      return 1;
    while (!repl.pollable) {  /* a file: read it now, it never blocks */
      if (plain_read() != 0)
        return luaL_error(L, "corun: not enough memory");
      if (plain_line(L))
        return 1;
    }
  }
  w = corun_wait_prepare(L, cancel_read, NULL);
  if (w == 0)
    return luaL_error(L, "%s", corun_errmsg(L));
  corun_wait_describe(L, w, "input at the prompt");
  repl.reader = w;
  if (repl.tty) {
    rl_callback_handler_install(prompt, on_line);
    repl.rl_installed = 1;
  }
  if (uv_poll_start(&repl.poll, UV_READABLE, on_readable) == 0)
    repl.polling = 1;
  return corun_wait(L, w);
}

/* repl.interrupt(): wait until Ctrl-C (the other branch of a line's
   select); while it waits, the SIGINT handle keeps the loop alive, so that
   a line stuck forever is not a deadlock: Ctrl-C ends it. */
static int l_interrupt(lua_State *L) {
  corun_Waker w;
  start(L);
  w = corun_wait_prepare(L, cancel_interrupt, NULL);
  if (w == 0)
    return luaL_error(L, "%s", corun_errmsg(L));
  corun_wait_describe(L, w, "Ctrl-C (the line typed at the prompt)");
  repl.interrupter = w;
  uv_ref((uv_handle_t *)&repl.sigint);
  return corun_wait(L, w);
}

/* repl.history(line): remember a line (readline's history). */
static int l_history(lua_State *L) {
  const char *line = luaL_checkstring(L, 1);
  if (repl.tty && line[0] != '\0')
    add_history(line);
  return 0;
}

static void on_closed(uv_handle_t *handle) {
  (void)handle;
}

/* repl.close(): the prompt is over; its handles close with the loop. */
static int l_close(lua_State *L) {
  (void)L;
  if (repl.rl_installed) {
    rl_callback_handler_remove();
    repl.rl_installed = 0;
  }
  if (repl.poll_on) {
    uv_close((uv_handle_t *)&repl.poll, on_closed);
    repl.poll_on = repl.polling = 0;
  }
  if (repl.sig_on) {
    uv_close((uv_handle_t *)&repl.sigint, on_closed);
    repl.sig_on = 0;
  }
  repl.reader = repl.interrupter = 0;
  free(repl.buf);
  repl.buf = NULL;
  repl.len = repl.cap = 0;
  return 0;
}

static const luaL_Reg functions[] = {
  {"read", l_read},
  {"interrupt", l_interrupt},
  {"history", l_history},
  {"close", l_close},
  {NULL, NULL}
};

/* Runs the prompt; its arguments: the functions above, the corun module. */
static const char driver[] =
  "local repl, corun = ...\n"
  "local function incomplete(msg)\n"
  "  return msg:sub(-5) == '<eof>'\n"
  "end\n"
  "local function report(msg)\n"
  "  io.stderr:write(tostring(msg), '\\n')\n"
  "  io.stderr:flush()\n"
  "end\n"
  "local function handler(msg)\n"
  "  if type(msg) ~= 'string' then\n"
  "    local mt = getmetatable(msg)\n"
  "    if mt and mt.__tostring then return tostring(msg) end\n"
  "    return ('(error object is a %s value)'):format(type(msg))\n"
  "  end\n"
  "  return debug.traceback(msg, 2)\n"
  "end\n"
  "return function()\n"
  "  local done <close> = setmetatable({}, {__close = repl.close})\n"
  "  _G.corun = corun\n"
  "  while true do\n"
  "    local line = repl.read('> ')\n"
  "    if line == nil then return end\n"
  "    if line:sub(1, 1) == '=' then line = 'return ' .. line:sub(2) end\n"
  "    local chunk, err = load('return ' .. line, '=stdin')\n"
  "    if not chunk then\n"
  "      while true do\n"
  "        chunk, err = load(line, '=stdin')\n"
  "        if chunk or not incomplete(err) then break end\n"
  "        local more = repl.read('>> ')\n"
  "        if more == nil then break end\n"
  "        line = line .. '\\n' .. more\n"
  "      end\n"
  "    end\n"
  "    repl.history(line)\n"
  "    if not chunk then\n"
  "      report(err)\n"
  "    else\n"
  "      local which, r = corun.select(function()\n"
  "        return table.pack(xpcall(chunk, handler))\n"
  "      end, repl.interrupt)\n"
  "      if which == 2 then\n"
  "        report('interrupted')\n"
  "      elseif not r[1] then\n"
  "        report(r[2])\n"
  "      elseif r.n > 1 then\n"
  "        print(table.unpack(r, 2, r.n))\n"
  "      end\n"
  "    end\n"
  "  end\n"
  "end\n";

/*
** Push the function that runs the prompt (as the last action of the main
** task: after the script, if any).  L is the main thread of the state
** corun_run will run on: tasks waiting at the prompt are woken with it.
*/
void corun__repl_push(lua_State *L) {
  repl.L = L;
  repl.tty = isatty(0);
  repl.pollable = 1;
  rl_catch_signals = 0;  /* libuv handles SIGINT: see on_sigint */
  rl_readline_name = "corun";
  if (luaL_loadbuffer(L, driver, sizeof driver - 1, "=corun -i") != LUA_OK)
    lua_error(L);
  luaL_newlib(L, functions);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "corun");
  lua_call(L, 1, 1);  /* package.preload's (libcorun) */
  lua_call(L, 2, 1);
}
