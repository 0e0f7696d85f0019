# EdgeMesh-C build. `make` builds every binary into build/, `make check` runs
# every test (installing missing Debian packages first), `make demo` runs the
# demo, `make bench` the benchmarks.  Module source lists live in */module.mk,
# unit tests in tests/unit/*.mk, so each part of the tree owns its own list.

CC      ?= cc
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/sbin
B       := build
O       := $(B)/obj

PKGS    := libev libsodium msgpack yaml-0.1 libcurl jansson openssl libseccomp check
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wpointer-arith -Wcast-qual -Wwrite-strings -Wformat=2 -Wundef \
           -Wmissing-declarations -Wold-style-definition -Wvla -Wno-unused-parameter \
           -Wno-format-truncation
CFLAGS  ?= -O2 -g
LDFLAGS += -Wl,--as-needed
CFLAGS  += -std=c11 -D_GNU_SOURCE $(WARN) -MMD -MP -Icommon
LDLIBS  := -lev -lsodium -lmsgpackc -lyaml -ljansson -lcurl -lssl -lcrypto -lseccomp -lm
# Missing build packages: name them and how to install them, before compiling.
ifeq ($(filter deps check demo bench clean format,$(MAKECMDGOALS)),)
MISSING_DEPS := $(shell scripts/build-deps.sh)
ifneq ($(MISSING_DEPS),)
$(error missing Debian packages: $(MISSING_DEPS); install them with "sudo scripts/deps.sh" \
  (or "sudo apt-get install $(MISSING_DEPS)"))
endif
endif
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lpthread -lm)

ifeq ($(SAN),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
B       := build-san
O       := $(B)/obj
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

.DEFAULT_GOAL := all
BINS :=
UNIT_TESTS :=
COMMON_SRCS :=
include common/module.mk
include $(sort $(wildcard */module.mk))
-include $(sort $(wildcard tests/unit/*.mk))

COMMON_OBJS := $(COMMON_SRCS:%.c=$(O)/%.o)
LIBCOMMON   := $(O)/libcommon.a

.PHONY: all check unit e2e demo bench clean deps fuzz fuzz-replay format
all: $(addprefix $(B)/,$(BINS))

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	@[ -n "$(Q)" ] && echo "  CC      $<" || true
	$(Q)$(CC) $(CFLAGS) $(CPPFLAGS) -c -o $@ $<

$(LIBCOMMON): $(COMMON_OBJS)
	@[ -n "$(Q)" ] && echo "  AR      $@" || true
	$(Q)rm -f $@ && ar rcs $@ $^

# Each binary X declares X_SRCS in its module.mk.
define bin_rule
$(B)/$(1): $$($(1)_SRCS:%.c=$(O)/%.o) $(LIBCOMMON)
	@[ -n "$(Q)" ] && echo "  LD      $$@" || true
	$(Q)$(CC) $(LDFLAGS) -o $$@ $$^ $(LDLIBS)
endef
$(foreach b,$(BINS),$(eval $(call bin_rule,$(b))))

# Each unit test T declares check_T_OBJS (daemon objects it links) in tests/unit/T.mk.
define test_rule
$(B)/tests/check_$(1): $(O)/tests/unit/check_$(1).o $$(check_$(1)_SRCS:%.c=$(O)/%.o) $(LIBCOMMON)
	@mkdir -p $$(dir $$@)
	@[ -n "$(Q)" ] && echo "  LD      $$@" || true
	$(Q)$(CC) $(LDFLAGS) -o $$@ $$^ $(LDLIBS) $(CHECK_LIBS)
endef
$(foreach t,$(UNIT_TESTS),$(eval $(call test_rule,$(t))))
UNIT_BINS := $(UNIT_TESTS:%=$(B)/tests/check_%)

# libFuzzer targets: tests/fuzz/fuzz_X.c with fuzz_X_SRCS/_LIBS from tests/fuzz/fuzz.mk,
# built with clang (fuzzer + ASan + UBSan) and run FUZZ_SECONDS each.
FUZZ_SECONDS ?= 30
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Icommon
FUZZERS := $(notdir $(basename $(wildcard tests/fuzz/fuzz_*.c)))
-include tests/fuzz/fuzz.mk
define fuzz_rule
$(B)/fuzz/$(1): tests/fuzz/$(1).c $$($(1)_SRCS)
	@mkdir -p $$(dir $$@)
	@[ -n "$(Q)" ] && echo "  FUZZ    $$@" || true
	$(Q)clang $(FUZZ_CFLAGS) -o $$@ $$^ $$($(1)_LIBS)
endef
$(foreach f,$(FUZZERS),$(eval $(call fuzz_rule,$(f))))

# The same targets without libFuzzer (tests/fuzz/replay.c: seeds, then blind
# mutations, FUZZ_REPLAY_SECONDS each), linked from the ASan + UBSan objects
# of $(B)-san by $(CC): `make check` runs them, where clang is not installed.
FUZZ_REPLAY_SECONDS ?= 2
define replay_rule
$(B)/fuzz-replay/$(1): $(O)/tests/fuzz/$(1).o $(O)/tests/fuzz/replay.o $$($(1)_SRCS:%.c=$(O)/%.o)
	@mkdir -p $$(dir $$@)
	@[ -n "$(Q)" ] && echo "  LD      $$@" || true
	$(Q)$(CC) $(LDFLAGS) -o $$@ $$^ $$($(1)_LIBS)
endef
$(foreach f,$(FUZZERS),$(eval $(call replay_rule,$(f))))

fuzz: $(FUZZERS:%=$(B)/fuzz/%)
	@tests/fuzz/run-all.sh $(B)/fuzz $(FUZZ_SECONDS)

ifeq ($(SAN),1)
fuzz-replay: $(FUZZERS:%=$(B)/fuzz-replay/%)
	@tests/fuzz/run-all.sh $(B)/fuzz-replay $(FUZZ_REPLAY_SECONDS) replay
else
fuzz-replay:
	@$(MAKE) --no-print-directory -j$$(nproc) SAN=1 fuzz-replay
endif

deps:
	@scripts/deps.sh

unit: all $(UNIT_BINS)
	@tests/run-unit.sh $(UNIT_BINS)

e2e: all
	@tests/e2e/run-all.sh $(B)

# The unit suites run twice: as built, then under ASan + UBSan with
# LeakSanitizer (DESIGN §7), into $(B)-san (built on every CPU); then the
# fuzz targets' replay, from the same objects.
check:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory unit
ifneq ($(SAN),1)
	@echo "unit suites under ASan + UBSan ($(B)-san):"
	@$(MAKE) --no-print-directory -j$$(nproc) SAN=1 B=$(B)-san O=$(B)-san/obj unit
	@echo "fuzz targets without libFuzzer, under ASan + UBSan ($(B)-san/fuzz-replay):"
	@$(MAKE) --no-print-directory -j$$(nproc) SAN=1 B=$(B)-san O=$(B)-san/obj fuzz-replay
else
	@$(MAKE) --no-print-directory -j$$(nproc) fuzz-replay
endif
	@$(MAKE) --no-print-directory e2e

demo:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh $(B)

bench:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@bench/run-all.sh $(B)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# The container image for k8s/, built offline with buildah (packaging/Containerfile).
IMAGE ?= edgemesh-c:0.1.0
.PHONY: image
image: all
	@scripts/image-build.sh $(B) $(IMAGE) $(B)/edgemesh-c.oci.tar

clean:
	rm -rf build build-san

-include $(shell find $(O) -name '*.d' 2>/dev/null)
