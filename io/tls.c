/*
** tls.c - TLS on OpenSSL (tls.h): the engine as a stream filter, the
** handshake as a wait of the task, tls.listen's preparer, the contexts.
**
** The engine works on memory BIOs: what the socket reads is written into
** 'in' and SSL_read decodes it into the stream's read buffer; SSL_write
** encodes into 'out', which is sent (corun__stream_send) after every SSL
** call, since any of them may have something to send (a handshake
** message, an alert, an answer to a key update).  So a TLS connection
** reads, writes, waits under backpressure, shuts down and closes as a
** plain stream does (stream.c).
**
** The handshake: the task that connects or wraps waits (a native wait: it
** holds a paused clock) until the bytes that came end it.  Meanwhile the
** connection is held by that very task (corun__io_pend), so that a
** cancelled handshake (corun.timeout, abort) closes it with the branch.
** A tls.listen server takes each connection as it comes and runs its
** handshake at once, without a task, so handshakes run concurrently: those
** that complete wait for accept in 'ready', those that fail or take too
** long (opts.handshake_timeout) are dropped.
**
** Contexts: one default client context per runtime (the system's CA
** store), made on first use; one per call whose options need their own
** (ca_file, a certificate); one per server.  Each is counted: configs,
** servers and connections hold it.
*/
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lauxlib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "tcp.h"
#include "tls.h"

#define OUT_CHUNK (64 * 1024)   /* plaintext encoded per SSL_write */
#define SWEEP_MS 1000           /* a server looks for handshakes that
                                   took too long at least this often */

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#define SSL_get1_peer_certificate SSL_get_peer_certificate
#endif

/* ---------------------------------------------------------- contexts */

struct corun_TlsContext {
  SSL_CTX *ssl;             /* owns */
  int refs;                 /* counted: configs, servers, connections,
                               the runtime (its default client context) */
  unsigned char *alpn;      /* owns: a server's protocols in the order it
                               prefers them (wire format), or NULL */
  unsigned alpn_len;        /* bytes at 'alpn' */
};

static corun_TlsContext *ctx_ref(corun_TlsContext *c) {
  c->refs++;
  return c;
}

static void ctx_unref(corun_TlsContext *c) {
  if (c == NULL || --c->refs > 0)
    return;
  SSL_CTX_free(c->ssl);
  free(c->alpn);
  free(c);
}

/* A new context (one ref) around a new SSL_CTX, or NULL. */
static corun_TlsContext *ctx_new(int server) {
  corun_TlsContext *c = calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  c->ssl = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (c->ssl == NULL) {
    free(c);
    return NULL;
  }
  c->refs = 1;
  SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
  SSL_CTX_set_options(c->ssl, SSL_OP_NO_RENEGOTIATION);
  return c;
}

/* The TLS layer's state in one runtime (a corun_Hook, made on first
   use): its default client context. */
typedef struct TlsState {
  corun_Hook hook;          /* in the runtime's hooks (kind: &tls_kind) */
  corun_TlsContext *client; /* counted ref, or NULL until first used */
} TlsState;

static const char tls_kind = 0;  /* identifies the TlsState hook */

static void state_close(lua_State *L, corun_Hook *h) {
  TlsState *st = corun__container_of(h, TlsState, hook);
  (void)L;
  ctx_unref(st->client);  /* connections still closing hold their ref */
  free(st);
}

/* The default client context of 'rt' (a new ref), or NULL. */
static corun_TlsContext *default_client(corun_Runtime *rt) {
  corun_Hook *h = corun__runtime_hook(rt, &tls_kind);
  TlsState *st;
  if (h != NULL)
    st = corun__container_of(h, TlsState, hook);
  else {
    if ((st = calloc(1, sizeof *st)) == NULL)
      return NULL;
    st->hook.kind = &tls_kind;
    st->hook.close = state_close;
    corun__runtime_add_hook(rt, &st->hook);
  }
  if (st->client == NULL) {
    corun_TlsContext *c = ctx_new(0);
    if (c == NULL)
      return NULL;
    SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_set_default_verify_paths(c->ssl) != 1) {
      ctx_unref(c);
      return NULL;
    }
    st->client = c;
  }
  return ctx_ref(st->client);
}

