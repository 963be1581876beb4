# tandem — one non-recursive Makefile for the whole tree.
#
#   make               build proxyd, hacd, hactl and the test tools (build/)
#   make test          install missing deps, build, run the unit tests plain and
#                      under ASan+UBSan, each fuzz harness briefly, then the
#                      integration tests, then the proxyd, HA and replication
#                      suites against the ASan+UBSan build (any sanitizer
#                      report, leaks at exit included, fails)
#   make test-tsan     build with ThreadSanitizer (build/tsan), run the unit
#                      tests and proxyd's loopback suites there (no report allowed)
#   make demo          a two-node cluster in network namespaces, with a failover
#   make lab           bring the lab up and leave it running (scripts/lab up)
#   make bench         proxyd side by side with haproxy and nginx (scripts/bench)
#   make bench-tls     TLS handshakes, resumptions and HTTPS requests vs haproxy, nginx
#   make bench-h2      HTTP/2 (h2load -m 10, TLS): CPU per request and per connection vs haproxy, nginx
#   make bench-repl    replication throughput, lag and bulk sync (scripts/bench-repl)
#   make bench-scale   BGP mode: route withdrawal and failed requests on a node failure, spread over 2-4 nodes (scripts/bench-scale)
#   make bench-compress  gzip/br/zstd CPU per MB and sizes: proxyd's coders vs zlib,
#                      nginx's gzip and haproxy's compression (scripts/bench-compress;
#                      `scripts/bench-compress ab`: proxyd gzip 6 and nginx gzip 6 at the same time)
#   make bench-cache   the cache's hit path CPU per request: proxyd vs nginx
#                      proxy_cache (tmpfs) and haproxy's cache (scripts/bench-cache;
#                      `scripts/bench-cache miss`: the miss path against no cache)
#   make fuzz          libFuzzer harnesses, each for FUZZ_SECONDS (default 30)
#   make fuzz-build    only build them (clang, into build/fuzz)
#   make install       PREFIX=/usr/local DESTDIR=
#   make deb           the Debian package (debhelper) into build/deb, then lintian
#   make test-deb      build it, install, upgrade and purge it in a clean Debian 12
#                      tree made by mmdebstrap (tests/integration/test_deb.sh)
#   make clean
#
# SAN=1 builds everything into build/san with -fsanitize=address,undefined;
# SAN=thread into build/tsan with -fsanitize=thread (TSan excludes ASan);
# FUZZ=1 (what `make fuzz-build` runs) builds the libraries and the
# tests/fuzz/fuzz_*.c harnesses into build/fuzz with clang and libFuzzer;
# BUILD_DIR=dir puts the build elsewhere.

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
SAN     ?=
FUZZ    ?=
FUZZ_CC ?= clang

BUILD_DIR ?= build

ifneq ($(FUZZ),)
# The harnesses: the same sources, warnings and -Werror as the daemons, with
# clang's libFuzzer instrumentation on every object (so coverage reaches into
# lib/, proxyd/ and hacd/) and ASan+UBSan that abort on the first report.
B       := $(BUILD_DIR)/fuzz
CC      := $(FUZZ_CC)
OPT     := -O1 -g -fno-omit-frame-pointer
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
else ifeq ($(SAN),)
B       := $(BUILD_DIR)
OPT     := -O2 -g
SANFLAGS :=
else ifeq ($(SAN),thread)
# ThreadSanitizer cannot be combined with ASan: a build of its own.
B       := $(BUILD_DIR)/tsan
OPT     := -O1 -g -fno-omit-frame-pointer
SANFLAGS := -fsanitize=thread
else
B       := $(BUILD_DIR)/san
OPT     := -O1 -g -fno-omit-frame-pointer
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined
endif

PKGS    := openssl libnl-3.0 libnl-route-3.0 libprotobuf-c libsodium libconfig zlib libsystemd \
           libzstd libbrotlienc libnghttp2
# pkg-config is asked lazily (=) so that `make deps` and `make clean` work on a
# machine where the libraries are not installed yet.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# The brotli decoder only for the tests that decode what proxyd coded
# (the daemons encode; curl and browsers decode).
TEST_LIBS  = $(shell pkg-config --libs libbrotlidec 2>/dev/null)

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Werror
CFLAGS  ?=
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE $(OPT) $(SANFLAGS) $(WARN) -I. -I$(B) \
             $(PKG_CFLAGS) -MMD -MP $(CFLAGS)
LDFLAGS ?=
LDLIBS_ALL = $(SANFLAGS) $(LDFLAGS) $(PKG_LIBS) -lpthread -lm

