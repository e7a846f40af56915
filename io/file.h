/*
** file.h - corun.File and corun.fs.open (file.c) for the bindings
** (bindings/file.c).
**
** The operations are called by their Lua functions once the arguments are
** checked and the running task may wait (corunL_waiter); a method's file
** is open and the running task may use it (corunL_io_check), and its
** userdata is at index 1: it stays there, reachable, while the operation
** works.  'fname' names the function in the errors they raise (out of
** memory; those of corun__io_prepare).  They return what the task will be
** woken with (return corun__file_x(L, ...)), or the answer at once when
** there is nothing to wait for: the results below, or nil and "UV_NAME:
** message (path)"; an operation still queued when its file closes answers
** nil, "ECANCELED: ... (the file was closed)".
*/
#ifndef CORUN_FILE_H
#define CORUN_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>
#include "io.h"

#define CORUN_FILE "corun.File"   /* the class of its userdata */

typedef struct corun_File corun_File;

/* The file that the I/O object 'io' (of class CORUN_FILE) is. */
corun_File *corun__file_of(corun_Io *io);

/* The path the file was opened with (for __tostring). */
const char *corun__file_path(const corun_File *f);

/* The UV_FS_O_* flags of an io.open mode ("r", "w", "a", then an
   optional "+", then any "b"); -1 if 'mode' is not one. */
int corun__file_flags(const char *mode);

/* corun.fs.open: open 'path' ('len' bytes, no zero byte, then the NUL)
   with 'flags' (corun__file_flags), a new file created with permission
   bits 0666 (less the umask): a corun.File owned by the task.  An "a"
   mode without "+" starts at the end of the file, as io.open. */
int corun__file_open(lua_State *L, const char *fname, const char *path,
                     size_t len, int flags);

/* file:read: up to 'want' bytes (SIZE_MAX: to the end) at the file's
   position, fewer only at the end of the file (or from a pipe, a
   terminal: what is there); nil at the end of the file. */
int corun__file_read(lua_State *L, const char *fname, corun_File *f,
                     size_t want);

/* file:write: the 'len' bytes at 'data' (copied) at the file's position
   (append modes: at its end): true. */
int corun__file_write(lua_State *L, const char *fname, corun_File *f,
                      const char *data, size_t len);

/* file:seek: the position to 'off' from 'whence' (SEEK_SET, SEEK_CUR or
   SEEK_END): the new position. */
int corun__file_seek(lua_State *L, const char *fname, corun_File *f,
                     int whence, int64_t off);

/* file:sync: the file's data on its device: true. */
int corun__file_sync(lua_State *L, const char *fname, corun_File *f);

#endif
