/*
** httpd_conn.c - one connection of the HTTP server (httpd.h): the task
** that reads its requests, calls the handler and writes the responses,
** in order, until the connection closes.
**
** Requests are parsed by Node's http_parser straight from the stream's
** read buffer (stream.h): the URL and headers are copied into the
** connection's head buffer (names lower-cased), the body into its body
** buffer, and the parsed bytes are consumed at once, so the stream holds
** only what is not parsed yet (a pipelined request).  The parser pauses
** after the head (to check the limits and answer Expect: 100-continue)
** and after each request (pipelined requests wait for the answer).
**
** The task's function is a C state machine (run): every step that may
** wait (a read, the handler, a body function, a write) ends with a call
** whose continuation is run again with the next state.  Reads wait in
** the stream with a deadline on the runtime's clock (header_timeout,
** keepalive_timeout): the wait for the first byte of a request does not
** hold a paused clock (the client may never send), the rest of a request
** does, as any read in progress.  Writes go through the stream's own
** write method, so that any stream class with corun.Stream's buffer
** (a TLS stream) serves as well.
*/
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lauxlib.h>
#include <http_parser.h>
#include "httpd.h"
#include "stream.h"
#include "../host/timer.h"

#define FNAME "server:serve"     /* names the connection's waits */
#define BIG_BODY 16384           /* larger string bodies are not copied
                                    behind the head */
#define DISCARD_MAX (1 << 20)    /* bytes read and dropped after a 413 or
                                    431, so that the client sees it */
#define DISCARD_SECONDS 2.0      /* and for at most this long */
#define HEAD_KEEP 2048           /* between requests, a connection keeps
                                    buffers at most this big */
#define IDLE_TRIM 0.2            /* seconds idle, after which a connection
                                    gives its buffers back */

/* Slots of the connection task's stack (its function's arguments, then
   what run keeps). */
enum {
  HANDLER = 1, STREAM, WRAP, CERT, KEY, MAX_HEADER, MAX_BODY, HEAD_TIMEOUT,
  IDLE_TIMEOUT,
  CONN,      /* light userdata: the Conn */
  PEER,      /* "host:port" of the client */
  WRITE,     /* the stream's write method */
  MSGH,      /* the message handler of the handler's pcall */
  REQ,       /* the request, while it is answered */
  STATUS, BODY, HEADERS,  /* the handler's results */
  NSLOTS = HEADERS
};

/* Where the task's state machine is (the continuation's context). */
enum {
  S_START, S_WRAPPED, S_READ, S_READ_WOKE, S_CALL, S_CALLED, S_BODY,
  S_CHUNK, S_CHUNK_GOT, S_WROTE, S_FAILED, S_SHUT, S_DISCARD,
  S_DISCARD_WOKE, S_TRIM_WOKE
};

/* What parse() found. */
enum { P_MORE, P_REQUEST, P_CONTINUE, P_FAIL };

/* Where the request being read is. */
enum { IDLE, HEAD, BODY_PHASE };

/* A header of the request: offsets into the head buffer. */
typedef struct Field {
  size_t name, name_len;  /* lower-cased name */
  size_t value, value_len;
} Field;

struct corun_HttpConn {
  corun_Resource res;     /* owned by the connection task: freed at its
                             end */
  corun_Link link;        /* in serving->conns, or unlinked */
  corun_HttpServing *serving;  /* borrows: NULL once serve let go */
  corun_Task *task;       /* borrows: the connection task, alive while
                             'res' is linked */
  http_parser parser;     /* Node's parser; data points to this */
  corun_HttpLimits lim;   /* copied from the server */
  int idle;               /* waits for a request's first byte */
  int served;             /* responses written */
  int phase;              /* IDLE, HEAD or BODY_PHASE */
  uint64_t deadline;      /* of the current read (clock nanoseconds) */
  int expired;            /* the last read wait ended at its deadline */
  int trimmed;            /* idle long enough: its buffers were freed */
  size_t head_bytes;      /* bytes of the request's head parsed */
  char *head;             /* owns: URL and header bytes of the request */
  size_t head_len, head_cap;
  size_t url, url_len;    /* the URL, in 'head' */
  Field *fields;          /* owns: the headers, in order */
  int nfields, fields_cap;
  int last;               /* the last callback: 0, 'u', 'f' or 'v' */
  char *body;             /* owns: the request's body */
  size_t body_len, body_cap;
  int headers_done;       /* the head is parsed */
  int message_done;       /* the request is parsed */
  int too_big;            /* the body passed max_body_bytes */
  int nomem;              /* a buffer could not grow */
  int expect_continue;    /* Expect: 100-continue, not answered yet */
  int fail_status;        /* the status of a request that failed */
  int keep_alive;         /* the connection stays open after this one */
  int is_head;            /* a HEAD request */
  int raw_body;           /* a body function, sent without chunked
                             encoding (HTTP/1.0): the connection closes */
  char *out;              /* owns: the response being made */
  size_t out_len, out_cap;
  int out_failed;         /* 'out' could not grow */
  size_t discarded;       /* bytes dropped after a 413 or 431 */
  time_t date_at;         /* when 'date' was made */
  char date[40];          /* "Date: ...\r\n" */
};

