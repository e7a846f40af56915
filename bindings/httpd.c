/*
** httpd.c - the Lua side of the HTTP server: corun.http.listen and the
** class corun.HttpServer (serve, address, close).  Checks the arguments
** and calls io/httpd.c, where the server, its serve loop and the
** connection tasks live.
*/
#include <string.h>
#include <lauxlib.h>
#include "corunio.h"
#include "../io/httpd.h"

/* API.md's defaults. */
#define MAX_HEADER_BYTES (64 * 1024)
#define MAX_BODY_BYTES (1024 * 1024)
#define HEADER_TIMEOUT 10.0
#define KEEPALIVE_TIMEOUT 5.0

static const char module_key = 0;  /* registry: the corun module table */

/* The function module.<area>.<name> pushed, or nil. */
static void push_module_fn(lua_State *L, const char *area,
                           const char *name) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &module_key);
  if (lua_istable(L, -1) && lua_getfield(L, -1, area) == LUA_TTABLE)
    lua_getfield(L, -1, name);
  else
    lua_pushnil(L);
  lua_replace(L, -3);
  lua_settop(L, lua_gettop(L) - 1);
}

/* ------------------------------------------------------------ listen */

/* The option 'key' of the table at 'idx', as a number within [lo, hi]
   ('integer': an integer one), or 'dflt' when absent. */
static double number_option(lua_State *L, int idx, const char *key,
                            int integer, double lo, double hi,
                            double dflt) {
  double v;
  int t = lua_getfield(L, idx, key);
  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    return dflt;
  }
  if (integer ? !lua_isinteger(L, -1) : t != LUA_TNUMBER)
    corunL_error(L, "corun.http.listen", "bad option '%s' (%s expected, "
                 "got %s)", key, integer ? "integer" : "number",
                 luaL_typename(L, -1));
  v = lua_tonumber(L, -1);
  if (!(v >= lo && v <= hi))
    corunL_error(L, "corun.http.listen", "bad option '%s' (must be within "
                 "%f..%f, got %s)", key, lo, hi, lua_tostring(L, -1));
  lua_pop(L, 1);
  return v;
}

/* opts.tls's 'key': a path without zero bytes. */
static const char *tls_path(lua_State *L, int idx, const char *key) {
  size_t len;
  const char *s;
  if (lua_getfield(L, idx, key) != LUA_TSTRING)
    corunL_error(L, "corun.http.listen", "bad option 'tls' (%s: string "
                 "expected, got %s)", key, luaL_typename(L, -1));
  s = lua_tolstring(L, -1, &len);
  if (memchr(s, '\0', len) != NULL)
    corunL_error(L, "corun.http.listen", "bad option 'tls' (%s contains "
                 "a zero byte)", key);
  return s;  /* stays on the stack */
}

/* Check opts (at 3, a table or nil): limits into 'lim'; push the TLS
   paths (or nil, nil). */
static void check_options(lua_State *L, corun_HttpLimits *lim) {
  static const char *const known[] = {
    "max_header_bytes", "max_body_bytes", "header_timeout",
    "keepalive_timeout", "tls", NULL
  };
  int has = !lua_isnoneornil(L, 3), tls;
  lim->max_header_bytes = MAX_HEADER_BYTES;
  lim->max_body_bytes = MAX_BODY_BYTES;
  lim->header_timeout = HEADER_TIMEOUT;
  lim->keepalive_timeout = KEEPALIVE_TIMEOUT;
  if (!has) {
    lua_pushnil(L);
    lua_pushnil(L);
    return;
  }
  if (!lua_istable(L, 3))
    corunL_typeerror(L, "corun.http.listen", 3, "table");
  lua_pushnil(L);
  while (lua_next(L, 3) != 0) {
    int i, ok = 0;
    lua_pop(L, 1);
    for (i = 0; known[i] != NULL && !ok; i++)
      ok = lua_type(L, -1) == LUA_TSTRING &&
           strcmp(lua_tostring(L, -1), known[i]) == 0;
    if (!ok)
      corunL_error(L, "corun.http.listen", "unknown option '%s'",
                   luaL_tolstring(L, -1, NULL));
  }
  lim->max_header_bytes = (lua_Integer)number_option(L, 3,
    "max_header_bytes", 1, 256, 1 << 30, MAX_HEADER_BYTES);
  lim->max_body_bytes = (lua_Integer)number_option(L, 3, "max_body_bytes",
    1, 0, 1 << 30, MAX_BODY_BYTES);
  lim->header_timeout = number_option(L, 3, "header_timeout", 0, 1e-3,
                                      1e9, HEADER_TIMEOUT);
  lim->keepalive_timeout = number_option(L, 3, "keepalive_timeout", 0, 0,
                                         1e9, KEEPALIVE_TIMEOUT);
  if (lua_getfield(L, 3, "tls") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_pushnil(L);
    return;
  }
  if (!lua_istable(L, -1))
    corunL_error(L, "corun.http.listen", "bad option 'tls' (table "
                 "expected, got %s)", luaL_typename(L, -1));
  tls = lua_gettop(L);
  tls_path(L, tls, "cert_file");
  tls_path(L, tls, "key_file");
  lua_remove(L, tls);
  push_module_fn(L, "tls", "wrap");
  if (!lua_isfunction(L, -1))
    corunL_error(L, "corun.http.listen", "opts.tls needs corun.tls.wrap, "
                 "which this build does not have");
  lua_pop(L, 1);
}

