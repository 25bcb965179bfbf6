/* EPT identity map builder. Contract: Intel SDM Vol. 3C 29.3 (EPT), 29.3.7 (memory
 * typing), 25.6.11 (EPTP); Vol. 3A 12.11 for the MTRR types (ept/mtrr.c). */
#include "ept/ept.h"

#include <string.h>

#define ENTRIES 512u

struct builder {
    const struct ept_params *p;
    struct ept_pool *pool;
    bool counting;
    struct ept_stats st;
};

static uint64_t *to_ptr(uint64_t pa)
{
    return (uint64_t *)(uintptr_t)pa;
}

static uint64_t to_pa(const uint64_t *ptr)
{
    return (uint64_t)(uintptr_t)ptr;
}

/* One zeroed 4 KiB table page, or (counting mode) just a tally. *tab is NULL in
 * counting mode; put() then writes nothing. */
static int alloc_table(struct builder *b, uint64_t **tab)
{
    *tab = NULL;
    if (!b->counting) {
        if (b->pool->used >= b->pool->npages)
            return EPT_ERR_NOMEM;
        uint8_t *pg = b->pool->base + b->pool->used * EPT_PAGE_4K;
        /* Unused entries must read as not present (bits 2:0 = 0, SDM 3C 29.3.2). */
        memset(pg, 0, EPT_PAGE_4K);
        *tab = (uint64_t *)(void *)pg;
    }
    b->pool->used++;
    b->st.tables++;
    return 0;
}

static void put(uint64_t *tab, unsigned idx, uint64_t val)
{
    if (tab)
        tab[idx] = val;
}

static bool hidden_overlaps(const struct builder *b, uint64_t base, uint64_t size)
{
    for (unsigned i = 0; i < b->p->nhidden; i++) {
        const struct mem_range *h = &b->p->hidden[i];
        if (h->size != 0 && h->base < base + size && base < h->base + h->size)
            return true;
    }
    return false;
}

/* Leaf entry: R/W/X, EPT memory type from the MTRRs in bits 5:3, IPAT (bit 6) clear
 * so the guest PAT type combines with it (SDM 3C 29.3.7.2), bit 7 for large pages
 * (SDM 3C 29.3.2 Tables 29-2, 29-4, 29-6). */
static uint64_t leaf(uint64_t addr, uint8_t type, bool large)
{
    return addr | EPT_RWX | ((uint64_t)type << EPT_MT_SHIFT) | (large ? EPT_LARGE : 0);
}

/* Non-leaf entry: R/W/X all set so that the leaf alone decides the access rights;
 * bits 7:3 reserved, must be 0 (SDM 3C 29.3.2 Tables 29-1, 29-3, 29-5). */
static uint64_t table_entry(const uint64_t *tab)
{
    return to_pa(tab) | EPT_RWX;
}

/* Can [a, a+size) be one leaf: inside [0, limit), no hidden page, one memory type
 * (SDM 3A 12.11.9: a large page must not span several MTRR types). Alignment is
 * given by the caller's loop. */
static bool large_ok(const struct builder *b, uint64_t a, uint64_t size, uint8_t *type)
{
    if (a + size > b->p->limit || hidden_overlaps(b, a, size))
        return false;
    *type = mtrr_type_of_range(b->p->mtrr, a, size);
    return *type != MT_MIXED;
}

/* What one entry maps at each level: 1 = PT, 2 = PD, 3 = PDPT, 4 = PML4. */
static const uint64_t level_size[5] = { 0, EPT_PAGE_4K, EPT_PAGE_2M, EPT_PAGE_1G, EPT_PAGE_512G };

/* A leaf may sit in a PD (2 MiB) or, if IA32_VMX_EPT_VPID_CAP[17], in a PDPT
 * (1 GiB) (SDM 3C 29.3.2, A.10); PT entries are always leaves. */
static bool large_leaf_allowed(const struct builder *b, int level)
{
    return level == 2 || (level == 3 && b->p->allow_1g);
}

