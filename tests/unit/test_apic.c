/* Which CPUs an intercepted INIT IPI reaches (core/apic.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "core/apic.h"

static const uint32_t ids[4] = { 0, 1, 2, 6 };     /* APIC IDs need not be dense */

#define INIT_ASSERT ((ICR_MODE_INIT << 8) | ICR_LEVEL_ASSERT)

static void test_physical(void **unused)
{
    (void)unused;
    uint64_t t;
    assert_int_equal(apic_init_targets(INIT_ASSERT, 6, false, 0, ids, 4, &t), 0);
    assert_int_equal(t, 1u << 3);
    assert_int_equal(apic_init_targets(INIT_ASSERT, 1, true, 0, ids, 4, &t), 0);
    assert_int_equal(t, 1u << 1);
    /* an APIC ID nobody has: no target */
    assert_int_equal(apic_init_targets(INIT_ASSERT, 5, false, 0, ids, 4, &t), 0);
    assert_int_equal(t, 0);
    /* broadcast: 0xff in xAPIC, 0xffffffff in x2APIC (where 0xff is an ID) */
    assert_int_equal(apic_init_targets(INIT_ASSERT, 0xff, false, 0, ids, 4, &t), 0);
    assert_int_equal(t, 0xf);
    assert_int_equal(apic_init_targets(INIT_ASSERT, 0xff, true, 0, ids, 4, &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(apic_init_targets(INIT_ASSERT, 0xffffffffu, true, 0, ids, 4, &t), 0);
    assert_int_equal(t, 0xf);
}

static void test_shorthands(void **unused)
{
    (void)unused;
    uint64_t t;
    assert_int_equal(apic_init_targets(INIT_ASSERT | (ICR_DEST_ALL_BUT_SELF << 18), 0, false, 2,
                                       ids, 4, &t), 0);
    assert_int_equal(t, 0xb);
    assert_int_equal(apic_init_targets(INIT_ASSERT | (ICR_DEST_ALL << 18), 0, false, 2, ids, 4, &t), 0);
    assert_int_equal(t, 0xf);
    assert_int_equal(apic_init_targets(INIT_ASSERT | (ICR_DEST_SELF << 18), 0, false, 2, ids, 4, &t), 0);
    assert_int_equal(t, 0x4);
}

/* Not emulated: other delivery modes (SIPI, NMI, fixed), logical destination
 * mode. A level de-assert is emulated as doing nothing. */
static void test_not_emulated(void **unused)
{
    (void)unused;
    uint64_t t = 99;
    assert_int_equal(apic_init_targets((6u << 8) | 0x87, 1, false, 0, ids, 4, &t), -1);  /* SIPI */
    assert_int_equal(t, 0);
    assert_int_equal(apic_init_targets((ICR_MODE_NMI << 8) | ICR_LEVEL_ASSERT, 1, false, 0, ids, 4, &t), -1);
    assert_int_equal(apic_init_targets(0x30, 1, false, 0, ids, 4, &t), -1);          /* fixed vector */
    assert_int_equal(apic_init_targets(INIT_ASSERT | ICR_LOGICAL, 1, false, 0, ids, 4, &t), -1);
    assert_int_equal(apic_init_targets(ICR_MODE_INIT << 8, 1, false, 0, ids, 4, &t), 0); /* de-assert */
    assert_int_equal(t, 0);
}

/* SIPIs to several CPUs are split (Bochs 2.7 drops the rest of a broadcast
 * SIPI at the first VM exit); a SIPI to one CPU goes out as it is. */
static void test_sipi_split(void **unused)
{
    (void)unused;
    const uint32_t sipi = (ICR_MODE_STARTUP << 8) | ICR_LEVEL_ASSERT | 0x9f;
    uint64_t t;
    assert_true(apic_sipi_needs_split(sipi | (ICR_DEST_ALL_BUT_SELF << 18), 0, false));
    assert_true(apic_sipi_needs_split(sipi | (ICR_DEST_ALL << 18), 0, true));
    assert_true(apic_sipi_needs_split(sipi, 0xff, false));
    assert_true(apic_sipi_needs_split(sipi, 0xffffffffu, true));
    assert_false(apic_sipi_needs_split(sipi, 2, false));
    assert_false(apic_sipi_needs_split(sipi, 0xff, true));            /* an x2APIC ID */
    assert_false(apic_sipi_needs_split(sipi | ICR_LOGICAL | (ICR_DEST_ALL << 18), 0, false));
    assert_false(apic_sipi_needs_split(INIT_ASSERT | (ICR_DEST_ALL << 18), 0, false));
    assert_int_equal(apic_ipi_targets(sipi | (ICR_DEST_ALL_BUT_SELF << 18), 0, false, 0, ids, 4, &t), 0);
    assert_int_equal(t, 0xe);
    assert_int_equal(apic_ipi_targets(sipi | ICR_LOGICAL, 1, false, 0, ids, 4, &t), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_physical),
        cmocka_unit_test(test_shorthands),
        cmocka_unit_test(test_not_emulated),
        cmocka_unit_test(test_sipi_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
