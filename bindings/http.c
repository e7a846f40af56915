/*
** http.c - the Lua side of corun.http (request, get, client), the class
** corun.http.Client and the responses: checks the arguments and options,
** merges a client's default options into each request, and calls
** io/http.c, where the transfers live (io/httpclient.c: the pools).
*/
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <lauxlib.h>
#include "corunio.h"
#include "../io/http.h"

#define CORUN_HTTP_CLIENT "corun.http.Client"

/* ---------------------------------------------------------- options */

/* The options, and who may give them. */
typedef struct Option {
  const char *name;
  int request;            /* a request's option */
  int client;             /* a client's default (or setting) */
} Option;

static const Option options[] = {
  {"headers", 1, 1}, {"body", 1, 0}, {"timeout", 1, 1},
  {"connect_timeout", 1, 1}, {"follow_redirects", 1, 1},
  {"ca_file", 1, 1}, {"verify", 1, 1}, {"http_version", 1, 1},
  {"max_per_host", 0, 1}, {"stream", 1, 0}, {NULL, 0, 0}
};

/* Raise "fname: bad argument #arg (option 'name': ...)". */
static int option_error(lua_State *L, const char *fname, int arg,
                        const char *name, const char *fmt, ...) {
  const char *what;
  va_list ap;
  va_start(ap, fmt);
  what = lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return corunL_error(L, fname, "bad argument #%d (option '%s': %s)", arg,
                      name, what);
}

/* Is the 'n' bytes at 's' an HTTP token (a method, a header name)? */
static int is_token(const char *s, size_t n) {
  size_t i;
  if (n == 0)
    return 0;
  for (i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || strchr("!#$%&'*+-.^_`|~", ch) != NULL)
        || ch == '\0')
      return 0;
  }
  return 1;
}

/* The headers table at the top of the stack (option 'headers' of
   argument 'arg'): names are tokens, values strings (or numbers) without
   a line break or a zero byte. */
static void check_headers(lua_State *L, const char *fname, int arg) {
  int t = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    size_t n;
    const char *name, *v;
    if (lua_type(L, -2) != LUA_TSTRING)
      option_error(L, fname, arg, "headers", "names must be strings, got "
                   "%s", luaL_typename(L, -2));
    name = lua_tolstring(L, -2, &n);
    if (!is_token(name, n))
      option_error(L, fname, arg, "headers", "'%s' is not a header name",
                   name);
    if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
      option_error(L, fname, arg, "headers", "value of '%s' must be a "
                   "string, got %s", name, luaL_typename(L, -1));
    v = lua_tolstring(L, -1, &n);  /* a number becomes its string */
    if (strcspn(v, "\r\n") != strlen(v) || strlen(v) != n)
      option_error(L, fname, arg, "headers", "value of '%s' holds a line "
                   "break or a zero byte", name);
    lua_pop(L, 1);
  }
}

/* A duration in seconds at the top of the stack, positive (math.huge:
   none): milliseconds, 0 for none. */
static long check_ms(lua_State *L, const char *fname, int arg,
                     const char *name) {
  double s;
  if (lua_type(L, -1) != LUA_TNUMBER)
    option_error(L, fname, arg, name, "number expected, got %s",
                 luaL_typename(L, -1));
  s = (double)lua_tonumber(L, -1);
  if (isnan(s) || s <= 0)
    option_error(L, fname, arg, name, "%s", "must be a positive number of "
                 "seconds");
  s = ceil(s * 1000);
  return s >= (double)LONG_MAX ? 0 : (long)s;
}