/* One table of the given level covering [base, base + 512 entries), recursing
 * where an entry cannot be a single leaf. Entries at or beyond limit stay not
 * present and get no table. */
static int build_level(struct builder *b, int level, uint64_t base, uint64_t **out)
{
    uint64_t *tab;
    int rc = alloc_table(b, &tab);
    if (rc)
        return rc;
    uint64_t size = level_size[level];
    for (unsigned i = 0; i < ENTRIES; i++) {
        uint64_t a = base + (uint64_t)i * size;
        uint8_t type;
        if (a >= b->p->limit)
            break;
        if (level == 1 && hidden_overlaps(b, a, size)) {
            /* Not present: bits 2:0 = 0 (SDM 3C 29.3.2); the slot stays for
             * ept_set_page. */
            put(tab, i, 0);
            b->st.hidden_4k++;
        } else if (level == 1) {
            put(tab, i, leaf(a, mtrr_type_of_page(b->p->mtrr, a), false));
            b->st.pages_4k++;
        } else if (large_leaf_allowed(b, level) && large_ok(b, a, size, &type)) {
            put(tab, i, leaf(a, type, true));
            if (level == 3)
                b->st.pages_1g++;
            else
                b->st.pages_2m++;
        } else {
            uint64_t *next;
            rc = build_level(b, level - 1, a, &next);
            if (rc)
                return rc;
            put(tab, i, table_entry(next));
        }
    }
    *out = tab;
    return 0;
}

static bool params_ok(const struct ept_params *p, const struct ept_pool *pool)
{
    if (!p || !pool || !p->mtrr)
        return false;
    if (p->limit & (EPT_PAGE_4K - 1))
        return false;
    /* A 4-level walk translates 48 bits (SDM 3C 29.3.2); leaf addresses beyond
     * MAXPHYADDR would set reserved bits: an EPT misconfiguration (SDM 3C 29.3.3.1). */
    if (p->limit > EPT_MAX_GPA || (p->limit && p->limit - 1 > p->mtrr->phys_mask))
        return false;
    if (p->nhidden && !p->hidden)
        return false;
    for (unsigned i = 0; i < p->nhidden; i++) {
        const struct mem_range *h = &p->hidden[i];
        if ((h->base | h->size) & (EPT_PAGE_4K - 1))
            return false;
        if (h->base + h->size < h->base)
            return false;
    }
    if (pool->base && ((uintptr_t)pool->base & (EPT_PAGE_4K - 1)))
        return false;
    return true;
}

int ept_build(const struct ept_params *p, struct ept_pool *pool, uint64_t *pml4_out,
              struct ept_stats *st)
{
    if (!params_ok(p, pool))
        return EPT_ERR_INVAL;

    struct builder b = { .p = p, .pool = pool, .counting = pool->base == NULL };
    size_t used0 = pool->used;
    uint64_t *pml4;
    int rc = build_level(&b, 4, 0, &pml4);
    if (rc) {
        pool->used = used0;
        return rc;
    }
    if (pml4_out)
        *pml4_out = to_pa(pml4);
    if (st)
        *st = b.st;
    return 0;
}

uint64_t *ept_leaf(uint64_t pml4, uint64_t gpa, int *level)
{
    if (level)
        *level = 0;
    if (pml4 == 0 || gpa >= EPT_MAX_GPA)
        return NULL;
    /* SDM 3C 29.3.2: PML4 index bits 47:39, PDPT 38:30, PD 29:21, PT 20:12. */
    uint64_t *t = to_ptr(pml4 & EPT_ADDR_MASK);
    for (int lvl = 4;; lvl--) {
        uint64_t *pe = &t[(gpa >> (12 + 9 * (lvl - 1))) & 511];
        if (lvl == 1 || (lvl <= 3 && (*pe & EPT_RWX) && (*pe & EPT_LARGE))) {
            if (level)
                *level = lvl;
            return pe;
        }
        if (!(*pe & EPT_RWX))
            return NULL;
        t = to_ptr(*pe & EPT_ADDR_MASK);
    }
}