/* --------------------------------------------------------- buffers */

/* Append 'len' bytes at 'data' to '*buf' ('*len' used of '*cap');
   0, or -1 when memory runs out. */
static int append(char **buf, size_t *len, size_t *cap, const char *data,
                  size_t n) {
  if (*cap - *len < n) {
    size_t want = *cap * 2 > *len + n ? *cap * 2 : *len + n + 256;
    char *p = realloc(*buf, want);
    if (p == NULL)
      return -1;
    *buf = p;
    *cap = want;
  }
  memcpy(*buf + *len, data, n);
  *len += n;
  return 0;
}

static Field *field_new(corun_HttpConn *c) {
  if (c->nfields == c->fields_cap) {
    int cap = c->fields_cap ? c->fields_cap * 2 : 16;
    Field *f = realloc(c->fields, (size_t)cap * sizeof *f);
    if (f == NULL)
      return NULL;
    c->fields = f;
    c->fields_cap = cap;
  }
  return &c->fields[c->nfields++];
}

/* Add to the response being made (a failure is noted, and raised when
   it is pushed). */
static void out_add(corun_HttpConn *c, const char *data, size_t n) {
  if (append(&c->out, &c->out_len, &c->out_cap, data, n) != 0)
    c->out_failed = 1;
}

static void out_str(corun_HttpConn *c, const char *s) {
  out_add(c, s, strlen(s));
}

/* Push the response made, as a string; 'out' is emptied. */
static void out_push(lua_State *L, corun_HttpConn *c) {
  if (c->out_failed) {
    c->out_failed = 0;
    c->out_len = 0;
    luaL_error(L, "%s: not enough memory for a response", FNAME);
  }
  lua_pushlstring(L, c->out != NULL ? c->out : "", c->out_len);
  c->out_len = 0;
}

/* ------------------------------------------------ parser callbacks */

static int on_message_begin(http_parser *p) {
  corun_HttpConn *c = p->data;
  c->head_len = 0;
  c->url = c->url_len = 0;
  c->nfields = 0;
  c->last = 0;
  c->body_len = 0;
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t len) {
  corun_HttpConn *c = p->data;
  if (c->last != 'u') {
    c->url = c->head_len;
    c->last = 'u';
  }
  if (append(&c->head, &c->head_len, &c->head_cap, at, len) != 0)
    return c->nomem = 1;
  c->url_len += len;
  return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len) {
  corun_HttpConn *c = p->data;
  Field *f;
  size_t i, start = c->head_len;
  if (c->last != 'f') {
    if ((f = field_new(c)) == NULL)
      return c->nomem = 1;
    f->name = c->head_len;
    f->name_len = f->value = f->value_len = 0;
    c->last = 'f';
  }
  if (append(&c->head, &c->head_len, &c->head_cap, at, len) != 0)
    return c->nomem = 1;
  for (i = start; i < c->head_len; i++)
    c->head[i] = (char)tolower((unsigned char)c->head[i]);
  c->fields[c->nfields - 1].name_len += len;
  return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
  corun_HttpConn *c = p->data;
  Field *f = &c->fields[c->nfields - 1];
  if (c->last != 'v') {
    f->value = c->head_len;
    c->last = 'v';
  }
  if (append(&c->head, &c->head_len, &c->head_cap, at, len) != 0)
    return c->nomem = 1;
  f->value_len += len;
  return 0;
}

static int on_headers_complete(http_parser *p) {
  corun_HttpConn *c = p->data;
  c->headers_done = 1;
  http_parser_pause(p, 1);  /* the limits are checked before the body */
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
  corun_HttpConn *c = p->data;
  if ((lua_Integer)(c->body_len + len) > c->lim.max_body_bytes)
    return c->too_big = 1;
  if (append(&c->body, &c->body_len, &c->body_cap, at, len) != 0)
    return c->nomem = 1;
  return 0;
}

