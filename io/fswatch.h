/*
** fswatch.h - corun.fs.watch (fswatch.c): a watcher of a file or a
** directory on libuv's uv_fs_event_t (inotify on Linux), whose next()
** waits for the next change.  It is an I/O object (io.h): owned by one
** task, moved at spawn, closed at its owner's end.
*/
#ifndef CORUN_FSWATCH_H
#define CORUN_FSWATCH_H

#include "io.h"

#define CORUN_FSWATCHER "corun.FsWatcher"

/* Events kept while no task takes them; past that, the oldest go (and
   next reports how many went: nil, "lagged", k). */
#define CORUN_FSWATCH_QUEUE 1024

/* Opaque.  It begins with its corun_Io: the corun_Io of an object of
   class CORUN_FSWATCHER (corunL_io_check's answer) is its watcher. */
typedef struct corun_FsWatcher corun_FsWatcher;

/*
** corun.fs.watch: start watching 'path' (a C string) for the running task
** 'self' (its root owns the watcher; corun__io_ready came first) and push
** the watcher, of class CORUN_FSWATCHER; or push nil and
** "UV_NAME: ... (path)" (ENOENT for a missing path).  Does not wait.
*/
int corun__fswatch_open(lua_State *L, const char *fname, corun_Task *self,
                        const char *path);

/*
** watcher:next(): the watcher's userdata is at index 1, open, and the
** running task may use it.  Push the oldest change kept: the changed
** entry's base name and a table {change = true} and/or {rename = true};
** if events were dropped before it, nil, "lagged", k first (once); if
** the watch failed, nil and the error.  With nothing kept, wait for the
** next change (a wait that does not hold a paused clock); nil,
** "ECANCELED: ..." if the watcher is closed meanwhile.  Raises
** "fname: another wait for this watcher is under way" and the errors of
** a task that cannot wait.  'fname' must outlive the wait (a literal).
*/
int corun__fswatch_next(lua_State *L, const char *fname, corun_FsWatcher *w);

/* Push what __tostring says of 'w' (NULL: closed). */
int corun__fswatch_tostring(lua_State *L, const corun_FsWatcher *w);

#endif
