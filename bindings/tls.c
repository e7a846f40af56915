/*
** tls.c - the Lua side of corun.tls (connect, wrap, listen) and the class
** corun.TLSConnection: checks the arguments and the options (into a
** corun_TlsOptions, then a corun_TlsConfig in a userdata of its own) and
** calls TLS in io/tls.c, where the engine, the handshakes and the
** contexts live.  A TLS connection's stream methods are the stream's
** (stream.c), under its own class and names.
*/
#include <string.h>
#include <lauxlib.h>
#include "corunio.h"
#include "../io/tls.h"

/* The userdata that holds a call's corun_TlsConfig while the call runs
   (its __gc lets go of what the config holds). */
#define CORUN_TLS_CONFIG "corun.TLSConfig"

/* ----------------------------------------------------------- options */

enum { CONNECT, WRAP, LISTEN };  /* which call checks its options */

/* opts.<key> as a string without zero bytes, or NULL if absent. */
static const char *string_option(lua_State *L, const char *fname, int arg,
                                 const char *key) {
  size_t len;
  const char *s;
  char what[32];
  if (lua_getfield(L, arg, key) == LUA_TNIL) {
    lua_pop(L, 1);
    return NULL;
  }
  if (lua_type(L, -1) != LUA_TSTRING)
    corunL_error(L, fname, "bad argument #%d (opts.%s must be a string, "
                 "got %s)", arg, key, luaL_typename(L, -1));
  s = lua_tolstring(L, -1, &len);
  snprintf(what, sizeof what, "opts.%s", key);
  corunL_check_nozero(L, fname, arg, what, s, len);
  lua_pop(L, 1);  /* the options table anchors it */
  return s;
}

/* opts.<key> as a boolean, or 'dflt' if absent. */
static int boolean_option(lua_State *L, const char *fname, int arg,
                          const char *key, int dflt) {
  int t = lua_getfield(L, arg, key), b = dflt;
  if (t == LUA_TBOOLEAN)
    b = lua_toboolean(L, -1);
  else if (t != LUA_TNIL)
    corunL_error(L, fname, "bad argument #%d (opts.%s must be a boolean, "
                 "got %s)", arg, key, luaL_typename(L, -1));
  lua_pop(L, 1);
  return b;
}

/* opts.alpn, an array of protocol names, in ALPN's wire format: a string
   pushed (it stays on the stack while 'o' is used). */