static int on_message_complete(http_parser *p) {
  corun_HttpConn *c = p->data;
  c->message_done = 1;
  http_parser_pause(p, 1);  /* a pipelined request waits its turn */
  return 0;
}

static const http_parser_settings settings = {
  on_message_begin, on_url, NULL, on_header_field, on_header_value,
  on_headers_complete, on_body, on_message_complete, NULL, NULL
};

/* ---------------------------------------------------------- parsing */

static uint64_t deadline_in(corun_HttpConn *c, double seconds) {
  return corun__timer_deadline(c->task->rt, seconds);
}

/* Does the request carry Expect: 100-continue? */
static int expects_continue(corun_HttpConn *c) {
  int i;
  for (i = 0; i < c->nfields; i++) {
    Field *f = &c->fields[i];
    if (f->name_len == 6 && memcmp(c->head + f->name, "expect", 6) == 0 &&
        f->value_len == 12 &&
        strncasecmp(c->head + f->value, "100-continue", 12) == 0)
      return 1;
  }
  return 0;
}

/* The head is parsed ('head' bytes): check the limits, note what the
   answer must do.  P_FAIL with c->fail_status, or P_MORE. */
static int head_done(corun_HttpConn *c, size_t head) {
  http_parser *p = &c->parser;
  int has_length = (p->flags & F_CONTENTLENGTH) != 0;
  if ((lua_Integer)head > c->lim.max_header_bytes) {
    c->fail_status = 431;
    return P_FAIL;
  }
  if (has_length && p->content_length > (uint64_t)c->lim.max_body_bytes) {
    c->fail_status = 413;
    return P_FAIL;
  }
  c->expect_continue = p->http_major == 1 && p->http_minor >= 1 &&
                       expects_continue(c) &&
                       ((p->flags & F_CHUNKED) ||
                        (has_length && p->content_length > 0));
  c->is_head = p->method == HTTP_HEAD;
  c->phase = BODY_PHASE;
  c->deadline = deadline_in(c, c->lim.header_timeout);
  return P_MORE;
}

/*
** Parse what the stream has buffered: P_REQUEST once a whole request is
** parsed, P_CONTINUE when the client waits for 100 Continue, P_FAIL
** (c->fail_status) for a request to refuse, P_MORE when more bytes are
** needed.
*/
static int parse(corun_HttpConn *c, corun_Stream *s) {
  http_parser *p = &c->parser;
  for (;;) {
    size_t len, n;
    const char *data = corun__stream_buffered(s, &len);
    enum http_errno err;
    int was_done = c->headers_done;
    if (len == 0)
      break;
    if (c->phase == IDLE) {  /* its first byte: the head's time starts */
      c->phase = HEAD;
      c->deadline = deadline_in(c, c->lim.header_timeout);
    }
    n = http_parser_execute(p, &settings, data, len);
    err = HTTP_PARSER_ERRNO(p);
    corun__stream_consume(s, n);
    if (!was_done)
      c->head_bytes += n;
    else if (c->phase == BODY_PHASE && n > 0)  /* progress: more time */
      c->deadline = deadline_in(c, c->lim.header_timeout);
    if (err == HPE_PAUSED) {
      http_parser_pause(p, 0);
      if (c->message_done)
        return P_REQUEST;
      if (c->phase == HEAD) {  /* paused at its end, before its last LF */
        int r = head_done(c, c->head_bytes + 1);
        if (r != P_MORE)
          return r;
      }
      continue;
    }
    if (err != HPE_OK) {
      c->fail_status = c->too_big ? 413
                     : c->nomem ? 503
                     : err == HPE_HEADER_OVERFLOW ? 431 : 400;
      return P_FAIL;
    }
    break;
  }
  if (!c->headers_done && c->phase == HEAD &&
      (lua_Integer)c->head_bytes > c->lim.max_header_bytes) {
    c->fail_status = 431;
    return P_FAIL;
  }
  if (c->expect_continue) {
    c->expect_continue = 0;
    return P_CONTINUE;
  }
  return P_MORE;
}

/* Idle for IDLE_TRIM: give every buffer back (the next request makes
   them again). */
static void trim(corun_HttpConn *c, corun_Stream *s) {
  corun__stream_trim(s);
  free(c->head);
  c->head = NULL;
  c->head_cap = 0;
  free(c->fields);
  c->fields = NULL;
  c->fields_cap = 0;
  free(c->out);
  c->out = NULL;
  c->out_cap = 0;
  c->trimmed = 1;
}

