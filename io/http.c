/*
** http.c - HTTP requests and responses (http.h) on libcurl easy handles,
** run by a client's connection pool (httpclient.c).
**
** A request is a Transfer: a malloc'd record with its easy handle, made
** and attached to the client by corun__http_request, while the task waits
** in a native wait.  curl's callbacks only fill the record's buffers (the
** headers of the final response, the body) and queue news; the client
** tells the record once curl has returned (tell), which wakes the task:
**
**   - a response read whole: at the end, a table (status, headers, body,
**     url, http_version); the record is freed;
**   - a streamed response: once the final response's headers are in, an
**     I/O object owned by the task (corun_Io, first in the record), which
**     then owns the record.  The body is buffered up to STREAM_HIGH; above
**     that the write callback pauses the transfer (CURL_WRITEFUNC_PAUSE)
**     and read resumes it, so that a body of any size passes through a
**     bounded buffer.  Closing the response frees the record, and with it
**     the transfer (its connection closes if the body was not all read).
**
** curl follows the redirects of a GET and a HEAD; those of the other
** methods, corun does (follow_again), to treat their bodies as reqwest
** does, which libcurl 7.88 cannot.
**
** A task that stops waiting (cancelled, timed out) frees the record at
** once (cancel_request): the easy handle leaves the multi handle, and curl
** closes its connection.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <lauxlib.h>
#include "http.h"

#define STREAM_HIGH (256 * 1024)  /* a streamed body buffered at most */
#define STREAM_LOW (128 * 1024)   /* a paused transfer resumes below */
#define MAX_REDIRECTS 10L         /* followed; one more is EREDIRECT */
#define CURL_BUFFER 65536L        /* curl's receive buffer */

typedef struct Transfer {
  corun_Io io;            /* first: a streamed response's life (io.h) */
  corun_HttpXfer x;       /* what the client knows; owns x.easy */
  corun_Runtime *rt;      /* borrows: valid while the record lives */
  struct curl_slist *headers;  /* owns: the request's header lines */
  corun_Waker w;          /* the task waiting for the response, or 0 */
  corun_Waker reader;     /* streamed: the task waiting in read, or 0 */
  char *buf;              /* owns: body bytes not taken yet, at 'off' */
  size_t off;             /* where they begin in 'buf' */
  size_t len;             /* how many */
  size_t cap;             /* size of 'buf' */
  char *hdr;              /* owns: the header lines of the last response
                             (the final one, once 'final') */
  size_t hlen;            /* bytes in 'hdr' */
  size_t hcap;            /* size of 'hdr' */
  CURLcode result;        /* curl's result, once 'done' */
  int done;               /* curl is done with it (it is detached) */
  int stream;             /* answer at the headers: a streamed response */
  int follow;             /* redirects are followed (by curl, or by
                             corun: 'own_follow') */
  int own_follow;         /* corun follows them (follow_again) */
  int redirects;          /* redirects corun followed */
  char *origin;           /* owns: "scheme://host:port" of the URL asked
                             first, once corun follows a redirect */
  int final;              /* the final response's headers are all in */
  int location;           /* the response being read has a Location */
  int paused;             /* the write callback paused the transfer */
  int opened;             /* a streamed response (a Lua object) owns it */
  int orphaned;           /* its task stopped waiting before it waited:
                             free it at the next news */
  int nomem;              /* a buffer could not grow */
  char errbuf[CURL_ERROR_SIZE];  /* curl's message of a failure */
} Transfer;

/* A wake with no values: the woken continuation looks at the record. */
static int push_nothing(lua_State *L, void *ud) {
  (void)L; (void)ud;
  return 0;
}

/* ------------------------------------------------------------ record */

static void transfer_free(Transfer *t) {
  corun__httpclient_forget(&t->x);
  if (t->x.easy != NULL)
    curl_easy_cleanup(t->x.easy);
  curl_slist_free_all(t->headers);
  free(t->origin);
  free(t->buf);
  free(t->hdr);
  free(t);
}

/* Room for 'n' more bytes after the 'used' ones of '*p' (of size
   '*cap'); 0 if memory runs out. */
