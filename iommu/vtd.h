/* Intel VT-d DMA remapping units: the second-level identity map, the root
 * and context tables, register programming, invalidation and fault records.
 *
 * Contract: Intel VT-d specification (rev. 4.1): 3.4-3.6 legacy-mode
 * address translation (root, context and second-level tables), 6.5
 * invalidation (register-based and the invalidation queue), 7.2-7.3 primary
 * fault logging, 9.1-9.3 and 9.8 the table entry formats, 11.4 the
 * registers. Only legacy mode (RTADDR_REG.TTM = 00) is used.
 *
 * The hardware sits behind small seams (struct vtd_hw: MMIO reads and
 * writes, a cache write-back), and table pages come from a caller's pool, so
 * the same file runs in the monitor (identity mapped, VMX root or firmware
 * context), in a test EFI program under QEMU's intel-iommu model and in host
 * unit tests against a fake register file. Pointers to table pages are
 * physical addresses, as in ept/ept.h. No libc.
 *
 * Lamina's use: every unit sends every source id (all buses, all devfns)
 * through one context entry kind to ONE shared identity map of [0, limit)
 * plus the RMRRs, minus the hidden ranges (monitor memory, the units'
 * register pages). The map is built once before the first guest instruction
 * and never changes afterwards.
 */
#ifndef LAMINA_IOMMU_VTD_H
#define LAMINA_IOMMU_VTD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- registers (11.4) */
#define VTD_VER         0x00
#define VTD_CAP         0x08
#define VTD_ECAP        0x10
#define VTD_GCMD        0x18
#define VTD_GSTS        0x1c
#define VTD_RTADDR      0x20
#define VTD_CCMD        0x28
#define VTD_FSTS        0x34
#define VTD_FECTL       0x38
#define VTD_PMEN        0x64
#define VTD_IQH         0x80
#define VTD_IQT         0x88
#define VTD_IQA         0x90
#define VTD_ICS         0x9c
#define VTD_REGS_MIN    0xa0        /* past the fixed registers Lamina writes (IQA: 0x90-0x97) */

/* CAP_REG (11.4.2) */
#define VTD_CAP_RWBF            (1ull << 4)
#define VTD_CAP_PLMR            (1ull << 5)
#define VTD_CAP_PHMR            (1ull << 6)
#define VTD_CAP_CM              (1ull << 7)
#define VTD_CAP_SAGAW(c)        (((c) >> 8) & 0x1f)
#define VTD_CAP_MGAW(c)         ((unsigned)(((c) >> 16) & 0x3f) + 1)
#define VTD_CAP_FRO(c)          ((((c) >> 24) & 0x3ff) * 16)
#define VTD_CAP_SLLPS(c)        (((c) >> 34) & 0xf)
#define VTD_CAP_NFR(c)          ((unsigned)(((c) >> 40) & 0xff) + 1)
#define VTD_SAGAW_3LEVEL        (1u << 1)   /* 39-bit AGAW */
#define VTD_SAGAW_4LEVEL        (1u << 2)   /* 48-bit AGAW */
#define VTD_SLLPS_2M            (1u << 0)
#define VTD_SLLPS_1G            (1u << 1)

/* ECAP_REG (11.4.3) */
#define VTD_ECAP_C              (1ull << 0)     /* page-walk coherency */
#define VTD_ECAP_QI             (1ull << 1)     /* queued invalidation */
#define VTD_ECAP_IRO(e)         ((((e) >> 8) & 0x3ff) * 16)

/* GCMD_REG / GSTS_REG (11.4.4, 11.4.5) */
#define VTD_GCMD_TE             (1u << 31)
#define VTD_GCMD_SRTP           (1u << 30)
#define VTD_GCMD_WBF            (1u << 27)
#define VTD_GCMD_QIE            (1u << 26)
#define VTD_GCMD_IRE            (1u << 25)
#define VTD_GSTS_TES            VTD_GCMD_TE
#define VTD_GSTS_RTPS           VTD_GCMD_SRTP
#define VTD_GSTS_WBFS           VTD_GCMD_WBF
#define VTD_GSTS_QIES           VTD_GCMD_QIE
#define VTD_GSTS_IRES           VTD_GCMD_IRE
/* GSTS bits that are persistent commands (TE, EAFL, QIE, IRE, CFI): a GCMD
 * write carries them unchanged, plus the one command being given. */
