/*
** transfer.c - moving values across task boundaries (API.md, Ownership).
**
** One walk serves every crossing.  Per kind of value:
**   nil, booleans, numbers, strings   pass as they are (immutable)
**   the global table, modules         by identity (values of package.loaded)
**   C functions                       by identity
**   tables                            deep copy; metatables by reference
**   Lua functions                     by identity when every upvalue holds an
**                                     identity value ("plain"); otherwise a
**                                     closure with its own cells, holding
**                                     copies of the upvalues
**   corun's objects                   as their class says (corun_Class):
**                                     shared by identity; moved by
**                                     identity, the receiving task
**                                     becoming the owner (only the owner
**                                     may move it); or copied
**   userdata whose metatable says     __corun = "share": by identity
**                                     __corun = "move": by identity, and the
**                                     receiving task becomes its owner
**   coroutines, other userdata        refused, naming where they were
** A crossing whose copy is handed out again and again (share_only: the
** values of broadcast and watch channels) refuses what moves too.
**
** Every walk is bounded: tables and functions nest at most
** CORUN_TRANSFER_MAXDEPTH deep in a copy (deeper is refused with the
** path), and a function's upvalues are looked into at most that deep to
** find whether it is plain (deeper, it is taken as not plain, so copied,
** within the same limit).  Tables are looked at with raw accesses only,
** so no metamethod of the user's runs during a crossing.
**
** Cells.  A closure gets its own upvalue cells through lua_upvaluejoin
** onto "cell closures" (function() return v end, one fresh cell each).
** Two closures that shared a cell share its copy.  A function found
** inside a value gets a fresh closure (lua_load of its cached lua_dump),
** so the spawner's function keeps its cells.  The spawned function itself
** is moved, as with async move: the same closure, with its data cells
** pointed at copies, and copies taken from "origin" cell closures that keep
** the spawner's cells.  Only when a live task already owns that closure
** does the new task get a fresh one, so spawning a named function in a loop
** loads bytecode only while earlier tasks of it still run.
**
** The walk only pushes, reads and joins; the identity map of a crossing is
** one Lua table on the stack (index c->map), also holding the set of
** module values, the values to move and the spawned closure, under keys
** that are addresses of statics.
*/
#include <ctype.h>
#include <string.h>
#include <lauxlib.h>
#include "runtime.h"
#include "task.h"
#include "transfer.h"

static const char moves_key = 0;    /* map: array of values to move */
static const char spawned_key = 0;  /* map: the spawned function's closure */
static const char plain_mark = 0;   /* map value: a plain function */
static const char busy_mark = 0;    /* map value: being classified */

enum { KIND_REFUSE, KIND_SHARE, KIND_MOVE, KIND_COPY };

static void copy_value(lua_State *L, int idx, corun_Crossing *c);

/* ---------------------------------------------------------------------
** Messages
** --------------------------------------------------------------------- */

/* Is 's' a plain identifier, so that it can be shown as '.s'? */
static int is_name(const char *s, size_t len) {
  size_t i;
  if (len == 0 || isdigit((unsigned char)s[0]))
    return 0;
  for (i = 0; i < len; i++)
    if (!(s[i] == '_' || isalnum((unsigned char)s[i])))
      return 0;
  return 1;
}

static void add_key(lua_State *L, luaL_Buffer *b, int k, int first) {
  size_t len;
  if (lua_type(L, k) == LUA_TSTRING) {
    const char *s = lua_tolstring(L, k, &len);
    if (is_name(s, len)) {
      if (!first)
        luaL_addchar(b, '.');
      luaL_addlstring(b, s, len);
      return;
    }
    lua_pushfstring(L, "[\"%s\"]", s);
  }
  else if (lua_isinteger(L, k))
    lua_pushfstring(L, "[%I]", (LUAI_UACINT)lua_tointeger(L, k));
  else
    lua_pushfstring(L, "[%s]", luaL_typename(L, k));
  luaL_addvalue(b);
}