static int grow(char **p, size_t used, size_t *cap, size_t n) {
  size_t want;
  char *q;
  if (*cap - used >= n)
    return 1;
  want = *cap * 2 > used + n ? *cap * 2 : used + n;
  if (want < 1024)
    want = 1024;
  if ((q = realloc(*p, want)) == NULL)
    return 0;
  *p = q;
  *cap = want;
  return 1;
}

/* Does 'url' begin with http:// or https://? */
static int is_http_url(const char *url) {
  return strncasecmp(url, "http://", 7) == 0 ||
         strncasecmp(url, "https://", 8) == 0;
}

/* Does header line 'line' set the header 'name' (given with its ':';
   in any case)? */
static int names(const char *line, const char *name) {
  size_t n = strlen(name) - 1;
  return strncasecmp(line, name, n) == 0 &&
         (line[n] == ':' || line[n] == ';');
}

/* --------------------------------------------------- curl's callbacks */

/* Is 'code' a redirect a request follows (as Tokio's reqwest does)? */
static int is_redirect(long code) {
  return code == 301 || code == 302 || code == 303 || code == 307 ||
         code == 308;
}

/* Is a response of status 'code' (with a Location: t->location) a
   redirect that will be followed, so that it is not the final one? */
static int will_follow(Transfer *t, long code) {
  return t->follow && t->location && code >= 300 && code < 400 &&
         (!t->own_follow || is_redirect(code));
}

/* CURLOPT_WRITEFUNCTION: body bytes of the final response (curl skips
   the bodies of the redirects it follows, and this those corun follows).
   A streamed body pauses the transfer when STREAM_HIGH bytes wait; curl
   gives the same bytes again once resumed. */
static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  Transfer *t = ud;
  size_t k = size * n;
  if (!t->final)
    return k;  /* the body of a redirect corun follows */
  if (t->stream && t->len >= STREAM_HIGH) {
    t->paused = 1;
    return CURL_WRITEFUNC_PAUSE;
  }
  if (t->off > 0 && t->off + t->len + k > t->cap) {
    memmove(t->buf, t->buf + t->off, t->len);
    t->off = 0;
  }
  if (!grow(&t->buf, t->off + t->len, &t->cap, k)) {
    t->nomem = 1;
    return 0;  /* CURLE_WRITE_ERROR */
  }
  memcpy(t->buf + t->off + t->len, p, k);
  t->len += k;
  if (t->reader != 0)
    corun__httpclient_news(&t->x);
  return k;
}

/* CURLOPT_HEADERFUNCTION: one header line at a time, for every response
   (interim 1xx, the redirects curl follows, the final one), then the
   trailers.  Keeps the lines of the last response; a streamed request
   has news once the final response's headers end. */
static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  Transfer *t = ud;
  size_t k = size * n;
  long code = 0;
  if (t->final || k == 0)
    return k;  /* trailers */
  if (k >= 5 && memcmp(p, "HTTP/", 5) == 0) {  /* a response begins */
    t->hlen = 0;
    t->location = 0;
    t->off = t->len = 0;  /* no body but the final response's */
    return k;
  }
  if (p[0] == '\r' || p[0] == '\n') {  /* the end of its headers */
    curl_easy_getinfo(t->x.easy, CURLINFO_RESPONSE_CODE, &code);
    if ((code >= 100 && code < 200 && code != 101) || will_follow(t, code))
      return k;  /* interim, or a redirect */
    t->final = 1;
    if (t->stream)
      corun__httpclient_news(&t->x);
    return k;
  }
  if (!grow(&t->hdr, t->hlen, &t->hcap, k)) {
    t->nomem = 1;
    return 0;  /* CURLE_WRITE_ERROR */
  }
  memcpy(t->hdr + t->hlen, p, k);
  t->hlen += k;
  if (k > 9 && strncasecmp(p, "location:", 9) == 0)
    t->location = 1;
  return k;
}

/* ----------------------------------------------------------- results */

