/*
** process.c - child processes (process.h): corun.process.spawn's
** corun.Process, whose pipes are corun.Stream objects (io/stream.h), and
** corun.process.run's child (to completion, output collected).
**
** A child is a malloc'd corun_Process holding its uv_process_t; like
** every I/O object (io.h) it is owned by one task and listed in the
** runtime.  libuv reaps the child (waitpid) only while the handle is open,
** so the handle stays open until the child has exited, even once Lua sees
** the process closed (its owner ended: the child runs on, as with Tokio's
** default kill_on_drop = false).  Only when the runtime shuts down with
** the child still running is the handle closed at once: a child corun
** killed is waited for there (it dies at once), any other by a detached
** thread, so that none stays a zombie.
**
** run keeps the whole child in C: the pipes of stdin, stdout and stderr
** belong to the same record, the output is collected as it comes (both
** outputs at once, so a child that fills one pipe cannot block), and the
** waiting task is woken with the result table once the child has exited
** and both outputs have ended.  If that task stops waiting, the child is
** killed (SIGKILL): nothing else could reach it.
**
** Process groups: libuv (1.44) has no option for setpgid, and no code of
** ours runs in the child between fork and exec; its UV_PROCESS_DETACHED
** makes the child call setsid, which makes it the leader of a new session
** and of a new process group whose id is its pid.  opts.process_group and
** opts.detached both ask for that; with process_group, the kills corun
** sends itself (run's cancellation, kill_on_drop) go to the whole group,
** so that a shell's children die with it.  A group outlives its leader
** while any member lives, and its id cannot be given to a new process
** meanwhile, so the group is signalled even after the leader has exited.
*/
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>
#include <lauxlib.h>
#include "process.h"
#include "stream.h"

#define OUTPUT_CHUNK 65536        /* room offered to each read of run */
#define REAPER_STACK (256 * 1024) /* stack of a thread that waits a child */
#define KILLED_WAIT_MS 1000       /* at most, for a killed child to die */

typedef struct Output {
  uv_pipe_t pipe;         /* the parent's end, open while 'open' */
  int open;               /* the pipe is initialised and not closing */
  char *buf;              /* owns: what the child wrote */
  size_t len;             /* bytes in 'buf' */
  size_t cap;             /* room in 'buf' */
} Output;

struct corun_Process {
  corun_Io io;            /* first: the object's life (io.h) */
  uv_process_t handle;    /* open until the child was reaped (or the
                             runtime closes) */
  corun_Runtime *rt;      /* borrows: valid until corun__io_done (the
                             runtime's close forces that) */
  corun_Waker waiter;     /* the task in wait (or run), or 0 */
  int handles;            /* libuv handles of this record not closed yet:
                             it is freed when the last close ends */
  int pid;                /* the child's process id */
  int exited;             /* the child was reaped: the two below hold */
  int status;             /* exit code, or 128 + signal */
  int signal;             /* signal that ended it, or 0 */
  int kill_on_drop;       /* spawn's opts.kill_on_drop */
  int killed;             /* corun sent it SIGKILL */
  int leads_group;        /* the child leads a process group of its own
                             (opts.process_group or opts.detached), whose
                             id is 'pid' */
  int kill_group;         /* opts.process_group: corun's kills signal the
                             whole group */
  int group_killed;       /* corun sent the group SIGKILL already */
  int settled;            /* run: its task was answered with the result
                             (the child and its outputs are done) */
  int is_run;             /* made by run: the fields below are used */
  int in_open;            /* run: 'in' is initialised and not closing */
  uv_pipe_t in;           /* run: the child's stdin, when given input */
  uv_write_t write;       /* run: writes the input */
  char *input;            /* owns: run's input */
  Output out[2];          /* run: stdout, stderr */
  int rerr;               /* run: a read failed (libuv error) */
  char *cmd;              /* owns: run's command, for messages */
};

/* ------------------------------------------------------- the child */

/* One handle of 'p' less: free it after the last. */
static void unhold(corun_Process *p) {
  if (--p->handles > 0)
    return;
  free(p->out[0].buf);
  free(p->out[1].buf);
  free(p->input);
  free(p->cmd);
  free(p);
}

static void on_handle_closed(uv_handle_t *h) {
  unhold(h->data);
}

