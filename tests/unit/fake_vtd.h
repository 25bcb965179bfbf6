/* A fake VT-d register file for the unit tests of iommu/vtd.c and
 * iommu/dma.c: enough of a remapping unit (VT-d 11.4) to follow the
 * commands Lamina gives and to notice the ones it must not give. Table and
 * queue pointers are host pointers, as the code under test uses them. */
#ifndef FAKE_VTD_H
#define FAKE_VTD_H

#include <stdbool.h>
#include <stdint.h>
#include "iommu/vtd.h"

#define FAKE_MAX_UNITS 4

struct fake_unit {
    uint64_t base;
    uint32_t ver;
    uint64_t cap, ecap;
    uint32_t gsts;
    uint64_t rtaddr, rt_latched;
    uint64_t ccmd, iotlb;
    uint64_t iqa, iqh, iqt;
    uint32_t fsts, fectl, pmen;
    uint64_t frcd[8][2];
    bool stuck_te;              /* TES never follows TE */
    bool ones;                  /* every register reads all ones */
    /* What happened. */
    unsigned srtp, wbf, te_on, qie_on;
    unsigned cc_global, iotlb_global;        /* by either interface */
    unsigned cc_since_srtp, iotlb_since_srtp;
    unsigned reg_inval, queue_descs, waits;
    unsigned illegal;           /* register invalidation while QIES, queue use without it */
    bool inval_before_te;       /* both invalidations after the last SRTP when TE came on */
    unsigned frcd_reads;
};

struct fake_hw {
    struct fake_unit *unit[FAKE_MAX_UNITS];
    unsigned n;
    unsigned flushes;
    uint64_t flushed_bytes;
};

/* A unit at base like QEMU's: 4 KiB of registers, FRO 0x220, IRO 0xf0,
 * SAGAW 3- and 4-level, 2M/1G super pages, MGAW 48, QI, not coherent. */
void fake_unit_init(struct fake_unit *u, uint64_t base);
/* hw->ctx = f, spins small. */
void fake_hw_init(struct vtd_hw *hw, struct fake_hw *f);
void fake_hw_add(struct fake_hw *f, struct fake_unit *u);

/* A 4 KiB aligned, zeroed pool of n pages (free with fake_pool_free). */
struct vtd_pool fake_pool(size_t n);
void fake_pool_free(struct vtd_pool *p);

#endif
