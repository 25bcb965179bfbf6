/* Unit tests for ept/ept.c: EPT identity map builder (SDM 3C 29.3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ept/ept.h"
#include "ept/mtrr.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* ----------------------------------------------------------- MTRR setups */

static void set_var(struct mtrr_state *s, unsigned n, uint64_t base, uint64_t size, uint8_t type)
{
    s->var[n].base = base | type;
    s->var[n].mask = (~(size - 1) & s->phys_mask & ~0xFFFull) | MTRR_PHYSMASK_VALID;
    s->var[n].valid = true;
    if (s->nvar <= n)
        s->nvar = n + 1;
}

static void set_fixed(struct mtrr_state *s, uint64_t lo, uint64_t hi, uint8_t type)
{
    /* fixed[] index -> start address, per SDM 3A 12.11.2.2 */
    for (unsigned i = 0; i < MTRR_NFIXED; i++) {
        uint64_t a = i < 8 ? i * 0x10000ull
                   : i < 24 ? 0x80000 + (i - 8) * 0x4000ull
                   : 0xC0000 + (i - 24) * 0x1000ull;
        if (a >= lo && a < hi)
            s->fixed[i] = type;
    }
}

static void base_state(struct mtrr_state *s, uint8_t def, unsigned maxphy)
{
    memset(s, 0, sizeof(*s));
    s->enabled = true;
    s->fixed_enabled = true;
    s->def_type = def;
    s->phys_mask = (1ull << maxphy) - 1;
}

/* OVMF on QEMU q35: default WB; fixed WB, 0xA0000-0xFFFFF UC; UC from 0xB0000000 to
 * 4 GiB in two ranges (PciExpressBase 0xB0000000). The usual 512 MiB guest. */
static void ovmf_q35(struct mtrr_state *s)
{
    base_state(s, MT_WB, 40);
    set_fixed(s, 0, 0xA0000, MT_WB);
    set_fixed(s, 0xA0000, 0x100000, MT_UC);
    set_var(s, 0, 0xB0000000, 256 * MiB, MT_UC);
    set_var(s, 1, 0xC0000000, 1 * GiB, MT_UC);
}

/* Legacy-BIOS style, 6 GiB RAM with the PCI hole: default UC, WB 0-2 GiB and
 * 4-8 GiB (RAM 2 GiB low + 4 GiB high), fixed ranges with VGA UC and ROM WP, and a
 * WT frame-buffer-ish range at 0x7F000000 (16 MiB) over the WB RAM. */
static void bios_6g(struct mtrr_state *s)
{
    base_state(s, MT_UC, 39);
    set_fixed(s, 0, 0xA0000, MT_WB);
    set_fixed(s, 0xA0000, 0xC0000, MT_UC);
    set_fixed(s, 0xC0000, 0x100000, MT_WP);
    set_var(s, 0, 0, 2 * GiB, MT_WB);
    set_var(s, 1, 4 * GiB, 4 * GiB, MT_WB);
    set_var(s, 2, 0x7F000000, 16 * MiB, MT_WT);
}

/* --------------------------------------------------------------- helpers */

struct pool_mem {
    struct ept_pool pool;
    size_t bytes;
};

static struct pool_mem pool_new(size_t npages)
{
    struct pool_mem pm;
    pm.bytes = npages * 4096;
    pm.pool.base = aligned_alloc(4096, pm.bytes ? pm.bytes : 4096);
    assert_non_null(pm.pool.base);
    /* garbage: the builder must zero its tables */
    memset(pm.pool.base, 0xA5, pm.bytes);
    pm.pool.npages = npages;
    pm.pool.used = 0;
    return pm;
}

static void pool_free(struct pool_mem *pm)
{
    free(pm->pool.base);
}

static uint64_t page_size_of(int level)
{
    return level == 3 ? EPT_PAGE_1G : level == 2 ? EPT_PAGE_2M : EPT_PAGE_4K;
}

static bool is_hidden(const struct ept_params *p, uint64_t gpa)
{
    for (unsigned i = 0; i < p->nhidden; i++)
        if (gpa >= p->hidden[i].base && gpa - p->hidden[i].base < p->hidden[i].size)
            return true;
    return false;
}

/* Check the mapping of one 4 KiB page against the rules. */
static void check_page(uint64_t pml4, const struct ept_params *p, uint64_t gpa)
{
    int level = -1;
    uint64_t *e = ept_leaf(pml4, gpa, &level);
    if (gpa >= p->limit) {
        /* beyond limit: no leaf, or a non-present PTE in the last page table */
        if (e) {
            assert_int_equal(level, 1);
            assert_int_equal(*e, 0);
        } else {
            assert_int_equal(level, 0);
        }
        return;
    }
    if (!e)
        fail_msg("gpa 0x%llx: no leaf", (unsigned long long)gpa);
    if (is_hidden(p, gpa)) {
        assert_int_equal(level, 1);
        if (*e != 0)
            fail_msg("hidden gpa 0x%llx: entry 0x%llx", (unsigned long long)gpa,
                     (unsigned long long)*e);
        return;
    }
    uint64_t ps = page_size_of(level);
    uint64_t v = *e;
    if ((v & EPT_RWX) != EPT_RWX)
        fail_msg("gpa 0x%llx: entry 0x%llx not RWX", (unsigned long long)gpa,
                 (unsigned long long)v);
    /* identity: the leaf address is the gpa's page frame */
    assert_int_equal(v & EPT_ADDR_MASK & ~(ps - 1), gpa & ~(ps - 1));
    /* bits between 12 and the page size are reserved in large leaves */
    assert_int_equal(v & EPT_ADDR_MASK & (ps - 1), 0);
    assert_int_equal(v & EPT_IPAT, 0);
    assert_int_equal(!!(v & EPT_LARGE), level > 1);
    assert_int_equal(v & ~(EPT_ADDR_MASK | EPT_RWX | EPT_MT_MASK | EPT_LARGE), 0);
    uint8_t t = (uint8_t)((v & EPT_MT_MASK) >> EPT_MT_SHIFT);
    uint8_t want = mtrr_type_of_page(p->mtrr, gpa);
    if (t != want)
        fail_msg("gpa 0x%llx: type %u, MTRRs say %u", (unsigned long long)gpa, t, want);
    /* a large leaf would have been used if possible: the 2 MiB region of a 4K
     * page is either mixed or contains a hidden page or crosses limit */
    if (level == 1) {
        uint64_t r = gpa & ~(EPT_PAGE_2M - 1);
        bool has_hidden = false;
        for (uint64_t a = r; a < r + EPT_PAGE_2M; a += EPT_PAGE_4K)
            has_hidden |= is_hidden(p, a);
        assert_true(has_hidden || r + EPT_PAGE_2M > p->limit ||
                    mtrr_type_of_range(p->mtrr, r, EPT_PAGE_2M) == MT_MIXED);
    }
}