#define VTD_GCMD_KEEP           0x96800000u

/* CCMD_REG (11.4.6.1), IOTLB_REG (11.4.8.1) */
#define VTD_CCMD_ICC            (1ull << 63)
#define VTD_CCMD_GLOBAL         (1ull << 61)    /* CIRG = 01 */
#define VTD_IOTLB_IVT           (1ull << 63)
#define VTD_IOTLB_GLOBAL        (1ull << 60)    /* IIRG = 01 */
#define VTD_IOTLB_DR            (1ull << 49)
#define VTD_IOTLB_DW            (1ull << 48)

/* FSTS_REG (11.4.7.1), FECTL_REG (11.4.7.2), fault records (11.4.14) */
#define VTD_FSTS_PFO            (1u << 0)
#define VTD_FSTS_PPF            (1u << 1)
#define VTD_FSTS_IQE            (1u << 4)
#define VTD_FSTS_ICE            (1u << 5)
#define VTD_FSTS_ITE            (1u << 6)
#define VTD_FSTS_FRI(s)         (((s) >> 8) & 0xff)
#define VTD_FECTL_IM            (1u << 31)
#define VTD_FRCD_F              (1ull << 63)    /* in the upper quadword */
#define VTD_FRCD_T              (1ull << 62)    /* 1: read request */

/* PMEN_REG (11.4.13.1) */
#define VTD_PMEN_EPM            (1u << 31)
#define VTD_PMEN_PRS            (1u << 0)

/* Second-level paging entries (9.8) */
#define VTD_SL_R                (1ull << 0)
#define VTD_SL_W                (1ull << 1)
#define VTD_SL_PS               (1ull << 7)
#define VTD_SL_ADDR             0x000ffffffffff000ull

/* ---------------------------------------------------------------- seams */
struct vtd_hw {
    uint32_t (*read32)(void *ctx, uint64_t addr);
    uint64_t (*read64)(void *ctx, uint64_t addr);
    void (*write32)(void *ctx, uint64_t addr, uint32_t v);
    void (*write64)(void *ctx, uint64_t addr, uint64_t v);
    /* Write [p, p + len) back from the CPU caches to memory (CLFLUSH, then a
     * fence): a unit without page-walk coherency reads memory directly. */
    void (*flush)(void *ctx, const void *p, size_t len);
    void *ctx;
    uint32_t spins;         /* status polls before a command counts as timed out */
};

/* Table pages from a caller's pool, zeroed on hand-out; base NULL counts only. */
struct vtd_pool { uint8_t *base; size_t npages, used; };

struct vtd_range { uint64_t base, size; };      /* 4 KiB aligned */

/* ---------------------------------------------------------------- the map */
struct vtd_map_params {
    uint64_t limit;                 /* map [0, limit), 4 KiB aligned, at most 2^48 */
    const struct vtd_range *extra;  /* mapped too, even above limit (RMRRs) */
    unsigned nextra;
    const struct vtd_range *hidden; /* never mapped, whatever else says */
    unsigned nhidden;
    bool allow_2m, allow_1g;        /* super pages every unit supports (CAP.SLLPS) */
};

struct vtd_map_stats {
    uint64_t tables;                /* table pages, the PML4 included */
    uint64_t pages_4k, pages_2m, pages_1g;
};

#define VTD_ERR_NOMEM   (-1)
#define VTD_ERR_INVAL   (-2)

/* Build the 4-level second-level identity map (9.8): leaves R+W, PS for
 * 2 MiB / 1 GiB leaves where allowed and the range is uniformly mapped,
 * table entries R+W, everything unmapped not present. A 3-level unit walks
 * from the table PML4[0] points at (vtd_sl_root). Returns 0 and the PML4's
 * address, VTD_ERR_NOMEM (pool->used unchanged) or VTD_ERR_INVAL (unaligned
 * limit or range, limit above 2^48, an extra range overlapping a hidden one). */
int vtd_map_build(const struct vtd_map_params *p, struct vtd_pool *pool, uint64_t *pml4,
                  struct vtd_map_stats *st);

/* Is addr mapped in the map at pml4 (a software walk, for tests)? */
bool vtd_map_lookup(uint64_t pml4, uint64_t addr, int *level /* 1=4K 2=2M 3=1G, 0 none */);

