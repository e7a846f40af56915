/*
** sync.c - corun.Semaphore, corun.Mutex, corun.Notify, corun.RwLock,
** corun.Barrier, and the Permit and guards they hand out.
**
** The primitives are shared between tasks (__corun = "share": every task
** that receives one uses the same object).  A Permit or a guard is owned
** by one task (a corun_Resource): it moves with spawn (__corun = "move"),
** and is released when its task ends, raises or is cancelled, when it is
** closed (<close>), or when it is collected.
*/
#include <string.h>
#include <lauxlib.h>
#include "../host/sched.h"
#include "../host/sync.h"
#include "corunL.h"

#define CORUN_SEMAPHORE "corun.Semaphore"
#define CORUN_PERMIT "corun.Permit"
#define CORUN_MUTEX "corun.Mutex"
#define CORUN_GUARD "corun.MutexGuard"
#define CORUN_NOTIFY "corun.Notify"
#define CORUN_RWLOCK "corun.RwLock"
#define CORUN_READGUARD "corun.RwLockReadGuard"
#define CORUN_WRITEGUARD "corun.RwLockWriteGuard"
#define CORUN_BARRIER "corun.Barrier"

/* The most permits a semaphore can hold (as Tokio's MAX_PERMITS): asking
   for more could never be served. */
#define MAX_PERMITS (LUA_MAXINTEGER >> 3)

/* What an Owned holds, and so how it is given back. */
enum { OWNED_PERMIT, OWNED_MUTEX, OWNED_READ, OWNED_WRITE };

/* What a task owns: a permit or a guard.  User value 1: the semaphore,
   mutex or rwlock userdata (kept alive while this is). */
typedef struct Owned {
  const void *tag;        /* class word: &owned_tags[kind] */
  corun_Resource res;     /* in its owner's list while held */
  void *object;           /* borrows: the corun_Semaphore, corun_Mutex or
                             corun_RwLock */
  lua_Integer k;          /* permits held (a mutex guard: 0) */
  int kind;               /* OWNED_* */
  lua_Integer moved_to;   /* moved into this task, or 0 */
  lua_Integer owner;      /* the task that may use it (the one that got it
                             or the one it moved to), or 0: any */
  int released;           /* given back (or forgotten) */
} Owned;

static void owned_release(lua_State *L, corun_Resource *r);

/* The class words of the Permit and of the guards, by OWNED_* (see
   corunL_checkobj), and of the primitives. */
static const char owned_tags[4];
static const char sem_tag, mutex_tag;

/* The permit or guard of kind 'kind' at index 1. */
static Owned *check_kind(lua_State *L, const char *fname, int kind) {
  static const char *const tnames[] = {"Permit", "MutexGuard",
                                       "RwLockReadGuard", "RwLockWriteGuard"};
  return corunL_checkobj(L, &owned_tags[kind], fname, tnames[kind]);
}

/* Push a new permit or guard for 'object' (userdata at 'obj'), owned by
   the running task. */
static Owned *push_owned(lua_State *L, int obj, void *object, lua_Integer k,
                         int kind) {
  static const char *const tnames[] = {CORUN_PERMIT, CORUN_GUARD,
                                       CORUN_READGUARD, CORUN_WRITEGUARD};
  corun_Task *self = corunL_state(L)->rt->current;
  Owned *o = lua_newuserdatauv(L, sizeof *o, 1);
  o->tag = &owned_tags[kind];
  corun__link_init(&o->res.link);
  o->res.release = owned_release;
  o->object = object;
  o->k = k;
  o->kind = kind;
  o->moved_to = 0;
  o->owner = corun__task_root(self)->id;
  o->released = 0;
  lua_pushvalue(L, obj);
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, tnames[kind]);
  corun__task_own(self, &o->res);
  return o;
}

/* The permit or guard at index 1; a moved one is usable only by the task
   it moved to. */
