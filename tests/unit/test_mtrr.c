/* Unit tests for ept/mtrr.c: MTRR reading and memory-type lookup (SDM 3A 12.11). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ept/mtrr.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* ------------------------------------------------------------ fake MSRs */

#define MAX_FAKE 128
static struct { uint32_t msr; uint64_t val; unsigned reads; } fake[MAX_FAKE];
static unsigned nfake;

static void fake_reset(void)
{
    memset(fake, 0, sizeof(fake));
    nfake = 0;
}

static void fake_set(uint32_t msr, uint64_t val)
{
    for (unsigned i = 0; i < nfake; i++) {
        if (fake[i].msr == msr) {
            fake[i].val = val;
            return;
        }
    }
    assert_true(nfake < MAX_FAKE);
    fake[nfake].msr = msr;
    fake[nfake].val = val;
    nfake++;
}

static unsigned fake_reads(uint32_t msr)
{
    for (unsigned i = 0; i < nfake; i++)
        if (fake[i].msr == msr)
            return fake[i].reads;
    return 0;
}

/* A read of an MSR the test did not define is a bug in mtrr_read (on hardware it
 * would be #GP, e.g. a fixed-range MSR without MTRRCAP.FIX). */
static uint64_t fake_rdmsr(uint32_t msr)
{
    for (unsigned i = 0; i < nfake; i++) {
        if (fake[i].msr == msr) {
            fake[i].reads++;
            return fake[i].val;
        }
    }
    fail_msg("rdmsr of undefined MSR 0x%x", msr);
    return 0;
}

/* PHYSBASE/PHYSMASK pair for [base, base+size), size a power of two
 * (SDM 3A 12.11.3). */
static void fake_var(unsigned n, uint64_t base, uint64_t size, uint8_t type, unsigned maxphy)
{
    uint64_t pm = (1ull << maxphy) - 1;
    fake_set(MSR_IA32_MTRR_PHYSBASE(n), base | type);
    fake_set(MSR_IA32_MTRR_PHYSMASK(n), (~(size - 1) & pm & ~0xFFFull) | MTRR_PHYSMASK_VALID);
}

static void fake_var_off(unsigned n)
{
    fake_set(MSR_IA32_MTRR_PHYSBASE(n), 0);
    fake_set(MSR_IA32_MTRR_PHYSMASK(n), 0);
}

static uint64_t bytes8(uint8_t t)
{
    return 0x0101010101010101ull * t;
}

/* Fixed ranges: every byte t, then [lo, hi) (on fixed-range granularity) set to u. */
static void fake_fixed(uint8_t t)
{
    fake_set(MSR_IA32_MTRR_FIX64K_00000, bytes8(t));
    fake_set(MSR_IA32_MTRR_FIX16K_80000, bytes8(t));
    fake_set(MSR_IA32_MTRR_FIX16K_A0000, bytes8(t));
    for (unsigned i = 0; i < 8; i++)
        fake_set(MSR_IA32_MTRR_FIX4K_C0000 + i, bytes8(t));
}

/* QEMU's MTRRCAP: 8 variable ranges, fixed ranges and WC supported. */
#define QEMU_MTRRCAP (8u | MTRRCAP_FIX | MTRRCAP_WC)

static void fake_all_var_off(unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        fake_var_off(i);
}

/* OVMF on QEMU q35 (OvmfPkg PlatformInitLib): default WB, fixed WB but
 * 0xA0000-0xFFFFF UC, [PciExpressBase=0xB0000000, 4G) UC in two variable ranges. */
static void setup_ovmf_q35(void)
{
    fake_reset();
    fake_set(MSR_IA32_MTRRCAP, QEMU_MTRRCAP);
    fake_set(MSR_IA32_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E | MTRR_DEF_TYPE_FE | MT_WB);
    fake_fixed(MT_WB);
    fake_set(MSR_IA32_MTRR_FIX16K_A0000, bytes8(MT_UC));
    for (unsigned i = 0; i < 8; i++)
        fake_set(MSR_IA32_MTRR_FIX4K_C0000 + i, bytes8(MT_UC));
    fake_all_var_off(8);
    fake_var(0, 0xB0000000, 256 * MiB, MT_UC, 40);
    fake_var(1, 0xC0000000, 1 * GiB, MT_UC, 40);
}

/* Legacy-BIOS style: default UC, RAM WB by variable ranges; fixed ranges with
 * RAM WB, VGA UC, option ROM WP, 0xD0000-0xEFFFF UC, BIOS ROM WP. */
static void setup_bios_fixed(void)
{
    fake_fixed(MT_WB);
    fake_set(MSR_IA32_MTRR_FIX16K_A0000, bytes8(MT_UC));
    fake_set(MSR_IA32_MTRR_FIX4K_C0000 + 0, bytes8(MT_WP));  /* C0000-C7FFF */
    fake_set(MSR_IA32_MTRR_FIX4K_C0000 + 1, bytes8(MT_WP));  /* C8000-CFFFF */
    for (unsigned i = 2; i < 6; i++)                          /* D0000-EFFFF */
        fake_set(MSR_IA32_MTRR_FIX4K_C0000 + i, bytes8(MT_UC));
    fake_set(MSR_IA32_MTRR_FIX4K_C0000 + 6, bytes8(MT_WP));  /* F0000-F7FFF */
    fake_set(MSR_IA32_MTRR_FIX4K_C0000 + 7, bytes8(MT_WP));  /* F8000-FFFFF */
}

