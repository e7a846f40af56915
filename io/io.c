/*
** io.c - the life of I/O objects (see io.h): owned by a task, listed in
** the runtime's I/O state, closed by whichever comes first of an explicit
** close, the owner's end, the userdata's collection and the runtime's
** close.  The I/O state is a hook of the runtime (corun_Hook): when the
** main task ends, every object starts closing gracefully; when the runtime
** closes, what is left is forced.
*/
#include <stdarg.h>
#include <stdlib.h>
#include <lauxlib.h>
#include "io.h"
#include "../host/timer.h"

/* The I/O layer's state in one runtime. */
typedef struct IoState {
  corun_Hook hook;        /* in the runtime's hooks (kind: &io_kind) */
  corun_Link all;         /* open I/O objects (corun_Io.all) */
} IoState;

static const char io_kind = 0;  /* identifies the IoState hook */

static IoState *state_of(corun_Runtime *rt) {
  corun_Hook *h = corun__runtime_hook(rt, &io_kind);
  return h != NULL ? corun__container_of(h, IoState, hook) : NULL;
}

static void close_all(IoState *s, int force);

static void on_main_done(corun_Hook *h) {
  close_all(corun__container_of(h, IoState, hook), 0);
}

static void on_close(lua_State *L, corun_Hook *h) {
  IoState *s = corun__container_of(h, IoState, hook);
  (void)L;
  close_all(s, 1);
  free(s);
}

/*
** Make the runtime's I/O state if it has none: 0, or UV_ENOMEM.  Every
** Lua call that may make an I/O object calls it first (corun__io_prepare
** does, and the bindings' corunL_io_ready), so that the object's opening,
** in a callback perhaps, cannot fail.
*/
int corun__io_ready(corun_Runtime *rt) {
  IoState *s;
  if (state_of(rt) != NULL)
    return 0;
  if ((s = calloc(1, sizeof *s)) == NULL)
    return UV_ENOMEM;
  s->hook.kind = &io_kind;
  s->hook.main_done = on_main_done;
  s->hook.close = on_close;
  corun__link_init(&s->all);
  corun__runtime_add_hook(rt, &s->hook);
  return 0;
}

static void release(lua_State *L, corun_Resource *r) {
  (void)L;
  corun__io_close(corun__container_of(r, corun_Io, res), 0);
}

/* 'io' is open: owned by the task 'owner' (its root), listed in 'rt'. */
void corun__io_open(corun_Runtime *rt, corun_Io *io, corun_Task *owner,
                    void (*close)(corun_Io *io, int force)) {
  IoState *s = state_of(rt);
  CORUN_ASSERT(s != NULL);  /* corun__io_ready came first */
  corun__link_init(&io->res.link);
  io->res.release = release;
  corun__link_init(&io->all);
  if (s != NULL)
    corun__link_append(&s->all, &io->all);
  io->box = NULL;
  io->closing = 0;
  io->close = close;
  owner = corun__task_root(owner);
  io->owner = owner->id;
  corun__task_own(owner, &io->res);
}

/*
** The same for an object a libuv callback makes for a task waiting in it
** (a connection, a file): owned by that very task, a branch perhaps, so
** that if the branch is cancelled before it runs again, its end closes
** the object nobody will see; the wait's continuation then gives it to
** the root task (corun__io_adopt), like everything a branch acquires.
*/
void corun__io_open_pending(corun_Runtime *rt, corun_Io *io,
                            corun_Task *waiter,
                            void (*close)(corun_Io *io, int force)) {
  corun__io_open(rt, io, waiter, close);
  corun__io_pend(io, waiter);
}

/*
** The same for an object already open that task 'waiter' waits on before
** it sees it again (a TLS handshake): 'waiter' itself, a branch perhaps,
** holds it until its wait's continuation gives it back to the root task
** (corun__io_adopt); a cancelled wait closes it with the branch.
*/
void corun__io_pend(corun_Io *io, corun_Task *waiter) {
  corun__link_remove(&io->res.link);
  corun__link_append(&waiter->owned, &io->res.link);
}

/* 'io', made while task 't' waited, reached it: its root task owns it. */
void corun__io_adopt(corun_Io *io, corun_Task *t) {
  if (io->closing == 0 && corun__link_linked(&io->res.link))
    corun__task_own(t, &io->res);
}

