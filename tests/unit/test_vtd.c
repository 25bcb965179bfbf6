/* Unit tests for iommu/vtd.c: the second-level map builder (VT-d 3.6, 9.8)
 * and one unit's programming against a fake register file (11.4, 6.5, 7.3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "iommu/vtd.h"
#include "tests/unit/fake_vtd.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define BASE 0xfed90000ull

/* ----------------------------------------------------------------- maps */

static uint64_t build(const struct vtd_map_params *p, struct vtd_pool *pool, struct vtd_map_stats *st)
{
    struct vtd_pool count = { 0 };
    struct vtd_map_stats cst;
    uint64_t pml4 = 1;
    assert_int_equal(vtd_map_build(p, &count, &pml4, &cst), 0);
    assert_int_equal(pml4, 0);          /* counting touches nothing */
    *pool = fake_pool(count.used);
    assert_int_equal(vtd_map_build(p, pool, &pml4, st), 0);
    /* The counting run predicts the real one exactly. */
    assert_int_equal(pool->used, count.used);
    assert_int_equal(st->tables, cst.tables);
    assert_int_equal(st->pages_4k, cst.pages_4k);
    assert_int_equal(st->pages_2m, cst.pages_2m);
    assert_int_equal(st->pages_1g, cst.pages_1g);
    assert_int_equal(st->tables, pool->used);
    return pml4;
}

static void assert_mapped(uint64_t pml4, uint64_t a, int level)
{
    int l = -1;
    bool m = vtd_map_lookup(pml4, a, &l);
    if (!m || l != level)
        fail_msg("0x%llx: mapped %d level %d, want mapped at level %d", (unsigned long long)a, m,
                 l, level);
}

static void assert_unmapped(uint64_t pml4, uint64_t a)
{
    int l = -1;
    if (vtd_map_lookup(pml4, a, &l) || l != 0)
        fail_msg("0x%llx: mapped at level %d, want unmapped", (unsigned long long)a, l);
}

static void test_map_4g_1g_pages(void **state)
{
    (void)state;
    struct vtd_map_params p = { .limit = 4 * GiB, .allow_2m = true, .allow_1g = true };
    struct vtd_pool pool;
    struct vtd_map_stats st;
    uint64_t pml4 = build(&p, &pool, &st);
    assert_int_equal(st.tables, 2);         /* PML4, one PDPT */
    assert_int_equal(st.pages_1g, 4);
    assert_int_equal(st.pages_2m + st.pages_4k, 0);
    assert_mapped(pml4, 0, 3);
    assert_mapped(pml4, 4 * GiB - 4096, 3);
    assert_unmapped(pml4, 4 * GiB);
    /* Leaf format (9.8): R, W, PS, the address; nothing else. */
    uint64_t *pdpt = (uint64_t *)(uintptr_t)(((uint64_t *)(uintptr_t)pml4)[0] & VTD_SL_ADDR);
    assert_int_equal(((uint64_t *)(uintptr_t)pml4)[0] & 0xfff, VTD_SL_R | VTD_SL_W);
    assert_int_equal(pdpt[1], GiB | VTD_SL_R | VTD_SL_W | VTD_SL_PS);
    assert_int_equal(pdpt[4], 0);
    fake_pool_free(&pool);
}

static void test_map_2m_only(void **state)
{
    (void)state;
    struct vtd_map_params p = { .limit = 4 * GiB, .allow_2m = true };
    struct vtd_pool pool;
    struct vtd_map_stats st;
    uint64_t pml4 = build(&p, &pool, &st);
    assert_int_equal(st.tables, 1 + 1 + 4);
    assert_int_equal(st.pages_2m, 2048);
    assert_int_equal(st.pages_1g, 0);
    assert_mapped(pml4, 3 * GiB + 5 * MiB, 2);
    fake_pool_free(&pool);
}

/* A unit without super pages (CAP.SLLPS 0): 4 KiB leaves only. */
static void test_map_4k_only(void **state)
{
    (void)state;
    struct vtd_map_params p = { .limit = 1 * GiB };
    struct vtd_pool pool;
    struct vtd_map_stats st;
    uint64_t pml4 = build(&p, &pool, &st);
    assert_int_equal(st.tables, 1 + 1 + 1 + 512);
    assert_int_equal(st.pages_4k, 262144);
    assert_mapped(pml4, 0x12345000, 1);
    fake_pool_free(&pool);
}