static void read_state(struct mtrr_state *s, unsigned maxphy)
{
    memset(s, 0xCC, sizeof(*s));   /* mtrr_read must initialise everything */
    mtrr_read(s, fake_rdmsr, maxphy);
}

/* Brute force: the type of every page of [base, base+size), or MT_MIXED. */
static uint8_t brute_range(const struct mtrr_state *s, uint64_t base, uint64_t size)
{
    uint8_t t = mtrr_type_of_page(s, base);
    for (uint64_t a = base + 4 * KiB; a < base + size; a += 4 * KiB)
        if (mtrr_type_of_page(s, a) != t)
            return MT_MIXED;
    return t;
}

/* ------------------------------------------------------------------ tests */

static void test_read_ovmf_q35(void **unused)
{
    (void)unused;
    struct mtrr_state s;
    setup_ovmf_q35();
    read_state(&s, 40);

    assert_true(s.enabled);
    assert_true(s.fixed_enabled);
    assert_int_equal(s.def_type, MT_WB);
    assert_int_equal(s.nvar, 8);
    assert_int_equal(s.phys_mask, (1ull << 40) - 1);
    assert_int_equal(s.invalid_types, 0);
    /* fixed[] in address order: 64K x8, 16K x8 at 0x80000, 16K x8 at 0xA0000, 4K x64 */
    for (unsigned i = 0; i < 16; i++)
        assert_int_equal(s.fixed[i], MT_WB);
    for (unsigned i = 16; i < 88; i++)
        assert_int_equal(s.fixed[i], MT_UC);
    assert_true(s.var[0].valid);
    assert_true(s.var[1].valid);
    assert_false(s.var[2].valid);
    /* every MSR read exactly once */
    assert_int_equal(fake_reads(MSR_IA32_MTRR_FIX4K_C0000 + 7), 1);
    assert_int_equal(fake_reads(MSR_IA32_MTRR_PHYSMASK(7)), 1);

    /* pages */
    assert_int_equal(mtrr_type_of_page(&s, 0), MT_WB);
    assert_int_equal(mtrr_type_of_page(&s, 0x9F000), MT_WB);
    assert_int_equal(mtrr_type_of_page(&s, 0x9FFFF), MT_WB);     /* low bits ignored */
    assert_int_equal(mtrr_type_of_page(&s, 0xA0000), MT_UC);
    assert_int_equal(mtrr_type_of_page(&s, 0xFF000), MT_UC);
    assert_int_equal(mtrr_type_of_page(&s, 0x100000), MT_WB);
    assert_int_equal(mtrr_type_of_page(&s, 512 * MiB - 4 * KiB), MT_WB);
    assert_int_equal(mtrr_type_of_page(&s, 0xAFFFF000), MT_WB);
    assert_int_equal(mtrr_type_of_page(&s, 0xB0000000), MT_UC);
    assert_int_equal(mtrr_type_of_page(&s, 0xBFFFF000), MT_UC);
    assert_int_equal(mtrr_type_of_page(&s, 0xC0000000), MT_UC);
    assert_int_equal(mtrr_type_of_page(&s, 0xFEE00000), MT_UC);    /* LAPIC */
    assert_int_equal(mtrr_type_of_page(&s, 0xFFFFF000), MT_UC);
    assert_int_equal(mtrr_type_of_page(&s, 4 * GiB), MT_WB);

    /* ranges */
    assert_int_equal(mtrr_type_of_range(&s, 0, 2 * MiB), MT_MIXED);
    assert_int_equal(mtrr_type_of_range(&s, 0, 1 * MiB), MT_MIXED);
    assert_int_equal(mtrr_type_of_range(&s, 0, 512 * KiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 0xA0000, 128 * KiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 0xC0000, 256 * KiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 0x80000, 512 * KiB), MT_MIXED);
    assert_int_equal(mtrr_type_of_range(&s, 2 * MiB, 2 * MiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 0, 1 * GiB), MT_MIXED);
    assert_int_equal(mtrr_type_of_range(&s, 1 * GiB, 1 * GiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 2 * GiB, 1 * GiB), MT_MIXED);
    assert_int_equal(mtrr_type_of_range(&s, 0xA0000000, 256 * MiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 0xB0000000, 256 * MiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 0xAFE00000, 2 * MiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 3 * GiB, 1 * GiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 0, 4 * GiB), MT_MIXED);
    assert_int_equal(mtrr_type_of_range(&s, 4 * GiB, 4 * GiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 512 * GiB, 512 * GiB), MT_WB);
}