/* 'msg' without the prefix curl puts before a certificate problem. */
static const char *cert_problem(const char *msg) {
  static const char *const prefixes[] = {"SSL certificate problem: ",
                                         "SSL: ", NULL};
  int i;
  for (i = 0; prefixes[i] != NULL; i++)
    if (strncmp(msg, prefixes[i], strlen(prefixes[i])) == 0)
      return msg + strlen(prefixes[i]);
  return msg;
}

/* nil, err for a failed transfer, named as API.md names failures. */
static int push_error(lua_State *L, Transfer *t) {
  const char *msg = t->errbuf[0] != '\0' ? t->errbuf
                                         : curl_easy_strerror(t->result);
  long oserr = 0;
  switch ((int)t->result) {
    case CORUN_HTTP_CLOSED:
      return corun__io_fail(L, UV_ECANCELED, "the client was closed");
    case CURLE_COULDNT_CONNECT:
      curl_easy_getinfo(t->x.easy, CURLINFO_OS_ERRNO, &oserr);
      return corun__io_fail(L, oserr > 0 ? (int)-oserr : UV_ECONNREFUSED,
                            "%s", t->x.where[0] != '\0' ? t->x.where : msg);
    case CURLE_SEND_ERROR: case CURLE_RECV_ERROR:
      curl_easy_getinfo(t->x.easy, CURLINFO_OS_ERRNO, &oserr);
      return corun__io_fail(L, oserr > 0 ? (int)-oserr : UV_EIO, "%s", msg);
    case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_RESOLVE_PROXY:
      return corun__io_fail(L, UV_EAI_NONAME, "%s", msg);
    case CURLE_OPERATION_TIMEDOUT:
      return corun__io_fail(L, UV_ETIMEDOUT, "%s", msg);
    case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR: case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS: case CURLE_SSL_CRL_BADFILE:
      return corun__io_fail_named(L, "ECERT", "certificate verification "
                                  "failed", "%s", cert_problem(msg));
    case CURLE_SSL_CONNECT_ERROR: case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER: case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED: case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED: case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CLIENTCERT:
      return corun__io_fail_named(L, "ETLS", "TLS handshake failed", "%s",
                                  msg);
    case CURLE_TOO_MANY_REDIRECTS: {
      char *url = NULL;
      curl_easy_getinfo(t->x.easy, CURLINFO_EFFECTIVE_URL, &url);
      return corun__io_fail_named(L, "EREDIRECT", "too many redirects",
                                  "more than %d, the last to %s",
                                  (int)MAX_REDIRECTS, url != NULL ? url
                                                                  : "?");
    }
    case CURLE_WEIRD_SERVER_REPLY: case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_HTTP2: case CURLE_HTTP2_STREAM: case CURLE_PARTIAL_FILE:
    case CURLE_BAD_CONTENT_ENCODING: case CURLE_GOT_NOTHING:
    case CURLE_HTTP3: case CURLE_HTTP_RETURNED_ERROR:
      return corun__io_fail_named(L, "EHTTP", "malformed response", "%s",
                                  msg);
    case CURLE_WRITE_ERROR: case CURLE_OUT_OF_MEMORY:
      return corun__io_fail(L, UV_ENOMEM, NULL);
    case CURLE_URL_MALFORMAT:
      return corun__io_fail(L, UV_EINVAL, "%s", msg);
    case CURLE_ABORTED_BY_CALLBACK:
      return corun__io_fail(L, UV_ECANCELED, "%s", msg);
    default:
      return corun__io_fail(L, UV_EIO, "%s", msg);
  }
}

/* Push the 'n' bytes at 'p' lower-cased. */
static void push_lower(lua_State *L, const char *p, size_t n) {
  luaL_Buffer b;
  size_t i;
  char *d = luaL_buffinitsize(L, &b, n);
  for (i = 0; i < n; i++)
    d[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] - 'A' + 'a' : p[i]);
  luaL_pushresultsize(&b, n);
}

/* [p, e) without the blanks at its ends: '*e' moves back. */
static const char *trim(const char *p, const char **e) {
  while (p < *e && (*p == ' ' || *p == '\t'))
    p++;
  while (*e > p && ((*e)[-1] == ' ' || (*e)[-1] == '\t' ||
                    (*e)[-1] == '\r' || (*e)[-1] == '\n'))
    (*e)--;
  return p;
}

