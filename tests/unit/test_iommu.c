/* Unit tests for iommu/iommu.c, the monitor's DMA-protection hooks: what
 * dma-protection auto/required/off decide, the tables in the data region,
 * the fault poll at VM exits and its events, rollback. The register file is
 * the fake one behind vtd_hw_direct; the log, report_error and the event
 * log are stubs that remember what they got. This is the monitor's path
 * with an IOMMU present, which no emulator here can run (Bochs has VT-x but
 * no IOMMU, QEMU the reverse). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/evlog.h"
#include "core/log.h"
#include "core/monitor.h"
#include "iommu/iommu.h"
#include "iommu/hw.h"
#include "tests/unit/dmar_tb.h"
#include "tests/unit/fake_vtd.h"

#define UNIT 0xfed90000ull
#define MiB (1ull << 20)

/* ------------------------------------------------------------- stubs */
static struct vtd_hw fakehw;
static struct fake_hw F;
static struct fake_unit U;

static uint32_t t_rd32(void *c, uint64_t a) { (void)c; return fakehw.read32(fakehw.ctx, a); }
static uint64_t t_rd64(void *c, uint64_t a) { (void)c; return fakehw.read64(fakehw.ctx, a); }
static void t_wr32(void *c, uint64_t a, uint32_t v) { (void)c; fakehw.write32(fakehw.ctx, a, v); }
static void t_wr64(void *c, uint64_t a, uint64_t v) { (void)c; fakehw.write64(fakehw.ctx, a, v); }
static void t_flush(void *c, const void *p, size_t n) { (void)c; fakehw.flush(fakehw.ctx, p, n); }
const struct vtd_hw vtd_hw_direct = { .read32 = t_rd32, .read64 = t_rd64, .write32 = t_wr32,
                                      .write64 = t_wr64, .flush = t_flush, .spins = 50 };

static char last_log[512], report[512];
static unsigned nevents, nlogs;
static struct lamina_event ev[8];

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(last_log, sizeof(last_log), "%s: ", level == LOG_WARN ? "warn" : "info");
    vsnprintf(last_log + n, sizeof(last_log) - (size_t)n, fmt, ap);
    va_end(ap);
    nlogs++;
}

int log_ratelimit_pass(struct log_ratelimit *rl, uint32_t *suppressed)
{
    (void)rl;
    *suppressed = 0;
    return 1;
}

void report_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(report, sizeof(report), fmt, ap);
    va_end(ap);
}

void evlog_record(uint16_t cpu, uint8_t kind, uint8_t action, uint32_t index, uint64_t value,
                  uint8_t width, uint64_t rip, uint64_t cr3)
{
    if (nevents < 8)
        ev[nevents] = (struct lamina_event){ .cpu = cpu, .kind = kind, .action = action,
                                             .index = index, .value = value, .width = width,
                                             .rip = rip, .cr3 = cr3 };
    nevents++;
}

/* ------------------------------------------------------------- rig */
static struct lamina_bootinfo bi;
static struct tb T;
static uint8_t *data;           /* the monitor's data region */
static uint8_t image[64 * 1024] __attribute__((aligned(4096)));

static int setup(void **state)
{
    (void)state;
    fake_hw_init(&fakehw, &F);
    fake_unit_init(&U, UNIT);
    fake_hw_add(&F, &U);
    header(&T, 38, 1);
    size_t a = drhd(&T, 1, 0, UNIT);
    scope(&T, 3, 0, 0xff, 0, 0);
    end(&T, a);
    finish(&T);
    memset(&bi, 0, sizeof(bi));
    bi.dma_mode = LAMINA_DMA_AUTO;
    bi.dmar_base = (uintptr_t)T.b;
    bi.dmar_len = (uint32_t)T.n;
    bi.phys_limit = 1ull << 47;     /* host pointers stand for physical addresses */
    bi.image_base = (uintptr_t)image;
    bi.image_size = sizeof(image);
    data = aligned_alloc(4096, 4 * MiB);
    bi.data_base = (uintptr_t)data;
    bi.data_size = 4 * MiB;
    last_log[0] = report[0] = 0;
    nevents = nlogs = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    iommu_rollback();
    free(data);
    return 0;
}