static void close_handle(corun_Process *p, uv_handle_t *h) {
  h->data = p;
  uv_close(h, on_handle_closed);
}

/* Close run's pipes that are still open (what is buffered stays). */
static void close_pipes(corun_Process *p) {
  int i;
  if (p->in_open) {
    p->in_open = 0;
    close_handle(p, (uv_handle_t *)&p->in);
  }
  for (i = 0; i < 2; i++)
    if (p->out[i].open) {
      p->out[i].open = 0;
      close_handle(p, (uv_handle_t *)&p->out[i].pipe);
    }
}

/*
** Kill a child that must not outlive its record (run's, kill_on_drop):
** with opts.process_group, its whole group, once, whether or not the
** leader has exited (members may be left: the group's id is theirs until
** the last has gone); else the child, if it has not exited.
*/
static void kill_child(corun_Process *p) {
  if (p->kill_group) {
    if (!p->group_killed) {
      p->group_killed = 1;
      if (uv_kill(-p->pid, SIGKILL) == 0 && !p->exited)
        p->killed = 1;
    }
    return;
  }
  if (!p->exited && uv_process_kill(&p->handle, SIGKILL) == 0)
    p->killed = 1;
}

static void *reaper(void *arg) {
  pid_t pid = (pid_t)(intptr_t)arg;
  int status;
  while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
    ;
  return NULL;
}

/* The handle of child 'pid' was closed while it still runs: wait for it
   on a detached thread (signals blocked) so that it is reaped when it
   exits.  If no thread can be made, it stays a zombie until this process
   ends (then init reaps it); corun says so on stderr. */
static void reap_later(int pid) {
  pthread_attr_t attr;
  pthread_t thread;
  sigset_t all, old;
  int status;
  if (waitpid(pid, &status, WNOHANG) != 0)  /* reaped now, or not ours */
    return;
  if (pthread_attr_init(&attr) != 0) {
    fprintf(stderr, "corun: cannot reap child %d later\n", pid);
    return;
  }
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (pthread_attr_setstacksize(&attr, REAPER_STACK) != 0)
    pthread_attr_setstacksize(&attr, PTHREAD_STACK_MIN);
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  if (pthread_create(&thread, &attr, reaper, (void *)(intptr_t)pid) != 0)
    fprintf(stderr, "corun: cannot reap child %d later\n", pid);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
}

/* A child sent SIGKILL dies at once (unless stuck in the kernel): wait
   for it here, a little, so that it is reaped before the runtime (and
   perhaps the program) ends.  0 if it was. */
static int reap_killed(int pid) {
  int i, status;
  for (i = 0; i < KILLED_WAIT_MS; i++) {
    if (waitpid(pid, &status, WNOHANG) != 0)
      return 0;
    uv_sleep(1);
  }
  return -1;
}

/* Close the process handle: the runtime need not close 'p' any more. */
static void close_child(corun_Process *p) {
  corun__io_done(&p->io);
  close_handle(p, (uv_handle_t *)&p->handle);
  if (!p->exited && (!p->killed || reap_killed(p->pid) != 0))
    reap_later(p->pid);
}

/* Wake with no values: the continuation looks at the process. */
static int push_nothing(lua_State *L, void *ud) {
  (void)L; (void)ud;
  return 0;
}

/*
** Closing (io.h): wake a task still waiting (it finds the process
** closed).  A child that has exited goes at once.  A running one is
** killed if it belongs to a run not answered yet, or was spawned with
** kill_on_drop (with process_group, its group is, even once the leader
** has exited); either way its handle stays open, unreferenced, until
** libuv has reaped it (on_child_exit ends the close), unless the runtime
** is ending.
*/
static void process_close(corun_Io *io, int force) {
  corun_Process *p = (corun_Process *)io;
  corun__io_wake_slot(p->rt, &p->waiter, push_nothing, p);
  close_pipes(p);
  if ((p->is_run && !p->settled) || p->kill_on_drop)
    kill_child(p);
  if (p->exited || force || p->rt->shutdown)
    close_child(p);
  else
    uv_unref((uv_handle_t *)&p->handle);
}

static void run_check(corun_Process *p);