/* Non-leaf entries: RWX, bits 7:3 zero (SDM 3C 29.3.2 Tables 29-1/3/5), the table
 * inside the pool. Counts the tables reached. */
static unsigned check_tables(uint64_t table, int depth, const struct ept_pool *pool)
{
    uint64_t lo = (uint64_t)(uintptr_t)pool->base;
    uint64_t hi = lo + pool->used * 4096;
    assert_true(table >= lo && table < hi && (table & 0xFFF) == 0);
    unsigned n = 1;
    uint64_t *t = (uint64_t *)(uintptr_t)table;
    for (unsigned i = 0; i < 512; i++) {
        uint64_t v = t[i];
        if (!(v & EPT_RWX)) {
            assert_int_equal(v, 0);
            continue;
        }
        if (depth == 3 || (v & EPT_LARGE))
            continue;   /* leaf */
        assert_int_equal(v & EPT_RWX, EPT_RWX);
        assert_int_equal(v & 0xFF8, 0);
        n += check_tables(v & EPT_ADDR_MASK, depth + 1, pool);
    }
    return n;
}

static uint64_t rng_state;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

/* Sampled check: every 2 MiB region boundary (first and last page of each region,
 * and each side of every hidden range and of limit), plus random pages. */
static void check_map_sampled(uint64_t pml4, const struct ept_params *p, unsigned nrandom)
{
    for (uint64_t a = 0; a < p->limit + 4 * MiB; a += EPT_PAGE_2M) {
        check_page(pml4, p, a);
        check_page(pml4, p, a + EPT_PAGE_2M - EPT_PAGE_4K);
    }
    for (unsigned i = 0; i < p->nhidden; i++) {
        const struct mem_range *h = &p->hidden[i];
        if (h->base >= EPT_PAGE_4K)
            check_page(pml4, p, h->base - EPT_PAGE_4K);
        check_page(pml4, p, h->base);
        if (h->size)
            check_page(pml4, p, h->base + h->size - EPT_PAGE_4K);
        check_page(pml4, p, h->base + h->size);
    }
    if (p->limit) {
        check_page(pml4, p, p->limit - EPT_PAGE_4K);
        check_page(pml4, p, p->limit);
    }
    rng_state = 0x9E3779B97F4A7C15ull;
    for (unsigned i = 0; i < nrandom && p->limit; i++)
        check_page(pml4, p, (rng() % p->limit) & ~0xFFFull);
}

/* Every page of [0, limit). */
static void check_map_full(uint64_t pml4, const struct ept_params *p)
{
    for (uint64_t a = 0; a < p->limit; a += EPT_PAGE_4K)
        check_page(pml4, p, a);
}

/* Build in counting mode and for real; check both agree and the structure. */
static uint64_t build_checked(const struct ept_params *p, struct pool_mem *pm,
                              struct ept_stats *st)
{
    struct ept_pool count = { 0 };
    struct ept_stats cst;
    uint64_t cpml4 = 1;
    assert_int_equal(ept_build(p, &count, &cpml4, &cst), 0);
    assert_int_equal(cpml4, 0);

    *pm = pool_new(count.used);
    uint64_t pml4 = 0;
    memset(st, 0xEE, sizeof(*st));
    assert_int_equal(ept_build(p, &pm->pool, &pml4, st), 0);
    assert_int_equal(pm->pool.used, count.used);       /* exact */
    assert_int_equal(pml4, (uint64_t)(uintptr_t)pm->pool.base);
    assert_memory_equal(&cst, st, sizeof(cst));
    assert_int_equal(st->tables, count.used);
    assert_int_equal(check_tables(pml4, 0, &pm->pool), count.used);
    return pml4;
}

/* ------------------------------------------------------------------ tests */

/* The typical guest: 512 MiB RAM, everything up to 4 GiB mapped (MMIO). */
static void test_512m_mmio_4g(void **unused)
{
    (void)unused;
    struct mtrr_state m;
    ovmf_q35(&m);
    struct ept_params p = { .mtrr = &m, .limit = 4 * GiB, .allow_1g = true };
    struct pool_mem pm;
    struct ept_stats st;
    uint64_t pml4 = build_checked(&p, &pm, &st);

    /* [0,1G): PD, the first 2 MiB split by the fixed ranges; [1G,2G) one 1G page;
     * [2G,3G): PD, 384 WB + 128 UC 2M pages around 0xB0000000; [3G,4G) UC 1G. */
    assert_int_equal(st.pages_1g, 2);
    assert_int_equal(st.pages_2m, 511 + 512);
    assert_int_equal(st.pages_4k, 512);
    assert_int_equal(st.hidden_4k, 0);
    assert_int_equal(st.tables, 5);   /* PML4, PDPT, 2 PDs, 1 PT */
    print_message("512M+MMIO to 4G, 1G on:  1g=%llu 2m=%llu 4k=%llu tables=%llu\n",
                  (unsigned long long)st.pages_1g, (unsigned long long)st.pages_2m,
                  (unsigned long long)st.pages_4k, (unsigned long long)st.tables);

    int level;
    uint64_t *e = ept_leaf(pml4, 0xA0000, &level);
    assert_non_null(e);
    assert_int_equal(level, 1);
    assert_int_equal(*e, 0xA0000 | EPT_RWX | (MT_UC << 3));
    e = ept_leaf(pml4, 0x9F000, &level);
    assert_int_equal(*e, 0x9F000 | EPT_RWX | (MT_WB << 3));
    e = ept_leaf(pml4, 0x100000, &level);
    assert_int_equal(level, 1);
    assert_int_equal(*e, 0x100000 | EPT_RWX | (MT_WB << 3));
    e = ept_leaf(pml4, 0x1FFFFFFF, &level);
    assert_int_equal(level, 2);
    assert_int_equal(*e, 0x1FE00000 | EPT_RWX | (MT_WB << 3) | EPT_LARGE);
    e = ept_leaf(pml4, 1 * GiB + 12345, &level);
    assert_int_equal(level, 3);
    assert_int_equal(*e, 1 * GiB | EPT_RWX | (MT_WB << 3) | EPT_LARGE);
    e = ept_leaf(pml4, 0xB0000000, &level);
    assert_int_equal(level, 2);
    assert_int_equal(*e, 0xB0000000 | EPT_RWX | (MT_UC << 3) | EPT_LARGE);
    e = ept_leaf(pml4, 0xFEE00000, &level);
    assert_int_equal(level, 3);
    assert_int_equal(*e, 3 * GiB | EPT_RWX | (MT_UC << 3) | EPT_LARGE);
    /* beyond limit: not present, no table */
    assert_null(ept_leaf(pml4, 4 * GiB, &level));
    assert_int_equal(level, 0);
    assert_null(ept_leaf(pml4, 600 * GiB, &level));
    assert_null(ept_leaf(pml4, 1ull << 48, &level));
    assert_null(ept_leaf(pml4, ~0ull, NULL));

    check_map_full(pml4, &p);
    pool_free(&pm);
}