/* Holes for the monitor and a unit's registers; super pages around them. */
static void test_map_holes(void **state)
{
    (void)state;
    const struct vtd_range hidden[] = { { 0x1234000, 0x5000 }, { BASE, 0x1000 } };
    struct vtd_map_params p = { .limit = 4 * GiB, .hidden = hidden, .nhidden = 2,
                                .allow_2m = true, .allow_1g = true };
    struct vtd_pool pool;
    struct vtd_map_stats st;
    uint64_t pml4 = build(&p, &pool, &st);
    assert_mapped(pml4, 0x1233000, 1);
    for (uint64_t a = 0x1234000; a < 0x1239000; a += 4096)
        assert_unmapped(pml4, a);
    assert_mapped(pml4, 0x1239000, 1);
    assert_mapped(pml4, 0x1000000 - 4096, 2);   /* the 2 MiB before: still a super page */
    assert_mapped(pml4, 0x1400000, 2);
    assert_mapped(pml4, 1 * GiB, 3);
    assert_unmapped(pml4, BASE);
    assert_mapped(pml4, BASE + 4096, 1);
    assert_mapped(pml4, BASE - 4096, 1);
    /* PML4, PDPT, two PDs (the 1 GiB regions with holes), two PTs. */
    assert_int_equal(st.tables, 6);
    assert_int_equal(st.pages_1g, 2);
    assert_int_equal(st.pages_4k, 2 * 512 - 5 - 1);
    fake_pool_free(&pool);
}

/* A hidden range that covers a whole 1 GiB region leaves no table there. */
static void test_map_hidden_gib(void **state)
{
    (void)state;
    const struct vtd_range hidden[] = { { 1 * GiB, 1 * GiB } };
    struct vtd_map_params p = { .limit = 4 * GiB, .hidden = hidden, .nhidden = 1,
                                .allow_2m = true, .allow_1g = true };
    struct vtd_pool pool;
    struct vtd_map_stats st;
    uint64_t pml4 = build(&p, &pool, &st);
    assert_int_equal(st.tables, 2);
    assert_int_equal(st.pages_1g, 3);
    assert_unmapped(pml4, 1 * GiB + 123 * 4096);
    fake_pool_free(&pool);
}

/* 24 GiB of RAM, the monitor at 20 GiB + 5 MiB (2.5 MiB), an RMRR above the
 * limit: every page has the right answer, and the table count is the
 * memory the map costs. */
static void test_map_above_4g_and_rmrr(void **state)
{
    (void)state;
    const struct vtd_range hidden[] = { { 20 * GiB + 5 * MiB, 2 * MiB + 512 * KiB }, { BASE, 4096 } };
    const struct vtd_range rmrr[] = { { 30 * GiB, 64 * KiB }, { 0x3c000000, 128 * KiB } };
    struct vtd_map_params p = { .limit = 24 * GiB, .hidden = hidden, .nhidden = 2, .extra = rmrr,
                                .nextra = 2, .allow_2m = true, .allow_1g = true };
    struct vtd_pool pool;
    struct vtd_map_stats st;
    uint64_t pml4 = build(&p, &pool, &st);
    assert_mapped(pml4, 20 * GiB + 5 * MiB - 4096, 1);
    assert_unmapped(pml4, 20 * GiB + 5 * MiB);
    assert_unmapped(pml4, 20 * GiB + 7 * MiB + 508 * KiB);
    assert_mapped(pml4, 20 * GiB + 7 * MiB + 512 * KiB, 1);
    assert_mapped(pml4, 20 * GiB + 8 * MiB, 2);
    assert_mapped(pml4, 24 * GiB - 4096, 3);
    assert_unmapped(pml4, 24 * GiB);
    assert_mapped(pml4, 30 * GiB, 1);
    assert_mapped(pml4, 30 * GiB + 60 * KiB, 1);
    assert_unmapped(pml4, 30 * GiB + 64 * KiB);
    assert_unmapped(pml4, 30 * GiB - 4096);
    assert_mapped(pml4, 0x3c000000, 3);         /* an RMRR below the limit changes nothing */
    print_message("    24 GiB with 1 GiB pages: %lu table pages (%lu KiB), 1g=%lu 2m=%lu 4k=%lu\n",
                  (unsigned long)st.tables, (unsigned long)st.tables * 4,
                  (unsigned long)st.pages_1g, (unsigned long)st.pages_2m,
                  (unsigned long)st.pages_4k);
    assert_true(st.tables <= 12);
    fake_pool_free(&pool);
    p.allow_1g = false;
    pml4 = build(&p, &pool, &st);
    print_message("    24 GiB with 2 MiB pages: %lu table pages (%lu KiB)\n",
                  (unsigned long)st.tables, (unsigned long)st.tables * 4);
    assert_true(st.tables <= 24 + 12);
    assert_mapped(pml4, 30 * GiB, 1);
    fake_pool_free(&pool);
}