static void on_child_exit(uv_process_t *handle, int64_t status,
                          int signum) {
  corun_Process *p = handle->data;
  p->exited = 1;
  p->signal = signum;
  p->status = signum != 0 ? 128 + signum : (int)status;
  if (p->io.closing) {  /* closed, waiting only to reap the child */
    close_child(p);
    return;
  }
  if (p->is_run) {
    run_check(p);
    return;
  }
  uv_unref((uv_handle_t *)&p->handle);
  /* k_wait reads the status */
  corun__io_wake_slot(p->rt, &p->waiter, push_nothing, p);
}

/* ---------------------------------------------------------- starting */

/* The libuv options for 'o'; 'stdio' has room for 3.  process_group and
   detached are both setsid in the child (see above). */
static void uv_options(const corun_ProcessOptions *o,
                       uv_process_options_t *uo,
                       uv_stdio_container_t *stdio) {
  memset(uo, 0, sizeof *uo);
  uo->exit_cb = on_child_exit;
  uo->file = o->cmd;
  uo->args = o->argv;
  uo->env = o->env;
  uo->cwd = o->cwd;
  uo->stdio_count = 3;
  uo->stdio = stdio;
  if (o->process_group || o->detached)
    uo->flags |= UV_PROCESS_DETACHED;
  if (o->set_uid) {
    uo->flags |= UV_PROCESS_SETUID;
    uo->uid = o->uid;
  }
  if (o->set_gid) {
    uo->flags |= UV_PROCESS_SETGID;
    uo->gid = o->gid;
  }
}

/* The child of 'o' was started as 'p': what its options make of it. */
static void set_options(corun_Process *p, const corun_ProcessOptions *o) {
  p->handle.data = p;
  p->pid = p->handle.pid;
  p->kill_on_drop = o->kill_on_drop;
  p->leads_group = o->process_group || o->detached;
  p->kill_group = o->process_group;
}

/*
** uv_spawn failed with 'rc': push nil and the error.  The child changes
** to opts.cwd before it runs the command, and a failure of either comes
** back as the same errno (ENOENT, EACCES...): when the directory cannot
** be entered, the error is the directory's and names it; otherwise it
** names the command, and for EPERM with opts.uid or opts.gid (the child
** could not take them: we are not root) those too.
*/
static int spawn_failed(lua_State *L, const corun_ProcessOptions *o,
                        int rc) {
  struct stat st;
  int dir_rc = 0;
  if (o->cwd != NULL) {
    if (stat(o->cwd, &st) != 0)
      dir_rc = uv_translate_sys_error(errno);
    else if (!S_ISDIR(st.st_mode))
      dir_rc = UV_ENOTDIR;
    else if (faccessat(AT_FDCWD, o->cwd, X_OK, AT_EACCESS) != 0)
      dir_rc = uv_translate_sys_error(errno);
  }
  if (dir_rc != 0)
    return corun__io_fail(L, dir_rc, "cwd %s", o->cwd);
  if (rc == UV_EPERM && o->set_uid && o->set_gid)
    return corun__io_fail(L, rc, "%s, uid %d, gid %d", o->cmd, (int)o->uid,
                          (int)o->gid);
  if (rc == UV_EPERM && (o->set_uid || o->set_gid))
    return corun__io_fail(L, rc, "%s, %s %d", o->cmd,
                          o->set_uid ? "uid" : "gid",
                          o->set_uid ? (int)o->uid : (int)o->gid);
  return corun__io_fail(L, rc, "%s", o->cmd);
}

static corun_Process *new_process(corun_Runtime *rt) {
  corun_Process *p = calloc(1, sizeof *p);
  if (p == NULL)
    return NULL;
  corun__link_init(&p->io.res.link);  /* harmless to unlink if unopened */
  corun__link_init(&p->io.all);
  p->rt = rt;
  p->handles = 1;  /* the process handle, initialised by uv_spawn */
  return p;
}

/* ------------------------------------------------------------- spawn */

