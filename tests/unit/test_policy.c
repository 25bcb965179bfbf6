/* Unit tests for the policy lookup (core/policy.c): most specific wins. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/policy.h"

static struct lamina_policy pol;

static void reset(void)
{
    memset(&pol, 0, sizeof(pol));
}

/* Append a rule; its line is its 1-based position, so results name it. */
static void add(unsigned space, unsigned action, uint32_t first, uint32_t last, unsigned dir)
{
    struct policy_rule *r = &pol.rule[pol.nrules];

    assert_true(pol.nrules < POLICY_MAX_RULES);
    r->space = (uint8_t)space;
    r->action = (uint8_t)action;
    r->first = first;
    r->last = last;
    r->dir = (uint8_t)dir;
    r->line = ++pol.nrules;
}

/* Line of the deciding rule, 0 for none. */
static uint32_t io(uint32_t port, unsigned dir)
{
    const struct policy_rule *r = policy_lookup(&pol, POLICY_IO, port, dir);

    return r ? r->line : 0;
}

static uint32_t msr(uint32_t index, unsigned dir)
{
    const struct policy_rule *r = policy_lookup(&pol, POLICY_MSR, index, dir);

    return r ? r->line : 0;
}

static uint32_t io_access(uint16_t port, unsigned size, unsigned dir)
{
    const struct policy_rule *r = policy_lookup_io(&pol, port, size, dir);

    return r ? r->line : 0;
}

static void test_empty_policy(void **state)
{
    (void)state;
    reset();
    assert_int_equal(io(0x80, POLICY_READ), 0);
    assert_int_equal(msr(0x10, POLICY_WRITE), 0);
    assert_int_equal(io_access(0x80, 4, POLICY_WRITE), 0);
    assert_int_equal(policy_lock_slot(&pol, 0), -1);
}

static void test_range_bounds(void **state)
{
    (void)state;
    reset();
    add(POLICY_IO, POLICY_DENY, 0x60, 0x64, POLICY_RW);
    assert_int_equal(io(0x5f, POLICY_READ), 0);
    assert_int_equal(io(0x60, POLICY_READ), 1);
    assert_int_equal(io(0x62, POLICY_WRITE), 1);
    assert_int_equal(io(0x64, POLICY_READ), 1);
    assert_int_equal(io(0x65, POLICY_READ), 0);
}

static void test_space_separates(void **state)
{
    (void)state;
    reset();
    add(POLICY_MSR, POLICY_DENY, 0x80, 0x80, POLICY_RW);
    add(POLICY_IO, POLICY_LOG, 0x10, 0x10, POLICY_RW);
    assert_int_equal(io(0x80, POLICY_READ), 0);
    assert_int_equal(msr(0x80, POLICY_READ), 1);
    assert_int_equal(msr(0x10, POLICY_READ), 0);
    assert_int_equal(io(0x10, POLICY_READ), 2);
}

static void test_direction_filter(void **state)
{
    (void)state;
    reset();
    add(POLICY_IO, POLICY_DENY, 0x80, 0x80, POLICY_WRITE);
    add(POLICY_IO, POLICY_LOG, 0x90, 0x90, POLICY_READ);
    add(POLICY_IO, POLICY_LOG, 0xa0, 0xa0, POLICY_RW);
    assert_int_equal(io(0x80, POLICY_WRITE), 1);
    assert_int_equal(io(0x80, POLICY_READ), 0);
    assert_int_equal(io(0x90, POLICY_READ), 2);
    assert_int_equal(io(0x90, POLICY_WRITE), 0);
    assert_int_equal(io(0xa0, POLICY_READ), 3);
    assert_int_equal(io(0xa0, POLICY_WRITE), 3);
}

