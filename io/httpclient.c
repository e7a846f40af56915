/*
** httpclient.c - an HTTP client's connection pool (httpclient.h): a curl
** multi handle on the runtime's libuv loop (curl's multi_socket API).
**
** curl says which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when to
** wake it (CURLMOPT_TIMERFUNCTION); the client polls each socket with a
** uv_poll_t and runs one uv_timer_t, and hands every event back to
** curl_multi_socket_action.  The client opens curl's sockets and closes
** them itself (CURLOPT_OPENSOCKETFUNCTION, CURLOPT_CLOSESOCKETFUNCTION):
** a socket's poll handle is closed first and the descriptor only in the
** handle's close callback, so that libuv never polls a descriptor that was
** closed under it (and that the system could hand out again meanwhile:
** libuv #1495, curl #14976).  A descriptor curl opens itself (its threaded
** resolver's socket pair) is polled too, and its handle closed when curl
** stops watching it, before curl closes it.
**
** After each call into curl, the client reads curl's messages (transfers
** done: detached, and told to their records) and then tells each transfer
** with news (headers, bytes a reader waits for); only then may Lua run.
**
** The clients of a runtime are listed in its HTTP state, a corun_Hook:
** they close when the main task ends and when the runtime closes.  A
** client is freed in the close callback of its last libuv handle.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "httpclient.h"

/* The HTTP layer's state in one runtime. */
typedef struct HttpState {
  corun_Hook hook;        /* in the runtime's hooks (kind: &http_kind) */
  corun_Link clients;     /* open clients (corun_HttpClient.link) */
  corun_HttpClient *dflt; /* borrows: the default client, or NULL */
} HttpState;

struct corun_HttpClient {
  corun_Link link;        /* in the state's 'clients' while open */
  HttpState *state;       /* borrows: valid while open */
  corun_Runtime *rt;      /* borrows: valid while open */
  CURLM *multi;           /* owns, while open */
  uv_timer_t timer;       /* curl's timeout; freed with the client */
  corun_Link socks;       /* Sock: the descriptors curl uses */
  corun_Link xfers;       /* corun_HttpXfer.link: attached transfers */
  corun_Link news;        /* corun_HttpXfer.news: transfers to tell */
  corun_HttpClient **box; /* borrows: the userdata's pointer to this, or
                             NULL */
  int closed;             /* corun__httpclient_close was called */
  int handles;            /* libuv handles not closed yet: freed at 0 */
};

/* A descriptor curl uses, and its poll handle. */
typedef struct Sock {
  corun_Link link;        /* in the client's 'socks' until closed */
  uv_poll_t poll;         /* freed in sock_closed */
  corun_HttpClient *c;    /* borrows: the client outlives its handles */
  curl_socket_t fd;       /* the descriptor */
  int events;             /* what it is polled for (UV_READABLE...), or 0 */
  int closing;            /* sock_close was called */
  int ours;               /* opened by on_open_socket (or handed to
                             on_close_socket): sock_closed closes the
                             descriptor */
} Sock;

static const char http_kind = 0;  /* identifies the HttpState hook */

/* ------------------------------------------------------- libcurl once */

static uv_once_t global_once = UV_ONCE_INIT;
static int global_ok;     /* curl_global_init succeeded */

