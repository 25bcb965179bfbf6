# Lamina: a thin VT-x security monitor started as a UEFI application.
#
#   make            build build/lamina.efi and the test guests
#   make run        boot Lamina + Debian's Linux under Bochs + OVMF (the demo)
#   make test       unit tests, monitor gates and system tests
#   make bench      path-length figures under Bochs (emulated TSC)
#
# Two link units:
#   loader  (efi/, guest-loader/)  GNU-EFI application, may call UEFI
#   monitor (core/, vmx/, ept/, iommu/)  freestanding, newlib libc, never calls UEFI
# The monitor is linked as a position-independent ELF and embedded in the
# loader, which copies it into EfiReservedMemoryType pages and relocates it.

BUILD   ?= build
CC      := gcc
LD      := ld
OBJCOPY := objcopy
V       ?= @

# ---------------------------------------------------------------- packages
DEPS_STAMP := $(BUILD)/.deps
$(DEPS_STAMP): tools/deps.sh
	$(V)mkdir -p $(BUILD)
	$(V)bash tools/deps.sh
	$(V)touch $@

# ------------------------------------------------------------------ newlib
NEWLIB     := $(BUILD)/newlib
NEWLIB_LIBC := $(NEWLIB)/lib/libc.a
$(NEWLIB_LIBC): tools/build-newlib.sh | $(DEPS_STAMP)
	$(V)bash tools/build-newlib.sh $(NEWLIB)