static Owned *check_owned(lua_State *L, const char *fname, int kind,
                          const char *what) {
  Owned *o = check_kind(L, fname, kind);
  corunL_check_owner(L, NULL, o->owner, o->moved_to != 0, what);
  return o;
}

/* Give back what 'o' holds (once). */
static void give_back(Owned *o) {
  if (o->released)
    return;
  o->released = 1;
  corun__link_remove(&o->res.link);
  switch (o->kind) {
    case OWNED_PERMIT: corun__sem_release(o->object, o->k); break;
    case OWNED_MUTEX: corun__mutex_unlock(o->object); break;
    default: corun__rwlock_unlock(o->object, o->k); break;
  }
}

/* Its owner ended. */
static void owned_release(lua_State *L, corun_Resource *r) {
  (void)L;
  give_back(corun__container_of(r, Owned, res));
}

/* A permit or guard moved at a crossing. */
static void owned_take(lua_State *L, int idx, corun_Task *t, lua_Integer id) {
  Owned *o = lua_touserdata(L, idx);
  if (o->released)
    return;
  if (t != NULL)
    corun__task_own(t, &o->res);
  else
    corun__link_remove(&o->res.link);  /* out of a task: nobody owns it */
  o->moved_to = id;
  o->owner = id;
}

/* Who may hand a permit or guard over (see corun_Class.owner). */
static lua_Integer owned_owner(lua_State *L, int idx, int *moved) {
  Owned *o = lua_touserdata(L, idx);
  *moved = o->moved_to != 0;
  return o->owner;
}

static const corun_Class shared_class = {CORUN_CLASS_SHARE, NULL, NULL};
static const corun_Class owned_class = {CORUN_CLASS_MOVE, owned_take,
                                        owned_owner};

/* ---------------------------------------------------------- Semaphore */

static lua_Integer check_count(lua_State *L, const char *fname, int arg,
                               lua_Integer dflt, lua_Integer min) {
  lua_Integer n;
  if (lua_isnoneornil(L, arg))
    return dflt;
  if (!lua_isinteger(L, arg))
    corunL_typeerror(L, fname, arg, "integer");
  n = lua_tointeger(L, arg);
  if (n < min)
    corunL_error(L, fname, "bad argument #%d (must be at least %I, got %I)",
                 arg, (LUAI_UACINT)min, (LUAI_UACINT)n);
  return n;
}

static int l_semaphore(lua_State *L) {
  lua_Integer n = check_count(L, "corun.Semaphore", 1, -1, 0);
  corun_Semaphore *s;
  if (n < 0)
    return corunL_typeerror(L, "corun.Semaphore", 1, "integer");
  if (n > MAX_PERMITS)
    return corunL_error(L, "corun.Semaphore", "bad argument #1 (a semaphore "
                        "holds at most %I permits)", (LUAI_UACINT)MAX_PERMITS);
  s = lua_newuserdatauv(L, sizeof *s, 0);
  corun__sem_init(s, n);
  s->tag = &sem_tag;
  luaL_setmetatable(L, CORUN_SEMAPHORE);
  return 1;
}

static corun_Semaphore *check_sem(lua_State *L, const char *fname) {
  return corunL_checkobj(L, &sem_tag, fname, "Semaphore");
}

static int closed(lua_State *L) {
  lua_pushnil(L);
  lua_pushliteral(L, "closed");
  return 2;
}

static int k_acquire(lua_State *L, int status, lua_KContext ctx) {
  corun_Task *self = corunL_state(L)->rt->current;
  (void)status;
  if (!corun__sync_granted(self))
    return closed(L);
  push_owned(L, 1, lua_touserdata(L, 1), (lua_Integer)ctx, OWNED_PERMIT);
  return 1;
}

static lua_Integer acquire_count(lua_State *L, const char *fname,
                                 corun_Semaphore *s) {
  lua_Integer k = check_count(L, fname, 2, 1, 1);
  (void)s;
  if (k > MAX_PERMITS)
    corunL_error(L, fname, "bad argument #2 (a semaphore holds at most %I "
                 "permits, got %I)", (LUAI_UACINT)MAX_PERMITS,
                 (LUAI_UACINT)k);
  return k;
}

