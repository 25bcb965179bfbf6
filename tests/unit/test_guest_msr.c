/* core/guest_msr.c: which MSRs live in the VMCS, and the checks a guest
 * WRMSR of one must pass (SDM 3A 12.12.2 PAT, 10.8.5 EFER, 5.5 canonical). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "core/guest_msr.h"

static const struct guest_msr_env env48 = { .la57 = false, .nx = true, .paging = true,
                                            .efer = (1u << 8) | (1u << 10) | (1u << 11) };

static void kinds(void **state)
{
    (void)state;
    assert_int_equal(guest_msr_kind(0x174), GMSR_SYSENTER_CS);
    assert_int_equal(guest_msr_kind(0x176), GMSR_SYSENTER_EIP);
    assert_int_equal(guest_msr_kind(0x1d9), GMSR_DEBUGCTL);
    assert_int_equal(guest_msr_kind(0x277), GMSR_PAT);
    assert_int_equal(guest_msr_kind(0xc0000080), GMSR_EFER);
    assert_int_equal(guest_msr_kind(0xc0000100), GMSR_FS_BASE);
    assert_int_equal(guest_msr_kind(0xc0000101), GMSR_GS_BASE);
    /* KERNEL_GS_BASE and LSTAR are not in the VMCS: the processor keeps them. */
    assert_int_equal(guest_msr_kind(0xc0000102), GMSR_KERNEL_GS_BASE);
    assert_int_equal(guest_msr_kind(0xc0000082), GMSR_LSTAR);
    assert_int_equal(guest_msr_kind(0xc0000081), GMSR_STAR);
    assert_int_equal(guest_msr_kind(0xc0000083), GMSR_CSTAR);
    assert_int_equal(guest_msr_kind(0xc0000084), GMSR_SFMASK);
    assert_int_equal(guest_msr_kind(0xc0000103), GMSR_NONE);
    assert_int_equal(guest_msr_kind(0x10), GMSR_NONE);
}

static void canonical_bases(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(guest_msr_write_value(GMSR_FS_BASE, 0x00007fffffffffffull, &env48, &v), 0);
    assert_int_equal(v, 0x00007fffffffffffull);
    assert_int_equal(guest_msr_write_value(GMSR_GS_BASE, 0xffff800000000000ull, &env48, &v), 0);
    assert_int_equal(guest_msr_write_value(GMSR_FS_BASE, 0x0000800000000000ull, &env48, &v), -1);
    assert_int_equal(guest_msr_write_value(GMSR_SYSENTER_ESP, 0x8000000000000000ull, &env48, &v), -1);
    assert_int_equal(guest_msr_write_value(GMSR_LSTAR, 0x0000800000000000ull, &env48, &v), -1);
    assert_int_equal(guest_msr_write_value(GMSR_KERNEL_GS_BASE, 0xffff800000000000ull, &env48, &v), 0);
    assert_int_equal(guest_msr_write_value(GMSR_SFMASK, 0x100000000ull, &env48, &v), -1);
    assert_int_equal(guest_msr_write_value(GMSR_SFMASK, 0x47700ull, &env48, &v), 0);
    assert_int_equal(guest_msr_write_value(GMSR_STAR, ~0ull, &env48, &v), 0);
    struct guest_msr_env env57 = env48;
    env57.la57 = true;
    assert_int_equal(guest_msr_write_value(GMSR_FS_BASE, 0x0000800000000000ull, &env57, &v), 0);
    assert_int_equal(guest_msr_write_value(GMSR_SYSENTER_EIP, 0x0100000000000000ull, &env57, &v), -1);
}

static void sysenter_cs_low_half(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(guest_msr_write_value(GMSR_SYSENTER_CS, 0xdead000000000010ull, &env48, &v), 0);
    assert_int_equal(v, 0x10);
}

static void pat_types(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(guest_msr_write_value(GMSR_PAT, 0x0007040600070406ull, &env48, &v), 0);
    assert_int_equal(v, 0x0007040600070406ull);
    assert_int_equal(guest_msr_write_value(GMSR_PAT, 0x0107040600070406ull, &env48, &v), 0);
    /* Types 2 and 3, and bits 7:3 of an entry, are reserved. */
    assert_int_equal(guest_msr_write_value(GMSR_PAT, 0x0007040600070402ull, &env48, &v), -1);
    assert_int_equal(guest_msr_write_value(GMSR_PAT, 0x0307040600070406ull, &env48, &v), -1);
    assert_int_equal(guest_msr_write_value(GMSR_PAT, 0x0007040600070416ull, &env48, &v), -1);
}

static void efer_rules(void **state)
{
    (void)state;
    uint64_t v = 0;
    /* SCE toggles freely; LMA is read-only: the current value is kept. */
    assert_int_equal(guest_msr_write_value(GMSR_EFER, (1u << 8) | (1u << 11) | 1, &env48, &v), 0);
    assert_int_equal(v, (1u << 8) | (1u << 10) | (1u << 11) | 1);
    /* LME may not change while paging is on. */
    assert_int_equal(guest_msr_write_value(GMSR_EFER, (1u << 11), &env48, &v), -1);
    struct guest_msr_env off = { .nx = false, .paging = false, .efer = 0 };
    assert_int_equal(guest_msr_write_value(GMSR_EFER, (1u << 8) | (1u << 10), &off, &v), 0);
    assert_int_equal(v, 1u << 8);
    /* NXE only where CPUID reports NX; other bits are reserved. */
    assert_int_equal(guest_msr_write_value(GMSR_EFER, 1u << 11, &off, &v), -1);
    assert_int_equal(guest_msr_write_value(GMSR_EFER, 1u << 9, &env48, &v), -1);
    assert_int_equal(guest_msr_write_value(GMSR_EFER, 1ull << 40, &env48, &v), -1);
}

static void not_vmcs_held(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(guest_msr_write_value(GMSR_NONE, 0, &env48, &v), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kinds),
        cmocka_unit_test(canonical_bases),
        cmocka_unit_test(sysenter_cs_low_half),
        cmocka_unit_test(pat_types),
        cmocka_unit_test(efer_rules),
        cmocka_unit_test(not_vmcs_held),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