/* The 4 KiB leaf slot of addr, or NULL if addr is not under a 4 KiB table. */
uint64_t *vtd_map_pte(uint64_t pml4, uint64_t addr);

/* ---------------------------------------------------------------- units */
struct vtd_unit {
    uint64_t base;                  /* register base */
    uint64_t reg_size;
    uint32_t ver;
    uint64_t cap, ecap;
    unsigned levels;                /* 3 or 4: the walk this unit uses */
    unsigned mgaw;
    bool qi;                        /* invalidation queue (else registers) */
    bool coherent;                  /* ECAP.C */
    uint32_t fro, nfr, iro;         /* fault records and IOTLB register offsets, count */
    uint64_t *root, *context;       /* one root table, one context table for every bus */
    uint64_t *iq;                   /* invalidation queue: one page, 256 descriptors */
    volatile uint32_t *iq_status;   /* wait-descriptor status word (a page of its own) */
    uint32_t iq_tail;               /* next descriptor index */
    uint32_t wait_seq;
    uint32_t gsts_found;            /* GSTS when Lamina found the unit */
    bool enabled;                   /* translation turned on by vtd_enable */
};

/* Read VER/CAP/ECAP and check the unit can do what Lamina needs: a 3- or
 * 4-level second-level walk (SAGAW), register offsets inside the register
 * set, a unit that answers (not all ones). want_qi: use the queue when
 * ECAP.QI offers it. Returns 0 or -1 with err. */
int vtd_probe(struct vtd_unit *u, const struct vtd_hw *hw, uint64_t base, uint64_t reg_size,
              bool want_qi, char *err, size_t errlen);

/* Pages vtd_prepare takes from the pool for one unit. */
#define VTD_UNIT_PAGES 4

/* Root table (every bus to one context table), context table (every devfn
 * present, translation type 00, the unit's address width, domain 1, the
 * second-level root for its walk), invalidation queue page and the page of
 * its status word. Flushes them
 * when the unit is not coherent. VTD_ERR_NOMEM or 0. */
int vtd_prepare(struct vtd_unit *u, const struct vtd_hw *hw, struct vtd_pool *pool, uint64_t pml4);

/* The second-level root a unit of `levels` walks: the PML4, or what PML4[0]
 * points at for 3 levels (covering [0, 512 GiB)). */
uint64_t vtd_sl_root(uint64_t pml4, unsigned levels);

/* Program and turn on: fault interrupt masked, stale faults cleared, write
 * buffer flushed (CAP.RWBF), root table set (SRTP), queue on if used,
 * global context-cache and IOTLB invalidation, translation on (TE), the
 * protected memory regions off once translation covers them. A unit the
 * firmware left translating is taken over without a gap. 0 or -1 with err. */
int vtd_enable(struct vtd_unit *u, const struct vtd_hw *hw, char *err, size_t errlen);

/* Translation and the queue off again (a hand-off that failed). */
int vtd_disable(struct vtd_unit *u, const struct vtd_hw *hw);

/* Global context-cache and IOTLB invalidation, after a change of the map
 * (queue or registers, as the unit runs). 0 or -1 (timeout, queue error). */
int vtd_invalidate(struct vtd_unit *u, const struct vtd_hw *hw);

/* Write [p, p+len) back for the unit if it is not coherent. */
void vtd_flush_for(const struct vtd_unit *u, const struct vtd_hw *hw, const void *p, size_t len);

struct vtd_fault {
    uint64_t addr;          /* page address of the request */
    uint16_t sid;           /* source id: bus << 8 | device << 3 | function */
    uint8_t reason;         /* fault reason (7.1.3, appendix A) */
    bool read;              /* read request (else write) */
};

/* Drain the primary fault records (7.3.1): from FSTS.FRI on, every record
 * with F set is passed to fn and cleared; then PFO is cleared. Returns the
 * records read; *overflow says faults were lost (FSTS.PFO). Reads only
 * FSTS when nothing is pending. */
unsigned vtd_drain_faults(const struct vtd_unit *u, const struct vtd_hw *hw,
                          void (*fn)(void *arg, const struct vtd_fault *f), void *arg,
                          bool *overflow);

/* "not present" etc. for a fault reason. */
const char *vtd_fault_reason(unsigned reason);

#endif
