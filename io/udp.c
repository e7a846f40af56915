/*
** udp.c - corun.net.udp (udp.h): a UDP socket on uv_udp_t.
**
** Receiving starts with the first recv_from and goes on while the
** socket's queue holds fewer than CORUN_UDP_QUEUE datagrams, whether or
** not a task waits: each datagram is copied out of the socket's receive
** buffer into the queue.  When the queue is full, receiving stops until
** recv_from takes one, and the kernel's buffer holds what comes (and
** drops past its size: UDP's own rule).  A task waiting in recv_from is
** only woken: it takes the datagram in its continuation, so that a task
** cancelled between its wake and its run leaves it for the next call.
**
** Sending: uv_udp_try_send first; when the system cannot take the
** datagram at once (EAGAIN), it is copied into a request and the task
** waits for libuv's callback.  A send request whose task stopped waiting
** is orphaned: its callback, which always comes (with ECANCELED if the
** socket closed), only frees it.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "udp.h"

#define RECV_ROOM 65536  /* a whole datagram: the largest UDP payload */

/* A datagram received and not taken yet. */
typedef struct Datagram {
  struct Datagram *next;        /* the next one received, or NULL */
  struct sockaddr_storage from; /* who sent it */
  size_t len;                   /* bytes in 'data' */
  char data[];                  /* the payload */
} Datagram;

struct corun_Udp {
  corun_Io io;            /* first: the object's life (io.h) */
  uv_udp_t handle;        /* the socket, freed in on_closed */
  corun_Runtime *rt;      /* borrows: valid while open */
  corun_Waker receiver;   /* the task waiting in recv_from, or 0 */
  Datagram *head;         /* owns: the oldest datagram kept, or NULL */
  Datagram *tail;         /* borrows: the newest, or NULL */
  unsigned count;         /* datagrams kept */
  int receiving;          /* uv_udp_recv_start is on */
  int err;                /* receiving failed (libuv error), sticky */
  char *room;             /* owns: RECV_ROOM bytes libuv reads into, made
                             on the first recv_from */
};

/* A send the system did not take at once: shared by the waiting task and
   libuv's callback, which frees it. */
typedef struct SendReq {
  uv_udp_send_t req;      /* the libuv request (first: the cast back) */
  corun_Runtime *rt;      /* borrows: valid unless orphaned */
  corun_Waker w;          /* the task waiting for it */
  int orphaned;           /* the task stopped waiting */
  int status;             /* libuv's answer */
  char data[];            /* the datagram, owned by the request */
} SendReq;

/* A wake with no values: the continuation looks at the socket. */
static int push_nothing(lua_State *L, void *ud) {
  (void)L; (void)ud;
  return 0;
}

/* ------------------------------------------------------------ life */

static void on_closed(uv_handle_t *h) {
  corun_Udp *u = h->data;
  while (u->head != NULL) {
    Datagram *d = u->head;
    u->head = d->next;
    free(d);
  }
  free(u->room);
  free(u);
}

/* The socket's close (corun_Io.close): at once; sends still queued in
   libuv end with ECANCELED.  A task waiting in recv_from finds it
   closed. */
static void udp_close(corun_Io *io, int force) {
  corun_Udp *u = (corun_Udp *)io;
  (void)force;
  corun__io_wake_slot(u->rt, &u->receiver, push_nothing, NULL);
  if (u->receiving)
    uv_udp_recv_stop(&u->handle);
  u->receiving = 0;
  corun__io_done(io);
  uv_close((uv_handle_t *)&u->handle, on_closed);
}

/* The socket address of a numeric host and a port: 0, or UV_EINVAL. */
static int numeric(const char *host, int port, struct sockaddr_storage *sa) {
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)sa) == 0)
    return 0;
  if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)sa) == 0)
    return 0;
  return UV_EINVAL;
}

/* Push "host:port" or "[v6host]:port", for messages; return it. */
static const char *where(lua_State *L, const char *host, int port) {
  return lua_pushfstring(L, strchr(host, ':') != NULL ? "[%s]:%d" : "%s:%d",
                         host, port);
}

