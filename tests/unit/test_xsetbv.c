/* core/xsetbv.c: XSETBV #UD / #GP(0) rules (SDM 2 XSETBV, SDM 1 13.3). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/xsetbv.h"

/* CPUID.(0xD,0):EDX:EAX of real processors */
#define SUP_SKYLAKE      0x1full        /* x87 SSE AVX BNDREGS BNDCSR */
#define SUP_SKYLAKE_X    0x2ffull       /* + AVX-512 x3, PKRU */
#define SUP_SPR          0x602e7ull     /* x87 SSE AVX AVX-512 PKRU AMX, no MPX */
#define SUP_SSE_ONLY     0x3ull

static enum xsetbv_result ok0(uint64_t value, uint64_t sup)
{
    return xsetbv_check(0, value, sup, true, 0);
}

static void test_valid_values(void **state)
{
    (void)state;
    assert_int_equal(ok0(0x1, SUP_SKYLAKE_X), XSETBV_OK);      /* x87 only */
    assert_int_equal(ok0(0x3, SUP_SKYLAKE_X), XSETBV_OK);
    assert_int_equal(ok0(0x7, SUP_SKYLAKE_X), XSETBV_OK);
    assert_int_equal(ok0(0x1f, SUP_SKYLAKE), XSETBV_OK);       /* with MPX */
    assert_int_equal(ok0(0x1b, SUP_SKYLAKE_X), XSETBV_OK);     /* MPX without AVX */
    assert_int_equal(ok0(0xe7, SUP_SKYLAKE_X), XSETBV_OK);     /* AVX-512 */
    assert_int_equal(ok0(0x2ff, SUP_SKYLAKE_X), XSETBV_OK);    /* everything */
    assert_int_equal(ok0(0x207, SUP_SKYLAKE_X), XSETBV_OK);    /* PKRU */
    assert_int_equal(ok0(0x602e7, SUP_SPR), XSETBV_OK);        /* AMX */
    assert_int_equal(ok0(0x60003, SUP_SPR), XSETBV_OK);        /* AMX needs no AVX */
    assert_int_equal(ok0(0x3, SUP_SSE_ONLY), XSETBV_OK);
    /* real mode and virtual-8086 are the caller's CPL: 0 and 3 */
    assert_int_equal(xsetbv_check(0, 0x7, SUP_SKYLAKE_X, true, 0), XSETBV_OK);
}

static void test_ud_without_osxsave(void **state)
{
    (void)state;
    assert_int_equal(xsetbv_check(0, 0x7, SUP_SKYLAKE_X, false, 0), XSETBV_UD);
    /* #UD has priority over every #GP(0) condition */
    assert_int_equal(xsetbv_check(0, 0x7, SUP_SKYLAKE_X, false, 3), XSETBV_UD);
    assert_int_equal(xsetbv_check(1, 0x7, SUP_SKYLAKE_X, false, 0), XSETBV_UD);
    assert_int_equal(xsetbv_check(0, 0x0, SUP_SKYLAKE_X, false, 0), XSETBV_UD);
    assert_int_equal(xsetbv_check(0, 0x7, 0, false, 0), XSETBV_UD);   /* no XSAVE at all */
}

static void test_gp_cpl(void **state)
{
    (void)state;
    for (unsigned cpl = 1; cpl <= 3; cpl++)
        assert_int_equal(xsetbv_check(0, 0x7, SUP_SKYLAKE_X, true, cpl), XSETBV_GP);
}

static void test_gp_ecx(void **state)
{
    (void)state;
    /* XCR1 (XINUSE) is readable with XGETBV but not writable; all else reserved */
    const uint32_t ecx[] = { 1, 2, 0x80000000u, 0xffffffffu };
    for (size_t i = 0; i < sizeof(ecx) / sizeof(ecx[0]); i++)
        assert_int_equal(xsetbv_check(ecx[i], 0x7, SUP_SKYLAKE_X, true, 0), XSETBV_GP);
}

