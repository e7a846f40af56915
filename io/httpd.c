/*
** httpd.c - corun.HttpServer (httpd.h): the listening socket, and serve(),
** which accepts connections and spawns a connection task for each.
**
** serve() is a C function that waits: for a connection (an accept that
** does not hold a paused clock: a client may never come), then, once the
** server is closed, for the connection tasks to end.  Each accepted
** connection becomes a corun.Stream owned by the task in serve, moved at
** once into a new task running corun__httpd_connection (httpd_conn.c),
** with the handler copied by the usual crossing.  Those tasks form the
** group of a corun_HttpServing record, a resource of the task (or branch)
** in serve, so that whatever ends serve's task ends them.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "httpd.h"
#include "stream.h"
#include "../host/runtime.h"
#include "../host/sched.h"

struct corun_HttpServer {
  corun_Io io;            /* first: the object's life (io.h) */
  uv_tcp_t tcp;           /* the listening socket, freed in closed() */
  corun_Runtime *rt;      /* borrows: valid while open */
  corun_Waker acceptor;   /* serve, waiting for a connection, or 0 */
  int pending;            /* connections libuv holds for uv_accept */
  int err;                /* accepting failed (libuv error), sticky */
  corun_HttpLimits lim;   /* what each connection task is given */
  char *cert_file;        /* owns: HTTPS certificate, or NULL */
  char *key_file;         /* owns: its private key, or NULL */
  corun_HttpServing *serving;  /* borrows: the serve in progress, or NULL */
};

/* A wake with no values: the woken continuation looks at the objects. */
static int push_nothing(lua_State *L, void *ud) {
  (void)L; (void)ud;
  return 0;
}

/* ------------------------------------------------------------ server */

static void closed(uv_handle_t *handle) {
  corun_HttpServer *sv = handle->data;
  free(sv->cert_file);
  free(sv->key_file);
  free(sv);
}

/* The server's close (corun_Io.close): stop accepting at once; serve
   wakes, finds it closed and drains its connections. */
static void server_close(corun_Io *io, int force) {
  corun_HttpServer *sv = (corun_HttpServer *)io;
  (void)force;
  if (sv->serving != NULL) {
    sv->serving->sv = NULL;
    sv->serving = NULL;
  }
  corun__io_wake_slot(sv->rt, &sv->acceptor, push_nothing, NULL);
  corun__io_done(io);
  uv_close((uv_handle_t *)&sv->tcp, closed);
}

static void on_connection(uv_stream_t *server, int status) {
  corun_HttpServer *sv = server->data;
  if (status < 0)
    sv->err = status;
  else
    sv->pending++;
  corun__io_wake_slot(sv->rt, &sv->acceptor, push_nothing, NULL);
}

static char *copy_string(const char *s) {
  char *p;
  if (s == NULL || (p = malloc(strlen(s) + 1)) == NULL)
    return NULL;
  return strcpy(p, s);
}

int corun__httpd_listen(lua_State *L, corun_Task *owner,
                        const struct sockaddr *sa, const char *where,
                        const corun_HttpLimits *lim, const char *cert_file,
                        const char *key_file) {
  corun_HttpServer *sv = calloc(1, sizeof *sv);
  corun_Runtime *rt = owner->rt;
  int rc;
  if (sv == NULL)
    return corun__io_fail(L, UV_ENOMEM, NULL);
  sv->rt = rt;
  sv->lim = *lim;
  if (cert_file != NULL &&
      ((sv->cert_file = copy_string(cert_file)) == NULL ||
       (sv->key_file = copy_string(key_file)) == NULL)) {
    free(sv->cert_file);
    free(sv);
    return corun__io_fail(L, UV_ENOMEM, NULL);
  }
  if ((rc = uv_tcp_init(rt->loop, &sv->tcp)) != 0) {
    free(sv->cert_file);
    free(sv->key_file);
    free(sv);
    return corun__io_fail(L, rc, "%s", where);
  }
  sv->tcp.data = sv;
  if ((rc = uv_tcp_bind(&sv->tcp, sa, 0)) != 0 ||
      (rc = uv_listen((uv_stream_t *)&sv->tcp, 511, on_connection)) != 0) {
    uv_close((uv_handle_t *)&sv->tcp, closed);
    return corun__io_fail(L, rc, "%s", where);
  }
  corun__io_open(rt, &sv->io, owner, server_close);
  corun__io_push(L, &sv->io, CORUN_HTTP_SERVER);
  return 1;
}

