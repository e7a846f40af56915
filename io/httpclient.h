/*
** httpclient.h - an HTTP client's connection pool (httpclient.c): one
** libcurl multi handle driven by the runtime's libuv loop, and the
** transfers attached to it.  http.c makes the transfers (requests,
** responses); the bindings make and close clients.
**
** The client opens and closes curl's sockets itself and polls each with a
** uv_poll_t; curl's timeouts run on a uv_timer_t (real time: the paused
** clock of corun.clock does not reach inside libcurl).  Nothing in a curl
** callback calls Lua: what a transfer has to tell its task is queued
** ("news") and told once curl has returned, so that Lua code (a finalizer
** included) never runs inside libcurl.
*/
#ifndef CORUN_HTTPCLIENT_H
#define CORUN_HTTPCLIENT_H

#include <curl/curl.h>
#include "io.h"

#define CORUN_HTTP_MAX_PER_HOST 8  /* connections per host, by default */

/* A transfer's result when its client closed under it. */
#define CORUN_HTTP_CLOSED ((CURLcode)CURL_LAST)

typedef struct corun_HttpClient corun_HttpClient;

/*
** What the client knows of a transfer: embedded in http.c's record.  The
** client calls 'done' and 'tell' from the loop, never from inside a curl
** callback.
*/
typedef struct corun_HttpXfer corun_HttpXfer;
struct corun_HttpXfer {
  corun_Link link;        /* in the client's 'xfers' while attached */
  corun_Link news;        /* in the client's 'news' while it has some */
  corun_HttpClient *client;  /* borrows: the client it is attached to, or
                             NULL (not yet, or detached) */
  CURL *easy;             /* the easy handle (owned by http.c) */
  char where[64];         /* "host:port" curl last connected to, or "" */
  /* It ended with 'result' (it is detached already; CORUN_HTTP_CLOSED if
     its client 'c' closed): record it, call no Lua.  It then gets 'tell',
     unless it started again on 'c' (corun__httpclient_attach: a redirect
     it follows itself) and returns 1. */
  int (*done)(corun_HttpXfer *x, corun_HttpClient *c, CURLcode result);
  /* It has news for its task (done, or corun__httpclient_news): wake
     whoever waits.  May call Lua, may free the transfer. */
  void (*tell)(corun_HttpXfer *x);
};

/* The runtime's default client, made on first use (closed when the main
   task ends and when the runtime closes); NULL if memory runs out. */
corun_HttpClient *corun__httpclient_default(corun_Runtime *rt);

/* A new client on rt's loop with at most 'max_per_host' connections to
   one host; NULL if memory runs out.  It is closed by
   corun__httpclient_close, when the main task ends, or when the runtime
   closes. */
corun_HttpClient *corun__httpclient_new(corun_Runtime *rt,
                                        long max_per_host);

/* The runtime it runs on (valid while it is open). */
corun_Runtime *corun__httpclient_runtime(corun_HttpClient *c);

/* '*box' (a userdata's pointer to 'c') is emptied when 'c' closes. */
void corun__httpclient_box(corun_HttpClient *c, corun_HttpClient **box);

/* Close the client (idempotent): every transfer still attached ends with
   CORUN_HTTP_CLOSED (and is told), its connections close, and it frees
   itself once libuv has let go of its handles. */
void corun__httpclient_close(corun_HttpClient *c);

/* Start 'x' (its easy handle set up but for the sockets, which the
   client sets) on client 'c'; CURLM_OK, or curl's error.  Never from a
   curl callback. */
CURLMcode corun__httpclient_attach(corun_HttpClient *c, corun_HttpXfer *x);

/* Take 'x' off its client (if attached) and out of its news: its
   connection closes unless the transfer was complete.  Never from a curl
   callback. */
void corun__httpclient_forget(corun_HttpXfer *x);

/* From a curl callback of 'x' (or anywhere): 'x' has news for its task,
   to be told once curl returns. */
void corun__httpclient_news(corun_HttpXfer *x);

#endif
