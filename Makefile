# corun - build, test, install.  LuaRocks drives this file too (rockspec
# build.type = "make"), so it takes the variables LuaRocks passes:
#   CFLAGS LIBFLAG LUA LUA_INCDIR LUA_DIR LUA_LIBDIR LUALIB LIBUV_INCDIR
#   LIBUV_LIBDIR PREFIX BINDIR LIBDIR LUADIR
# Where one is not given, pkg-config (then a Debian default) fills it in.
#
# `make` builds with the flags its caller gave; -Werror is added only where
# the project checks itself (make test, make test-asan, .ci/run), so that a
# newer compiler's new warning never stops a user's build.

# The version lives in host/corun.h (CORUN_VERSION); everything else reads
# it from there (the rock, the .pc file; spec/packaging_spec.lua checks the
# rockspecs).
VERSION    := $(shell sed -n 's/^\#define CORUN_VERSION "\(.*\)"/\1/p' host/corun.h)
ABI        := $(word 1,$(subst ., ,$(VERSION))).$(word 2,$(subst ., ,$(VERSION)))

LUA        ?= lua5.4
LUA_INCDIR ?= $(patsubst -I%,%,$(filter -I%,$(shell pkg-config --cflags lua5.4 2>/dev/null)))
LUA_INCDIR := $(if $(strip $(LUA_INCDIR)),$(LUA_INCDIR),/usr/include/lua5.4)
# The Lua library, for the executable and the C hosts (the module is not
# linked against it): LUALIB (its file name, as LuaRocks names it:
# liblua5.4.so), or else pkg-config's lua5.4, or else -llua5.4; found in
# LUA_LIBDIR, or LUA_DIR/lib (LuaRocks passes LUA_DIR), or the default
# paths.
LUA_LIBDIR ?= $(if $(strip $(LUA_DIR)),$(wildcard $(LUA_DIR)/lib),)
ifneq ($(strip $(LUALIB)),)
LUA_LIBS   := -l$(if $(filter lib%,$(notdir $(LUALIB))),$(patsubst lib%,%,$(basename $(notdir $(LUALIB)))),$(LUALIB))
else
LUA_LIBS   := $(shell pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4)
endif
LUA_LIBS   := $(if $(strip $(LUA_LIBDIR)),-L$(LUA_LIBDIR),) $(LUA_LIBS)
CFLAGS     ?= -O2 -g
LIBFLAG    ?= -shared
WERROR     ?=
# The project's checks build with the invariants checked (host/check.h).
CHECKS     ?=
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib/lua/5.4
LUADIR     ?= $(PREFIX)/share/lua/5.4
INCLUDEDIR ?= $(PREFIX)/include
CLIBDIR    ?= $(PREFIX)/lib
PKGCONFIGDIR ?= $(CLIBDIR)/pkgconfig
BUILD      ?= build

# libuv: from LuaRocks' external dependency when it found one, else
# pkg-config, else the compiler's default paths.
ifneq ($(strip $(LIBUV_INCDIR)),)
UV_CFLAGS  := -I$(LIBUV_INCDIR)
UV_LIBS    := $(if $(strip $(LIBUV_LIBDIR)),-L$(LIBUV_LIBDIR),) -luv
else
UV_CFLAGS  := $(shell pkg-config --cflags libuv 2>/dev/null)
UV_LIBS    := $(shell pkg-config --libs libuv 2>/dev/null || echo -luv)
endif

