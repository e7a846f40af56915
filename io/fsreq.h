/*
** fsreq.h - the requests corun.fs runs on (fsreq.c), shared by the two
** halves of the file system's I/O: the path functions (fs.c) and
** corun.File with corun.fs.open (file.c).  Files and directories go
** through libuv's thread pool (uv_fs_* with a callback, so only the
** calling task waits).  The bindings do not include this header: they
** call the operations of fs.h and file.h.
**
** Every call is a malloc'd request record (corun_FsReq) shared by the
** waiting task and libuv's callbacks.  A call may take several steps
** (open, read, close), each a uv_fs_t request on the record's one
** uv_fs_t.  If the task stops waiting (cancelled, timed out), the cancel
** callback marks the record orphaned and uv_cancel's the step in flight,
** unless that step gives something back (a close, the removal of a
** temporary file); the step's callback, which always comes, then only
** gives back what the record holds (closes its descriptor, removes its
** temporary file) and frees it.  Otherwise the last callback makes the Lua
** values (corun__io_wake) and frees the record.  Callbacks of orphaned
** records never touch the runtime, which may be gone by then.
**
** The contract of each function is stated at its definition.
*/
#ifndef CORUN_FSREQ_H
#define CORUN_FSREQ_H

#include <stdint.h>
#include <lua.h>
#include <uv.h>
#include "io.h"

#define CORUN_FS_CHUNK (64 * 1024)  /* first room for a read of unknown
                                       size */

typedef struct corun_FsReq corun_FsReq;

/* What to do when the step in flight ends with libuv's result 'res'. */
typedef void (*corun_FsThen)(corun_FsReq *r, ssize_t res);

struct corun_FsReq {
  uv_fs_t fs;             /* the step in flight (fs.data is this record) */
  corun_Link queue;       /* in its file's queue while it waits its turn */
  corun_Runtime *rt;      /* borrows: valid unless orphaned */
  uv_loop_t *loop;        /* borrows: outlives every request on it */
  corun_Waker w;          /* the wait of the calling task */
  corun_IoPush push;      /* makes the results (see corun__fsreq_answer) */
  corun_FsThen then;      /* goes on once the step in flight ends */
  struct corun_File *file;  /* borrows: the file (file.c) of a method,
                               or NULL */
  int busy;               /* a step is in flight */
  int keep;               /* that step gives something back: never
                             uv_cancel it */
  int orphaned;           /* nobody to answer: the task stopped waiting,
                             or was answered */
  int status;             /* the libuv error to report, or 0 */
  uv_file fd;             /* owns: a descriptor the request opened, or -1 */
  int has_temp;           /* the temporary file 'path2' exists: owns it */
  int atomic;             /* write_file: through a temporary file */
  int chmod;              /* write_file: give the temporary file 'mode' */
  int tries;              /* write_file: names tried for the temporary
                             file; mkdir with parents: 1 once it makes
                             them (going forward) */
  int flags;              /* open: UV_FS_O_* flags */
  int mode;               /* open: permission bits of a new file */
  int two_paths;          /* messages name both paths: "path -> path2" */
  int kind;               /* OP_* (file.c), for a file's operation */
  int whence;             /* seek: SEEK_SET, SEEK_CUR or SEEK_END */
  char *buf;              /* owns: what was read, or is to be written */
  size_t len;             /* bytes read, or written so far; mkdir with
                             parents: the length of the directory being
                             made (where 'path2' is cut) */
  size_t size;            /* bytes to write; room in 'buf' when reading;
                             mkdir with parents: the length of 'path' */
  size_t want;            /* most bytes to read (SIZE_MAX: to the end) */
  int64_t off;            /* seek: the offset, then the new position */
  uv_stat_t st;           /* what the last stat step found */
  const char *path;       /* the path (in 'mem'); a file's operation:
                             borrows its file's path, for messages */
  char *path2;            /* rename, copy: the target; symlink: what the
                             link points to; write_file: the temporary
                             file; mkdir with parents: a copy of 'path'
                             cut after the directory being made (in
                             'mem') */
  char mem[];             /* room for the paths */
};

/* ---------------------------------------------------------- requests */

corun_FsReq *corun__fsreq_new(lua_State *L, const char *fname, size_t mem);
corun_FsReq *corun__fsreq_path(lua_State *L, const char *fname,
                               const char *path, size_t len, size_t extra);
void corun__fsreq_free(corun_FsReq *r);
int corun__fsreq_grow(corun_FsReq *r, size_t n);

/* Steps: make one ready, start it, go on when it could not start. */
void corun__fsreq_on_step(uv_fs_t *fs);  /* the callback of every step */
uv_fs_t *corun__fsreq_step(corun_FsReq *r, corun_FsThen then);
int corun__fsreq_started(corun_FsReq *r, int rc);
void corun__fsreq_go(corun_FsReq *r, int rc);
int corun__fsreq_open(corun_FsReq *r, const char *path, int flags, int mode,
                      corun_FsThen then);
int corun__fsreq_close(corun_FsReq *r, uv_file fd, corun_FsThen then);
int corun__fsreq_read(corun_FsReq *r, uv_file fd, int64_t off,
                      corun_FsThen then);
int corun__fsreq_write(corun_FsReq *r, uv_file fd, int64_t off,
                       corun_FsThen then);
int corun__fsreq_fstat(corun_FsReq *r, uv_file fd, corun_FsThen then);
int corun__fsreq_fsync(corun_FsReq *r, uv_file fd, corun_FsThen then);

/* The cancel callback of every request's wait. */
void corun__fsreq_cancel(corun_Waker w, void *ud);

/* Pushers of the answer (corun_IoPush). */
int corun__fsreq_push_fail(lua_State *L, corun_FsReq *r);
int corun__fsreq_push_true(lua_State *L, void *ud);

/* -------------------------------------------- ending a path function */

void corun__fsreq_answer(corun_FsReq *r);
void corun__fsreq_settle(corun_FsReq *r);
int corun__fsreq_proceed(corun_FsReq *r, ssize_t res);
void corun__fsreq_done(corun_FsReq *r, ssize_t res);
int corun__fsreq_begin(lua_State *L, corun_FsReq *r, const char *fname,
                       int rc);

#endif