static void test_map_refuses(void **state)
{
    (void)state;
    struct vtd_pool count = { 0 };
    const struct vtd_range hidden[] = { { 0x100000, 0x1000 } };
    const struct vtd_range over[] = { { 0xff000, 0x2000 } };
    const struct vtd_range odd[] = { { 0x100800, 0x1000 } };
    struct vtd_map_params p = { .limit = 4 * GiB, .hidden = hidden, .nhidden = 1,
                                .extra = over, .nextra = 1 };
    assert_int_equal(vtd_map_build(&p, &count, NULL, NULL), VTD_ERR_INVAL);   /* RMRR over a hole */
    p.extra = odd;
    assert_int_equal(vtd_map_build(&p, &count, NULL, NULL), VTD_ERR_INVAL);   /* unaligned */
    p.nextra = 0;
    p.limit = 4 * GiB + 1;
    assert_int_equal(vtd_map_build(&p, &count, NULL, NULL), VTD_ERR_INVAL);
    p.limit = (1ull << 48) + 4096;
    assert_int_equal(vtd_map_build(&p, &count, NULL, NULL), VTD_ERR_INVAL);
    p.limit = 1ull << 48;
    p.allow_1g = p.allow_2m = true;
    assert_int_equal(vtd_map_build(&p, &count, NULL, NULL), 0);
    assert_int_equal(count.used, 1 + 512 + 2);      /* the hole needs a PD and a PT */
}

static void test_map_out_of_pages(void **state)
{
    (void)state;
    struct vtd_map_params p = { .limit = 4 * GiB, .allow_2m = true };
    struct vtd_pool pool = fake_pool(5);
    pool.used = 1;
    uint64_t pml4 = 7;
    assert_int_equal(vtd_map_build(&p, &pool, &pml4, NULL), VTD_ERR_NOMEM);
    assert_int_equal(pool.used, 1);
    assert_int_equal(pml4, 7);
    fake_pool_free(&pool);
}

static void test_sl_root(void **state)
{
    (void)state;
    struct vtd_map_params p = { .limit = 4 * GiB, .allow_2m = true, .allow_1g = true };
    struct vtd_pool pool;
    struct vtd_map_stats st;
    uint64_t pml4 = build(&p, &pool, &st);
    assert_int_equal(vtd_sl_root(pml4, 4), pml4);
    assert_int_equal(vtd_sl_root(pml4, 3), ((uint64_t *)(uintptr_t)pml4)[0] & VTD_SL_ADDR);
    assert_int_not_equal(vtd_sl_root(pml4, 3), 0);
    fake_pool_free(&pool);
}

/* ---------------------------------------------------------------- units */

struct rig {
    struct fake_unit fu;
    struct fake_hw f;
    struct vtd_hw hw;
    struct vtd_unit u;
    struct vtd_pool pool;
    uint64_t pml4;
    char err[200];
};

static struct rig *rig_new(void)
{
    struct rig *r = calloc(1, sizeof(*r));
    fake_unit_init(&r->fu, BASE);
    fake_hw_init(&r->hw, &r->f);
    fake_hw_add(&r->f, &r->fu);
    r->pool = fake_pool(16);
    return r;
}

static void rig_free(struct rig *r)
{
    fake_pool_free(&r->pool);
    free(r);
}

/* A 4 GiB map with 1 GiB leaves in the rig's pool. */
static void rig_map(struct rig *r)
{
    struct vtd_map_params p = { .limit = 4 * GiB, .allow_1g = true, .allow_2m = true };
    assert_int_equal(vtd_map_build(&p, &r->pool, &r->pml4, NULL), 0);
}