# libcurl (the HTTP client) and OpenSSL (TLS): from LuaRocks' external
# dependencies when it found them, else pkg-config.
ifneq ($(strip $(LIBCURL_INCDIR)),)
CURL_CFLAGS := -I$(LIBCURL_INCDIR)
CURL_LIBS  := $(if $(strip $(LIBCURL_LIBDIR)),-L$(LIBCURL_LIBDIR),) -lcurl
else
CURL_CFLAGS := $(shell pkg-config --cflags libcurl 2>/dev/null)
CURL_LIBS  := $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl)
endif
ifneq ($(strip $(OPENSSL_INCDIR)),)
SSL_CFLAGS := -I$(OPENSSL_INCDIR)
SSL_LIBS   := $(if $(strip $(OPENSSL_LIBDIR)),-L$(OPENSSL_LIBDIR),) -lssl -lcrypto
else
SSL_CFLAGS := $(shell pkg-config --cflags openssl 2>/dev/null)
SSL_LIBS   := $(shell pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)
endif
# Node's http_parser (the HTTP server's request parser): from LuaRocks'
# external dependency when it found one, else the compiler's default paths
# (Debian's libhttp-parser-dev ships no .pc file).
ifneq ($(strip $(HTTP_PARSER_INCDIR)),)
HP_CFLAGS  := -I$(HTTP_PARSER_INCDIR)
HP_LIBS    := $(if $(strip $(HTTP_PARSER_LIBDIR)),-L$(HTTP_PARSER_LIBDIR),) -lhttp_parser
else
HP_CFLAGS  :=
HP_LIBS    := -lhttp_parser
endif
# GNU readline (the prompt of corun -i, host/repl.c): linked into the
# executable only, the module and libcorun do without; from LuaRocks'
# external dependency when it found one, else the default paths.
ifneq ($(strip $(READLINE_INCDIR)),)
RL_CFLAGS  := -I$(READLINE_INCDIR)
READLINE_LIBS := $(if $(strip $(READLINE_LIBDIR)),-L$(READLINE_LIBDIR),) -lreadline
else
RL_CFLAGS  :=
READLINE_LIBS := -lreadline
endif
DEP_CFLAGS := $(UV_CFLAGS) $(CURL_CFLAGS) $(SSL_CFLAGS) $(HP_CFLAGS) $(RL_CFLAGS)
DEP_LIBS   := $(CURL_LIBS) $(SSL_LIBS) $(HP_LIBS) $(UV_LIBS)

WARN       := -std=c11 -Wall -Wextra $(WERROR)
DEFS       := -D_DEFAULT_SOURCE $(CHECKS)
ALL_CFLAGS := $(WARN) $(DEFS) $(CFLAGS) -fPIC -I$(LUA_INCDIR) $(DEP_CFLAGS)