# --- sources ---------------------------------------------------------------
PROTO_C   := $(B)/proto/tandem.pb-c.c
PROTO_H   := $(B)/proto/tandem.pb-c.h
LIB_SRC   := $(wildcard lib/*.c)
PROXYD_SRC := $(filter-out proxyd/main.c,$(wildcard proxyd/*.c))
HACD_SRC  := $(filter-out hacd/main.c hacd/hactl.c,$(wildcard hacd/*.c))
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
TOOL_SRC  := $(wildcard tests/tools/*.c)
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

LIB_A     := $(B)/libtandem.a
PROXYD_A  := $(B)/libproxyd.a
HACD_A    := $(B)/libhacd.a

BINS      := $(if $(wildcard proxyd/main.c),$(B)/proxyd) \
             $(if $(wildcard hacd/main.c),$(B)/hacd) \
             $(if $(wildcard hacd/hactl.c),$(B)/hactl)
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(UNIT_SRC))
TOOL_BINS := $(patsubst tests/tools/%.c,$(B)/tests/tools/%,$(TOOL_SRC))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(B)/%,$(FUZZ_SRC))

.PHONY: all deps test test-tsan unit demo lab bench bench-ha bench-scale bench-tls bench-repl bench-h2 bench-compress bench-cache \
        fuzz fuzz-build fuzz-bins install deb test-deb clean
.DEFAULT_GOAL := all
# Keep objects made through pattern chains (tests, tools): without this make
# deletes them as intermediates and the second `make` would compile again.
.SECONDARY:

all: $(BINS) $(UNIT_BINS) $(TOOL_BINS)

# --- generated protobuf code -------------------------------------------------
$(PROTO_C) $(PROTO_H) &: proto/tandem.proto
	@mkdir -p $(B)
	protoc-c --c_out=$(B) proto/tandem.proto

# Everything may include the generated header, so it must exist before any
# object is compiled; -MMD takes over from the second build on.
$(B)/obj/%.o: %.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

# protoc-c's output is not ours to fix: compile it without the strict set.
$(B)/obj/proto/tandem.pb-c.o: $(PROTO_C)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(OPT) $(SANFLAGS) -I$(B) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(LIB_A): $(call obj,$(LIB_SRC)) $(B)/obj/proto/tandem.pb-c.o
	@rm -f $@
	ar rcs $@ $^

# The status page (proxyd/status_page.html) goes into proxyd as a C string:
# one binary serves the page and the JSON it reads, so they cannot drift
# apart, and nothing has to be installed or found at run time.
STATUS_PAGE_C := $(B)/gen/status_page.c
$(STATUS_PAGE_C): proxyd/status_page.html
	@mkdir -p $(dir $@)
	{ echo '/* generated from proxyd/status_page.html by the Makefile */'; \
	  echo 'extern const char status_page[];'; echo 'const char status_page[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; echo ';'; } > $@.tmp
	mv $@.tmp $@

$(B)/obj/gen/status_page.o: $(STATUS_PAGE_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(PROXYD_A): $(call obj,$(PROXYD_SRC)) $(B)/obj/gen/status_page.o
	@rm -f $@
	ar rcs $@ $^

$(HACD_A): $(call obj,$(HACD_SRC))
	@rm -f $@
	ar rcs $@ $^

$(B)/proxyd: $(call obj,proxyd/main.c) $(PROXYD_A) $(LIB_A)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

$(B)/hacd: $(call obj,hacd/main.c) $(HACD_A) $(LIB_A)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

$(B)/hactl: $(call obj,hacd/hactl.c) $(HACD_A) $(LIB_A)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

$(B)/tests/unit/%: $(call obj,tests/unit/%.c) $(PROXYD_A) $(HACD_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS_ALL) $(TEST_LIBS) -lcmocka

$(B)/tests/tools/%: $(call obj,tests/tools/%.c) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

# frames prints a byte stream's framing as proxyd's parser sees it (the
# differential HTTP test's reference), so it links the pure parser.
$(B)/tests/tools/frames: $(call obj,proxyd/http_parse.c)

# compbench drives proxyd's coders (codec-only half of make bench-compress).
$(B)/tests/tools/compbench: $(call obj,proxyd/compress.c)

# A harness is linked as the unit tests are, against the daemons' libraries;
# -fsanitize=fuzzer supplies main(). Only with FUZZ=1 (clang).
$(B)/fuzz_%: $(call obj,tests/fuzz/fuzz_%.c) $(PROXYD_A) $(HACD_A) $(LIB_A)
	$(CC) -fsanitize=fuzzer -o $@ $^ $(LDLIBS_ALL)

fuzz-bins: $(FUZZ_BINS)

# --- the two commands and friends -------------------------------------------
deps:
	scripts/install-deps

# `make test` is the one test command (README, .ci/run). It installs what is
# missing, builds twice (plain and sanitized) and hands over to tests/run,
# whose last line is the overall "N passed, N failed". The builds use two
# jobs unless make was given -j itself (.ci/run calls plain `make test` on
# the 2-core CI machine); tests/run runs two lanes (TEST_JOBS, default 2).
TEST_BUILD_JOBS = $(if $(findstring -j,$(MAKEFLAGS)),,-j2)
test: deps
	scripts/add-users
	$(MAKE) $(TEST_BUILD_JOBS) all
	$(MAKE) $(TEST_BUILD_JOBS) SAN=1 all
	$(MAKE) $(TEST_BUILD_JOBS) fuzz-build
	tests/run

# ThreadSanitizer has a target of its own rather than a place in `make test`:
# a third full build and proxyd's suites under TSan's 5-15x slowdown add
# about three minutes to a run that the fuzz and soak steps share, for the
# one multithreaded program (hacd has a single thread). Run it when proxyd's
# threading, its shared state or lib/ changes.
test-tsan: deps
	scripts/add-users
	$(MAKE) SAN=thread all
	tests/run --tsan

unit: all
	tests/run --unit-only

demo: deps
	scripts/add-users
	$(MAKE) all
	BUILD=$(B) scripts/lab demo

lab: deps
	scripts/add-users
	$(MAKE) all
	BUILD=$(B) scripts/lab up

bench: deps
	scripts/add-users
	$(MAKE) all
	scripts/bench proxy

bench-ha: deps
	scripts/add-users
	$(MAKE) all
	scripts/bench ha

bench-scale: deps
	scripts/add-users
	$(MAKE) all
	BUILD=$(B) scripts/bench-scale

bench-tls: deps
	scripts/add-users
	$(MAKE) all
	BUILD=$(B) scripts/bench-tls

bench-h2: deps
	scripts/add-users
	$(MAKE) all
	BUILD=$(B) scripts/bench-h2

bench-repl: deps
	scripts/add-users
	$(MAKE) all
	BUILD=$(B) scripts/bench-repl

bench-compress: deps
	scripts/add-users
	$(MAKE) all
	BUILD=$(B) scripts/bench-compress

bench-cache: deps
	scripts/add-users
	$(MAKE) all
	BUILD=$(B) scripts/bench-cache

# tests/fuzz/run runs what fuzz-build made, FUZZ_SECONDS each.
fuzz-build:
	$(MAKE) FUZZ=1 fuzz-bins

# The lab under load for SOAK_MINUTES while faults come and go, on the
# sanitizer build (scripts/soak; docs/assurance.md reads its report).
SOAK_MINUTES ?= 30
soak: deps
	scripts/add-users
	$(MAKE) SAN=1 all
	SOAK_MINUTES=$(SOAK_MINUTES) BUILD=$(CURDIR)/$(BUILD_DIR)/san scripts/soak

fuzz: deps
	$(MAKE) FUZZ=1 fuzz-bins
	BUILD_DIR=$(BUILD_DIR) tests/fuzz/run

# Only the programs: install needs neither the tests nor cmocka (debian/rules
# builds build/proxyd, build/hacd and build/hactl alone, then runs this).
install: $(BINS)
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/man/man5 \
	    $(DESTDIR)/etc/tandem $(DESTDIR)/lib/systemd/system
	$(if $(filter %/proxyd %/hacd,$(BINS)),install -m 0755 $(filter %/proxyd %/hacd,$(BINS)) $(DESTDIR)$(PREFIX)/sbin/)
	$(if $(filter %/hactl,$(BINS)),install -m 0755 $(B)/hactl $(DESTDIR)$(PREFIX)/bin/)
	$(if $(wildcard docs/man/*.8),install -m 0644 docs/man/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/)
	$(if $(wildcard docs/man/*.5),install -m 0644 docs/man/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/)
	$(if $(wildcard etc/*.conf),install -m 0644 etc/*.conf $(DESTDIR)/etc/tandem/)
	install -d $(DESTDIR)/usr/lib/sysusers.d
	install -m 0644 systemd/tandem-sysusers.conf $(DESTDIR)/usr/lib/sysusers.d/tandem.conf
	install -D -m 0644 contrib/bash-completion/hactl $(DESTDIR)$(PREFIX)/share/bash-completion/completions/hactl
	@echo "install: the units run proxyd as tandem-proxyd and hacd as tandem-hacd: create both with systemd-sysusers or scripts/add-users (as root)"
	for u in systemd/*.service; do \
	    sed 's|/usr/local/sbin/|$(PREFIX)/sbin/|g' $$u > $(DESTDIR)/lib/systemd/system/$$(basename $$u); \
	    chmod 0644 $(DESTDIR)/lib/systemd/system/$$(basename $$u); \
	done

# The package is built from a copy of the tree under build/deb/src (in a git
# checkout: the tracked files and the new ones .gitignore does not exclude;
# otherwise everything but build/), so dpkg-buildpackage's outputs (written
# to the parent directory) land in build/deb and the checkout stays clean.
# lintian fails the target on any error or warning; there are no overrides.
DEB_DIR := $(BUILD_DIR)/deb
deb:
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/src
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	    git ls-files -z -co --exclude-standard | tar --null -T - -c; \
	else \
	    tar -c --exclude=./build --exclude-vcs .; \
	fi | tar -x -C $(DEB_DIR)/src
	cd $(DEB_DIR)/src && dpkg-buildpackage -us -uc -b
	lintian --fail-on error,warning --info $(DEB_DIR)/*.changes
	@ls -l $(DEB_DIR)/*.deb

# Install, upgrade and purge in a clean Debian 12 tree (mmdebstrap, needs
# Debian's mirror the first time; the tree is cached under /var/cache).
test-deb: deps
	tests/integration/test_deb.sh

clean:
	rm -rf build

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