/* What api_plan and api_setup do: plan, then the tables at the cursor. */
static int plan_and_setup(uint64_t *pages)
{
    if (iommu_plan(&bi, pages))
        return -1;
    uint64_t cur = bi.data_base + 8 * 4096;         /* after other data */
    int rc = iommu_setup(&bi, &cur);
    assert_int_equal(cur, bi.data_base + (8 + *pages) * 4096);
    return rc;
}

static uint64_t map_root(void)
{
    uint64_t *root = (uint64_t *)(uintptr_t)U.rt_latched;
    uint64_t *ctx = (uint64_t *)(uintptr_t)(root[0] & VTD_SL_ADDR);
    return ctx[0] & VTD_SL_ADDR;
}

static void test_off(void **state)
{
    (void)state;
    uint64_t pages = 9;
    bi.dma_mode = LAMINA_DMA_OFF;
    assert_int_equal(iommu_plan(&bi, &pages), 0);
    assert_int_equal(pages, 0);
    assert_string_equal(last_log, "info: dma protection off (dma-protection off)");
    struct mem_range r[4];
    assert_int_equal(iommu_hidden(r, 4), 0);
    assert_int_equal(U.srtp, 0);                    /* the unit is not touched */
}

static void test_no_dmar(void **state)
{
    (void)state;
    uint64_t pages;
    bi.dmar_base = 0;
    bi.dmar_len = 0;
    assert_int_equal(iommu_plan(&bi, &pages), 0);
    assert_string_equal(last_log, "warn: dma protection off: no ACPI DMAR table (the platform "
                                  "reports no IOMMU)");
    bi.dma_mode = LAMINA_DMA_REQUIRED;
    assert_int_equal(iommu_plan(&bi, &pages), -1);
    assert_string_equal(report, "dma-protection required: no ACPI DMAR table (the platform "
                                "reports no IOMMU)");
}

static void test_refused_table(void **state)
{
    (void)state;
    uint64_t pages;
    T.b[9]++;                                       /* checksum */
    assert_int_equal(iommu_plan(&bi, &pages), 0);
    assert_non_null(strstr(last_log, "warn: dma protection off: DMAR: checksum"));
    bi.dma_mode = LAMINA_DMA_REQUIRED;
    assert_int_equal(iommu_plan(&bi, &pages), -1);
    assert_non_null(strstr(report, "dma-protection required: DMAR: checksum"));
    struct mem_range r[4];
    assert_int_equal(iommu_hidden(r, 4), 0);
}

/* An IOMMU present: tables in the data region, translation on, the image,
 * the data region and the registers out of the devices' reach, the
 * registers hidden from the CPU too, the summary. */
static void test_on(void **state)
{
    (void)state;
    uint64_t pages;
    assert_int_equal(plan_and_setup(&pages), 0);
    assert_true(pages >= 4);
    assert_true(U.gsts & VTD_GSTS_TES);
    assert_true(U.rt_latched >= bi.data_base && U.rt_latched < bi.data_base + bi.data_size);
    struct mem_range r[4];
    assert_int_equal(iommu_hidden(r, 4), 1);
    assert_int_equal(r[0].base, UNIT);
    assert_int_equal(r[0].size, 4096);
    uint64_t pml4 = map_root();
    int l;
    assert_false(vtd_map_lookup(pml4, bi.image_base, &l));
    assert_false(vtd_map_lookup(pml4, bi.data_base + 123 * 4096, &l));
    assert_false(vtd_map_lookup(pml4, UNIT, &l));
    assert_true(vtd_map_lookup(pml4, 0x100000, &l));
    uint32_t units;
    uint64_t tables;
    iommu_summary(&units, &tables);
    assert_int_equal(units, 1);
    assert_true(tables >= 4 && tables <= pages);
    assert_non_null(strstr(last_log, "info: dma protection on: 1 units translate"));
    iommu_rollback();
    assert_false(U.gsts & VTD_GSTS_TES);
    iommu_summary(&units, &tables);
    assert_int_equal(units, 0);
}