int corun__udp_open(lua_State *L, const char *fname, corun_Task *self,
                    const char *host, int port) {
  corun_Udp *u;
  struct sockaddr_storage sa;
  int rc;
  (void)fname;  /* fails with results, never raises its own */
  if (host != NULL && numeric(host, port, &sa) != 0)
    return corun__io_fail(L, UV_EINVAL, "not a numeric address: %s",
                          where(L, host, port));
  if ((u = calloc(1, sizeof *u)) == NULL)
    return corun__io_fail(L, UV_ENOMEM, NULL);
  u->rt = self->rt;
  if ((rc = uv_udp_init(self->rt->loop, &u->handle)) != 0) {
    free(u);
    return corun__io_fail(L, rc, NULL);
  }
  u->handle.data = u;
  if (host != NULL &&
      (rc = uv_udp_bind(&u->handle, (struct sockaddr *)&sa, 0)) != 0) {
    uv_close((uv_handle_t *)&u->handle, on_closed);
    return corun__io_fail(L, rc, "%s", where(L, host, port));
  }
  corun__io_open(self->rt, &u->io, self, udp_close);
  corun__io_push(L, &u->io, CORUN_UDP);
  return 1;
}

/* --------------------------------------------------------- sending */

static int push_sent(lua_State *L, void *ud) {
  SendReq *r = ud;
  if (r->status < 0)
    return corun__io_fail(L, r->status, NULL);
  lua_pushboolean(L, 1);
  return 1;
}

static void on_send(uv_udp_send_t *req, int status) {
  SendReq *r = (SendReq *)req;
  if (!r->orphaned) {
    r->status = status;
    corun__io_wake(r->rt, r->w, push_sent, r);
  }
  free(r);
}

static void cancel_send(corun_Waker w, void *ud) {
  (void)w;
  ((SendReq *)ud)->orphaned = 1;  /* the datagram still goes */
}

int corun__udp_send_to(lua_State *L, const char *fname, corun_Udp *u,
                       const char *data, size_t len, const char *host,
                       int port) {
  struct sockaddr_storage sa;
  uv_buf_t buf;
  SendReq *r;
  int rc;
  if (numeric(host, port, &sa) != 0)
    return corun__io_fail(L, UV_EINVAL, "not a numeric address: %s",
                          where(L, host, port));
  if (len > CORUN_UDP_MAX)
    return corun__io_fail(L, UV_EMSGSIZE, "%I bytes, at most %d in a "
                          "datagram", (LUAI_UACINT)len, CORUN_UDP_MAX);
  buf = uv_buf_init((char *)data, (unsigned)len);
  rc = uv_udp_try_send(&u->handle, &buf, 1, (struct sockaddr *)&sa);
  if (rc >= 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (rc != UV_EAGAIN && rc != UV_ENOSYS)
    return corun__io_fail(L, rc, "%s", where(L, host, port));
  /* the system's buffer is full: queue it in libuv, and wait */
  if ((r = calloc(1, sizeof *r + len)) == NULL)
    return corun__io_fail(L, UV_ENOMEM, NULL);
  memcpy(r->data, data, len);
  r->rt = u->rt;
  buf = uv_buf_init(r->data, (unsigned)len);
  if ((rc = uv_udp_send(&r->req, &u->handle, &buf, 1,
                        (struct sockaddr *)&sa, on_send)) != 0) {
    free(r);
    return corun__io_fail(L, rc, "%s", where(L, host, port));
  }
  return corun__io_wait_request(L, fname, cancel_send, r, &r->orphaned,
                                &r->w);
}

/* ------------------------------------------------------- receiving */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  corun_Udp *u = h->data;
  (void)suggested;
  *buf = uv_buf_init(u->room, RECV_ROOM);
}

/* A datagram came (or an error): keep it, stop receiving once the queue
   is full, wake the receiver. */