static void test_bios_default_uc(void **unused)
{
    (void)unused;
    struct mtrr_state s;
    fake_reset();
    fake_set(MSR_IA32_MTRRCAP, QEMU_MTRRCAP);
    fake_set(MSR_IA32_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E | MTRR_DEF_TYPE_FE | MT_UC);
    setup_bios_fixed();
    fake_all_var_off(8);
    fake_var(0, 0, 2 * GiB, MT_WB, 39);
    read_state(&s, 39);

    assert_int_equal(s.def_type, MT_UC);
    assert_int_equal(mtrr_type_of_page(&s, 0x9F000), MT_WB);
    assert_int_equal(mtrr_type_of_page(&s, 0xA0000), MT_UC);
    assert_int_equal(mtrr_type_of_page(&s, 0xC0000), MT_WP);
    assert_int_equal(mtrr_type_of_page(&s, 0xCF000), MT_WP);
    assert_int_equal(mtrr_type_of_page(&s, 0xD0000), MT_UC);
    assert_int_equal(mtrr_type_of_page(&s, 0xEF000), MT_UC);
    assert_int_equal(mtrr_type_of_page(&s, 0xF0000), MT_WP);
    assert_int_equal(mtrr_type_of_page(&s, 0xFF000), MT_WP);
    assert_int_equal(mtrr_type_of_page(&s, 0x100000), MT_WB);
    assert_int_equal(mtrr_type_of_page(&s, 2 * GiB - 4 * KiB), MT_WB);
    assert_int_equal(mtrr_type_of_page(&s, 2 * GiB), MT_UC);
    assert_int_equal(mtrr_type_of_page(&s, 5 * GiB), MT_UC);

    assert_int_equal(mtrr_type_of_range(&s, 0xC0000, 64 * KiB), MT_WP);
    assert_int_equal(mtrr_type_of_range(&s, 0xC0000, 128 * KiB), MT_MIXED);
    assert_int_equal(mtrr_type_of_range(&s, 0xF0000, 64 * KiB), MT_WP);
    assert_int_equal(mtrr_type_of_range(&s, 0xD0000, 64 * KiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 0, 2 * MiB), MT_MIXED);
    assert_int_equal(mtrr_type_of_range(&s, 2 * MiB, 2 * MiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 1 * GiB, 1 * GiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 0, 2 * GiB), MT_MIXED);
    assert_int_equal(mtrr_type_of_range(&s, 2 * GiB, 2 * GiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 0, 4 * GiB), MT_MIXED);
}

/* Fixed ranges uniform WB and variable WB above: [0, 2 MiB) is one type even
 * though it spans the fixed/variable boundary at 1 MiB. */
static void test_fixed_and_var_uniform_across_1m(void **unused)
{
    (void)unused;
    struct mtrr_state s;
    fake_reset();
    fake_set(MSR_IA32_MTRRCAP, QEMU_MTRRCAP);
    fake_set(MSR_IA32_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E | MTRR_DEF_TYPE_FE | MT_UC);
    fake_fixed(MT_WB);
    fake_all_var_off(8);
    fake_var(0, 0, 1 * GiB, MT_WB, 39);
    read_state(&s, 39);
    assert_int_equal(mtrr_type_of_range(&s, 0, 2 * MiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 0, 1 * GiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 0, 2 * GiB), MT_MIXED);

    /* Make [1 MiB, 2 MiB) UC: the 2 MiB region is no longer uniform. */
    fake_var(1, 1 * MiB, 1 * MiB, MT_UC, 39);
    read_state(&s, 39);
    assert_int_equal(mtrr_type_of_range(&s, 0, 2 * MiB), MT_MIXED);
    assert_int_equal(mtrr_type_of_range(&s, 0, 1 * MiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 1 * MiB, 1 * MiB), MT_UC);
    /* The UC range also covers nothing below 1 MiB: fixed ranges win there. */
    assert_int_equal(mtrr_type_of_page(&s, 0xFF000), MT_WB);
    assert_int_equal(mtrr_type_of_page(&s, 0x100000), MT_UC);

    /* Variable UC covering [0, 2 MiB) is overridden by the fixed ranges below 1 MiB. */
    fake_var(1, 0, 2 * MiB, MT_UC, 39);
    read_state(&s, 39);
    assert_int_equal(mtrr_type_of_page(&s, 0), MT_WB);
    assert_int_equal(mtrr_type_of_page(&s, 1 * MiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 0, 2 * MiB), MT_MIXED);
    assert_int_equal(mtrr_type_of_range(&s, 0, 4 * MiB), MT_MIXED);
}

/* MMIO hole: UC range overlapping a WB range that covers all of 0-4G: UC wins
 * (SDM 3A 12.11.4.1). */