/* The headers of the final response: a table of lower-case names, the
   values of a repeated name joined with ", ", a folded line (obsolete,
   but allowed in a response) joined to its header with a space. */
static void push_headers(lua_State *L, Transfer *t) {
  const char *p = t->hdr, *end = t->hdr + t->hlen;
  int tbl, last;
  lua_newtable(L);
  tbl = lua_gettop(L);
  lua_pushnil(L);  /* the last name seen */
  last = tbl + 1;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *next = eol != NULL ? eol + 1 : end, *e = next, *v, *colon;
    if ((*p == ' ' || *p == '\t') && !lua_isnil(L, last)) {
      v = trim(p, &e);
      lua_pushvalue(L, last);
      lua_pushvalue(L, last);
      lua_rawget(L, tbl);
      lua_pushliteral(L, " ");
      lua_pushlstring(L, v, (size_t)(e - v));
      lua_concat(L, 3);
      lua_rawset(L, tbl);
    }
    else if ((colon = memchr(p, ':', (size_t)(e - p))) != NULL) {
      const char *ne = colon;
      const char *name = trim(p, &ne);
      e = next;
      v = trim(colon + 1, &e);
      push_lower(L, name, (size_t)(ne - name));
      lua_replace(L, last);
      lua_pushvalue(L, last);
      lua_pushvalue(L, last);
      if (lua_rawget(L, tbl) == LUA_TSTRING) {
        lua_pushliteral(L, ", ");
        lua_pushlstring(L, v, (size_t)(e - v));
        lua_concat(L, 3);
      }
      else {
        lua_pop(L, 1);
        lua_pushlstring(L, v, (size_t)(e - v));
      }
      lua_rawset(L, tbl);
    }
    p = next;
  }
  lua_settop(L, tbl);
}

/* "1.0", "1.1", "2", "3" from CURLINFO_HTTP_VERSION. */
static const char *version_name(long v) {
  switch (v) {
    case CURL_HTTP_VERSION_1_0: return "1.0";
    case CURL_HTTP_VERSION_1_1: return "1.1";
    case CURL_HTTP_VERSION_2_0: return "2";
    case CURL_HTTP_VERSION_3: return "3";
    default: return "?";
  }
}

/* status, headers, url, http_version into the table on top. */
static void set_fields(lua_State *L, Transfer *t) {
  long code = 0, version = 0;
  char *url = NULL;
  curl_easy_getinfo(t->x.easy, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_getinfo(t->x.easy, CURLINFO_HTTP_VERSION, &version);
  curl_easy_getinfo(t->x.easy, CURLINFO_EFFECTIVE_URL, &url);
  lua_pushinteger(L, code);
  lua_setfield(L, -2, "status");
  push_headers(L, t);
  lua_setfield(L, -2, "headers");
  lua_pushstring(L, url != NULL ? url : "");
  lua_setfield(L, -2, "url");
  lua_pushstring(L, version_name(version));
  lua_setfield(L, -2, "http_version");
}

static void response_close(corun_Io *io, int force);

/* The streamed response: a box (user value 1: its fields; 2: the client
   userdata, set by k_request) owned by the waiting task from now on. */
static int push_stream(lua_State *L, Transfer *t) {
  corun_Io **box = lua_newuserdatauv(L, sizeof *box, 2);
  *box = NULL;
  lua_createtable(L, 0, 4);
  set_fields(L, t);
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, CORUN_HTTP_RESPONSE);
  /* nothing raises from here on */
  corun__io_open_pending(t->rt, &t->io, corun__waker_task(t->rt, t->w),
                         response_close);
  *box = &t->io;
  t->io.box = box;
  t->opened = 1;
  return 1;
}

/* The answer to the waiting request: a response, or nil, err. */
static int push_response(lua_State *L, void *ud) {
  Transfer *t = ud;
  if (!(t->stream && t->final) && t->result != CURLE_OK)
    return push_error(L, t);
  if (t->stream)
    return push_stream(L, t);
  lua_createtable(L, 0, 5);
  set_fields(L, t);
  lua_pushlstring(L, t->buf + t->off, t->len);
  lua_setfield(L, -2, "body");
  luaL_setmetatable(L, CORUN_HTTP_BODY);
  return 1;
}