static int s_acquire(lua_State *L) {
  corun_Semaphore *s = check_sem(L, "Semaphore:acquire");
  corun_Task *self = corunL_waiter(L, "Semaphore:acquire");
  lua_Integer k = acquire_count(L, "Semaphore:acquire", s);
  lua_settop(L, 1);
  if (s->closed)
    return closed(L);
  if (corun__sem_try(s, k)) {
    push_owned(L, 1, s, k, OWNED_PERMIT);
    return 1;
  }
  corun__sem_wait(s, self, k);
  return corun__sched_wait(L, (lua_KContext)k, k_acquire);
}

static int s_try_acquire(lua_State *L) {
  corun_Semaphore *s = check_sem(L, "Semaphore:try_acquire");
  lua_Integer k = acquire_count(L, "Semaphore:try_acquire", s);
  corunL_task(L, "Semaphore:try_acquire");
  lua_settop(L, 1);
  if (s->closed)
    return closed(L);
  if (!corun__sem_try(s, k)) {
    lua_pushnil(L);
    return 1;
  }
  push_owned(L, 1, s, k, OWNED_PERMIT);
  return 1;
}

static int s_available(lua_State *L) {
  lua_pushinteger(L, check_sem(L, "Semaphore:available_permits")->permits);
  return 1;
}

static int s_add_permits(lua_State *L) {
  corun_Semaphore *s = check_sem(L, "Semaphore:add_permits");
  lua_Integer k = check_count(L, "Semaphore:add_permits", 2, -1, 0);
  if (k < 0)
    return corunL_typeerror(L, "Semaphore:add_permits", 2, "integer");
  if (k > MAX_PERMITS - s->total)
    return corunL_error(L, "Semaphore:add_permits", "bad argument #2 (a "
                        "semaphore holds at most %I permits)",
                        (LUAI_UACINT)MAX_PERMITS);
  s->total += k;
  corun__sem_release(s, k);
  return 0;
}

static int s_close(lua_State *L) {
  corun__sem_close(check_sem(L, "Semaphore:close"));
  return 0;
}

static int s_tostring(lua_State *L) {
  corun_Semaphore *s = check_sem(L, "Semaphore:__tostring");
  lua_pushfstring(L, "corun.Semaphore (%I available%s)",
                  (LUAI_UACINT)s->permits, s->closed ? ", closed" : "");
  return 1;
}

static int p_release(lua_State *L) {
  give_back(check_owned(L, "Permit:release", OWNED_PERMIT, "permit"));
  return 0;
}

static int p_forget(lua_State *L) {
  Owned *o = check_owned(L, "Permit:forget", OWNED_PERMIT, "permit");
  if (!o->released) {
    o->released = 1;
    corun__link_remove(&o->res.link);
    ((corun_Semaphore *)o->object)->total -= o->k;
  }
  return 0;
}


/* <close>: give back, unless it moved to another task (which owns it). */
static int p_close(lua_State *L) {
  Owned *o = check_kind(L, "Permit:__close", OWNED_PERMIT);
  if (corunL_owned_here(L, o->owner))
    give_back(o);
  return 0;
}

static int p_gc(lua_State *L) {  /* collected: nobody can use it any more */
  give_back(check_kind(L, "Permit:__gc", OWNED_PERMIT));
  return 0;
}

static int p_tostring(lua_State *L) {
  Owned *o = check_kind(L, "Permit:__tostring", OWNED_PERMIT);
  lua_pushfstring(L, "corun.Permit (%I%s)", (LUAI_UACINT)o->k,
                  o->released ? ", released" : "");
  return 1;
}

/* -------------------------------------------------------------- Mutex */