/* Push where the walk is: "argument 2, field 'a.b[3]', upvalue 'co'". */
static void push_place(lua_State *L, const corun_Crossing *c) {
  luaL_Buffer b;
  int i, n = c->depth < CORUN_TRANSFER_MAXPATH ? c->depth
                                               : CORUN_TRANSFER_MAXPATH;
  int in_field = 0, empty = 1;
  luaL_buffinit(L, &b);
  if (c->what != NULL) {
    lua_pushfstring(L, "%s %d", c->what, c->index);
    luaL_addvalue(&b);
    empty = 0;
  }
  for (i = 0; i < n; i++) {
    const corun_PathStep *step = &c->path[i];
    if (step->key != 0) {
      if (!in_field)
        luaL_addstring(&b, empty ? "field '" : ", field '");
      add_key(L, &b, step->key, !in_field);
      in_field = 1;
    }
    else if (step->part != NULL) {
      if (in_field)
        luaL_addchar(&b, '\'');
      if (!empty)
        luaL_addstring(&b, ", ");
      luaL_addstring(&b, step->part);
      in_field = 0;
    }
    else {
      if (in_field)
        luaL_addchar(&b, '\'');
      luaL_addstring(&b, empty ? "upvalue '" : ", upvalue '");
      luaL_addstring(&b, step->upvalue);
      luaL_addchar(&b, '\'');
      in_field = 0;
    }
    empty = 0;
  }
  if (c->depth > CORUN_TRANSFER_MAXPATH)
    luaL_addstring(&b, "...");
  if (in_field)
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
    case LUA_TLIGHTUSERDATA: return "a light userdata";
    case LUA_TUSERDATA:
      if (luaL_getmetafield(L, idx, "__name") == LUA_TSTRING)
        return lua_pushfstring(L, "a %s", lua_tostring(L, -1));
      return "a userdata";
    default: return lua_pushfstring(L, "a %s", luaL_typename(L, idx));
  }
}

/* Upvalue names are empty in stripped functions. */
static const char *upvalue_name(const char *name) {
  return name != NULL && name[0] != '\0' ? name : "?";
}

/* Go one level deeper into a value: by table key 'key' (a stack index),
   upvalue 'upvalue' or part 'part' (see corun_PathStep); refused past the
   nesting limit. */
static void enter_step(lua_State *L, corun_Crossing *c, int key,
                       const char *upvalue, const char *part) {
  if (c->depth >= CORUN_TRANSFER_MAXDEPTH)
    refuse(L, c, lua_pushfstring(L, "a value nested deeper than %d levels",
                                 CORUN_TRANSFER_MAXDEPTH));
  if (c->depth < CORUN_TRANSFER_MAXPATH) {
    c->path[c->depth].key = key;
    c->path[c->depth].upvalue = upvalue;
    c->path[c->depth].part = part;
  }
  c->depth++;
}

static void enter(lua_State *L, corun_Crossing *c, int key,
                  const char *upvalue) {
  enter_step(L, c, key, upvalue, NULL);
}

/* ---------------------------------------------------------------------
** Caches kept per Lua state: bytecode of copied functions, origins of
** moved ones, the task owning each moved closure, the cell maker.
** --------------------------------------------------------------------- */

/* Registry keys of the caches. */
static const char bytecode_key = 0;  /* function -> its lua_dump */
static const char origin_key = 0;    /* function -> {[i] = cell closure} */
static const char owner_key = 0;     /* closure -> task userdata */
static const char cell_key = 0;      /* the cell maker (a Lua function) */

/* Push the cache under registry key 'key': a weak table ('mode'), made on
   first use. */
static void push_cache(lua_State *L, const char *key, const char *mode) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) != LUA_TNIL)
    return;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushstring(L, mode);
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

/* Push a closure whose upvalue 1 is a new cell (holding nil).  Most of
   its cost is allocating the closure and its upvalue. */
static void make_cell(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &cell_key) != LUA_TFUNCTION) {
    lua_pop(L, 1);
    if (luaL_loadstring(L, "local v return function() return v end")
        != LUA_OK)
      lua_error(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &cell_key);
  }
  lua_call(L, 0, 1);
}

typedef struct DumpState {
  luaL_Buffer b;          /* the bytecode */
  int started;            /* b initialised (after lua_dump read the function) */
} DumpState;

static int dump_writer(lua_State *L, const void *p, size_t size, void *ud) {
  DumpState *d = ud;
  if (!d->started) {
    luaL_buffinit(L, &d->b);
    d->started = 1;
  }
  luaL_addlstring(&d->b, p, size);
  return 0;
}

/* Push a new closure of the Lua function at 'idx' (its own prototype
   copy, upvalues not yet set), from its bytecode, dumped once. */
static void push_fresh_closure(lua_State *L, int idx) {
  size_t len;
  const char *code;
  push_cache(L, &bytecode_key, "k");
  lua_pushvalue(L, idx);
  if (lua_rawget(L, -2) != LUA_TSTRING) {  /* cache bytecode */
    DumpState d;
    lua_pop(L, 1);
    d.started = 0;
    lua_pushvalue(L, idx);
    lua_dump(L, dump_writer, &d, 0);  /* debug information kept */
    if (!d.started)
      luaL_buffinit(L, &d.b);
    luaL_pushresult(&d.b);            /* ... cache f code */
    lua_remove(L, -2);
    lua_pushvalue(L, idx);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
  }
  code = lua_tolstring(L, -1, &len);
  if (luaL_loadbufferx(L, code, len, "=?", "b") != LUA_OK)
    lua_error(L);
  lua_replace(L, -3);
  lua_pop(L, 1);
}

