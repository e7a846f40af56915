/*
** httpd.h - the HTTP/1.1 server (corun.http.listen): the listening
** object, corun.HttpServer, and its serve loop (httpd.c), and the task
** that serves one connection (httpd_conn.c).
**
** serve() accepts connections and spawns a task for each, which runs
** corun__httpd_connection with the handler (copied into the task by the
** usual rules) and the connection (moved into it).  The connection tasks
** form a group (corun_HttpServing) owned by the task, or branch, in
** serve: its end, cancellation included, cancels them; server:close()
** makes serve stop accepting, close the idle connections, wait for the
** requests in flight and return.
*/
#ifndef CORUN_HTTPD_H
#define CORUN_HTTPD_H

#include "io.h"

#define CORUN_HTTP_SERVER "corun.HttpServer"

/* The limits of listen's options (API.md's defaults in bindings). */
typedef struct corun_HttpLimits {
  lua_Integer max_header_bytes;  /* request line and headers, else 431 */
  lua_Integer max_body_bytes;    /* request body (inclusive), else 413 */
  double header_timeout;         /* seconds for a request's head (and
                                    between reads of its body), else 408 */
  double keepalive_timeout;      /* seconds an idle connection is kept */
} corun_HttpLimits;

/* Opaque: the listening server (httpd.c). */
typedef struct corun_HttpServer corun_HttpServer;

/* The connection tasks of one serve() call (httpd.c); a connection task
   reaches it through its task record (u.group). */
typedef struct corun_HttpServing corun_HttpServing;
struct corun_HttpServing {
  corun_Group group;      /* the connection tasks' u.group */
  corun_Resource res;     /* owned by the task or branch in serve */
  corun_Runtime *rt;      /* borrows: valid while serve runs */
  corun_HttpServer *sv;   /* borrows: the server, NULL once it closed */
  corun_Link tasks;       /* connection tasks not ended (task->sibling) */
  corun_Link conns;       /* their connection records (httpd_conn.c) */
  corun_Waker waiter;     /* serve, waiting for the last task to end */
  int count;              /* connection tasks not ended */
  int draining;           /* the server closed: no request after the
                             current one on each connection */
};

/* A connection task's record (httpd_conn.c), listed in its serving. */
typedef struct corun_HttpConn corun_HttpConn;
void corun__httpd_conn_drain(corun_HttpConn *c);
void corun__httpd_conn_detach(corun_HttpConn *c);
corun_HttpConn *corun__httpd_conn_of(corun_Link *link);

/* ------------------------------------------------------ operations */

/*
** For the bindings, which have checked the arguments (as in stream.h:
** the server's userdata at index 1, 'fname' a literal).
*/

/* Listen on 'sa' for task 'owner' with limits 'lim' (copied); with TLS
   when 'cert_file' and 'key_file' are given (copied).  Push the server,
   or nil, err ('where' names the address in errors). */
int corun__httpd_listen(lua_State *L, corun_Task *owner,
                        const struct sockaddr *sa, const char *where,
                        const corun_HttpLimits *lim, const char *cert_file,
                        const char *key_file);
/* Does the server serve HTTPS?  (The bindings then give serve the TLS
   wrap function.) */
int corun__httpd_is_tls(corun_HttpServer *sv);
/* serve(): stack 1 server, 2 handler, 3 corun.tls.wrap or nil.  Returns
   true once the server was closed and the requests in flight are
   answered; nil, err if accepting failed. */
int corun__httpd_serve(lua_State *L, const char *fname,
                       corun_HttpServer *sv);
int corun__httpd_address(lua_State *L, const char *fname,
                         corun_HttpServer *sv);
int corun__httpd_tostring(lua_State *L, const char *fname,
                          corun_HttpServer *sv);

/* The function of a connection task (httpd_conn.c): arguments handler,
   connection, wrap (or nil), cert_file, key_file, then the four limits
   in corun_HttpLimits' order. */
int corun__httpd_connection(lua_State *L);

#endif