int corun__process_spawn(lua_State *L, const char *fname, corun_Task *self,
                         const corun_ProcessOptions *o) {
  corun_Io **box;
  corun_Stream *pipes[3] = {NULL, NULL, NULL};
  uv_stdio_container_t stdio[3];
  uv_process_options_t uo;
  corun_Process *p = NULL;
  int i, rc = 0, ud;
  (void)fname;  /* spawn fails with results, never raises its own */
  box = lua_newuserdatauv(L, sizeof *box, 3);  /* user values: pipes */
  *box = NULL;
  ud = lua_gettop(L);
  for (i = 0; i < 3; i++) {  /* the pipes first: they are Lua objects */
    stdio[i].flags = UV_INHERIT_FD;
    stdio[i].data.fd = i;
    if (o->stdio[i] == CORUN_STDIO_NULL)
      stdio[i].flags = UV_IGNORE;
    else if (o->stdio[i] == CORUN_STDIO_PIPE) {
      corun__runtime_ignore_sigpipe();
      if ((pipes[i] = corun__stream_alloc(self->rt, 1, &rc)) == NULL)
        break;
      corun__stream_push(L, pipes[i], self);
      lua_setiuservalue(L, ud, i + 1);
      stdio[i].flags = UV_CREATE_PIPE |
                       (i == 0 ? UV_READABLE_PIPE : UV_WRITABLE_PIPE);
      stdio[i].data.stream = corun__stream_handle(pipes[i]);
    }
  }
  if (rc == 0 && (p = new_process(self->rt)) == NULL)
    rc = UV_ENOMEM;
  if (rc == 0) {
    uv_options(o, &uo, stdio);
    if ((rc = uv_spawn(self->rt->loop, &p->handle, &uo)) != 0)
      close_handle(p, (uv_handle_t *)&p->handle);
  }
  if (rc != 0) {  /* the pipes made so far are closed */
    for (i = 0; i < 3; i++)
      if (lua_getiuservalue(L, ud, i + 1) == LUA_TUSERDATA) {
        corun_Io **sbox = lua_touserdata(L, -1);
        if (*sbox != NULL)
          corun__io_close(*sbox, 1);
      }
    return spawn_failed(L, o, rc);
  }
  set_options(p, o);
  uv_unref((uv_handle_t *)&p->handle);  /* referenced only while waited */
  corun__io_open(self->rt, &p->io, self, process_close);
  *box = &p->io;
  p->io.box = box;
  lua_settop(L, ud);
  luaL_setmetatable(L, CORUN_PROCESS);
  return 1;
}

/* ----------------------------------------------------------- methods */

static void cancel_wait(corun_Waker w, void *ud) {
  corun_Process *p = ud;
  if (p->waiter == w) {
    p->waiter = 0;
    uv_unref((uv_handle_t *)&p->handle);
  }
}

static int push_status(lua_State *L, corun_Process *p) {
  lua_pushinteger(L, p->status);
  lua_pushinteger(L, p->signal);
  return 2;
}

static int k_wait(lua_State *L, int status, lua_KContext ctx) {
  corun_Process *p = (corun_Process *)*(corun_Io **)lua_touserdata(L, 1);
  (void)status; (void)ctx;
  corun__wait_check(L, 1);  /* no memory to wake it: raise that */
  if (p == NULL || !p->exited)
    return corun__io_fail(L, UV_ECANCELED, "the process was closed");
  return push_status(L, p);
}

/* proc:wait(): closes proc.stdin first, as Tokio's wait does. */
int corun__process_wait(lua_State *L, const char *fname, corun_Process *p) {
  corun_Io **sbox;
  if (p->exited)
    return push_status(L, p);
  if (p->waiter != 0)
    return corun__error(L, fname, "another wait for this process is under "
                        "way");
  corun__task_waiting(L, p->rt, fname);
  lua_settop(L, 1);
  if (lua_getiuservalue(L, 1, 1) == LUA_TUSERDATA) {  /* proc.stdin */
    sbox = lua_touserdata(L, -1);
    if (*sbox != NULL && (*sbox)->owner == p->io.owner)
      corun__io_close(*sbox, 0);
  }
  lua_settop(L, 1);
  p->waiter = corun__io_prepare(L, fname, cancel_wait, p);
  uv_ref((uv_handle_t *)&p->handle);
  return corun__wait_k(L, p->waiter, 1, k_wait);
}