/* ---------------------------------------------------------------------
** Classification
** --------------------------------------------------------------------- */

/* What a userdata's metatable says about crossing (a userdata that is
   not one of corun's objects: those have a corun_Class). */
static int userdata_kind(lua_State *L, int idx) {
  int kind = KIND_REFUSE, tt = luaL_getmetafield(L, idx, "__corun");
  if (tt == LUA_TNIL)
    return kind;
  if (tt == LUA_TSTRING) {
    const char *s = lua_tostring(L, -1);
    kind = strcmp(s, "share") == 0 ? KIND_SHARE
           : strcmp(s, "move") == 0 ? KIND_MOVE : KIND_REFUSE;
  }
  lua_pop(L, 1);
  return kind;
}

static const char modules_of_key = 0;  /* registry: module value -> name */
static const char loaded_key = 0;      /* registry: package.loaded */

/* Make the reverse map of package.loaded (weak keys: value -> name). */
static void map_modules(lua_State *L, corun_State *st) {
  lua_createtable(L, 0, 64);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushnil(L);
  while (lua_next(L, -2)) {  /* ... map loaded name value */
    int tt = lua_type(L, -1);
    if (lua_type(L, -2) == LUA_TSTRING &&
        (tt == LUA_TTABLE || tt == LUA_TUSERDATA || tt == LUA_TFUNCTION)) {
      lua_pushvalue(L, -2);
      lua_rawset(L, -5);  /* map[value] = name */
    }
    else
      lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &modules_of_key);
  st->loaded_seen = st->loaded_adds >= 0 ? st->loaded_adds : -1;
}

/*
** Is the value at 'idx' a module: the value of package.loaded[name] for
** some name?  A reverse map answers, made again only when package.loaded
** has gained entries since (its __newindex counts them, see
** corun__transfer_watch_loaded); each answer is checked against
** package.loaded itself, so a module taken out of it is no longer one.
*/
static int is_module(lua_State *L, int idx, corun_State *st) {
  int found = 0;
  idx = lua_absindex(L, idx);
  if (st->loaded_seen != st->loaded_adds)
    map_modules(L, st);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &modules_of_key);
  lua_pushvalue(L, idx);
  if (lua_rawget(L, -2) == LUA_TSTRING) {  /* ... map name */
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_insert(L, -2);
    lua_rawget(L, -2);                     /* ... map loaded value */
    found = lua_rawequal(L, -1, idx);
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
  return found;
}

/* package.loaded's __newindex: store, and count the new entry.  It can
   be called by hand (getmetatable(package.loaded).__newindex): the table
   is checked. */
static int loaded_newindex(lua_State *L) {
  corun_State *st = lua_touserdata(L, lua_upvalueindex(1));
  if (lua_type(L, 1) != LUA_TTABLE)
    return luaL_error(L, "package.loaded.__newindex: bad argument #1 "
                      "(table expected, got %s)", luaL_typename(L, 1));
  lua_settop(L, 3);
  lua_rawset(L, 1);
  st->loaded_adds++;
  return 0;
}

/* Watch package.loaded for new entries (see is_module).  When it has a
   metatable of its own already, the reverse map is made for every
   question instead. */
void corun__transfer_watch_loaded(lua_State *L, corun_State *st) {
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &loaded_key);
  if (lua_getmetatable(L, -1)) {
    lua_pop(L, 2);
    st->loaded_adds = -2;  /* never equal to loaded_seen: no watching */
    return;
  }
  lua_createtable(L, 0, 1);
  lua_pushlightuserdata(L, st);
  lua_pushcclosure(L, loaded_newindex, 1);
  lua_setfield(L, -2, "__newindex");
  lua_setmetatable(L, -2);
  lua_pop(L, 1);
}

static int plain_fn(lua_State *L, int idx, corun_Crossing *c);

/*
** How the userdata at 'idx' crosses: KIND_SHARE, KIND_MOVE, KIND_COPY or
** KIND_REFUSE, as its class says ('*cls': one of corun's, see
** corun_Class) or else its __corun metafield ('*cls' NULL).  '*counts' is
** set for a shared value that counts its holders: it must be told of the
** crossing, as a moved one is.
*/
static int object_kind(lua_State *L, int idx, const corun_Class **cls,
                       int *counts) {
  int kind;
  *counts = 0;
  if ((*cls = corun__class_of(L, idx)) != NULL) {
    kind = (*cls)->move == CORUN_CLASS_MOVE ? KIND_MOVE
           : (*cls)->move == CORUN_CLASS_COPY ? KIND_COPY : KIND_SHARE;
    *counts = kind == KIND_SHARE && (*cls)->take != NULL;
    return kind;
  }
  kind = userdata_kind(L, idx);
  if (kind == KIND_SHARE &&
      luaL_getmetafield(L, idx, "__corun_take") != LUA_TNIL) {
    lua_pop(L, 1);
    *counts = 1;
  }
  return kind;
}