static void test_gp_x87_clear(void **state)
{
    (void)state;
    assert_int_equal(ok0(0x0, SUP_SKYLAKE_X), XSETBV_GP);
    assert_int_equal(ok0(0x2, SUP_SKYLAKE_X), XSETBV_GP);
    assert_int_equal(ok0(0x6, SUP_SKYLAKE_X), XSETBV_GP);
    assert_int_equal(ok0(0x2fe, SUP_SKYLAKE_X), XSETBV_GP);
}

static void test_gp_avx_without_sse(void **state)
{
    (void)state;
    assert_int_equal(ok0(0x5, SUP_SKYLAKE_X), XSETBV_GP);
    assert_int_equal(ok0(0xe5, SUP_SKYLAKE_X), XSETBV_GP);
}

static void test_gp_unsupported_bits(void **state)
{
    (void)state;
    assert_int_equal(ok0(0x7, SUP_SSE_ONLY), XSETBV_GP);        /* AVX not supported */
    assert_int_equal(ok0(0x207, SUP_SKYLAKE), XSETBV_GP);       /* PKRU not supported */
    assert_int_equal(ok0(0x1f, SUP_SPR), XSETBV_GP);            /* MPX not on SPR */
    assert_int_equal(ok0(0x107, SUP_SKYLAKE_X), XSETBV_GP);     /* bit 8 (PT): IA32_XSS only */
    assert_int_equal(ok0(0x1ull | (1ull << 32), SUP_SKYLAKE_X), XSETBV_GP);   /* EDX bit */
}

static void test_gp_bit63(void **state)
{
    (void)state;
    /* reserved even if a (bogus) CPUID claimed it */
    assert_int_equal(ok0(0x7 | (1ull << 63), SUP_SKYLAKE_X | (1ull << 63)), XSETBV_GP);
    assert_int_equal(ok0(0x7 | (1ull << 63), SUP_SKYLAKE_X), XSETBV_GP);
}

static void test_gp_mpx_pair(void **state)
{
    (void)state;
    assert_int_equal(ok0(0x0b, SUP_SKYLAKE), XSETBV_GP);        /* BNDREGS only */
    assert_int_equal(ok0(0x13, SUP_SKYLAKE), XSETBV_GP);        /* BNDCSR only */
    assert_int_equal(ok0(0x1b, SUP_SKYLAKE), XSETBV_OK);
}

static void test_gp_avx512(void **state)
{
    (void)state;
    /* all of 7:5 or none */
    const uint64_t partial[] = { 0x27, 0x47, 0x87, 0x67, 0xa7, 0xc7 };
    for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++)
        assert_int_equal(ok0(partial[i], SUP_SKYLAKE_X), XSETBV_GP);
    /* 111b needs XCR0[2:1] = 11b */
    assert_int_equal(ok0(0xe3, SUP_SKYLAKE_X), XSETBV_GP);      /* no AVX */
    assert_int_equal(ok0(0xe1, SUP_SKYLAKE_X), XSETBV_GP);      /* no SSE, no AVX */
    assert_int_equal(ok0(0xe5, SUP_SKYLAKE_X), XSETBV_GP);      /* AVX without SSE */
    assert_int_equal(ok0(0xe7, SUP_SKYLAKE_X), XSETBV_OK);
}

static void test_gp_amx_pair(void **state)
{
    (void)state;
    assert_int_equal(ok0(0x20007, SUP_SPR), XSETBV_GP);         /* XTILECFG only */
    assert_int_equal(ok0(0x40007, SUP_SPR), XSETBV_GP);         /* XTILEDATA only */
    assert_int_equal(ok0(0x60007, SUP_SPR), XSETBV_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_values),
        cmocka_unit_test(test_ud_without_osxsave),
        cmocka_unit_test(test_gp_cpl),
        cmocka_unit_test(test_gp_ecx),
        cmocka_unit_test(test_gp_x87_clear),
        cmocka_unit_test(test_gp_avx_without_sse),
        cmocka_unit_test(test_gp_unsupported_bits),
        cmocka_unit_test(test_gp_bit63),
        cmocka_unit_test(test_gp_mpx_pair),
        cmocka_unit_test(test_gp_avx512),
        cmocka_unit_test(test_gp_amx_pair),
    };
    return cmocka_run_group_tests_name("xsetbv", tests, NULL, NULL);
}
