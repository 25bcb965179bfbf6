/* core/cpuid.c: the guest's view of CPUID. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/cpuid.h"

/* Skylake-X leaf 1 as the host sees it (VMX set, XSAVE and OSXSAVE set, bit 31 clear) */
static const struct cpuid_regs host_leaf1 = { 0x00050654, 0x00100800, 0x7ffefbff, 0xbfebfbff };
static const struct cpuid_regs garbage = { 0x12345678, 0x9abcdef0, 0x0fedcba9, 0x87654321 };

static struct cpuid_regs filter(uint32_t leaf, uint32_t sub, struct cpuid_regs in, bool stealth)
{
    cpuid_filter(leaf, sub, &in, stealth);
    return in;
}

static void assert_regs(struct cpuid_regs r, uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
    assert_int_equal(r.eax, a);
    assert_int_equal(r.ebx, b);
    assert_int_equal(r.ecx, c);
    assert_int_equal(r.edx, d);
}

static void test_leaf1(void **state)
{
    (void)state;
    struct cpuid_regs r = filter(1, 0, host_leaf1, false);
    assert_false(r.ecx & CPUID_1_ECX_VMX);
    assert_true(r.ecx & CPUID_1_ECX_HYPERVISOR);
    /* nothing else changes but the debug store (M7: DS, DTES64, DS-CPL hidden) */
    assert_regs(r, host_leaf1.eax, host_leaf1.ebx,
                (host_leaf1.ecx & ~((1u << 5) | (1u << 2) | (1u << 4))) | (1u << 31),
                host_leaf1.edx & ~(1u << 21));
    /* a host without VMX set (can't happen under Lamina, but the bit stays clear) */
    struct cpuid_regs h = host_leaf1;
    h.ecx &= ~(1u << 5);
    h.ecx &= ~((1u << 2) | (1u << 4));
    assert_int_equal(filter(1, 0, h, false).ecx, h.ecx | (1u << 31));
}

static void test_leaf1_stealth(void **state)
{
    (void)state;
    struct cpuid_regs r = filter(1, 0, host_leaf1, true);
    assert_false(r.ecx & CPUID_1_ECX_VMX);               /* still hidden */
    assert_false(r.ecx & CPUID_1_ECX_HYPERVISOR);        /* not announced */
    assert_regs(r, host_leaf1.eax, host_leaf1.ebx, host_leaf1.ecx & ~((1u << 5) | (1u << 2) | (1u << 4)),
                host_leaf1.edx & ~(1u << 21));
    /* host already under a hypervisor (bit 31 set): passed through as the host sees it */
    struct cpuid_regs h = host_leaf1;
    h.ecx |= 1u << 31;
    assert_true(filter(1, 0, h, true).ecx & CPUID_1_ECX_HYPERVISOR);
}

static void test_signature_leaf(void **state)
{
    (void)state;
    struct cpuid_regs r = filter(LAMINA_CPUID_BASE, 0, garbage, false);
    assert_int_equal(r.eax, 0x40000001);
    char sig[13];
    memcpy(sig + 0, &r.ebx, 4);
    memcpy(sig + 4, &r.ecx, 4);
    memcpy(sig + 8, &r.edx, 4);
    sig[12] = 0;
    assert_string_equal(sig, "LaminaLamina");
    /* the subleaf does not matter */
    struct cpuid_regs r2 = filter(LAMINA_CPUID_BASE, 7, garbage, false);
    assert_memory_equal(&r, &r2, sizeof(r));
}

static void test_interface_leaf(void **state)
{
    (void)state;
    assert_regs(filter(0x40000001, 0, garbage, false), 1, 0, 0, 0);
}

static void test_other_hypervisor_leaves_zero(void **state)
{
    (void)state;
    const uint32_t leaves[] = { 0x40000002, 0x40000003, 0x40000010, 0x400000ff,
                                0x40000100, 0x40010000, 0x4fffffff };
    for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++)
        assert_regs(filter(leaves[i], 0, garbage, false), 0, 0, 0, 0);
}

static void test_stealth_hypervisor_leaves_pass_through(void **state)
{
    (void)state;
    const uint32_t leaves[] = { 0x40000000, 0x40000001, 0x40000002, 0x4fffffff };
    for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
        struct cpuid_regs r = filter(leaves[i], 0, garbage, true);
        assert_memory_equal(&r, &garbage, sizeof(r));
    }
}

static void test_other_leaves_untouched(void **state)
{
    (void)state;
    /* Leaf 7 (Intel PT hidden) and 0x80000001 (SVM hidden) have their own tests. */
    const uint32_t leaves[] = { 0, 2, 0xb, 0xd, 0x3fffffff, 0x50000000, 0x80000000,
                                0x80000008, 0xffffffff };
    for (int stealth = 0; stealth < 2; stealth++) {
        for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
            struct cpuid_regs r = filter(leaves[i], 0, garbage, stealth);
            assert_memory_equal(&r, &garbage, sizeof(r));
        }
    }
}

/* AMD-V as hidden as VMX: no nested virtualization on either vendor. */
static void test_svm_hidden(void **state)
{
    (void)state;
    struct cpuid_regs amd = garbage;
    amd.ecx |= CPUID_80000001_ECX_SVM;
    for (int stealth = 0; stealth < 2; stealth++) {
        struct cpuid_regs r = filter(0x80000001, 0, amd, stealth);
        assert_int_equal(r.ecx, amd.ecx & ~CPUID_80000001_ECX_SVM);
        assert_int_equal(r.eax, garbage.eax);
        assert_int_equal(r.edx, garbage.edx);
        r = filter(CPUID_SVM_LEAF, 0, garbage, stealth);
        assert_regs(r, 0, 0, 0, 0);
    }
}

