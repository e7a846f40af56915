/*
** net.c - the Lua side of corun.net (connect, listen, connect_unix,
** listen_unix), the class corun.Server and corun.dns.resolve: checks the
** arguments and calls io/tcp.c (TCP and Unix-domain sockets), where the
** requests, the server and its accepts live.
*/
#include <lauxlib.h>
#include "corunio.h"
#include "../io/tcp.h"

/* corun.net.connect(host, port) -> connection, or nil, err */
static int l_connect(lua_State *L) {
  const char *host = corunL_checkcstring(L, "corun.net.connect", 1,
                                          "host", NULL);
  int port = corunL_checkport(L, "corun.net.connect", 2);
  corunL_waiter(L, "corun.net.connect");
  return corun__tcp_connect(L, "corun.net.connect", host, port, NULL);
}

/* The backlog at 'arg': 1..65535, 511 if absent. */
static int check_backlog(lua_State *L, const char *fname, int arg) {
  lua_Integer backlog = 511;
  if (!lua_isnoneornil(L, arg)) {
    if (!lua_isinteger(L, arg))
      return corunL_typeerror(L, fname, arg, "integer");
    backlog = lua_tointeger(L, arg);
  }
  if (backlog < 1 || backlog > 65535)
    return corunL_error(L, fname, "bad argument #%d (backlog must be "
                        "1..65535, got %I)", arg, (LUAI_UACINT)backlog);
  return (int)backlog;
}

/* corun.net.listen(host, port[, backlog]) -> server, or nil, err */
static int l_listen(lua_State *L) {
  const char *host = corunL_checkcstring(L, "corun.net.listen", 1,
                                          "host", NULL);
  int port = corunL_checkport(L, "corun.net.listen", 2);
  int backlog = check_backlog(L, "corun.net.listen", 3);
  corun_Task *self = corunL_task(L, "corun.net.listen");
  corunL_io_ready(L, "corun.net.listen");
  return corun__tcp_listen(L, "corun.net.listen", self, host, port,
                           backlog, NULL);
}

/* corun.net.connect_unix(path) -> connection, or nil, err */
static int l_connect_unix(lua_State *L) {
  static const char fname[] = "corun.net.connect_unix";
  const char *path = corunL_checkcstring(L, fname, 1, "path", NULL);
  corunL_waiter(L, fname);
  return corun__unix_connect(L, fname, path);
}

/* corun.net.listen_unix(path[, backlog]) -> server, or nil, err */
static int l_listen_unix(lua_State *L) {
  static const char fname[] = "corun.net.listen_unix";
  const char *path = corunL_checkcstring(L, fname, 1, "path", NULL);
  int backlog = check_backlog(L, fname, 2);
  corun_Task *self = corunL_task(L, fname);
  corunL_io_ready(L, fname);
  return corun__unix_listen(L, fname, self, path, backlog);
}

/* corun.dns.resolve(host) -> { "1.2.3.4", ... }, or nil, err */
static int l_resolve(lua_State *L) {
  const char *host = corunL_checkcstring(L, "corun.dns.resolve", 1,
                                          "host", NULL);
  corunL_waiter(L, "corun.dns.resolve");
  return corun__tcp_resolve(L, "corun.dns.resolve", host);
}

/* ------------------------------------------------------------ server */

/* Method self: the open server the running task may use. */
static corun_Server *check(lua_State *L, const char *fname) {
  return (corun_Server *)corunL_io_check(L, fname, CORUN_SERVER, "server");
}

/* server:accept() -> connection, or nil, err; waits for one. */
static int sv_accept(lua_State *L) {
  corun_Server *sv = check(L, "server:accept");
  return corun__tcp_accept(L, "server:accept", sv);
}

/* server:address() -> host, port, or nil, err */
static int sv_address(lua_State *L) {
  corun_Server *sv = check(L, "server:address");
  return corun__tcp_server_address(L, "server:address", sv);
}

static int sv_close(lua_State *L) {
  corun_Io *io = corunL_io_peek(L, "server:close", CORUN_SERVER);
  if (io != NULL) {
    check(L, "server:close");
    corun__io_close(io, 0);
  }
  return 0;
}

static int sv_tostring(lua_State *L) {
  corun_Server *sv = (corun_Server *)corunL_io_peek(L, "server:__tostring",
                                                    CORUN_SERVER);
  if (sv == NULL) {
    lua_pushliteral(L, "corun.Server (closed)");
    return 1;
  }
  /* no ownership check: any task may print it */
  return corun__tcp_server_tostring(L, "server:__tostring", sv);
}

/* -------------------------------------------------------------- open */

static const luaL_Reg server_methods[] = {
  {"accept", sv_accept}, {"address", sv_address}, {"close", sv_close},
  {NULL, NULL}
};

static const luaL_Reg server_meta[] = {
  {"__tostring", sv_tostring}, {NULL, NULL}
};

static const luaL_Reg net_functions[] = {
  {"connect", l_connect}, {"listen", l_listen},
  {"connect_unix", l_connect_unix}, {"listen_unix", l_listen_unix},
  {NULL, NULL}
};

static const luaL_Reg dns_functions[] = {
  {"resolve", l_resolve}, {NULL, NULL}
};

void corunL_open_net(lua_State *L) {
  corun__state(L);                  /* module state */
  corunL_io_newclass(L, CORUN_SERVER, server_methods, server_meta);
  lua_newtable(L);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, net_functions, 1);
  lua_setfield(L, -3, "net");
  lua_newtable(L);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, dns_functions, 1);
  lua_setfield(L, -3, "dns");
  lua_pop(L, 1);
}