static void global_init(void) {
  global_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

/* ---------------------------------------------------------- freeing */

static void client_free(corun_HttpClient *c) {
  if (--c->handles == 0)
    free(c);
}

static void timer_closed(uv_handle_t *h) {
  client_free(h->data);
}

static void sock_closed(uv_handle_t *h) {
  Sock *s = h->data;
  corun_HttpClient *c = s->c;
  if (s->ours)
    close(s->fd);
  free(s);
  client_free(c);
}

/* Stop polling 's' and close its handle (and its descriptor, if ours,
   once the handle is closed). */
static void sock_close(Sock *s) {
  s->closing = 1;
  corun__link_remove(&s->link);
  uv_close((uv_handle_t *)&s->poll, sock_closed);
}

static Sock *sock_find(corun_HttpClient *c, curl_socket_t fd) {
  corun_Link *l;
  for (l = c->socks.next; l != &c->socks; l = l->next) {
    Sock *s = corun__container_of(l, Sock, link);
    if (s->fd == fd)
      return s;
  }
  return NULL;
}

/* A Sock polling 'fd' for client 'c'; NULL if libuv or memory refuse. */
static Sock *sock_new(corun_HttpClient *c, curl_socket_t fd, int ours) {
  Sock *s = calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  if (uv_poll_init_socket(c->rt->loop, &s->poll, fd) != 0) {
    free(s);
    return NULL;
  }
  s->poll.data = s;
  s->c = c;
  s->fd = fd;
  s->ours = ours;
  c->handles++;
  corun__link_append(&c->socks, &s->link);
  return s;
}

/* ------------------------------------------------ driving libcurl */

/* Tell every transfer that ended or has news, until there is none or the
   client closed meanwhile (its close tells the rest). */
static void process(corun_HttpClient *c) {
  CURLMsg *m;
  corun_Link *l;
  int left;
  while (!c->closed && (m = curl_multi_info_read(c->multi, &left)) != NULL) {
    corun_HttpXfer *x = NULL;
    CURLcode result = m->data.result;  /* m dies with the removal */
    if (m->msg != CURLMSG_DONE)
      continue;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    corun__link_remove(&x->link);
    x->client = NULL;
    curl_multi_remove_handle(c->multi, x->easy);
    if (!x->done(x, c, result) && !corun__link_linked(&x->news))
      corun__link_append(&c->news, &x->news);
  }
  while (!c->closed && (l = corun__link_first(&c->news)) != NULL) {
    corun_HttpXfer *x = corun__container_of(l, corun_HttpXfer, news);
    corun__link_remove(l);
    x->tell(x);
  }
}

static void socket_action(corun_HttpClient *c, curl_socket_t fd,
                          int flags) {
  int running;
  if (c->closed)
    return;
  curl_multi_socket_action(c->multi, fd, flags, &running);
  process(c);
}

/*
** An event on a socket.  An error (a reset connection, a refused connect:
** libuv says EBADF and stops polling) is handed to curl as the socket
** being ready: curl then reads or writes, and finds the error itself
** (curl's own CURL_CSELECT_ERR would only say "select/poll returned
** error").  If curl still wants the socket, polling starts again.
*/
static void on_poll(uv_poll_t *h, int status, int events) {
  Sock *s = h->data;
  int flags = 0;
  if (status < 0)
    flags = CURL_CSELECT_IN | CURL_CSELECT_OUT;
  else {
    if (events & UV_READABLE)
      flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
      flags |= CURL_CSELECT_OUT;
  }
  socket_action(s->c, s->fd, flags);  /* 's' may be closing after it */
  if (status < 0 && !s->closing && s->events != 0)
    uv_poll_start(&s->poll, s->events, on_poll);
}

static void on_timer(uv_timer_t *h) {
  socket_action(h->data, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_SOCKETFUNCTION: watch 'fd' for 'what'. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                     void *socketp) {
  corun_HttpClient *c = userp;
  Sock *s = sock_find(c, fd);
  int events = 0;
  (void)easy; (void)socketp;
  if (what == CURL_POLL_REMOVE) {
    if (s != NULL) {
      s->events = 0;
      uv_poll_stop(&s->poll);
      if (!s->ours)  /* curl closes it next: the handle goes first */
        sock_close(s);
    }
    return 0;
  }
  if (c->closed)
    return 0;
  if (s == NULL && (s = sock_new(c, fd, 0)) == NULL)
    return 0;  /* curl's timeouts end the transfer */
  if (what & CURL_POLL_IN)
    events |= UV_READABLE;
  if (what & CURL_POLL_OUT)
    events |= UV_WRITABLE;
  s->events = events;
  uv_poll_start(&s->poll, events, on_poll);
  return 0;
}

/* CURLMOPT_TIMERFUNCTION: wake curl in 'ms' (real time), or never (-1). */
static int on_curl_timer(CURLM *multi, long ms, void *userp) {
  corun_HttpClient *c = userp;
  (void)multi;
  if (ms < 0 || c->closed)
    uv_timer_stop(&c->timer);
  else
    uv_timer_start(&c->timer, on_timer, (uint64_t)ms, 0);
  return 0;
}

/* CURLOPT_OPENSOCKETFUNCTION (data: the transfer): open the socket curl
   connects with, poll it, and note the address for messages. */
static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *a) {
  corun_HttpXfer *x = clientp;
  corun_HttpClient *c = x->client;
  char name[48] = "?";
  int fd, port = 0;
  if (purpose != CURLSOCKTYPE_IPCXN || c == NULL || c->closed)
    return CURL_SOCKET_BAD;
  fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
  if (fd < 0)
    return CURL_SOCKET_BAD;
  if (sock_new(c, fd, 1) == NULL) {
    close(fd);
    return CURL_SOCKET_BAD;
  }
  if (a->family == AF_INET6) {
    const struct sockaddr_in6 *in = (const struct sockaddr_in6 *)&a->addr;
    uv_ip6_name(in, name, sizeof name);
    port = ntohs(in->sin6_port);
    snprintf(x->where, sizeof x->where, "[%s]:%d", name, port);
  }
  else if (a->family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)&a->addr;
    uv_ip4_name(in, name, sizeof name);
    port = ntohs(in->sin_port);
    snprintf(x->where, sizeof x->where, "%s:%d", name, port);
  }
  return fd;
}