int ept_set_page(uint64_t pml4, uint64_t gpa, uint64_t hpa, unsigned perm)
{
    return ept_set_page_typed(pml4, gpa, hpa, perm, MT_WB);
}

int ept_set_page_typed(uint64_t pml4, uint64_t gpa, uint64_t hpa, unsigned perm, uint8_t type)
{
    int level;
    uint64_t *pte = ept_leaf(pml4, gpa, &level);
    if (!pte || level != 1)
        return EPT_ERR_INVAL;
    if (perm & ~(unsigned)EPT_RWX)
        return EPT_ERR_INVAL;
    /* SDM 3C 29.3.3.1: write-only (010b) and write+execute (110b) are EPT
     * misconfigurations. Execute-only (100b) needs IA32_VMX_EPT_VPID_CAP[0]; the
     * caller checks that. */
    if ((perm & EPT_W) && !(perm & EPT_R))
        return EPT_ERR_INVAL;
    if (hpa & ~EPT_ADDR_MASK)
        return EPT_ERR_INVAL;

    uint64_t val;
    if (perm == 0) {
        if (hpa != 0)
            return EPT_ERR_INVAL;
        val = 0;
    } else {
        if (type != MT_UC && type != MT_WC && type != MT_WT && type != MT_WP && type != MT_WB)
            return EPT_ERR_INVAL;
        val = hpa | perm | ((uint64_t)type << EPT_MT_SHIFT);
    }
    /* One 64-bit store: other CPUs walking the table see the old or new entry. */
    __atomic_store_n(pte, val, __ATOMIC_RELEASE);
    return 0;
}

static uint64_t *reserve_take(struct ept_pool *reserve)
{
    if (!reserve || !reserve->base || reserve->used >= reserve->npages)
        return NULL;
    return (uint64_t *)(void *)(reserve->base + reserve->used++ * EPT_PAGE_4K);
}

static uint8_t leaf_type(const uint64_t e)
{
    return (uint8_t)((e & EPT_MT_MASK) >> EPT_MT_SHIFT);
}

static void retype_table(uint64_t *tab, int level, uint64_t base, const struct mtrr_state *m,
                         struct ept_pool *reserve, struct ept_retype_stats *st)
{
    uint64_t size = level_size[level];
    for (unsigned i = 0; i < ENTRIES; i++) {
        uint64_t e = tab[i], a = base + (uint64_t)i * size;
        if (!(e & EPT_RWX))
            continue;
        if (level == 4 || (level > 1 && !(e & EPT_LARGE))) {
            retype_table(to_ptr(e & EPT_ADDR_MASK), level - 1, a, m, reserve, st);
            continue;
        }
        if ((e & EPT_ADDR_MASK) != a)
            continue;       /* not an identity leaf: a monitor page lent the sink */
        uint8_t type = level == 1 ? mtrr_type_of_page(m, a) : mtrr_type_of_range(m, a, size);
        if (type == MT_MIXED) {
            uint64_t *sub = reserve_take(reserve);
            if (sub) {
                /* Same rights and old type first, then typed one by one. */
                uint64_t sub_size = level_size[level - 1];
                for (unsigned j = 0; j < ENTRIES; j++)
                    sub[j] = (a + (uint64_t)j * sub_size) | (e & (EPT_RWX | EPT_IPAT | EPT_MT_MASK)) |
                             (level - 1 > 1 ? EPT_LARGE : 0);
                retype_table(sub, level - 1, a, m, reserve, st);
                __atomic_store_n(&tab[i], table_entry(sub), __ATOMIC_RELEASE);
                st->split++;
                continue;
            }
            type = MT_UC;
            st->fallback_uc++;
        }
        if (type != leaf_type(e)) {
            __atomic_store_n(&tab[i], (e & ~EPT_MT_MASK) | ((uint64_t)type << EPT_MT_SHIFT),
                             __ATOMIC_RELEASE);
            st->changed++;
        }
    }
}

