/*
** tls.h - TLS on OpenSSL (tls.c), for the bindings of corun.tls.  A TLS
** connection is a corun.Stream (stream.h) with the TLS engine as its
** filter, in a class of its own (CORUN_TLS) whose methods are the
** stream's, plus alpn and peer_certificate.  tls.connect makes one after a
** TCP connect, tls.wrap from an open connection, and the accept of a
** tls.listen server (a corun.Server whose connections are prepared by
** their handshakes: tcp.h's corun_Preparer).
*/
#ifndef CORUN_TLS_H
#define CORUN_TLS_H

#include "io.h"
#include "stream.h"

#define CORUN_TLS "corun.TLSConnection"

/* The options of a call (opts), checked by the bindings; every pointer is
   borrowed for the call. */
typedef struct corun_TlsOptions {
  const char *ca_file;      /* trust only these CAs, or NULL: the system's
                               store (a client), no client certificates
                               asked for (a server) */
  const char *cert_file;    /* our certificate chain, or NULL (a client
                               without one) */
  const char *key_file;     /* its private key (with cert_file) */
  const char *server_name;  /* the name to send (SNI) and check, or NULL:
                               the peer's address (a client only) */
  const char *alpn;         /* the protocols, in ALPN's wire format (each
                               name after its length byte), or NULL */
  size_t alpn_len;          /* bytes at 'alpn' */
  int verify;               /* check the peer's certificate */
  int server;               /* the server side of the handshake */
} corun_TlsOptions;

/* Opaque: an SSL_CTX and what goes with it, counted. */
typedef struct corun_TlsContext corun_TlsContext;

/* What the options make, kept by the bindings in a userdata (so that it
   lives across the waits of the call, and goes with the garbage if the
   call is cancelled): corun__tls_config fills it, corun__tls_config_clear
   (its __gc) frees what it holds. */
typedef struct corun_TlsConfig {
  corun_TlsContext *ctx;    /* counted ref, or NULL (cleared) */
  char *server_name;        /* owns, or NULL */
  unsigned char *alpn;      /* owns: a client's protocols (wire format),
                               or NULL */
  unsigned alpn_len;        /* bytes at 'alpn' */
  int verify;               /* as in corun_TlsOptions */
  int server;
} corun_TlsConfig;

/* Fill 'cfg' (zeroed) from 'o' in the runtime of the running task: 0, or
   nil, err pushed ("ETLS: ..." when a file cannot be loaded) and 2. */
int corun__tls_config(lua_State *L, corun_TlsConfig *cfg,
                      const corun_TlsOptions *o);
void corun__tls_config_clear(corun_TlsConfig *cfg);

/*
** The operations, for the bindings, which have checked the arguments and
** that the running task may wait (a listen on a name too).  Each expects
** the userdata of its corun_TlsConfig on top of the stack, returns the
** number of results pushed (API.md's shape: nil, err on failure) or
** suspends the task; 'fname' must outlive the call (a literal).
*/

/* corun.tls.connect: a TCP connection to host:port, then the handshake
   (the config's server_name is the host if opts gave none). */
int corun__tls_connect(lua_State *L, const char *fname, const char *host,
                       int port);

/* corun.tls.wrap: the handshake on the open corun.Stream at index 'conn',
   which the running task owns; the stream becomes the TLS connection (its
   userdata is emptied, whatever the result). */
int corun__tls_wrap(lua_State *L, const char *fname, int conn);

/* corun.tls.listen: a corun.Server, owned by the running task 'self',
   whose accept returns TLS connections whose handshake completed; a
   handshake that takes more than 'handshake_ms' is dropped. */
int corun__tls_listen(lua_State *L, const char *fname, corun_Task *self,
                      const char *host, int port, unsigned handshake_ms);

/* The methods a TLS connection has besides the stream's ('s' open, the
   running task may use it): alpn() -> the protocol or nil;
   peer_certificate() -> {subject, issuer, not_after, sha256} or nil;
   __tostring (any task) -> "corun.TLSConnection (TLSv1.3, host:port)". */
int corun__tls_alpn(lua_State *L, const char *fname, corun_Stream *s);
int corun__tls_peer_certificate(lua_State *L, const char *fname,
                                corun_Stream *s);
int corun__tls_tostring(lua_State *L, const char *fname, corun_Stream *s);

#endif