static int l_mutex(lua_State *L) {
  corun_Mutex *m;
  lua_settop(L, 1);  /* the value (nil if none) */
  m = lua_newuserdatauv(L, sizeof *m, 1);
  corun__mutex_init(m);
  m->tag = &mutex_tag;
  luaL_setmetatable(L, CORUN_MUTEX);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);  /* the protected value */
  return 1;
}

static int k_lock(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  corun__sync_granted(corunL_state(L)->rt->current);
  push_owned(L, 1, lua_touserdata(L, 1), 0, OWNED_MUTEX);
  return 1;
}

static int m_lock(lua_State *L) {
  corun_Mutex *m = corunL_checkobj(L, &mutex_tag, "Mutex:lock", "Mutex");
  corun_Task *self = corunL_waiter(L, "Mutex:lock");
  lua_settop(L, 1);
  if (corun__mutex_try(m)) {
    push_owned(L, 1, m, 0, OWNED_MUTEX);
    return 1;
  }
  corun__mutex_wait(m, self);
  return corun__sched_wait(L, 0, k_lock);
}

static int m_try_lock(lua_State *L) {
  corun_Mutex *m = corunL_checkobj(L, &mutex_tag, "Mutex:try_lock", "Mutex");
  corunL_task(L, "Mutex:try_lock");
  lua_settop(L, 1);
  if (!corun__mutex_try(m)) {
    lua_pushnil(L);
    return 1;
  }
  push_owned(L, 1, m, 0, OWNED_MUTEX);
  return 1;
}

static int m_tostring(lua_State *L) {
  corun_Mutex *m = corunL_checkobj(L, &mutex_tag, "Mutex:__tostring", "Mutex");
  lua_pushfstring(L, "corun.Mutex (%s)", m->locked ? "locked" : "unlocked");
  return 1;
}

/* ------------------------------------------------------------- Guards */

/* A class of guard (MutexGuard, RwLockReadGuard, RwLockWriteGuard): the
   names its messages use, and whether guard.value may be set. */
typedef struct GuardClass {
  const char *tname;      /* "MutexGuard" */
  const char *what;       /* "mutex guard", in ownership errors */
  const char *value;      /* "MutexGuard.value" */
  const char *index;      /* "MutexGuard:__index" */
  const char *newindex;   /* "MutexGuard:__newindex" */
  const char *unlock;     /* "MutexGuard:unlock" */
  const char *close;      /* "MutexGuard:__close" */
  const char *gc;         /* "MutexGuard:__gc" */
  const char *tostring;   /* "MutexGuard:__tostring" */
  int writable;           /* guard.value = v is allowed */
  int kind;               /* OWNED_* */
} GuardClass;

static const GuardClass mutex_guard = {
  "MutexGuard", "mutex guard", "MutexGuard.value", "MutexGuard:__index",
  "MutexGuard:__newindex", "MutexGuard:unlock", "MutexGuard:__close",
  "MutexGuard:__gc", "MutexGuard:__tostring", 1, OWNED_MUTEX
};
static const GuardClass read_guard = {
  "RwLockReadGuard", "read guard", "RwLockReadGuard.value",
  "RwLockReadGuard:__index", "RwLockReadGuard:__newindex",
  "RwLockReadGuard:unlock", "RwLockReadGuard:__close",
  "RwLockReadGuard:__gc", "RwLockReadGuard:__tostring", 0, OWNED_READ
};
static const GuardClass write_guard = {
  "RwLockWriteGuard", "write guard", "RwLockWriteGuard.value",
  "RwLockWriteGuard:__index", "RwLockWriteGuard:__newindex",
  "RwLockWriteGuard:unlock", "RwLockWriteGuard:__close",
  "RwLockWriteGuard:__gc", "RwLockWriteGuard:__tostring", 1, OWNED_WRITE
};