/* Ready for the next request on the connection. */
static void next_request(corun_HttpConn *c) {
  c->phase = IDLE;
  c->head_bytes = 0;
  c->headers_done = c->message_done = 0;
  c->expect_continue = 0;
  c->raw_body = 0;
  c->trimmed = 0;
  c->deadline = deadline_in(c, c->lim.keepalive_timeout);
  if (c->head_cap > HEAD_KEEP) {  /* an idle connection keeps little */
    free(c->head);
    c->head = NULL;
    c->head_cap = 0;
  }
  free(c->body);
  c->body = NULL;
  c->body_cap = 0;
  if (c->out_cap > HEAD_KEEP) {
    free(c->out);
    c->out = NULL;
    c->out_cap = 0;
  }
}

/* ----------------------------------------------------- the request */

/* Push the request table of the parsed request. */
static void push_request(lua_State *L, corun_HttpConn *c) {
  http_parser *p = &c->parser;
  const char *url = c->head + c->url;
  const char *q = memchr(url, '?', c->url_len);
  int i;
  lua_createtable(L, 0, 6);
  lua_pushstring(L, http_method_str((enum http_method)p->method));
  lua_setfield(L, -2, "method");
  lua_pushlstring(L, url, q != NULL ? (size_t)(q - url) : c->url_len);
  lua_setfield(L, -2, "path");
  if (q != NULL) {
    lua_pushlstring(L, q + 1, c->url_len - (size_t)(q + 1 - url));
    lua_setfield(L, -2, "query");
  }
  lua_createtable(L, 0, c->nfields);
  for (i = 0; i < c->nfields; i++) {
    Field *f = &c->fields[i];
    lua_pushlstring(L, c->head + f->name, f->name_len);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, -3) == LUA_TSTRING) {  /* repeated: joined */
      int cookie = f->name_len == 6 &&
                   memcmp(c->head + f->name, "cookie", 6) == 0;
      lua_pushstring(L, cookie ? "; " : ", ");
      lua_pushlstring(L, c->head + f->value, f->value_len);
      lua_concat(L, 3);
    }
    else {
      lua_pop(L, 1);
      lua_pushlstring(L, c->head + f->value, f->value_len);
    }
    lua_rawset(L, -3);
  }
  lua_setfield(L, -2, "headers");
  lua_pushlstring(L, c->body != NULL ? c->body : "", c->body_len);
  lua_setfield(L, -2, "body");
  lua_pushvalue(L, PEER);
  lua_setfield(L, -2, "peer");
}

/* ---------------------------------------------------- the response */

/* Add "Date: ...\r\n", made at most once a second. */
static void add_date(corun_HttpConn *c) {
  time_t now = time(NULL);
  if (now != c->date_at) {
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(c->date, sizeof c->date, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n",
             &tm);
    c->date_at = now;
  }
  out_str(c, c->date);
}

static void add_status_line(corun_HttpConn *c, int status) {
  char line[64];
  const char *reason = http_status_str((enum http_status)status);
  snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status,
           strcmp(reason, "<unknown>") == 0 ? "Status" : reason);
  out_str(c, line);
}

/* A response corun makes itself (an error): status, its reason as the
   body, and the connection closes. */
static void push_simple(lua_State *L, corun_HttpConn *c, int status) {
  const char *reason = http_status_str((enum http_status)status);
  char tail[160];
  c->out_len = 0;
  add_status_line(c, status);
  add_date(c);
  snprintf(tail, sizeof tail, "Content-Type: text/plain\r\n"
           "Content-Length: %d\r\nConnection: close\r\n\r\n%s\n",
           (int)strlen(reason) + 1, reason);
  out_str(c, tail);
  out_push(L, c);
}

/* Is 'name' (length 'len') a header token? */
static int is_token(const char *name, size_t len) {
  size_t i;
  if (len == 0)
    return 0;
  for (i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)name[i];
    if (ch <= 32 || ch >= 127 || strchr("()<>@,;:\\\"/[]?={}", ch) != NULL)
      return 0;
  }
  return 1;
}

/* Add header 'name' with the value at 'idx'; NULL, or what is wrong with
   it. */
