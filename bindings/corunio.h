/*
** corunio.h - what the I/O bindings share (io.c): failures in API.md's
** shape, the userdata that boxes an I/O object, waits on libuv callbacks.
*/
#ifndef CORUNIO_H
#define CORUNIO_H

#include <uv.h>
#include "../host/corun.h"
#include "../io/io.h"
#include "corunL.h"

/* Method self: the open I/O object at index 1, of class 'tname', which
   the running task may use; raises otherwise ('what': "connection"...). */
corun_Io *corunL_io_check(lua_State *L, const char *fname, const char *tname,
                          const char *what);

/* The object at index 1 if open, else NULL (no ownership check). */
corun_Io *corunL_io_peek(lua_State *L, const char *fname, const char *tname);

/* __gc and __close of every I/O class: close the object (__close only if
   the running task may use it: one that moved away is not closed).  Each
   is a closure whose upvalue 2 is the class's metatable; called by hand,
   it checks its argument is of the class. */
int corunL_io_gc(lua_State *L);
int corunL_io_closevar(lua_State *L);

/* Register an I/O class (methods get the state and the metatable as
   upvalues, see corunL_newclass); __gc, __close and the crossing are
   added.  Leaves nothing on the stack. */
void corunL_io_newclass(lua_State *L, const char *tname,
                        const luaL_Reg *methods, const luaL_Reg *meta);

/* Make sure the runtime can list I/O objects (corun__io_ready): call it
   in a Lua call that may make one without waiting first; raises
   "fname: not enough memory" (or the task checks of corunL_waiter). */
void corunL_io_ready(lua_State *L, const char *fname);

/* The string at 'arg' (not a number: as corun's messages want it). */
const char *corunL_checkstring(lua_State *L, const char *fname, int arg,
                               size_t *len);

/* A string that goes to C as a C string (a path, a host name, a command)
   must hold no zero byte, or C would see it cut short: raise
   "fname: bad argument #arg (<what> contains a zero byte)" if the 'len'
   bytes at 's' hold one.  corunL_checkcstring: the same for the string
   at 'arg', which it returns ('*len' its length, if not NULL). */
void corunL_check_nozero(lua_State *L, const char *fname, int arg,
                         const char *what, const char *s, size_t len);
const char *corunL_checkcstring(lua_State *L, const char *fname, int arg,
                                const char *what, size_t *len);

/* The port at 'arg' (0..65535). */
int corunL_checkport(lua_State *L, const char *fname, int arg);

/* The methods of a stream (stream.c), for each class of stream: the
   object at index 1 must be of class 'tname'; 'fname' names the method
   (a literal: a read uses it after waiting). */
int corunL_stream_read(lua_State *L, const char *tname, const char *fname);
int corunL_stream_read_line(lua_State *L, const char *tname,
                            const char *fname);
int corunL_stream_write(lua_State *L, const char *tname, const char *fname);
int corunL_stream_shutdown(lua_State *L, const char *tname,
                           const char *fname);
int corunL_stream_close(lua_State *L, const char *tname, const char *fname);
int corunL_stream_peer(lua_State *L, const char *tname, const char *fname);
int corunL_stream_address(lua_State *L, const char *tname,
                          const char *fname);

void corunL_open_stream(lua_State *L);
void corunL_open_tls(lua_State *L);
void corunL_open_net(lua_State *L);
void corunL_open_udp(lua_State *L);  /* after corunL_open_net */
void corunL_open_stdio(lua_State *L);
void corunL_open_fs(lua_State *L);
void corunL_fs_open_file(lua_State *L);  /* file.c, for corunL_open_fs */
void corunL_open_process(lua_State *L);
void corunL_open_signal(lua_State *L);
void corunL_open_http(lua_State *L);
void corunL_open_httpd(lua_State *L);

/* The number of the signal named by the string at 'arg' ("SIGTERM");
   raises "fname: bad argument #arg (unknown signal ...)" (signal.c). */
int corunL_checksignal(lua_State *L, const char *fname, int arg);

#endif
