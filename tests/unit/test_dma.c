/* Unit tests for iommu/dma.c: DMA protection over several remapping units
 * (QEMU models only one), against fake register files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "iommu/dma.h"
#include "tests/unit/dmar_tb.h"
#include "tests/unit/fake_vtd.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define GFX 0xfed90000ull
#define ALL 0xfed91000ull
#define MON_IMAGE 0x7f000000ull
#define MON_DATA  0x7f100000ull

struct rig {
    struct fake_unit gfx, all;
    struct fake_hw f;
    struct vtd_hw hw;
    struct dma_prot d;
    struct tb t;
    struct vtd_pool pool;
    char err[DMA_ERR_LEN];
};

/* A client platform as test_dmar.c's: a graphics unit (3-level walk only,
 * 2 MiB pages only, no queue), the INCLUDE_PCI_ALL unit (4-level, queue,
 * coherent), an RMRR for graphics and one for USB above the map's limit. */
static struct rig *rig_new(void)
{
    struct rig *r = calloc(1, sizeof(*r));
    fake_hw_init(&r->hw, &r->f);
    fake_unit_init(&r->gfx, GFX);
    r->gfx.cap &= ~((uint64_t)VTD_SAGAW_4LEVEL << 8 | (uint64_t)VTD_SLLPS_1G << 34);
    r->gfx.ecap &= ~VTD_ECAP_QI;
    fake_unit_init(&r->all, ALL);
    r->all.ecap |= VTD_ECAP_C;
    fake_hw_add(&r->f, &r->gfx);
    fake_hw_add(&r->f, &r->all);
    struct tb *t = &r->t;
    header(t, 38, 1);
    size_t a = drhd(t, 0, 0, GFX);
    scope(t, 1, 0, 0, 2, 0);
    end(t, a);
    a = drhd(t, 1, 0, ALL);
    scope(t, 3, 2, 0, 0x1e, 7);
    end(t, a);
    a = rmrr(t, 0x3d800000, 0x3fffffff);
    scope(t, 1, 0, 0, 2, 0);
    end(t, a);
    a = rmrr(t, 5 * GiB, 5 * GiB + 0xffff);
    scope(t, 1, 0, 0, 0x14, 0);
    end(t, a);
    finish(t);
    return r;
}

static void rig_free(struct rig *r)
{
    fake_pool_free(&r->pool);
    free(r);
}

/* What api_plan and api_setup do through iommu/iommu.c. */
static int rig_up(struct rig *r, uint64_t mon_data)
{
    if (dma_plan(&r->d, &r->hw, r->t.b, r->t.n, 4 * GiB, true, r->err, sizeof(r->err)))
        return -1;
    assert_int_equal(dma_hide(&r->d, MON_IMAGE, 256 * 1024), 0);
    uint64_t n = dma_pages(&r->d, 1);
    r->pool = fake_pool(n);
    assert_int_equal(dma_hide(&r->d, mon_data, 3 * MiB + 4096), 0);
    if (dma_build(&r->d, &r->hw, &r->pool, r->err, sizeof(r->err)))
        return -1;
    assert_true(r->pool.used <= n);     /* the plan was enough */
    return dma_enable(&r->d, &r->hw, r->err, sizeof(r->err));
}