static int rig_up(struct rig *r, bool want_qi)
{
    assert_int_equal(vtd_probe(&r->u, &r->hw, BASE, 4096, want_qi, r->err, sizeof(r->err)), 0);
    rig_map(r);
    assert_int_equal(vtd_prepare(&r->u, &r->hw, &r->pool, r->pml4), 0);
    return vtd_enable(&r->u, &r->hw, r->err, sizeof(r->err));
}

static void test_probe_levels(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    assert_int_equal(vtd_probe(&r->u, &r->hw, BASE, 4096, true, r->err, sizeof(r->err)), 0);
    assert_int_equal(r->u.levels, 4);
    assert_int_equal(r->u.mgaw, 48);
    assert_int_equal(r->u.fro, 0x220);
    assert_int_equal(r->u.nfr, 1);
    assert_int_equal(r->u.iro, 0xf0);
    assert_true(r->u.qi);
    assert_false(r->u.coherent);
    r->fu.cap &= ~((uint64_t)VTD_SAGAW_4LEVEL << 8);      /* QEMU's default aw-bits 39 */
    assert_int_equal(vtd_probe(&r->u, &r->hw, BASE, 4096, true, r->err, sizeof(r->err)), 0);
    assert_int_equal(r->u.levels, 3);
    rig_free(r);
}

static void test_probe_refuses(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    r->fu.cap = (r->fu.cap & ~(0x1full << 8)) | (uint64_t)(1u << 3) << 8;    /* 5-level only */
    assert_int_equal(vtd_probe(&r->u, &r->hw, BASE, 4096, true, r->err, sizeof(r->err)), -1);
    assert_string_equal(r->err, "remapping unit at 0xfed90000: CAP.SAGAW 0x8 offers neither a 3- "
                                "nor a 4-level second-level walk");
    fake_unit_init(&r->fu, BASE);
    r->fu.cap = (r->fu.cap & ~(0x3ffull << 24)) | (uint64_t)(0x100) << 24;    /* FRO 0x1000 */
    assert_int_equal(vtd_probe(&r->u, &r->hw, BASE, 4096, true, r->err, sizeof(r->err)), -1);
    assert_string_equal(r->err, "remapping unit at 0xfed90000: CAP.FRO puts 1 fault recording "
                                "registers at 0x1000, outside its 0x1000-byte register set");
    fake_unit_init(&r->fu, BASE);
    r->fu.ecap = (r->fu.ecap & ~(0x3ffull << 8)) | (uint64_t)2 << 8;          /* IRO 0x20 */
    assert_int_equal(vtd_probe(&r->u, &r->hw, BASE, 4096, true, r->err, sizeof(r->err)), -1);
    assert_string_equal(r->err, "remapping unit at 0xfed90000: ECAP.IRO puts the IOTLB registers at "
                                "0x20, over the fixed registers");
    fake_unit_init(&r->fu, BASE);
    r->fu.ones = true;
    assert_int_equal(vtd_probe(&r->u, &r->hw, BASE, 4096, true, r->err, sizeof(r->err)), -1);
    assert_string_equal(r->err, "remapping unit at 0xfed90000: registers read all ones (no unit "
                                "answers there)");
    rig_free(r);
}

/* The whole bring-up with the queue: root and context tables as 9.1/9.3
 * say, SRTP, queued global invalidations, then TE; fault interrupt masked. */
static void test_enable_queued(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    r->fu.frcd[0][1] = VTD_FRCD_F | 0x10;           /* a stale fault from before */
    assert_int_equal(rig_up(r, true), 0);
    assert_true(r->u.enabled);
    assert_int_equal(r->fu.rt_latched, (uint64_t)(uintptr_t)r->u.root);
    assert_int_equal(r->fu.srtp, 1);
    assert_true(r->fu.gsts & VTD_GSTS_TES);
    assert_true(r->fu.gsts & VTD_GSTS_QIES);
    assert_true(r->fu.inval_before_te);
    assert_int_equal(r->fu.reg_inval, 0);
    assert_int_equal(r->fu.waits, 1);
    assert_int_equal(r->fu.illegal, 0);
    assert_int_equal(r->fu.iqa & ~0xfffull, (uint64_t)(uintptr_t)r->u.iq);
    assert_int_equal(r->fu.fectl, VTD_FECTL_IM);
    assert_false(r->fu.frcd[0][1] & VTD_FRCD_F);
    for (unsigned b = 0; b < 256; b++) {
        assert_int_equal(r->u.root[2 * b], (uint64_t)(uintptr_t)r->u.context | 1);
        assert_int_equal(r->u.root[2 * b + 1], 0);
    }
    for (unsigned df = 0; df < 256; df++) {
        assert_int_equal(r->u.context[2 * df], r->pml4 | 1);              /* P, TT 00 */
        assert_int_equal(r->u.context[2 * df + 1], 2 | 1 << 8);           /* AW 48-bit, DID 1 */
    }
    /* Not coherent (ECAP.C 0): the four pages were written back. */
    assert_true(r->f.flushes >= 4);
    rig_free(r);
}