/* Check the value (at the top of the stack) of option 'o'. */
static void check_value(lua_State *L, const char *fname, int arg,
                        const Option *o) {
  const char *name = o->name;
  int type = lua_type(L, -1);
  if (strcmp(name, "headers") == 0) {
    if (type != LUA_TTABLE)
      option_error(L, fname, arg, name, "table expected, got %s",
                   luaL_typename(L, -1));
    check_headers(L, fname, arg);
  }
  else if (strcmp(name, "body") == 0) {
    if (type != LUA_TSTRING)
      option_error(L, fname, arg, name, "string expected, got %s",
                   luaL_typename(L, -1));
  }
  else if (strcmp(name, "timeout") == 0 ||
           strcmp(name, "connect_timeout") == 0)
    check_ms(L, fname, arg, name);
  else if (strcmp(name, "follow_redirects") == 0 ||
           strcmp(name, "verify") == 0 || strcmp(name, "stream") == 0) {
    if (type != LUA_TBOOLEAN)
      option_error(L, fname, arg, name, "boolean expected, got %s",
                   luaL_typename(L, -1));
  }
  else if (strcmp(name, "ca_file") == 0) {
    size_t n;
    if (type != LUA_TSTRING)
      option_error(L, fname, arg, name, "string expected, got %s",
                   luaL_typename(L, -1));
    if (strlen(lua_tolstring(L, -1, &n)) != n)
      option_error(L, fname, arg, name, "%s", "contains a zero byte");
  }
  else if (strcmp(name, "http_version") == 0) {
    const char *v = lua_tostring(L, -1);
    if (type != LUA_TSTRING || (strcmp(v, "1.1") != 0 &&
                                strcmp(v, "2") != 0))
      option_error(L, fname, arg, name, "%s", "\"1.1\" or \"2\" expected");
  }
  else if (strcmp(name, "max_per_host") == 0) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
        lua_tointeger(L, -1) > INT_MAX)
      option_error(L, fname, arg, name, "%s", "a positive integer "
                   "expected");
  }
}

/* Check the options table at 'arg' (nil or none: no options) for a
   request or (client) a client: names known, values of their type. */
static void check_options(lua_State *L, const char *fname, int arg,
                          int client) {
  if (lua_isnoneornil(L, arg))
    return;
  if (lua_type(L, arg) != LUA_TTABLE)
    corunL_typeerror(L, fname, arg, "table of options");
  lua_pushnil(L);
  while (lua_next(L, arg)) {
    const Option *o;
    const char *name;
    if (lua_type(L, -2) != LUA_TSTRING)
      corunL_error(L, fname, "bad argument #%d (options are named, got a "
                   "%s key)", arg, luaL_typename(L, -2));
    name = lua_tostring(L, -2);
    for (o = options; o->name != NULL; o++)
      if (strcmp(o->name, name) == 0)
        break;
    if (o->name == NULL || !(client ? o->client : o->request))
      corunL_error(L, fname, "bad argument #%d (%s option '%s')", arg,
                   o->name == NULL ? "unknown" : client ? "not a client"
                   : "a client's", name);
    check_value(L, fname, arg, o);
    lua_pop(L, 1);
  }
}

/* Push 's' lower-cased. */
static void push_lower(lua_State *L, const char *s) {
  luaL_Buffer b;
  size_t i, n = strlen(s);
  char *d = luaL_buffinitsize(L, &b, n);
  for (i = 0; i < n; i++)
    d[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
  luaL_pushresultsize(&b, n);
}

/* Merge the (checked) headers table at the top of the stack into the
   table at 'merged' (lower-case name -> "Name: value" line): a name
   already there, in any case, is replaced. */
static void merge_headers(lua_State *L, int merged) {
  int t = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    const char *name = lua_tostring(L, -2);
    const char *v = lua_tostring(L, -1);  /* a number: its string */
    push_lower(L, name);
    if (v[0] == '\0')  /* curl sends "Name;" as an empty header */
      lua_pushfstring(L, "%s;", name);
    else
      lua_pushfstring(L, "%s: %s", name, v);
    lua_rawset(L, merged);
    lua_pop(L, 1);
  }
  lua_settop(L, t);
}

/* Push t[name] for the table at (absolute) index 't', without
   metamethods (as check_options saw it); its type. */
static int rawfield(lua_State *L, int t, const char *name) {
  lua_pushstring(L, name);
  return lua_rawget(L, t);
}

/* Apply the (checked) options table at 'idx' to 'rq'; its headers go
   into the table at 'merged'.  Strings stay on the stack (in the table). */
