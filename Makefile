# corun - build, test, install.  LuaRocks drives this file too (rockspec
# build.type = "make"), so it accepts the variables LuaRocks passes.

LUA        ?= lua5.4
LUA_INCDIR ?= /usr/include/lua5.4
LUA_LIBDIR ?=
LUALIB     ?= lua5.4
CFLAGS     ?= -O2 -g
LIBFLAG    ?= -shared
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib/lua/5.4
LUADIR     ?= $(PREFIX)/share/lua/5.4
BUILD      ?= build
BUSTED     ?= busted

UV_CFLAGS  := $(shell pkg-config --cflags libuv 2>/dev/null)
UV_LIBS    := $(shell pkg-config --libs libuv 2>/dev/null || echo -luv)
WARN       := -std=c11 -Wall -Wextra -Werror
DEFS       := -D_DEFAULT_SOURCE
ALL_CFLAGS := $(WARN) $(DEFS) $(CFLAGS) -fPIC -I$(LUA_INCDIR) $(UV_CFLAGS)
LIB_LDIR   := $(if $(LUA_LIBDIR),-L$(LUA_LIBDIR),)

CORE_SRC := host/runtime.c host/task.c host/sched.c host/timer.c \
            host/transfer.c bindings/core.c bindings/args.c \
            bindings/handle.c bindings/coroutine.c bindings/time.c \
            bindings/join.c bindings/joinset.c host/joinset.c \
            bindings/sync.c host/sync.c bindings/channel.c host/channel.c \
            host/embed.c host/io.c bindings/io.c bindings/stream.c \
            bindings/net.c bindings/fs.c bindings/fsreq.c bindings/file.c \
            bindings/process.c bindings/signal.c
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
HEADERS  := $(wildcard host/*.h bindings/*.h)

.PHONY: all build tests install clean test test-asan demo deps bench bench-peers examples

all build: $(BUILD)/corun $(BUILD)/lib/corun/core.so

$(BUILD)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# The module for plain lua5.4: not linked against liblua.
$(BUILD)/lib/corun/core.so: $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LIBFLAG) -o $@ $(CORE_OBJ) $(UV_LIBS) $(LDFLAGS)

$(BUILD)/gen/init_lua.c: lua/corun/init.lua tools/embed.lua
	@mkdir -p $(dir $@)
	$(LUA) tools/embed.lua corun_init_lua lua/corun/init.lua > $@

$(BUILD)/obj/gen/init_lua.o: $(BUILD)/gen/init_lua.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# libcorun: the module (C and Lua parts) for C applications that embed
# corun (host/corun.h); the executable is built on it.
LIBCORUN_OBJ := $(CORE_OBJ) $(BUILD)/obj/host/preload.o $(BUILD)/obj/gen/init_lua.o

$(BUILD)/libcorun.a: $(LIBCORUN_OBJ)
	rm -f $@
	$(AR) rcs $@ $(LIBCORUN_OBJ)

# -Wl,-E exports Lua's symbols to the C modules a script loads.
EMBED_LIBS = $(LIB_LDIR) -l$(LUALIB) $(UV_LIBS) -lm $(LDFLAGS)

$(BUILD)/corun: $(BUILD)/obj/host/main.o $(BUILD)/libcorun.a
	$(CC) $(CFLAGS) -Wl,-E -o $@ $^ $(EMBED_LIBS)

# C test programs run by the specs.
$(BUILD)/test/oom: spec/c/oom.c $(BUILD)/libcorun.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ spec/c/oom.c $(BUILD)/libcorun.a $(EMBED_LIBS)

# The public header as an application sees it once installed (alone in
# an include directory: host/ also has headers named like system ones).
$(BUILD)/include/corun.h: host/corun.h
	@mkdir -p $(dir $@)
	cp host/corun.h $@

# Example programs in C: a host application that embeds corun.
$(BUILD)/examples/embed-host: examples/embed/host.c $(BUILD)/include/corun.h $(BUILD)/libcorun.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -I$(BUILD)/include -o $@ examples/embed/host.c \
	  $(BUILD)/libcorun.a $(EMBED_LIBS)

# C test programs of the embedding API's edge cases.
$(BUILD)/test/embed_api: spec/c/embed_api.c $(BUILD)/include/corun.h $(BUILD)/libcorun.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -I$(BUILD)/include -o $@ spec/c/embed_api.c \
	  $(BUILD)/libcorun.a $(EMBED_LIBS)

examples: all $(BUILD)/examples/embed-host

tests: all examples $(BUILD)/test/oom $(BUILD)/test/embed_api $(BUILD)/bench/cancel

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/corun $(DESTDIR)$(LUADIR)/corun
	install -m 755 $(BUILD)/corun $(DESTDIR)$(BINDIR)/corun
	install -m 755 $(BUILD)/lib/corun/core.so $(DESTDIR)$(LIBDIR)/corun/core.so
	install -m 644 lua/corun/init.lua $(DESTDIR)$(LUADIR)/corun/init.lua

clean:
	rm -rf build build-asan

# Install the Debian packages the build and the tests need (as root or via
# sudo); does nothing when they are all there.
deps:
	@sh tools/deps.sh

demo: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/corun examples/hello.lua

test: deps
	@$(MAKE) --no-print-directory tests
	CORUN_BUILD=$(BUILD) timeout 900 $(LUA) tools/busted.lua

# The same specs with AddressSanitizer and UndefinedBehaviorSanitizer: the
# module is instrumented and libasan is preloaded into lua5.4.
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
              -fno-sanitize-recover=all
test-asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan CFLAGS="$(ASAN_FLAGS)" \
	  LDFLAGS="-fsanitize=address,undefined" tests
	CORUN_BUILD=build-asan CORUN_ASAN=1 \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tools/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	  timeout 1800 $(LUA) tools/busted.lua

# The echo throughput next to a luv-callbacks server (bench/echo/) needs
# lua-luv.
bench: all $(BUILD)/bench/echo-client $(BUILD)/bench/cancel
	@sh tools/deps.sh lua-luv
	CORUN_BUILD=$(BUILD) $(LUA) bench/run.lua
	CORUN_BUILD=$(BUILD) $(LUA) bench/echo/run.lua
	$(BUILD)/bench/cancel

# Cancelling 100 000 tasks in native waits next to 100 000 sleepers.
$(BUILD)/bench/cancel: bench/cancel/cancel.c $(BUILD)/include/corun.h $(BUILD)/libcorun.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -I$(BUILD)/include -o $@ bench/cancel/cancel.c \
	  $(BUILD)/libcorun.a $(EMBED_LIBS)

# The echo benchmark's load generator, in C on libuv (bench/echo/).
$(BUILD)/bench/echo-client: bench/echo/client.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(UV_LIBS) $(LDFLAGS)

# The least a C module can do per task (W1): a lower bound, see the file.
$(BUILD)/bench/apifloor.so: bench/peers/apifloor.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LIBFLAG) -o $@ $<

# corun next to Tokio (current_thread), cqueues, a luv scheduler and the
# raw-coroutine floor, on the same workloads, in one run (bench/peers/).
bench-peers: all $(BUILD)/bench/apifloor.so
	@sh tools/deps.sh lua-cqueues lua-luv librust-tokio-dev
	sh bench/peers/build-tokio.sh
	CORUN_BUILD=$(BUILD) $(LUA) bench/peers/run.lua
