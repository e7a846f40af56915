/*
** net.c - corun.net (TCP connect and listen, corun.Server) and
** corun.dns.resolve.
**
** Every request that waits is a malloc'd record shared by the waiting task
** and libuv's callback.  If the task stops waiting (cancelled, timed out),
** the cancel callback marks the record orphaned and stops what it can
** (closes the socket being connected, cancels a look-up); the libuv
** callback, which always comes, then only frees.  Otherwise the callback
** makes the Lua values itself (a connection is owned by the waiting task
** from that moment) and wakes the task with them.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "corunio.h"
#include "../io/stream.h"

#define CORUN_SERVER "corun.Server"

/* --------------------------------------------------------- requests */

typedef struct Request {
  uv_getaddrinfo_t gai;
  uv_connect_t connect;
  corun_Runtime *rt;      /* borrows: valid unless orphaned */
  corun_Waker w;
  corun_Stream *s;        /* owns: the socket being connected */
  struct addrinfo *ai;    /* owns: what the look-up found */
  struct addrinfo *next;  /* borrows: next address to try */
  int resolving, connecting, orphaned;
  int status;             /* libuv error of the last step */
  int port;
  int backlog;            /* listen */
  corun_IoPush push;       /* listen, resolve: the answer once resolved */
  char where[280];        /* "host:port", for messages */
} Request;

static void request_free(Request *r) {
  if (r->ai != NULL)
    uv_freeaddrinfo(r->ai);
  free(r);
}

static void cancel_request(corun_Waker w, void *ud) {
  Request *r = ud;
  (void)w;
  r->orphaned = 1;
  if (r->resolving)
    uv_cancel((uv_req_t *)&r->gai);
  if (r->connecting && r->s != NULL) {
    corun__stream_discard(r->s);  /* the connect callback gets ECANCELED */
    r->s = NULL;
  }
}

static Request *new_request(lua_State *L, const char *host, int port) {
  Request *r = calloc(1, sizeof *r);
  if (r == NULL)
    luaL_error(L, "corun.net: not enough memory");
  r->rt = corunL_state(L)->rt;
  r->port = port;
  if (strchr(host, ':') != NULL)
    snprintf(r->where, sizeof r->where, "[%s]:%d", host, port);
  else
    snprintf(r->where, sizeof r->where, "%s:%d", host, port);
  return r;
}

/* A numeric address for host, port; 0, or a libuv error. */
static int numeric(const char *host, int port, struct sockaddr_storage *sa) {
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)sa) == 0)
    return 0;
  return uv_ip6_addr(host, port, (struct sockaddr_in6 *)sa);
}

static int start_lookup(Request *r, const char *host, uv_getaddrinfo_cb cb) {
  struct addrinfo hints;
  char port[16];
  int rc;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  snprintf(port, sizeof port, "%d", r->port);
  if ((rc = uv_getaddrinfo(r->rt->loop, &r->gai, cb, host, port,
                           &hints)) == 0)
    r->resolving = 1;
  return rc;
}

static int push_failure(lua_State *L, void *ud) {
  Request *r = ud;
  return corun__io_fail(L, r->status, "%s", r->where);
}

/* A look-up for listen or resolve ended: answer with r->push (which
   answers the failure too). */
static void on_resolved(uv_getaddrinfo_t *req, int status,
                        struct addrinfo *ai) {
  Request *r = (Request *)req;
  r->resolving = 0;
  r->ai = ai;
  if (!r->orphaned) {
    r->status = status;
    corun__io_wake(r->rt, r->w, r->push, r);
  }
  request_free(r);
}

/* The task waits for request 'r', whose first step started with 'rc'; if
   it did not start, answer nil, err now. */
static int begin(lua_State *L, Request *r, const char *fname, int rc) {
  if (rc != 0) {
    r->status = rc;
    push_failure(L, r);
    request_free(r);
    return 2;
  }
  return corun__io_wait_request(L, fname, cancel_request, r, &r->orphaned,
                                &r->w);
}

/* ----------------------------------------------------------- connect */

static int try_connect(Request *r, const struct sockaddr *sa);

static int push_connection(lua_State *L, void *ud) {
  Request *r = ud;
  corun_Stream *s = r->s;
  r->s = NULL;
  corun__stream_push_pending(L, s, corun__waker_task(r->rt, r->w));
  return 1;
}