static void test_narrowest_wins(void **state)
{
    (void)state;
    /* Independent of rule order: the narrow rule first, then last. */
    reset();
    add(POLICY_MSR, POLICY_DENY, 0x10, 0x10, POLICY_RW);
    add(POLICY_MSR, POLICY_LOG, 0, 0x1fff, POLICY_RW);
    add(POLICY_MSR, POLICY_LOCK, 0x8, 0x1f, POLICY_WRITE);
    assert_int_equal(msr(0x10, POLICY_WRITE), 1);
    assert_int_equal(msr(0x11, POLICY_WRITE), 3);
    assert_int_equal(msr(0x11, POLICY_READ), 2);
    assert_int_equal(msr(0x100, POLICY_WRITE), 2);

    reset();
    add(POLICY_MSR, POLICY_LOG, 0, 0x1fff, POLICY_RW);
    add(POLICY_MSR, POLICY_LOCK, 0x8, 0x1f, POLICY_WRITE);
    add(POLICY_MSR, POLICY_DENY, 0x10, 0x10, POLICY_RW);
    assert_int_equal(msr(0x10, POLICY_WRITE), 3);
    assert_int_equal(msr(0x11, POLICY_WRITE), 2);
    assert_int_equal(msr(0x11, POLICY_READ), 1);
    /* A narrower rw rule beats a wider one-direction rule. */
    assert_int_equal(msr(0x10, POLICY_READ), 3);
}

static void test_width_tie_one_direction_wins(void **state)
{
    (void)state;
    reset();
    add(POLICY_IO, POLICY_DENY, 0x70, 0x71, POLICY_RW);
    add(POLICY_IO, POLICY_LOG, 0x70, 0x71, POLICY_WRITE);
    assert_int_equal(io(0x70, POLICY_WRITE), 2);
    assert_int_equal(io(0x71, POLICY_READ), 1);

    reset();
    add(POLICY_IO, POLICY_LOG, 0x70, 0x71, POLICY_READ);
    add(POLICY_IO, POLICY_DENY, 0x70, 0x71, POLICY_RW);
    assert_int_equal(io(0x70, POLICY_READ), 1);
    assert_int_equal(io(0x70, POLICY_WRITE), 2);

    /* Same width, shifted: still a width tie, the one-direction rule wins. */
    reset();
    add(POLICY_IO, POLICY_DENY, 0x70, 0x71, POLICY_RW);
    add(POLICY_IO, POLICY_LOG, 0x71, 0x72, POLICY_WRITE);
    assert_int_equal(io(0x71, POLICY_WRITE), 2);
    assert_int_equal(io(0x70, POLICY_WRITE), 1);
}

static void test_multibyte_most_severe(void **state)
{
    (void)state;
    reset();
    add(POLICY_IO, POLICY_LOG, 0xcf8, 0xcf8, POLICY_RW);
    add(POLICY_IO, POLICY_DENY, 0xcfa, 0xcfa, POLICY_WRITE);
    add(POLICY_IO, POLICY_LOG, 0xcfb, 0xcfb, POLICY_RW);
    assert_int_equal(io_access(0xcf8, 1, POLICY_WRITE), 1);
    assert_int_equal(io_access(0xcf8, 2, POLICY_WRITE), 1);
    assert_int_equal(io_access(0xcf8, 4, POLICY_WRITE), 2);    /* deny beats log */
    assert_int_equal(io_access(0xcf8, 4, POLICY_READ), 1);     /* deny is write-only */
    assert_int_equal(io_access(0xcf9, 2, POLICY_WRITE), 2);
    assert_int_equal(io_access(0xcf9, 1, POLICY_WRITE), 0);
    assert_int_equal(io_access(0xcf6, 2, POLICY_WRITE), 0);    /* ends just before */
    assert_int_equal(io_access(0xcf5, 4, POLICY_WRITE), 1);    /* last byte is 0xcf8 */
    assert_int_equal(io_access(0xcfb, 4, POLICY_WRITE), 3);

    /* Severity: deny > lock > log, whatever the rule order. */
    reset();
    add(POLICY_IO, POLICY_DENY, 0x10, 0x10, POLICY_RW);
    add(POLICY_IO, POLICY_LOG, 0x11, 0x11, POLICY_RW);
    assert_int_equal(io_access(0x10, 2, POLICY_READ), 1);
    reset();
    add(POLICY_IO, POLICY_LOG, 0x10, 0x10, POLICY_RW);
    add(POLICY_IO, POLICY_DENY, 0x11, 0x11, POLICY_RW);
    add(POLICY_IO, POLICY_LOCK, 0x12, 0x12, POLICY_RW);
    assert_int_equal(io_access(0x10, 2, POLICY_READ), 2);
    assert_int_equal(io_access(0x11, 2, POLICY_READ), 2);
    assert_int_equal(io_access(0x12, 1, POLICY_READ), 3);
    assert_int_equal(io_access(0x10, 1, POLICY_READ), 1);
}

