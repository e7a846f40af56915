/*
** tcp.h - TCP and Unix-domain sockets (tcp.c): connecting (a
** corun.Stream), listening (a corun.Server, which accepts connections)
** and name look-ups, for the bindings of corun.net, corun.Server and
** corun.dns.
*/
#ifndef CORUN_TCP_H
#define CORUN_TCP_H

#include "io.h"
#include "stream.h"

#define CORUN_SERVER "corun.Server"

/* Opaque.  It begins with its corun_Io: the corun_Io of an object of
   class CORUN_SERVER (corunL_io_check's answer) is its corun_Server. */
typedef struct corun_Server corun_Server;

/*
** The operations, for the bindings, which have checked the arguments and
** the running task (see each).  Each returns the number of results pushed
** (API.md's shape: nil, err on failure), or suspends the task.  'fname'
** names the function in the errors it raises (a wait refused, out of
** memory, misuse only TCP can see); it must outlive the call (a literal):
** accept uses it again after waiting.
*/

/* corun.net.connect: a connection to host:port (a name is looked up and
   each address tried in turn).  The running task may wait.  'k', if not
   NULL, is the wait's continuation (see corun__io_wait_request_k: the
   connection or nil, err are above 'ctx'), for what goes on after the
   connect (TLS). */
int corun__tcp_connect(lua_State *L, const char *fname, const char *host,
                       int port, lua_KFunction k);

/*
** A server whose connections are prepared before accept hands them out
** (TLS: their handshakes, io/tls.c), instead of as they come.  The server
** owns it from corun__tcp_listen on, whatever happens.
*/
typedef struct corun_Preparer corun_Preparer;
struct corun_Preparer {
  const char *name;       /* what it makes of the connections ("tls") */
  /* A connection came to 'sv': take it (corun__tcp_take) and prepare it;
     each that gets ready is announced with corun__tcp_ready(sv). */
  void (*incoming)(corun_Preparer *p, corun_Server *sv);
  /* accept: push the connection that got ready first, owned by 'owner'
     (its root), or nil, err if it cannot; returns how many values. */
  int (*take)(lua_State *L, corun_Preparer *p, corun_Task *owner);
  /* The server closes, or was never made: drop the connections being
     prepared or ready ('force': the runtime closes), and free 'p'. */
  void (*close)(corun_Preparer *p, int force);
};

/* corun.net.listen: a server listening on host:port, owned by the running
   task 'self' (corun__io_ready was called).  A name is looked up first:
   only then must the task be able to wait.  'prep': NULL, or how its
   connections are prepared for accept. */
int corun__tcp_listen(lua_State *L, const char *fname, corun_Task *self,
                      const char *host, int port, int backlog,
                      corun_Preparer *prep);

/* For a preparer: accept the connection that came to 'sv' (a stream that
   is no Lua object yet), or NULL with '*err' set; and say that one of
   those it prepares is ready for accept. */
corun_Stream *corun__tcp_take(corun_Server *sv, int *err);
void corun__tcp_ready(corun_Server *sv);

/* corun.net.connect_unix: a connection to the Unix-domain socket at
   'path' (a C string); nil, "ENAMETOOLONG: ..." if the path does not fit
   a socket address.  The running task may wait. */
int corun__unix_connect(lua_State *L, const char *fname, const char *path);

/* corun.net.listen_unix: a server listening on a new Unix-domain socket
   at 'path', owned by the running task 'self' (corun__io_ready was
   called); nil, "EADDRINUSE: ..." if a file is there already (a socket
   file is removed when its server closes, never when a bind finds it).
   Does not wait. */
int corun__unix_listen(lua_State *L, const char *fname, corun_Task *self,
                       const char *path, int backlog);

/* corun.dns.resolve: the addresses of 'host', a list of strings without
   duplicates.  The running task may wait. */
int corun__tcp_resolve(lua_State *L, const char *fname, const char *host);

/* The methods of corun.Server: 'sv' is open, the running task may use it,
   and its userdata is at index 1 of L.  accept: the next connection,
   waiting for one; address: host, port it listens on; tostring (any task
   may): "corun.Server (host:port)". */
int corun__tcp_accept(lua_State *L, const char *fname, corun_Server *sv);
int corun__tcp_server_address(lua_State *L, const char *fname,
                              corun_Server *sv);
int corun__tcp_server_tostring(lua_State *L, const char *fname,
                               corun_Server *sv);

#endif