/* A 3-level unit walks from PML4[0]'s table, with AW 1 (39 bits). */
static void test_enable_three_levels(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    r->fu.cap &= ~((uint64_t)VTD_SAGAW_4LEVEL << 8);
    assert_int_equal(rig_up(r, true), 0);
    assert_int_equal(r->u.context[0], vtd_sl_root(r->pml4, 3) | 1);
    assert_int_equal(r->u.context[1], 1 | 1 << 8);
    rig_free(r);
}

/* Without the queue (ECAP.QI 0, or not wanted): CCMD and IOTLB registers. */
static void test_enable_registers(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    r->fu.ecap &= ~VTD_ECAP_QI;
    assert_int_equal(rig_up(r, true), 0);
    assert_false(r->u.qi);
    assert_int_equal(r->fu.reg_inval, 2);
    assert_int_equal(r->fu.queue_descs, 0);
    assert_true(r->fu.inval_before_te);
    assert_false(r->fu.gsts & VTD_GSTS_QIES);
    assert_int_equal(r->fu.illegal, 0);
    rig_free(r);

    r = rig_new();
    assert_int_equal(rig_up(r, false), 0);
    assert_int_equal(r->fu.reg_inval, 2);
    assert_int_equal(r->fu.queue_descs, 0);
    rig_free(r);
}

/* The firmware left translation, its own queue and interrupt remapping
 * on: the queue is drained and moved while off, IRE is carried along, and
 * translation stays on throughout (no window of untranslated DMA). */
static void test_enable_takes_over(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    r->fu.gsts = VTD_GSTS_TES | VTD_GSTS_QIES | VTD_GSTS_IRES | VTD_GSTS_RTPS;
    r->fu.iqa = 0x1000;
    r->fu.iqh = r->fu.iqt = 0x40;
    r->fu.rtaddr = r->fu.rt_latched = 0x5000;
    assert_int_equal(rig_up(r, true), 0);
    assert_int_equal(r->u.gsts_found & VTD_GSTS_TES, VTD_GSTS_TES);
    assert_int_equal(r->fu.te_on, 0);                   /* never turned off and on */
    assert_true(r->fu.gsts & VTD_GSTS_TES);
    assert_true(r->fu.gsts & VTD_GSTS_IRES);
    assert_int_equal(r->fu.rt_latched, (uint64_t)(uintptr_t)r->u.root);
    assert_true(r->fu.cc_since_srtp >= 1 && r->fu.iotlb_since_srtp >= 1);
    assert_int_equal(r->fu.iqa & ~0xfffull, (uint64_t)(uintptr_t)r->u.iq);
    assert_int_equal(r->fu.illegal, 0);
    rig_free(r);
}

static void test_enable_write_buffer_and_pmr(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    r->fu.cap |= VTD_CAP_RWBF | VTD_CAP_PLMR;
    r->fu.pmen = VTD_PMEN_EPM | VTD_PMEN_PRS;
    r->fu.ecap |= VTD_ECAP_C;
    assert_int_equal(rig_up(r, true), 0);
    assert_int_equal(r->fu.wbf, 1);
    assert_int_equal(r->fu.pmen, 0);
    assert_int_equal(r->f.flushes, 0);                  /* coherent: nothing written back */
    rig_free(r);
}

static void test_enable_timeout(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    r->fu.stuck_te = true;
    assert_int_equal(rig_up(r, true), -1);
    assert_false(r->u.enabled);
    assert_non_null(strstr(r->err, "remapping unit at 0xfed90000: turning translation on failed (GSTS 0x"));
    rig_free(r);
}