int corun__process_kill(lua_State *L, const char *fname, corun_Process *p,
                        int sig, int group) {
  int rc;
  if (group) {
    if (!p->leads_group)
      return corun__error(L, fname, "the process leads no process group "
                          "(spawn it with process_group = true)");
    if ((rc = uv_kill(-p->pid, sig)) != 0)
      return corun__io_fail(L, rc, "process group %d", p->pid);
    lua_pushboolean(L, 1);
    return 1;
  }
  if (p->exited)  /* its pid may belong to another process by now */
    return corun__io_fail(L, UV_ESRCH, "pid %d has exited", p->pid);
  if ((rc = uv_process_kill(&p->handle, sig)) != 0)
    return corun__io_fail(L, rc, "pid %d", p->pid);
  lua_pushboolean(L, 1);
  return 1;
}

int corun__process_pid(const corun_Process *p) {
  return p->pid;
}

int corun__process_tostring(lua_State *L, const corun_Process *p) {
  if (p == NULL)
    lua_pushliteral(L, "corun.Process (closed)");
  else if (!p->exited)
    lua_pushfstring(L, "corun.Process (pid %d, running)", p->pid);
  else if (p->signal != 0)
    lua_pushfstring(L, "corun.Process (pid %d, killed by signal %d)",
                    p->pid, p->signal);
  else
    lua_pushfstring(L, "corun.Process (pid %d, exited with %d)", p->pid,
                    p->status);
  return 1;
}

/* The crossing: the process moves, and so do its pipes that its owner
   still holds (a pipe already moved elsewhere stays where it is). */
static void process_take(lua_State *L, int idx, corun_Task *t,
                         lua_Integer id) {
  corun_Io *io = *(corun_Io **)lua_touserdata(L, idx);
  int i;
  if (io == NULL)
    return;
  idx = lua_absindex(L, idx);
  if (lua_checkstack(L, 2))
    for (i = 1; i <= 3; i++) {
      if (lua_getiuservalue(L, idx, i) == LUA_TUSERDATA) {
        corun_Io *s = *(corun_Io **)lua_touserdata(L, -1);
        if (s != NULL && s->owner == io->owner)
          corun__io_class.take(L, lua_gettop(L), t, id);
      }
      lua_pop(L, 1);
    }
  corun__io_class.take(L, idx, t, id);
}

const corun_Class corun__process_class = {CORUN_CLASS_MOVE, process_take,
                                          corun__io_owner};

/* --------------------------------------------------------------- run */

static void on_output_alloc(uv_handle_t *h, size_t suggested,
                            uv_buf_t *buf) {
  corun_Process *p = h->data;
  Output *out = &p->out[(uv_pipe_t *)h == &p->out[0].pipe ? 0 : 1];
  (void)suggested;
  corun__io_read_room(&out->buf, out->len, &out->cap, OUTPUT_CHUNK, buf);
}

static void on_output(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  corun_Process *p = s->data;
  Output *out = &p->out[(uv_pipe_t *)s == &p->out[0].pipe ? 0 : 1];
  (void)buf;
  if (n > 0)
    out->len += (size_t)n;
  if (n >= 0)
    return;
  if (n != UV_EOF && p->rerr == 0)
    p->rerr = (int)n;
  out->open = 0;
  close_handle(p, (uv_handle_t *)s);
  run_check(p);
}

static void on_input_written(uv_write_t *req, int status) {
  corun_Process *p = req->data;
  (void)status;  /* a child that does not read its input is no error */
  if (p->in_open) {
    p->in_open = 0;
    close_handle(p, (uv_handle_t *)&p->in);
  }
}

static int push_output(lua_State *L, void *ud) {
  corun_Process *p = ud;
  if (p->rerr != 0)
    return corun__io_fail(L, p->rerr, "%s", p->cmd);
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, p->status);
  lua_setfield(L, -2, "status");
  lua_pushinteger(L, p->signal);
  lua_setfield(L, -2, "signal");
  lua_pushlstring(L, p->out[0].buf != NULL ? p->out[0].buf : "",
                  p->out[0].len);
  lua_setfield(L, -2, "stdout");
  lua_pushlstring(L, p->out[1].buf != NULL ? p->out[1].buf : "",
                  p->out[1].len);
  lua_setfield(L, -2, "stderr");
  return 1;
}

/* Has run's child exited and have both outputs ended?  Then wake the
   task (if it still waits) with the result, and close. */
static void run_check(corun_Process *p) {
  if (!p->exited || p->out[0].open || p->out[1].open)
    return;
  p->settled = 1;
  corun__io_wake_slot(p->rt, &p->waiter, push_output, p);
  corun__io_close(&p->io, 0);
}