/* May an upvalue cell holding the value at 'idx' stay shared?  Only when
   the value passes by identity: the global table, modules, C functions,
   plain Lua functions, shared userdata. */
static int identity_value(lua_State *L, int idx, corun_Crossing *c) {
  const corun_Class *cls;
  int counts;
  switch (lua_type(L, idx)) {
    case LUA_TTABLE:
      return lua_topointer(L, idx) == c->globals || is_module(L, idx, c->st);
    case LUA_TFUNCTION:
      return lua_iscfunction(L, idx) || plain_fn(L, idx, c);
    case LUA_TUSERDATA:  /* a shared value that counts its holders must
                            go through the crossing to count this one */
      return object_kind(L, idx, &cls, &counts) == KIND_SHARE && !counts;
    default:
      return 0;
  }
}

/*
** Is the Lua function at 'idx' plain (all its upvalues identity values)?
** A function met again while being classified is assumed plain; a result
** that rests on such an assumption is not remembered.  Functions that
** hold each other in upvalues deeper than the nesting limit are taken as
** not plain: copying them then meets the limit (or finds their plain
** tail), so the walk stays bounded.
*/
static int plain_fn(lua_State *L, int idx, corun_Crossing *c) {
  int i, plain = 1, outer = c->assumed;
  const void *mark;
  idx = lua_absindex(L, idx);
  lua_pushvalue(L, idx);
  if (lua_rawget(L, c->map) == LUA_TFUNCTION) {  /* copied: not plain */
    lua_pop(L, 1);
    return 0;
  }
  mark = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (mark == &plain_mark)
    return 1;
  if (mark == &busy_mark) {
    c->assumed = 1;
    return 1;
  }
  if (c->classify >= CORUN_TRANSFER_MAXDEPTH)
    return 0;  /* nothing above it is remembered as plain */
  luaL_checkstack(L, 4, "value too deep to copy");
  c->classify++;
  lua_pushvalue(L, idx);
  lua_pushlightuserdata(L, (void *)&busy_mark);
  lua_rawset(L, c->map);
  c->assumed = 0;
  for (i = 1; plain && lua_getupvalue(L, idx, i) != NULL; i++) {
    plain = identity_value(L, -1, c);
    lua_pop(L, 1);
  }
  c->classify--;
  lua_pushvalue(L, idx);
  if (plain && !c->assumed)
    lua_pushlightuserdata(L, (void *)&plain_mark);
  else
    lua_pushnil(L);
  lua_rawset(L, c->map);
  c->assumed |= outer;
  return plain;
}

/* ---------------------------------------------------------------------
** Copying
** --------------------------------------------------------------------- */

/* The object at 'idx' of class 'cls' is to move: the task handing it
   over must own it (or nobody may); else refuse, saying who has it. */
static void check_mover(lua_State *L, int idx, const corun_Class *cls,
                        corun_Crossing *c) {
  lua_Integer owner;
  int moved;
  const char *kind;
  if (corun__class_movable(L, idx, cls, c->source, &owner, &moved))
    return;
  kind = kind_of(L, idx);
  push_place(L, c);
  lua_pushfstring(L, "%s: cannot move %s %s (%s): it %s task %I", c->site,
                  kind, c->direction, lua_tostring(L, -1),
                  moved ? "was moved to" : "belongs to", (LUAI_UACINT)owner);
  lua_error(L);
}

/* Record a value to move (or a shared value that counts its holders): its
   new owner is told at commit. */
static void add_move(lua_State *L, int idx, corun_Crossing *c) {
  lua_pushvalue(L, idx);
  if (lua_rawget(L, c->map) != LUA_TNIL) {  /* met already */
    lua_pop(L, 1);
    return;
  }
  lua_pop(L, 1);
  lua_pushvalue(L, idx);
  lua_pushboolean(L, 1);
  lua_rawset(L, c->map);
  if (lua_rawgetp(L, c->map, &moves_key) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, c->map, &moves_key);
  }
  lua_pushvalue(L, idx);
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  lua_pop(L, 1);
}

/* Borders up to this are taken as the size of a copy's array part. */
#define SMALL_BORDER 64

/*
** The size of the array part for a copy of the table at 'idx': its border
** (#t) if that is small, so that small tables are copied without a
** rehash; else 0, and the copy grows by its entries as they are set
** (Lua's rehash doubles it, a few instructions per entry).  A border says
** little of a table's size: {[1] = 1, [2] = 2, [4] = 4, ..., [2^30] = 30}
** has 31 entries and may have a border of 2^30; a copy must take memory
** in proportion to what it holds.  (Counting the entries first would cost
** a third of the copy.)
*/
static int array_size(lua_State *L, int idx) {
  lua_Unsigned n = lua_rawlen(L, idx);
  return n <= SMALL_BORDER ? (int)n : 0;
}

