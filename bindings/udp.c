/*
** udp.c - the Lua side of corun.net.udp and the class corun.UdpSocket:
** checks the arguments and calls io/udp.c, where the socket, its queue of
** datagrams and its waits live.
*/
#include <lauxlib.h>
#include "corunio.h"
#include "../io/udp.h"

/* corun.net.udp([host, port]) -> socket, or nil, err */
static int l_udp(lua_State *L) {
  static const char fname[] = "corun.net.udp";
  const char *host = NULL;
  int port = 0;
  corun_Task *self;
  if (!lua_isnoneornil(L, 1) || !lua_isnoneornil(L, 2)) {
    host = corunL_checkcstring(L, fname, 1, "host", NULL);
    port = corunL_checkport(L, fname, 2);
  }
  self = corunL_task(L, fname);
  corunL_io_ready(L, fname);
  return corun__udp_open(L, fname, self, host, port);
}

/* Method self: the open socket the running task may use. */
static corun_Udp *check(lua_State *L, const char *fname) {
  return (corun_Udp *)corunL_io_check(L, fname, CORUN_UDP, "socket");
}

/* udp:send_to(data, host, port) -> true, or nil, err */
static int u_send_to(lua_State *L) {
  static const char fname[] = "udp:send_to";
  corun_Udp *u = check(L, fname);
  size_t len;
  const char *data = corunL_checkstring(L, fname, 2, &len);
  const char *host = corunL_checkcstring(L, fname, 3, "host", NULL);
  int port = corunL_checkport(L, fname, 4);
  if (port == 0)
    return corunL_error(L, fname, "bad argument #4 (port must be "
                        "1..65535, got 0)");
  return corun__udp_send_to(L, fname, u, data, len, host, port);
}

/* udp:recv_from() -> data, host, port; or nil, err.  Waits. */
static int u_recv_from(lua_State *L) {
  static const char fname[] = "udp:recv_from";
  corun_Udp *u = check(L, fname);
  return corun__udp_recv_from(L, fname, u);
}

/* udp:address() -> host, port, or nil, err */
static int u_address(lua_State *L) {
  static const char fname[] = "udp:address";
  return corun__udp_address(L, fname, check(L, fname));
}

/* udp:close(); closing a closed socket does nothing. */
static int u_close(lua_State *L) {
  corun_Io *io = corunL_io_peek(L, "udp:close", CORUN_UDP);
  if (io != NULL) {
    check(L, "udp:close");
    corun__io_close(io, 0);
  }
  return 0;
}

static int u_tostring(lua_State *L) {
  corun_Io *io = corunL_io_peek(L, "udp:__tostring", CORUN_UDP);
  return corun__udp_tostring(L, (corun_Udp *)io);  /* any task may */
}

static const luaL_Reg methods[] = {
  {"send_to", u_send_to}, {"recv_from", u_recv_from},
  {"address", u_address}, {"close", u_close}, {NULL, NULL}
};

static const luaL_Reg meta[] = {{"__tostring", u_tostring}, {NULL, NULL}};

/* Adds corun.net.udp to the table corun.net (corunL_open_net made it). */
void corunL_open_udp(lua_State *L) {
  corun__state(L);
  corunL_io_newclass(L, CORUN_UDP, methods, meta);
  lua_getfield(L, -2, "net");
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, l_udp, 1);
  lua_setfield(L, -2, "udp");
  lua_pop(L, 2);
}
