/* Which guest port writes end the machine (core/shutdown.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "core/shutdown.h"

static const struct shutdown_ports q35 = { .pm1_cnt = { 0x604, 0 }, .reset_port = 0xcf9 };
static const struct shutdown_ports two = { .pm1_cnt = { 0xb004, 0xb104 }, .reset_port = 0 };
static const struct shutdown_ports none = { { 0, 0 }, 0 };

/* S5 as Linux writes it: SLP_TYP in bits 12:10 and SLP_EN, one 16-bit OUT. */
static void test_pm1_word(void **unused)
{
    (void)unused;
    assert_int_equal(shutdown_write_kind(&q35, 0x604, 2, 0x3400), SHUTDOWN_SLEEP);
    assert_int_equal(shutdown_write_kind(&q35, 0x604, 2, 0x1400), SHUTDOWN_NONE); /* SLP_EN clear */
    assert_int_equal(shutdown_write_kind(&two, 0xb104, 2, 0x2000), SHUTDOWN_SLEEP);
    assert_int_equal(shutdown_write_kind(&two, 0xb004, 4, 0x00002000), SHUTDOWN_SLEEP);
}

/* Byte and unaligned accesses: SLP_EN is bit 5 of the register's high byte. */
static void test_pm1_partial(void **unused)
{
    (void)unused;
    assert_int_equal(shutdown_write_kind(&q35, 0x605, 1, 0x20), SHUTDOWN_SLEEP);
    assert_int_equal(shutdown_write_kind(&q35, 0x605, 1, 0x1f), SHUTDOWN_NONE);
    assert_int_equal(shutdown_write_kind(&q35, 0x604, 1, 0xff), SHUTDOWN_NONE);  /* low byte only */
    /* a dword at 0x602 covers 0x602-0x605: the register is its upper half */
    assert_int_equal(shutdown_write_kind(&q35, 0x602, 4, 0x20000000), SHUTDOWN_SLEEP);
    assert_int_equal(shutdown_write_kind(&q35, 0x602, 2, 0xffff), SHUTDOWN_NONE); /* next to it */
    assert_int_equal(shutdown_write_kind(&q35, 0x606, 2, 0xffff), SHUTDOWN_NONE);
}

static void test_reset_ports(void **unused)
{
    (void)unused;
    assert_int_equal(shutdown_write_kind(&none, 0xcf9, 1, 0x06), SHUTDOWN_RESET);
    assert_int_equal(shutdown_write_kind(&none, 0xcf9, 1, 0x0e), SHUTDOWN_RESET);
    assert_int_equal(shutdown_write_kind(&none, 0xcf9, 1, 0x02), SHUTDOWN_NONE); /* SYS_RST alone */
    /* PCI CONFIG_ADDRESS writes at 0xcf8 span 0xcf9 but are not resets */
    assert_int_equal(shutdown_write_kind(&none, 0xcf8, 4, 0x80000400), SHUTDOWN_NONE);
    assert_int_equal(shutdown_write_kind(&none, 0xcf8, 2, 0x0400), SHUTDOWN_NONE);
    /* the FADT's reset register, here also 0xcf9: a RST_CPU write is a reset either way */
    assert_int_equal(shutdown_write_kind(&q35, 0xcf9, 1, 0x06), SHUTDOWN_RESET);
    const struct shutdown_ports acpi_reset = { { 0, 0 }, 0x64 };
    assert_int_equal(shutdown_write_kind(&acpi_reset, 0x64, 1, 0xfe), SHUTDOWN_ACPI_RESET);
}

/* No ports configured: nothing but 0xcf9 counts, and port 0 is not a PM1 register. */
static void test_unconfigured(void **unused)
{
    (void)unused;
    assert_int_equal(shutdown_write_kind(&none, 0x0, 2, 0x2000), SHUTDOWN_NONE);
    assert_int_equal(shutdown_write_kind(&none, 0x1, 1, 0x20), SHUTDOWN_NONE);
    assert_int_equal(shutdown_write_kind(&none, 0x604, 2, 0x3400), SHUTDOWN_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pm1_word),
        cmocka_unit_test(test_pm1_partial),
        cmocka_unit_test(test_reset_ports),
        cmocka_unit_test(test_unconfigured),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