static void copy_table(lua_State *L, int idx, corun_Crossing *c) {
  int copy;
  lua_pushvalue(L, idx);
  if (lua_rawget(L, c->map) != LUA_TNIL)  /* seen in this crossing */
    return;
  lua_pop(L, 1);
  if (lua_topointer(L, idx) == c->globals || is_module(L, idx, c->st)) {
    lua_pushvalue(L, idx);  /* by identity */
    return;
  }
  luaL_checkstack(L, 6, "value too deep to copy");
  lua_createtable(L, array_size(L, idx), 0);
  copy = lua_gettop(L);
  lua_pushvalue(L, idx);
  lua_pushvalue(L, copy);
  lua_rawset(L, c->map);  /* map[original] = copy */
  lua_pushnil(L);
  while (lua_next(L, idx)) {  /* ... copy key value */
    int key = lua_gettop(L) - 1;
    enter(L, c, key, NULL);
    copy_value(L, key, c);       /* ... key value key' */
    copy_value(L, key + 1, c);   /* ... key value key' value' */
    c->depth--;
    lua_rawset(L, copy);         /* ... key value */
    lua_pop(L, 1);               /* ... key */
  }
  if (lua_getmetatable(L, idx))  /* metatables travel by reference */
    lua_setmetatable(L, copy);
}

/*
** Point upvalue 'ti' of closure 'tgt' at a new cell holding a copy of
** upvalue 'si' of function 'src' (named 'name' in errors).  Closures that
** shared a cell share its copy: the new cell is recorded before the value
** is copied, as the copy may lead back to another closure of that cell.
*/
static void join_copy(lua_State *L, int src, int si, int tgt, int ti,
                      const char *name, corun_Crossing *c) {
  lua_pushlightuserdata(L, lua_upvalueid(L, src, si));
  if (lua_rawget(L, c->map) == LUA_TNIL) {  /* first time: copy the cell */
    int cell;
    lua_pop(L, 1);
    make_cell(L);                          /* ... cell */
    cell = lua_gettop(L);
    lua_pushlightuserdata(L, lua_upvalueid(L, src, si));
    lua_pushvalue(L, cell);
    lua_rawset(L, c->map);
    lua_getupvalue(L, src, si);            /* ... cell v */
    enter(L, c, 0, name);
    copy_value(L, lua_gettop(L), c);       /* ... cell v v' */
    c->depth--;
    lua_remove(L, -2);
    lua_setupvalue(L, cell, 1);            /* ... cell */
  }
  lua_upvaluejoin(L, tgt, ti, lua_gettop(L), 1);
  lua_pop(L, 1);
}

/* A Lua function that is not plain, found inside a value or an upvalue:
   push a fresh closure with cells of its own. */
static void copy_function(lua_State *L, int idx, corun_Crossing *c) {
  int i, tgt;
  const char *name;
  lua_pushvalue(L, idx);
  if (lua_rawget(L, c->map) == LUA_TFUNCTION)  /* copied already */
    return;
  lua_pop(L, 1);
  luaL_checkstack(L, 6, "value too deep to copy");
  push_fresh_closure(L, idx);
  tgt = lua_gettop(L);
  lua_pushvalue(L, idx);
  lua_pushvalue(L, tgt);
  lua_rawset(L, c->map);  /* map[original] = copy, before the cycles */
  for (i = 1; (name = lua_getupvalue(L, idx, i)) != NULL; i++) {
    lua_pop(L, 1);  /* every cell is new; identity values stay identical */
    join_copy(L, idx, i, tgt, i, upvalue_name(name), c);
  }
}

/* A userdata of a class that crosses by copy (CORUN_CLASS_COPY): push a
   new one of the same class, its memory copied and its user values
   copied by the crossing. */
static void copy_userdata(lua_State *L, int idx, corun_Crossing *c) {
  size_t size = lua_rawlen(L, idx);
  int i, nuv = 0, copy, top = lua_gettop(L);
  const char *part;
  lua_pushvalue(L, idx);
  if (lua_rawget(L, c->map) != LUA_TNIL)  /* seen in this crossing */
    return;
  lua_pop(L, 1);
  luaL_checkstack(L, 8, "value too deep to copy");
  while (lua_getiuservalue(L, idx, nuv + 1) != LUA_TNONE) {
    lua_pop(L, 1);
    nuv++;
  }
  lua_pop(L, 1);
  part = lua_pushfstring(L, "in %s", kind_of(L, idx));  /* ... [name] part */
  memcpy(lua_newuserdatauv(L, size, nuv), lua_touserdata(L, idx), size);
  copy = lua_gettop(L);
  lua_getmetatable(L, idx);
  lua_setmetatable(L, copy);
  lua_pushvalue(L, idx);
  lua_pushvalue(L, copy);
  lua_rawset(L, c->map);  /* map[original] = copy */
  for (i = 1; i <= nuv; i++) {
    lua_getiuservalue(L, idx, i);
    enter_step(L, c, 0, NULL, part);
    copy_value(L, lua_gettop(L), c);
    c->depth--;
    lua_setiuservalue(L, copy, i);
    lua_pop(L, 1);
  }
  lua_replace(L, top + 1);  /* ... copy */
  lua_settop(L, top + 1);
}