# ----------------------------------------------------------------- monitor
MON_SRCS := $(wildcard core/*.c vmx/*.c ept/*.c iommu/*.c)
MON_ASMS := $(wildcard core/*.S vmx/*.S)
MON_OBJS := $(patsubst %,$(BUILD)/mon/%.o,$(MON_SRCS) $(MON_ASMS))
# -flto: the core and the backend are separate files joined by plain calls
# (core/backend.h); link-time optimization inlines across that seam, so the
# split costs the exit paths nothing.
MON_CFLAGS := -std=gnu11 -O2 -g -flto=auto -Wall -Wextra -Werror -I. \
	-isystem $(NEWLIB)/include \
	-ffreestanding -fpie -fno-plt -fvisibility=hidden \
	-fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables \
	-mno-red-zone -mgeneral-regs-only -mno-mmx -mno-sse -mno-80387 \
	-fno-omit-frame-pointer -DLAMINA_MONITOR
MON_LDFLAGS := -nostdlib -static-pie -Wl,--no-dynamic-linker,-z,norelro,-z,max-page-size=4096 \
	-Wl,-z,noexecstack,--no-undefined,--no-warn-rwx-segments,--build-id=none -Wl,-T,core/monitor.lds

$(BUILD)/mon/%.c.o: %.c $(NEWLIB_LIBC)
	$(V)mkdir -p $(dir $@)
	$(V)$(CC) $(MON_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/mon/%.S.o: %.S
	$(V)mkdir -p $(dir $@)
	$(V)$(CC) $(MON_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/monitor.elf: $(MON_OBJS) $(NEWLIB_LIBC) core/monitor.lds
	$(V)$(CC) $(MON_CFLAGS) $(MON_LDFLAGS) -o $@ $(MON_OBJS) $(NEWLIB_LIBC) \
		$(shell $(CC) -print-libgcc-file-name)
	$(V)bash tools/check-monitor-relocs.sh $@

# ------------------------------------------------------------------ loader
EFI_INC    := /usr/include/efi
EFI_LIB    := /usr/lib
EFI_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -I. \
	-I$(EFI_INC) -I$(EFI_INC)/x86_64 -DGNU_EFI_USE_MS_ABI \
	-fpic -fshort-wchar -ffreestanding -fno-stack-protector -fno-strict-aliasing \
	-mno-red-zone -maccumulate-outgoing-args -DLAMINA_LOADER
EFI_LDFLAGS := -nostdlib -znocombreloc -T $(EFI_LIB)/elf_x86_64_efi.lds \
	-shared -Bsymbolic --no-undefined $(EFI_LIB)/crt0-efi-x86_64.o
EFI_LIBS   := -L$(EFI_LIB) -lefi -lgnuefi
EFI_SECTIONS := -j .text -j .sdata -j .data -j .dynamic -j .dynsym \
	-j .rel -j .rela -j .rel.* -j .rela.* -j .reloc

LOADER_SRCS := $(wildcard efi/*.c guest-loader/*.c) core/policy.c core/shutdown.c \
	iommu/dmar_unlink.c
LOADER_ASMS := $(wildcard efi/*.S)
LOADER_OBJS := $(patsubst %,$(BUILD)/efi/%.o,$(LOADER_SRCS) $(LOADER_ASMS))

$(BUILD)/efi/%.c.o: %.c | $(DEPS_STAMP)
	$(V)mkdir -p $(dir $@)
	$(V)$(CC) $(EFI_CFLAGS) -MMD -MP -c $< -o $@
# The loader embeds the monitor without its debug information.
$(BUILD)/monitor-stripped.elf: $(BUILD)/monitor.elf
	$(V)$(OBJCOPY) --strip-debug $< $@
$(BUILD)/efi/%.S.o: %.S $(BUILD)/monitor-stripped.elf
	$(V)mkdir -p $(dir $@)
	$(V)$(CC) $(EFI_CFLAGS) -DMONITOR_ELF='"$(BUILD)/monitor-stripped.elf"' -MMD -MP -c $< -o $@

$(BUILD)/lamina.so: $(LOADER_OBJS)
	$(V)$(LD) $(EFI_LDFLAGS) -o $@ $(LOADER_OBJS) $(EFI_LIBS)
$(BUILD)/lamina.efi: $(BUILD)/lamina.so
	$(V)$(OBJCOPY) $(EFI_SECTIONS) --target efi-app-x86_64 --subsystem=10 $< $@
	@echo "  built $@ ($$(stat -c %s $@) bytes)"

# ------------------------------------------------------------- test guests
TG_LIB_SRCS := $(wildcard test-guests/lib/*.c test-guests/lib/*.S) efi/console.c
TG_PROGS    := $(basename $(notdir $(wildcard test-guests/*.c)))
TG_EFIS     := $(patsubst %,$(BUILD)/test-guests/%.efi,$(TG_PROGS))
TG_LIB_OBJS := $(patsubst %,$(BUILD)/tg/%.o,$(TG_LIB_SRCS))

$(BUILD)/tg/%.c.o: %.c | $(DEPS_STAMP)
	$(V)mkdir -p $(dir $@)
	$(V)$(CC) $(EFI_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/tg/%.S.o: %.S | $(DEPS_STAMP)
	$(V)mkdir -p $(dir $@)
	$(V)$(CC) $(EFI_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/test-guests/%.so: $(BUILD)/tg/test-guests/%.c.o $(TG_LIB_OBJS)
	$(V)mkdir -p $(dir $@)
	$(V)$(LD) $(EFI_LDFLAGS) -o $@ $^ $(EFI_LIBS)
$(BUILD)/test-guests/%.efi: $(BUILD)/test-guests/%.so
	$(V)$(OBJCOPY) $(EFI_SECTIONS) --target efi-app-x86_64 --subsystem=10 $< $@
# dma.efi drives QEMU's IOMMU model with the monitor's own VT-d code.
TG_IOMMU_OBJS := $(patsubst %,$(BUILD)/tg/%.o,iommu/dmar.c iommu/dmar_unlink.c iommu/vtd.c iommu/dma.c iommu/msg.c iommu/hw.c)
$(BUILD)/test-guests/dma.so: $(TG_IOMMU_OBJS)

# ------------------------------------------------------------- Linux guest
# Debian's cloud kernel (EFI stub) and a busybox initramfs whose /init reports
# over serial (test-guests/linux/). Downloads the two .debs once into
# build/linux-cache with apt-get download.
LINUX_GUEST := $(BUILD)/linux/vmlinuz $(BUILD)/linux/initrd.img $(BUILD)/linux/version
$(LINUX_GUEST) &: test-guests/linux/build.sh test-guests/linux/init \
		test-guests/linux/workload.c test-guests/linux/lamina-ctl.c \
		core/lamina_hypercall.h test-guests/linux/mkcpio.py | $(DEPS_STAMP)
	$(V)bash test-guests/linux/build.sh $(BUILD)/linux

# ---------------------------------------------------------- upstream Bochs
# The emulator of BOCHS_FLAVOR=upstream (tests/system/lib.sh): the pinned
# source (../shared/vendor/, else GitHub's archive of the same commit), both
# checked by hash, built into a cache outside the tree keyed by its inputs
# (tools/build-bochs.sh: about 5 minutes the first time, nothing after).
bochs-upstream: | $(DEPS_STAMP)
	$(V)d=$$(bash tools/build-bochs.sh) && echo "  upstream Bochs: $$d"

# ------------------------------------------------------ tools for Linux
# lamina-install (tools/lamina-install/) and lamina-ctl (test-guests/linux/)
# run on the machine Lamina is installed on; built with Debian's hardening
# flags (dpkg-buildflags, read when the recipe runs). lamina-install links
# the loader's config parser, so the lamina.conf it writes is one the loader
# takes. The static copy goes into the test image of qemu-install-trial.
LAMINA_VERSION := 0.9.0
TOOL_FLAGS   = DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags
TOOL_CFLAGS  = -std=gnu11 -Wall -Wextra -Werror -I. -DLAMINA_VERSION='"$(LAMINA_VERSION)"' \
	$(shell $(TOOL_FLAGS) --get CPPFLAGS) $(shell $(TOOL_FLAGS) --get CFLAGS)
TOOL_LDFLAGS = $(shell $(TOOL_FLAGS) --get LDFLAGS)
INSTALL_SRCS := $(wildcard tools/lamina-install/*.c) efi/config.c efi/sha256.c core/policy.c
INSTALL_HDRS := $(wildcard tools/lamina-install/*.h) efi/config.h efi/sha256.h core/policy.h
$(BUILD)/lamina-install: $(INSTALL_SRCS) $(INSTALL_HDRS) | $(DEPS_STAMP)
	$(V)$(CC) $(TOOL_CFLAGS) -o $@ $(INSTALL_SRCS) $(TOOL_LDFLAGS)
$(BUILD)/lamina-install-static: $(INSTALL_SRCS) $(INSTALL_HDRS) | $(DEPS_STAMP)
	$(V)$(CC) -static -O2 -std=gnu11 -Wall -Wextra -Werror -I. \
		-DLAMINA_VERSION='"$(LAMINA_VERSION)"' -o $@ $(INSTALL_SRCS)
$(BUILD)/lamina-ctl: test-guests/linux/lamina-ctl.c core/lamina_hypercall.h \
		| $(DEPS_STAMP)
	$(V)$(CC) $(TOOL_CFLAGS) -o $@ $< $(TOOL_LDFLAGS)
LINUX_TOOLS := $(BUILD)/lamina-install $(BUILD)/lamina-install-static $(BUILD)/lamina-ctl

# make install: lamina.efi, the tools and their manuals under DESTDIR/PREFIX
# (tools/stage.sh). make deb: build/lamina_<version>_amd64.deb, checked with
# dpkg -c and lintian (tools/mkdeb.sh).
PREFIX  ?= /usr/local
DESTDIR ?=
STAGE_INPUTS := $(BUILD)/lamina.efi $(BUILD)/lamina-install $(BUILD)/lamina-ctl \
	$(wildcard tools/man/*) tools/stage.sh
install: $(STAGE_INPUTS)
	$(V)bash tools/stage.sh $(BUILD) "$(DESTDIR)$(PREFIX)"
DEB := $(BUILD)/lamina_$(LAMINA_VERSION)_amd64.deb
$(DEB): $(STAGE_INPUTS) tools/mkdeb.sh LICENSE
	$(V)bash tools/mkdeb.sh $(BUILD) $(LAMINA_VERSION)
deb: $(DEB)

# ------------------------------------------------------------------ phony
.PHONY: all run test unit gates system bench clean linux-guest fuzz fuzz-smoke \
	bochs-upstream test-tools install deb
.SECONDARY:
.DEFAULT_GOAL := all
all: $(BUILD)/lamina.efi $(TG_EFIS) $(LINUX_TOOLS) bochs-upstream

run: all linux-guest
	$(V)bash tests/system/demo.sh

# Unit tests: each tests/unit/test_<name>.mk adds test_<name> to UNIT_TESTS
# and lists the sources it links in test_<name>_SRCS. Built for the host.
UNIT_TESTS :=
-include $(wildcard tests/unit/*.mk)
# newlib's integer-only sniprintf/vsniprintf are glibc's snprintf/vsnprintf on the host.
HOST_PRINTF := -Dsniprintf=snprintf -Dvsniprintf=vsnprintf
UNIT_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -I. -DLAMINA_UNIT_TEST $(HOST_PRINTF) \
	-fsanitize=address,undefined -fno-sanitize-recover=all
UNIT_BINS := $(patsubst %,$(BUILD)/unit/%,$(UNIT_TESTS))
.SECONDEXPANSION:
$(BUILD)/unit/%: tests/unit/%.c $$($$*_SRCS) | $(DEPS_STAMP)
	$(V)mkdir -p $(dir $@)
	$(V)$(CC) $(UNIT_CFLAGS) -o $@ $< $($*_SRCS) -lcmocka

unit: $(UNIT_BINS)
	$(V)bash tests/run-unit.sh $(UNIT_BINS)

# Fuzz targets (libFuzzer, clang): each tests/fuzz/fuzz_<name>.mk adds
# fuzz_<name> to FUZZ_TARGETS and lists the sources it links in
# fuzz_<name>_SRCS; tests/fuzz/fuzz_<name>.c defines LLVMFuzzerTestOneInput.
# Seeds, if any, in tests/fuzz/corpus/fuzz_<name>/.
#   make fuzz-smoke   a short deterministic run of each (part of make test)
#   make fuzz         FUZZ_SECONDS (default 300) of each, corpus kept in build/
FUZZ_TARGETS :=
-include $(wildcard tests/fuzz/*.mk)
FUZZ_CC     := clang
FUZZ_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -I. -DLAMINA_FUZZ -DLAMINA_UNIT_TEST \
	$(HOST_PRINTF) \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_BINS := $(patsubst %,$(BUILD)/fuzz/%,$(FUZZ_TARGETS))
$(BUILD)/fuzz/%: tests/fuzz/%.c $$($$*_SRCS) | $(DEPS_STAMP)
	$(V)mkdir -p $(dir $@)
	$(V)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $($*_SRCS)

fuzz-smoke: $(FUZZ_BINS)
	$(V)bash tests/run-fuzz.sh smoke $(FUZZ_BINS)
fuzz: $(FUZZ_BINS)
	$(V)bash tests/run-fuzz.sh long $(FUZZ_BINS)

gates: all
	$(V)LAMINA_VERSION=$(LAMINA_VERSION) bash tests/gates.sh $(BUILD)

# Tests of the build and test tools themselves (tests/tools/: the source
# verification of tools/build-bochs.sh, the harness's check helpers).
test-tools:
	$(V)bash tests/tools/run.sh

linux-guest: $(LINUX_GUEST)

system: all linux-guest
	$(V)bash tests/system/run.sh

test:
	$(V)bash tests/run-all.sh

bench: all
	$(V)bash tests/system/bench.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