/* A server's choice among the client's protocols: its own first choice
   that the client offers; none in common is a fatal alert (RFC 7301). */
static int select_alpn(SSL *ssl, const unsigned char **out,
                       unsigned char *outlen, const unsigned char *in,
                       unsigned inlen, void *arg) {
  corun_TlsContext *c = arg;
  unsigned char *chosen;
  (void)ssl;
  if (SSL_select_next_proto(&chosen, outlen, c->alpn, c->alpn_len, in,
                            inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

/* A server that asked for a client certificate with verify = false takes
   any. */
static int accept_any(int ok, X509_STORE_CTX *store) {
  (void)ok; (void)store;
  return 1;
}

/* Push nil and why a file could not be loaded into the context: the
   system's error if there is one ("ENOENT: no such file or directory
   (ca_file /x.pem)"), else "ETLS: <OpenSSL's reason> (<what> <path>)";
   returns 2. */
static int load_failed(lua_State *L, const char *what, const char *path) {
  unsigned long e;
  const char *why = NULL;
  int sys = 0;
  while ((e = ERR_get_error()) != 0)
    if (ERR_GET_LIB(e) == ERR_LIB_SYS) {
      sys = ERR_GET_REASON(e);
      break;
    }
    else if (why == NULL)
      why = ERR_reason_error_string(e);
  ERR_clear_error();
  if (sys != 0)
    return corun__io_fail(L, uv_translate_sys_error(sys), "%s %s", what,
                          path);
  lua_pushnil(L);
  lua_pushfstring(L, "ETLS: %s (%s %s)", why != NULL ? why :
                  "cannot load the file", what, path);
  return 2;
}

/* A context of its own for the options 'o' (in '*out'): 0, or nil, err
   pushed and 2. */
static int ctx_for(lua_State *L, const corun_TlsOptions *o,
                   corun_TlsContext **out) {
  corun_TlsContext *c = ctx_new(o->server);
  SSL_CTX *ssl;
  int n = 0;
  if (c == NULL)
    return corun__io_fail(L, UV_ENOMEM, NULL);
  ssl = c->ssl;
  ERR_clear_error();
  if (o->cert_file != NULL &&
      SSL_CTX_use_certificate_chain_file(ssl, o->cert_file) != 1)
    n = load_failed(L, "cert_file", o->cert_file);
  else if (o->key_file != NULL &&
           (SSL_CTX_use_PrivateKey_file(ssl, o->key_file,
                                        SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ssl) != 1))
    n = load_failed(L, "key_file", o->key_file);
  else if (o->ca_file != NULL &&
           SSL_CTX_load_verify_locations(ssl, o->ca_file, NULL) != 1)
    n = load_failed(L, "ca_file", o->ca_file);
  else if (!o->server) {
    if (o->ca_file == NULL && SSL_CTX_set_default_verify_paths(ssl) != 1)
      n = load_failed(L, "the system's CA store", "");
    SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, NULL);
  }
  else {
    SSL_CTX_set_session_id_context(ssl, (const unsigned char *)"corun", 5);
    if (o->ca_file != NULL) {  /* client certificates */
      STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->ca_file);
      if (names != NULL)
        SSL_CTX_set_client_CA_list(ssl, names);
      if (o->verify)
        SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER |
                           SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
      else
        SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, accept_any);
    }
    if (o->alpn != NULL) {
      if ((c->alpn = malloc(o->alpn_len)) == NULL)
        n = corun__io_fail(L, UV_ENOMEM, NULL);
      else {
        memcpy(c->alpn, o->alpn, o->alpn_len);
        c->alpn_len = (unsigned)o->alpn_len;
        SSL_CTX_set_alpn_select_cb(ssl, select_alpn, c);
      }
    }
  }
  if (n != 0) {
    ctx_unref(c);
    return n;
  }
  *out = c;
  return 0;
}

static char *dup_string(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d != NULL)
    memcpy(d, s, n);
  return d;
}