/* ------------------------------------------------ told by the client */

/* The request failed at a redirect corun follows: 'code', and curl's
   kind of message. */
static void follow_failed(Transfer *t, CURLcode code, const char *msg) {
  t->result = code;
  snprintf(t->errbuf, sizeof t->errbuf, "%s", msg);
}

/* "scheme://host:port" of 'url', or NULL (out of memory, bad URL). */
static char *origin_of(const char *url) {
  CURLU *u = curl_url();
  char *scheme = NULL, *host = NULL, *port = NULL, *o = NULL;
  if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ==
      CURLUE_OK && (o = malloc(strlen(scheme) + strlen(host) +
                               strlen(port) + 5)) != NULL)
    sprintf(o, "%s://%s:%s", scheme, host, port);
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  return o;
}

/* Keep the header lines of the request but those about a body ('body':
   the request becomes a GET) and, for another origin ('cross'), its
   credentials, as curl does.  0 if memory runs out. */
static int drop_headers(Transfer *t, int body, int cross) {
  static const char *const about_body[] = {"Content-Type:",
    "Content-Length:", "Content-Encoding:", "Transfer-Encoding:", NULL};
  static const char *const credentials[] = {"Authorization:", "Cookie:",
                                            NULL};
  struct curl_slist *kept = NULL, *l;
  for (l = t->headers; l != NULL; l = l->next) {
    int j, drop = 0;
    for (j = 0; body && about_body[j] != NULL; j++)
      drop |= names(l->data, about_body[j]);
    for (j = 0; cross && credentials[j] != NULL; j++)
      drop |= names(l->data, credentials[j]);
    if (!drop) {
      struct curl_slist *k = curl_slist_append(kept, l->data);
      if (k == NULL) {
        curl_slist_free_all(kept);
        return 0;
      }
      kept = k;
    }
  }
  if (curl_easy_setopt(t->x.easy, CURLOPT_HTTPHEADER, kept) != CURLE_OK) {
    curl_slist_free_all(kept);
    return 0;
  }
  curl_slist_free_all(t->headers);
  t->headers = kept;
  return 1;
}

/*
** A transfer ended that corun follows the redirects of (a method other
** than GET and HEAD): if it was a redirect, start again on client 'c' at
** its Location, as reqwest does: after a 301, 302 or 303 as a GET
** without the body and the headers about it (then curl follows the
** rest), after a 307 or 308 as it was; the credentials stay with the
** origin first asked.  1 if it started again; 0 if there was nothing to
** follow, or t->result says why it cannot.
*/
static int follow_again(Transfer *t, corun_HttpClient *c) {
  CURL *e = t->x.easy;
  long code = 0;
  char *next = NULL, *url = NULL, *origin;
  int to_get, bad = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
  if (!is_redirect(code) ||
      curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &next) != CURLE_OK ||
      next == NULL)
    return 0;
  if (t->redirects == MAX_REDIRECTS) {
    follow_failed(t, CURLE_TOO_MANY_REDIRECTS, "");
    return 0;
  }
  if (!is_http_url(next)) {
    follow_failed(t, CURLE_UNSUPPORTED_PROTOCOL, "a redirect to a URL "
                  "that is not http:// or https://");
    return 0;
  }
  if (t->origin == NULL) {
    char *first = NULL;
    curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &first);
    t->origin = first != NULL ? origin_of(first) : NULL;
  }
  to_get = code != 307 && code != 308;
  origin = origin_of(next);
  url = strdup(next);
  bad = t->origin == NULL || origin == NULL || url == NULL ||
        !drop_headers(t, to_get, strcasecmp(origin, t->origin) != 0);
  free(origin);
  if (!bad) {
    bad |= curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK;
    if (to_get) {  /* a GET from now on: curl follows the rest */
      t->own_follow = 0;
      bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, (char *)NULL) !=
             CURLE_OK;
      bad |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) != CURLE_OK;
      bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK;
      bad |= curl_easy_setopt(e, CURLOPT_MAXREDIRS,
                              MAX_REDIRECTS - t->redirects - 1) != CURLE_OK;
    }
  }
  free(url);
  t->final = t->location = 0;
  t->hlen = t->off = t->len = 0;
  t->errbuf[0] = '\0';
  t->x.where[0] = '\0';
  t->redirects++;
  if (bad || corun__httpclient_attach(c, &t->x) != CURLM_OK) {
    follow_failed(t, CURLE_OUT_OF_MEMORY, "");
    return 0;
  }
  return 1;
}