static void on_connect(uv_connect_t *req, int status) {
  Request *r = req->data;
  r->connecting = 0;
  if (r->orphaned) {  /* cancel_request discarded the stream, if it ran */
    if (r->s != NULL)
      corun__stream_discard(r->s);
    request_free(r);
    return;
  }
  if (status == 0) {
    corun__io_wake(r->rt, r->w, push_connection, r);
    if (r->s != NULL)  /* the values could not be made */
      corun__stream_discard(r->s);
    request_free(r);
    return;
  }
  corun__stream_discard(r->s);
  r->s = NULL;
  r->status = status;
  while (r->next != NULL) {  /* the next address the look-up gave */
    struct addrinfo *ai = r->next;
    r->next = ai->ai_next;
    if (try_connect(r, ai->ai_addr) == 0)
      return;
  }
  corun__io_wake(r->rt, r->w, push_failure, r);
  request_free(r);
}

/* Start connecting to 'sa'; 0, or a libuv error (in r->status too). */
static int try_connect(Request *r, const struct sockaddr *sa) {
  int rc;
  if ((r->s = corun__stream_alloc(r->rt, 0, &rc)) == NULL)
    return r->status = rc;
  r->connect.data = r;
  rc = uv_tcp_connect(&r->connect,
                      (uv_tcp_t *)corun__stream_handle(r->s), sa,
                      on_connect);
  if (rc != 0) {
    corun__stream_discard(r->s);
    r->s = NULL;
    return r->status = rc;
  }
  r->connecting = 1;
  return 0;
}

static void on_resolved_connect(uv_getaddrinfo_t *req, int status,
                                struct addrinfo *ai) {
  Request *r = (Request *)req;
  r->resolving = 0;
  r->ai = ai;
  if (r->orphaned) {
    request_free(r);
    return;
  }
  r->status = status;
  for (r->next = ai; status == 0 && r->next != NULL; ) {
    struct addrinfo *a = r->next;
    r->next = a->ai_next;
    if (try_connect(r, a->ai_addr) == 0)
      return;
  }
  if (r->status == 0)
    r->status = UV_EAI_NONAME;
  corun__io_wake(r->rt, r->w, push_failure, r);
  request_free(r);
}

/* corun.net.connect(host, port) -> connection, or nil, err */
static int l_connect(lua_State *L) {
  const char *host = corunL_checkcstring(L, "corun.net.connect", 1,
                                          "host", NULL);
  int port = corunL_checkport(L, "corun.net.connect", 2), rc;
  struct sockaddr_storage sa;
  Request *r;
  corunL_waiter(L, "corun.net.connect");
  r = new_request(L, host, port);
  if (numeric(host, port, &sa) == 0)
    rc = try_connect(r, (struct sockaddr *)&sa);
  else
    rc = start_lookup(r, host, on_resolved_connect);
  return begin(L, r, "corun.net.connect", rc);
}

/* ------------------------------------------------------------ server */

typedef struct Server {
  corun_Io io;            /* first: the object's life (io.h) */
  uv_tcp_t tcp;
  corun_Runtime *rt;      /* borrows: valid while open */
  corun_Waker acceptor;   /* the task waiting in accept, or 0 */
  int pending;            /* connections libuv holds for uv_accept */
  int err;                /* the server failed (libuv error), sticky */
} Server;

static void server_closed(uv_handle_t *handle) {
  free(handle->data);
}

static void server_close(corun_Io *io, int force) {
  Server *sv = (Server *)io;
  (void)force;
  if (sv->acceptor != 0) {
    corun_Waker w = sv->acceptor;
    sv->acceptor = 0;
    corun_wake(sv->rt->S, w, 0);  /* accept finds it closed */
  }
  corun__io_done(io);
  uv_close((uv_handle_t *)&sv->tcp, server_closed);
}

/* Accept one pending connection for the task waiting in 'w' (or 'owner')
   and push it; or push nil, err. */
static int accept_one(lua_State *L, Server *sv, corun_Task *owner) {
  corun_Stream *s;
  int rc;
  if ((s = corun__stream_alloc(sv->rt, 0, &rc)) == NULL)
    return corun__io_fail(L, rc, NULL);
  if ((rc = uv_accept((uv_stream_t *)&sv->tcp,
                      corun__stream_handle(s))) != 0) {
    corun__stream_discard(s);
    return corun__io_fail(L, rc, NULL);
  }
  sv->pending--;
  corun__stream_push(L, s, owner);
  return 1;
}

/* A connection came (or the server failed): the acceptor, if any, takes
   it in its continuation (k_accept), so that an acceptor cancelled in
   between leaves it to the next accept. */