/* CURLOPT_CLOSESOCKETFUNCTION (data: the client, which keeps it for the
   connection's life): close the poll handle, then the descriptor. */
static int on_close_socket(void *clientp, curl_socket_t fd) {
  Sock *s = sock_find(clientp, fd);
  if (s == NULL)  /* never polled: it may go now */
    return close(fd);
  s->ours = 1;  /* sock_closed closes it */
  sock_close(s);
  return 0;
}

/* ------------------------------------------------------------ state */

static HttpState *state_of(corun_Runtime *rt) {
  corun_Hook *h = corun__runtime_hook(rt, &http_kind);
  return h != NULL ? corun__container_of(h, HttpState, hook) : NULL;
}

static void close_all(HttpState *st) {
  corun_Link *l;
  while ((l = corun__link_first(&st->clients)) != NULL)
    corun__httpclient_close(corun__container_of(l, corun_HttpClient, link));
}

/* The main task ended: no task will use a client again; their idle
   connections must not keep the loop (and the peers) waiting. */
static void on_main_done(corun_Hook *h) {
  close_all(corun__container_of(h, HttpState, hook));
}

static void on_close(lua_State *L, corun_Hook *h) {
  HttpState *st = corun__container_of(h, HttpState, hook);
  (void)L;
  close_all(st);
  free(st);
}

/* The runtime's HTTP state, made on first use; NULL if memory runs out. */
static HttpState *state_ready(corun_Runtime *rt) {
  HttpState *st = state_of(rt);
  if (st != NULL)
    return st;
  if ((st = calloc(1, sizeof *st)) == NULL)
    return NULL;
  st->hook.kind = &http_kind;
  st->hook.main_done = on_main_done;
  st->hook.close = on_close;
  corun__link_init(&st->clients);
  corun__runtime_add_hook(rt, &st->hook);
  return st;
}

/* ------------------------------------------------------------ client */

