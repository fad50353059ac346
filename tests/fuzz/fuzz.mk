# fuzz.mk - libFuzzer targets for keysift's parsers, included by the
# top-level Makefile (docs/security.md, "Fuzzing").
#
#   make fuzz        build the targets, make the seeds, run each target for
#                    FUZZ_TIME seconds (default 60) in BUILD (default
#                    build/fuzz) and print what each did
#   make fuzz-smoke  the same for FUZZ_SMOKE_TIME seconds (default 10) each,
#                    from the seeds alone: the pass `make test` runs
#
# The engine is built again with clang, ASan, UBSan and libFuzzer's
# coverage, in the fuzz build directory; the targets link against it.

FUZZ_BUILD := $(if $(filter file,$(origin BUILD)),build/fuzz,$(BUILD))
FUZZ_TIME ?= 60
FUZZ_SMOKE_TIME ?= 10
FUZZ_TARGETS := reader image store rules matcher
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all \
            -fno-omit-frame-pointer
FUZZ_DIR := $(FUZZ_BUILD)/fuzz

# Whether clang can build libFuzzer targets here: clang itself and its
# libFuzzer runtime (libclang-rt-14-dev on Debian 12).
FUZZ_CAN := command -v clang >/dev/null && \
            [ -e "$$(clang -print-resource-dir)/lib/linux/libclang_rt.fuzzer-$$(uname -m).a" ]

.PHONY: fuzz fuzz-smoke fuzz-build

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.c \
                      tests/fuzz/fuzz_common.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/fuzz -fsanitize=fuzzer -o $@ $< \
	    tests/fuzz/fuzz_common.c $(LIB) $(LDFLAGS) $(LDLIBS)

fuzz-build:
	@$(FUZZ_CAN) || { echo "fuzz: clang and its libFuzzer runtime are" \
	    "needed (make deps installs them)"; exit 1; }
	$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang \
	    OPT="-O1 -g" SAN="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" \
	    $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
	@rm -rf $(FUZZ_DIR)/seeds
	bash tests/fuzz/make_seeds.sh $(FUZZ_DIR)/seeds

fuzz: fuzz-build
	bash tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_DIR)/seeds \
	    $(FUZZ_DIR)/corpus $(FUZZ_TIME)

# From the seeds alone, into a corpus thrown away each time, so that the
# pass is the same on every machine.
fuzz-smoke:
	@if ! { $(FUZZ_CAN); }; then \
	    echo "fuzz-smoke: SKIPPED: clang or its libFuzzer runtime is" \
	        "missing (make deps installs them)"; exit 0; fi; \
	$(MAKE) --no-print-directory fuzz-build && \
	rm -rf $(FUZZ_DIR)/smoke && \
	bash tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_DIR)/seeds \
	    $(FUZZ_DIR)/smoke $(FUZZ_SMOKE_TIME)
