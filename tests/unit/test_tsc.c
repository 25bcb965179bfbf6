/* core/tsc.c: guest writes of the TSC and IA32_TSC_ADJUST become a VMCS
 * offset; the two MSRs move together as SDM 3B 18.17.3 says. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "core/tsc.h"

static void tsc_write_sets_offset_and_adjust(void **state)
{
    (void)state;
    struct tsc_virt t = { .offset = 0, .adjust = 0 };
    /* Processor TSC 1000; the guest sets 400: it reads 400 now, and its
     * TSC_ADJUST went down by 600 as on hardware. */
    tsc_virt_write_tsc(&t, 400, 1000);
    assert_int_equal(1000 + t.offset, 400);
    assert_int_equal((int64_t)t.adjust, -600);
    /* Later (processor at 5000) it sets 10000: +5600 relative to before. */
    tsc_virt_write_tsc(&t, 10000, 5000);
    assert_int_equal(5000 + t.offset, 10000);
    assert_int_equal((int64_t)t.adjust, 5000);
}

static void adjust_write_moves_tsc(void **state)
{
    (void)state;
    struct tsc_virt t = { .offset = 0, .adjust = 7 };
    tsc_virt_write_adjust(&t, 107);          /* +100 */
    assert_int_equal(t.offset, 100);
    assert_int_equal(t.adjust, 107);
    tsc_virt_write_adjust(&t, 0);            /* -107 */
    assert_int_equal((int64_t)t.offset, -7);
    assert_int_equal(t.adjust, 0);
}

static void firmware_adjust_kept(void **state)
{
    (void)state;
    /* A non-zero IA32_TSC_ADJUST from the firmware: writing it back unchanged
     * (Linux does at boot) moves nothing. */
    struct tsc_virt t = { .offset = 0, .adjust = 12345 };
    tsc_virt_write_adjust(&t, 12345);
    assert_int_equal(t.offset, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tsc_write_sets_offset_and_adjust),
        cmocka_unit_test(adjust_write_moves_tsc),
        cmocka_unit_test(firmware_adjust_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