/* Start closing 'io' (again, with 'force', if it closes gracefully):
   Lua sees it closed at once. */
void corun__io_close(corun_Io *io, int force) {
  int level = force ? 2 : 1;
  if (io->closing >= level)
    return;
  io->closing = level;
  corun__link_remove(&io->res.link);
  if (io->box != NULL)
    *io->box = NULL;
  io->box = NULL;
  io->close(io, force);
}

/* 'io' has handed its last handle to libuv to close: the runtime need not
   close it any more. */
void corun__io_done(corun_Io *io) {
  corun__link_remove(&io->all);
}

/*
** Close every object of the runtime: gracefully (objects still closing
** stay listed until they are done), or by force (the runtime closes: the
** list ends empty).  Closing one may close others, hence the fresh look
** after each close.
*/
static void close_all(IoState *s, int force) {
  corun_Link *l;
  int closed;
  do {
    closed = 0;
    for (l = s->all.next; l != &s->all && !closed; l = l->next) {
      corun_Io *io = corun__container_of(l, corun_Io, all);
      if (io->closing < (force ? 2 : 1)) {
        corun__io_close(io, force);
        if (force)  /* it must not stay: the runtime's memory goes */
          corun__link_remove(&io->all);
        closed = 1;
      }
    }
  } while (closed);
  if (force)  /* what was forced already and is still listed */
    while ((l = corun__link_first(&s->all)) != NULL)
      corun__link_remove(l);
}

/* ------------------------------------------------- shared by objects */

/* Push nil and "name: what", then " (detail)" formatted from 'fmt' and
   'ap' if 'fmt' is not NULL; returns 2. */
static int vfail(lua_State *L, const char *name, const char *what,
                 const char *fmt, va_list ap) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", name, what);
  if (fmt != NULL) {
    lua_pushliteral(L, " (");
    lua_pushvfstring(L, fmt, ap);
    lua_pushliteral(L, ")");
    lua_concat(L, 4);
  }
  return 2;
}

int corun__io_fail(lua_State *L, int uverr, const char *fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vfail(L, uv_err_name(uverr), uv_strerror(uverr), fmt, ap);
  va_end(ap);
  return n;
}

int corun__io_fail_named(lua_State *L, const char *name, const char *what,
                         const char *fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vfail(L, name, what, fmt, ap);
  va_end(ap);
  return n;
}

void corun__io_push(lua_State *L, corun_Io *io, const char *tname) {
  corun_Io **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = io;
  io->box = box;
  luaL_setmetatable(L, tname);
}

static void io_take(lua_State *L, int idx, corun_Task *t, lua_Integer id) {
  corun_Io **box = lua_touserdata(L, idx);
  if (*box == NULL)
    return;
  if (t != NULL)
    corun__task_own(t, &(*box)->res);
  else
    corun__link_remove(&(*box)->res.link);  /* out of every task */
  (*box)->owner = id;
}

/* Who may hand the I/O object at 'idx' over (corun_Class.owner). */
lua_Integer corun__io_owner(lua_State *L, int idx, int *moved) {
  corun_Io **box = lua_touserdata(L, idx);
  *moved = 0;
  return *box != NULL ? (*box)->owner : 0;  /* closed: nothing moves */
}

const corun_Class corun__io_class = {CORUN_CLASS_MOVE, io_take,
                                   corun__io_owner};

corun_Waker corun__io_prepare(lua_State *L, const char *fname,
                              corun_CancelFn cancel, void *ud) {
  corun_State *st = corun__state_peek(L);
  corun_Task *self = corun__task_waiting(L, st != NULL ? st->rt : NULL,
                                         fname);
  corun_Waker w;
  if (corun__io_ready(self->rt) != 0)
    corun__error(L, fname, "not enough memory");
  if ((w = corun_wait_prepare(L, cancel, ud)) == 0)
    corun__error(L, fname, "%s", corun_errmsg(L));
  return w;
}

int corun__io_wait_request(lua_State *L, const char *fname,
                           corun_CancelFn cancel, void *req, int *orphaned,
                           corun_Waker *w) {
  return corun__io_wait_request_k(L, fname, cancel, req, orphaned, w,
                                  corun__io_k_adopt);
}