static void apply_options(lua_State *L, const char *fname, int idx,
                          corun_HttpRequest *rq, int merged) {
  if (rawfield(L, idx, "headers") == LUA_TTABLE)
    merge_headers(L, merged);
  lua_pop(L, 1);
  if (rawfield(L, idx, "body") == LUA_TSTRING)
    rq->body = lua_tolstring(L, -1, &rq->body_len);
  lua_pop(L, 1);
  if (rawfield(L, idx, "timeout") != LUA_TNIL)
    rq->timeout_ms = check_ms(L, fname, idx, "timeout");
  lua_pop(L, 1);
  if (rawfield(L, idx, "connect_timeout") != LUA_TNIL)
    rq->connect_timeout_ms = check_ms(L, fname, idx, "connect_timeout");
  lua_pop(L, 1);
  if (rawfield(L, idx, "follow_redirects") != LUA_TNIL)
    rq->follow = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (rawfield(L, idx, "verify") != LUA_TNIL)
    rq->verify = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (rawfield(L, idx, "ca_file") == LUA_TSTRING)
    rq->ca_file = lua_tostring(L, -1);
  lua_pop(L, 1);
  if (rawfield(L, idx, "http_version") == LUA_TSTRING)
    rq->version = strcmp(lua_tostring(L, -1), "2") == 0 ? CORUN_HTTP_2
                                                        : CORUN_HTTP_1_1;
  lua_pop(L, 1);
  if (rawfield(L, idx, "stream") != LUA_TNIL)
    rq->stream = lua_toboolean(L, -1);
  lua_pop(L, 1);
}

/* ----------------------------------------------------------- request */

/* The method at 'arg': an HTTP token. */
static const char *check_method(lua_State *L, const char *fname, int arg) {
  size_t n;
  const char *m = corunL_checkstring(L, fname, arg, &n);
  if (!is_token(m, n))
    corunL_error(L, fname, "bad argument #%d (not an HTTP method: '%s')",
                 arg, m);
  return m;
}

/* Perform the request whose method is 'method' (or, if NULL, at 'marg'),
   URL at 'uarg' and options at 'uarg' + 1, on client 'c' (its userdata
   at 'client_idx', whose user value holds its defaults), or on the
   runtime's default client (c NULL, client_idx 0). */
static int request(lua_State *L, const char *fname, corun_HttpClient *c,
                   int client_idx, const char *method, int marg,
                   int uarg) {
  corun_HttpRequest rq;
  int oarg = uarg + 1, defaults = 0, merged, lines, n = 0;
  memset(&rq, 0, sizeof rq);
  rq.method = method != NULL ? method : check_method(L, fname, marg);
  rq.url = corunL_checkcstring(L, fname, uarg, "url", NULL);
  check_options(L, fname, oarg, 0);
  corunL_waiter(L, fname);
  if (c == NULL && (c = corun__httpclient_default(corunL_task(L,
                                                   fname)->rt)) == NULL)
    return corunL_error(L, fname, "not enough memory");
  corunL_io_ready(L, fname);
  rq.follow = rq.verify = 1;
  rq.version = CORUN_HTTP_ANY;
  lua_settop(L, oarg);
  if (client_idx != 0) {
    lua_getiuservalue(L, client_idx, 1);
    defaults = lua_gettop(L);
  }
  lua_newtable(L);
  merged = lua_gettop(L);
  if (defaults != 0)
    apply_options(L, fname, defaults, &rq, merged);
  if (!lua_isnil(L, oarg))
    apply_options(L, fname, oarg, &rq, merged);
  lua_newtable(L);
  lines = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, merged))
    lua_rawseti(L, lines, ++n);
  rq.headers = n > 0 ? lines : 0;
  return corun__http_request(L, fname, c, client_idx, &rq);
}

/* corun.http.request(method, url[, opts]) -> response, or nil, err */
static int l_request(lua_State *L) {
  return request(L, "corun.http.request", NULL, 0, NULL, 1, 2);
}

/* corun.http.get(url[, opts]) -> response, or nil, err */
static int l_get(lua_State *L) {
  return request(L, "corun.http.get", NULL, 0, "GET", 0, 1);
}

/* ------------------------------------------------------------ client */