# The sources of the module: every C file of each layer (host/, io/,
# bindings/), but the executable's main and the preloader of libcorun.
CORE_SRC := $(filter-out host/main.c host/repl.c host/preload.c, \
              $(sort $(wildcard host/*.c io/*.c bindings/*.c)))
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)

.PHONY: all build tests install uninstall clean test test-asan demo deps \
        bench bench-peers bench-http examples rock lint check-layers FORCE

all build: $(BUILD)/corun $(BUILD)/lib/corun/core.so $(BUILD)/libcorun.a \
           $(BUILD)/libcorun.so $(BUILD)/corun.pc

# Objects are rebuilt when the compiler or its flags change: this file
# holds them and is rewritten only when they differ.
$(BUILD)/flags: FORCE
	@mkdir -p $(@D)
	@echo '$(CC) $(ALL_CFLAGS)' | cmp -s - $@ || \
	  echo '$(CC) $(ALL_CFLAGS)' > $@

# ... and when a header they include changes (-MMD: the .d files).
$(BUILD)/obj/%.o: %.c $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

-include $(wildcard $(BUILD)/obj/*/*.d)

# The module for plain lua5.4: not linked against liblua.
$(BUILD)/lib/corun/core.so: $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LIBFLAG) -o $@ $(CORE_OBJ) $(DEP_LIBS) $(LDFLAGS)

$(BUILD)/gen/init_lua.c: lua/corun/init.lua tools/embed.lua
	@mkdir -p $(dir $@)
	$(LUA) tools/embed.lua corun_init_lua lua/corun/init.lua > $@

$(BUILD)/obj/gen/init_lua.o: $(BUILD)/gen/init_lua.c $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

# libcorun: the module (C and Lua parts) for C applications that embed
# corun (host/corun.h); the executable is built on it.  The shared library
# is not linked against liblua either: the application brings its Lua.
LIBCORUN_OBJ := $(CORE_OBJ) $(BUILD)/obj/host/preload.o $(BUILD)/obj/gen/init_lua.o
SONAME := libcorun.so.$(ABI)

$(BUILD)/libcorun.a: $(LIBCORUN_OBJ)
	rm -f $@
	$(AR) rcs $@ $(LIBCORUN_OBJ)

$(BUILD)/libcorun.so: $(LIBCORUN_OBJ)
	$(CC) $(CFLAGS) -shared -Wl,-soname,$(SONAME) -o $@.$(VERSION) \
	  $(LIBCORUN_OBJ) $(DEP_LIBS) $(LDFLAGS)
	ln -sf libcorun.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@

# -Wl,-E exports Lua's symbols to the C modules a script loads.
EMBED_LIBS = $(LUA_LIBS) $(DEP_LIBS) -lm $(LDFLAGS)

$(BUILD)/corun: $(BUILD)/obj/host/main.o $(BUILD)/obj/host/repl.o $(BUILD)/libcorun.a
	$(CC) $(CFLAGS) -Wl,-E -o $@ $^ $(EMBED_LIBS) $(READLINE_LIBS)

# pkg-config's description of the installed library.
$(BUILD)/corun.pc: host/corun.h Makefile
	@mkdir -p $(dir $@)
	printf '%s\n' 'prefix=$(PREFIX)' 'includedir=$(INCLUDEDIR)' \
	  'libdir=$(CLIBDIR)' '' 'Name: corun' \
	  'Description: Tokio'"'"'s task model for Lua 5.4, on libuv: the embedding API' \
	  'Version: $(VERSION)' \
	  'Cflags: -I$${includedir} -I$(LUA_INCDIR) $(UV_CFLAGS)' \
	  'Libs: -L$${libdir} -lcorun $(LUA_LIBS) $(DEP_LIBS) -lm' > $@

# C test programs run by the specs.
$(BUILD)/test/oom: spec/c/oom.c $(BUILD)/libcorun.a $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ spec/c/oom.c $(BUILD)/libcorun.a $(EMBED_LIBS)

# The public header as an application sees it once installed (alone in
# an include directory: host/ also has headers named like system ones).
$(BUILD)/include/corun.h: host/corun.h
	@mkdir -p $(dir $@)
	cp host/corun.h $@

# Example programs in C: a host application that embeds corun.
$(BUILD)/examples/embed-host: examples/embed/host.c $(BUILD)/include/corun.h $(BUILD)/libcorun.a $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -I$(BUILD)/include -o $@ examples/embed/host.c \
	  $(BUILD)/libcorun.a $(EMBED_LIBS)

# C test programs of the embedding API's edge cases.
$(BUILD)/test/embed_api: spec/c/embed_api.c $(BUILD)/include/corun.h $(BUILD)/libcorun.a $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -I$(BUILD)/include -o $@ spec/c/embed_api.c \
	  $(BUILD)/libcorun.a $(EMBED_LIBS)

examples: all $(BUILD)/examples/embed-host

tests: all examples $(BUILD)/test/oom $(BUILD)/test/embed_api $(BUILD)/bench/cancel

# ------------------------------------------------------------ install

# What install puts in place.  The embedding files (corun.h, libcorun,
# corun.pc) are left out with INSTALL_EMBED=no: the rockspecs do so, as
# LuaRocks would deploy a rock's lib/ as Lua modules.
INSTALL_EMBED ?= yes
INSTALLED = $(BINDIR)/corun $(LIBDIR)/corun/core.so $(LUADIR)/corun/init.lua
EMBED_INSTALLED = $(INCLUDEDIR)/corun.h $(CLIBDIR)/libcorun.a \
            $(CLIBDIR)/libcorun.so.$(VERSION) $(CLIBDIR)/$(SONAME) \
            $(CLIBDIR)/libcorun.so $(PKGCONFIGDIR)/corun.pc

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/corun \
	  $(DESTDIR)$(LUADIR)/corun
	install -m 755 $(BUILD)/corun $(DESTDIR)$(BINDIR)/corun
	install -m 755 $(BUILD)/lib/corun/core.so $(DESTDIR)$(LIBDIR)/corun/core.so
	install -m 644 lua/corun/init.lua $(DESTDIR)$(LUADIR)/corun/init.lua
ifeq ($(INSTALL_EMBED),yes)
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(CLIBDIR) \
	  $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 host/corun.h $(DESTDIR)$(INCLUDEDIR)/corun.h
	install -m 644 $(BUILD)/libcorun.a $(DESTDIR)$(CLIBDIR)/libcorun.a
	install -m 755 $(BUILD)/libcorun.so.$(VERSION) \
	  $(DESTDIR)$(CLIBDIR)/libcorun.so.$(VERSION)
	ln -sf libcorun.so.$(VERSION) $(DESTDIR)$(CLIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(CLIBDIR)/libcorun.so
	install -m 644 $(BUILD)/corun.pc $(DESTDIR)$(PKGCONFIGDIR)/corun.pc
endif

# Removes exactly what install put there (and the corun directories it
# made, once empty).
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED) $(EMBED_INSTALLED))
	-rmdir $(DESTDIR)$(LIBDIR)/corun $(DESTDIR)$(LUADIR)/corun 2>/dev/null

clean:
	rm -rf build build-asan corun-*.src.rock

# ---------------------------------------------------------- the rock

ROCK      := corun-$(VERSION)-1
ROCKSPECS := corun-scm-1.rockspec rockspecs/$(ROCK).rockspec

