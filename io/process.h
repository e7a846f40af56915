/*
** process.h - child processes (process.c) for corun.process: spawn
** (corun.Process, whose pipes are corun.Stream objects) and run (to
** completion, output collected).
*/
#ifndef CORUN_PROCESS_H
#define CORUN_PROCESS_H

#include "io.h"

#define CORUN_PROCESS "corun.Process"

/* What one of a spawned child's stdin, stdout and stderr is. */
enum {
  CORUN_STDIO_INHERIT,    /* the parent's (the default) */
  CORUN_STDIO_PIPE,       /* a pipe to the parent: a corun.Stream */
  CORUN_STDIO_NULL        /* nothing (closed in the child) */
};

/* What spawn and run were asked, checked by the bindings before anything
   starts.  Every pointer borrows (valid during the call that takes it:
   the bindings anchor the strings on the Lua stack). */
typedef struct corun_ProcessOptions {
  const char *cmd;        /* the program */
  char **argv;            /* cmd, the arguments, NULL */
  char **env;             /* "NAME=value"..., NULL; or NULL: inherit */
  const char *cwd;        /* or NULL */
  int stdio[3];           /* spawn: CORUN_STDIO_* of stdin, stdout,
                             stderr */
  int kill_on_drop;       /* spawn: kill the child when the process
                             closes */
  int process_group;      /* the child leads a new process group, which
                             corun's own kills signal whole (setsid:
                             libuv's UV_PROCESS_DETACHED) */
  int detached;           /* the child leads a new session, out of our
                             terminal's signals (setsid too) */
  int set_uid;            /* the child runs as 'uid' */
  int set_gid;            /* the child runs as 'gid' */
  uv_uid_t uid;           /* its user id, if set_uid */
  uv_gid_t gid;           /* its group id, if set_gid */
  const char *input;      /* run: what the child reads, or NULL */
  size_t inlen;           /* run: its length, at most UINT_MAX */
} corun_ProcessOptions;

/* A child process.  It begins with its corun_Io: the corun_Io that
   corunL_io_check returns for a CORUN_PROCESS converts to it. */
typedef struct corun_Process corun_Process;

/* How a process crosses into a task: it moves, and so do its pipes that
   its owner still holds. */
extern const corun_Class corun__process_class;

/*
** corun.process.spawn: start the child of 'o' for the running task 'self'
** (its root owns it; corun__io_ready came first) and push its userdata of
** class CORUN_PROCESS, whose user values 1, 2, 3 are its pipes (stdin,
** stdout, stderr: corun.Stream, or nil); or push nil and the error, which
** names opts.cwd when the child could not enter it, else the command.
*/
int corun__process_spawn(lua_State *L, const char *fname, corun_Task *self,
                         const corun_ProcessOptions *o);

/*
** corun.process.run: start the child of 'o' (its stdin reads o->input, or
** nothing) and wait, in the running task 'self' (which may wait;
** corun__io_ready came first), until it has exited and both its outputs
** have ended; return {status, signal, stdout, stderr}, or nil and the
** error.  If the task stops waiting, the child is killed (with
** o->process_group, its whole group).
*/
int corun__process_run(lua_State *L, const char *fname, corun_Task *self,
                       const corun_ProcessOptions *o);

/*
** proc:wait(): return the exit status and signal of 'p', whose userdata
** is at index 1, waiting until the child exits (after closing proc.stdin,
** unless that moved to another task); nil and an error if the process
** closes meanwhile.  Raises "fname: another wait for this process is
** under way" and the errors of a task that cannot wait.
*/
int corun__process_wait(lua_State *L, const char *fname, corun_Process *p);

/*
** proc:kill(): send signal 'sig' (0..64) to the child of 'p'; push true,
** or nil and the error (ESRCH once it has exited).  'group': to its whole
** process group instead (kill(-pid)), also after the child has exited
** (while any member lives, the group's id stays reserved); raises
** "fname: ..." if the child leads no group of its own.
*/
int corun__process_kill(lua_State *L, const char *fname, corun_Process *p,
                        int sig, int group);

/* The child's process id. */
int corun__process_pid(const corun_Process *p);

/* Push what __tostring says of 'p' (NULL: closed). */
int corun__process_tostring(lua_State *L, const corun_Process *p);

#endif