/* The guard at index 1, held and usable by the running task. */
static Owned *check_guard(lua_State *L, const char *fname,
                          const GuardClass *gc) {
  Owned *o = check_owned(L, fname, gc->kind, gc->what);
  if (o->released)
    corunL_error(L, fname, "the lock was already released");
  return o;
}

/* guard.value (the protected value: user value 1 of the lock) and the
   methods (upvalue 3).  Upvalue 4: the GuardClass. */
static int g_index(lua_State *L) {
  const GuardClass *gc = lua_touserdata(L, lua_upvalueindex(4));
  const char *key;
  check_kind(L, gc->index, gc->kind);
  key = lua_tostring(L, 2);
  if (key != NULL && strcmp(key, "value") == 0) {
    check_guard(L, gc->value, gc);
    lua_getiuservalue(L, 1, 1);
    lua_getiuservalue(L, -1, 1);
    return 1;
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(3));
  return 1;
}

/* guard.value = v, where the guard allows it.  Upvalue 3: the
   GuardClass. */
static int g_newindex(lua_State *L) {
  const GuardClass *gc = lua_touserdata(L, lua_upvalueindex(3));
  const char *key;
  check_kind(L, gc->newindex, gc->kind);
  key = lua_tostring(L, 2);
  if (key == NULL || strcmp(key, "value") != 0)
    return corunL_error(L, gc->tname, "only 'value' can be set");
  check_guard(L, gc->value, gc);
  if (!gc->writable)
    return corunL_error(L, gc->value, "a read guard cannot set the value "
                        "(lock with write())");
  lua_getiuservalue(L, 1, 1);
  lua_pushvalue(L, 3);
  lua_setiuservalue(L, -2, 1);
  return 0;
}

static int guard_unlock(lua_State *L, const GuardClass *gc) {
  give_back(check_guard(L, gc->unlock, gc));
  return 0;
}

/* <close>: unlock, unless it moved to another task (which owns it). */
static int guard_close(lua_State *L, const GuardClass *gc) {
  Owned *o = check_kind(L, gc->close, gc->kind);
  if (corunL_owned_here(L, o->owner))
    give_back(o);
  return 0;
}

static int guard_gc(lua_State *L, const GuardClass *gc) {
  give_back(check_kind(L, gc->gc, gc->kind));
  return 0;
}

static int guard_tostring(lua_State *L, const GuardClass *gc) {
  Owned *o = check_kind(L, gc->tostring, gc->kind);
  lua_pushfstring(L, "corun.%s (%s)", gc->tname,
                  o->released ? "released" : "held");
  return 1;
}

static int g_unlock(lua_State *L) { return guard_unlock(L, &mutex_guard); }
static int g_close(lua_State *L) { return guard_close(L, &mutex_guard); }
static int g_gc(lua_State *L) { return guard_gc(L, &mutex_guard); }
static int g_tostring(lua_State *L) {
  return guard_tostring(L, &mutex_guard);
}

static int rg_unlock(lua_State *L) { return guard_unlock(L, &read_guard); }
static int rg_close(lua_State *L) { return guard_close(L, &read_guard); }
static int rg_gc(lua_State *L) { return guard_gc(L, &read_guard); }
static int rg_tostring(lua_State *L) {
  return guard_tostring(L, &read_guard);
}

static int wg_unlock(lua_State *L) { return guard_unlock(L, &write_guard); }
static int wg_close(lua_State *L) { return guard_close(L, &write_guard); }
static int wg_gc(lua_State *L) { return guard_gc(L, &write_guard); }
static int wg_tostring(lua_State *L) {
  return guard_tostring(L, &write_guard);
}

/* wguard:downgrade(): a read guard in exchange for the write guard, with
   no writer in between (Tokio's RwLockWriteGuard::downgrade): the readers
   waiting are let in at once. */