static void test_disable(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    assert_int_equal(rig_up(r, true), 0);
    assert_int_equal(vtd_disable(&r->u, &r->hw), 0);
    assert_false(r->fu.gsts & (VTD_GSTS_TES | VTD_GSTS_QIES));
    assert_false(r->u.enabled);
    rig_free(r);
}

/* 300 invalidations: the 256-descriptor queue wraps and each wait is seen. */
static void test_queue_wraps(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    assert_int_equal(rig_up(r, true), 0);
    for (int i = 0; i < 300; i++)
        assert_int_equal(vtd_invalidate(&r->u, &r->hw), 0);
    assert_int_equal(r->fu.waits, 301);
    assert_int_equal(r->fu.cc_global, 301);
    assert_int_equal(r->fu.illegal, 0);
    rig_free(r);
}

struct got { unsigned n; struct vtd_fault f[8]; };

static void got_fault(void *arg, const struct vtd_fault *f)
{
    struct got *g = arg;
    g->f[g->n++] = *f;
}

/* 7.3.1: from FSTS.FRI on, each record with F, cleared after reading. */
static void test_drain_faults(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    r->fu.cap |= (uint64_t)3 << 40;                     /* NFR 4 */
    assert_int_equal(rig_up(r, true), 0);
    r->fu.frcd_reads = 0;
    struct got g = { 0 };
    bool over = true;
    assert_int_equal(vtd_drain_faults(&r->u, &r->hw, got_fault, &g, &over), 0);
    assert_false(over);
    assert_int_equal(r->fu.frcd_reads, 0);             /* nothing pending: FSTS only */
    r->fu.fsts = 2u << 8 | VTD_FSTS_PFO;               /* FRI 2, an overflow */
    r->fu.frcd[2][0] = 0x3ffe123;
    r->fu.frcd[2][1] = VTD_FRCD_F | 5ull << 32 | 0x0010;
    r->fu.frcd[3][0] = 0x7000;
    r->fu.frcd[3][1] = VTD_FRCD_F | VTD_FRCD_T | 6ull << 32 | 0x0318;
    r->fu.frcd[0][1] = 0;
    assert_int_equal(vtd_drain_faults(&r->u, &r->hw, got_fault, &g, &over), 2);
    assert_true(over);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.f[0].addr, 0x3ffe000);
    assert_int_equal(g.f[0].sid, 0x10);
    assert_int_equal(g.f[0].reason, 5);
    assert_false(g.f[0].read);
    assert_int_equal(g.f[1].addr, 0x7000);
    assert_int_equal(g.f[1].sid, 0x318);
    assert_int_equal(g.f[1].reason, 6);
    assert_true(g.f[1].read);
    assert_false(r->fu.frcd[2][1] & VTD_FRCD_F);
    assert_false(r->fu.frcd[3][1] & VTD_FRCD_F);
    assert_false(r->fu.fsts & VTD_FSTS_PFO);
    assert_string_equal(vtd_fault_reason(5), "write not permitted");
    assert_string_equal(vtd_fault_reason(6), "read not permitted");
    assert_string_equal(vtd_fault_reason(0x99), "other");
    rig_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_4g_1g_pages),
        cmocka_unit_test(test_map_2m_only),
        cmocka_unit_test(test_map_4k_only),
        cmocka_unit_test(test_map_holes),
        cmocka_unit_test(test_map_hidden_gib),
        cmocka_unit_test(test_map_above_4g_and_rmrr),
        cmocka_unit_test(test_map_refuses),
        cmocka_unit_test(test_map_out_of_pages),
        cmocka_unit_test(test_sl_root),
        cmocka_unit_test(test_probe_levels),
        cmocka_unit_test(test_probe_refuses),
        cmocka_unit_test(test_enable_queued),
        cmocka_unit_test(test_enable_three_levels),
        cmocka_unit_test(test_enable_registers),
        cmocka_unit_test(test_enable_takes_over),
        cmocka_unit_test(test_enable_write_buffer_and_pmr),
        cmocka_unit_test(test_enable_timeout),
        cmocka_unit_test(test_disable),
        cmocka_unit_test(test_queue_wraps),
        cmocka_unit_test(test_drain_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