/* A numeric address for host, port: 0, or a libuv error. */
static int numeric(const char *host, int port, struct sockaddr_storage *sa) {
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)sa) == 0)
    return 0;
  return uv_ip6_addr(host, port, (struct sockaddr_in6 *)sa);
}

/* Stack: host port opts ...  Listen on 'addr' (the host, or the first
   address found for it). */
static int listen_on(lua_State *L, const char *addr) {
  corun_Task *self = corunL_task(L, "corun.http.listen");
  struct sockaddr_storage sa;
  corun_HttpLimits lim;
  const char *host = lua_tostring(L, 1);
  int port = (int)lua_tointeger(L, 2);
  char where[300];
  snprintf(where, sizeof where, strchr(host, ':') != NULL ? "[%s]:%d"
           : "%s:%d", host, port);
  check_options(L, &lim);
  if (numeric(addr, port, &sa) != 0)
    return corun__io_fail(L, UV_EINVAL, "%s", where);
  return corun__httpd_listen(L, self, (struct sockaddr *)&sa, where, &lim,
                             lua_tostring(L, -2), lua_tostring(L, -1));
}

/* Stack: host port opts addresses|nil err.  corun.dns.resolve answered:
   listen on the first address found. */
static int k_resolved(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  if (lua_isnil(L, 4))
    return 2;  /* nil, err */
  lua_rawgeti(L, 4, 1);
  lua_replace(L, 4);
  lua_settop(L, 4);
  return listen_on(L, lua_tostring(L, 4));
}

/* corun.http.listen(host, port[, opts]) -> HttpServer, or nil, err */
static int l_listen(lua_State *L) {
  struct sockaddr_storage sa;
  corun_HttpLimits lim;
  const char *host = corunL_checkcstring(L, "corun.http.listen", 1,
                                          "host", NULL);
  int port = corunL_checkport(L, "corun.http.listen", 2);
  corunL_task(L, "corun.http.listen");
  corunL_io_ready(L, "corun.http.listen");
  lua_settop(L, 3);
  check_options(L, &lim);  /* misuse raises before anything is done */
  lua_settop(L, 3);
  if (numeric(host, port, &sa) == 0)
    return listen_on(L, host);
  corunL_waiter(L, "corun.http.listen");  /* a look-up: it waits */
  push_module_fn(L, "dns", "resolve");
  lua_pushvalue(L, 1);
  lua_callk(L, 1, 2, 0, k_resolved);
  return k_resolved(L, LUA_OK, 0);
}

/* ------------------------------------------------------------ server */

/* Method self: the open server the running task may use. */
static corun_HttpServer *check(lua_State *L, const char *fname) {
  return (corun_HttpServer *)corunL_io_check(L, fname, CORUN_HTTP_SERVER,
                                             "server");
}

/* server:serve(handler) -> true once closed and drained, or nil, err */
static int sv_serve(lua_State *L) {
  corun_HttpServer *sv = check(L, "server:serve");
  corunL_checkfunction(L, "server:serve", 2);
  corunL_waiter(L, "server:serve");
  lua_settop(L, 2);
  if (corun__httpd_is_tls(sv))
    push_module_fn(L, "tls", "wrap");
  else
    lua_pushnil(L);
  return corun__httpd_serve(L, "server:serve", sv);
}

/* server:address() -> host, port, or nil, err */
static int sv_address(lua_State *L) {
  corun_HttpServer *sv = check(L, "server:address");
  return corun__httpd_address(L, "server:address", sv);
}

static int sv_close(lua_State *L) {
  corun_Io *io = corunL_io_peek(L, "server:close", CORUN_HTTP_SERVER);
  if (io != NULL) {
    check(L, "server:close");
    corun__io_close(io, 0);
  }
  return 0;
}

static int sv_tostring(lua_State *L) {
  corun_HttpServer *sv = (corun_HttpServer *)corunL_io_peek(L,
    "server:__tostring", CORUN_HTTP_SERVER);
  if (sv == NULL) {
    lua_pushliteral(L, "corun.HttpServer (closed)");
    return 1;
  }
  /* no ownership check: any task may print it */
  return corun__httpd_tostring(L, "server:__tostring", sv);
}

/* -------------------------------------------------------------- open */

static const luaL_Reg server_methods[] = {
  {"serve", sv_serve}, {"address", sv_address}, {"close", sv_close},
  {NULL, NULL}
};

static const luaL_Reg server_meta[] = {
  {"__tostring", sv_tostring}, {NULL, NULL}
};

static const luaL_Reg http_functions[] = {
  {"listen", l_listen}, {NULL, NULL}
};

/* corun.http.listen joins the corun.http table (made here if the HTTP
   client has not made it yet). */
void corunL_open_httpd(lua_State *L) {
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &module_key);
  corun__state(L);
  corunL_io_newclass(L, CORUN_HTTP_SERVER, server_methods, server_meta);
  if (lua_getfield(L, -2, "http") != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -4, "http");
  }
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, http_functions, 1);
  lua_pop(L, 2);
}