static void test_uc_hole_over_wb(void **unused)
{
    (void)unused;
    struct mtrr_state s;
    fake_reset();
    fake_set(MSR_IA32_MTRRCAP, QEMU_MTRRCAP);
    fake_set(MSR_IA32_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E | MTRR_DEF_TYPE_FE | MT_UC);
    setup_bios_fixed();
    fake_all_var_off(8);
    fake_var(0, 0, 4 * GiB, MT_WB, 39);
    fake_var(1, 0xC0000000, 1 * GiB, MT_UC, 39);
    read_state(&s, 39);

    assert_int_equal(mtrr_type_of_page(&s, 0xBFFFF000), MT_WB);
    assert_int_equal(mtrr_type_of_page(&s, 0xC0000000), MT_UC);
    assert_int_equal(mtrr_type_of_page(&s, 0xFEC00000), MT_UC);
    assert_int_equal(mtrr_type_of_page(&s, 4 * GiB), MT_UC);       /* default */
    assert_int_equal(mtrr_type_of_range(&s, 2 * GiB, 1 * GiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 3 * GiB, 1 * GiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 0xFFE00000, 2 * MiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 2 * GiB, 2 * GiB), MT_MIXED);
    assert_int_equal(mtrr_type_of_range(&s, 4 * GiB, 4 * GiB), MT_UC);

    /* Same in the other MSR order: precedence does not depend on the index. */
    fake_var(0, 0xC0000000, 1 * GiB, MT_UC, 39);
    fake_var(1, 0, 4 * GiB, MT_WB, 39);
    read_state(&s, 39);
    assert_int_equal(mtrr_type_of_page(&s, 0xC0000000), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 3 * GiB, 1 * GiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 2 * GiB, 1 * GiB), MT_WB);
}

static struct mtrr_state two_ranges(uint8_t t0, uint8_t t1)
{
    struct mtrr_state s;
    fake_reset();
    fake_set(MSR_IA32_MTRRCAP, 2u);   /* 2 variable ranges, no fixed, no WC */
    fake_set(MSR_IA32_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E | MT_UC);
    fake_var(0, 0, 1 * GiB, t0, 36);
    fake_var(1, 0x10000000, 16 * MiB, t1, 36);
    read_state(&s, 36);
    return s;
}

static void test_overlap_precedence(void **unused)
{
    (void)unused;
    struct mtrr_state s;

    /* WT over WB => WT */
    s = two_ranges(MT_WB, MT_WT);
    assert_int_equal(mtrr_type_of_page(&s, 0x0FFFF000), MT_WB);
    assert_int_equal(mtrr_type_of_page(&s, 0x10000000), MT_WT);
    assert_int_equal(mtrr_type_of_page(&s, 0x10FFF000), MT_WT);
    assert_int_equal(mtrr_type_of_page(&s, 0x11000000), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 0x10000000, 16 * MiB), MT_WT);
    assert_int_equal(mtrr_type_of_range(&s, 0x10000000, 2 * MiB), MT_WT);
    assert_int_equal(mtrr_type_of_range(&s, 0x10000000, 32 * MiB), MT_MIXED);
    assert_int_equal(mtrr_type_of_range(&s, 0, 256 * MiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 0, 512 * MiB), MT_MIXED);
    assert_int_equal(mtrr_type_of_range(&s, 0x11000000, 16 * MiB), MT_WB);
    /* WB over WT, the other way round */
    s = two_ranges(MT_WT, MT_WB);
    assert_int_equal(mtrr_type_of_page(&s, 0x10000000), MT_WT);
    assert_int_equal(mtrr_type_of_range(&s, 0, 1 * GiB), MT_WT);

    /* Undefined combinations (SDM 3A 12.11.4.1): our choice is UC. */
    s = two_ranges(MT_WB, MT_WC);
    assert_int_equal(mtrr_type_of_page(&s, 0x10000000), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 0x10000000, 16 * MiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 0, 1 * GiB), MT_MIXED);
    s = two_ranges(MT_WB, MT_WP);
    assert_int_equal(mtrr_type_of_page(&s, 0x10000000), MT_UC);
    s = two_ranges(MT_WT, MT_WC);
    assert_int_equal(mtrr_type_of_page(&s, 0x10000000), MT_UC);

    /* Same type twice: that type. */
    s = two_ranges(MT_WC, MT_WC);
    assert_int_equal(mtrr_type_of_page(&s, 0x10000000), MT_WC);
    assert_int_equal(mtrr_type_of_range(&s, 0, 1 * GiB), MT_WC);

    /* UC inside the default-UC area doesn't change anything: whole 2 GiB UC
     * except the WB GiB. A UC range covering a WB one entirely: UC. */
    s = two_ranges(MT_UC, MT_WB);
    assert_int_equal(mtrr_type_of_page(&s, 0x10000000), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 0, 1 * GiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 0, 2 * GiB), MT_UC);

    /* A WB range inside a WB default region: uniform although partially covered. */
    fake_reset();
    fake_set(MSR_IA32_MTRRCAP, 2u);
    fake_set(MSR_IA32_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E | MT_WB);
    fake_var(0, 0x10000000, 16 * MiB, MT_WB, 36);
    fake_var_off(1);
    read_state(&s, 36);
    assert_int_equal(mtrr_type_of_range(&s, 0, 1 * GiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 0, 64 * GiB), MT_WB);

    /* Three ranges: WT + WB + UC => UC */
    fake_reset();
    fake_set(MSR_IA32_MTRRCAP, 3u);
    fake_set(MSR_IA32_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E | MT_WB);
    fake_var(0, 0, 1 * GiB, MT_WB, 36);
    fake_var(1, 0, 512 * MiB, MT_WT, 36);
    fake_var(2, 0, 4 * KiB, MT_UC, 36);
    read_state(&s, 36);
    assert_int_equal(mtrr_type_of_page(&s, 0), MT_UC);
    assert_int_equal(mtrr_type_of_page(&s, 4 * KiB), MT_WT);
    assert_int_equal(mtrr_type_of_page(&s, 512 * MiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 0, 4 * KiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 0, 8 * KiB), MT_MIXED);
    assert_int_equal(mtrr_type_of_range(&s, 8 * KiB, 8 * KiB), MT_WT);
}