static void on_connection(uv_stream_t *server, int status) {
  Server *sv = server->data;
  if (status < 0)
    sv->err = status;
  else
    sv->pending++;
  if (sv->acceptor != 0) {
    corun_Waker w = sv->acceptor;
    sv->acceptor = 0;
    corun_wake(sv->rt->S, w, 0);
  }
}

static void cancel_accept(corun_Waker w, void *ud) {
  Server *sv = ud;
  if (sv->acceptor == w)
    sv->acceptor = 0;
}

static int accept_step(lua_State *L);

static int k_accept(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  corun__wait_check(L, (int)ctx);
  return accept_step(L);
}

/* Stack: server.  Take a pending connection, or wait for one. */
static int accept_step(lua_State *L) {
  Server *sv = (Server *)*(corun_Io **)lua_touserdata(L, 1);
  corun_Runtime *rt = corunL_state(L)->rt;
  if (sv == NULL)
    return corun__io_fail(L, UV_ECANCELED, "the server was closed");
  if (sv->err != 0)
    return corun__io_fail(L, sv->err, NULL);
  if (sv->pending > 0)
    return accept_one(L, sv, rt->current);
  if (sv->acceptor != 0)
    return corunL_error(L, "server:accept", "another task is already "
                        "waiting in accept");
  sv->acceptor = corun__io_prepare(L, "server:accept", cancel_accept, sv);
  corun__wait_unheld(rt, sv->acceptor);  /* a client may never come */
  return corun__wait_k(L, sv->acceptor, 1, k_accept);
}

/* server:accept() -> connection, or nil, err; waits for one. */
static int sv_accept(lua_State *L) {
  corunL_io_check(L, "server:accept", CORUN_SERVER, "server");
  lua_settop(L, 1);
  return accept_step(L);
}

static int sv_address(lua_State *L) {
  Server *sv = (Server *)corunL_io_check(L, "server:address", CORUN_SERVER,
                                         "server");
  struct sockaddr_storage sa;
  int len = sizeof sa, rc;
  if ((rc = uv_tcp_getsockname(&sv->tcp, (struct sockaddr *)&sa, &len)) != 0)
    return corun__io_fail(L, rc, NULL);
  corun__io_push_addr(L, (struct sockaddr *)&sa);
  return 2;
}

static int sv_close(lua_State *L) {
  corun_Io *io = corunL_io_peek(L, "server:close", CORUN_SERVER);
  if (io != NULL) {
    corunL_io_check(L, "server:close", CORUN_SERVER, "server");
    corun__io_close(io, 0);
  }
  return 0;
}

static int sv_tostring(lua_State *L) {
  Server *sv = (Server *)corunL_io_peek(L, "server:__tostring",
                                        CORUN_SERVER);
  struct sockaddr_storage sa;
  int len = sizeof sa;
  if (sv == NULL)
    lua_pushliteral(L, "corun.Server (closed)");
  else if (uv_tcp_getsockname(&sv->tcp, (struct sockaddr *)&sa, &len) != 0)
    lua_pushliteral(L, "corun.Server (?)");
  else {  /* no ownership check: any task may print it */
    corun__io_push_addr(L, (struct sockaddr *)&sa);
    lua_pushfstring(L, "corun.Server (%s:%d)", lua_tostring(L, -2),
                    (int)lua_tointeger(L, -1));
  }
  return 1;
}

/* Bind and listen on 'sa'; push the server, or nil, err.  'pending':
   made in a callback for 'owner', which waits (corun__io_open_pending). */
static int start_server(lua_State *L, corun_Runtime *rt, corun_Task *owner,
                        const struct sockaddr *sa, int backlog,
                        const char *where, int pending) {
  Server *sv = calloc(1, sizeof *sv);
  int rc;
  if (sv == NULL)
    return corun__io_fail(L, UV_ENOMEM, NULL);
  sv->rt = rt;
  if ((rc = uv_tcp_init(rt->loop, &sv->tcp)) != 0) {
    free(sv);
    return corun__io_fail(L, rc, "%s", where);
  }
  sv->tcp.data = sv;
  if ((rc = uv_tcp_bind(&sv->tcp, sa, 0)) != 0 ||
      (rc = uv_listen((uv_stream_t *)&sv->tcp, backlog,
                      on_connection)) != 0) {
    uv_close((uv_handle_t *)&sv->tcp, server_closed);
    return corun__io_fail(L, rc, "%s", where);
  }
  if (pending)
    corun__io_open_pending(rt, &sv->io, owner, server_close);
  else
    corun__io_open(rt, &sv->io, owner, server_close);
  corun__io_push(L, &sv->io, CORUN_SERVER);
  return 1;
}

