# keysift - build, test, demo and install.
#
#   make            optimised build in build/
#   make deps       install the Debian packages the build and tests need
#   make deps-build install only what building keysift needs
#   make test       unit and end-to-end tests, then again under ASan+UBSan,
#                   then under valgrind (make test-valgrind), then a short
#                   fuzzing pass (make fuzz-smoke)
#   make fuzz       the fuzz targets, FUZZ_TIME seconds each (tests/fuzz/)
#   make demo       scan a generated example tree and layer tarball
#   make bench      throughput and start-up benchmarks (docs/performance.md)
#   make install    PREFIX=/usr/local DESTDIR=
#   make clean

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
CC      ?= cc

PKGS     := libhs libarchive jansson yaml-0.1 libpcre2-8 libisal libzstd
# libcurl's headers only: the engine loads the library when it first
# speaks to a registry (engine/registry.c says why).
LOADED   := libcurl
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wvla
OPT      ?= -O2 -g
SAN      ?=
CPPFLAGS += -D_DEFAULT_SOURCE -Iengine/include -Iengine -I$(BUILD)/gen
CFLAGS   += -std=c11 $(OPT) $(WARN) $(SAN) -pthread \
            $(shell pkg-config --cflags $(PKGS) $(LOADED) 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -ldl -lm -pthread
LDFLAGS  += $(SAN)

ENGINE_SRC := $(wildcard engine/*.c)
CLI_SRC    := $(wildcard cli/*.c)
RULE_FILES := $(sort $(wildcard patterns/*.yaml))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

ENGINE_OBJ := $(ENGINE_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/default_rules.o
CLI_OBJ    := $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
LIB        := $(BUILD)/libkeysift.a
BIN        := $(BUILD)/keysift
FIXGEN     := $(BUILD)/make_fixtures

# Debian packages: what building keysift needs (`make deps-build`, used by
# the Dockerfile), then what the tests and the tools they drive need.
BUILD_PKGS := gcc make pkg-config libhyperscan-dev libarchive-dev \
              libzstd-dev libjansson-dev libyaml-dev libpcre2-dev \
              libcurl4-openssl-dev libisal-dev
DEB_PKGS := $(BUILD_PKGS) libcmocka-dev jq time zstd libarchive-tools \
            util-linux slurmctld slurmd slurm-client munge python3 \
            python3-yaml docker-registry skopeo apache2-utils git \
            python3-jsonschema yara ripgrep valgrind clang libclang-rt-14-dev
# What `make bench` runs beside keysift: the decompressors it is measured
# against and the timer (the peer scanners are above: tests drive them).
BENCH_PKGS := isal gzip hyperfine

.PHONY: all deps deps-build test unit e2e test-asan test-valgrind demo bench \
        install clean

all: $(BIN)

$(BUILD)/%.o: %.c $(wildcard engine/*.h engine/include/*.h cli/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# The embedder runs on the build machine: no sanitizers, no libraries.
$(BUILD)/tools/embed_rules: tools/embed_rules.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 $(WARN) -o $@ $<

$(BUILD)/gen/default_rules.c: $(BUILD)/tools/embed_rules $(RULE_FILES)
	@mkdir -p $(dir $@)
	$(BUILD)/tools/embed_rules $@ $(RULE_FILES)

$(BUILD)/gen/default_rules.o: $(BUILD)/gen/default_rules.c engine/ruleset.h
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(ENGINE_OBJ)
	$(AR) rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS)

$(BUILD)/make_corpus: tests/fixtures/make_corpus.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LDFLAGS)

$(FIXGEN): tests/fixtures/make_fixtures.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LDFLAGS) \
	    $(shell pkg-config --libs libarchive)

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(LIB) $(LDFLAGS) \
	    $(LDLIBS) $(shell pkg-config --libs cmocka)

# Installs only what is missing; silent when everything is there.
deps: PKGS_WANTED = $(DEB_PKGS) $(BENCH_PKGS)
deps-build: PKGS_WANTED = $(BUILD_PKGS)
deps deps-build:
	@missing=""; for p in $(PKGS_WANTED); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | \
	        grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "make deps: installing$$missing"; \
	    SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	        --no-install-recommends $$missing >/dev/null; \
	fi

# Every test binary runs even when an earlier one fails; UNIT_WRAP is a
# command put in front of each (test-valgrind's memcheck).
UNIT_WRAP ?=
unit: $(UNIT_BIN)
	@failed=0; for t in $(UNIT_BIN); do \
	    echo "== $$t"; KEYSIFT_RULES_DIR=patterns $(UNIT_WRAP) $$t || \
	    failed=1; done; exit $$failed

# E2E_BIG=1 adds the 2 GiB bounded-memory cases (about 10 s).
E2E_BIG ?= 0
e2e: $(BIN) $(FIXGEN) $(BUILD)/make_corpus
	E2E_BIG=$(E2E_BIG) KEYSIFT=$(BIN) MAKE_FIXTURES=$(FIXGEN) \
	    MAKE_CORPUS=$(BUILD)/make_corpus bash tests/e2e/run.sh

# The code must build warning-free with clang too, where it is installed;
# then the whole suite runs once optimised and once under the sanitizers.
test: deps
	@if command -v clang >/dev/null; then \
	    $(MAKE) --no-print-directory -s BUILD=build/clang CC=clang all && \
	    echo "clang build: clean"; fi
	$(MAKE) --no-print-directory unit e2e E2E_BIG=1
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-valgrind
	$(MAKE) --no-print-directory fuzz-smoke

test-asan:
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	$(MAKE) --no-print-directory BUILD=build/asan OPT="-O1 -g" \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer \
	         -fno-sanitize-recover=all" unit e2e

# Valgrind's memcheck over the whole suite, in a build at -O1 without
# sanitizers: every unit test binary runs under it, and so does every
# keysift run of the end-to-end suite (tests/e2e/run.sh's KEYSIFT_WRAP),
# except where docs/architecture.md's Testing section says otherwise. An
# error or a definite or indirect leak makes a run exit 99, a status
# keysift never uses; tests/valgrind.supp says what is suppressed and why.
# Time limits are ten times the usual; the 2 GiB stream cases read 64 MiB.
# A process under valgrind runs on one core whatever its threads, so the
# unit and end-to-end suites run side by side, each one's output shown
# when it ends: about 18 minutes on 2 cores, build included.
VALGRIND := valgrind --tool=memcheck --leak-check=full \
            --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
            --smc-check=all-non-file --num-callers=20 \
            --suppressions=$(CURDIR)/tests/valgrind.supp
test-valgrind:
	KEYSIFT_WRAP="$(VALGRIND)" KS_SLOWDOWN=10 E2E_BIG_BYTES=67108864 \
	$(MAKE) --no-print-directory -j2 --output-sync=target \
	    BUILD=build/valgrind OPT="-O1 -g" UNIT_WRAP="$(VALGRIND) -q" \
	    E2E_BIG=1 unit e2e

demo: deps
	$(MAKE) --no-print-directory $(BIN) $(FIXGEN)
	@rm -rf $(BUILD)/demo && $(FIXGEN) $(BUILD)/demo >/dev/null
	@echo "== keysift scan $(BUILD)/demo/tree $(BUILD)/demo/layer.tar.gz"
	@$(BIN) scan $(BUILD)/demo/tree $(BUILD)/demo/layer.tar.gz; \
	    rc=$$?; [ $$rc -eq 1 ] || { echo "demo: unexpected exit $$rc"; \
	    exit 1; }

BENCH_TOOLS := $(BUILD)/bench/gen_corpus $(BUILD)/bench/hs_limit \
               $(BUILD)/bench/simd_bench

$(BUILD)/bench/gen_corpus: bench/gen_corpus.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $<

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIB) $(LDFLAGS) $(LDLIBS)

# BENCH_MB=64 make bench: a quick run on a small corpus.
bench: deps
	$(MAKE) --no-print-directory $(BIN) $(BENCH_TOOLS)
	bash bench/run.sh $(BUILD)
	bash bench/startup.sh $(BIN)

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
	    $(DESTDIR)$(PREFIX)/include
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/keysift
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/libkeysift.a
	install -m 644 engine/include/keysift.h $(DESTDIR)$(PREFIX)/include/

clean:
	rm -rf build

include tests/fuzz/fuzz.mk