static void test_disabled(void **unused)
{
    (void)unused;
    struct mtrr_state s;
    setup_ovmf_q35();
    /* E clear, FE and a WB default left set: still UC everywhere (SDM 3A 12.11.2.1). */
    fake_set(MSR_IA32_MTRR_DEF_TYPE, MTRR_DEF_TYPE_FE | MT_WB);
    read_state(&s, 40);
    assert_false(s.enabled);
    assert_false(s.fixed_enabled);
    assert_int_equal(mtrr_type_of_page(&s, 0), MT_UC);
    assert_int_equal(mtrr_type_of_page(&s, 0x100000), MT_UC);
    assert_int_equal(mtrr_type_of_page(&s, 4 * GiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 0, 2 * MiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 0, 1 * GiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 0, 1ull << 40), MT_UC);
    /* bad arguments are still reported as such */
    assert_int_equal(mtrr_type_of_range(&s, 0, 3 * 4 * KiB), MT_MIXED);
}

static void test_fixed_disabled(void **unused)
{
    (void)unused;
    struct mtrr_state s;

    /* FE clear: fixed MSRs say UC but the variable WB range applies below 1 MiB. */
    fake_reset();
    fake_set(MSR_IA32_MTRRCAP, QEMU_MTRRCAP);
    fake_set(MSR_IA32_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E | MT_UC);
    fake_fixed(MT_UC);
    fake_all_var_off(8);
    fake_var(0, 0, 2 * GiB, MT_WB, 39);
    read_state(&s, 39);
    assert_true(s.enabled);
    assert_false(s.fixed_enabled);
    assert_int_equal(mtrr_type_of_page(&s, 0), MT_WB);
    assert_int_equal(mtrr_type_of_page(&s, 0xA0000), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 0, 2 * MiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 0, 1 * GiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 0xA0000, 128 * KiB), MT_WB);

    /* FE set but MTRRCAP.FIX clear: fixed ranges unsupported, the fixed MSRs must
     * not be read at all (they would #GP), and the variable ranges apply. */
    fake_reset();
    fake_set(MSR_IA32_MTRRCAP, 8u);
    fake_set(MSR_IA32_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E | MTRR_DEF_TYPE_FE | MT_UC);
    fake_all_var_off(8);
    fake_var(0, 0, 2 * GiB, MT_WB, 39);
    read_state(&s, 39);   /* fake_rdmsr fails the test on a fixed MSR read */
    assert_false(s.fixed_enabled);
    for (unsigned i = 0; i < 88; i++)
        assert_int_equal(s.fixed[i], 0);
    assert_int_equal(mtrr_type_of_page(&s, 0xA0000), MT_WB);
}

/* RAM 4-6 GiB WB above the hole, default UC. */
static void test_above_4g(void **unused)
{
    (void)unused;
    struct mtrr_state s;
    fake_reset();
    fake_set(MSR_IA32_MTRRCAP, QEMU_MTRRCAP);
    fake_set(MSR_IA32_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E | MTRR_DEF_TYPE_FE | MT_UC);
    setup_bios_fixed();
    fake_all_var_off(8);
    fake_var(0, 0, 2 * GiB, MT_WB, 36);
    fake_var(1, 4 * GiB, 2 * GiB, MT_WB, 36);
    read_state(&s, 36);

    assert_int_equal(mtrr_type_of_page(&s, 0xFFFFF000), MT_UC);
    assert_int_equal(mtrr_type_of_page(&s, 4 * GiB), MT_WB);
    assert_int_equal(mtrr_type_of_page(&s, 6 * GiB - 4 * KiB), MT_WB);
    assert_int_equal(mtrr_type_of_page(&s, 6 * GiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 4 * GiB, 2 * GiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 4 * GiB, 1 * GiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 5 * GiB, 1 * GiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 6 * GiB - 2 * MiB, 2 * MiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 6 * GiB, 2 * MiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 6 * GiB, 2 * GiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 4 * GiB, 4 * GiB), MT_MIXED);
    assert_int_equal(mtrr_type_of_range(&s, 2 * GiB, 2 * GiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 0, 8 * GiB), MT_MIXED);
}

/* A RAM size that is not a power of two needs several ranges: 3 GiB = 2G + 1G,
 * 768 MiB = 512M + 256M. */
