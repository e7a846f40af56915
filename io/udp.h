/*
** udp.h - corun.net.udp (udp.c): a UDP socket on libuv's uv_udp_t, a
** corun.UdpSocket.  It is an I/O object (io.h): owned by one task, moved
** at spawn, closed at its owner's end.
*/
#ifndef CORUN_UDP_H
#define CORUN_UDP_H

#include "io.h"

#define CORUN_UDP "corun.UdpSocket"

/* Datagrams kept while no task takes them; past that, reading stops and
   the kernel's buffer holds (or drops) what comes. */
#define CORUN_UDP_QUEUE 1024

/* The largest payload of a datagram (IPv4: 65535 less the IP and UDP
   headers); a larger send_to fails with EMSGSIZE. */
#define CORUN_UDP_MAX 65507

/* Opaque.  It begins with its corun_Io: the corun_Io of an object of
   class CORUN_UDP (corunL_io_check's answer) is its corun_Udp. */
typedef struct corun_Udp corun_Udp;

/*
** corun.net.udp: a socket for the running task 'self' (its root owns it;
** corun__io_ready came first), bound to host:port when 'host' is not NULL
** (a numeric address; port 0 picks a free port), else bound by the
** system at its first send_to or recv_from.  Pushes the socket, or nil
** and "UV_NAME: ... (host:port)".  Does not wait.
*/
int corun__udp_open(lua_State *L, const char *fname, corun_Task *self,
                    const char *host, int port);

/*
** The methods: the socket's userdata is at index 1 of L, open, and the
** running task may use it.  'fname' must outlive a wait (a literal).
**   send_to: send the 'len' bytes at 'data' to host:port (a numeric
**     address): true, or nil, err (EMSGSIZE past CORUN_UDP_MAX); waits
**     only if the system's send buffer is full.
**   recv_from: the next datagram: data, host, port; waits for one (a
**     wait that does not hold a paused clock: a datagram may never
**     come); nil, "ECANCELED: ..." if the socket closes meanwhile.
**   address: host, port it is bound to, or nil, err.
*/
int corun__udp_send_to(lua_State *L, const char *fname, corun_Udp *u,
                       const char *data, size_t len, const char *host,
                       int port);
int corun__udp_recv_from(lua_State *L, const char *fname, corun_Udp *u);
int corun__udp_address(lua_State *L, const char *fname, corun_Udp *u);

/* Push what __tostring says of 'u' (NULL: closed). */
int corun__udp_tostring(lua_State *L, corun_Udp *u);

#endif