int corun__httpd_is_tls(corun_HttpServer *sv) {
  return sv->cert_file != NULL;
}

int corun__httpd_address(lua_State *L, const char *fname,
                         corun_HttpServer *sv) {
  struct sockaddr_storage sa;
  int len = sizeof sa, rc;
  (void)fname;
  if ((rc = uv_tcp_getsockname(&sv->tcp, (struct sockaddr *)&sa, &len)) != 0)
    return corun__io_fail(L, rc, NULL);
  corun__io_push_addr(L, (struct sockaddr *)&sa);
  return 2;
}

int corun__httpd_tostring(lua_State *L, const char *fname,
                          corun_HttpServer *sv) {
  if (corun__httpd_address(L, fname, sv) != 2 || lua_isnil(L, -2))
    lua_pushliteral(L, "corun.HttpServer (?)");
  else
    lua_pushfstring(L, "corun.HttpServer (%s://%s:%d)",
                    sv->cert_file != NULL ? "https" : "http",
                    lua_tostring(L, -2), (int)lua_tointeger(L, -1));
  return 1;
}

/* ----------------------------------------------------------- serving */

/* A connection task ended (its group hook): it leaves the group and its
   anchor (nobody joins it); the last one wakes serve if it drains. */
static void member_done(corun_Task *t) {
  corun_HttpServing *g = corun__container_of(t->u.group, corun_HttpServing,
                                             group);
  corun__link_remove(&t->sibling);
  t->u.group = NULL;
  corun__runtime_unanchor(g->rt, t->ref);
  t->ref = LUA_NOREF;
  if (--g->count == 0 && g->draining)
    corun__io_wake_slot(g->rt, &g->waiter, push_nothing, NULL);
}

/* Forget the group's members: they run on, detached, unless aborted. */
static void let_go(corun_HttpServing *g, int abort) {
  corun_Link *l;
  while ((l = corun__link_first(&g->tasks)) != NULL) {
    corun_Task *t = corun__container_of(l, corun_Task, sibling);
    corun__link_remove(l);
    t->u.group = NULL;
    if (abort)
      corun__task_abort(t);
  }
  while ((l = corun__link_first(&g->conns)) != NULL)
    corun__httpd_conn_detach(corun__httpd_conn_of(l));
  g->count = 0;
  if (g->sv != NULL)
    g->sv->serving = NULL;
  corun__link_remove(&g->res.link);
  free(g);
}

/* The task or branch in serve ended first (cancelled, or it raised):
   its connection tasks are cancelled. */
static void serving_release(lua_State *L, corun_Resource *r) {
  (void)L;
  let_go(corun__container_of(r, corun_HttpServing, res), 1);
}

static void cancel_accept(corun_Waker w, void *ud) {
  corun_HttpServer *sv = ud;
  if (sv->acceptor == w)
    sv->acceptor = 0;
}

static void cancel_drain(corun_Waker w, void *ud) {
  corun_HttpServing *g = ud;
  if (g->waiter == w)
    g->waiter = 0;
}

/* Stack: 1 server 2 handler 3 wrap 4 serving.  Accept one pending
   connection and spawn its task. */
static void spawn_connection(lua_State *L, const char *fname,
                             corun_HttpServer *sv, corun_HttpServing *g) {
  corun_Runtime *rt = sv->rt;
  corun_Stream *s;
  corun_Task *t;
  int rc, base = lua_gettop(L);
  if ((s = corun__stream_alloc(rt, 0, &rc)) == NULL)
    return;  /* out of memory: the connection waits in the backlog */
  if (uv_accept((uv_stream_t *)&sv->tcp, corun__stream_handle(s)) != 0) {
    corun__stream_discard(s);
    sv->pending = 0;  /* nothing to take after all */
    return;
  }
  sv->pending--;
  lua_pushcfunction(L, corun__httpd_connection);
  lua_pushvalue(L, 2);
  corun__stream_push(L, s, rt->current);
  lua_pushvalue(L, 3);
  if (sv->cert_file != NULL) {
    lua_pushstring(L, sv->cert_file);
    lua_pushstring(L, sv->key_file);
  }
  else {
    lua_pushnil(L);
    lua_pushnil(L);
  }
  lua_pushinteger(L, sv->lim.max_header_bytes);
  lua_pushinteger(L, sv->lim.max_body_bytes);
  lua_pushnumber(L, sv->lim.header_timeout);
  lua_pushnumber(L, sv->lim.keepalive_timeout);
  /* the connection moves into the task; if the handler cannot cross,
     this raises and the connection stays with serve's task, which
     closes it at its end */
  t = corun__task_new(rt, L, base + 1, 9, NULL, 0, fname);
  t->u.group = &g->group;
  corun__link_append(&g->tasks, &t->sibling);
  g->count++;
  lua_settop(L, base);
}