static void alpn_option(lua_State *L, const char *fname, int arg,
                        corun_TlsOptions *o) {
  luaL_Buffer b;
  lua_Integer i, n = 0;
  int alpn;
  if (lua_getfield(L, arg, "alpn") == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  alpn = lua_gettop(L);
  if (lua_type(L, alpn) != LUA_TTABLE || (n = luaL_len(L, alpn)) < 1)
    corunL_error(L, fname, "bad argument #%d (opts.alpn must be a "
                 "non-empty array of protocol names, got %s)", arg,
                 lua_type(L, alpn) == LUA_TTABLE ? "an empty table"
                                                 : luaL_typename(L, alpn));
  luaL_buffinit(L, &b);
  for (i = 1; i <= n; i++) {
    size_t len;
    const char *p;
    lua_rawgeti(L, alpn, i);
    if (lua_type(L, -1) != LUA_TSTRING)
      corunL_error(L, fname, "bad argument #%d (opts.alpn[%I] must be a "
                   "string, got %s)", arg, (LUAI_UACINT)i,
                   luaL_typename(L, -1));
    p = lua_tolstring(L, -1, &len);
    if (len < 1 || len > 255)
      corunL_error(L, fname, "bad argument #%d (opts.alpn[%I] must be 1 "
                   "to 255 bytes, got %I)", arg, (LUAI_UACINT)i,
                   (LUAI_UACINT)len);
    lua_pop(L, 1);
    luaL_addchar(&b, (char)len);
    luaL_addlstring(&b, p, len);
  }
  luaL_pushresult(&b);
  lua_remove(L, alpn);
  o->alpn = lua_tolstring(L, -1, &o->alpn_len);
}

/*
** Check the options at 'arg' (a table, or nil) of call 'which' into 'o'.
** Pushes one value (the ALPN list, or nil) that must stay on the stack
** while 'o' is used.  Unknown options raise: a typo would be silent.
*/
static void check_options(lua_State *L, const char *fname, int arg,
                          int which, corun_TlsOptions *o) {
  static const char *const keys[] = {"ca_file", "verify", "cert_file",
                                     "key_file", "alpn", "server_name",
                                     "server", NULL};
  static const char *const listen_keys[] = {"ca_file", "verify",
                                            "cert_file", "key_file",
                                            "alpn", "handshake_timeout",
                                            NULL};
  const char *const *names = which == LISTEN ? listen_keys : keys;
  int nkeys = which == WRAP ? 7 : 6, i;
  memset(o, 0, sizeof *o);
  o->verify = 1;
  o->server = which == LISTEN;
  if (lua_isnoneornil(L, arg)) {
    lua_settop(L, arg);
    if (which == LISTEN)
      corunL_error(L, fname, "bad argument #%d (opts.cert_file and "
                   "opts.key_file are required for a server)", arg);
    return;
  }
  if (lua_type(L, arg) != LUA_TTABLE)
    corunL_typeerror(L, fname, arg, "table of options");
  lua_settop(L, arg);
  lua_pushnil(L);
  while (lua_next(L, arg)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2)
                                                   : "";
    for (i = 0; i < nkeys && strcmp(names[i], k) != 0; i++)
      ;
    if (i == nkeys)
      corunL_error(L, fname, "bad argument #%d (unknown option '%s')", arg,
                   luaL_tolstring(L, -2, NULL));
    lua_pop(L, 1);
  }
  o->ca_file = string_option(L, fname, arg, "ca_file");
  o->cert_file = string_option(L, fname, arg, "cert_file");
  o->key_file = string_option(L, fname, arg, "key_file");
  o->server_name = string_option(L, fname, arg, "server_name");
  o->verify = boolean_option(L, fname, arg, "verify", 1);
  if (which == WRAP)
    o->server = boolean_option(L, fname, arg, "server", 0);
  if (o->key_file != NULL && o->cert_file == NULL)
    corunL_error(L, fname, "bad argument #%d (opts.key_file without "
                 "opts.cert_file)", arg);
  if (o->key_file == NULL)  /* a PEM file may hold the key too */
    o->key_file = o->cert_file;
  if (o->server && o->cert_file == NULL)
    corunL_error(L, fname, "bad argument #%d (opts.cert_file and "
                 "opts.key_file are required for a server)", arg);
  alpn_option(L, fname, arg, o);
  if (o->alpn == NULL)
    lua_pushnil(L);
}

/* Push the userdata of the config of 'o': 1, or nil, err pushed
   instead and 0. */
static int push_config(lua_State *L, const corun_TlsOptions *o) {
  corun_TlsConfig *cfg = lua_newuserdatauv(L, sizeof *cfg, 0);
  memset(cfg, 0, sizeof *cfg);
  luaL_setmetatable(L, CORUN_TLS_CONFIG);
  if (corun__tls_config(L, cfg, o) != 0)
    return 0;
  return 1;
}

static int config_gc(lua_State *L) {
  corun_TlsConfig *cfg = corunL_checkself(L, "corun.TLSConfig:__gc",
                                          CORUN_TLS_CONFIG);
  corun__tls_config_clear(cfg);
  return 0;
}

/* --------------------------------------------------------- functions */

/* corun.tls.connect(host, port[, opts]) -> connection, or nil, err */
static int l_connect(lua_State *L) {
  static const char fname[] = "corun.tls.connect";
  const char *host = corunL_checkcstring(L, fname, 1, "host", NULL);
  int port = corunL_checkport(L, fname, 2);
  corun_TlsOptions o;
  check_options(L, fname, 3, CONNECT, &o);
  corunL_waiter(L, fname);
  corunL_io_ready(L, fname);
  if (o.server_name == NULL)
    o.server_name = host;
  if (!push_config(L, &o))
    return 2;
  return corun__tls_connect(L, fname, host, port);
}

/* corun.tls.wrap(conn[, opts]) -> connection, or nil, err; 'conn' (a
   corun.net connection the running task owns) is consumed. */
static int l_wrap(lua_State *L) {
  static const char fname[] = "corun.tls.wrap";
  corun_Io **box = luaL_testudata(L, 1, CORUN_STREAM);
  corun_TlsOptions o;
  if (box == NULL)
    return corunL_typeerror(L, fname, 1, CORUN_STREAM);
  if (*box == NULL)
    return corunL_error(L, fname, "bad argument #1 (the connection is "
                        "closed)");
  check_options(L, fname, 2, WRAP, &o);
  corunL_waiter(L, fname);
  corunL_check_owner(L, NULL, (*box)->owner, 0, "connection");
  if (!push_config(L, &o))
    return 2;
  return corun__tls_wrap(L, fname, 1);
}

