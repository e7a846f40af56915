/*
** embed.h - what embed.c (the C API of corun.h) gives the rest of corun:
** native waits with a continuation of corun's own (the I/O objects wait
** this way), and the coroutine functions every runtime installs.
*/
#ifndef CORUN_EMBED_H
#define CORUN_EMBED_H

#include <lua.h>
#include "corun.h"
#include "runtime.h"

void corun__embed_coroutines(lua_State *L);
int corun__wait_k(lua_State *L, corun_Waker waker, lua_KContext ctx,
                  lua_KFunction k);
void corun__wait_unheld(corun_Runtime *rt, corun_Waker waker);
corun_Task *corun__waker_task(corun_Runtime *rt, corun_Waker waker);
void corun__wait_check(lua_State *L, int base);

#endif