static void test_512m_mmio_4g_no_1g(void **unused)
{
    (void)unused;
    struct mtrr_state m;
    ovmf_q35(&m);
    struct ept_params p = { .mtrr = &m, .limit = 4 * GiB, .allow_1g = false };
    struct pool_mem pm;
    struct ept_stats st;
    uint64_t pml4 = build_checked(&p, &pm, &st);
    assert_int_equal(st.pages_1g, 0);
    assert_int_equal(st.pages_2m, 511 + 3 * 512);
    assert_int_equal(st.pages_4k, 512);
    assert_int_equal(st.tables, 7);   /* PML4, PDPT, 4 PDs, 1 PT */
    print_message("512M+MMIO to 4G, 1G off: 1g=%llu 2m=%llu 4k=%llu tables=%llu\n",
                  (unsigned long long)st.pages_1g, (unsigned long long)st.pages_2m,
                  (unsigned long long)st.pages_4k, (unsigned long long)st.tables);
    int level;
    assert_non_null(ept_leaf(pml4, 3 * GiB, &level));
    assert_int_equal(level, 2);
    check_map_sampled(pml4, &p, 20000);
    pool_free(&pm);
}

/* 6 GiB RAM with the PCI hole (2 GiB low + 4 GiB at 4-8 GiB), WT range in RAM. */
static void test_6g_with_hole(void **unused)
{
    (void)unused;
    struct mtrr_state m;
    bios_6g(&m);
    struct ept_params p = { .mtrr = &m, .limit = 8 * GiB, .allow_1g = true };
    struct pool_mem pm;
    struct ept_stats st;
    uint64_t pml4 = build_checked(&p, &pm, &st);
    /* [0,1G) PD with PT for 2M #0; [1G,2G) PD (WT range: 8 WT 2M + 504 WB);
     * [2G,4G) 2 x 1G UC; [4G,8G) 4 x 1G WB */
    assert_int_equal(st.pages_1g, 6);
    assert_int_equal(st.pages_2m, 511 + 512);
    assert_int_equal(st.pages_4k, 512);
    assert_int_equal(st.tables, 5);

    int level;
    uint64_t *e = ept_leaf(pml4, 0x7F000000, &level);
    assert_int_equal(level, 2);
    assert_int_equal(*e, 0x7F000000 | EPT_RWX | (MT_WT << 3) | EPT_LARGE);
    e = ept_leaf(pml4, 0xC0000, &level);
    assert_int_equal(*e, 0xC0000 | EPT_RWX | (MT_WP << 3));
    e = ept_leaf(pml4, 7 * GiB, &level);
    assert_int_equal(level, 3);
    assert_int_equal(*e, 7 * GiB | EPT_RWX | (MT_WB << 3) | EPT_LARGE);
    check_map_sampled(pml4, &p, 20000);
    pool_free(&pm);

    /* without 1 GiB pages */
    p.allow_1g = false;
    pml4 = build_checked(&p, &pm, &st);
    assert_int_equal(st.pages_1g, 0);
    assert_int_equal(st.pages_2m, 511 + 7 * 512);
    assert_int_equal(st.tables, 1 + 1 + 8 + 1);
    check_map_sampled(pml4, &p, 5000);
    pool_free(&pm);
}

/* Hidden ranges: one in the middle of a 2 MiB region inside a PD, one straddling a
 * 2 MiB boundary inside a GiB that would otherwise be a 1 GiB page. */
static const struct mem_range hidden2[] = {
    { 0x1F0A3000, 21 * 4 * KiB },
    { 1 * GiB + 2 * MiB - 8 * KiB, 16 * KiB },
};