static int wg_downgrade(lua_State *L) {
  Owned *o = check_guard(L, "RwLockWriteGuard:downgrade", &write_guard);
  corunL_task(L, "RwLockWriteGuard:downgrade");
  lua_settop(L, 1);
  lua_getiuservalue(L, 1, 1);  /* the rwlock */
  push_owned(L, 2, o->object, 1, OWNED_READ);  /* (may raise: first) */
  o->released = 1;
  corun__link_remove(&o->res.link);
  corun__rwlock_unlock(o->object, CORUN_RWLOCK_MAX_READS - 1);
  return 1;
}

/* ------------------------------------------------------------- RwLock */

static int l_rwlock(lua_State *L) {
  corun_RwLock *rw;
  lua_settop(L, 1);  /* the value (nil if none) */
  rw = lua_newuserdatauv(L, sizeof *rw, 1);
  corun__rwlock_init(rw);
  luaL_setmetatable(L, CORUN_RWLOCK);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);  /* the protected value */
  return 1;
}

/* The permits a guard of 'kind' holds. */
static lua_Integer rw_permits(int kind) {
  return kind == OWNED_READ ? 1 : CORUN_RWLOCK_MAX_READS;
}

static int k_rwlock(lua_State *L, int status, lua_KContext ctx) {
  int kind = (int)ctx;
  (void)status;
  corun__sync_granted(corunL_state(L)->rt->current);  /* never closed */
  push_owned(L, 1, lua_touserdata(L, 1), rw_permits(kind), kind);
  return 1;
}

/* read() and write(): a guard of 'kind', waiting in line for it. */
static int rw_lock(lua_State *L, const char *fname, int kind) {
  corun_RwLock *rw = corunL_checkself(L, fname, "RwLock");
  corun_Task *self = corunL_waiter(L, fname);
  lua_settop(L, 1);
  if (corun__rwlock_try(rw, rw_permits(kind))) {
    push_owned(L, 1, rw, rw_permits(kind), kind);
    return 1;
  }
  corun__rwlock_wait(rw, self, rw_permits(kind));
  return corun__sched_wait(L, (lua_KContext)kind, k_rwlock);
}

/* try_read() and try_write(): a guard of 'kind', or nil. */
static int rw_try(lua_State *L, const char *fname, int kind) {
  corun_RwLock *rw = corunL_checkself(L, fname, "RwLock");
  corunL_task(L, fname);
  lua_settop(L, 1);
  if (!corun__rwlock_try(rw, rw_permits(kind))) {
    lua_pushnil(L);
    return 1;
  }
  push_owned(L, 1, rw, rw_permits(kind), kind);
  return 1;
}

static int rw_read(lua_State *L) {
  return rw_lock(L, "RwLock:read", OWNED_READ);
}

static int rw_write(lua_State *L) {
  return rw_lock(L, "RwLock:write", OWNED_WRITE);
}

static int rw_try_read(lua_State *L) {
  return rw_try(L, "RwLock:try_read", OWNED_READ);
}

static int rw_try_write(lua_State *L) {
  return rw_try(L, "RwLock:try_write", OWNED_WRITE);
}

static int rw_tostring(lua_State *L) {
  corun_RwLock *rw = corunL_checkself(L, "RwLock:__tostring", "RwLock");
  lua_Integer readers = corun__rwlock_readers(rw);
  if (readers < 0)
    lua_pushliteral(L, "corun.RwLock (write locked)");
  else if (readers == 0)
    lua_pushliteral(L, "corun.RwLock (unlocked)");
  else
    lua_pushfstring(L, "corun.RwLock (%I reader%s)", (LUAI_UACINT)readers,
                    readers == 1 ? "" : "s");
  return 1;
}

/* ------------------------------------------------------------ Barrier */

static int l_barrier(lua_State *L) {
  lua_Integer n = check_count(L, "corun.Barrier", 1, -1, 0);
  corun_Barrier *b;
  if (n < 0)
    return corunL_typeerror(L, "corun.Barrier", 1, "integer");
  b = lua_newuserdatauv(L, sizeof *b, 0);
  corun__barrier_init(b, n);
  luaL_setmetatable(L, CORUN_BARRIER);
  return 1;
}