static void test_non_power_of_two(void **unused)
{
    (void)unused;
    struct mtrr_state s;
    fake_reset();
    fake_set(MSR_IA32_MTRRCAP, 4u);
    fake_set(MSR_IA32_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E | MT_UC);
    fake_var(0, 0, 2 * GiB, MT_WB, 36);
    fake_var(1, 2 * GiB, 1 * GiB, MT_WB, 36);
    fake_var(2, 4 * GiB, 512 * MiB, MT_WB, 36);
    fake_var(3, 4 * GiB + 512 * MiB, 256 * MiB, MT_WB, 36);
    read_state(&s, 36);

    assert_int_equal(mtrr_type_of_page(&s, 3 * GiB - 4 * KiB), MT_WB);
    assert_int_equal(mtrr_type_of_page(&s, 3 * GiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 2 * GiB, 1 * GiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 3 * GiB, 1 * GiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 2 * GiB, 2 * GiB), MT_MIXED);
    assert_int_equal(mtrr_type_of_range(&s, 0, 2 * GiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 0, 4 * GiB), MT_MIXED);

    assert_int_equal(mtrr_type_of_page(&s, 4 * GiB + 768 * MiB - 4 * KiB), MT_WB);
    assert_int_equal(mtrr_type_of_page(&s, 4 * GiB + 768 * MiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 4 * GiB + 512 * MiB, 256 * MiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 4 * GiB + 512 * MiB, 512 * MiB), MT_MIXED);
    assert_int_equal(mtrr_type_of_range(&s, 4 * GiB + 768 * MiB, 256 * MiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 4 * GiB, 1 * GiB), MT_MIXED);
}

static void test_invalid_types(void **unused)
{
    (void)unused;
    struct mtrr_state s;
    fake_reset();
    fake_set(MSR_IA32_MTRRCAP, QEMU_MTRRCAP);
    fake_set(MSR_IA32_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E | MTRR_DEF_TYPE_FE | 2); /* reserved */
    fake_fixed(MT_WB);
    fake_set(MSR_IA32_MTRR_FIX16K_80000, bytes8(MT_WB) & ~0xFF00ull);    /* byte 1: UC, ok */
    fake_set(MSR_IA32_MTRR_FIX4K_C0000 + 3, (bytes8(MT_WB) & ~0xFFull) | 0x03); /* byte 0: 3 */
    fake_all_var_off(8);
    fake_var(0, 0, 1 * GiB, 7, 39);                 /* valid range, reserved type 7 */
    fake_set(MSR_IA32_MTRR_PHYSBASE(1), 1 * GiB | 3);   /* reserved type, V = 0 */
    fake_set(MSR_IA32_MTRR_PHYSMASK(1), 0x7FC0000000ull);
    fake_var(2, 2 * GiB, 1 * GiB, 0x86, 39);        /* high bits set: 0x86 is reserved */
    read_state(&s, 39);

    assert_int_equal(s.invalid_types, 4);   /* default, one fixed byte, var 0, var 2 */
    assert_int_equal(s.def_type, MT_UC);
    assert_int_equal(s.fixed[8 + 1], MT_UC);
    assert_int_equal(s.fixed[24 + 3 * 8], MT_UC);
    assert_int_equal(s.fixed[24 + 3 * 8 + 1], MT_WB);
    assert_int_equal(mtrr_type_of_page(&s, 0xD8000), MT_UC);   /* 4K_D8000 byte 0 */
    assert_int_equal(mtrr_type_of_page(&s, 0xD9000), MT_WB);
    assert_int_equal(mtrr_type_of_page(&s, 2 * MiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 2 * MiB, 2 * MiB), MT_UC);
    assert_int_equal(mtrr_type_of_page(&s, 2 * GiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 0, 4 * GiB), MT_MIXED);  /* fixed WB vs UC */

    /* A hand-made state with reserved encodings (bypassing mtrr_read): the lookups
     * still treat them as UC. */
    struct mtrr_state h;
    memset(&h, 0, sizeof(h));
    h.enabled = true;
    h.def_type = 0x42;
    h.phys_mask = (1ull << 36) - 1;
    h.nvar = 1;
    h.var[0].base = 1 * GiB | 3;
    h.var[0].mask = (~(1 * GiB - 1) & h.phys_mask) | MTRR_PHYSMASK_VALID;
    h.var[0].valid = true;
    assert_int_equal(mtrr_type_of_page(&h, 0), MT_UC);
    assert_int_equal(mtrr_type_of_page(&h, 1 * GiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&h, 0, 4 * GiB), MT_UC);
    h.fixed_enabled = true;
    h.fixed[0] = 0xFE;
    h.fixed[1] = MT_WB;
    assert_int_equal(mtrr_type_of_page(&h, 0), MT_UC);
    assert_int_equal(mtrr_type_of_page(&h, 64 * KiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&h, 0, 64 * KiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&h, 0, 128 * KiB), MT_MIXED);
}

/* VCNT above MTRR_MAX_VAR: only the first 32 pairs are read; a state with nvar
 * above the maximum (hand-made) is clamped by the lookups too. */