/* A userdata: shared, moved or copied as its class says; else refused. */
static void copy_object(lua_State *L, int idx, corun_Crossing *c) {
  const corun_Class *cls;
  int counts;
  switch (object_kind(L, idx, &cls, &counts)) {
    case KIND_COPY:
      copy_userdata(L, idx, c);
      return;
    case KIND_MOVE:
      if (c->share_only)  /* it cannot go to several tasks */
        refuse(L, c, kind_of(L, idx));
      if (cls != NULL)  /* only its owner may hand it over */
        check_mover(L, idx, cls, c);
      add_move(L, idx, c);
      lua_pushvalue(L, idx);
      return;
    case KIND_SHARE:
      if (counts)  /* told of the crossing, as a move is */
        add_move(L, idx, c);
      lua_pushvalue(L, idx);
      return;
    default:
      refuse(L, c, kind_of(L, idx));
  }
}

static void copy_value(lua_State *L, int idx, corun_Crossing *c) {
  switch (lua_type(L, idx)) {
    case LUA_TNIL: case LUA_TBOOLEAN: case LUA_TNUMBER: case LUA_TSTRING:
      lua_pushvalue(L, idx);
      return;
    case LUA_TTABLE:
      copy_table(L, idx, c);
      return;
    case LUA_TFUNCTION:
      if (lua_iscfunction(L, idx) || plain_fn(L, idx, c))
        lua_pushvalue(L, idx);
      else
        copy_function(L, idx, c);
      return;
    case LUA_TUSERDATA:
      copy_object(L, idx, c);
      return;
    default:
      refuse(L, c, kind_of(L, idx));
  }
}

/* ---------------------------------------------------------------------
** Crossings
** --------------------------------------------------------------------- */

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

/* Is the value on top, in an upvalue named 'name', an identity value at a
   glance: the global table, a C function, a module (first tried under its
   name: local corun = require "corun"), or (if 'deep') a Lua function whose
   own upvalues are such values? */
static int plain_at_glance(lua_State *L, const char *name, corun_State *st,
                           const void *globals, int deep) {
  const void *p = lua_topointer(L, -1);
  if (p == globals)
    return 1;
  switch (lua_type(L, -1)) {
    case LUA_TTABLE: {
      int same;
      if (lua_rawgetp(L, LUA_REGISTRYINDEX, &loaded_key) == LUA_TTABLE) {
        lua_pushstring(L, name);  /* a cached string: cheap to find */
        lua_rawget(L, -2);        /* raw: no __index of the user's runs */
        same = lua_rawequal(L, -1, -3);
        lua_pop(L, 2);
      }
      else {
        lua_pop(L, 1);
        same = 0;
      }
      return same || is_module(L, -1, st);
    }
    case LUA_TFUNCTION: {
      int i, plain = 1, top = lua_gettop(L);
      if (lua_iscfunction(L, -1))
        return 1;
      if (!deep || !lua_checkstack(L, 8))
        return 0;
      const char *up;
      for (i = 1; plain && (up = lua_getupvalue(L, top, i)) != NULL; i++)
        plain = plain_at_glance(L, up, st, globals, 0);
      lua_settop(L, top);
      return plain;
    }
    default:
      return 0;
  }
}

/* Is the function at 'idx' plain at a glance (see plain_at_glance)?  Then
   spawning it needs no crossing: the fast path.  A "no" is not final:
   the crossing classifies it fully. */
int corun__transfer_plain_fn(lua_State *L, int idx, corun_State *st,
                             const void *globals) {
  int i, plain = 1, top = lua_gettop(L);
  const char *name;
  if (lua_iscfunction(L, idx))
    return 1;
  for (i = 1; plain && (name = lua_getupvalue(L, idx, i)) != NULL; i++) {
    plain = plain_at_glance(L, name, st, globals, 1);
    if (i % 8 == 0 && !lua_checkstack(L, 8))
      plain = 0;
  }
  lua_settop(L, top);
  return plain;
}