/* Faults: read every IOMMU_POLL_EXITS exits of a CPU, or at once for a
 * VMCALL; each becomes a dma-fault event. */
static void test_poll(void **state)
{
    (void)state;
    uint64_t pages;
    assert_int_equal(plan_and_setup(&pages), 0);
    U.frcd[0][0] = bi.data_base + 0x5000;
    U.frcd[0][1] = VTD_FRCD_F | 5ull << 32 | 0x0010;       /* 00:02.0 writes */
    for (int i = 0; i < IOMMU_POLL_EXITS - 1; i++)
        iommu_exit(3, false);
    assert_int_equal(nevents, 0);
    iommu_exit(2, false);                          /* another CPU counts on its own */
    assert_int_equal(nevents, 0);
    iommu_exit(3, false);
    assert_int_equal(nevents, 1);
    assert_int_equal(ev[0].kind, LAMINA_EV_DMA_FAULT);
    assert_int_equal(ev[0].action, LAMINA_ACT_DENIED);
    assert_int_equal(ev[0].cpu, 3);
    assert_int_equal(LAMINA_EV_DMA_SID(ev[0].index), 0x10);
    assert_int_equal(LAMINA_EV_DMA_UNIT(ev[0].index), 0);
    assert_int_equal(LAMINA_EV_DMA_READ(ev[0].index), 0);
    assert_int_equal(ev[0].value, bi.data_base + 0x5000);
    assert_int_equal(ev[0].width, 5);
    assert_int_equal(ev[0].rip | ev[0].cr3, 0);
    assert_false(U.frcd[0][1] & VTD_FRCD_F);
    U.frcd[0][0] = bi.image_base;
    U.frcd[0][1] = VTD_FRCD_F | VTD_FRCD_T | 6ull << 32 | 0x0318;
    U.fsts = VTD_FSTS_PFO;
    iommu_exit(0, true);                           /* a VMCALL: now */
    assert_int_equal(nevents, 2);
    assert_int_equal(LAMINA_EV_DMA_SID(ev[1].index), 0x318);
    assert_int_equal(LAMINA_EV_DMA_READ(ev[1].index), 1);
    assert_non_null(strstr(last_log, "warn: dma: fault records overflowed on units 0x1"));
    iommu_exit(LAMINA_MAX_CPUS, true);             /* out of range: ignored */
    assert_int_equal(nevents, 2);
}

/* A unit that cannot turn translation on: required refuses the hand-off,
 * auto runs without DMA protection and stops hiding the registers. */
static void test_enable_fails(void **state)
{
    (void)state;
    uint64_t pages;
    U.stuck_te = true;
    bi.dma_mode = LAMINA_DMA_REQUIRED;
    assert_int_equal(plan_and_setup(&pages), -1);
    assert_non_null(strstr(report, "dma-protection required: remapping unit at 0xfed90000: "
                                   "turning translation on failed"));
    bi.dma_mode = LAMINA_DMA_AUTO;
    assert_int_equal(plan_and_setup(&pages), 0);
    assert_non_null(strstr(last_log, "warn: dma protection off: remapping unit at 0xfed90000"));
    struct mem_range r[4];
    assert_int_equal(iommu_hidden(r, 4), 0);
    uint32_t units;
    uint64_t tables;
    iommu_summary(&units, &tables);
    assert_int_equal(units, 0);
    iommu_exit(0, true);
    assert_int_equal(nevents, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_dmar, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_on, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enable_fails, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