int corun__io_wait_request_k(lua_State *L, const char *fname,
                             corun_CancelFn cancel, void *req,
                             int *orphaned, corun_Waker *w,
                             lua_KFunction k) {
  *orphaned = 1;
  *w = corun__io_prepare(L, fname, cancel, req);
  *orphaned = 0;
  return corun__wait_k(L, *w, (lua_KContext)lua_gettop(L), k);
}

void corun__io_deadline(lua_State *L, const char *fname, corun_Waker w,
                        uint64_t deadline) {
  corun_Runtime *rt = corun__state_peek(L)->rt;
  corun_Task *t = corun__waker_task(rt, w);
  CORUN_ASSERT(t != NULL && t == rt->current);  /* prepared, not waiting */
  if (corun__timer_add(rt, t, deadline) != 0)
    corun__error(L, fname, "not enough memory");
}

int corun__io_expired(lua_State *L) {
  corun_Task *t = corun__state_peek(L)->rt->current;
  corun_Wait *w = t->wait;
  if (t->wake != CORUN_WAKE_TIMER)
    return 0;
  if (w != NULL) {  /* still registered: leave it (task.h, corun_Wait) */
    t->wait = NULL;
    w->leave(t, w);
  }
  return 1;
}

typedef struct WakeArgs {
  corun_IoPush push;
  void *ud;
  corun_Waker w;
} WakeArgs;

static int wake_protected(lua_State *L) {
  WakeArgs *a = lua_touserdata(L, 1);
  lua_pop(L, 1);
  corun_wake(L, a->w, a->push(L, a->ud));  /* popped, even if it is over */
  return 0;
}

void corun__io_wake(corun_Runtime *rt, corun_Waker w, corun_IoPush push,
                    void *ud) {
  lua_State *S = rt->S;
  int top = lua_gettop(S);
  WakeArgs a;
  a.push = push;
  a.ud = ud;
  a.w = w;
  lua_pushcfunction(S, wake_protected);
  lua_pushlightuserdata(S, &a);
  if (lua_pcall(S, 1, 0, 0) != LUA_OK)  /* out of memory: raise that */
    corun_wake_error(S, w);
  lua_settop(S, top);
}

void corun__io_wake_slot(corun_Runtime *rt, corun_Waker *slot,
                         corun_IoPush push, void *ud) {
  corun_Waker w = *slot;
  if (w == 0)
    return;
  *slot = 0;
  corun__io_wake(rt, w, push, ud);
}

void corun__io_adopt_results(lua_State *L, int base) {
  corun_Runtime *rt = corun__state_peek(L)->rt;
  int i;
  corun__wait_check(L, base);
  for (i = base + 1; i <= lua_gettop(L); i++)
    if (lua_type(L, i) == LUA_TUSERDATA &&
        corun__class_of(L, i) == &corun__io_class) {
      corun_Io *io = *(corun_Io **)lua_touserdata(L, i);
      if (io != NULL)
        corun__io_adopt(io, rt->current);
    }
}

int corun__io_k_adopt(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  corun__io_adopt_results(L, (int)ctx);
  return lua_gettop(L) - (int)ctx;
}

void corun__io_read_room(char **data, size_t len, size_t *cap, size_t least,
                         uv_buf_t *buf) {
  if (*cap - len < least) {
    size_t want = *cap * 2 > len + least ? *cap * 2 : len + least;
    char *p = realloc(*data, want);
    if (p == NULL) {
      *buf = uv_buf_init(NULL, 0);
      return;
    }
    *data = p;
    *cap = want;
  }
  *buf = uv_buf_init(*data + len, (unsigned)(*cap - len));
}

void corun__io_push_addr(lua_State *L, const struct sockaddr *sa) {
  char name[64] = "?";
  int port = 0;
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    uv_ip6_name(a, name, sizeof name);
    port = ntohs(a->sin6_port);
  }
  else if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    uv_ip4_name(a, name, sizeof name);
    port = ntohs(a->sin_port);
  }
  lua_pushstring(L, name);
  lua_pushinteger(L, port);
}