/* run's task stopped waiting: kill the child (with process_group, its
   group, even if the leader has exited: a member holding an output open
   is why the task still waited), stop reading; the record closes once
   the child has been reaped. */
static void cancel_run(corun_Waker w, void *ud) {
  corun_Process *p = ud;
  (void)w;
  p->waiter = 0;
  kill_child(p);
  close_pipes(p);
  uv_unref((uv_handle_t *)&p->handle);
  run_check(p);
}

static int k_run(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  corun__wait_check(L, (int)ctx);  /* no memory for the result: raise */
  if (lua_gettop(L) > (int)ctx)
    return lua_gettop(L) - (int)ctx;
  return corun__io_fail(L, UV_ECANCELED, "the process was closed");
}

/* Start reading run's outputs and writing its input.  What fails to
   start is closed: a read, with its error kept for the result; the input,
   by closing the child's stdin. */
static void run_start(corun_Process *p, const corun_ProcessOptions *o) {
  uv_buf_t buf;
  int i, rc;
  for (i = 0; i < 2; i++)
    if ((rc = uv_read_start((uv_stream_t *)&p->out[i].pipe,
                            on_output_alloc, on_output)) != 0) {
      p->rerr = rc;
      p->out[i].open = 0;
      close_handle(p, (uv_handle_t *)&p->out[i].pipe);
    }
  if (!p->in_open)
    return;
  p->write.data = p;
  if (o->inlen > 0) {
    if ((p->input = malloc(o->inlen)) == NULL)
      p->rerr = UV_ENOMEM;
    else {
      memcpy(p->input, o->input, o->inlen);
      buf = uv_buf_init(p->input, (unsigned)o->inlen);
      if (uv_write(&p->write, (uv_stream_t *)&p->in, &buf, 1,
                   on_input_written) == 0)
        return;
    }
  }
  on_input_written(&p->write, 0);  /* the child reads the end */
}

/* corun.process.run(cmd, args[, opts]) -> {status, signal, stdout,
   stderr}, or nil, err */
int corun__process_run(lua_State *L, const char *fname, corun_Task *self,
                       const corun_ProcessOptions *o) {
  corun_Runtime *rt = self->rt;
  uv_stdio_container_t stdio[3];
  uv_process_options_t uo;
  corun_Process *p;
  int i, rc = 0, spawned = 0;
  corun__runtime_ignore_sigpipe();
  if ((p = new_process(rt)) == NULL ||
      (p->cmd = malloc(strlen(o->cmd) + 1)) == NULL) {
    free(p);
    return corun__io_fail(L, UV_ENOMEM, "%s", o->cmd);
  }
  strcpy(p->cmd, o->cmd);
  p->is_run = 1;
  stdio[0].flags = UV_IGNORE;
  if (o->input != NULL && (rc = uv_pipe_init(rt->loop, &p->in, 0)) == 0) {
    p->handles++;
    p->in_open = 1;
    p->in.data = p;
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&p->in;
  }
  for (i = 0; i < 2 && rc == 0; i++)
    if ((rc = uv_pipe_init(rt->loop, &p->out[i].pipe, 0)) == 0) {
      p->handles++;
      p->out[i].open = 1;
      p->out[i].pipe.data = p;
      stdio[i + 1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
      stdio[i + 1].data.stream = (uv_stream_t *)&p->out[i].pipe;
    }
  if (rc == 0) {
    uv_options(o, &uo, stdio);
    spawned = 1;  /* even when it fails, uv_spawn initialises the handle */
    rc = uv_spawn(rt->loop, &p->handle, &uo);
  }
  if (rc != 0) {
    close_pipes(p);
    if (spawned)
      close_handle(p, (uv_handle_t *)&p->handle);
    else
      unhold(p);
    return spawn_failed(L, o, rc);
  }
  set_options(p, o);
  corun__io_open(rt, &p->io, self, process_close);
  run_start(p, o);
  p->waiter = corun_wait_prepare(L, cancel_run, p);
  if (p->waiter == 0) {
    cancel_run(0, p);
    return corun__error(L, fname, "%s", corun_errmsg(L));
  }
  lua_settop(L, 0);
  return corun__wait_k(L, p->waiter, 0, k_run);
}