static void test_nvar_clamp(void **unused)
{
    (void)unused;
    struct mtrr_state s;
    fake_reset();
    fake_set(MSR_IA32_MTRRCAP, 0xFFu);
    fake_set(MSR_IA32_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E | MT_UC);
    fake_all_var_off(MTRR_MAX_VAR);
    fake_var(MTRR_MAX_VAR - 1, 0, 1 * GiB, MT_WB, 36);
    read_state(&s, 36);   /* reading pair 32 would fail the test */
    assert_int_equal(s.nvar, MTRR_MAX_VAR);
    assert_int_equal(fake_reads(MSR_IA32_MTRR_PHYSMASK(MTRR_MAX_VAR - 1)), 1);
    assert_int_equal(mtrr_type_of_page(&s, 0x100000), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 0, 1 * GiB), MT_WB);

    s.nvar = 1000;
    assert_int_equal(mtrr_type_of_page(&s, 0x100000), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 0, 2 * GiB), MT_MIXED);

    /* VCNT 0: no variable MSR read at all, everything default. */
    fake_reset();
    fake_set(MSR_IA32_MTRRCAP, 0u);
    fake_set(MSR_IA32_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E | MT_WB);
    read_state(&s, 36);
    assert_int_equal(s.nvar, 0);
    assert_int_equal(mtrr_type_of_range(&s, 0, 1ull << 36), MT_WB);
    /* the largest region: 2^63 at 2^63 ends exactly at 2^64, no wrap */
    assert_int_equal(mtrr_type_of_range(&s, 1ull << 63, 1ull << 63), MT_WB);
}

static void test_maxphyaddr(void **unused)
{
    (void)unused;
    struct mtrr_state s;
    fake_reset();
    fake_set(MSR_IA32_MTRRCAP, 1u);
    fake_set(MSR_IA32_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E | MT_UC);
    /* A mask computed for 46 bits, read on a 36-bit CPU: bits 45:36 are ignored. */
    fake_var(0, 4 * GiB, 2 * GiB, MT_WB, 46);
    read_state(&s, 0);
    assert_int_equal(s.phys_mask, (1ull << 36) - 1);
    assert_int_equal(mtrr_type_of_page(&s, 5 * GiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 4 * GiB, 2 * GiB), MT_WB);
    read_state(&s, 20);
    assert_int_equal(s.phys_mask, (1ull << 36) - 1);
    read_state(&s, 64);
    assert_int_equal(s.phys_mask, (1ull << 52) - 1);
    read_state(&s, 46);
    assert_int_equal(s.phys_mask, (1ull << 46) - 1);
    assert_int_equal(mtrr_type_of_page(&s, 5 * GiB), MT_WB);
    assert_int_equal(mtrr_type_of_page(&s, 64 * GiB + 5 * GiB), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 4 * GiB, 4 * GiB), MT_MIXED);
}

static void test_range_bad_args(void **unused)
{
    (void)unused;
    struct mtrr_state s;
    setup_ovmf_q35();
    read_state(&s, 40);
    assert_int_equal(mtrr_type_of_range(&s, 2 * MiB, 0), MT_MIXED);
    assert_int_equal(mtrr_type_of_range(&s, 2 * MiB, 2 * KiB), MT_MIXED);
    assert_int_equal(mtrr_type_of_range(&s, 2 * MiB, 12 * KiB), MT_MIXED);
    assert_int_equal(mtrr_type_of_range(&s, 2 * MiB + 4 * KiB, 2 * MiB), MT_MIXED);
    assert_int_equal(mtrr_type_of_range(&s, 1 * GiB, 2 * GiB), MT_MIXED);  /* misaligned */
    /* Addresses above MAXPHYADDR alias (the lookups only see bits 39:12 here), so
     * the top half of the 64-bit space contains copies of the UC hole. */
    assert_int_equal(mtrr_type_of_range(&s, 1ull << 63, 1ull << 63), MT_MIXED);
    assert_int_equal(mtrr_type_of_page(&s, (1ull << 63) + 0xB0000000), MT_UC);
    assert_int_equal(mtrr_type_of_range(&s, 0, 1ull << 63), MT_MIXED);
    /* valid counterparts */
    assert_int_equal(mtrr_type_of_range(&s, 2 * MiB, 4 * KiB), MT_WB);
    assert_int_equal(mtrr_type_of_range(&s, 2 * MiB, 2 * MiB), MT_WB);
}

/* ----------------------------------------------------------- property test */

