/*
** fsreq.c - the request machinery of corun.fs (fsreq.h): making and
** freeing a request, its steps on libuv's thread pool, the cancellation
** of a request whose task stopped waiting, giving back what it holds and
** answering the task, and the checks of a path argument.  The path
** functions (fs.c) and corun.File (file.c) are chains of these steps.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "fsreq.h"

#define STEP_MAX (1u << 30)     /* most bytes one read or write step moves */

/* ---------------------------------------------------------- requests */

Req *corunL_fs_req_new(lua_State *L, const char *fname, size_t mem) {
  Req *r = calloc(1, sizeof *r + mem);
  if (r == NULL)
    corunL_error(L, fname, "not enough memory");
  r->rt = corunL_state(L)->rt;
  r->loop = r->rt->loop;
  r->fd = -1;
  corun__link_init(&r->queue);
  return r;
}

void corunL_fs_req_free(Req *r) {
  uv_fs_req_cleanup(&r->fs);
  free(r->buf);
  free(r);
}

/* Make room for 'n' bytes in r->buf; 0, or UV_ENOMEM. */
int corunL_fs_grow(Req *r, size_t n) {
  char *p = realloc(r->buf, n > 0 ? n : 1);
  if (p == NULL)
    return UV_ENOMEM;
  r->buf = p;
  r->size = n;
  return 0;
}

void corunL_fs_on_step(uv_fs_t *fs) {
  Req *r = fs->data;
  r->busy = 0;
  r->then(r, fs->result);
}

/* The request, made ready for its next step: the last one cleaned up,
   'then' to go on. */
uv_fs_t *corunL_fs_step(Req *r, Then then) {
  uv_fs_req_cleanup(&r->fs);
  r->fs.data = r;
  r->then = then;
  r->keep = 0;
  return &r->fs;
}

/* 'rc' is what a uv_fs_* call returned: 0 (the step is in flight) or a
   libuv error (it did not start). */
int corunL_fs_started(Req *r, int rc) {
  if (rc == 0)
    r->busy = 1;
  return rc;
}

/* A step that could not start goes on at once with its error. */
void corunL_fs_go(Req *r, int rc) {
  if (rc < 0)
    r->then(r, rc);
}

int corunL_fs_do_open(Req *r, const char *path, int flags, int mode,
                      Then then) {
  uv_fs_t *fs = corunL_fs_step(r, then);
  return corunL_fs_started(r, uv_fs_open(r->loop, fs, path, flags, mode,
                                         corunL_fs_on_step));
}

int corunL_fs_do_close(Req *r, uv_file fd, Then then) {
  uv_fs_t *fs = corunL_fs_step(r, then);
  r->keep = 1;
  return corunL_fs_started(r, uv_fs_close(r->loop, fs, fd,
                                          corunL_fs_on_step));
}

/* Read into r->buf after r->len, at 'off' (-1: the OS's position). */
int corunL_fs_do_read(Req *r, uv_file fd, int64_t off, Then then) {
  size_t room = r->size - r->len;
  uv_buf_t b = uv_buf_init(r->buf + r->len,
                           room < STEP_MAX ? (unsigned)room : STEP_MAX);
  uv_fs_t *fs = corunL_fs_step(r, then);
  return corunL_fs_started(r, uv_fs_read(r->loop, fs, fd, &b, 1, off,
                                         corunL_fs_on_step));
}

/* Write r->buf after r->len, at 'off' (-1: the OS's position). */
int corunL_fs_do_write(Req *r, uv_file fd, int64_t off, Then then) {
  size_t left = r->size - r->len;
  uv_buf_t b = uv_buf_init(r->buf + r->len,
                           left < STEP_MAX ? (unsigned)left : STEP_MAX);
  uv_fs_t *fs = corunL_fs_step(r, then);
  return corunL_fs_started(r, uv_fs_write(r->loop, fs, fd, &b, 1, off,
                                          corunL_fs_on_step));
}

int corunL_fs_do_fstat(Req *r, uv_file fd, Then then) {
  uv_fs_t *fs = corunL_fs_step(r, then);
  return corunL_fs_started(r, uv_fs_fstat(r->loop, fs, fd,
                                          corunL_fs_on_step));
}

int corunL_fs_do_fsync(Req *r, uv_file fd, Then then) {
  uv_fs_t *fs = corunL_fs_step(r, then);
  return corunL_fs_started(r, uv_fs_fsync(r->loop, fs, fd,
                                          corunL_fs_on_step));
}