/* Method self: the client at index 1, open. */
static corun_HttpClient *check_client(lua_State *L, const char *fname) {
  corun_HttpClient **box = corunL_checkself(L, fname, CORUN_HTTP_CLIENT);
  if (*box == NULL)
    corunL_error(L, fname, "the client is closed");
  return *box;
}

/* corun.http.client([opts]) -> client: its own pool, its defaults. */
static int l_client(lua_State *L) {
  static const char fname[] = "corun.http.client";
  corun_HttpClient **box;
  lua_Integer max = CORUN_HTTP_MAX_PER_HOST;
  corun_Task *self = corunL_task(L, fname);
  check_options(L, fname, 1, 1);
  lua_settop(L, 1);
  if (lua_istable(L, 1)) {
    if (rawfield(L, 1, "max_per_host") == LUA_TNUMBER)
      max = lua_tointeger(L, -1);
    lua_pop(L, 1);
  }
  box = lua_newuserdatauv(L, sizeof *box, 1);
  *box = NULL;
  lua_newtable(L);  /* user value 1: the defaults, a copy */
  if (lua_istable(L, 1)) {
    lua_pushnil(L);
    while (lua_next(L, 1)) {
      if (lua_istable(L, -1)) {  /* headers: copied too */
        int src = lua_gettop(L);
        lua_newtable(L);
        lua_pushnil(L);
        while (lua_next(L, src)) {
          lua_pushvalue(L, -2);
          lua_insert(L, -2);
          lua_rawset(L, src + 1);
        }
        lua_replace(L, src);
      }
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, -4);
    }
  }
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, CORUN_HTTP_CLIENT);
  if ((*box = corun__httpclient_new(self->rt, (long)max)) == NULL)
    return corunL_error(L, fname, "not enough memory");
  corun__httpclient_box(*box, box);
  return 1;
}

/* client:request(method, url[, opts]) -> response, or nil, err */
static int c_request(lua_State *L) {
  static const char fname[] = "client:request";
  corun_HttpClient *c = check_client(L, fname);
  return request(L, fname, c, 1, NULL, 2, 3);
}

/* client:get(url[, opts]) -> response, or nil, err */
static int c_get(lua_State *L) {
  static const char fname[] = "client:get";
  corun_HttpClient *c = check_client(L, fname);
  return request(L, fname, c, 1, "GET", 0, 2);
}

static int c_close(lua_State *L) {
  corun_HttpClient **box = corunL_checkself(L, "client:close",
                                            CORUN_HTTP_CLIENT);
  if (*box != NULL)
    corun__httpclient_close(*box);  /* empties the box */
  return 0;
}

static int c_gc(lua_State *L) {
  corun_HttpClient **box = corunL_checkself(L, "client:__gc",
                                            CORUN_HTTP_CLIENT);
  if (*box != NULL)
    corun__httpclient_close(*box);
  return 0;
}

static int c_tostring(lua_State *L) {
  corun_HttpClient **box = corunL_checkself(L, "client:__tostring",
                                            CORUN_HTTP_CLIENT);
  lua_pushstring(L, *box != NULL ? "corun.http.Client"
                                 : "corun.http.Client (closed)");
  return 1;
}

/* A client is shared by identity, as a Semaphore is: every task uses the
   same pool. */
static const corun_Class client_class = {CORUN_CLASS_SHARE, NULL, NULL};

/* ---------------------------------------------------------- response */

/* Method self: the open streamed response the running task may use. */
static corun_Io *check_response(lua_State *L, const char *fname) {
  return corunL_io_check(L, fname, CORUN_HTTP_RESPONSE, "response");
}

/* response:read([n]) -> 1..n bytes, or nil at the end, or nil, err */
static int r_read(lua_State *L) {
  static const char fname[] = "response:read";
  corun_Io *io = check_response(L, fname);
  lua_Integer want = LUA_MAXINTEGER;
  if (!lua_isnoneornil(L, 2)) {
    if (!lua_isinteger(L, 2))
      return corunL_typeerror(L, fname, 2, "integer");
    if ((want = lua_tointeger(L, 2)) < 1)
      return corunL_error(L, fname, "bad argument #2 (at least 1 byte, "
                          "got %I)", (LUAI_UACINT)want);
  }
  return corun__http_read(L, fname, io, want);
}