int corun__tls_config(lua_State *L, corun_TlsConfig *cfg,
                      const corun_TlsOptions *o) {
  corun_Runtime *rt = corun__state_peek(L)->rt;
  int n;
  cfg->verify = o->verify;
  cfg->server = o->server;
  if (o->server || o->ca_file != NULL || o->cert_file != NULL) {
    if ((n = ctx_for(L, o, &cfg->ctx)) != 0)
      return n;
  }
  else if ((cfg->ctx = default_client(rt)) == NULL) {
    lua_pushnil(L);
    lua_pushliteral(L, "ETLS: cannot set up the system's CA store");
    return 2;
  }
  if ((o->server_name != NULL &&
       (cfg->server_name = dup_string(o->server_name)) == NULL) ||
      (!o->server && o->alpn != NULL &&
       (cfg->alpn = malloc(o->alpn_len)) == NULL)) {
    corun__tls_config_clear(cfg);
    return corun__io_fail(L, UV_ENOMEM, NULL);
  }
  if (cfg->alpn != NULL) {
    memcpy(cfg->alpn, o->alpn, o->alpn_len);
    cfg->alpn_len = (unsigned)o->alpn_len;
  }
  return 0;
}

void corun__tls_config_clear(corun_TlsConfig *cfg) {
  ctx_unref(cfg->ctx);
  free(cfg->server_name);
  free(cfg->alpn);
  memset(cfg, 0, sizeof *cfg);
}

/* -------------------------------------------------------- the engine */

enum { HANDSHAKE, OPEN, FAILED };

typedef struct Acceptor Acceptor;

typedef struct Tls {
  corun_StreamFilter filter; /* first: the stream's filter (stream.h) */
  corun_Runtime *rt;        /* borrows: the stream's */
  corun_TlsContext *ctx;    /* counted ref */
  SSL *ssl;                 /* owns, and through it the two BIOs */
  BIO *in;                  /* borrows: ciphertext the socket read */
  BIO *out;                 /* borrows: ciphertext to send */
  int state;                /* HANDSHAKE, OPEN or FAILED */
  int said_bye;             /* our close_notify is out */
  corun_Waker waiter;       /* the task waiting for the handshake, or 0 */
  Acceptor *acceptor;       /* a server's, until accept takes it, or NULL */
  corun_Link link;          /* in the acceptor's 'handshaking' or 'ready' */
  uint64_t started;         /* loop time (ms) the handshake began */
  char name[256];           /* the name a client checks, for messages */
  char err[320];            /* why it failed (the filter's error) */
} Tls;

/* Send what the engine has made; 0, or the stream's write error. */
static int flush(Tls *t) {
  char *p;
  long n = BIO_get_mem_data(t->out, &p);
  int rc = 0;
  if (n > 0) {
    rc = corun__stream_send(t->filter.s, p, (size_t)n);
    (void)BIO_reset(t->out);
  }
  return rc;
}

/* Say in t->err why the SSL call that returned 'ret' failed: "ECERT:
   <the X509 verify error>" when the peer's certificate did not verify,
   "ETLS: <OpenSSL's reason>" otherwise; the detail is the name a client
   checked. */
static void failed(Tls *t, int ret) {
  unsigned long e = ERR_peek_error();
  const char *why = NULL, *code = "ETLS";
  char detail[sizeof t->name + 4] = "";
  if (t->name[0] != '\0')
    snprintf(detail, sizeof detail, " (%s)", t->name);
  if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
      ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    code = "ECERT";
    why = X509_verify_cert_error_string(SSL_get_verify_result(t->ssl));
  }
  else if (e != 0)
    why = ERR_reason_error_string(e);
  if (why == NULL)
    why = SSL_get_error(t->ssl, ret) == SSL_ERROR_ZERO_RETURN
            ? "the peer closed the connection" : "handshake failed";
  snprintf(t->err, sizeof t->err, "%s: %s%s", code, why, detail);
  ERR_clear_error();
  t->state = FAILED;
}

/* The socket failed or ended during the handshake ('n': libuv's code). */
static void failed_socket(Tls *t, ssize_t n) {
  if (n == UV_EOF)
    snprintf(t->err, sizeof t->err, "ETLS: the peer closed the connection "
             "during the handshake%s%s%s", t->name[0] ? " (" : "", t->name,
             t->name[0] ? ")" : "");
  else
    snprintf(t->err, sizeof t->err, "%s: %s", uv_err_name((int)n),
             uv_strerror((int)n));
  t->state = FAILED;
}