static int on_done(corun_HttpXfer *x, corun_HttpClient *c,
                   CURLcode result) {
  Transfer *t = corun__container_of(x, Transfer, x);
  t->result = t->nomem ? CURLE_OUT_OF_MEMORY : result;
  if (t->result == CURLE_OK && t->own_follow && follow_again(t, c))
    return 1;
  t->done = 1;
  t->paused = 0;
  return 0;
}

/* News from curl: wake the task waiting for the response (once it is
   there: the headers of a streamed one, else the end), or the reader of
   a streamed response (once bytes or the end came). */
static void tell(corun_HttpXfer *x) {
  Transfer *t = corun__container_of(x, Transfer, x);
  if (t->orphaned) {
    transfer_free(t);
    return;
  }
  if (t->w != 0) {
    if (!t->done && !(t->stream && t->final))
      return;
    corun__io_wake(t->rt, t->w, push_response, t);
    t->w = 0;
    if (!t->opened)
      transfer_free(t);
    return;
  }
  if (t->len > 0 || t->done)
    corun__io_wake_slot(t->rt, &t->reader, push_nothing, NULL);
}

/* The waiting task stopped waiting (cancelled, timed out): the transfer
   stops now and everything goes. */
static void cancel_request(corun_Waker w, void *ud) {
  Transfer *t = ud;
  (void)w;
  t->w = 0;
  transfer_free(t);
}

/* A streamed response's close (corun_Io.close): the reader wakes and
   finds it closed; the transfer stops (its connection closes unless the
   body was all read). */
static void response_close(corun_Io *io, int force) {
  Transfer *t = (Transfer *)io;
  (void)force;
  corun__io_wake_slot(t->rt, &t->reader, push_nothing, NULL);
  corun__io_done(io);
  transfer_free(t);
}

/* ----------------------------------------------------------- request */

/* Set the options of 'rq' on the new transfer's easy handle; 0 if curl
   refused one (out of memory). */
static int set_options(Transfer *t, const corun_HttpRequest *rq) {
  static const long versions[] = {CURL_HTTP_VERSION_2TLS,
                                  CURL_HTTP_VERSION_1_1,
                                  CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE};
  CURL *e = t->x.easy;
  int bad = 0;
#define SET(opt, v) (bad |= curl_easy_setopt(e, opt, v) != CURLE_OK)
  SET(CURLOPT_URL, rq->url);
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_ERRORBUFFER, t->errbuf);
  SET(CURLOPT_WRITEFUNCTION, on_body);
  SET(CURLOPT_WRITEDATA, t);
  SET(CURLOPT_HEADERFUNCTION, on_header);
  SET(CURLOPT_HEADERDATA, t);
  SET(CURLOPT_BUFFERSIZE, CURL_BUFFER);
  SET(CURLOPT_ACCEPT_ENCODING, "");
  SET(CURLOPT_USERAGENT, "corun/" CORUN_VERSION);
  /* curl follows the redirects of a GET and a HEAD; those of the other
     methods, corun (follow_again: curl would send a PUT again without its
     body, and a POST turned into a GET with its Content-Type) */
  t->own_follow = rq->follow && strcmp(rq->method, "GET") != 0 &&
                  strcmp(rq->method, "HEAD") != 0;
  SET(CURLOPT_FOLLOWLOCATION, (long)(rq->follow && !t->own_follow));
  SET(CURLOPT_MAXREDIRS, MAX_REDIRECTS);
  SET(CURLOPT_SSL_VERIFYPEER, (long)rq->verify);
  SET(CURLOPT_SSL_VERIFYHOST, rq->verify ? 2L : 0L);
  if (rq->ca_file != NULL) {  /* instead of the system's store */
    SET(CURLOPT_CAINFO, rq->ca_file);
    SET(CURLOPT_CAPATH, (char *)NULL);
  }
  SET(CURLOPT_HTTP_VERSION, versions[rq->version]);
  /* where the connection may turn out to multiplex (HTTP/2 over TLS, or
     asked for), a request rather waits for it than connects again */
  if (rq->version == CORUN_HTTP_2 ||
      (rq->version == CORUN_HTTP_ANY && strncasecmp(rq->url, "https:", 6) == 0))
    SET(CURLOPT_PIPEWAIT, 1L);
  SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  if (rq->timeout_ms > 0)
    SET(CURLOPT_TIMEOUT_MS, rq->timeout_ms);
  if (rq->connect_timeout_ms > 0)
    SET(CURLOPT_CONNECTTIMEOUT_MS, rq->connect_timeout_ms);
  if (strcmp(rq->method, "HEAD") == 0)
    SET(CURLOPT_NOBODY, 1L);
  else {
    if (rq->body != NULL) {
      SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
      SET(CURLOPT_COPYPOSTFIELDS, rq->body);
    }
    if (strcmp(rq->method, rq->body != NULL ? "POST" : "GET") != 0)
      SET(CURLOPT_CUSTOMREQUEST, rq->method);
  }