static int r_close(lua_State *L) {
  corun_Io *io = corunL_io_peek(L, "response:close", CORUN_HTTP_RESPONSE);
  if (io != NULL) {
    check_response(L, "response:close");
    corun__io_close(io, 0);
  }
  return 0;
}

/* response.status, .headers, .url, .http_version (user value 1), then
   the methods (upvalue 3; upvalue 2 is the class's metatable). */
static int r_index(lua_State *L) {
  corunL_checkself(L, "response:__index", CORUN_HTTP_RESPONSE);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(3)) != LUA_TNIL)
    return 1;
  lua_getiuservalue(L, 1, 1);
  lua_pushvalue(L, 2);
  lua_rawget(L, -2);
  return 1;
}

static int r_tostring(lua_State *L) {
  corun_Io *io = corunL_io_peek(L, "response:__tostring",
                                CORUN_HTTP_RESPONSE);
  if (io == NULL) {
    lua_pushliteral(L, "corun.http.Response (closed)");
    return 1;
  }
  return corun__http_tostring(L, io);
}

/* A response read whole is a table of this class: read says where the
   body is; close does nothing (so that <close> works for both). */
static void check_body(lua_State *L, const char *fname) {
  if (!lua_getmetatable(L, 1) || !lua_rawequal(L, -1,
                                               lua_upvalueindex(1)))
    corunL_typeerror(L, fname, 1, "corun.http.Response");
  lua_pop(L, 1);
}

static int b_read(lua_State *L) {
  check_body(L, "response:read");
  return corunL_error(L, "response:read", "the response is not streamed "
                      "(its body is response.body; ask with stream = "
                      "true to read it in parts)");
}

static int b_close(lua_State *L) {
  check_body(L, "response:close");
  return 0;
}

/* -------------------------------------------------------------- open */

static const luaL_Reg client_methods[] = {
  {"request", c_request}, {"get", c_get}, {"close", c_close},
  {NULL, NULL}
};

static const luaL_Reg client_meta[] = {
  {"__gc", c_gc}, {"__close", c_close}, {"__tostring", c_tostring},
  {NULL, NULL}
};

static const luaL_Reg response_methods[] = {
  {"read", r_read}, {"close", r_close}, {NULL, NULL}
};

static const luaL_Reg response_meta[] = {
  {"__tostring", r_tostring}, {NULL, NULL}
};

static const luaL_Reg body_methods[] = {
  {"read", b_read}, {"close", b_close}, {NULL, NULL}
};

static const luaL_Reg http_functions[] = {
  {"request", l_request}, {"get", l_get}, {"client", l_client},
  {NULL, NULL}
};

/* The metatable of the responses read whole (tables): protected as
   corun's classes are, named corun.http.Response too. */
static void open_body(lua_State *L) {
  luaL_newmetatable(L, CORUN_HTTP_BODY);
  lua_pushliteral(L, CORUN_HTTP_RESPONSE);
  lua_setfield(L, -2, "__name");
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, CORUN_HTTP_RESPONSE);
  lua_setfield(L, -2, "__name");
  lua_setfield(L, -2, "__metatable");
  lua_newtable(L);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, body_methods, 1);
  lua_setfield(L, -2, "__index");
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, b_close, 1);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
}

void corunL_open_http(lua_State *L) {
  corun__state(L);                  /* module state */
  corunL_newclass(L, CORUN_HTTP_CLIENT, client_methods, client_meta);
  corunL_setcrossing(L, &client_class);
  lua_pop(L, 1);
  corunL_io_newclass(L, CORUN_HTTP_RESPONSE, response_methods,
                     response_meta);
  luaL_getmetatable(L, CORUN_HTTP_RESPONSE);  /* state mt */
  lua_pushvalue(L, -2);
  lua_pushvalue(L, -2);
  lua_getfield(L, -1, "__index");   /* state mt state mt methods */
  lua_pushcclosure(L, r_index, 3);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  open_body(L);
  lua_newtable(L);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, http_functions, 1);
  lua_setfield(L, -3, "http");
  lua_pop(L, 1);
}
