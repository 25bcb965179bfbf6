/* DMA protection over every remapping unit of the platform: the steps the
 * monitor takes, in an order a test can take too.
 *
 *   dma_plan     parse the DMAR (iommu/dmar.h), probe every unit
 *                (iommu/vtd.h), choose what the shared map may use
 *   dma_hide     add ranges no device may reach (monitor memory)
 *   dma_pages    table pages the build will take, for the memory plan
 *   dma_build    the shared second-level identity map and each unit's root
 *                and context tables, from a pool of pages
 *   dma_enable   translation on, unit by unit (all or nothing)
 *   dma_poll     drain the fault records of every unit
 *   dma_disable  translation off again (a hand-off that failed)
 *
 * Pure: hardware behind struct vtd_hw, memory from struct vtd_pool, no
 * libc, so the monitor (iommu/iommu.c), the QEMU test program
 * (test-guests/dma.c) and the unit tests run this same code. */
#ifndef LAMINA_IOMMU_DMA_H
#define LAMINA_IOMMU_DMA_H

#include "iommu/dmar.h"
#include "iommu/vtd.h"

#define DMA_MAX_HIDDEN  (8 + DMAR_MAX_UNITS)
#define DMA_ERR_LEN     192

struct dma_prot {
    struct dmar_info dmar;
    struct vtd_unit unit[DMAR_MAX_UNITS];
    unsigned nunits;
    uint64_t limit;                     /* map [0, limit) and the RMRRs */
    bool allow_2m, allow_1g;            /* super pages every unit walks (CAP.SLLPS) */
    bool coherent;                      /* every unit snoops its table reads (ECAP.C) */
    struct vtd_range hidden[DMA_MAX_HIDDEN];   /* register pages first, then dma_hide's */
    unsigned nhidden;
    struct vtd_range rmrr[DMAR_MAX_RMRRS];
    uint64_t pml4;                      /* the shared map, once built */
    struct vtd_map_stats map;
    uint64_t table_pages;               /* every page dma_build took */
    unsigned enabled;                   /* units with translation on */
};

/* Parse the `len` bytes of DMAR at `dmar`, probe each unit through hw, and
 * plan a map of [0, limit) (4 KiB aligned). want_qi: use the invalidation
 * queue where a unit offers it. 0, or -1 with one line in err naming the
 * table entry or unit and the field. The units' register pages become the
 * first hidden ranges. */
int dma_plan(struct dma_prot *d, const struct vtd_hw *hw, const void *dmar, size_t len,
             uint64_t limit, bool want_qi, char *err, size_t errlen);

/* One more range no device may reach. -1 when full or unaligned. */
int dma_hide(struct dma_prot *d, uint64_t base, uint64_t size);

/* Register pages of every unit (what the EPT must hide from the CPU too):
 * copies up to max ranges to out, returns the count. */
unsigned dma_reg_ranges(const struct dma_prot *d, struct vtd_range *out, unsigned max);

/* Pages dma_build will take with the ranges hidden so far, plus room for
 * `later` more hidden ranges not yet placed (each can split a table at
 * both ends on every level). */
uint64_t dma_pages(const struct dma_prot *d, unsigned later);

/* Build the map and every unit's tables from pool (flushed from the caches
 * where a unit is not coherent). 0, or -1 with err (an RMRR overlapping a
 * hidden range, out of pages). */
int dma_build(struct dma_prot *d, const struct vtd_hw *hw, struct vtd_pool *pool, char *err,
              size_t errlen);

/* Translation on for every unit; if one fails, the ones before are turned
 * off again and -1 comes back with err. */
int dma_enable(struct dma_prot *d, const struct vtd_hw *hw, char *err, size_t errlen);

void dma_disable(struct dma_prot *d, const struct vtd_hw *hw);

/* Drain every enabled unit's fault records; fn(arg, unit index, fault).
 * *overflow (may be NULL) gets the units whose records overflowed, as a
 * bit mask. Returns the faults read. */
unsigned dma_poll(struct dma_prot *d, const struct vtd_hw *hw,
                  void (*fn)(void *arg, unsigned unit, const struct vtd_fault *f), void *arg,
                  uint32_t *overflow);

#endif