static void test_two_units(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    assert_int_equal(rig_up(r, MON_DATA), 0);
    assert_int_equal(r->d.nunits, 2);
    assert_int_equal(r->d.enabled, 2);
    /* What both units can walk: 2 MiB pages, no 1 GiB ones. */
    assert_true(r->d.allow_2m);
    assert_false(r->d.allow_1g);
    assert_false(r->d.coherent);
    assert_int_equal(r->d.map.pages_1g, 0);
    /* Each unit: its own root table, translation on, invalidated first. */
    const struct vtd_unit *g = &r->d.unit[0], *a = &r->d.unit[1];
    assert_int_equal(g->levels, 3);
    assert_int_equal(a->levels, 4);
    assert_false(g->qi);
    assert_true(a->qi);
    assert_int_equal(r->gfx.rt_latched, (uint64_t)(uintptr_t)g->root);
    assert_int_equal(r->all.rt_latched, (uint64_t)(uintptr_t)a->root);
    assert_true((r->gfx.gsts & VTD_GSTS_TES) && (r->all.gsts & VTD_GSTS_TES));
    assert_true(r->gfx.inval_before_te && r->all.inval_before_te);
    assert_int_equal(r->gfx.illegal + r->all.illegal, 0);
    /* One shared map: the 3-level unit starts below PML4[0]. */
    assert_int_equal(g->context[0], vtd_sl_root(r->d.pml4, 3) | 1);
    assert_int_equal(a->context[0], r->d.pml4 | 1);
    assert_int_equal(g->context[2 * 0x10 + 1], 1 | 1 << 8);
    assert_int_equal(a->context[2 * 0xff + 1], 2 | 1 << 8);
    /* Monitor memory and both register pages are out of reach; RMRRs in. */
    int l;
    assert_false(vtd_map_lookup(r->d.pml4, MON_IMAGE, &l));
    assert_false(vtd_map_lookup(r->d.pml4, MON_DATA + 3 * MiB, &l));
    assert_true(vtd_map_lookup(r->d.pml4, MON_DATA + 3 * MiB + 4096, &l));
    assert_false(vtd_map_lookup(r->d.pml4, GFX, &l));
    assert_false(vtd_map_lookup(r->d.pml4, ALL, &l));
    assert_true(vtd_map_lookup(r->d.pml4, ALL + 4096, &l));
    assert_true(vtd_map_lookup(r->d.pml4, 0x3d800000, &l));
    assert_true(vtd_map_lookup(r->d.pml4, 5 * GiB + 0xf000, &l));
    assert_false(vtd_map_lookup(r->d.pml4, 5 * GiB + 0x10000, &l));
    /* The graphics unit is not coherent: the shared map and its own tables
     * were written back (the coherent unit's own four pages need not be). */
    assert_true(r->f.flushed_bytes >= (r->d.map.tables + VTD_UNIT_PAGES) * 4096);
    struct vtd_range regs[4];
    assert_int_equal(dma_reg_ranges(&r->d, regs, 4), 2);
    assert_int_equal(regs[1].base, ALL);
    assert_int_equal(regs[1].size, 4096);
    print_message("    2 units, 4 GiB: %lu table pages (map %lu: 2m=%lu 4k=%lu)\n",
                  (unsigned long)r->d.table_pages, (unsigned long)r->d.map.tables,
                  (unsigned long)r->d.map.pages_2m, (unsigned long)r->d.map.pages_4k);
    dma_disable(&r->d, &r->hw);
    assert_false(r->gfx.gsts & VTD_GSTS_TES);
    assert_false(r->all.gsts & (VTD_GSTS_TES | VTD_GSTS_QIES));
    assert_int_equal(r->d.enabled, 0);
    rig_free(r);
}

/* dma_pages with one range still to come is enough wherever it lands. */
static void test_pages_plan_holds(void **state)
{
    (void)state;
    const uint64_t spots[] = { 0x100000, 2 * MiB - 4096, 2 * GiB - MiB, 3 * GiB + 123 * 4096,
                               0x3d7ff000 - 3 * MiB, 4 * GiB - 4 * MiB };
    for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
        struct rig *r = rig_new();
        int rc = rig_up(r, spots[i]);
        if (rc)
            fail_msg("data region at 0x%llx: %s", (unsigned long long)spots[i], r->err);
        rig_free(r);
    }
}

/* The second unit cannot turn translation on: the first is turned off
 * again, nothing stays half done. */