/* Start a crossing: push its identity map. */
void corun__transfer_begin(lua_State *L, corun_Crossing *c, corun_State *st,
                           const char *site, const char *direction,
                           lua_Integer target) {
  c->st = st;
  c->site = site;
  c->direction = direction;
  c->what = NULL;
  c->index = 0;
  c->target = target;
  c->source = st->rt != NULL && st->rt->current != NULL
              ? corun__task_root(st->rt->current)->id : 0;
  c->depth = 0;
  c->classify = 0;
  c->assumed = 0;
  c->share_only = 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  c->globals = lua_topointer(L, -1);
  lua_pop(L, 1);
  lua_createtable(L, 0, 8);  /* room, so that small crossings never rehash */
  c->map = lua_gettop(L);
}

/* Push what the value at 'idx' becomes on the other side (c->what and
   c->index name it in errors). */
void corun__transfer_push(lua_State *L, int idx, corun_Crossing *c) {
  idx = lua_absindex(L, idx);
  c->depth = 0;
  copy_value(L, idx, c);
}

/* The origin of the spawned function 'f' (at 'idx'), which is not plain:
   for each upvalue, a cell closure joined to f's own cell, so that copies
   come from the spawner's cells even after f was moved. */
static void push_origin(lua_State *L, int idx) {
  int i;
  push_cache(L, &origin_key, "k");
  lua_pushvalue(L, idx);
  if (lua_rawget(L, -2) == LUA_TTABLE) {
    lua_remove(L, -2);
    return;
  }
  lua_pop(L, 1);
  lua_newtable(L);  /* ... cache origin */
  for (i = 1; lua_getupvalue(L, idx, i) != NULL; i++) {
    lua_pop(L, 1);
    make_cell(L);
    lua_upvaluejoin(L, -1, 1, idx, i);  /* the cell closure: f's cell */
    lua_rawseti(L, -2, i);
  }
  lua_pushvalue(L, idx);
  lua_pushvalue(L, -2);
  lua_rawset(L, -4);
  lua_remove(L, -2);
}

/* Does a task that is not done own the closure at 'idx'? */
static int owned_by_live_task(lua_State *L, int idx) {
  corun_Task *t;
  push_cache(L, &owner_key, "kv");
  lua_pushvalue(L, idx);
  lua_rawget(L, -2);
  t = lua_touserdata(L, -1);
  lua_pop(L, 2);
  return t != NULL && t->state != CORUN_TASK_DONE;
}

/*
** Push the function a new task runs, for the spawned function at 'idx':
** itself if plain; else, moved (its data cells pointed at copies), or a
** fresh closure when a live task owns it already.
*/
void corun__transfer_push_fn(lua_State *L, int idx, corun_Crossing *c) {
  int origin, tgt;
  idx = lua_absindex(L, idx);
  c->what = NULL;
  c->depth = 0;
  if (lua_iscfunction(L, idx) || plain_fn(L, idx, c)) {
    lua_pushvalue(L, idx);
    return;
  }
  push_origin(L, idx);
  origin = lua_gettop(L);
  if (owned_by_live_task(L, idx))
    push_fresh_closure(L, idx);
  else
    lua_pushvalue(L, idx);
  tgt = lua_gettop(L);
  lua_pushvalue(L, idx);
  lua_pushvalue(L, tgt);
  lua_rawset(L, c->map);  /* f met again in the arguments: the same */
  lua_pushvalue(L, tgt);
  lua_rawsetp(L, c->map, &spawned_key);
  lua_pushnil(L);
  while (lua_next(L, origin)) {  /* ... origin tgt i cell */
    int i = (int)lua_tointeger(L, -2);
    const char *name = lua_getupvalue(L, idx, i);
    lua_pop(L, 1);
    join_copy(L, lua_gettop(L), 1, tgt, i, upvalue_name(name), c);
    lua_pop(L, 1);
  }
  lua_remove(L, origin);
}