static void test_hidden(void **unused)
{
    (void)unused;
    struct mtrr_state m;
    ovmf_q35(&m);
    struct ept_params p = { .mtrr = &m, .limit = 4 * GiB, .allow_1g = true,
                            .hidden = hidden2, .nhidden = 2 };
    struct pool_mem pm;
    struct ept_stats st;
    uint64_t pml4 = build_checked(&p, &pm, &st);

    assert_int_equal(st.pages_1g, 1);                       /* only [3G,4G) */
    assert_int_equal(st.pages_2m, (511 - 1) + 510 + 512);
    assert_int_equal(st.pages_4k, 512 + (512 - 21) + (1024 - 4));
    assert_int_equal(st.hidden_4k, 25);
    assert_int_equal(st.tables, 5 + 1 + 1 + 2);

    int level;
    /* hidden pages: 4 KiB slot, entry not present */
    for (uint64_t a = 0x1F0A3000; a < 0x1F0A3000 + 21 * 4 * KiB; a += 4 * KiB) {
        uint64_t *e = ept_leaf(pml4, a, &level);
        assert_non_null(e);
        assert_int_equal(level, 1);
        assert_int_equal(*e, 0);
    }
    /* neighbours present, WB, 4 KiB */
    uint64_t *e = ept_leaf(pml4, 0x1F0A2000, &level);
    assert_int_equal(level, 1);
    assert_int_equal(*e, 0x1F0A2000 | EPT_RWX | (MT_WB << 3));
    e = ept_leaf(pml4, 0x1F0B8000, &level);
    assert_int_equal(level, 1);
    assert_int_equal(*e, 0x1F0B8000 | EPT_RWX | (MT_WB << 3));
    e = ept_leaf(pml4, 0x1F000000, &level);
    assert_int_equal(level, 1);
    assert_int_equal(*e, 0x1F000000 | EPT_RWX | (MT_WB << 3));
    /* the 2 MiB regions next to it stay large */
    assert_non_null(ept_leaf(pml4, 0x1EE00000, &level));
    assert_int_equal(level, 2);
    assert_non_null(ept_leaf(pml4, 0x1F200000, &level));
    assert_int_equal(level, 2);
    /* the straddling range */
    e = ept_leaf(pml4, 1 * GiB + 2 * MiB - 12 * KiB, &level);
    assert_int_equal(level, 1);
    assert_int_equal(*e & EPT_RWX, EPT_RWX);
    e = ept_leaf(pml4, 1 * GiB + 2 * MiB - 8 * KiB, &level);
    assert_int_equal(level, 1);
    assert_int_equal(*e, 0);
    e = ept_leaf(pml4, 1 * GiB + 2 * MiB + 4 * KiB, &level);
    assert_int_equal(level, 1);
    assert_int_equal(*e, 0);
    e = ept_leaf(pml4, 1 * GiB + 2 * MiB + 8 * KiB, &level);
    assert_int_equal(level, 1);
    assert_int_equal(*e, (1 * GiB + 2 * MiB + 8 * KiB) | EPT_RWX | (MT_WB << 3));
    assert_non_null(ept_leaf(pml4, 1 * GiB, &level));
    assert_int_equal(level, 1);     /* first 2 MiB of the GiB holds hidden pages */
    assert_non_null(ept_leaf(pml4, 1 * GiB + 4 * MiB, &level));
    assert_int_equal(level, 2);

    check_map_full(pml4, &p);
    pool_free(&pm);
}

/* Hidden ranges at the edges: one crossing limit is clipped (no tables beyond
 * limit), one entirely above limit and an empty one change nothing. */
static void test_hidden_edges(void **unused)
{
    (void)unused;
    struct mtrr_state m;
    base_state(&m, MT_WB, 39);
    m.fixed_enabled = false;
    const struct mem_range h[] = {
        { 4 * GiB - 8 * KiB, 16 * KiB },
        { 6 * GiB, 1 * GiB },
        { 2 * GiB, 0 },
        { 0, 4 * KiB },    /* page 0 */
    };
    struct ept_params p = { .mtrr = &m, .limit = 4 * GiB, .allow_1g = true,
                            .hidden = h, .nhidden = 4 };
    struct pool_mem pm;
    struct ept_stats st;
    uint64_t pml4 = build_checked(&p, &pm, &st);
    /* [0,1G): PD + PT for page 0; [1G,3G) 1G; [3G,4G): PD + PT for the top */
    assert_int_equal(st.pages_1g, 2);
    assert_int_equal(st.pages_2m, 511 * 2);
    assert_int_equal(st.pages_4k, 511 + 510);
    assert_int_equal(st.hidden_4k, 3);
    assert_int_equal(st.tables, 1 + 1 + 2 + 2);
    int level;
    assert_null(ept_leaf(pml4, 4 * GiB, &level));
    assert_null(ept_leaf(pml4, 6 * GiB, &level));
    uint64_t *e = ept_leaf(pml4, 0, &level);
    assert_int_equal(level, 1);
    assert_int_equal(*e, 0);
    assert_int_equal(*ept_leaf(pml4, 4 * GiB - 4 * KiB, &level), 0);
    assert_int_equal(*ept_leaf(pml4, 4 * GiB - 12 * KiB, &level) & EPT_RWX, EPT_RWX);
    check_map_sampled(pml4, &p, 5000);
    pool_free(&pm);
}

/* limit not a multiple of 2 MiB, and the trivial limit 0. */
static void test_odd_limit(void **unused)
{
    (void)unused;
    struct mtrr_state m;
    ovmf_q35(&m);
    struct ept_params p = { .mtrr = &m, .limit = 512 * MiB + 12 * KiB, .allow_1g = true };
    struct pool_mem pm;
    struct ept_stats st;
    uint64_t pml4 = build_checked(&p, &pm, &st);
    assert_int_equal(st.pages_1g, 0);
    assert_int_equal(st.pages_2m, 255);
    assert_int_equal(st.pages_4k, 512 + 3);
    assert_int_equal(st.tables, 1 + 1 + 1 + 2);
    int level;
    uint64_t *e = ept_leaf(pml4, 512 * MiB + 8 * KiB, &level);
    assert_int_equal(level, 1);
    assert_int_equal(*e & EPT_RWX, EPT_RWX);
    e = ept_leaf(pml4, 512 * MiB + 12 * KiB, &level);   /* slot exists, not present */
    assert_int_equal(level, 1);
    assert_int_equal(*e, 0);
    assert_null(ept_leaf(pml4, 512 * MiB + 2 * MiB, &level));
    check_map_sampled(pml4, &p, 2000);
    pool_free(&pm);

    p.limit = 0;
    pml4 = build_checked(&p, &pm, &st);
    assert_int_equal(st.tables, 1);
    assert_int_equal(st.pages_1g + st.pages_2m + st.pages_4k, 0);
    assert_null(ept_leaf(pml4, 0, &level));
    pool_free(&pm);
}