void ept_retype(uint64_t pml4, const struct mtrr_state *mtrr, struct ept_pool *reserve,
                struct ept_retype_stats *st)
{
    struct ept_retype_stats local = { 0 };
    if (pml4 && mtrr)
        retype_table(to_ptr(pml4 & EPT_ADDR_MASK), 4, 0, mtrr, reserve, &local);
    if (st)
        *st = local;
}

uint64_t ept_eptp(uint64_t pml4)
{
    /* SDM 3C 25.6.11: bits 2:0 paging-structure memory type (6 = WB, allowed if
     * IA32_VMX_EPT_VPID_CAP[14]; SDM 3C 29.3.7.1), bits 5:3
     * page-walk length - 1 (3 for 4 levels), bit 6 A/D enable (0), 51:12 PML4. */
    return (pml4 & EPT_ADDR_MASK) | MT_WB | (3ull << 3);
}

/* M6: the guest-physical space above the built map (64-bit BARs, "above 4G
 * decoding", not in any memory map) is mapped on first touch: the entry
 * missing on the way to gpa becomes the largest leaf the MTRRs allow (1 GiB
 * where IA32_VMX_EPT_VPID_CAP[17] says so), or a table of the next level
 * typed by retype_table, which splits what is mixed. Table pages come from
 * the reserve, nothing is allocated: one PDPT per 512 GiB slot, a PD per
 * GiB only where 1 GiB leaves are not allowed or the types mix. Each new
 * table is complete before the single store that links it. */
int ept_map_above(uint64_t pml4, uint64_t gpa, const struct ept_params *p,
                  struct ept_pool *reserve)
{
    if (!pml4 || !p || !p->mtrr || gpa >= p->limit || gpa >= EPT_MAX_GPA)
        return EPT_ERR_INVAL;
    uint64_t *tab = to_ptr(pml4 & EPT_ADDR_MASK);
    for (int level = 4; level >= 1; level--) {
        uint64_t size = level_size[level], base = gpa & ~(size - 1);
        uint64_t *slot = &tab[(gpa >> (12 + 9 * (level - 1))) & (ENTRIES - 1)];
        uint64_t e = *slot;
        if (e & EPT_RWX) {
            if (level == 1 || (level < 4 && (e & EPT_LARGE)))
                return 0;       /* mapped already (another CPU was first) */
            tab = to_ptr(e & EPT_ADDR_MASK);
            continue;
        }
        for (unsigned i = 0; i < p->nhidden; i++)
            if (p->hidden[i].size && p->hidden[i].base < base + size &&
                base < p->hidden[i].base + p->hidden[i].size)
                return EPT_ERR_INVAL;
        if (level == 1) {
            __atomic_store_n(slot, leaf(base, mtrr_type_of_page(p->mtrr, base), false),
                             __ATOMIC_RELEASE);
            return 0;
        }
        uint8_t type = level < 4 ? mtrr_type_of_range(p->mtrr, base, size) : MT_MIXED;
        if (type != MT_MIXED && (level == 2 || (level == 3 && p->allow_1g))) {
            __atomic_store_n(slot, leaf(base, type, true), __ATOMIC_RELEASE);
            return 0;
        }
        uint64_t *sub = reserve_take(reserve);
        if (!sub)
            return EPT_ERR_NOMEM;
        memset(sub, 0, EPT_PAGE_4K);
        if (level == 4) {       /* a new 512 GiB slot: its PDPT, filled below */
            __atomic_store_n(slot, table_entry(sub), __ATOMIC_RELEASE);
            tab = sub;
            continue;
        }
        uint64_t sub_size = level_size[level - 1];
        for (unsigned j = 0; j < ENTRIES; j++)
            sub[j] = leaf(base + j * sub_size, MT_UC, level - 1 > 1);
        struct ept_retype_stats st = { 0 };
        retype_table(sub, level - 1, base, p->mtrr, reserve, &st);
        __atomic_store_n(slot, table_entry(sub), __ATOMIC_RELEASE);
        return 0;
    }
    return EPT_ERR_INVAL;
}
