/* DMA protection in the monitor (iommu/iommu.h): lamina.conf's
 * dma-protection applied to iommu/dma.c, faults into the event log. */
#include <stdio.h>
#include "core/evlog.h"
#include "core/log.h"
#include "core/monitor.h"
#include "iommu/dma.h"
#include "iommu/hw.h"
#include "iommu/iommu.h"

#define PAGE 4096ull

static struct dma_prot dma;
static bool active;                     /* planned, then built and enabled */
static uint64_t planned_pages;
/* Exits since the last poll, per CPU, a cache line each: every exit writes one. */
static struct { uint32_t n; } __attribute__((aligned(64))) exits_since_poll[LAMINA_MAX_CPUS];
static volatile uint32_t poll_busy;
static struct log_ratelimit overflow_rl = { .burst = 8 };

/* DMA protection cannot be had: a warning under auto, a refused hand-off
 * under required (the loader then follows on-error). */
static int unavailable(const struct lamina_bootinfo *bi, const char *why)
{
    if (bi->dma_mode == LAMINA_DMA_REQUIRED) {
        report_error("dma-protection required: %s", why);
        return -1;
    }
    log_warn("dma protection off: %s", why);
    return 0;
}

int iommu_plan(const struct lamina_bootinfo *bi, uint64_t *pages)
{
    char err[DMA_ERR_LEN];
    *pages = 0;
    active = false;
    if (bi->dma_mode == LAMINA_DMA_OFF) {
        log_info("dma protection off (dma-protection off)");
        return 0;
    }
    if (!bi->dmar_base || !bi->dmar_len)
        return unavailable(bi, "no ACPI DMAR table (the platform reports no IOMMU)");
    if (dma_plan(&dma, &vtd_hw_direct, (const void *)(uintptr_t)bi->dmar_base, bi->dmar_len,
                 bi->phys_limit, true, err, sizeof(err)))
        return unavailable(bi, err);
    if (!dma.dmar.include_all_seg0)
        log_warn("dma: no remapping unit covers every device of segment 0 (INCLUDE_PCI_ALL): "
                 "devices the DMAR does not list are not remapped");
    if (dma_hide(&dma, bi->image_base, bi->image_size))
        return unavailable(bi, "the monitor image is not page aligned");
    planned_pages = *pages = dma_pages(&dma, 1);   /* the data region, placed later */
    for (unsigned i = 0; i < dma.nunits; i++) {
        const struct vtd_unit *u = &dma.unit[i];
        log_info("dma: unit %u at 0x%lx: version %u.%u, %u-level walk, mgaw %u, %s invalidation, "
                 "%scoherent, cap 0x%lx ecap 0x%lx%s", i, u->base, (u->ver >> 4) & 0xf, u->ver & 0xf,
                 u->levels, u->mgaw, u->qi ? "queued" : "register", u->coherent ? "" : "not ",
                 u->cap, u->ecap, (u->gsts_found & VTD_GSTS_TES) ? ", translating already" : "");
    }
    for (unsigned i = 0; i < dma.dmar.nrmrrs; i++)
        log_info("dma: reserved region 0x%lx-0x%lx (DMAR entry %u) stays mapped",
                 dma.dmar.rmrr[i].base, dma.dmar.rmrr[i].end - 1, dma.dmar.rmrr[i].entry);
    active = true;
    return 0;
}

int iommu_setup(const struct lamina_bootinfo *bi, uint64_t *cursor)
{
    char err[DMA_ERR_LEN];
    if (!active)
        return 0;
    struct vtd_pool pool = { .base = (uint8_t *)(uintptr_t)*cursor, .npages = planned_pages };
    *cursor += planned_pages * PAGE;
    if (dma_hide(&dma, bi->data_base, bi->data_size) ||
        dma_build(&dma, &vtd_hw_direct, &pool, err, sizeof(err)) ||
        dma_enable(&dma, &vtd_hw_direct, err, sizeof(err))) {
        active = false;
        return unavailable(bi, err);
    }
    log_info("dma protection on: %u units translate, %lu table pages (map: %lu tables, "
             "1g=%lu 2m=%lu 4k=%lu)", dma.nunits, dma.table_pages, dma.map.tables,
             dma.map.pages_1g, dma.map.pages_2m, dma.map.pages_4k);
    return 0;
}

unsigned iommu_hidden(struct mem_range *out, unsigned max)
{
    struct vtd_range regs[IOMMU_MAX_HIDDEN];
    if (!active)
        return 0;
    unsigned n = dma_reg_ranges(&dma, regs, max < IOMMU_MAX_HIDDEN ? max : IOMMU_MAX_HIDDEN);
    for (unsigned i = 0; i < n; i++)
        out[i] = (struct mem_range){ regs[i].base, regs[i].size };
    return n;
}

void iommu_rollback(void)
{
    if (!active || !dma.enabled)
        return;
    dma_disable(&dma, &vtd_hw_direct);
    log_info("dma protection rolled back: translation off on %u units", dma.nunits);
}

static void record(void *arg, unsigned unit, const struct vtd_fault *f)
{
    uint32_t cpu = *(const uint32_t *)arg;
    evlog_record((uint16_t)cpu, LAMINA_EV_DMA_FAULT, LAMINA_ACT_DENIED,
                 f->sid | (unit & 0xff) << 16 | (uint32_t)f->read << 24, f->addr, f->reason, 0, 0);
}

void iommu_exit(uint32_t cpu, bool now)
{
    if (!active || !dma.enabled || cpu >= LAMINA_MAX_CPUS)
        return;
    if (!now && ++exits_since_poll[cpu].n < IOMMU_POLL_EXITS)
        return;
    exits_since_poll[cpu].n = 0;
    /* One CPU drains at a time; the others do not wait (never in an exit). */
    if (__atomic_exchange_n(&poll_busy, 1, __ATOMIC_ACQUIRE))
        return;
    uint32_t overflow = 0;
    dma_poll(&dma, &vtd_hw_direct, record, &cpu, &overflow);
    __atomic_store_n(&poll_busy, 0, __ATOMIC_RELEASE);
    uint32_t suppressed;
    if (overflow && log_ratelimit_pass(&overflow_rl, &suppressed))
        log_warn("dma: fault records overflowed on units 0x%x: blocked DMAs went unrecorded%s",
                 overflow, suppressed ? " (more suppressed)" : "");
}

void iommu_summary(uint32_t *units, uint64_t *table_pages)
{
    *units = active ? dma.enabled : 0;
    *table_pages = active ? dma.table_pages : 0;
}
