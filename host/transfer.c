/*
** transfer.c - copying values across task boundaries.
**
** One walk serves every crossing (spawn arguments, results, error values).
** Scalars pass as they are (strings are immutable, so sharing one is a
** copy); tables are deep-copied with an identity map, so cycles and shared
** sub-tables keep their shape within one crossing; metatables travel by
** reference.  Everything else is refused with an error that names where the
** value sat: "corun.spawn: cannot move a coroutine into a task (argument 2,
** field 'a.b[3]')".
*/
#include <ctype.h>
#include <string.h>
#include <lauxlib.h>
#include "transfer.h"

static void copy_value(lua_State *L, int idx, corun_Crossing *c);

/* Is 'key' a plain identifier, so that it can be shown as '.key'? */
static int is_name(const char *s, size_t len) {
  size_t i;
  if (len == 0 || isdigit((unsigned char)s[0]))
    return 0;
  for (i = 0; i < len; i++)
    if (!(s[i] == '_' || isalnum((unsigned char)s[i])))
      return 0;
  return 1;
}

/* Push "argument 2, field 'a.b[3]'": where the walk is now. */
static void push_place(lua_State *L, const corun_Crossing *c) {
  luaL_Buffer b;
  int i, n = c->depth < CORUN_TRANSFER_MAXPATH ? c->depth
                                               : CORUN_TRANSFER_MAXPATH;
  luaL_buffinit(L, &b);
  lua_pushfstring(L, "%s %d", c->what, c->index);
  luaL_addvalue(&b);
  if (n > 0)
    luaL_addstring(&b, ", field '");
  for (i = 0; i < n; i++) {
    int k = c->keys[i];
    size_t len;
    if (lua_type(L, k) == LUA_TSTRING) {
      const char *s = lua_tolstring(L, k, &len);
      if (is_name(s, len)) {
        if (i > 0) luaL_addchar(&b, '.');
        luaL_addlstring(&b, s, len);
      }
      else {
        lua_pushfstring(L, "[\"%s\"]", s);
        luaL_addvalue(&b);
      }
    }
    else if (lua_isinteger(L, k)) {
      lua_pushfstring(L, "[%I]", (LUAI_UACINT)lua_tointeger(L, k));
      luaL_addvalue(&b);
    }
    else {
      lua_pushfstring(L, "[%s]", luaL_typename(L, k));
      luaL_addvalue(&b);
    }
  }
  if (c->depth > CORUN_TRANSFER_MAXPATH)
    luaL_addstring(&b, "...");
  if (n > 0)
    luaL_addchar(&b, '\'');
  luaL_pushresult(&b);
}

/* Raise "site: cannot move <kind> into a task (<place>)".  No position
   is added: the message starts with the function name. */
static int refuse(lua_State *L, corun_Crossing *c, const char *kind) {
  push_place(L, c);
  lua_pushfstring(L, "%s: cannot move %s %s (%s)", c->site, kind,
                  c->direction, lua_tostring(L, -1));
  return lua_error(L);
}

/* The words that name a refused value: "a coroutine", "a FILE*". */
static const char *kind_of(lua_State *L, int idx) {
  switch (lua_type(L, idx)) {
    case LUA_TTHREAD: return "a coroutine";
    case LUA_TFUNCTION: return "a function";
    case LUA_TLIGHTUSERDATA: return "a light userdata";
    case LUA_TUSERDATA: {
      const char *name = NULL;
      if (luaL_getmetafield(L, idx, "__name") == LUA_TSTRING)
        name = lua_pushfstring(L, "a %s", lua_tostring(L, -1));
      return name ? name : "a userdata";
    }
    default: return lua_pushfstring(L, "a %s", luaL_typename(L, idx));
  }
}

static void copy_table(lua_State *L, int idx, corun_Crossing *c) {
  int copy;
  if (c->depth >= CORUN_TRANSFER_MAXDEPTH) {
    refuse(L, c, lua_pushfstring(L, "a table nested deeper than %d levels",
                                 CORUN_TRANSFER_MAXDEPTH));
  }
  luaL_checkstack(L, 6, "value too deep to copy");
  lua_pushvalue(L, idx);
  if (lua_rawget(L, c->visited) != LUA_TNIL)  /* seen in this crossing */
    return;
  lua_pop(L, 1);
  lua_createtable(L, (int)lua_rawlen(L, idx), 0);
  copy = lua_gettop(L);
  lua_pushvalue(L, idx);
  lua_pushvalue(L, copy);
  lua_rawset(L, c->visited);  /* visited[original] = copy */
  lua_pushnil(L);
  while (lua_next(L, idx)) {  /* ... copy key value */
    int key = lua_gettop(L) - 1;
    if (c->depth < CORUN_TRANSFER_MAXPATH)
      c->keys[c->depth] = key;
    c->depth++;
    copy_value(L, key, c);       /* ... key value key' */
    copy_value(L, key + 1, c);   /* ... key value key' value' */
    c->depth--;
    lua_rawset(L, copy);         /* ... key value */
    lua_pop(L, 1);               /* ... key */
  }
  if (lua_getmetatable(L, idx))  /* metatables travel by reference */
    lua_setmetatable(L, copy);
}

static void copy_value(lua_State *L, int idx, corun_Crossing *c) {
  switch (lua_type(L, idx)) {
    case LUA_TNIL: case LUA_TBOOLEAN: case LUA_TNUMBER: case LUA_TSTRING:
      lua_pushvalue(L, idx);
      break;
    case LUA_TTABLE:
      copy_table(L, idx, c);
      break;
    default:
      refuse(L, c, kind_of(L, idx));
  }
}

/*
** Push a copy of the value at 'idx' of L.  Raises (with the message
** described above) if the value, or anything inside it, cannot cross.
*/
void corun__transfer_push(lua_State *L, int idx, corun_Crossing *c) {
  idx = lua_absindex(L, idx);
  c->depth = 0;
  if (lua_type(L, idx) != LUA_TTABLE) {
    copy_value(L, idx, c);
    return;
  }
  lua_newtable(L);  /* identity map of this crossing */
  c->visited = lua_gettop(L);
  copy_table(L, idx, c);
  lua_remove(L, c->visited);
  c->visited = 0;
}

/* Do any of the 'n' values from 'first' need a walk (not plain scalars)? */
int corun__transfer_needed(lua_State *L, int first, int n) {
  int i;
  for (i = 0; i < n; i++) {
    int tt = lua_type(L, first + i);
    if (tt != LUA_TNIL && tt != LUA_TBOOLEAN && tt != LUA_TNUMBER &&
        tt != LUA_TSTRING)
      return 1;
  }
  return 0;
}