static void over(Tls *t);

/* Go on with the handshake: 1 it is over (OPEN or FAILED), 0 it wants
   more from the peer. */
static int handshake(Tls *t) {
  int ret, rc;
  ERR_clear_error();
  ret = SSL_do_handshake(t->ssl);
  if ((rc = flush(t)) != 0) {
    failed_socket(t, rc);
    return 1;
  }
  if (ret == 1) {
    t->state = OPEN;
    return 1;
  }
  if (SSL_get_error(t->ssl, ret) == SSL_ERROR_WANT_READ)
    return 0;
  failed(t, ret);
  return 1;
}

/* Decode what the engine holds into the stream's read buffer: 0,
   CORUN_FILTER_END (the peer's close_notify), or CORUN_FILTER_ERROR. */
static int decode(Tls *t) {
  for (;;) {
    size_t avail;
    char *room = corun__stream_room(t->filter.s, &avail);
    int ret, e;
    if (room == NULL) {
      snprintf(t->err, sizeof t->err, "ENOMEM: not enough memory");
      return CORUN_FILTER_ERROR;
    }
    ERR_clear_error();
    ret = SSL_read(t->ssl, room, avail > INT_MAX ? INT_MAX : (int)avail);
    (void)flush(t);  /* a write error shows in the next write */
    if (ret > 0) {
      corun__stream_filled(t->filter.s, (size_t)ret);
      continue;
    }
    e = SSL_get_error(t->ssl, ret);
    if (e == SSL_ERROR_WANT_READ)
      return 0;
    if (e == SSL_ERROR_ZERO_RETURN)
      return CORUN_FILTER_END;
    failed(t, ret);
    return CORUN_FILTER_ERROR;
  }
}

static int tls_input(corun_StreamFilter *f, const char *data, ssize_t n) {
  Tls *t = (Tls *)f;
  int rc, was = t->state;
  if (n > 0 && BIO_write(t->in, data, (int)n) != (int)n) {
    snprintf(t->err, sizeof t->err, "ENOMEM: not enough memory");
    t->state = FAILED;
  }
  else if (t->state == HANDSHAKE) {
    if (n < 0)
      failed_socket(t, n);
    else if (!handshake(t))
      return 0;
  }
  if (was == HANDSHAKE)
    over(t);  /* a server's failed handshake is dropped there */
  if (t->state == FAILED)
    return CORUN_FILTER_ERROR;
  if ((rc = decode(t)) != 0)
    return rc;
  if (n == UV_EOF)  /* without close_notify: read as the end too */
    return CORUN_FILTER_END;
  return n < 0 ? (int)n : 0;
}

static int tls_output(corun_StreamFilter *f, const char *data, size_t len) {
  Tls *t = (Tls *)f;
  while (len > 0) {
    int ret, rc, chunk = len > OUT_CHUNK ? OUT_CHUNK : (int)len;
    if (t->state != OPEN)
      return CORUN_FILTER_ERROR;
    ERR_clear_error();
    ret = SSL_write(t->ssl, data, chunk);
    if ((rc = flush(t)) != 0)
      return rc;
    if (ret <= 0) {
      failed(t, ret);
      return CORUN_FILTER_ERROR;
    }
    data += ret;
    len -= (size_t)ret;
  }
  return 0;
}

/* Our close_notify, once. */
static int tls_shutdown(corun_StreamFilter *f) {
  Tls *t = (Tls *)f;
  if (t->state != OPEN || t->said_bye)
    return 0;
  t->said_bye = 1;
  ERR_clear_error();
  (void)SSL_shutdown(t->ssl);
  ERR_clear_error();
  return flush(t);
}

static int push_nothing(lua_State *L, void *ud) {
  (void)L; (void)ud;
  return 0;
}

/* Our close_notify (not if 'force'); the peer answers with its own, or
   at least its end, which the stream waits for. */