static const char *add_header(lua_State *L, corun_HttpConn *c, int idx,
                              const char *name, size_t len) {
  size_t vlen, i;
  const char *v;
  int t = lua_type(L, idx);
  if (t != LUA_TSTRING && t != LUA_TNUMBER)
    return "a header value is not a string or a number";
  v = lua_tolstring(L, idx, &vlen);  /* a number, converted on the stack */
  for (i = 0; i < vlen; i++)
    if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0')
      return "a header value contains CR, LF or NUL";
  out_add(c, name, len);
  out_add(c, ": ", 2);
  out_add(c, v, vlen);
  out_add(c, "\r\n", 2);
  return NULL;
}

/* Is header 'name' one corun writes itself? */
static int own_header(const char *name, size_t len) {
  return (len == 14 && strncasecmp(name, "content-length", 14) == 0) ||
         (len == 17 && strncasecmp(name, "transfer-encoding", 17) == 0) ||
         (len == 10 && strncasecmp(name, "connection", 10) == 0);
}

/* The headers table at HEADERS, into 'out'; NULL, or what is wrong. */
static const char *add_headers(lua_State *L, corun_HttpConn *c) {
  lua_pushnil(L);
  while (lua_next(L, HEADERS) != 0) {
    size_t nlen;
    const char *name, *bad = NULL;
    if (lua_type(L, -2) != LUA_TSTRING)
      bad = "a header name is not a string";
    else if (name = lua_tolstring(L, -2, &nlen), !is_token(name, nlen))
      bad = "a header name is not a token";
    else if (own_header(name, nlen)) {
      if (nlen == 10 && lua_type(L, -1) == LUA_TSTRING &&
          strcasecmp(lua_tostring(L, -1), "close") == 0)
        c->keep_alive = 0;  /* Connection: close is honoured */
    }
    else if (lua_istable(L, -1)) {  /* an array: one line each */
      lua_Integer i, n = (lua_Integer)lua_rawlen(L, -1);
      for (i = 1; i <= n && bad == NULL; i++) {
        lua_rawgeti(L, -1, i);
        bad = add_header(L, c, lua_gettop(L), name, nlen);
        lua_pop(L, 1);
      }
    }
    else
      bad = add_header(L, c, lua_gettop(L), name, nlen);
    lua_pop(L, 1);
    if (bad != NULL) {
      lua_pop(L, 1);
      return bad;
    }
  }
  return NULL;
}

/* A status whose response has no body. */
static int no_body(lua_Integer status) {
  return status < 200 || status == 204 || status == 304;
}

/*
** Push the head of the handler's answer (STATUS, BODY, HEADERS), with a
** string body behind it unless it is big; NULL, or what is wrong with
** the answer (nothing pushed then).
*/
static const char *push_head(lua_State *L, corun_HttpConn *c) {
  lua_Integer status;
  int btype = lua_type(L, BODY), nobody;
  size_t blen = 0;
  const char *body = NULL, *bad;
  char line[64];
  if (!lua_isinteger(L, STATUS))
    return "the status is not an integer";
  status = lua_tointeger(L, STATUS);
  if (status < 100 || status > 999)
    return "the status is not within 100..999";
  if (btype != LUA_TNIL && btype != LUA_TSTRING && btype != LUA_TFUNCTION)
    return "the body is not a string, a function or nil";
  if (!lua_isnoneornil(L, HEADERS) && !lua_istable(L, HEADERS))
    return "the headers are not a table";
  nobody = no_body(status);
  c->out_len = 0;
  add_status_line(c, (int)status);
  add_date(c);
  if (lua_istable(L, HEADERS) && (bad = add_headers(L, c)) != NULL)
    return bad;
  if (btype == LUA_TSTRING)
    body = lua_tolstring(L, BODY, &blen);
  if (btype == LUA_TFUNCTION && !nobody) {
    if (c->parser.http_major == 1 && c->parser.http_minor == 0) {
      c->raw_body = 1;  /* no chunked encoding: the end is the close */
      c->keep_alive = 0;
    }
    else
      out_str(c, "Transfer-Encoding: chunked\r\n");
  }
  else if (!nobody) {
    snprintf(line, sizeof line, "Content-Length: %zu\r\n", blen);
    out_str(c, line);
  }
  if (!c->keep_alive)
    out_str(c, "Connection: close\r\n");
  else if (c->parser.http_major == 1 && c->parser.http_minor == 0)
    out_str(c, "Connection: keep-alive\r\n");
  out_add(c, "\r\n", 2);
  if (body != NULL && !nobody && !c->is_head && blen <= BIG_BODY)
    out_add(c, body, blen);
  out_push(L, c);
  return NULL;
}

/* Report on stderr a failure of the handler or of a body function
   (message on top of L, popped). */