corun_HttpClient *corun__httpclient_new(corun_Runtime *rt,
                                        long max_per_host) {
  HttpState *st;
  corun_HttpClient *c;
  uv_once(&global_once, global_init);
  if (!global_ok || (st = state_ready(rt)) == NULL)
    return NULL;
  if ((c = calloc(1, sizeof *c)) == NULL)
    return NULL;
  if ((c->multi = curl_multi_init()) == NULL ||
      uv_timer_init(rt->loop, &c->timer) != 0) {
    if (c->multi != NULL)
      curl_multi_cleanup(c->multi);
    free(c);
    return NULL;
  }
  c->timer.data = c;
  c->handles = 1;
  c->rt = rt;
  c->state = st;
  corun__link_init(&c->socks);
  corun__link_init(&c->xfers);
  corun__link_init(&c->news);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_per_host);
  corun__link_append(&st->clients, &c->link);
  return c;
}

corun_HttpClient *corun__httpclient_default(corun_Runtime *rt) {
  HttpState *st = state_ready(rt);
  if (st == NULL)
    return NULL;
  if (st->dflt == NULL)
    st->dflt = corun__httpclient_new(rt, CORUN_HTTP_MAX_PER_HOST);
  return st->dflt;
}

corun_Runtime *corun__httpclient_runtime(corun_HttpClient *c) {
  return c->rt;
}

void corun__httpclient_box(corun_HttpClient *c, corun_HttpClient **box) {
  c->box = box;
}

void corun__httpclient_close(corun_HttpClient *c) {
  corun_Link *l;
  if (c->closed)
    return;
  c->closed = 1;
  corun__link_remove(&c->link);
  if (c->state->dflt == c)
    c->state->dflt = NULL;
  if (c->box != NULL)
    *c->box = NULL;
  c->box = NULL;
  while ((l = corun__link_first(&c->xfers)) != NULL) {
    corun_HttpXfer *x = corun__container_of(l, corun_HttpXfer, link);
    corun__link_remove(l);
    x->client = NULL;
    curl_multi_remove_handle(c->multi, x->easy);
    x->done(x, c, CORUN_HTTP_CLOSED);
    if (!corun__link_linked(&x->news))
      corun__link_append(&c->news, &x->news);
  }
  while ((l = corun__link_first(&c->news)) != NULL) {  /* may run Lua */
    corun_HttpXfer *x = corun__container_of(l, corun_HttpXfer, news);
    corun__link_remove(l);
    x->tell(x);
  }
  curl_multi_cleanup(c->multi);  /* closes the connections: on_close_socket */
  c->multi = NULL;
  while ((l = corun__link_first(&c->socks)) != NULL)  /* none, normally */
    sock_close(corun__container_of(l, Sock, link));
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, timer_closed);
}

CURLMcode corun__httpclient_attach(corun_HttpClient *c, corun_HttpXfer *x) {
  CURLMcode rc;
  CORUN_ASSERT(x->client == NULL && !c->closed);
  curl_easy_setopt(x->easy, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
  curl_easy_setopt(x->easy, CURLOPT_OPENSOCKETDATA, x);
  curl_easy_setopt(x->easy, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
  curl_easy_setopt(x->easy, CURLOPT_CLOSESOCKETDATA, c);
  curl_easy_setopt(x->easy, CURLOPT_PRIVATE, (char *)x);
  x->client = c;
  if ((rc = curl_multi_add_handle(c->multi, x->easy)) != CURLM_OK) {
    x->client = NULL;
    return rc;
  }
  corun__link_append(&c->xfers, &x->link);
  return CURLM_OK;
}

void corun__httpclient_forget(corun_HttpXfer *x) {
  corun__link_remove(&x->news);
  if (x->client != NULL) {
    corun__link_remove(&x->link);
    curl_multi_remove_handle(x->client->multi, x->easy);
    x->client = NULL;
  }
}

void corun__httpclient_news(corun_HttpXfer *x) {
  if (x->client != NULL && !corun__link_linked(&x->news))
    corun__link_append(&x->client->news, &x->news);
}