static uint64_t rng_state;
static uint64_t rng(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static uint8_t rnd_type(void)
{
    static const uint8_t types[] = { MT_UC, MT_WC, MT_WT, MT_WP, MT_WB, MT_WB, MT_WT, MT_UC };
    return types[rng() % 8];
}

/* A random MTRR configuration in [0, 8 GiB): mostly aligned power-of-two ranges
 * (what firmware programs), sometimes a non-contiguous mask or a reserved type. */
static void random_state(struct mtrr_state *s)
{
    memset(s, 0, sizeof(*s));
    s->phys_mask = (1ull << 39) - 1;
    s->enabled = true;
    s->fixed_enabled = rng() % 2;
    s->def_type = rng() % 16 == 0 ? 2 : rnd_type();
    uint8_t fbase = rnd_type();
    for (unsigned i = 0; i < 88; i++)
        s->fixed[i] = rng() % 6 == 0 ? rnd_type() : fbase;
    s->nvar = 1 + rng() % 8;
    for (unsigned i = 0; i < s->nvar; i++) {
        /* mostly small ranges (4 KiB .. 64 MiB), where the regions we can check by
         * brute force straddle their edges; sometimes large ones (.. 8 GiB) */
        unsigned order = rng() % 4 ? 12 + rng() % 15 : 12 + rng() % 22;
        uint64_t size = 1ull << order;
        uint64_t base = (rng() % (8 * GiB)) & ~(size - 1);
        uint64_t mask = ~(size - 1) & s->phys_mask & ~0xFFFull;
        if (rng() % 10 == 0) {
            /* non-contiguous: drop one mask bit above 12 */
            mask &= ~(1ull << (12 + rng() % 20));
        }
        uint8_t type = rng() % 20 == 0 ? 3 : rnd_type();
        s->var[i].base = base | type;
        s->var[i].mask = mask | MTRR_PHYSMASK_VALID;
        s->var[i].valid = rng() % 8 != 0;
    }
}

static unsigned n_mixed, n_uniform;

static void check_region(const struct mtrr_state *s, uint64_t base, uint64_t size)
{
    uint8_t fast = mtrr_type_of_range(s, base, size);
    uint8_t slow = brute_range(s, base, size);
    if (fast != slow)
        fail_msg("region [0x%llx, +0x%llx): range says %u, pages say %u",
                 (unsigned long long)base, (unsigned long long)size, fast, slow);
    if (slow == MT_MIXED)
        n_mixed++;
    else
        n_uniform++;
}

static void test_range_matches_pages(void **unused)
{
    (void)unused;
    rng_state = 0x1A2B3C4D5E6F7081ull;
    n_mixed = n_uniform = 0;
    struct mtrr_state s;

    /* Realistic configurations first: every 2 MiB and 1 GiB region of 0-8 GiB. */
    setup_ovmf_q35();
    read_state(&s, 40);
    for (uint64_t a = 0; a < 8 * GiB; a += 1 * GiB)
        check_region(&s, a, 1 * GiB);
    for (uint64_t a = 0; a < 8 * GiB; a += 2 * MiB)
        check_region(&s, a, 2 * MiB);

    for (unsigned cfg = 0; cfg < 60; cfg++) {
        random_state(&s);
        /* Regions around each range, where mixing happens: the ones of 1..8 times
         * its size containing it, and small ones at its start and end... */
        for (unsigned i = 0; i < s.nvar; i++) {
            uint64_t b = s.var[i].base & ~0xFFFull;
            uint64_t rsize = ~(s.var[i].mask & s.phys_mask & ~0xFFFull) & s.phys_mask;
            rsize = (rsize & ~(rsize + 1)) + 1;   /* lowest run of zero mask bits */
            for (uint64_t size = rsize; size <= 8 * rsize && size <= 64 * MiB; size <<= 1)
                check_region(&s, b & ~(size - 1), size);
            for (unsigned order = 12; order <= 24; order += 4) {
                uint64_t size = 1ull << order;
                check_region(&s, b & ~(size - 1), size);
                if (b >= size)
                    check_region(&s, (b - size) & ~(size - 1), size);
                check_region(&s, (b + rsize) & ~(size - 1), size);
            }
        }
        /* ... random regions of 4 KiB .. 64 MiB ... */
        for (unsigned i = 0; i < 150; i++) {
            uint64_t size = 1ull << (12 + rng() % 15);
            uint64_t base = (rng() % (8 * GiB)) & ~(size - 1);
            check_region(&s, base, size);
        }
        /* ... and a few 1 GiB regions. */
        for (unsigned i = 0; i < 2; i++)
            check_region(&s, (rng() % 8) * GiB, 1 * GiB);
    }
    print_message("property: %u mixed, %u uniform regions\n", n_mixed, n_uniform);
    /* The test must have seen plenty of both outcomes to mean anything. */
    assert_true(n_mixed > 500);
    assert_true(n_uniform > 2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_ovmf_q35),
        cmocka_unit_test(test_bios_default_uc),
        cmocka_unit_test(test_fixed_and_var_uniform_across_1m),
        cmocka_unit_test(test_uc_hole_over_wb),
        cmocka_unit_test(test_overlap_precedence),
        cmocka_unit_test(test_disabled),
        cmocka_unit_test(test_fixed_disabled),
        cmocka_unit_test(test_above_4g),
        cmocka_unit_test(test_non_power_of_two),
        cmocka_unit_test(test_invalid_types),
        cmocka_unit_test(test_nvar_clamp),
        cmocka_unit_test(test_maxphyaddr),
        cmocka_unit_test(test_range_bad_args),
        cmocka_unit_test(test_range_matches_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
