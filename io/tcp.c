/*
** tcp.c - TCP and Unix-domain sockets (tcp.h): connect (a corun.Stream),
** listen and accept (corun.Server), and name look-ups
** (corun.dns.resolve).  A Unix-domain server is a corun.Server on a
** uv_pipe_t: everything after the bind is the same.
**
** Every request that waits is a malloc'd record shared by the waiting task
** and libuv's callback.  If the task stops waiting (cancelled, timed out),
** the cancel callback marks the record orphaned and stops what it can
** (closes the socket being connected, cancels a look-up); the libuv
** callback, which always comes, then only frees.  Otherwise the callback
** makes the Lua values itself (a connection is owned by the waiting task
** from that moment) and wakes the task with them.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <lauxlib.h>
#include "stream.h"
#include "tcp.h"

/* --------------------------------------------------------- requests */

/* A connect, a listen on a name, or a look-up, under way. */
typedef struct Request {
  uv_getaddrinfo_t gai;   /* the look-up (first: the cast back) */
  uv_connect_t connect;   /* the connect; its data is the Request */
  corun_Runtime *rt;      /* borrows: valid unless orphaned */
  corun_Waker w;          /* the task waiting for the request */
  corun_Stream *s;        /* owns: the socket being connected */
  struct addrinfo *ai;    /* owns: what the look-up found */
  struct addrinfo *next;  /* borrows: next address to try */
  int resolving;          /* the look-up is under way */
  int connecting;         /* the connect is under way */
  int orphaned;           /* the task stopped waiting */
  int status;             /* libuv error of the last step */
  int port;               /* the port asked for */
  int backlog;            /* listen */
  corun_Preparer *prep;   /* owns: listen's, until the server has it */
  corun_IoPush push;      /* listen, resolve: the answer once resolved */
  char where[280];        /* "host:port", for messages */
} Request;