static int k_barrier(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  corun__sync_granted(corunL_state(L)->rt->current);
  lua_pushboolean(L, 0);  /* released by the leader */
  return 1;
}

/* b:wait(): true in the task that completes the generation (the
   leader), false in the others, once all n have arrived. */
static int b_wait(lua_State *L) {
  corun_Barrier *b = corunL_checkself(L, "Barrier:wait", "Barrier");
  corun_Task *self = corunL_waiter(L, "Barrier:wait");
  if (corun__barrier_arrive(b)) {
    lua_pushboolean(L, 1);
    return 1;
  }
  corun__barrier_wait(b, self);
  return corun__sched_wait(L, 0, k_barrier);
}

static int b_tostring(lua_State *L) {
  corun_Barrier *b = corunL_checkself(L, "Barrier:__tostring", "Barrier");
  lua_pushfstring(L, "corun.Barrier (%I of %I waiting)",
                  (LUAI_UACINT)b->arrived, (LUAI_UACINT)b->n);
  return 1;
}

/* ------------------------------------------------------------- Notify */

static int l_notify(lua_State *L) {
  corun_Notify *n = lua_newuserdatauv(L, sizeof *n, 0);
  corun__notify_init(n);
  luaL_setmetatable(L, CORUN_NOTIFY);
  return 1;
}

static int k_notified(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  corun__sync_granted(corunL_state(L)->rt->current);
  return 0;
}

static int n_notified(lua_State *L) {
  corun_Notify *n = corunL_checkself(L, "Notify:notified", "Notify");
  corun_Task *self = corunL_waiter(L, "Notify:notified");
  if (corun__notify_try(n))
    return 0;
  corun__notify_wait(n, self);
  return corun__sched_wait(L, 0, k_notified);
}

static int n_notify_one(lua_State *L) {
  corun__notify_one(corunL_checkself(L, "Notify:notify_one", "Notify"));
  return 0;
}

static int n_notify_waiters(lua_State *L) {
  corun__notify_waiters(corunL_checkself(L, "Notify:notify_waiters",
                                         "Notify"));
  return 0;
}

static int n_tostring(lua_State *L) {
  corun_Notify *n = corunL_checkself(L, "Notify:__tostring", "Notify");
  lua_pushfstring(L, "corun.Notify (%s)",
                  n->permit ? "permit stored" : "no permit");
  return 1;
}

/* ---------------------------------------------------------------- Open */

static const luaL_Reg sem_methods[] = {
  {"acquire", s_acquire}, {"try_acquire", s_try_acquire},
  {"available_permits", s_available}, {"add_permits", s_add_permits},
  {"close", s_close}, {NULL, NULL}
};
static const luaL_Reg sem_meta[] = {{"__tostring", s_tostring}, {NULL, NULL}};

static const luaL_Reg permit_methods[] = {
  {"release", p_release}, {"forget", p_forget}, {NULL, NULL}
};
static const luaL_Reg permit_meta[] = {
  {"__close", p_close}, {"__gc", p_gc}, {"__tostring", p_tostring},
  {NULL, NULL}
};

static const luaL_Reg mutex_methods[] = {
  {"lock", m_lock}, {"try_lock", m_try_lock}, {NULL, NULL}
};
static const luaL_Reg mutex_meta[] = {{"__tostring", m_tostring}, {NULL, NULL}};

static const luaL_Reg guard_methods[] = {{"unlock", g_unlock}, {NULL, NULL}};
static const luaL_Reg guard_meta[] = {
  {"__close", g_close}, {"__gc", g_gc}, {"__tostring", g_tostring},
  {NULL, NULL}
};

static const luaL_Reg rwlock_methods[] = {
  {"read", rw_read}, {"write", rw_write}, {"try_read", rw_try_read},
  {"try_write", rw_try_write}, {NULL, NULL}
};
static const luaL_Reg rwlock_meta[] = {
  {"__tostring", rw_tostring}, {NULL, NULL}
};