/*
** End a crossing that succeeded: the moved values now belong to the
** receiving task at index 'task' (its userdata, or a light userdata of
** its record; 0: none), and so does the spawned closure.  Pops the
** identity map, which must be on top.
*/
void corun__transfer_commit(lua_State *L, corun_Crossing *c, int task) {
  task = task != 0 ? lua_absindex(L, task) : 0;
  if (lua_rawgetp(L, c->map, &moves_key) == LUA_TTABLE) {
    lua_Integer i, n = (lua_Integer)lua_rawlen(L, -1);
    for (i = 1; i <= n; i++) {
      const corun_Class *cls;
      int tt;
      lua_rawgeti(L, -1, i);
      if ((cls = corun__class_of(L, -1)) != NULL) {  /* corun's: in C */
        if (cls->take != NULL)
          cls->take(L, lua_gettop(L), task != 0 ? lua_touserdata(L, task)
                                                : NULL, c->target);
        lua_pop(L, 1);
        continue;
      }
      tt = luaL_getmetafield(L, -1, "__corun_take");
      if (tt == LUA_TFUNCTION) {
        lua_pushvalue(L, -2);  /* take(value, task or nil, id) */
        if (task != 0)
          lua_pushvalue(L, task);
        else
          lua_pushnil(L);
        lua_pushinteger(L, c->target);
        lua_call(L, 3, 0);
      }
      else if (tt != LUA_TNIL)
        lua_pop(L, 1);  /* a __corun_take that is not a function */
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  if (task != 0 && lua_type(L, task) == LUA_TUSERDATA) {
    if (lua_rawgetp(L, c->map, &spawned_key) == LUA_TFUNCTION) {
      push_cache(L, &owner_key, "kv");
      lua_insert(L, -2);
      lua_pushvalue(L, task);
      lua_rawset(L, -3);  /* owner[closure] = task */
    }
    lua_pop(L, 1);
  }
  lua_remove(L, c->map);
}

/* --------------------------------------------- classes, light crossing */

const char corun__class_key = 0;

/* The descriptor of the corun object at 'idx', or NULL if it is not one. */
const corun_Class *corun__class_of(lua_State *L, int idx) {
  const corun_Class *c = NULL;
  if (lua_getmetatable(L, idx)) {
    if (lua_rawgetp(L, -1, &corun__class_key) == LUA_TLIGHTUSERDATA)
      c = lua_touserdata(L, -1);
    lua_pop(L, 2);
  }
  return c;
}

/* May task 'by' (the id of a root task; 0: none, outside every task)
   hand over the object at 'idx' of class 'c'?  Only what it owns, or what
   nobody owns; if not, '*owner' and '*moved' say who has it and how (see
   corun_Class.owner). */
int corun__class_movable(lua_State *L, int idx, const corun_Class *c,
                         lua_Integer by, lua_Integer *owner, int *moved) {
  *moved = 0;
  *owner = c->owner != NULL ? c->owner(L, idx, moved) : 0;
  return by == 0 || *owner == 0 || *owner == by;
}

/* Are the 'n' values from 'first' scalars or objects that say how they
   cross (corun's classes that share or move, or __corun "share" or
   "move")?  They need no walk: the light crossing of a spawn by the
   running task of 'rt'.  Anything else, and an object the spawner may
   not hand over (the full crossing says why), takes the full crossing. */
int corun__transfer_light(lua_State *L, int first, int n,
                          corun_Runtime *rt, corun_Light *found) {
  lua_Integer by = rt->current != NULL ? corun__task_root(rt->current)->id
                                       : 0;
  int i;
  for (i = 0; i < n; i++) {
    int tt = lua_type(L, first + i);
    const corun_Class *c = NULL;
    if (tt == LUA_TUSERDATA)
      c = corun__class_of(L, first + i);
    if (i < CORUN_LIGHT_MAX)
      found->cls[i] = c;
    if (c != NULL) {
      lua_Integer owner;
      int moved;
      if (c->move == CORUN_CLASS_COPY ||
          !corun__class_movable(L, first + i, c, by, &owner, &moved))
        return 0;
      continue;
    }
    if (tt == LUA_TUSERDATA) {
      int mt = luaL_getmetafield(L, first + i, "__corun");
      const char *s = mt == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
      int ok = s != NULL && (strcmp(s, "share") == 0 ||
                             strcmp(s, "move") == 0);
      if (mt != LUA_TNIL)
        lua_pop(L, 1);
      if (!ok)
        return 0;
    }
    else if (tt != LUA_TNIL && tt != LUA_TBOOLEAN && tt != LUA_TNUMBER &&
             tt != LUA_TSTRING)
      return 0;
  }
  return 1;
}

/* The light crossing's commit: tell each object (once) that it moved or
   is now shared with task 't' (userdata at 'ud'). */
void corun__transfer_light_commit(lua_State *L, int first, int n, int ud,
                                  corun_Task *t, const corun_Light *found) {
  int i, j;
  for (i = 0; i < n; i++) {
    int seen = 0, v = first + i;
    const corun_Class *c;
    if (lua_type(L, v) != LUA_TUSERDATA)
      continue;
    for (j = 0; j < i && !seen; j++)
      seen = lua_rawequal(L, first + j, v);
    if (seen)
      continue;
    c = i < CORUN_LIGHT_MAX ? found->cls[i] : corun__class_of(L, v);
    if (c != NULL) {
      if (c->take != NULL)
        c->take(L, v, t, t->id);
      continue;
    }
    if (luaL_getmetafield(L, v, "__corun_take") != LUA_TFUNCTION) {
      lua_settop(L, ud);
      continue;
    }
    lua_pushvalue(L, v);
    lua_pushvalue(L, ud);
    lua_pushinteger(L, t->id);
    lua_call(L, 3, 0);
  }
}

