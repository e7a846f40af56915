/*
** stdio.h - corun.io.stdin/stdout/stderr (stdio.c): a standard stream of
** the process as a corun stream.  A terminal (uv_tty_t) or a pipe or
** socket (uv_pipe_t) is a corun.Stream (stream.c); a redirected file (or
** a character device such as /dev/null) is a corun.StdFile, read and
** written at the descriptor's own position through libuv's thread pool
** (uv_fs_read, uv_fs_write).  Either is an I/O object (io.h): owned by
** one task, moved at spawn, closed at its owner's end; closing it leaves
** the descriptor open (and as blocking as it was).
*/
#ifndef CORUN_STDIO_H
#define CORUN_STDIO_H

#include "io.h"

#define CORUN_STDFILE "corun.StdFile"

/* Opaque.  It begins with its corun_Io: the corun_Io of an object of
   class CORUN_STDFILE (corunL_io_check's answer) is its corun_StdFile. */
typedef struct corun_StdFile corun_StdFile;

/*
** Push a new stream on the standard descriptor 'fd' (0, 1 or 2), owned
** by the running task 'self' (its root; corun__io_ready came first): a
** corun.Stream for a terminal, a pipe or a socket, a corun.StdFile for a
** file; or nil, "ENOTSUP: ..." for a datagram socket, "EBADF: ..." if
** 'fd' is not open or is neither.  Does not wait.
*/
int corun__stdio_open(lua_State *L, const char *fname, corun_Task *self,
                      int fd);

/*
** The methods of a corun.StdFile: its userdata is at index 1 of L, open,
** and the running task may use it; 'fname' must outlive a wait (a
** literal).  As those of a corun.Stream: read(want) up to 'want' bytes
** as soon as some are there, nil at the end; read_line() the next line
** without its end; write(data) true once the bytes are written.  One of
** them waits at a time: another raises "fname: another read or write is
** already waiting on this stream".
*/
int corun__stdfile_read(lua_State *L, const char *fname, corun_StdFile *f,
                        lua_Integer want);
int corun__stdfile_read_line(lua_State *L, const char *fname,
                             corun_StdFile *f);
int corun__stdfile_write(lua_State *L, const char *fname, corun_StdFile *f,
                         const char *data, size_t len);

/* Push what __tostring says of 'f' (NULL: closed). */
int corun__stdfile_tostring(lua_State *L, corun_StdFile *f);

#endif
