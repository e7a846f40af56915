/*
** fsreq.h - the requests corun.fs runs on (fsreq.c), shared by its two
** halves: the path functions (fs.c) and corun.File with corun.fs.open
** (file.c).  Files and directories go through libuv's thread pool (uv_fs_*
** with a callback, so only the calling task waits).
**
** Every call is a malloc'd request record (Req) shared by the waiting task
** and libuv's callbacks.  A call may take several steps (open, read,
** close), each a uv_fs_t request on the record's one uv_fs_t.  If the task
** stops waiting (cancelled, timed out), the cancel callback marks the
** record orphaned and uv_cancel's the step in flight, unless that step
** gives something back (a close, the removal of a temporary file); the
** step's callback, which always comes, then only gives back what the
** record holds (closes its descriptor, removes its temporary file) and
** frees it.  Otherwise the last callback makes the Lua values
** (corunL_io_wake) and frees the record.  Callbacks of orphaned records
** never touch the runtime, which may be gone by then.
**
** The contract of each function is stated at its definition.
*/
#ifndef CORUN_FSREQ_H
#define CORUN_FSREQ_H

#include <stdint.h>
#include <lauxlib.h>
#include "corunio.h"

#define CHUNK (64 * 1024)       /* first room for a read of unknown size */

typedef struct Req Req;
typedef struct File File;

/* What to do when the step in flight ends with libuv's result 'res'. */
typedef void (*Then)(Req *r, ssize_t res);

struct Req {
  uv_fs_t fs;             /* the step in flight (fs.data is this record) */
  corun_Link queue;       /* in its file's queue while it waits its turn */
  corun_Runtime *rt;      /* borrows: valid unless orphaned */
  uv_loop_t *loop;        /* borrows: outlives every request on it */
  corun_Waker w;          /* the wait of the calling task */
  corun_IoPush push;       /* makes the results (see corunL_fs_answer) */
  Then then;              /* goes on once the step in flight ends */
  File *file;             /* borrows: the file of a method, or NULL */
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
  int tries;              /* names tried for the temporary file */
  int flags;              /* open: UV_FS_O_* flags */
  int mode;               /* open: permission bits of a new file */
  int is_rename;          /* messages name both paths */
  int kind;               /* OP_* (file.c), for a file's operation */
  int whence;             /* seek: SEEK_SET, SEEK_CUR or SEEK_END */
  char *buf;              /* owns: what was read, or is to be written */
  size_t len;             /* bytes read, or written so far */
  size_t size;            /* bytes to write; room in 'buf' when reading */
  size_t want;            /* most bytes to read (SIZE_MAX: to the end) */
  int64_t off;            /* seek: the offset, then the new position */
  uv_stat_t st;           /* what the last stat step found */
  const char *path;       /* the path (in 'mem') */
  char *path2;            /* rename: the target; write_file: the
                             temporary file (in 'mem') */
  char mem[];             /* room for the paths */
};

/* A corun.File (file.c); a request's messages name its path. */
struct File {
  corun_Io io;            /* first: the object's life (io.h) */
  uv_fs_t close_req;      /* closes 'fd' at the end */
  corun_Runtime *rt;      /* borrows: valid while open */
  uv_loop_t *loop;        /* borrows: outlives the file */
  uv_file fd;             /* owns */
  int64_t pos;            /* where the next read or write goes */
  int append;             /* "a" modes: every write goes to the end */
  int seekable;           /* a regular file or a block device: reads and
                             writes at 'pos'; else at the OS's position */
  Req *inflight;          /* the operation under way, or NULL */
  corun_Link queue;       /* operations waiting their turn (Req.queue) */
  char path[];            /* as given to open, for messages */
};

/* ---------------------------------------------------------- requests */

Req *corunL_fs_req_new(lua_State *L, const char *fname, size_t mem);
void corunL_fs_req_free(Req *r);
int corunL_fs_grow(Req *r, size_t n);

/* Steps: make one ready, start it, go on when it could not start. */
void corunL_fs_on_step(uv_fs_t *fs);  /* the callback of every step */
uv_fs_t *corunL_fs_step(Req *r, Then then);
int corunL_fs_started(Req *r, int rc);
void corunL_fs_go(Req *r, int rc);
int corunL_fs_do_open(Req *r, const char *path, int flags, int mode,
                      Then then);
int corunL_fs_do_close(Req *r, uv_file fd, Then then);
int corunL_fs_do_read(Req *r, uv_file fd, int64_t off, Then then);
int corunL_fs_do_write(Req *r, uv_file fd, int64_t off, Then then);
int corunL_fs_do_fstat(Req *r, uv_file fd, Then then);
int corunL_fs_do_fsync(Req *r, uv_file fd, Then then);

/* The cancel callback of every request's wait. */
void corunL_fs_cancel_req(corun_Waker w, void *ud);

/* Pushers of the answer (corun_IoPush). */
int corunL_fs_push_fail(lua_State *L, Req *r);
int corunL_fs_push_true(lua_State *L, void *ud);

/* -------------------------------------------- ending a path function */

void corunL_fs_answer(Req *r);
void corunL_fs_settle(Req *r);
int corunL_fs_proceed(Req *r, ssize_t res);
void corunL_fs_done(Req *r, ssize_t res);
int corunL_fs_begin(lua_State *L, Req *r, const char *fname, int rc);

/* --------------------------------------------------------- arguments */

const char *corunL_fs_check_path(lua_State *L, const char *fname, int arg,
                                 size_t *len);
Req *corunL_fs_path_req(lua_State *L, const char *fname, int arg,
                        size_t extra);

/* ------------------------------------------------------------ file.c */

/* Register corun.File and add corun.fs.open to the table on top of L
   (corun.fs), the corun_State just below it. */
void corunL_fs_open_file(lua_State *L);

#endif