#undef SET
  return !bad;
}

/* The header lines of the array at stack index 'idx' (0: none), and the
   headers curl would add that corun does not want: a body goes as it is
   (no "Content-Type: application/x-www-form-urlencoded"), and at once
   (no "Expect: 100-continue", which a server may never answer), unless
   the request says so.  0 if memory runs out. */
static int set_headers(lua_State *L, Transfer *t, int idx) {
  static const char *const unwanted[] = {"Content-Type:", "Expect:", NULL};
  lua_Integer i, n = idx != 0 ? (lua_Integer)lua_rawlen(L, idx) : 0;
  int j, given[2] = {0, 0};
  for (i = 1; i <= n; i++) {
    struct curl_slist *l;
    const char *line;
    lua_rawgeti(L, idx, i);
    line = lua_tostring(L, -1);
    for (j = 0; unwanted[j] != NULL; j++)
      given[j] |= names(line, unwanted[j]);
    l = curl_slist_append(t->headers, line);
    lua_pop(L, 1);
    if (l == NULL)
      return 0;
    t->headers = l;
  }
  for (j = 0; unwanted[j] != NULL; j++) {
    struct curl_slist *l;
    if (given[j])
      continue;
    if ((l = curl_slist_append(t->headers, unwanted[j])) == NULL)
      return 0;
    t->headers = l;
  }
  return curl_easy_setopt(t->x.easy, CURLOPT_HTTPHEADER, t->headers) ==
         CURLE_OK;
}

/* A request woke: its results are above the stack height 'ctx', where
   the client's userdata (or nil) is: a streamed response keeps it. */
static int k_request(lua_State *L, int status, lua_KContext ctx) {
  int base = (int)ctx;
  (void)status;
  corun__io_adopt_results(L, base);
  if (lua_gettop(L) > base && lua_type(L, base + 1) == LUA_TUSERDATA &&
      !lua_isnil(L, base)) {
    lua_pushvalue(L, base);
    lua_setiuservalue(L, base + 1, 2);
  }
  return lua_gettop(L) - base;
}

