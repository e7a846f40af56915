/*
** fsreq.c - the request machinery of corun.fs (fsreq.h): making and
** freeing a request, its steps on libuv's thread pool, the cancellation
** of a request whose task stopped waiting, giving back what it holds and
** answering the task.  The path functions (fs.c) and corun.File (file.c)
** are chains of these steps.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "fsreq.h"

#define STEP_MAX (1u << 30)     /* most bytes one read or write step moves */

/* ---------------------------------------------------------- requests */

/*
** A request of the running task, whose Lua call checked it may wait, with
** 'mem' bytes of room for paths; raises "fname: not enough memory".
*/
corun_FsReq *corun__fsreq_new(lua_State *L, const char *fname, size_t mem) {
  corun_FsReq *r = calloc(1, sizeof *r + mem);
  if (r == NULL)
    corun__error(L, fname, "not enough memory");
  r->rt = corun__state_peek(L)->rt;
  r->loop = r->rt->loop;
  r->fd = -1;
  corun__link_init(&r->queue);
  return r;
}

/*
** A request for a path function on 'path' ('len' bytes, no zero byte
** among them, then the NUL), copied into the request ('path') with
** 'extra' bytes of room after it ('path2'); raises as corun__fsreq_new.
*/
corun_FsReq *corun__fsreq_path(lua_State *L, const char *fname,
                               const char *path, size_t len, size_t extra) {
  corun_FsReq *r = corun__fsreq_new(L, fname, len + 1 + extra);
  memcpy(r->mem, path, len + 1);
  r->path = r->mem;
  r->path2 = r->mem + len + 1;
  return r;
}

/* Free 'r' and what it owns but a descriptor or a temporary file. */
void corun__fsreq_free(corun_FsReq *r) {
  uv_fs_req_cleanup(&r->fs);
  free(r->buf);
  free(r);
}

/* Make room for 'n' bytes in r->buf; 0, or UV_ENOMEM. */
int corun__fsreq_grow(corun_FsReq *r, size_t n) {
  char *p = realloc(r->buf, n > 0 ? n : 1);
  if (p == NULL)
    return UV_ENOMEM;
  r->buf = p;
  r->size = n;
  return 0;
}

void corun__fsreq_on_step(uv_fs_t *fs) {
  corun_FsReq *r = fs->data;
  r->busy = 0;
  r->then(r, fs->result);
}

/* The request, made ready for its next step: the last one cleaned up,
   'then' to go on. */
uv_fs_t *corun__fsreq_step(corun_FsReq *r, corun_FsThen then) {
  uv_fs_req_cleanup(&r->fs);
  r->fs.data = r;
  r->then = then;
  r->keep = 0;
  return &r->fs;
}

/* 'rc' is what a uv_fs_* call returned: 0 (the step is in flight) or a
   libuv error (it did not start). */
int corun__fsreq_started(corun_FsReq *r, int rc) {
  if (rc == 0)
    r->busy = 1;
  return rc;
}

/* A step that could not start goes on at once with its error. */
void corun__fsreq_go(corun_FsReq *r, int rc) {
  if (rc < 0)
    r->then(r, rc);
}

int corun__fsreq_open(corun_FsReq *r, const char *path, int flags, int mode,
                      corun_FsThen then) {
  uv_fs_t *fs = corun__fsreq_step(r, then);
  return corun__fsreq_started(r, uv_fs_open(r->loop, fs, path, flags, mode,
                                            corun__fsreq_on_step));
}

int corun__fsreq_close(corun_FsReq *r, uv_file fd, corun_FsThen then) {
  uv_fs_t *fs = corun__fsreq_step(r, then);
  r->keep = 1;
  return corun__fsreq_started(r, uv_fs_close(r->loop, fs, fd,
                                             corun__fsreq_on_step));
}

/* Read into r->buf after r->len, at 'off' (-1: the OS's position). */
int corun__fsreq_read(corun_FsReq *r, uv_file fd, int64_t off,
                      corun_FsThen then) {
  size_t room = r->size - r->len;
  uv_buf_t b = uv_buf_init(r->buf + r->len,
                           room < STEP_MAX ? (unsigned)room : STEP_MAX);
  uv_fs_t *fs = corun__fsreq_step(r, then);
  return corun__fsreq_started(r, uv_fs_read(r->loop, fs, fd, &b, 1, off,
                                            corun__fsreq_on_step));
}

/* Write r->buf after r->len, at 'off' (-1: the OS's position). */
int corun__fsreq_write(corun_FsReq *r, uv_file fd, int64_t off,
                       corun_FsThen then) {
  size_t left = r->size - r->len;
  uv_buf_t b = uv_buf_init(r->buf + r->len,
                           left < STEP_MAX ? (unsigned)left : STEP_MAX);
  uv_fs_t *fs = corun__fsreq_step(r, then);
  return corun__fsreq_started(r, uv_fs_write(r->loop, fs, fd, &b, 1, off,
                                             corun__fsreq_on_step));
}

