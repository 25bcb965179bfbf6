/* M6: the monitor's own identity map (core/host.c) never maps one large page
 * across memory of different MTRR types (SDM 3A 12.11.9, "Large page size
 * considerations"): such a page is split, down to 4 KiB where needed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/monitor.h"

#define GiB (1ull << 30)
#define MiB (1ull << 20)
#define PS  (1ull << 7)

struct monitor mon;
const uint64_t exception_stubs[32];     /* core/host.c's IDT builder, not used here */

static void var_range(struct mtrr_state *s, unsigned n, uint64_t base, uint64_t size, uint8_t t)
{
    s->var[n].base = base | t;
    s->var[n].mask = (~(size - 1) & s->phys_mask & ~0xfffull) | MTRR_PHYSMASK_VALID;
    s->var[n].valid = true;
    if (s->nvar <= n)
        s->nvar = n + 1;
}

/* The leaf mapping addr: its entry and size. */
static uint64_t leaf(const uint64_t *tables, uint64_t addr, uint64_t *size)
{
    uint64_t e = tables[(addr >> 39) & 511];
    const uint64_t *t = (const uint64_t *)(uintptr_t)(e & ~0xfffull);
    e = t[(addr >> 30) & 511];
    *size = GiB;
    if (e & PS)
        return e;
    t = (const uint64_t *)(uintptr_t)(e & ~0xfffull);
    e = t[(addr >> 21) & 511];
    *size = 2 * MiB;
    if (e & PS)
        return e;
    t = (const uint64_t *)(uintptr_t)(e & ~0xfffull);
    *size = 4096;
    return t[(addr >> 12) & 511];
}

static void check(const uint64_t *tables, const struct mtrr_state *m, uint64_t limit)
{
    for (uint64_t a = 0; a < limit; a += 4096) {
        uint64_t size, e = leaf(tables, a, &size);
        assert_int_equal(e & 3, 3);                             /* present, writable */
        assert_int_equal(e & ~0xfffull & ~(size - 1) & ((1ull << 52) - 1), a & ~(size - 1));
        if (size > 4096 && mtrr_type_of_range(m, a & ~(size - 1), size) == MT_MIXED)
            fail_msg("0x%llx: a %llu KiB page across MTRR types", (unsigned long long)a,
                     (unsigned long long)(size >> 10));
        if (size > 4096)
            a = (a & ~(size - 1)) + size - 4096;
    }
}

static void mixed_types_are_split(void **state)
{
    (void)state;
    struct mtrr_state m;
    memset(&m, 0, sizeof(m));
    m.enabled = true;
    m.fixed_enabled = true;
    m.def_type = MT_UC;
    m.phys_mask = (1ull << 39) - 1;
    for (unsigned i = 0; i < MTRR_NFIXED; i++)
        m.fixed[i] = i < 8 ? MT_WB : MT_UC;                    /* 0-512 KiB WB, then UC */
    var_range(&m, 0, 0, 2 * GiB, MT_WB);
    var_range(&m, 1, 4 * GiB, 4 * GiB, MT_WB);
    var_range(&m, 2, 0x7f000000, 16 * MiB, MT_WT);
    var_range(&m, 3, 5 * GiB + 0x100000, 0x100000, MT_WC);    /* 1 MiB inside a GiB */
    for (int use_1g = 0; use_1g <= 1; use_1g++) {
        int n = host_paging_pages(8 * GiB, use_1g, &m);
        uint64_t *tables = aligned_alloc(4096, (size_t)n * 4096);
        memset(tables, 0, (size_t)n * 4096);
        host_paging_build(tables, 8 * GiB, use_1g, &m);
        check(tables, &m, 8 * GiB);
        /* Uniform memory keeps its large pages: 1 GiB at 2 GiB (UC) if allowed. */
        uint64_t size;
        leaf(tables, 2 * GiB, &size);
        assert_int_equal(size, use_1g ? GiB : 2 * MiB);
        /* The first 2 MiB (fixed ranges) and the WC MiB: 4 KiB pages. */
        leaf(tables, 0, &size);
        assert_int_equal(size, 4096);
        leaf(tables, 5 * GiB + 0x100000, &size);
        assert_int_equal(size, 4096);
        /* A few pages more than the plain map: PML4, PDPT, PDs where split, two PTs. */
        assert_int_equal(n, use_1g ? 1 + 1 + 3 + 2 : 1 + 1 + 8 + 2);
        free(tables);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mixed_types_are_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
