/*
** stream.c - the Lua class corun.Stream (a connection or a pipe): checks
** each method's arguments and calls the stream's operation in
** io/stream.c, where the buffers, backpressure and close live.  The
** methods' bodies serve every class of stream (a TLS connection too: its
** class and method names are given).
*/
#include <lauxlib.h>
#include "corunio.h"
#include "../io/stream.h"

/* Method self: the open stream of class 'tname' the running task may
   use. */
static corun_Stream *check(lua_State *L, const char *tname,
                           const char *fname) {
  return (corun_Stream *)corunL_io_check(L, fname, tname, "connection");
}

/* read([want]) -> bytes, or nil at the end, or nil, err */
int corunL_stream_read(lua_State *L, const char *tname, const char *fname) {
  corun_Stream *s = check(L, tname, fname);
  lua_Integer want;
  if (lua_isnoneornil(L, 2))
    want = LUA_MAXINTEGER;
  else if (!lua_isinteger(L, 2))
    return corunL_typeerror(L, fname, 2, "integer");
  else
    want = lua_tointeger(L, 2);
  if (want < 1)
    return corunL_error(L, fname, "bad argument #2 (at least 1 byte, got "
                        "%I)", (LUAI_UACINT)want);
  return corun__stream_read(L, fname, s, want);
}

/* read_line() -> line, or nil at the end, or nil, err */
int corunL_stream_read_line(lua_State *L, const char *tname,
                            const char *fname) {
  corun_Stream *s = check(L, tname, fname);
  return corun__stream_read_line(L, fname, s);
}

/* write(data) -> true, or nil, err */
int corunL_stream_write(lua_State *L, const char *tname, const char *fname) {
  corun_Stream *s = check(L, tname, fname);
  size_t len;
  const char *data = corunL_checkstring(L, fname, 2, &len);
  return corun__stream_write(L, fname, s, data, len);
}

/* shutdown() -> true, or nil, err */
int corunL_stream_shutdown(lua_State *L, const char *tname,
                           const char *fname) {
  corun_Stream *s = check(L, tname, fname);
  corunL_waiter(L, fname);  /* before anything is done */
  return corun__stream_shutdown(L, fname, s);
}

int corunL_stream_close(lua_State *L, const char *tname, const char *fname) {
  corun_Io *io = corunL_io_peek(L, fname, tname);
  if (io != NULL) {
    check(L, tname, fname);
    corun__io_close(io, 0);
  }
  return 0;
}

/* peer(), address() -> host, port, or nil, err */
int corunL_stream_peer(lua_State *L, const char *tname, const char *fname) {
  corun_Stream *s = check(L, tname, fname);
  return corun__stream_peer(L, fname, s);
}

int corunL_stream_address(lua_State *L, const char *tname,
                          const char *fname) {
  corun_Stream *s = check(L, tname, fname);
  return corun__stream_address(L, fname, s);
}

/* ------------------------------------------------------ corun.Stream */

static int s_read(lua_State *L) {
  return corunL_stream_read(L, CORUN_STREAM, "connection:read");
}

static int s_read_line(lua_State *L) {
  return corunL_stream_read_line(L, CORUN_STREAM, "connection:read_line");
}

static int s_write(lua_State *L) {
  return corunL_stream_write(L, CORUN_STREAM, "connection:write");
}

static int s_shutdown(lua_State *L) {
  return corunL_stream_shutdown(L, CORUN_STREAM, "connection:shutdown");
}

static int s_close(lua_State *L) {
  return corunL_stream_close(L, CORUN_STREAM, "connection:close");
}

static int s_peer(lua_State *L) {
  return corunL_stream_peer(L, CORUN_STREAM, "connection:peer");
}

static int s_address(lua_State *L) {
  return corunL_stream_address(L, CORUN_STREAM, "connection:address");
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