# A source rock of the tracked files (as they are in the work tree): the
# versioned rockspec and the archive its source.url names, which LuaRocks
# then unpacks instead of downloading.  Installs with no network:
#   luarocks --lua-version 5.4 --tree DIR install corun-$(VERSION)-1.src.rock
rock: $(ROCK).src.rock

$(ROCK).src.rock: FORCE
	@rm -rf $(BUILD)/rock && mkdir -p $(BUILD)/rock
	git ls-files -z | tar --null -T - \
	  --transform 's,^,corun-$(VERSION)/,' -czf $(BUILD)/rock/corun-$(VERSION).tar.gz
	cp rockspecs/$(ROCK).rockspec $(BUILD)/rock/
	rm -f $@
	cd $(BUILD)/rock && zip -q $(CURDIR)/$@ $(ROCK).rockspec corun-$(VERSION).tar.gz

# luarocks lint on every rockspec.
lint:
	@for r in $(ROCKSPECS); do \
	  luarocks --lua-version 5.4 lint $$r || exit 1; \
	  echo "$$r: lint ok"; done

# Install the Debian packages the build and the tests need (as root or via
# sudo); does nothing when they are all there.
deps:
	@sh tools/deps.sh $(TEST_PACKAGES)

# What the specs run besides corun: busted and LuaRocks, and the programs
# nobody here wrote that corun is tested against (TLS and HTTP peers).
TEST_PACKAGES := lua-busted luarocks python3 openssl curl nghttp2-server \
                 apache2-utils wrk

demo:
	@sh tools/deps.sh
	@$(MAKE) --no-print-directory all
	$(BUILD)/corun examples/hello.lua

# The layers' rules (tools/check-layers.lua, docs/internals.md): what each
# directory may include and call.
check-layers: all
	$(LUA) tools/check-layers.lua . $(BUILD)/obj

# The project's own checks: warnings are errors here.
test: deps
	@$(MAKE) --no-print-directory WERROR=-Werror CHECKS=-DCORUN_CHECKS tests
	@$(MAKE) --no-print-directory WERROR=-Werror CHECKS=-DCORUN_CHECKS \
	  check-layers
	CORUN_BUILD=$(BUILD) timeout 900 $(LUA) tools/busted.lua

# The same specs with AddressSanitizer and UndefinedBehaviorSanitizer: the
# module is instrumented and libasan is preloaded into lua5.4.
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
              -fno-sanitize-recover=all
test-asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan WERROR=-Werror \
	  CHECKS=-DCORUN_CHECKS CFLAGS="$(ASAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" tests
	CORUN_BUILD=build-asan CORUN_ASAN=1 \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tools/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  CORUN_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	  timeout 2400 $(LUA) tools/asan-suite.lua

# --------------------------------------------------------- benchmarks

# The echo throughput next to a luv-callbacks server (bench/echo/) needs
# lua-luv.
bench: all $(BUILD)/bench/echo-client $(BUILD)/bench/cancel
	@sh tools/deps.sh lua-luv
	CORUN_BUILD=$(BUILD) $(LUA) bench/run.lua
	CORUN_BUILD=$(BUILD) $(LUA) bench/echo/run.lua
	$(BUILD)/bench/cancel

# The HTTP server next to luv, lua-http and nginx under wrk (bench/http/).
bench-http: all
	@sh tools/deps.sh wrk nginx-light lua-luv lua-http lua-cqueues curl
	CORUN_BUILD=$(BUILD) $(LUA) bench/http/run.lua
	CORUN_BUILD=$(BUILD) $(LUA) bench/http/server.lua

# Cancelling 100 000 tasks in native waits next to 100 000 sleepers.
$(BUILD)/bench/cancel: bench/cancel/cancel.c $(BUILD)/include/corun.h $(BUILD)/libcorun.a $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -I$(BUILD)/include -o $@ bench/cancel/cancel.c \
	  $(BUILD)/libcorun.a $(EMBED_LIBS)

# The echo benchmark's load generator, in C on libuv (bench/echo/).
$(BUILD)/bench/echo-client: bench/echo/client.c $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(UV_LIBS) $(LDFLAGS)

# The least a C module can do per task (W1): a lower bound, see the file.
$(BUILD)/bench/apifloor.so: bench/peers/apifloor.c $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LIBFLAG) -o $@ $<

# corun next to Tokio (current_thread), cqueues, a luv scheduler and the
# raw-coroutine floor, on the same workloads, in one run (bench/peers/).
bench-peers: all $(BUILD)/bench/apifloor.so
	@sh tools/deps.sh lua-cqueues lua-luv librust-tokio-dev
	sh bench/peers/build-tokio.sh
	CORUN_BUILD=$(BUILD) $(LUA) bench/peers/run.lua