static int serve_step(lua_State *L, const char *fname);

static int k_serve(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  corun__wait_check(L, 4);
  return serve_step(L, (const char *)ctx);
}

/* Serve ends: the group goes; true, or nil, err if accepting failed. */
static int serve_end(lua_State *L, corun_HttpServing *g, int err) {
  let_go(g, 0);
  if (err != 0)
    return corun__io_fail(L, err, "accepting connections");
  lua_pushboolean(L, 1);
  return 1;
}

/*
** Stack: 1 server 2 handler 3 wrap 4 serving.  Accept what is pending,
** then wait for more; once the server is closed (or failed), close the
** idle connections and wait until every connection task has ended.
*/
static int serve_step(lua_State *L, const char *fname) {
  corun_HttpServer *sv = (corun_HttpServer *)*(corun_Io **)
                         lua_touserdata(L, 1);
  corun_HttpServing *g = lua_touserdata(L, 4);
  corun_Runtime *rt = g->rt;
  corun_Link *l;
  int err = sv != NULL ? sv->err : 0;
  lua_settop(L, 4);
  if (sv != NULL && err == 0) {
    int budget = 64;  /* then let the connection tasks run */
    while (sv->pending > 0 && budget-- > 0)
      spawn_connection(L, fname, sv, g);
    if (sv->pending > 0) {  /* come back after the others ran */
      corun__sched_ready(rt, rt->current, CORUN_WAKE_SIGNAL);
      return corun__sched_wait(L, (lua_KContext)(intptr_t)fname, k_serve);
    }
    sv->acceptor = corun__io_prepare(L, fname, cancel_accept, sv);
    corun__wait_unheld(rt, sv->acceptor);  /* a client may never come */
    return corun__wait_k(L, sv->acceptor, (lua_KContext)(intptr_t)fname,
                         k_serve);
  }
  if (!g->draining) {  /* closed: no request after the current ones */
    g->draining = 1;
    for (l = g->conns.next; l != &g->conns; l = l->next)
      corun__httpd_conn_drain(corun__httpd_conn_of(l));
  }
  if (g->count == 0)
    return serve_end(L, g, err);
  g->waiter = corun__io_prepare(L, fname, cancel_drain, g);
  corun__wait_unheld(rt, g->waiter);  /* the requests hold it if they
                                         wait on I/O */
  return corun__wait_k(L, g->waiter, (lua_KContext)(intptr_t)fname,
                       k_serve);
}

int corun__httpd_serve(lua_State *L, const char *fname,
                       corun_HttpServer *sv) {
  corun_Runtime *rt = sv->rt;
  corun_HttpServing *g;
  if (sv->serving != NULL)
    return corun__error(L, fname, "the server is already serving");
  corun__task_waiting(L, rt, fname);
  if ((g = calloc(1, sizeof *g)) == NULL)
    return corun__error(L, fname, "not enough memory");
  g->group.member_done = member_done;
  g->rt = rt;
  g->sv = sv;
  corun__link_init(&g->tasks);
  corun__link_init(&g->conns);
  corun__link_init(&g->res.link);
  g->res.release = serving_release;
  /* owned by the running record itself, a branch perhaps: a select or
     timeout that ends the branch ends the connection tasks */
  corun__link_append(&rt->current->owned, &g->res.link);
  sv->serving = g;
  lua_settop(L, 3);
  lua_pushlightuserdata(L, g);
  return serve_step(L, fname);
}