static void test_multibyte_no_wrap(void **state)
{
    (void)state;
    reset();
    add(POLICY_IO, POLICY_DENY, 0, 3, POLICY_RW);
    add(POLICY_IO, POLICY_LOG, 0xffff, 0xffff, POLICY_RW);
    /* Ports past 0xffff are not 0, 1, 2. */
    assert_int_equal(io_access(0xffff, 4, POLICY_READ), 2);
    assert_int_equal(io_access(0xfffe, 4, POLICY_WRITE), 2);
    assert_int_equal(io_access(0xfffc, 4, POLICY_WRITE), 2);
    assert_int_equal(io_access(0xfffb, 4, POLICY_WRITE), 0);
    assert_int_equal(io_access(0, 1, POLICY_READ), 1);
}

static void test_msr_coverable_edges(void **state)
{
    (void)state;
    assert_true(policy_msr_coverable(0));
    assert_true(policy_msr_coverable(0x1fff));
    assert_false(policy_msr_coverable(0x2000));
    assert_false(policy_msr_coverable(0xbfffffff));
    assert_true(policy_msr_coverable(0xc0000000));
    assert_true(policy_msr_coverable(0xc0001fff));
    assert_false(policy_msr_coverable(0xc0002000));
    assert_false(policy_msr_coverable(0x40000000));
    assert_false(policy_msr_coverable(0xffffffff));
}

static void test_lock_slots(void **state)
{
    uint32_t i;

    (void)state;
    reset();
    pol.lock_msr[0] = 0x3a;
    pol.lock_msr[1] = 0xc0000080;
    pol.lock_msr[2] = 0;
    pol.nlocks = 3;
    assert_int_equal(policy_lock_slot(&pol, 0x3a), 0);
    assert_int_equal(policy_lock_slot(&pol, 0xc0000080), 1);
    assert_int_equal(policy_lock_slot(&pol, 0), 2);
    assert_int_equal(policy_lock_slot(&pol, 0x3b), -1);
    /* Slots at or past nlocks are not looked at. */
    pol.lock_msr[3] = 0x10;
    assert_int_equal(policy_lock_slot(&pol, 0x10), -1);

    /* A full table: the last slot is found; a bogus count is clamped. */
    for (i = 0; i < POLICY_MAX_LOCKS; i++)
        pol.lock_msr[i] = 0x100 + i;
    pol.nlocks = POLICY_MAX_LOCKS;
    assert_int_equal(policy_lock_slot(&pol, 0x100 + POLICY_MAX_LOCKS - 1),
                     POLICY_MAX_LOCKS - 1);
    pol.nlocks = 0xffffffffu;
    assert_int_equal(policy_lock_slot(&pol, 0x100 + POLICY_MAX_LOCKS), -1);
}

static void test_rule_count_clamped(void **state)
{
    (void)state;
    /* Rules past nrules are ignored; a bogus nrules stops at the array. */
    reset();
    add(POLICY_IO, POLICY_LOG, 0x80, 0x80, POLICY_RW);
    pol.rule[1] = pol.rule[0];
    pol.rule[1].action = POLICY_DENY;
    pol.rule[1].first = pol.rule[1].last = 0x81;
    assert_int_equal(io(0x81, POLICY_READ), 0);
    pol.nrules = 0xffffffffu;
    assert_int_equal(io(0x81, POLICY_READ), 1);     /* rule[1] keeps line 1 */
    assert_int_equal(policy_lookup(&pol, POLICY_IO, 0x81, POLICY_READ)->action, POLICY_DENY);
    assert_int_equal(io(0x82, POLICY_READ), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_policy),
        cmocka_unit_test(test_range_bounds),
        cmocka_unit_test(test_space_separates),
        cmocka_unit_test(test_direction_filter),
        cmocka_unit_test(test_narrowest_wins),
        cmocka_unit_test(test_width_tie_one_direction_wins),
        cmocka_unit_test(test_multibyte_most_severe),
        cmocka_unit_test(test_multibyte_no_wrap),
        cmocka_unit_test(test_msr_coverable_edges),
        cmocka_unit_test(test_lock_slots),
        cmocka_unit_test(test_rule_count_clamped),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