int corun__fsreq_fstat(corun_FsReq *r, uv_file fd, corun_FsThen then) {
  uv_fs_t *fs = corun__fsreq_step(r, then);
  return corun__fsreq_started(r, uv_fs_fstat(r->loop, fs, fd,
                                             corun__fsreq_on_step));
}

int corun__fsreq_fsync(corun_FsReq *r, uv_file fd, corun_FsThen then) {
  uv_fs_t *fs = corun__fsreq_step(r, then);
  return corun__fsreq_started(r, uv_fs_fsync(r->loop, fs, fd,
                                             corun__fsreq_on_step));
}

/* The task stopped waiting: stop what can be stopped.  A file's operation
   that has not started leaves the queue; the others end in their
   callbacks. */
void corun__fsreq_cancel(corun_Waker w, void *ud) {
  corun_FsReq *r = ud;
  (void)w;
  r->orphaned = 1;
  if (r->busy) {
    if (!r->keep)
      uv_cancel((uv_req_t *)&r->fs);  /* ECANCELED, if not yet running */
  }
  else if (corun__link_linked(&r->queue)) {
    corun__link_remove(&r->queue);
    corun__fsreq_free(r);
  }
}

/* Push nil and the request's error, naming its path(s) (a file's
   operation: the file's). */
int corun__fsreq_push_fail(lua_State *L, corun_FsReq *r) {
  if (r->two_paths)
    return corun__io_fail(L, r->status, "%s -> %s", r->path, r->path2);
  return corun__io_fail(L, r->status, "%s", r->path);
}

int corun__fsreq_push_true(lua_State *L, void *ud) {
  corun_FsReq *r = ud;
  if (r->status != 0)
    return corun__fsreq_push_fail(L, r);
  lua_pushboolean(L, 1);
  return 1;
}

/* -------------------------------------------- ending a path function */

/* Answer the task (unless nobody waits), then free the request; what the
   answer did not take over (open's descriptor) is given back first. */
void corun__fsreq_answer(corun_FsReq *r) {
  if (!r->orphaned) {
    r->orphaned = 1;
    corun__io_wake(r->rt, r->w, r->push, r);
  }
  if (r->fd >= 0 || r->has_temp)
    corun__fsreq_settle(r);
  else
    corun__fsreq_free(r);
}

static void released(corun_FsReq *r, ssize_t res) {
  if (res < 0 && r->status == 0 && r->fs.fs_type == UV_FS_CLOSE)
    r->status = (int)res;  /* a close that fails may have lost writes */
  corun__fsreq_settle(r);
}

/* The work is over (r->status says how): give back what the request
   holds, one step at a time, then answer. */
void corun__fsreq_settle(corun_FsReq *r) {
  uv_file fd = r->fd;
  if (fd >= 0) {
    r->fd = -1;
    corun__fsreq_go(r, corun__fsreq_close(r, fd, released));
  }
  else if (r->has_temp) {
    int rc;
    r->has_temp = 0;
    corun__fsreq_step(r, released);
    r->keep = 1;
    rc = uv_fs_unlink(r->loop, &r->fs, r->path2, corun__fsreq_on_step);
    corun__fsreq_go(r, corun__fsreq_started(r, rc));
  }
  else
    corun__fsreq_answer(r);
}

/* A step ended: 1 to go on; 0 if it failed or nobody waits any more, and
   the request settles. */
int corun__fsreq_proceed(corun_FsReq *r, ssize_t res) {
  if (res < 0 && r->status == 0)
    r->status = (int)res;
  if (res >= 0 && !r->orphaned)
    return 1;
  corun__fsreq_settle(r);
  return 0;
}

/* The last step of a function ended. */
void corun__fsreq_done(corun_FsReq *r, ssize_t res) {
  if (corun__fsreq_proceed(r, res))
    corun__fsreq_settle(r);
}

/* Start the task's wait for request 'r' whose first step started with
   'rc'; if it did not start, answer nil, err now.  The end of each path
   function: return corun__fsreq_begin(L, r, fname, rc). */
int corun__fsreq_begin(lua_State *L, corun_FsReq *r, const char *fname,
                       int rc) {
  if (rc < 0) {
    r->status = rc;
    corun__fsreq_push_fail(L, r);
    corun__fsreq_free(r);
    return 2;
  }
  return corun__io_wait_request(L, fname, corun__fsreq_cancel, r,
                                &r->orphaned, &r->w);
}
