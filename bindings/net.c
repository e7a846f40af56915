/*
** net.c - the Lua side of corun.net (connect, listen), the class
** corun.Server and corun.dns.resolve: checks the arguments and calls TCP
** in io/tcp.c, where the requests, the server and its accepts live.
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

/* corun.net.listen(host, port[, backlog]) -> server, or nil, err */
static int l_listen(lua_State *L) {
  const char *host = corunL_checkcstring(L, "corun.net.listen", 1,
                                          "host", NULL);
  int port = corunL_checkport(L, "corun.net.listen", 2);
  lua_Integer backlog = 511;
  corun_Task *self = corunL_task(L, "corun.net.listen");
  corunL_io_ready(L, "corun.net.listen");
  if (!lua_isnoneornil(L, 3)) {
    if (!lua_isinteger(L, 3))
      return corunL_typeerror(L, "corun.net.listen", 3, "integer");
    backlog = lua_tointeger(L, 3);
  }
  if (backlog < 1 || backlog > 65535)
    return corunL_error(L, "corun.net.listen", "bad argument #3 (backlog "
                        "must be 1..65535, got %I)", (LUAI_UACINT)backlog);
  return corun__tcp_listen(L, "corun.net.listen", self, host, port,
                           (int)backlog, NULL);
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
  {"connect", l_connect}, {"listen", l_listen}, {NULL, NULL}
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