static void test_osxsave_follows_guest_cr4(void **state)
{
    (void)state;
    const uint64_t OSXSAVE = 1ull << 18;
    struct cpuid_regs r = host_leaf1;             /* host has OSXSAVE set */
    cpuid_fix_osxsave(&r, 1, 0, 0);
    assert_false(r.ecx & CPUID_1_ECX_OSXSAVE);
    assert_int_equal(r.ecx, host_leaf1.ecx & ~(1u << 27));
    assert_int_equal(r.eax, host_leaf1.eax);
    assert_int_equal(r.edx, host_leaf1.edx);

    r = host_leaf1;
    r.ecx &= ~CPUID_1_ECX_OSXSAVE;                /* host without, guest with */
    cpuid_fix_osxsave(&r, 1, 0, OSXSAVE | (1ull << 13));
    assert_int_equal(r.ecx, host_leaf1.ecx);

    /* only CR4 bit 18 matters */
    r = host_leaf1;
    cpuid_fix_osxsave(&r, 1, 0, ~OSXSAVE);
    assert_false(r.ecx & CPUID_1_ECX_OSXSAVE);
}

static void test_ospke_follows_guest_cr4(void **state)
{
    (void)state;
    const uint64_t PKE = 1ull << 22;
    struct cpuid_regs leaf7 = { 0, 0xd19f4fbb, 0x0000001c, 0x9c002400 };   /* PKU, OSPKE set */
    struct cpuid_regs r = leaf7;
    cpuid_fix_osxsave(&r, 7, 0, 0);
    assert_int_equal(r.ecx, leaf7.ecx & ~(1u << 4));
    assert_true(r.ecx & CPUID_7_0_ECX_PKU);         /* PKU itself stays */
    assert_int_equal(r.ebx, leaf7.ebx);

    r = leaf7;
    r.ecx &= ~CPUID_7_0_ECX_OSPKE;
    cpuid_fix_osxsave(&r, 7, 0, PKE);
    assert_int_equal(r.ecx, leaf7.ecx);

    /* OSXSAVE does not affect leaf 7, PKE does not affect leaf 1 */
    r = leaf7;
    cpuid_fix_osxsave(&r, 7, 0, 1ull << 18);
    assert_false(r.ecx & CPUID_7_0_ECX_OSPKE);
    r = host_leaf1;
    cpuid_fix_osxsave(&r, 1, 0, PKE);
    assert_false(r.ecx & CPUID_1_ECX_OSXSAVE);
    assert_true(r.ecx & (1u << 4));                 /* leaf 1 ECX bit 4 (DS-CPL) untouched */
}

static void test_intel_pt_hidden(void **state)
{
    (void)state;
    /* Leaf 7.0 EBX bit 25 (PT) goes, in stealth mode too; nothing else changes. */
    struct cpuid_regs in = { 0, 0xffffffffu, 0x1234, 0x5678 };
    for (int stealth = 0; stealth < 2; stealth++) {
        struct cpuid_regs r = filter(7, 0, in, stealth);
        assert_regs(r, 0, 0xffffffffu & ~(1u << 25), 0x1234, 0x5678);
        assert_regs(filter(0x14, 0, garbage, stealth), 0, 0, 0, 0);
        assert_regs(filter(0x14, 1, garbage, stealth), 0, 0, 0, 0);
    }
    /* Subleaf 1 of leaf 7 is not the feature word. */
    struct cpuid_regs r = filter(7, 1, in, false);
    assert_int_equal(r.ebx, 0xffffffffu);
}

static void test_fix_other_leaves_untouched(void **state)
{
    (void)state;
    struct cpuid_regs r;
    /* leaf 7 subleaf 1, leaf 0xd, leaf 0x80000001 */
    const uint32_t cases[][2] = { { 7, 1 }, { 0xd, 0 }, { 0x80000001, 0 }, { 0, 0 } };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        r = garbage;
        cpuid_fix_osxsave(&r, cases[i][0], cases[i][1], 0);
        assert_memory_equal(&r, &garbage, sizeof(r));
        cpuid_fix_osxsave(&r, cases[i][0], cases[i][1], ~0ull);
        assert_memory_equal(&r, &garbage, sizeof(r));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leaf1),
        cmocka_unit_test(test_intel_pt_hidden),
        cmocka_unit_test(test_svm_hidden),
        cmocka_unit_test(test_leaf1_stealth),
        cmocka_unit_test(test_signature_leaf),
        cmocka_unit_test(test_interface_leaf),
        cmocka_unit_test(test_other_hypervisor_leaves_zero),
        cmocka_unit_test(test_stealth_hypervisor_leaves_pass_through),
        cmocka_unit_test(test_other_leaves_untouched),
        cmocka_unit_test(test_osxsave_follows_guest_cr4),
        cmocka_unit_test(test_ospke_follows_guest_cr4),
        cmocka_unit_test(test_fix_other_leaves_untouched),
    };
    return cmocka_run_group_tests_name("cpuid", tests, NULL, NULL);
}