static void report(lua_State *L, const char *what) {
  const char *msg = lua_tostring(L, -1);
  lua_getfield(L, REQ, "method");
  lua_getfield(L, REQ, "path");
  fprintf(stderr, "corun.http: %s failed (%s %s): %s\n", what,
          lua_isstring(L, -2) ? lua_tostring(L, -2) : "?",
          lua_isstring(L, -1) ? lua_tostring(L, -1) : "?",
          msg != NULL ? msg : "(error object is not a string)");
  fflush(stderr);
  lua_pop(L, 3);
}

/* The message handler of the handler's pcall: message and traceback. */
static int msgh(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL)
    msg = lua_pushfstring(L, "(error object is a %s value)",
                          luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* ------------------------------------------------------ the record */

static void conn_release(lua_State *L, corun_Resource *r) {
  corun_HttpConn *c = corun__container_of(r, corun_HttpConn, res);
  (void)L;
  corun__link_remove(&c->link);
  free(c->head);
  free(c->fields);
  free(c->body);
  free(c->out);
  free(c);
}

corun_HttpConn *corun__httpd_conn_of(corun_Link *link) {
  return corun__container_of(link, corun_HttpConn, link);
}

/* The server closed: an idle connection closes now (its task is
   cancelled where it waits), a busy one after its request. */
void corun__httpd_conn_drain(corun_HttpConn *c) {
  if (c->idle)
    corun__task_abort(c->task);
}

/* Serve ended before the connection: it runs on alone (or is being
   cancelled). */
void corun__httpd_conn_detach(corun_HttpConn *c) {
  corun__link_remove(&c->link);
  c->serving = NULL;
}

static int draining(corun_HttpConn *c) {
  return c->serving == NULL || c->serving->draining;
}

/* ------------------------------------------------- the state machine */

static int run(lua_State *L, int state, int status);

static int k_run(lua_State *L, int status, lua_KContext ctx) {
  return run(L, (int)ctx, status);
}

/* The open stream of the connection, or NULL if it was closed (the
   runtime is ending). */
static corun_Stream *stream_of(lua_State *L) {
  return (corun_Stream *)*(corun_Io **)lua_touserdata(L, STREAM);
}

/* Write the string on top of L with the stream's write method; 'next'
   runs with its two results on top. */
static int write_top(lua_State *L, int next) {
  if (stream_of(L) == NULL)
    return 0;
  lua_pushvalue(L, WRITE);
  lua_insert(L, -2);
  lua_pushvalue(L, STREAM);
  lua_insert(L, -2);
  lua_callk(L, 2, 2, next, k_run);
  return run(L, next, LUA_OK);
}

/* The connection's stream is in STREAM: note its peer, find its write
   method, set up the record. */
static void setup(lua_State *L, corun_HttpConn *c) {
  corun_Stream *s = stream_of(L);
  lua_settop(L, CONN);
  if (corun__stream_peer(L, FNAME, s) == 2 && !lua_isnil(L, -2)) {
    const char *host = lua_tostring(L, -2);
    lua_pushfstring(L, strchr(host, ':') != NULL ? "[%s]:%d" : "%s:%d",
                    host, (int)lua_tointeger(L, -1));
  }
  else
    lua_pushliteral(L, "?");
  lua_replace(L, CONN + 1);
  lua_settop(L, PEER);
  lua_getfield(L, STREAM, "write");
  lua_pushcfunction(L, msgh);
  (void)c;
}

/* Start the connection task: its record, then TLS if asked. */
static int start(lua_State *L) {
  corun_Runtime *rt = corun__state_peek(L)->rt;
  corun_Task *self = rt->current;
  corun_HttpConn *c;
  lua_settop(L, IDLE_TIMEOUT);
  if ((c = calloc(1, sizeof *c)) == NULL)
    return 0;  /* the connection closes at the task's end */
  c->task = self;
  c->lim.max_header_bytes = lua_tointeger(L, MAX_HEADER);
  c->lim.max_body_bytes = lua_tointeger(L, MAX_BODY);
  c->lim.header_timeout = lua_tonumber(L, HEAD_TIMEOUT);
  c->lim.keepalive_timeout = lua_tonumber(L, IDLE_TIMEOUT);
  corun__link_init(&c->res.link);
  c->res.release = conn_release;
  corun__task_own(self, &c->res);
  corun__link_init(&c->link);
  if (self->u.group != NULL) {
    c->serving = corun__container_of(self->u.group, corun_HttpServing,
                                     group);
    corun__link_append(&c->serving->conns, &c->link);
  }
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  c->deadline = deadline_in(c, c->lim.header_timeout);
  lua_pushlightuserdata(L, c);
  if (lua_isnil(L, WRAP))
    return run(L, S_WRAPPED, LUA_OK);
  /* HTTPS: the handshake, as corun.tls.wrap(conn, opts) does it */
  lua_pushvalue(L, WRAP);
  lua_pushvalue(L, STREAM);
  lua_createtable(L, 0, 3);
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, "server");
  lua_pushvalue(L, CERT);
  lua_setfield(L, -2, "cert_file");
  lua_pushvalue(L, KEY);
  lua_setfield(L, -2, "key_file");
  lua_callk(L, 2, 2, S_WRAPPED, k_run);
  return run(L, S_WRAPPED, LUA_OK);
}