static int tls_close(corun_StreamFilter *f, int force) {
  Tls *t = (Tls *)f;
  int bye = !force && t->state == OPEN;
  if (bye)
    (void)tls_shutdown(f);
  corun__io_wake_slot(t->rt, &t->waiter, push_nothing, NULL);
  return bye;
}

static int tls_fail(lua_State *L, corun_StreamFilter *f) {
  lua_pushnil(L);
  lua_pushstring(L, ((Tls *)f)->err);
  return 2;
}

static void tls_free(corun_StreamFilter *f) {
  Tls *t = (Tls *)f;
  CORUN_ASSERT(!corun__link_linked(&t->link));  /* dropped first */
  SSL_free(t->ssl);
  ctx_unref(t->ctx);
  free(t);
}

static const corun_FilterOps tls_ops = {
  tls_input, tls_output, tls_shutdown, tls_close, tls_fail, tls_free
};

/* The address of the other end of 's' into 'name' ("" if unknown). */
static void peer_name(corun_Stream *s, char *name, size_t size, int *port) {
  uv_stream_t *h = corun__stream_handle(s);
  struct sockaddr_storage sa;
  int len = sizeof sa;
  name[0] = '\0';
  *port = 0;
  if (h->type != UV_TCP ||
      uv_tcp_getpeername((uv_tcp_t *)h, (struct sockaddr *)&sa, &len) != 0 ||
      uv_ip_name((struct sockaddr *)&sa, name, size) != 0)
    return;
  *port = ntohs(sa.ss_family == AF_INET6
                  ? ((struct sockaddr_in6 *)&sa)->sin6_port
                  : ((struct sockaddr_in *)&sa)->sin_port);
}

/* Is 'name' an IPv4 or IPv6 address? */
static int is_address(const char *name) {
  unsigned char buf[16];
  return uv_inet_pton(AF_INET, name, buf) == 0 ||
         uv_inet_pton(AF_INET6, name, buf) == 0;
}

/*
** A new engine for stream 's' (not attached yet) as 'cfg' says, or NULL
** with t->err's kind of message in 'err'.  A client checks the config's
** server name, or the peer's address: an address is checked against the
** certificate's IP addresses and sent as no SNI.
*/
static Tls *tls_new(corun_Runtime *rt, const corun_TlsConfig *cfg,
                    corun_Stream *s, char *err, size_t errsize) {
  Tls *t = calloc(1, sizeof *t);
  BIO *in = NULL, *out = NULL;
  int port, ok = 1;
  if (t == NULL || (t->ssl = SSL_new(cfg->ctx->ssl)) == NULL ||
      (in = BIO_new(BIO_s_mem())) == NULL ||
      (out = BIO_new(BIO_s_mem())) == NULL) {
    BIO_free(in);
    if (t != NULL)
      SSL_free(t->ssl);
    free(t);
    snprintf(err, errsize, "ENOMEM: not enough memory");
    return NULL;
  }
  t->filter.ops = &tls_ops;
  t->rt = rt;
  t->ctx = ctx_ref(cfg->ctx);
  t->in = in;
  t->out = out;
  SSL_set_bio(t->ssl, in, out);
  corun__link_init(&t->link);
  if (cfg->server) {
    SSL_set_accept_state(t->ssl);
    return t;
  }
  SSL_set_connect_state(t->ssl);
  if (cfg->server_name != NULL)
    snprintf(t->name, sizeof t->name, "%s", cfg->server_name);
  else
    peer_name(s, t->name, sizeof t->name, &port);
  if (is_address(t->name)) {
    if (cfg->verify)
      ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), t->name);
  }
  else if (t->name[0] != '\0') {
    ok = SSL_set_tlsext_host_name(t->ssl, t->name) == 1;
    if (ok && cfg->verify) {
      SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      ok = SSL_set1_host(t->ssl, t->name) == 1;
    }
  }
  else if (cfg->verify)
    ok = 0;  /* nothing to check the certificate against */
  if (!ok)
    snprintf(err, errsize, "ETLS: cannot check the server's name '%s' "
             "(give opts.server_name)", t->name);
  else if (cfg->alpn != NULL &&
           SSL_set_alpn_protos(t->ssl, cfg->alpn, cfg->alpn_len) != 0) {
    snprintf(err, errsize, "ENOMEM: not enough memory");
    ok = 0;
  }
  if (!ok) {
    ERR_clear_error();
    tls_free(&t->filter);
    return NULL;
  }
  if (!cfg->verify)
    SSL_set_verify(t->ssl, SSL_VERIFY_NONE, NULL);
  return t;
}