static void on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf,
                    const struct sockaddr *addr, unsigned flags) {
  corun_Udp *u = h->data;
  Datagram *d;
  (void)buf; (void)flags;  /* RECV_ROOM holds any datagram: never
                              UV_UDP_PARTIAL */
  if (n < 0) {
    if (u->err == 0)
      u->err = (int)n;
  }
  else if (addr == NULL)  /* nothing more to read for now */
    return;
  else if ((d = malloc(sizeof *d + (size_t)n)) == NULL) {
    if (u->err == 0)  /* the datagram is lost: say so */
      u->err = UV_ENOBUFS;
  }
  else {
    d->next = NULL;
    memset(&d->from, 0, sizeof d->from);
    memcpy(&d->from, addr, addr->sa_family == AF_INET6
           ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    d->len = (size_t)n;
    memcpy(d->data, u->room, (size_t)n);
    if (u->tail != NULL)
      u->tail->next = d;
    else
      u->head = d;
    u->tail = d;
    u->count++;
  }
  if ((u->err != 0 || u->count >= CORUN_UDP_QUEUE) && u->receiving) {
    uv_udp_recv_stop(&u->handle);
    u->receiving = 0;
  }
  corun__io_wake_slot(u->rt, &u->receiver, push_nothing, NULL);
}

/* Receive while the queue has room (and the socket did not fail): 0, or
   libuv's error. */
static int start_receiving(corun_Udp *u) {
  int rc;
  if (u->receiving || u->err != 0 || u->count >= CORUN_UDP_QUEUE)
    return 0;
  if (u->room == NULL && (u->room = malloc(RECV_ROOM)) == NULL)
    return UV_ENOMEM;
  if ((rc = uv_udp_recv_start(&u->handle, on_alloc, on_recv)) == 0)
    u->receiving = 1;
  return rc;
}

/* Push the oldest datagram kept (data, host, port), and forget it. */
static int take(lua_State *L, corun_Udp *u) {
  Datagram *d = u->head;
  lua_pushlstring(L, d->data, d->len);
  corun__io_push_addr(L, (struct sockaddr *)&d->from);
  u->head = d->next;
  if (u->head == NULL)
    u->tail = NULL;
  u->count--;
  free(d);  /* after the pushes: a memory error keeps it */
  start_receiving(u);  /* a failure shows at the next wait */
  return 3;
}

static void cancel_recv(corun_Waker w, void *ud) {
  corun_Udp *u = ud;
  if (u->receiver == w)
    u->receiver = 0;
}

static int recv_step(lua_State *L, const char *fname);

/* recv_from woke ('ctx': its fname): take what came, or wait again. */
static int k_recv(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  corun__wait_check(L, 1);
  return recv_step(L, (const char *)ctx);
}

/* Stack: the socket.  The oldest datagram kept, else the socket's error,
   else wait; the socket may have closed while the task waited. */
static int recv_step(lua_State *L, const char *fname) {
  corun_Udp *u = (corun_Udp *)*(corun_Io **)lua_touserdata(L, 1);
  int rc;
  if (u == NULL)
    return corun__io_fail(L, UV_ECANCELED, "the socket was closed");
  if (u->count > 0)
    return take(L, u);
  if (u->err != 0) {
    rc = u->err;
    u->err = 0;  /* said once; receiving may go on */
    return corun__io_fail(L, rc, NULL);
  }
  if (u->receiver != 0)
    return corun__error(L, fname, "another task is already waiting in "
                        "recv_from");
  if ((rc = start_receiving(u)) != 0)
    return corun__io_fail(L, rc, NULL);
  u->receiver = corun__io_prepare(L, fname, cancel_recv, u);
  corun__wait_unheld(u->rt, u->receiver);  /* a datagram may never come */
  return corun__wait_k(L, u->receiver, (lua_KContext)(intptr_t)fname,
                       k_recv);
}

int corun__udp_recv_from(lua_State *L, const char *fname, corun_Udp *u) {
  (void)u;  /* recv_step finds it at index 1, after a wait too */
  lua_settop(L, 1);
  return recv_step(L, fname);
}

/* ----------------------------------------------------------- names */

int corun__udp_address(lua_State *L, const char *fname, corun_Udp *u) {
  struct sockaddr_storage sa;
  int len = sizeof sa, rc;
  (void)fname;
  if ((rc = uv_udp_getsockname(&u->handle, (struct sockaddr *)&sa,
                               &len)) != 0)
    return corun__io_fail(L, rc, "the socket is not bound yet");
  corun__io_push_addr(L, (struct sockaddr *)&sa);
  return 2;
}

int corun__udp_tostring(lua_State *L, corun_Udp *u) {
  struct sockaddr_storage sa;
  int len = sizeof sa;
  if (u == NULL)
    lua_pushliteral(L, "corun.UdpSocket (closed)");
  else if (uv_udp_getsockname(&u->handle, (struct sockaddr *)&sa,
                              &len) != 0)
    lua_pushliteral(L, "corun.UdpSocket (unbound)");
  else {
    corun__io_push_addr(L, (struct sockaddr *)&sa);
    lua_pushfstring(L, "corun.UdpSocket (%s)",
                    where(L, lua_tostring(L, -2),
                          (int)lua_tointeger(L, -1)));
  }
  return 1;
}
