/* EPT identity map builder (Intel SDM Vol. 3C 29.3).
 *
 * Builds a 4-level EPT that maps guest-physical [0, limit) onto the same host
 * physical addresses with read/write/execute, the memory type of each leaf taken
 * from the host MTRRs (ept/mtrr.h) and IPAT clear, so that the guest PAT combines
 * with it as the MTRRs would have without EPT (SDM 3C 29.3.7.2). Hidden ranges
 * (monitor memory) are mapped with non-present 4 KiB entries.
 *
 * Table pages come from a caller-supplied pool of 4 KiB pages. In the monitor
 * pointers are physical addresses (it runs identity mapped); in unit tests heap
 * pointers stand for physical addresses.
 */
#ifndef LAMINA_EPT_EPT_H
#define LAMINA_EPT_EPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ept/mtrr.h"

/* EPT paging-structure entry bits (SDM 3C 29.3.2, Tables 29-1..29-6). */
#define EPT_R            (1ull << 0)
#define EPT_W            (1ull << 1)
#define EPT_X            (1ull << 2)
#define EPT_RWX          (EPT_R | EPT_W | EPT_X)
#define EPT_MT_SHIFT     3
#define EPT_MT_MASK      (7ull << EPT_MT_SHIFT)   /* leaf only */
#define EPT_IPAT         (1ull << 6)              /* leaf only */
#define EPT_LARGE        (1ull << 7)              /* PDPTE: 1 GiB leaf, PDE: 2 MiB leaf */
#define EPT_ADDR_MASK    0x000FFFFFFFFFF000ull    /* bits 51:12 */

#define EPT_PAGE_4K      0x1000ull
#define EPT_PAGE_2M      0x200000ull
#define EPT_PAGE_1G      0x40000000ull
#define EPT_PAGE_512G    0x8000000000ull
#define EPT_MAX_GPA      (1ull << 48)             /* 4-level walk covers 48 bits */

/* Error codes of ept_build / ept_set_page. */
#define EPT_ERR_NOMEM    (-1)   /* pool ran out */
#define EPT_ERR_INVAL    (-2)   /* bad parameters */

struct ept_pool { uint8_t *base; size_t npages; size_t used; };  /* base NULL => count only */

struct ept_stats {
    uint64_t pages_1g, pages_2m;
    uint64_t pages_4k;    /* present 4 KiB leaves */
    uint64_t tables;      /* table pages this build used (PML4 included) */
    uint64_t hidden_4k;   /* non-present 4 KiB leaves for hidden ranges */
};


struct ept_params {
    const struct mtrr_state *mtrr;
    uint64_t limit;                 /* map [0, limit) identity; limit 4 KiB aligned */
    const struct mem_range *hidden; /* guest may not access these at all: entry present bits 0 */
    unsigned nhidden;
    bool allow_1g;                  /* IA32_VMX_EPT_VPID_CAP bit 17 */
};

/* Build a 4-level EPT identity map. Returns 0 and the PML4 address in *pml4_out, or
 * EPT_ERR_NOMEM (-1) when the pool runs out, or EPT_ERR_INVAL (-2) for bad
 * parameters (mtrr NULL; limit not 4 KiB aligned, above 2^48 or above
 * 2^MAXPHYADDR; a hidden range misaligned or wrapping; a real pool whose base is
 * not 4 KiB aligned).
 *
 * Pages are taken from pool->base + pool->used * 4096 on; pool->used is advanced
 * by the number used (set used = 0 for a fresh pool). On failure pool->used is
 * left as it was. Counting mode (pool->base == NULL) touches no memory and ignores
 * npages: it advances pool->used by exactly what a real build would use, fills
 * *st, and stores 0 in *pml4_out. pml4_out and st may be NULL.
 *
 * Hidden ranges are clipped to [0, limit); parts above limit get no entries. */
int ept_build(const struct ept_params *p, struct ept_pool *pool, uint64_t *pml4_out,
              struct ept_stats *st);

/* The leaf entry that maps gpa: a PTE (*level 1), a 2 MiB PDE (2) or a 1 GiB PDPTE
 * (3). A PTE slot is returned even if the entry is non-present (hidden pages).
 * Returns NULL (and *level 0) if a non-leaf entry on the way is not present
 * (gpa beyond limit) or gpa >= 2^48. level may be NULL. */
uint64_t *ept_leaf(uint64_t pml4, uint64_t gpa, int *level /* 1=4K 2=2M 3=1G */);

/* Make the 4 KiB page at gpa point at hpa with permissions perm (EPT_R/W/X bits),
 * memory type WB (hpa is monitor-owned RAM; SDM 3C 29.3.7), IPAT clear; or restore
 * it to non-present (hpa == 0 && perm == 0, the entry becomes 0). Returns 0, or
 * EPT_ERR_INVAL if gpa is not mapped by a 4 KiB entry, hpa is misaligned or above
 * bits 51:12, perm has bits other than R/W/X, perm is write-without-read (SDM 3C
 * 29.3.3.1: an EPT misconfiguration), or perm == 0 with hpa != 0. The caller must
 * INVEPT afterwards (SDM 3C 29.4.3.1). */
int ept_set_page(uint64_t pml4, uint64_t gpa, uint64_t hpa, unsigned perm);
/* The same with an explicit memory type (ept_set_page uses WB). */
int ept_set_page_typed(uint64_t pml4, uint64_t gpa, uint64_t hpa, unsigned perm, uint8_t type);

/* EPTP value for VMCS: WB paging-structure memory type (6), 4-level walk (page-walk
 * length 3 in bits 5:3), accessed/dirty off (SDM 3C 25.6.11). */
uint64_t ept_eptp(uint64_t pml4);

/* After the guest changed the MTRRs: re-derive the memory type of every leaf
 * that maps its own address (monitor pages lent to the sink are left alone).
 * A large leaf whose range is no longer of one type is split into the next
 * level with table pages from `reserve` (filled at setup: this never
 * allocates, so it may run in an exit handler); with the reserve exhausted the
 * leaf becomes UC, which is always a safe type. Each entry changes with one
 * 64-bit store, a new table being complete before it is linked in. The caller
 * invalidates (INVEPT) on every CPU using this EPT. */
struct ept_retype_stats {
    uint64_t changed;       /* leaves whose type changed */
    uint64_t split;         /* large leaves replaced by a table */
    uint64_t fallback_uc;   /* mixed large leaves made UC for lack of reserve */
};
void ept_retype(uint64_t pml4, const struct mtrr_state *mtrr, struct ept_pool *reserve,
                struct ept_retype_stats *st);

/* M6: map the still unmapped guest-physical address gpa, above the built map
 * and below p->limit (2^MAXPHYADDR here), as identity with the MTRRs' type:
 * the largest leaf that is of one type (1 GiB if p->allow_1g), tables from
 * `reserve`. 0 (also when another CPU mapped it first), EPT_ERR_NOMEM with the
 * reserve used up (nothing linked), EPT_ERR_INVAL at or above p->limit or
 * 2^48, or where the region would cover one of p->hidden. The caller holds the
 * lock that serializes EPT changes; no INVEPT is needed for a new mapping
 * (an EPT violation invalidates what the processor cached, SDM 3C 29.4.3). */
int ept_map_above(uint64_t pml4, uint64_t gpa, const struct ept_params *p,
                  struct ept_pool *reserve);

#endif