/* The task stopped waiting: stop what can be stopped.  A file's operation
   that has not started leaves the queue; the others end in their
   callbacks. */
void corunL_fs_cancel_req(corun_Waker w, void *ud) {
  Req *r = ud;
  (void)w;
  r->orphaned = 1;
  if (r->busy) {
    if (!r->keep)
      uv_cancel((uv_req_t *)&r->fs);  /* ECANCELED, if not yet running */
  }
  else if (corun__link_linked(&r->queue)) {
    corun__link_remove(&r->queue);
    corunL_fs_req_free(r);
  }
}

/* Push nil and the request's error, naming its path(s). */
int corunL_fs_push_fail(lua_State *L, Req *r) {
  if (r->file != NULL)
    return corun__io_fail(L, r->status, "%s", r->file->path);
  if (r->is_rename)
    return corun__io_fail(L, r->status, "%s -> %s", r->path, r->path2);
  return corun__io_fail(L, r->status, "%s", r->path);
}

int corunL_fs_push_true(lua_State *L, void *ud) {
  Req *r = ud;
  if (r->status != 0)
    return corunL_fs_push_fail(L, r);
  lua_pushboolean(L, 1);
  return 1;
}

/* -------------------------------------------- ending a path function */

/* Answer the task (unless nobody waits), then free the request; what the
   answer did not take over (open's descriptor) is given back first. */
void corunL_fs_answer(Req *r) {
  if (!r->orphaned) {
    r->orphaned = 1;
    corun__io_wake(r->rt, r->w, r->push, r);
  }
  if (r->fd >= 0 || r->has_temp)
    corunL_fs_settle(r);
  else
    corunL_fs_req_free(r);
}

static void released(Req *r, ssize_t res) {
  if (res < 0 && r->status == 0 && r->fs.fs_type == UV_FS_CLOSE)
    r->status = (int)res;  /* a close that fails may have lost writes */
  corunL_fs_settle(r);
}

/* The work is over (r->status says how): give back what the request
   holds, one step at a time, then answer. */
void corunL_fs_settle(Req *r) {
  uv_file fd = r->fd;
  if (fd >= 0) {
    r->fd = -1;
    corunL_fs_go(r, corunL_fs_do_close(r, fd, released));
  }
  else if (r->has_temp) {
    int rc;
    r->has_temp = 0;
    corunL_fs_step(r, released);
    r->keep = 1;
    rc = uv_fs_unlink(r->loop, &r->fs, r->path2, corunL_fs_on_step);
    corunL_fs_go(r, corunL_fs_started(r, rc));
  }
  else
    corunL_fs_answer(r);
}

/* A step ended: 1 to go on; 0 if it failed or nobody waits any more, and
   the request settles. */
int corunL_fs_proceed(Req *r, ssize_t res) {
  if (res < 0 && r->status == 0)
    r->status = (int)res;
  if (res >= 0 && !r->orphaned)
    return 1;
  corunL_fs_settle(r);
  return 0;
}

/* The last step of a function ended. */
void corunL_fs_done(Req *r, ssize_t res) {
  if (corunL_fs_proceed(r, res))
    corunL_fs_settle(r);
}

/* Start the task's wait for request 'r' whose first step started with
   'rc'; if it did not start, answer nil, err now. */
int corunL_fs_begin(lua_State *L, Req *r, const char *fname, int rc) {
  if (rc < 0) {
    r->status = rc;
    corunL_fs_push_fail(L, r);
    corunL_fs_req_free(r);
    return 2;
  }
  return corun__io_wait_request(L, fname, corunL_fs_cancel_req, r,
                                &r->orphaned, &r->w);
}

/* --------------------------------------------------------- arguments */

/* The path at 'arg': a string without zero bytes; '*len' its length. */
const char *corunL_fs_check_path(lua_State *L, const char *fname, int arg,
                                 size_t *len) {
  return corunL_checkcstring(L, fname, arg, "path", len);
}

/* A request for a path function on the path at 'arg' ('extra' bytes of
   room after it). */
Req *corunL_fs_path_req(lua_State *L, const char *fname, int arg,
                        size_t extra) {
  size_t n;
  const char *path = corunL_fs_check_path(L, fname, arg, &n);
  Req *r;
  corunL_waiter(L, fname);
  r = corunL_fs_req_new(L, fname, n + 1 + extra);
  memcpy(r->mem, path, n + 1);
  r->path = r->mem;
  r->path2 = r->mem + n + 1;
  return r;
}