static void request_free(Request *r) {
  if (r->ai != NULL)
    uv_freeaddrinfo(r->ai);
  if (r->prep != NULL)
    r->prep->close(r->prep, 1);
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

/* "host:port", "[v6host]:port", for messages. */
static void format_where(char *where, size_t size, const char *host,
                         int port) {
  snprintf(where, size, strchr(host, ':') != NULL ? "[%s]:%d" : "%s:%d",
           host, port);
}

static Request *new_request(lua_State *L, corun_Runtime *rt,
                            const char *host, int port) {
  Request *r = calloc(1, sizeof *r);
  if (r == NULL)
    luaL_error(L, "corun.net: not enough memory");
  r->rt = rt;
  r->port = port;
  format_where(r->where, sizeof r->where, host, port);
  return r;
}

/* The runtime of the running task (the bindings checked there is one). */
static corun_Runtime *runtime_of(lua_State *L) {
  return corun__state_peek(L)->rt;
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
   it did not start, answer nil, err now.  'k': the continuation, or NULL
   (corun__io_k_adopt). */
static int begin(lua_State *L, Request *r, const char *fname, int rc,
                 lua_KFunction k) {
  if (rc != 0) {
    r->status = rc;
    push_failure(L, r);
    request_free(r);
    return 2;
  }
  return corun__io_wait_request_k(L, fname, cancel_request, r,
                                  &r->orphaned, &r->w,
                                  k != NULL ? k : corun__io_k_adopt);
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

int corun__tcp_connect(lua_State *L, const char *fname, const char *host,
                       int port, lua_KFunction k) {
  struct sockaddr_storage sa;
  Request *r = new_request(L, runtime_of(L), host, port);
  int rc;
  if (numeric(host, port, &sa) == 0)
    rc = try_connect(r, (struct sockaddr *)&sa);
  else
    rc = start_lookup(r, host, on_resolved_connect);
  return begin(L, r, fname, rc, k);
}

/* ------------------------------------------------------------ server */

struct corun_Server {
  corun_Io io;            /* first: the object's life (io.h) */
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;                    /* the listening socket, freed in server_closed */
  int unix_domain;        /* 'h' is a Unix-domain socket (else TCP) */
  corun_Runtime *rt;      /* borrows: valid while open */
  corun_Waker acceptor;   /* the task waiting in accept, or 0 */
  int pending;            /* connections libuv holds for uv_accept, or
                             with 'prep', connections it has ready */
  int err;                /* the server failed (libuv error), sticky */
  corun_Preparer *prep;   /* owns: prepares connections for accept, or
                             NULL */
};

/* A wake with no values: the woken continuation looks at the server. */
static int push_nothing(lua_State *L, void *ud) {
  (void)L; (void)ud;
  return 0;
}

static void server_closed(uv_handle_t *handle) {
  free(handle->data);
}

/* The server's close (corun_Io.close): at once, a graceful close has
   nothing to wait for. */
static void server_close(corun_Io *io, int force) {
  corun_Server *sv = (corun_Server *)io;
  /* accept finds it closed */
  corun__io_wake_slot(sv->rt, &sv->acceptor, push_nothing, NULL);
  if (sv->prep != NULL) {
    sv->prep->close(sv->prep, force);
    sv->prep = NULL;
  }
  corun__io_done(io);
  uv_close(&sv->h.handle, server_closed);  /* libuv removes the socket
                                             file a pipe bound */
}

/* Accept one pending connection for task 'owner' and push it; or push
   nil, err. */
corun_Stream *corun__tcp_take(corun_Server *sv, int *err) {
  corun_Stream *s;
  if ((s = corun__stream_alloc(sv->rt, sv->unix_domain ? CORUN_STREAM_UNIX
                                : CORUN_STREAM_TCP, err)) == NULL)
    return NULL;
  if ((*err = uv_accept(&sv->h.stream,
                        corun__stream_handle(s))) != 0) {
    corun__stream_discard(s);
    return NULL;
  }
  return s;
}

static int accept_one(lua_State *L, corun_Server *sv, corun_Task *owner) {
  corun_Stream *s;
  int rc;
  if (sv->prep != NULL) {
    sv->pending--;
    return sv->prep->take(L, sv->prep, owner);
  }
  if ((s = corun__tcp_take(sv, &rc)) == NULL)
    return corun__io_fail(L, rc, NULL);
  sv->pending--;
  corun__stream_push(L, s, owner);
  return 1;
}

void corun__tcp_ready(corun_Server *sv) {
  sv->pending++;
  corun__io_wake_slot(sv->rt, &sv->acceptor, push_nothing, NULL);
}

/* A connection came (or the server failed): the acceptor, if any, takes
   it in its continuation (k_accept), so that an acceptor cancelled in
   between leaves it to the next accept.  A preparer gets it at once. */
static void on_connection(uv_stream_t *server, int status) {
  corun_Server *sv = server->data;
  if (status >= 0 && sv->prep != NULL) {
    sv->prep->incoming(sv->prep, sv);
    return;
  }
  if (status < 0)
    sv->err = status;
  else
    sv->pending++;
  corun__io_wake_slot(sv->rt, &sv->acceptor, push_nothing, NULL);
}

static void cancel_accept(corun_Waker w, void *ud) {
  corun_Server *sv = ud;
  if (sv->acceptor == w)
    sv->acceptor = 0;
}

static int accept_step(lua_State *L, const char *fname);

/* An accept woke ('ctx': its fname): take the connection, or wait
   again. */
static int k_accept(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  corun__wait_check(L, 1);
  return accept_step(L, (const char *)ctx);
}

/* Stack: server.  Take a pending connection, or wait for one; nil, err
   if the server failed, or was closed while the task waited. */
static int accept_step(lua_State *L, const char *fname) {
  corun_Server *sv = (corun_Server *)*(corun_Io **)lua_touserdata(L, 1);
  if (sv == NULL)
    return corun__io_fail(L, UV_ECANCELED, "the server was closed");
  if (sv->err != 0)
    return corun__io_fail(L, sv->err, NULL);
  if (sv->pending > 0)
    return accept_one(L, sv, sv->rt->current);
  if (sv->acceptor != 0) {
    return corun__error(L, fname, "another task is already waiting in "
                        "accept");
  }
  sv->acceptor = corun__io_prepare(L, fname, cancel_accept, sv);
  corun__wait_unheld(sv->rt, sv->acceptor);  /* a client may never come */
  return corun__wait_k(L, sv->acceptor, (lua_KContext)(intptr_t)fname,
                       k_accept);
}

int corun__tcp_accept(lua_State *L, const char *fname, corun_Server *sv) {
  (void)sv;  /* accept_step finds it at index 1, after a wait too */
  lua_settop(L, 1);
  return accept_step(L, fname);
}

/* Push the path a Unix-domain server listens on; 0, or libuv's error. */
static int push_path(lua_State *L, corun_Server *sv) {
  char path[sizeof ((struct sockaddr_un *)0)->sun_path + 1];
  size_t len = sizeof path;
  int rc = uv_pipe_getsockname(&sv->h.pipe, path, &len);
  if (rc == 0)
    lua_pushlstring(L, path, len);
  return rc;
}

int corun__tcp_server_address(lua_State *L, const char *fname,
                              corun_Server *sv) {
  struct sockaddr_storage sa;
  int len = sizeof sa, rc;
  (void)fname;
  if (sv->unix_domain) {
    if ((rc = push_path(L, sv)) != 0)
      return corun__io_fail(L, rc, NULL);
    return 1;
  }
  if ((rc = uv_tcp_getsockname(&sv->h.tcp, (struct sockaddr *)&sa,
                               &len)) != 0)
    return corun__io_fail(L, rc, NULL);
  corun__io_push_addr(L, (struct sockaddr *)&sa);
  return 2;
}

int corun__tcp_server_tostring(lua_State *L, const char *fname,
                               corun_Server *sv) {
  struct sockaddr_storage sa;
  int len = sizeof sa;
  const char *kind = sv->prep != NULL ? sv->prep->name : NULL;
  (void)fname;
  if (sv->unix_domain) {
    if (push_path(L, sv) != 0)
      lua_pushliteral(L, "corun.Server (unix, ?)");
    else
      lua_pushfstring(L, "corun.Server (unix, %s)", lua_tostring(L, -1));
    return 1;
  }
  if (uv_tcp_getsockname(&sv->h.tcp, (struct sockaddr *)&sa, &len) != 0)
    lua_pushliteral(L, "corun.Server (?)");
  else {
    corun__io_push_addr(L, (struct sockaddr *)&sa);
    lua_pushfstring(L, "corun.Server (%s%s%s:%d)", kind ? kind : "",
                    kind ? ", " : "", lua_tostring(L, -2),
                    (int)lua_tointeger(L, -1));
  }
  return 1;
}

/* The bind or listen of the new server 'sv' failed with 'rc': close it,
   push nil, err. */
static int server_failed(lua_State *L, corun_Server *sv, int rc,
                         const char *where) {
  uv_close(&sv->h.handle, server_closed);
  return corun__io_fail(L, rc, "%s", where);
}

/* Listen on the bound socket of 'sv' and push the server, owned by
   'owner' ('pending': made in a callback for 'owner', which waits:
   corun__io_open_pending); or push nil, err. */
static int server_open(lua_State *L, corun_Server *sv, corun_Task *owner,
                       int backlog, const char *where, int pending) {
  int rc;
  if ((rc = uv_listen(&sv->h.stream, backlog, on_connection)) != 0) {
    if (sv->prep != NULL) {
      sv->prep->close(sv->prep, 1);
      sv->prep = NULL;
    }
    return server_failed(L, sv, rc, where);
  }
  if (pending)
    corun__io_open_pending(sv->rt, &sv->io, owner, server_close);
  else
    corun__io_open(sv->rt, &sv->io, owner, server_close);
  corun__io_push(L, &sv->io, CORUN_SERVER);
  return 1;
}

/* Bind and listen on 'sa'; push the server, or nil, err.  'pending':
   made in a callback for 'owner', which waits (corun__io_open_pending).
   '*prep' (a pointer to NULL for none) goes to the server: NULL after. */
static int start_server(lua_State *L, corun_Runtime *rt, corun_Task *owner,
                        const struct sockaddr *sa, int backlog,
                        const char *where, int pending,
                        corun_Preparer **prep) {
  corun_Server *sv = calloc(1, sizeof *sv);
  int rc;
  if (sv == NULL)
    return corun__io_fail(L, UV_ENOMEM, NULL);
  sv->rt = rt;
  if ((rc = uv_tcp_init(rt->loop, &sv->h.tcp)) != 0) {
    free(sv);
    return corun__io_fail(L, rc, "%s", where);
  }
  sv->h.handle.data = sv;
  if ((rc = uv_tcp_bind(&sv->h.tcp, sa, 0)) != 0)
    return server_failed(L, sv, rc, where);
  sv->prep = *prep;
  *prep = NULL;
  return server_open(L, sv, owner, backlog, where, pending);
}

static int push_server(lua_State *L, void *ud) {
  Request *r = ud;
  if (r->status != 0)
    return push_failure(L, r);
  return start_server(L, r->rt, corun__waker_task(r->rt, r->w),
                      r->ai->ai_addr, r->backlog, r->where, 1, &r->prep);
}

/* The preparer of a listen that failed before it had a request. */
static void drop_preparer(corun_Preparer *prep) {
  if (prep != NULL)
    prep->close(prep, 1);
}

int corun__tcp_listen(lua_State *L, const char *fname, corun_Task *self,
                      const char *host, int port, int backlog,
                      corun_Preparer *prep) {
  struct sockaddr_storage sa;
  Request *r;
  char where[280];
  int n;
  if (numeric(host, port, &sa) == 0) {
    format_where(where, sizeof where, host, port);
    n = start_server(L, self->rt, self, (struct sockaddr *)&sa, backlog,
                     where, 0, &prep);
    drop_preparer(prep);  /* if the server did not take it */
    return n;
  }
  if (!lua_isyieldable(L)) {  /* a look-up: it waits */
    drop_preparer(prep);
    corun__task_waiting(L, self->rt, fname);  /* raises */
  }
  if ((r = calloc(1, sizeof *r)) == NULL) {
    drop_preparer(prep);
    return corun__error(L, fname, "not enough memory");
  }
  r->prep = prep;  /* the request frees it, whatever happens next */
  r->rt = self->rt;
  r->port = port;
  format_where(r->where, sizeof r->where, host, port);
  r->backlog = backlog;
  r->push = push_server;
  return begin(L, r, fname, start_lookup(r, host, on_resolved), NULL);
}

/* ------------------------------------------------------ unix domain */

/* 0 if 'path' fits a Unix-domain socket address (libuv would cut a
   longer one short, and bind or connect to another path), else
   UV_ENAMETOOLONG. */
static int unix_path_fits(const char *path) {
  return strlen(path) < sizeof ((struct sockaddr_un *)0)->sun_path
         ? 0 : UV_ENAMETOOLONG;
}

int corun__unix_connect(lua_State *L, const char *fname, const char *path) {
  Request *r;
  int rc;
  if ((rc = unix_path_fits(path)) != 0)
    return corun__io_fail(L, rc, "%s", path);
  if ((r = calloc(1, sizeof *r)) == NULL)
    return corun__error(L, fname, "not enough memory");
  r->rt = runtime_of(L);
  snprintf(r->where, sizeof r->where, "%s", path);
  if ((r->s = corun__stream_alloc(r->rt, CORUN_STREAM_UNIX, &rc)) != NULL) {
    r->connect.data = r;
    /* libuv reports every failure, a missing file too, to on_connect */
    uv_pipe_connect(&r->connect, (uv_pipe_t *)corun__stream_handle(r->s),
                    path, on_connect);
    r->connecting = 1;
  }
  return begin(L, r, fname, rc, NULL);
}

int corun__unix_listen(lua_State *L, const char *fname, corun_Task *self,
                       const char *path, int backlog) {
  corun_Server *sv;
  int rc;
  (void)fname;  /* fails with results, never raises its own */
  if ((rc = unix_path_fits(path)) != 0)
    return corun__io_fail(L, rc, "%s", path);
  if ((sv = calloc(1, sizeof *sv)) == NULL)
    return corun__io_fail(L, UV_ENOMEM, NULL);
  sv->rt = self->rt;
  sv->unix_domain = 1;
  if ((rc = uv_pipe_init(self->rt->loop, &sv->h.pipe, 0)) != 0) {
    free(sv);
    return corun__io_fail(L, rc, "%s", path);
  }
  sv->h.handle.data = sv;
  /* a file already there (a stale socket a crashed server left) makes
     the bind fail with EADDRINUSE: it is never removed here */
  if ((rc = uv_pipe_bind(&sv->h.pipe, path)) != 0)
    return server_failed(L, sv, rc, path);
  return server_open(L, sv, self, backlog, path, 0);
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

int corun__tcp_resolve(lua_State *L, const char *fname, const char *host) {
  Request *r = new_request(L, runtime_of(L), host, 0);
  snprintf(r->where, sizeof r->where, "%s", host);
  r->push = push_addresses;
  return begin(L, r, fname, start_lookup(r, host, on_resolved), NULL);
}