/* MTRRs off: everything UC, in the largest pages. */
static void test_mtrr_disabled(void **unused)
{
    (void)unused;
    struct mtrr_state m;
    ovmf_q35(&m);
    m.enabled = false;
    struct ept_params p = { .mtrr = &m, .limit = 4 * GiB, .allow_1g = true };
    struct pool_mem pm;
    struct ept_stats st;
    uint64_t pml4 = build_checked(&p, &pm, &st);
    assert_int_equal(st.pages_1g, 4);
    assert_int_equal(st.pages_2m + st.pages_4k, 0);
    assert_int_equal(st.tables, 2);
    int level;
    assert_int_equal(*ept_leaf(pml4, 0xA0000, &level), EPT_RWX | (MT_UC << 3) | EPT_LARGE);
    check_map_sampled(pml4, &p, 1000);
    pool_free(&pm);
}

/* Counting mode equals the real count over many layouts; one page less fails. */
static void test_count_matches_and_exhaustion(void **unused)
{
    (void)unused;
    struct mtrr_state ms[3];
    ovmf_q35(&ms[0]);
    bios_6g(&ms[1]);
    base_state(&ms[2], MT_UC, 46);
    set_var(&ms[2], 0, 0, 1 * GiB, MT_WB);
    set_var(&ms[2], 1, 0x3FFFF000, 4 * KiB, MT_WC);
    const uint64_t limits[] = { 4 * KiB, 2 * MiB, 1 * GiB + 4 * KiB, 4 * GiB, 8 * GiB,
                                513 * GiB };
    for (unsigned mi = 0; mi < 3; mi++) {
        for (unsigned li = 0; li < 6; li++) {
            for (unsigned h = 0; h < 2; h++) {
                for (unsigned g = 0; g < 2; g++) {
                    if (limits[li] - 1 > ms[mi].phys_mask)
                        continue;
                    struct ept_params p = { .mtrr = &ms[mi], .limit = limits[li],
                                            .allow_1g = g, .hidden = hidden2,
                                            .nhidden = h ? 2 : 0 };
                    struct ept_pool count = { .used = 7 };   /* counting adds to used */
                    struct ept_stats cst;
                    assert_int_equal(ept_build(&p, &count, NULL, &cst), 0);
                    size_t need = count.used - 7;
                    assert_int_equal(cst.tables, need);

                    struct pool_mem pm = pool_new(need);
                    uint64_t pml4;
                    struct ept_stats st;
                    assert_int_equal(ept_build(&p, &pm.pool, &pml4, &st), 0);
                    assert_int_equal(pm.pool.used, need);
                    assert_memory_equal(&st, &cst, sizeof(st));
                    pool_free(&pm);

                    pm = pool_new(need - 1);
                    assert_int_equal(ept_build(&p, &pm.pool, &pml4, &st), EPT_ERR_NOMEM);
                    assert_int_equal(pm.pool.used, 0);       /* restored */
                    pool_free(&pm);
                }
            }
        }
    }
}

static void test_pool_offset_and_exhaustion(void **unused)
{
    (void)unused;
    struct mtrr_state m;
    ovmf_q35(&m);
    struct ept_params p = { .mtrr = &m, .limit = 4 * GiB, .allow_1g = true };
    /* A pool whose first 3 pages are already used: the build starts after them and
     * does not touch them. */
    struct pool_mem pm = pool_new(3 + 5);
    pm.pool.used = 3;
    uint64_t pml4;
    struct ept_stats st;
    assert_int_equal(ept_build(&p, &pm.pool, &pml4, NULL), 0);
    assert_int_equal(pm.pool.used, 8);
    assert_int_equal(pml4, (uint64_t)(uintptr_t)pm.pool.base + 3 * 4096);
    for (size_t i = 0; i < 3 * 4096; i++)
        assert_int_equal(pm.pool.base[i], 0xA5);
    /* Pool now full: the next build fails at the first allocation. */
    memset(&st, 0x5A, sizeof(st));
    uint64_t pml4b = 0x1234;
    assert_int_equal(ept_build(&p, &pm.pool, &pml4b, &st), EPT_ERR_NOMEM);
    assert_int_equal(pm.pool.used, 8);
    assert_int_equal(pml4b, 0x1234);        /* outputs untouched on failure */
    assert_int_equal(st.tables, 0x5A5A5A5A5A5A5A5Aull);
    /* The first map is intact. */
    int level;
    assert_non_null(ept_leaf(pml4, 1 * GiB, &level));
    assert_int_equal(level, 3);
    pool_free(&pm);

    /* One page: PML4 fits, the PDPT does not. */
    pm = pool_new(1);
    assert_int_equal(ept_build(&p, &pm.pool, &pml4, &st), EPT_ERR_NOMEM);
    assert_int_equal(pm.pool.used, 0);
    pool_free(&pm);
    /* Empty pool. */
    struct ept_pool empty = { .base = (uint8_t *)(uintptr_t)0x10000, .npages = 0 };
    assert_int_equal(ept_build(&p, &empty, &pml4, &st), EPT_ERR_NOMEM);
}

