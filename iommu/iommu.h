/* DMA protection in the monitor (M8): the hooks core/ and vmx/ call.
 *
 *   api_plan  (core/entry.c)  iommu_plan: parse the DMAR, probe the units,
 *                             decide by lamina.conf's dma-protection; the
 *                             pages the tables take
 *   api_setup (core/entry.c)  iommu_setup: the tables, from the data region,
 *                             and translation on, before the EPT is built
 *   plan, setup               iommu_hidden: the register pages the backend's
 *                             guest-physical map hides (mon.hidden[3..nhidden),
 *                             vmx/setup.c hidden_ranges)
 *   rollback  (core/entry.c)  iommu_rollback: translation off (hand-off failed)
 *   VM exit   (core/backend.h vcpu_begin)  iommu_exit: drain the fault
 *                             records now and then
 *   seal      (core/entry.c)  iommu_summary: units translating, table pages
 *
 * Runs in firmware context (plan, setup, enable, rollback) and in VMX root
 * (iommu_exit), never allocates after setup. */
#ifndef LAMINA_IOMMU_IOMMU_H
#define LAMINA_IOMMU_IOMMU_H

#include <stdbool.h>
#include <stdint.h>
#include "core/bootinfo.h"

struct mem_range;           /* core/monitor.h */

#define IOMMU_MAX_HIDDEN 16     /* register ranges the EPT hides (DMAR_MAX_UNITS) */

/* 0 (DMA protection planned, or off where the mode allows it) or -1 with
 * report_error set (dma-protection required). *pages: table pages to
 * reserve in the data region. */
int iommu_plan(const struct lamina_bootinfo *bi, uint64_t *pages);

/* Build the tables at *cursor (advanced by the pages iommu_plan counted)
 * and turn translation on in every unit. 0, or -1 with report_error. */
int iommu_setup(const struct lamina_bootinfo *bi, uint64_t *cursor);

/* The register ranges of the units in use (none once DMA protection is off),
 * which the EPT hides like monitor memory: up to max into out; the count. */
unsigned iommu_hidden(struct mem_range *out, unsigned max);

void iommu_rollback(void);

/* At each VM exit: every IOMMU_POLL_EXITS exits of this CPU, or at once
 * when `now` (a hypercall may read the event log), drain the fault records
 * into the event log. */
#define IOMMU_POLL_EXITS 64
void iommu_exit(uint32_t cpu, bool now);

void iommu_summary(uint32_t *units, uint64_t *table_pages);

#endif