int corun__http_request(lua_State *L, const char *fname,
                        corun_HttpClient *c, int client_idx,
                        const corun_HttpRequest *rq) {
  Transfer *t;
  CURLMcode mc;
  int top;
  if (!is_http_url(rq->url))
    return corun__io_fail(L, UV_EINVAL, "not an http:// or https:// URL: "
                          "%s", rq->url);
  luaL_checkstack(L, 4, NULL);
  if ((t = calloc(1, sizeof *t)) == NULL)
    return corun__io_fail(L, UV_ENOMEM, NULL);
  corun__link_init(&t->x.link);
  corun__link_init(&t->x.news);
  t->x.done = on_done;
  t->x.tell = tell;
  t->rt = corun__httpclient_runtime(c);
  t->stream = rq->stream;
  t->follow = rq->follow;
  if ((t->x.easy = curl_easy_init()) == NULL || !set_options(t, rq) ||
      !set_headers(L, t, rq->headers)) {
    transfer_free(t);
    return corun__io_fail(L, UV_ENOMEM, NULL);
  }
  if ((mc = corun__httpclient_attach(c, &t->x)) != CURLM_OK) {
    transfer_free(t);
    return corun__io_fail(L, mc == CURLM_OUT_OF_MEMORY ? UV_ENOMEM
                          : UV_EINVAL, "%s", curl_multi_strerror(mc));
  }
  if (client_idx != 0)
    lua_pushvalue(L, client_idx);
  else
    lua_pushnil(L);
  top = lua_gettop(L);
  t->orphaned = 1;  /* if the wait cannot begin, the news frees it */
  t->w = corun__io_prepare(L, fname, cancel_request, t);
  t->orphaned = 0;
  return corun__wait_k(L, t->w, (lua_KContext)top, k_request);
}

/* -------------------------------------------------------------- read */

/* The response boxed at index 1, or NULL if it was closed. */
static Transfer *self_of(lua_State *L) {
  return (Transfer *)*(corun_Io **)lua_touserdata(L, 1);
}

/* Room came in the buffer: a paused transfer goes on (curl may give
   bytes at once, through on_body). */
static void resume(Transfer *t) {
  if (t->paused && t->len <= STREAM_LOW && t->x.client != NULL) {
    t->paused = 0;
    curl_easy_pause(t->x.easy, CURLPAUSE_CONT);
  }
}

static void cancel_read(corun_Waker w, void *ud) {
  Transfer *t = ud;
  if (t->reader == w)
    t->reader = 0;
}

static int read_step(lua_State *L, Transfer *t, const char *fname);

/* A read woke ('ctx': its fname): answer, or wait again. */
static int k_read(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  corun__wait_check(L, 2);
  return read_step(L, self_of(L), (const char *)ctx);
}

/* Stack: self want.  Bytes from the buffer, or wait for some; nil at the
   end of the body; nil, err if the transfer failed or the response was
   closed ('t' NULL) while the task waited. */
static int read_step(lua_State *L, Transfer *t, const char *fname) {
  lua_Integer want = lua_tointeger(L, 2);
  if (t == NULL)
    return corun__io_fail(L, UV_ECANCELED, "the response was closed");
  if (t->len > 0) {
    size_t n = (lua_Unsigned)want < t->len ? (size_t)want : t->len;
    lua_pushlstring(L, t->buf + t->off, n);
    t->off += n;
    t->len -= n;
    if (t->len == 0)
      t->off = 0;
    resume(t);
    return 1;
  }
  if (t->done) {
    if (t->result != CURLE_OK)
      return push_error(L, t);
    lua_pushnil(L);
    return 1;
  }
  if (t->reader != 0) {  /* another branch of the task reads already */
    return corun__error(L, fname, "another read is already waiting on "
                        "this response");
  }
  resume(t);
  t->reader = corun__io_prepare(L, fname, cancel_read, t);
  return corun__wait_k(L, t->reader, (lua_KContext)(intptr_t)fname, k_read);
}

int corun__http_read(lua_State *L, const char *fname, corun_Io *io,
                     lua_Integer want) {
  lua_settop(L, 1);
  lua_pushinteger(L, want);
  return read_step(L, (Transfer *)io, fname);
}

int corun__http_tostring(lua_State *L, corun_Io *io) {
  Transfer *t = (Transfer *)io;
  long code = 0;
  curl_easy_getinfo(t->x.easy, CURLINFO_RESPONSE_CODE, &code);
  lua_pushfstring(L, "corun.http.Response (%d, %s)", (int)code,
                  t->done ? (t->len > 0 ? "body received" : "body read")
                          : "streaming");
  return 1;
}