static void test_bad_params(void **unused)
{
    (void)unused;
    struct mtrr_state m;
    ovmf_q35(&m);   /* MAXPHYADDR 40 */
    struct pool_mem pm = pool_new(16);
    struct ept_params good = { .mtrr = &m, .limit = 4 * GiB, .allow_1g = true };
    uint64_t pml4;
    struct ept_params p;

    p = good; p.mtrr = NULL;
    assert_int_equal(ept_build(&p, &pm.pool, &pml4, NULL), EPT_ERR_INVAL);
    assert_int_equal(ept_build(NULL, &pm.pool, &pml4, NULL), EPT_ERR_INVAL);
    assert_int_equal(ept_build(&good, NULL, &pml4, NULL), EPT_ERR_INVAL);
    p = good; p.limit = 4 * GiB + 512;
    assert_int_equal(ept_build(&p, &pm.pool, &pml4, NULL), EPT_ERR_INVAL);
    p = good; p.limit = (1ull << 40) + 4096;           /* above MAXPHYADDR */
    assert_int_equal(ept_build(&p, &pm.pool, &pml4, NULL), EPT_ERR_INVAL);
    p = good; p.nhidden = 1; p.hidden = NULL;
    assert_int_equal(ept_build(&p, &pm.pool, &pml4, NULL), EPT_ERR_INVAL);
    const struct mem_range bad1[] = { { 0x1000, 0x800 } };
    const struct mem_range bad2[] = { { 0x1800, 0x1000 } };
    const struct mem_range bad3[] = { { 0xFFFFFFFFFFFFF000ull, 0x2000 } };
    p = good; p.hidden = bad1; p.nhidden = 1;
    assert_int_equal(ept_build(&p, &pm.pool, &pml4, NULL), EPT_ERR_INVAL);
    p.hidden = bad2;
    assert_int_equal(ept_build(&p, &pm.pool, &pml4, NULL), EPT_ERR_INVAL);
    p.hidden = bad3;
    assert_int_equal(ept_build(&p, &pm.pool, &pml4, NULL), EPT_ERR_INVAL);
    struct ept_pool mis = pm.pool;
    mis.base += 8;
    mis.npages -= 1;
    assert_int_equal(ept_build(&good, &mis, &pml4, NULL), EPT_ERR_INVAL);
    assert_int_equal(pm.pool.used, 0);
    /* limit above 2^48 even with a 52-bit MAXPHYADDR */
    m.phys_mask = (1ull << 52) - 1;
    p = good; p.limit = (1ull << 48) + 4096;
    struct ept_pool count = { 0 };
    assert_int_equal(ept_build(&p, &count, &pml4, NULL), EPT_ERR_INVAL);
    p.limit = 1ull << 48;   /* the maximum is fine (counting only) */
    assert_int_equal(ept_build(&p, &count, &pml4, NULL), 0);
    assert_true(count.used >= 1 + 512);
    /* the good one works */
    assert_int_equal(ept_build(&good, &pm.pool, &pml4, NULL), 0);
    pool_free(&pm);
}

static void test_set_page(void **unused)
{
    (void)unused;
    struct mtrr_state m;
    ovmf_q35(&m);
    struct ept_params p = { .mtrr = &m, .limit = 4 * GiB, .allow_1g = true,
                            .hidden = hidden2, .nhidden = 2 };
    struct pool_mem pm;
    struct ept_stats st;
    uint64_t pml4 = build_checked(&p, &pm, &st);
    int level;
    const uint64_t gpa = 0x1F0A5000;
    uint64_t *e = ept_leaf(pml4, gpa, &level);
    assert_int_equal(*e, 0);

    /* redirect to a host page, read/write */
    assert_int_equal(ept_set_page(pml4, gpa + 0x123, 0x12345000, EPT_R | EPT_W), 0);
    assert_int_equal(*e, 0x12345000 | EPT_R | EPT_W | (MT_WB << 3));
    assert_int_equal(*ept_leaf(pml4, gpa, &level), *e);
    /* neighbours untouched */
    assert_int_equal(*ept_leaf(pml4, gpa - 4096, &level), 0);
    assert_int_equal(*ept_leaf(pml4, gpa + 4096, &level), 0);
    /* read-only, execute-only */
    assert_int_equal(ept_set_page(pml4, gpa, 0x2000, EPT_R), 0);
    assert_int_equal(*e, 0x2000 | EPT_R | (MT_WB << 3));
    assert_int_equal(ept_set_page(pml4, gpa, 0x3000, EPT_X), 0);
    assert_int_equal(*e, 0x3000 | EPT_X | (MT_WB << 3));
    /* hpa 0 is a valid page */
    assert_int_equal(ept_set_page(pml4, gpa, 0, EPT_RWX), 0);
    assert_int_equal(*e, EPT_RWX | (MT_WB << 3));
    /* restore */
    assert_int_equal(ept_set_page(pml4, gpa, 0x12345000, EPT_RWX), 0);
    assert_int_equal(ept_set_page(pml4, gpa, 0, 0), 0);
    assert_int_equal(*e, 0);

    /* bad input leaves the entry alone */
    assert_int_equal(ept_set_page(pml4, gpa, 0x12345000, EPT_RWX), 0);
    uint64_t before = *e;
    assert_int_equal(ept_set_page(pml4, gpa, 0x12345000, EPT_W), EPT_ERR_INVAL);
    assert_int_equal(ept_set_page(pml4, gpa, 0x12345000, EPT_W | EPT_X), EPT_ERR_INVAL);
    assert_int_equal(ept_set_page(pml4, gpa, 0x12345000, 8), EPT_ERR_INVAL);
    assert_int_equal(ept_set_page(pml4, gpa, 0x12345800, EPT_R), EPT_ERR_INVAL);
    assert_int_equal(ept_set_page(pml4, gpa, 1ull << 52, EPT_R), EPT_ERR_INVAL);
    assert_int_equal(ept_set_page(pml4, gpa, 0x5000, 0), EPT_ERR_INVAL);
    assert_int_equal(*e, before);
    /* not a 4 KiB mapping: 2 MiB and 1 GiB leaves, beyond limit, no map at all */
    uint64_t *big = ept_leaf(pml4, 0x20000000, &level);
    assert_int_equal(level, 2);
    uint64_t big_before = *big;
    assert_int_equal(ept_set_page(pml4, 0x20000000, 0x5000, EPT_R), EPT_ERR_INVAL);
    assert_int_equal(*big, big_before);
    assert_int_equal(ept_set_page(pml4, 3 * GiB, 0x5000, EPT_R), EPT_ERR_INVAL);
    assert_int_equal(ept_set_page(pml4, 4 * GiB, 0x5000, EPT_R), EPT_ERR_INVAL);
    assert_int_equal(ept_set_page(0, gpa, 0x5000, EPT_R), EPT_ERR_INVAL);
    /* a normal 4 KiB page (split by the fixed ranges) can be redirected too */
    assert_int_equal(ept_set_page(pml4, 0xB8000, 0x6000, EPT_R), 0);
    assert_int_equal(*ept_leaf(pml4, 0xB8000, &level), 0x6000 | EPT_R | (MT_WB << 3));
    pool_free(&pm);
}

/* ------------------------------------------------------- MTRR write: retype */