static void test_enable_all_or_nothing(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    r->all.stuck_te = true;
    assert_int_equal(rig_up(r, MON_DATA), -1);
    assert_non_null(strstr(r->err, "remapping unit at 0xfed91000: turning translation on failed"));
    assert_false(r->gfx.gsts & VTD_GSTS_TES);
    assert_int_equal(r->d.enabled, 0);
    assert_false(r->d.unit[0].enabled);
    rig_free(r);
}

static void test_rmrr_over_monitor(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    assert_int_equal(rig_up(r, 0x3f000000), -1);
    assert_string_equal(r->err, "DMAR entry 2 (RMRR): region 0x3d800000-0x3fffffff overlaps "
                                "monitor memory");
    rig_free(r);

    r = rig_new();
    struct tb *t = &r->t;
    size_t a = rmrr(t, ALL, ALL + 0xfff);
    scope(t, 1, 0, 0, 0x14, 0);
    end(t, a);
    finish(t);
    assert_int_equal(rig_up(r, MON_DATA), -1);
    assert_string_equal(r->err, "DMAR entry 4 (RMRR): region 0xfed91000-0xfed91fff overlaps a "
                                "remapping unit's registers");
    rig_free(r);
}

static void test_plan_names_the_entry(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    r->all.cap &= ~(0x1full << 8);
    assert_int_equal(rig_up(r, MON_DATA), -1);
    assert_string_equal(r->err, "DMAR entry 1 (DRHD): remapping unit at 0xfed91000: CAP.SAGAW 0x0 "
                                "offers neither a 3- nor a 4-level second-level walk");
    rig_free(r);

    r = rig_new();
    r->t.b[9]++;
    assert_int_equal(rig_up(r, MON_DATA), -1);
    assert_non_null(strstr(r->err, "DMAR: checksum"));
    rig_free(r);
}

struct got { unsigned n; unsigned unit[4]; struct vtd_fault f[4]; };

static void got(void *arg, unsigned unit, const struct vtd_fault *f)
{
    struct got *g = arg;
    g->unit[g->n] = unit;
    g->f[g->n++] = *f;
}

static void test_poll_every_unit(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    assert_int_equal(rig_up(r, MON_DATA), 0);
    r->gfx.frcd[0][0] = MON_DATA;
    r->gfx.frcd[0][1] = VTD_FRCD_F | 5ull << 32 | 0x10;
    r->all.frcd[0][0] = MON_IMAGE;
    r->all.frcd[0][1] = VTD_FRCD_F | VTD_FRCD_T | 6ull << 32 | 0xa0;
    r->all.fsts = VTD_FSTS_PFO;
    struct got g = { 0 };
    uint32_t over = 0;
    assert_int_equal(dma_poll(&r->d, &r->hw, got, &g, &over), 2);
    assert_int_equal(over, 2);                      /* unit 1 lost faults */
    assert_int_equal(g.unit[0], 0);
    assert_int_equal(g.f[0].sid, 0x10);
    assert_int_equal(g.f[0].addr, MON_DATA);
    assert_int_equal(g.unit[1], 1);
    assert_true(g.f[1].read);
    assert_int_equal(g.f[1].addr, MON_IMAGE);
    assert_int_equal(dma_poll(&r->d, &r->hw, got, &g, &over), 0);
    assert_int_equal(over, 0);
    /* A unit that is off is not read. */
    dma_disable(&r->d, &r->hw);
    r->gfx.frcd[0][1] = VTD_FRCD_F;
    r->gfx.frcd_reads = 0;
    assert_int_equal(dma_poll(&r->d, &r->hw, got, &g, NULL), 0);
    assert_int_equal(r->gfx.frcd_reads, 0);
    rig_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_units),
        cmocka_unit_test(test_pages_plan_holds),
        cmocka_unit_test(test_enable_all_or_nothing),
        cmocka_unit_test(test_rmrr_over_monitor),
        cmocka_unit_test(test_plan_names_the_entry),
        cmocka_unit_test(test_poll_every_unit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
