/*
** stream.c - the Lua class corun.Stream (a connection or a pipe): checks
** each method's arguments and calls the stream's operation in
** io/stream.c, where the buffers, backpressure and close live.
*/
#include <lauxlib.h>
#include "corunio.h"
#include "../io/stream.h"

/* Method self: the open stream the running task may use. */
static corun_Stream *check(lua_State *L, const char *fname) {
  return (corun_Stream *)corunL_io_check(L, fname, CORUN_STREAM,
                                         "connection");
}

/* connection:read([want]) -> bytes, or nil at the end, or nil, err */
static int s_read(lua_State *L) {
  corun_Stream *s = check(L, "connection:read");
  lua_Integer want;
  if (lua_isnoneornil(L, 2))
    want = LUA_MAXINTEGER;
  else if (!lua_isinteger(L, 2))
    return corunL_typeerror(L, "connection:read", 2, "integer");
  else
    want = lua_tointeger(L, 2);
  if (want < 1)
    return corunL_error(L, "connection:read", "bad argument #2 (at least "
                        "1 byte, got %I)", (LUAI_UACINT)want);
  return corun__stream_read(L, "connection:read", s, want);
}

/* connection:read_line() -> line, or nil at the end, or nil, err */
static int s_read_line(lua_State *L) {
  corun_Stream *s = check(L, "connection:read_line");
  return corun__stream_read_line(L, "connection:read_line", s);
}

/* connection:write(data) -> true, or nil, err */
static int s_write(lua_State *L) {
  corun_Stream *s = check(L, "connection:write");
  size_t len;
  const char *data = corunL_checkstring(L, "connection:write", 2, &len);
  return corun__stream_write(L, "connection:write", s, data, len);
}

/* connection:shutdown() -> true, or nil, err */
static int s_shutdown(lua_State *L) {
  corun_Stream *s = check(L, "connection:shutdown");
  corunL_waiter(L, "connection:shutdown");  /* before anything is done */
  return corun__stream_shutdown(L, "connection:shutdown", s);
}

static int s_close(lua_State *L) {
  corun_Io *io = corunL_io_peek(L, "connection:close", CORUN_STREAM);
  if (io != NULL) {
    check(L, "connection:close");
    corun__io_close(io, 0);
  }
  return 0;
}

/* connection:peer(), connection:address() -> host, port, or nil, err */
static int s_peer(lua_State *L) {
  corun_Stream *s = check(L, "connection:peer");
  return corun__stream_peer(L, "connection:peer", s);
}

static int s_address(lua_State *L) {
  corun_Stream *s = check(L, "connection:address");
  return corun__stream_address(L, "connection:address", s);
}

static int s_tostring(lua_State *L) {
  corun_Stream *s = (corun_Stream *)corunL_io_peek(L, "connection:__tostring",
                                                   CORUN_STREAM);
  if (s == NULL) {
    lua_pushliteral(L, "corun.Stream (closed)");
    return 1;
  }
  return corun__stream_tostring(L, "connection:__tostring", s);
}

static const luaL_Reg methods[] = {
  {"read", s_read}, {"read_line", s_read_line}, {"write", s_write},
  {"shutdown", s_shutdown}, {"close", s_close}, {"peer", s_peer},
  {"address", s_address}, {NULL, NULL}
};

static const luaL_Reg meta[] = {{"__tostring", s_tostring}, {NULL, NULL}};

void corunL_open_stream(lua_State *L) {
  corun__state(L);
  corunL_io_newclass(L, CORUN_STREAM, methods, meta);
  lua_pop(L, 1);
}