/* Every sampled page is an RWX identity leaf of the type the MTRRs give it
 * (or UC inside [uc_lo, uc_hi), where the reserve ran out). */
static void check_types(uint64_t pml4, const struct mtrr_state *m, uint64_t limit,
                        uint64_t uc_lo, uint64_t uc_hi)
{
    rng_state = 0x1234567;
    for (unsigned n = 0; n < 20000; n++) {
        uint64_t gpa = n < 4096 ? (uint64_t)n * MiB : (rng() % limit) & ~0xFFFull;
        if (gpa >= limit)
            continue;
        int level;
        uint64_t *e = ept_leaf(pml4, gpa, &level);
        assert_non_null(e);
        uint64_t ps = page_size_of(level);
        assert_int_equal(*e & EPT_ADDR_MASK & ~(ps - 1), gpa & ~(ps - 1));
        assert_int_equal(*e & EPT_RWX, EPT_RWX);
        assert_int_equal(!!(*e & EPT_LARGE), level > 1);
        uint8_t t = (uint8_t)((*e & EPT_MT_MASK) >> EPT_MT_SHIFT);
        uint8_t want = gpa >= uc_lo && gpa < uc_hi ? MT_UC : mtrr_type_of_page(m, gpa);
        if (t != want)
            fail_msg("gpa 0x%llx (level %d): type %u, want %u", (unsigned long long)gpa, level,
                     t, want);
    }
}

/* The guest adds a 1 MiB WC range inside a 2 MiB leaf and a 2 MiB WT range
 * inside a 1 GiB leaf: both leaves are split with reserve pages, every page
 * gets its new type, and writing the old MTRRs back restores the types. */
static void test_retype_split(void **unused)
{
    (void)unused;
    struct mtrr_state m, m2;
    ovmf_q35(&m);
    struct ept_params p = { .mtrr = &m, .limit = 4 * GiB, .allow_1g = true };
    struct pool_mem pm, reserve = pool_new(8);
    struct ept_stats st;
    uint64_t pml4 = build_checked(&p, &pm, &st);
    int level;
    assert_non_null(ept_leaf(pml4, 0x10000000, &level));
    assert_int_equal(level, 2);
    assert_non_null(ept_leaf(pml4, 0x50000000, &level));
    assert_int_equal(level, 3);

    m2 = m;
    set_var(&m2, 2, 0x10000000, 1 * MiB, MT_WC);
    set_var(&m2, 3, 0x50000000, 2 * MiB, MT_WT);
    struct ept_retype_stats rs;
    ept_retype(pml4, &m2, &reserve.pool, &rs);
    assert_int_equal(rs.split, 2);
    assert_int_equal(rs.fallback_uc, 0);
    assert_int_equal(reserve.pool.used, 2);
    assert_true(rs.changed >= 256 + 1);
    check_types(pml4, &m2, p.limit, 0, 0);
    assert_non_null(ept_leaf(pml4, 0x10000000, &level));
    assert_int_equal(level, 1);
    assert_non_null(ept_leaf(pml4, 0x50000000, &level));
    assert_int_equal(level, 2);
    assert_non_null(ept_leaf(pml4, 0x50200000, &level));
    assert_int_equal(level, 2);

    /* back to the firmware's MTRRs: types follow, no new tables */
    ept_retype(pml4, &m, &reserve.pool, &rs);
    assert_int_equal(rs.split, 0);
    assert_true(rs.changed > 0);
    assert_int_equal(reserve.pool.used, 2);
    check_types(pml4, &m, p.limit, 0, 0);
    /* nothing changes twice */
    ept_retype(pml4, &m, &reserve.pool, &rs);
    assert_int_equal(rs.changed, 0);
    pool_free(&reserve);
    pool_free(&pm);
}

/* Without reserve pages a leaf that became mixed is made UC, never left with
 * a type that is wrong for part of it. */
static void test_retype_no_reserve(void **unused)
{
    (void)unused;
    struct mtrr_state m, m2;
    ovmf_q35(&m);
    struct ept_params p = { .mtrr = &m, .limit = 4 * GiB, .allow_1g = true };
    struct pool_mem pm;
    struct ept_stats st;
    uint64_t pml4 = build_checked(&p, &pm, &st);
    m2 = m;
    set_var(&m2, 3, 0x50000000, 2 * MiB, MT_WT);
    struct ept_pool empty = { 0 };
    struct ept_retype_stats rs;
    ept_retype(pml4, &m2, &empty, &rs);
    assert_int_equal(rs.split, 0);
    assert_int_equal(rs.fallback_uc, 1);
    check_types(pml4, &m2, p.limit, 1 * GiB, 2 * GiB);
    pool_free(&pm);
}

/* MTRRs disabled (IA32_MTRR_DEF_TYPE.E = 0, as Linux does while it rewrites
 * them): everything UC, no splits; re-enabled: the old types come back. */
static void test_retype_disable_enable(void **unused)
{
    (void)unused;
    struct mtrr_state m, off;
    bios_6g(&m);
    struct ept_params p = { .mtrr = &m, .limit = 8 * GiB, .allow_1g = true };
    struct pool_mem pm;
    struct ept_stats st;
    uint64_t pml4 = build_checked(&p, &pm, &st);
    off = m;
    off.enabled = false;
    struct ept_pool empty = { 0 };
    struct ept_retype_stats rs;
    ept_retype(pml4, &off, &empty, &rs);
    assert_int_equal(rs.split + rs.fallback_uc, 0);
    check_types(pml4, &off, p.limit, 0, 0);
    ept_retype(pml4, &m, &empty, &rs);
    assert_int_equal(rs.split + rs.fallback_uc, 0);
    check_map_sampled(pml4, &p, 2000);
    pool_free(&pm);
}

