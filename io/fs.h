/*
** fs.h - the path functions of corun.fs (fs.c) for the bindings
** (bindings/fs.c): read_file, write_file, stat, list, mkdir, remove,
** rename, copy, chmod, symlink, readlink.  corun.fs.open and corun.File
** are in file.h; corun.fs.watch in fswatch.h.
**
** Each operation is called by its Lua function once the arguments are
** checked and the running task may wait (corunL_waiter): 'fname' names
** the function in the errors it raises (out of memory; those of
** corun__io_prepare); a path holds no zero byte and is followed by a NUL
** (a Lua string).  It starts the work on libuv's thread pool and returns
** what the task will be woken with (return corun__fs_x(L, ...)): the
** results below, or nil and "UV_NAME: message (path)" (rename, copy:
** "(from -> to)"; symlink: "(path -> target)"), at once if the first
** step cannot start.
*/
#ifndef CORUN_FS_H
#define CORUN_FS_H

#include <stddef.h>
#include <lua.h>

/* The whole file at 'path' as a string. */
int corun__fs_read_file(lua_State *L, const char *fname, const char *path,
                        size_t len);

/* Write the 'size' bytes at 'data' (copied) to the file at 'path',
   created with permission bits 0666 (less the umask) or truncated; with
   'atomic', through a temporary file next to it, renamed over it once
   synced (a file's permission bits go to its replacement): true. */
int corun__fs_write_file(lua_State *L, const char *fname, const char *path,
                         size_t len, const char *data, size_t size,
                         int atomic);

/* A table of what stat (or lstat, if not 'follow') says of 'path': type
   ("file", "directory", "link", "other"), size, mode, mtime, atime,
   ctime, nlink, uid, gid, ino, dev. */
int corun__fs_stat(lua_State *L, const char *fname, const char *path,
                   size_t len, int follow);

/* The names in the directory 'path' ("." and ".." left out), a list. */
int corun__fs_list(lua_State *L, const char *fname, const char *path,
                   size_t len);

/* Make the directory 'path': true.  With 'parents', as mkdir -p: the
   missing directories above it too, and true if it exists already as a
   directory; an error names the directory that could not be made. */
int corun__fs_mkdir(lua_State *L, const char *fname, const char *path,
                    size_t len, int parents);

/* Remove the file or empty directory 'path': true. */
int corun__fs_remove(lua_State *L, const char *fname, const char *path,
                     size_t len);

/* Rename 'from' to 'to': true. */
int corun__fs_rename(lua_State *L, const char *fname, const char *from,
                     size_t from_len, const char *to, size_t to_len);

/* Copy the file 'from' to 'to' (replaced if it exists, with the mode of
   'from'): true. */
int corun__fs_copy(lua_State *L, const char *fname, const char *from,
                   size_t from_len, const char *to, size_t to_len);

/* Set the permission bits of 'path' to 'mode' (0..07777): true. */
int corun__fs_chmod(lua_State *L, const char *fname, const char *path,
                    size_t len, int mode);

/* Make 'path' a symbolic link to 'target' (any string): true. */
int corun__fs_symlink(lua_State *L, const char *fname, const char *target,
                      size_t target_len, const char *path, size_t len);

/* What the symbolic link 'path' points to, a string. */
int corun__fs_readlink(lua_State *L, const char *fname, const char *path,
                       size_t len);

#endif