/* -------------------------------------------------- the client side */

/* The handshake of the TLS connection at 'idx' is over (or it was closed
   meanwhile): the connection, given to the running task's root; or nil,
   err, and the connection closes. */
static int handshake_result(lua_State *L, int idx) {
  corun_Io *io = *(corun_Io **)lua_touserdata(L, idx);
  Tls *t;
  if (io == NULL)
    return corun__io_fail(L, UV_ECANCELED, "the connection was closed");
  t = (Tls *)corun__stream_filter((corun_Stream *)io);
  if (t->state == OPEN) {
    corun__io_adopt(io, corun__state_peek(L)->rt->current);
    lua_pushvalue(L, idx);
    return 1;
  }
  lua_pushnil(L);
  lua_pushstring(L, t->err);
  corun__io_close(io, 0);  /* an alert we owe goes out first */
  return 2;
}

/* The handshake ended ('ctx': the connection's index). */
static int k_handshake(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  corun__wait_check(L, (int)ctx);
  return handshake_result(L, (int)ctx);
}

static void cancel_handshake(corun_Waker w, void *ud) {
  Tls *t = ud;
  if (t->waiter == w)
    t->waiter = 0;  /* the connection closes with the task (io_pend) */
}

/*
** The handshake on the stream boxed at 'idx' (owned by the running task),
** as the config on top of the stack says: the stream becomes a TLS
** connection (a new userdata; the old one is emptied), and the task waits
** for the handshake.
*/
static int start(lua_State *L, const char *fname, int idx) {
  corun_TlsConfig *cfg = lua_touserdata(L, -1);
  corun_Io *io = *(corun_Io **)lua_touserdata(L, idx);
  corun_Stream *s = (corun_Stream *)io;
  corun_Runtime *rt = corun__state_peek(L)->rt;
  char err[sizeof ((Tls *)0)->err];
  Tls *t = tls_new(rt, cfg, s, err, sizeof err);
  int rc, top;
  if (t == NULL) {
    corun__io_close(io, 0);
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  if ((rc = corun__stream_set_filter(s, &t->filter)) == UV_EBUSY) {
    tls_free(&t->filter);
    return corun__error(L, fname, "a read or write is waiting on the "
                        "connection");
  }
  /* the same object, in the class of TLS connections: the connection's
     userdata no longer reaches it */
  *io->box = NULL;
  corun__io_push(L, io, CORUN_TLS);
  top = lua_gettop(L);
  if (rc != 0) {
    failed_socket(t, rc);
    return handshake_result(L, top);
  }
  if (t->state == HANDSHAKE)
    (void)handshake(t);  /* a client's hello goes out */
  if (t->state != HANDSHAKE)
    return handshake_result(L, top);
  t->waiter = corun__io_prepare(L, fname, cancel_handshake, t);
  corun__io_pend(io, rt->current);
  return corun__wait_k(L, t->waiter, (lua_KContext)top, k_handshake);
}

/* The TCP connect ended ('ctx': the stack height then, the config and
   fname below it): the handshake, or nil, err. */
static int k_connected(lua_State *L, int status, lua_KContext ctx) {
  int base = (int)ctx;
  const char *fname = lua_touserdata(L, base);
  (void)status;
  corun__io_adopt_results(L, base);
  if (lua_type(L, base + 1) != LUA_TUSERDATA)
    return lua_gettop(L) - base;  /* nil, err */
  lua_pushvalue(L, base - 1);  /* the config on top */
  return start(L, fname, base + 1);
}

int corun__tls_connect(lua_State *L, const char *fname, const char *host,
                       int port) {
  lua_pushlightuserdata(L, (void *)fname);  /* config, fname */
  return corun__tcp_connect(L, fname, host, port, k_connected);
}

int corun__tls_wrap(lua_State *L, const char *fname, int conn) {
  return start(L, fname, conn);
}

/* -------------------------------------------------- the server side */

/* tls.listen's preparer: the handshakes of the connections that came. */
struct Acceptor {
  corun_Preparer prep;      /* first: the server's (tcp.h) */
  corun_Runtime *rt;        /* borrows: the server's */
  corun_TlsConfig cfg;      /* owns what it holds: a server config */
  corun_Server *sv;         /* borrows: the server, until it closes this */
  corun_Link handshaking;   /* Tls.link: handshakes under way */
  corun_Link ready;         /* Tls.link: handshakes done, for accept */
  uint64_t timeout;         /* ms a handshake may take */
  uv_timer_t sweep;         /* drops handshakes older than 'timeout'; the
                               acceptor is freed in its close */
};

/* Close a connection the server gives up on (its handshake failed or
   took too long, or the server closes). */
static void drop(Tls *t) {
  corun__link_remove(&t->link);
  t->acceptor = NULL;
  corun__stream_discard(t->filter.s);
}

/* A handshake is over: a task's wakes; a server's goes to 'ready' (and
   accept is told) or is dropped. */
static void over(Tls *t) {
  Acceptor *a = t->acceptor;
  if (a == NULL) {
    corun__io_wake_slot(t->rt, &t->waiter, push_nothing, NULL);
    return;
  }
  if (t->state != OPEN) {
    drop(t);
    return;
  }
  corun__link_remove(&t->link);
  corun__link_append(&a->ready, &t->link);
  corun__tcp_ready(a->sv);
}

static void on_sweep(uv_timer_t *timer) {
  Acceptor *a = timer->data;
  uint64_t now = uv_now(a->rt->loop);
  corun_Link *l = a->handshaking.next;
  while (l != &a->handshaking) {
    Tls *t = corun__container_of(l, Tls, link);
    l = l->next;
    if (now - t->started >= a->timeout)
      drop(t);
  }
  if (!corun__link_linked(&a->handshaking))
    uv_timer_stop(timer);
}

static void acc_incoming(corun_Preparer *p, corun_Server *sv) {
  Acceptor *a = (Acceptor *)p;
  char err[sizeof ((Tls *)0)->err];
  corun_Stream *s;
  Tls *t;
  int rc;
  a->sv = sv;
  if ((s = corun__tcp_take(sv, &rc)) == NULL)
    return;  /* it went away already */
  if ((t = tls_new(a->rt, &a->cfg, s, err, sizeof err)) == NULL) {
    corun__stream_discard(s);
    return;
  }
  t->acceptor = a;
  t->started = uv_now(a->rt->loop);
  corun__link_append(&a->handshaking, &t->link);
  if (corun__stream_set_filter(s, &t->filter) != 0) {
    drop(t);
    return;
  }
  if (handshake(t))
    over(t);
  else if (!uv_is_active((uv_handle_t *)&a->sweep)) {
    uint64_t every = a->timeout / 4 < SWEEP_MS ? a->timeout / 4 : SWEEP_MS;
    every = every < 10 ? 10 : every;
    uv_timer_start(&a->sweep, on_sweep, every, every);
  }
}

static int acc_take(lua_State *L, corun_Preparer *p, corun_Task *owner) {
  Acceptor *a = (Acceptor *)p;
  corun_Link *l = corun__link_first(&a->ready);
  Tls *t;
  if (l == NULL)  /* never: the server counts those ready */
    return corun__io_fail(L, UV_EAGAIN, NULL);
  t = corun__container_of(l, Tls, link);
  corun__link_remove(&t->link);
  t->acceptor = NULL;
  corun__stream_push_as(L, t->filter.s, owner, CORUN_TLS);
  return 1;
}

static void acc_free(uv_handle_t *h) {
  free(h->data);
}

static void acc_close(corun_Preparer *p, int force) {
  Acceptor *a = (Acceptor *)p;
  corun_Link *l;
  (void)force;  /* nothing lingers: every connection goes at once */
  while ((l = corun__link_first(&a->handshaking)) != NULL)
    drop(corun__container_of(l, Tls, link));
  while ((l = corun__link_first(&a->ready)) != NULL)
    drop(corun__container_of(l, Tls, link));
  corun__tls_config_clear(&a->cfg);
  a->sv = NULL;
  uv_close((uv_handle_t *)&a->sweep, acc_free);
}

int corun__tls_listen(lua_State *L, const char *fname, corun_Task *self,
                      const char *host, int port, unsigned handshake_ms) {
  corun_TlsConfig *cfg = lua_touserdata(L, -1);
  Acceptor *a = calloc(1, sizeof *a);
  if (a == NULL || uv_timer_init(self->rt->loop, &a->sweep) != 0) {
    free(a);
    return corun__io_fail(L, UV_ENOMEM, NULL);
  }
  a->prep.name = "tls";
  a->prep.incoming = acc_incoming;
  a->prep.take = acc_take;
  a->prep.close = acc_close;
  a->rt = self->rt;
  a->timeout = handshake_ms;
  a->cfg = *cfg;  /* the config's refs move here */
  memset(cfg, 0, sizeof *cfg);
  corun__link_init(&a->handshaking);
  corun__link_init(&a->ready);
  a->sweep.data = a;
  uv_unref((uv_handle_t *)&a->sweep);  /* the connections keep the loop */
  return corun__tcp_listen(L, fname, self, host, port, 511, &a->prep);
}

/* ----------------------------------------------------------- methods */

int corun__tls_alpn(lua_State *L, const char *fname, corun_Stream *s) {
  Tls *t = (Tls *)corun__stream_filter(s);
  const unsigned char *p;
  unsigned len;
  (void)fname;
  SSL_get0_alpn_selected(t->ssl, &p, &len);
  if (len == 0)
    lua_pushnil(L);
  else
    lua_pushlstring(L, (const char *)p, len);
  return 1;
}

/* Push an X509 name as OpenSSL's one-line text ("CN = localhost"). */
static void push_name(lua_State *L, const X509_NAME *name) {
  BIO *b = BIO_new(BIO_s_mem());
  char *p;
  long n;
  if (b == NULL) {
    lua_pushliteral(L, "");
    return;
  }
  X509_NAME_print_ex(b, name, 0, XN_FLAG_ONELINE);
  n = BIO_get_mem_data(b, &p);
  lua_pushlstring(L, p, n > 0 ? (size_t)n : 0);
  BIO_free(b);
}

int corun__tls_peer_certificate(lua_State *L, const char *fname,
                                corun_Stream *s) {
  Tls *t = (Tls *)corun__stream_filter(s);
  X509 *x = SSL_get1_peer_certificate(t->ssl);
  unsigned char md[EVP_MAX_MD_SIZE];
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  unsigned n = 0, i;
  struct tm tm;
  (void)fname;
  if (x == NULL) {
    lua_pushnil(L);
    return 1;
  }
  lua_createtable(L, 0, 4);
  push_name(L, X509_get_subject_name(x));
  lua_setfield(L, -2, "subject");
  push_name(L, X509_get_issuer_name(x));
  lua_setfield(L, -2, "issuer");
  if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1) {
    lua_pushinteger(L, (lua_Integer)timegm(&tm));
    lua_setfield(L, -2, "not_after");
  }
  if (X509_digest(x, EVP_sha256(), md, &n) == 1) {
    for (i = 0; i < n; i++)
      snprintf(hex + 2 * i, 3, "%02x", md[i]);
    lua_pushlstring(L, hex, 2 * n);
    lua_setfield(L, -2, "sha256");
  }
  X509_free(x);
  ERR_clear_error();
  return 1;
}

int corun__tls_tostring(lua_State *L, const char *fname, corun_Stream *s) {
  Tls *t = (Tls *)corun__stream_filter(s);
  char name[64];
  int port;
  (void)fname;
  peer_name(s, name, sizeof name, &port);
  lua_pushfstring(L, strchr(name, ':') != NULL
                       ? "corun.TLSConnection (%s, [%s]:%d)"
                       : "corun.TLSConnection (%s, %s:%d)",
                  SSL_get_version(t->ssl), name, port);
  return 1;
}