/* A monitor page lent to the sink (not an identity leaf) keeps its entry. */
static void test_retype_skips_redirected(void **unused)
{
    (void)unused;
    struct mtrr_state m, off;
    ovmf_q35(&m);
    struct ept_params p = { .mtrr = &m, .limit = 4 * GiB, .allow_1g = true,
                            .hidden = hidden2, .nhidden = 2 };
    struct pool_mem pm;
    struct ept_stats st;
    uint64_t pml4 = build_checked(&p, &pm, &st);
    const uint64_t gpa = 0x1F0A5000;
    assert_int_equal(ept_set_page(pml4, gpa, 0x77777000, EPT_RWX), 0);
    uint64_t before = *ept_leaf(pml4, gpa, NULL);
    off = m;
    off.enabled = false;
    struct ept_retype_stats rs;
    ept_retype(pml4, &off, NULL, &rs);
    assert_int_equal(*ept_leaf(pml4, gpa, NULL), before);
    assert_int_equal(*ept_leaf(pml4, gpa + 4096, NULL), 0);    /* hidden stays hidden */
    pool_free(&pm);
}

static void test_eptp(void **unused)
{
    (void)unused;
    assert_int_equal(ept_eptp(0x12345000), 0x12345000 | 6 | (3 << 3));
    assert_int_equal(ept_eptp(0x12345000), 0x1234501E);
    /* low bits and bits above 51 of the argument are dropped */
    assert_int_equal(ept_eptp(0xFFF0000012345FFFull), 0x1234501E);
    /* A/D (bit 6) off */
    assert_int_equal(ept_eptp(0x1000) & (1u << 6), 0);
}

/* M6: the guest-physical space above the built map (64-bit BARs live there,
 * outside the memory map) is mapped on first touch, one 1 GiB region at a
 * time, typed by the MTRRs, with table pages from the reserve: one PDPT per
 * new 512 GiB slot, none within a slot the build already has. */
static void test_map_above(void **unused)
{
    (void)unused;
    struct mtrr_state m;
    bios_6g(&m);                    /* default UC: everything above 8 GiB is UC */
    set_var(&m, 3, 0x1000000000ull + 0x100000, 0x100000, MT_WC);  /* WC 1 MiB at 64 GiB + 1 MiB */
    struct ept_params p = { .mtrr = &m, .limit = 8 * GiB, .allow_1g = true };
    struct pool_mem pm, reserve = pool_new(8);
    struct ept_stats st;
    uint64_t pml4 = build_checked(&p, &pm, &st);
    struct ept_params above = p;
    above.limit = 1ull << 46;       /* MAXPHYADDR 46 */
    int level;
    assert_null(ept_leaf(pml4, 200 * GiB, &level));

    /* Inside the first 512 GiB: a 1 GiB UC leaf, no table page. */
    assert_int_equal(ept_map_above(pml4, 200 * GiB + 0x1234, &above, &reserve.pool), 0);
    uint64_t *e = ept_leaf(pml4, 200 * GiB + 0x1234, &level);
    assert_non_null(e);
    assert_int_equal(level, 3);
    assert_int_equal(*e, 200 * GiB | EPT_RWX | (MT_UC << EPT_MT_SHIFT) | EPT_LARGE);
    assert_int_equal(reserve.pool.used, 0);
    /* Again (another CPU got there first): nothing changes. */
    assert_int_equal(ept_map_above(pml4, 200 * GiB, &above, &reserve.pool), 0);
    assert_int_equal(reserve.pool.used, 0);

    /* Near the top of a MAXPHYADDR of 46: one PDPT page for that 512 GiB slot. */
    uint64_t top = (1ull << 46) - 4096;
    assert_int_equal(ept_map_above(pml4, top, &above, &reserve.pool), 0);
    e = ept_leaf(pml4, top, &level);
    assert_non_null(e);
    assert_int_equal(level, 3);
    assert_int_equal(*e & EPT_ADDR_MASK, top & ~(GiB - 1));
    assert_int_equal(reserve.pool.used, 1);

    /* A GiB of mixed types: a PD of 2 MiB leaves, the mixed one split to 4 KiB. */
    assert_int_equal(ept_map_above(pml4, 64 * GiB, &above, &reserve.pool), 0);
    assert_int_equal(reserve.pool.used, 3);
    e = ept_leaf(pml4, 64 * GiB + 0x100000, &level);
    assert_int_equal(level, 1);
    assert_int_equal((*e & EPT_MT_MASK) >> EPT_MT_SHIFT, MT_WC);
    e = ept_leaf(pml4, 64 * GiB + 0x200000, &level);
    assert_int_equal(level, 2);
    assert_int_equal((*e & EPT_MT_MASK) >> EPT_MT_SHIFT, MT_UC);
    check_types(pml4, &m, 8 * GiB, 0, 0);

    /* Without 1 GiB pages: a PD per GiB. */
    above.allow_1g = false;
    assert_int_equal(ept_map_above(pml4, 300 * GiB, &above, &reserve.pool), 0);
    assert_int_equal(reserve.pool.used, 4);
    assert_non_null(ept_leaf(pml4, 300 * GiB + 5 * 0x200000, &level));
    assert_int_equal(level, 2);

    /* At or above MAXPHYADDR, or out of reserve: refused. */
    assert_int_equal(ept_map_above(pml4, 1ull << 46, &above, &reserve.pool), EPT_ERR_INVAL);
    reserve.pool.npages = reserve.pool.used;
    assert_int_equal(ept_map_above(pml4, 301 * GiB, &above, &reserve.pool), EPT_ERR_NOMEM);
    assert_null(ept_leaf(pml4, 301 * GiB, &level));
    pool_free(&reserve);
    pool_free(&pm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_512m_mmio_4g),
        cmocka_unit_test(test_512m_mmio_4g_no_1g),
        cmocka_unit_test(test_6g_with_hole),
        cmocka_unit_test(test_hidden),
        cmocka_unit_test(test_hidden_edges),
        cmocka_unit_test(test_odd_limit),
        cmocka_unit_test(test_mtrr_disabled),
        cmocka_unit_test(test_count_matches_and_exhaustion),
        cmocka_unit_test(test_pool_offset_and_exhaustion),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_set_page),
        cmocka_unit_test(test_eptp),
        cmocka_unit_test(test_retype_split),
        cmocka_unit_test(test_retype_no_reserve),
        cmocka_unit_test(test_retype_disable_enable),
        cmocka_unit_test(test_retype_skips_redirected),
        cmocka_unit_test(test_map_above),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