static int push_server(lua_State *L, void *ud) {
  Request *r = ud;
  if (r->status != 0)
    return push_failure(L, r);
  return start_server(L, r->rt, corun__waker_task(r->rt, r->w),
                      r->ai->ai_addr, r->backlog, r->where, 1);
}

/* corun.net.listen(host, port[, backlog]) -> server, or nil, err */
static int l_listen(lua_State *L) {
  const char *host = corunL_checkcstring(L, "corun.net.listen", 1,
                                          "host", NULL);
  int port = corunL_checkport(L, "corun.net.listen", 2);
  lua_Integer backlog = 511;
  corun_Task *self = corunL_task(L, "corun.net.listen");
  struct sockaddr_storage sa;
  corunL_io_ready(L, "corun.net.listen");
  Request *r;
  char where[280];
  if (!lua_isnoneornil(L, 3)) {
    if (!lua_isinteger(L, 3))
      return corunL_typeerror(L, "corun.net.listen", 3, "integer");
    backlog = lua_tointeger(L, 3);
  }
  if (backlog < 1 || backlog > 65535)
    return corunL_error(L, "corun.net.listen", "bad argument #3 (backlog "
                        "must be 1..65535, got %I)", (LUAI_UACINT)backlog);
  if (numeric(host, port, &sa) == 0) {
    snprintf(where, sizeof where, strchr(host, ':') ? "[%s]:%d" : "%s:%d",
             host, port);
    return start_server(L, self->rt, self, (struct sockaddr *)&sa,
                        (int)backlog, where, 0);
  }
  corunL_waiter(L, "corun.net.listen");
  r = new_request(L, host, port);
  r->backlog = (int)backlog;
  r->push = push_server;
  return begin(L, r, "corun.net.listen", start_lookup(r, host, on_resolved));
}

/* --------------------------------------------------------------- dns */

static int push_addresses(lua_State *L, void *ud) {
  Request *r = ud;
  struct addrinfo *a;
  int n = 0;
  if (r->status != 0)
    return corun__io_fail(L, r->status, "%s", r->where);
  lua_newtable(L);
  for (a = r->ai; a != NULL; a = a->ai_next) {
    int i, seen = 0;
    corun__io_push_addr(L, a->ai_addr);
    lua_pop(L, 1);  /* the port */
    for (i = 1; i <= n && !seen; i++) {
      lua_rawgeti(L, -2, i);
      seen = lua_rawequal(L, -1, -2);
      lua_pop(L, 1);
    }
    if (seen)
      lua_pop(L, 1);
    else
      lua_rawseti(L, -2, ++n);
  }
  return 1;
}

/* corun.dns.resolve(host) -> { "1.2.3.4", ... }, or nil, err */
static int l_resolve(lua_State *L) {
  const char *host = corunL_checkcstring(L, "corun.dns.resolve", 1,
                                          "host", NULL);
  Request *r;
  corunL_waiter(L, "corun.dns.resolve");
  r = new_request(L, host, 0);
  snprintf(r->where, sizeof r->where, "%s", host);
  r->push = push_addresses;
  return begin(L, r, "corun.dns.resolve",
               start_lookup(r, host, on_resolved));
}

/* -------------------------------------------------------------- open */

static const luaL_Reg server_methods[] = {
  {"accept", sv_accept}, {"address", sv_address}, {"close", sv_close},
  {NULL, NULL}
};

static const luaL_Reg server_meta[] = {
  {"__tostring", sv_tostring}, {NULL, NULL}
};

static const luaL_Reg net_functions[] = {
  {"connect", l_connect}, {"listen", l_listen}, {NULL, NULL}
};

static const luaL_Reg dns_functions[] = {
  {"resolve", l_resolve}, {NULL, NULL}
};

void corunL_open_net(lua_State *L) {
  corun__state(L);                  /* module state */
  corunL_io_newclass(L, CORUN_SERVER, server_methods, server_meta);
  lua_newtable(L);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, net_functions, 1);
  lua_setfield(L, -3, "net");
  lua_newtable(L);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, dns_functions, 1);
  lua_setfield(L, -3, "dns");
  lua_pop(L, 1);
}