/* The request failed with c->fail_status: answer it and close. */
static int refuse(lua_State *L, corun_HttpConn *c) {
  lua_settop(L, MSGH);
  c->keep_alive = 0;
  push_simple(L, c, c->fail_status);
  return write_top(L, S_FAILED);
}

/* Wait for more bytes, until 'deadline'; 'unheld' when the client may
   never send (the first byte of a request). */
static int wait_bytes(lua_State *L, corun_HttpConn *c, corun_Stream *s,
                      int unheld, uint64_t deadline, int next) {
  corun_Runtime *rt = c->task->rt;
  corun_Waker w;
  int err = 0;
  w = corun__stream_want(L, FNAME, s, &err);
  if (w == 0)
    return 0;  /* reading failed to start: close */
  if (unheld)
    corun__wait_unheld(rt, w);
  corun__io_deadline(L, FNAME, w, deadline);
  c->idle = unheld;
  return corun__wait_k(L, w, next, k_run);
}

static int run(lua_State *L, int state, int status) {
  corun_HttpConn *c = state == S_START ? NULL : lua_touserdata(L, CONN);
  corun_Stream *s;
  for (;;) switch (state) {
  case S_START:
    return start(L);

  case S_WRAPPED:  /* wrap's results (TLS), or nothing, on top */
    if (!lua_isnil(L, WRAP)) {
      if (lua_isnil(L, -2))
        return 0;  /* the handshake failed: the client is dropped */
      lua_pushvalue(L, -2);
      lua_replace(L, STREAM);
    }
    setup(L, c);
    state = S_READ;
    break;

  case S_READ: {
    int expired = c->expired;
    c->expired = 0;
    lua_settop(L, MSGH);
    if ((s = stream_of(L)) == NULL)
      return 0;
    switch (parse(c, s)) {
    case P_REQUEST:
      c->keep_alive = http_should_keep_alive(&c->parser) &&
                      !c->parser.upgrade && c->lim.keepalive_timeout > 0;
      push_request(L, c);
      state = S_CALL;
      continue;
    case P_CONTINUE:
      lua_pushliteral(L, "HTTP/1.1 100 Continue\r\n\r\n");
      return write_top(L, S_READ);
    case P_FAIL:
      return refuse(L, c);
    }
    if (corun__stream_read_status(s) != 0) {  /* the client went */
      if (c->phase == IDLE)
        return 0;
      c->fail_status = 400;  /* a truncated request */
      return refuse(L, c);
    }
    if (expired) {
      if (c->phase == IDLE)
        return 0;  /* idle for too long: close */
      c->fail_status = 408;
      return refuse(L, c);
    }
    if (c->phase == IDLE && draining(c))
      return 0;
    if (c->phase == IDLE && !c->trimmed) {  /* first wait a little */
      uint64_t at = deadline_in(c, IDLE_TRIM);
      if (at < c->deadline)
        return wait_bytes(L, c, s, 1, at, S_TRIM_WOKE);
    }
    return wait_bytes(L, c, s, c->phase == IDLE, c->deadline, S_READ_WOKE);
  }

  case S_TRIM_WOKE:  /* idle for IDLE_TRIM, or a request came */
    c->idle = 0;
    if (corun__io_expired(L) && (s = stream_of(L)) != NULL)
      trim(c, s);
    state = S_READ;
    break;

  case S_READ_WOKE:
    c->idle = 0;
    c->expired = corun__io_expired(L);
    state = S_READ;
    break;

  case S_CALL:  /* REQ on top */
    lua_pushvalue(L, HANDLER);
    lua_pushvalue(L, REQ);
    status = lua_pcallk(L, 1, 3, MSGH, S_CALLED, k_run);
    state = S_CALLED;
    break;

  case S_CALLED: {
    const char *bad = NULL;
    if (status != LUA_OK && status != LUA_YIELD) {
      report(L, "handler");
      lua_settop(L, REQ);
      lua_pushinteger(L, 500);
    }
    lua_settop(L, HEADERS);
    if ((bad = push_head(L, c)) != NULL) {
      lua_pushstring(L, bad);
      report(L, "handler");
      lua_settop(L, REQ);
      lua_pushinteger(L, 500);
      lua_settop(L, HEADERS);
      push_head(L, c);
    }
    if (c->is_head || lua_type(L, BODY) == LUA_TNIL)
      state = S_WROTE;
    else if (lua_type(L, BODY) == LUA_TFUNCTION)
      state = no_body(lua_tointeger(L, STATUS)) ? S_WROTE : S_CHUNK;
    else {
      size_t blen;
      lua_tolstring(L, BODY, &blen);
      state = blen > BIG_BODY ? S_BODY : S_WROTE;
    }
    return write_top(L, state);
  }

  case S_BODY:  /* the head's write results on top */
    if (!lua_toboolean(L, -2))
      return 0;
    lua_settop(L, HEADERS);
    lua_pushvalue(L, BODY);
    return write_top(L, S_WROTE);

  case S_CHUNK:  /* a write's results on top: the next chunk */
    if (!lua_toboolean(L, -2))
      return 0;
    lua_settop(L, HEADERS);
    lua_pushvalue(L, BODY);
    status = lua_pcallk(L, 0, 1, MSGH, S_CHUNK_GOT, k_run);
    state = S_CHUNK_GOT;
    break;

  case S_CHUNK_GOT: {
    size_t len;
    const char *chunk;
    if (status != LUA_OK && status != LUA_YIELD) {
      report(L, "body function");
      return 0;  /* the client sees the response cut short */
    }
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      if (c->raw_body)
        return 0;  /* its end is the close */
      lua_pushliteral(L, "0\r\n\r\n");
      return write_top(L, S_WROTE);
    }
    if (lua_type(L, -1) != LUA_TSTRING) {
      lua_pushfstring(L, "the body function returned a %s",
                      luaL_typename(L, -1));
      report(L, "body function");
      return 0;
    }
    chunk = lua_tolstring(L, -1, &len);
    if (len == 0) {  /* nothing to send: ask again */
      lua_pushboolean(L, 1);
      lua_pushnil(L);
      state = S_CHUNK;
      break;
    }
    if (!c->raw_body) {
      char size[32];
      snprintf(size, sizeof size, "%zx\r\n", len);
      c->out_len = 0;
      out_str(c, size);
      out_add(c, chunk, len);
      out_add(c, "\r\n", 2);
      lua_pop(L, 1);
      out_push(L, c);
    }
    return write_top(L, S_CHUNK);
  }

  case S_WROTE:  /* the response's last write results on top */
    if (!lua_toboolean(L, -2))
      return 0;
    c->served++;
    if (!c->keep_alive || draining(c))
      return 0;
    next_request(c);
    state = S_READ;
    break;

  case S_FAILED:  /* an error response went out */
    if (!lua_toboolean(L, -2) ||
        (c->fail_status != 413 && c->fail_status != 431))
      return 0;
    /* the client may still be sending: end our side, then read and drop
       what comes (for a while), so that it sees the status, not a reset */
    if (stream_of(L) == NULL)
      return 0;
    lua_settop(L, MSGH);
    lua_getfield(L, STREAM, "shutdown");
    lua_pushvalue(L, STREAM);
    c->deadline = deadline_in(c, DISCARD_SECONDS);
    lua_callk(L, 1, 2, S_SHUT, k_run);
    state = S_SHUT;
    break;

  case S_SHUT:
  case S_DISCARD: {
    size_t len;
    if ((s = stream_of(L)) == NULL)
      return 0;
    lua_settop(L, MSGH);
    corun__stream_buffered(s, &len);
    corun__stream_consume(s, len);
    c->discarded += len;
    if (c->discarded > DISCARD_MAX || corun__stream_read_status(s) != 0)
      return 0;
    return wait_bytes(L, c, s, 1, c->deadline, S_DISCARD_WOKE);  /* it may never
                                                       close */
  }

  case S_DISCARD_WOKE:
    if (corun__io_expired(L))
      return 0;
    state = S_DISCARD;
    break;

  default:
    return 0;
  }
}

int corun__httpd_connection(lua_State *L) {
  return run(L, S_START, LUA_OK);
}
