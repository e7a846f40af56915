/*
** http.h - HTTP requests and responses (http.c) on a client's connection
** pool (httpclient.h), for the bindings of corun.http.
*/
#ifndef CORUN_HTTP_H
#define CORUN_HTTP_H

#include "httpclient.h"

/* A streamed response: an I/O object (its box's class). */
#define CORUN_HTTP_RESPONSE "corun.http.Response"
/* The metatable of a response read whole (a table). */
#define CORUN_HTTP_BODY "corun.http.Response (body)"

/* Which HTTP (corun_HttpRequest.version). */
#define CORUN_HTTP_ANY 0  /* HTTP/2 over TLS if the server offers it */
#define CORUN_HTTP_1_1 1
#define CORUN_HTTP_2   2  /* HTTP/2 only (without TLS: prior knowledge) */

/* A request, as the bindings checked it.  Strings are borrowed for the
   call (http.c copies what it keeps). */
typedef struct corun_HttpRequest {
  const char *method;     /* "GET", "POST", ... */
  const char *url;        /* http:// or https:// */
  int headers;            /* stack index of an array of "Name: value"
                             lines, or 0 */
  const char *body;       /* the request body, or NULL */
  size_t body_len;        /* its length */
  long timeout_ms;        /* the whole request (body included), or 0 */
  long connect_timeout_ms;  /* the connection (TLS included), or 0 */
  int follow;             /* follow redirects (at most 10) */
  int verify;             /* verify the server's certificate and name */
  const char *ca_file;    /* CA certificates to trust (PEM), or NULL:
                             the system's */
  int version;            /* CORUN_HTTP_ANY, _1_1 or _2 */
  int stream;             /* return at the headers: a streamed response */
} corun_HttpRequest;

/*
** Perform 'rq' on client 'c' (open) for the running task, which waits:
** a response (a table; streamed, an I/O object the task owns), or nil,
** err.  'client_idx' is the stack index of the client's userdata (0 for
** the default client): a streamed response keeps it alive.  Raises
** "fname: ..." if the task cannot wait.
*/
int corun__http_request(lua_State *L, const char *fname,
                        corun_HttpClient *c, int client_idx,
                        const corun_HttpRequest *rq);

/*
** The methods of a streamed response, for the bindings, which have
** checked the arguments: 'io' is open, the running task may use it, and
** its userdata is at index 1 of L.  'fname' must outlive the call (a
** literal).  read: the next 1..'want' bytes of the body, waiting for
** some; nil at its end; nil, err if the transfer failed.
*/
int corun__http_read(lua_State *L, const char *fname, corun_Io *io,
                     lua_Integer want);
/* __tostring of an open streamed response. */
int corun__http_tostring(lua_State *L, corun_Io *io);

#endif