/* opts.handshake_timeout of tls.listen, in milliseconds (default 10 s). */
static unsigned handshake_timeout(lua_State *L, const char *fname) {
  lua_Number s = 10;
  int t = lua_getfield(L, 3, "handshake_timeout");
  if (t != LUA_TNIL) {
    s = lua_tonumber(L, -1);
    if (t != LUA_TNUMBER || !(s > 0 && s <= 86400))
      corunL_error(L, fname, "bad argument #3 (opts.handshake_timeout "
                   "must be a number of seconds in (0, 86400], got %s)",
                   luaL_tolstring(L, -1, NULL));
  }
  lua_pop(L, 1);
  return s * 1000 < 1 ? 1 : (unsigned)(s * 1000);
}

/* corun.tls.listen(host, port, opts) -> server, or nil, err */
static int l_listen(lua_State *L) {
  static const char fname[] = "corun.tls.listen";
  const char *host = corunL_checkcstring(L, fname, 1, "host", NULL);
  int port = corunL_checkport(L, fname, 2);
  corun_TlsOptions o;
  corun_Task *self;
  unsigned ms;
  check_options(L, fname, 3, LISTEN, &o);
  ms = handshake_timeout(L, fname);
  self = corunL_task(L, fname);
  corunL_io_ready(L, fname);
  if (!push_config(L, &o))
    return 2;
  return corun__tls_listen(L, fname, self, host, port, ms);
}

/* ----------------------------------------------------------- methods */

static int t_read(lua_State *L) {
  return corunL_stream_read(L, CORUN_TLS, "tls:read");
}

static int t_read_line(lua_State *L) {
  return corunL_stream_read_line(L, CORUN_TLS, "tls:read_line");
}

static int t_write(lua_State *L) {
  return corunL_stream_write(L, CORUN_TLS, "tls:write");
}

static int t_shutdown(lua_State *L) {
  return corunL_stream_shutdown(L, CORUN_TLS, "tls:shutdown");
}

static int t_close(lua_State *L) {
  return corunL_stream_close(L, CORUN_TLS, "tls:close");
}

static int t_peer(lua_State *L) {
  return corunL_stream_peer(L, CORUN_TLS, "tls:peer");
}

static int t_address(lua_State *L) {
  return corunL_stream_address(L, CORUN_TLS, "tls:address");
}

/* Method self: the open TLS connection the running task may use. */
static corun_Stream *check(lua_State *L, const char *fname) {
  return (corun_Stream *)corunL_io_check(L, fname, CORUN_TLS,
                                         "connection");
}

/* tls:alpn() -> the protocol the handshake chose, or nil */
static int t_alpn(lua_State *L) {
  corun_Stream *s = check(L, "tls:alpn");
  return corun__tls_alpn(L, "tls:alpn", s);
}

/* tls:peer_certificate() -> {subject, issuer, not_after, sha256}, or
   nil */
static int t_peer_certificate(lua_State *L) {
  corun_Stream *s = check(L, "tls:peer_certificate");
  return corun__tls_peer_certificate(L, "tls:peer_certificate", s);
}

static int t_tostring(lua_State *L) {
  corun_Stream *s = (corun_Stream *)corunL_io_peek(L, "tls:__tostring",
                                                   CORUN_TLS);
  if (s == NULL) {
    lua_pushliteral(L, "corun.TLSConnection (closed)");
    return 1;
  }
  /* no ownership check: any task may print it */
  return corun__tls_tostring(L, "tls:__tostring", s);
}

/* -------------------------------------------------------------- open */

static const luaL_Reg methods[] = {
  {"read", t_read}, {"read_line", t_read_line}, {"write", t_write},
  {"shutdown", t_shutdown}, {"close", t_close}, {"peer", t_peer},
  {"address", t_address}, {"alpn", t_alpn},
  {"peer_certificate", t_peer_certificate}, {NULL, NULL}
};

static const luaL_Reg meta[] = {{"__tostring", t_tostring}, {NULL, NULL}};

static const luaL_Reg no_methods[] = {{NULL, NULL}};

static const luaL_Reg config_meta[] = {{"__gc", config_gc}, {NULL, NULL}};

static const luaL_Reg functions[] = {
  {"connect", l_connect}, {"wrap", l_wrap}, {"listen", l_listen},
  {NULL, NULL}
};

void corunL_open_tls(lua_State *L) {
  corun__state(L);                  /* module state */
  corunL_io_newclass(L, CORUN_TLS, methods, meta);
  corunL_newclass(L, CORUN_TLS_CONFIG, no_methods, config_meta);
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, functions, 1);
  lua_setfield(L, -3, "tls");
  lua_pop(L, 1);
}