static const luaL_Reg rguard_methods[] = {
  {"unlock", rg_unlock}, {NULL, NULL}
};
static const luaL_Reg rguard_meta[] = {
  {"__close", rg_close}, {"__gc", rg_gc}, {"__tostring", rg_tostring},
  {NULL, NULL}
};

static const luaL_Reg wguard_methods[] = {
  {"unlock", wg_unlock}, {"downgrade", wg_downgrade}, {NULL, NULL}
};
static const luaL_Reg wguard_meta[] = {
  {"__close", wg_close}, {"__gc", wg_gc}, {"__tostring", wg_tostring},
  {NULL, NULL}
};

static const luaL_Reg barrier_methods[] = {{"wait", b_wait}, {NULL, NULL}};
static const luaL_Reg barrier_meta[] = {
  {"__tostring", b_tostring}, {NULL, NULL}
};

static const luaL_Reg notify_methods[] = {
  {"notified", n_notified}, {"notify_one", n_notify_one},
  {"notify_waiters", n_notify_waiters}, {NULL, NULL}
};
static const luaL_Reg notify_meta[] = {
  {"__tostring", n_tostring}, {NULL, NULL}
};

static const luaL_Reg functions[] = {
  {"Semaphore", l_semaphore}, {"Mutex", l_mutex}, {"Notify", l_notify},
  {"RwLock", l_rwlock}, {"Barrier", l_barrier}, {NULL, NULL}
};

/* Make class 'name' and say how it crosses task boundaries. */
static void new_class(lua_State *L, const char *name, const luaL_Reg *methods,
                      const luaL_Reg *meta, const corun_Class *crossing) {
  corunL_newclass(L, name, methods, meta);
  corunL_setcrossing(L, crossing);
  lua_pop(L, 1);
}

/* Make guard class 'name': its __index serves 'value' first, then its
   methods; its __newindex sets 'value'. */
static void guard_class(lua_State *L, const char *name,
                        const luaL_Reg *methods, const luaL_Reg *meta,
                        const GuardClass *gc) {
  corunL_newclass(L, name, methods, meta);  /* state mt */
  corunL_setcrossing(L, &owned_class);
  lua_getfield(L, -1, "__index");           /* state mt methods */
  lua_pushvalue(L, -3);
  lua_pushvalue(L, -3);
  lua_pushvalue(L, -3);
  lua_pushlightuserdata(L, (void *)gc);
  lua_pushcclosure(L, g_index, 4);          /* state mt methods index */
  lua_setfield(L, -3, "__index");
  lua_pushvalue(L, -3);
  lua_pushvalue(L, -3);
  lua_pushlightuserdata(L, (void *)gc);
  lua_pushcclosure(L, g_newindex, 3);
  lua_setfield(L, -3, "__newindex");
  lua_pop(L, 2);                            /* state */
}

void corunL_open_sync(lua_State *L) {
  corun__state(L);
  new_class(L, CORUN_SEMAPHORE, sem_methods, sem_meta, &shared_class);
  new_class(L, CORUN_PERMIT, permit_methods, permit_meta, &owned_class);
  new_class(L, CORUN_MUTEX, mutex_methods, mutex_meta, &shared_class);
  new_class(L, CORUN_NOTIFY, notify_methods, notify_meta, &shared_class);
  new_class(L, CORUN_RWLOCK, rwlock_methods, rwlock_meta, &shared_class);
  new_class(L, CORUN_BARRIER, barrier_methods, barrier_meta, &shared_class);
  guard_class(L, CORUN_GUARD, guard_methods, guard_meta, &mutex_guard);
  guard_class(L, CORUN_READGUARD, rguard_methods, rguard_meta, &read_guard);
  guard_class(L, CORUN_WRITEGUARD, wguard_methods, wguard_meta,
              &write_guard);
  luaL_setfuncs(L, functions, 1);
}
