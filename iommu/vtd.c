/* VT-d remapping units (iommu/vtd.h). Section numbers are the VT-d
 * specification's (rev. 4.1). */
#include "iommu/vtd.h"
#include "iommu/msg.h"

#define PAGE        4096ull
#define ENTRIES     512u
#define MAX_ADDR    (1ull << 48)        /* a 4-level walk */

static uint64_t *ptr(uint64_t pa) { return (uint64_t *)(uintptr_t)pa; }
static uint64_t pa(const void *p) { return (uint64_t)(uintptr_t)p; }

/* ================================================================ the map */

static const uint64_t level_size[5] = { 0, 1ull << 12, 1ull << 21, 1ull << 30, 1ull << 39 };

enum cover { COVER_NONE, COVER_ALL, COVER_MIXED };

struct builder {
    const struct vtd_map_params *p;
    struct vtd_pool *pool;
    struct vtd_map_stats st;
};

static bool overlaps(const struct vtd_range *r, unsigned n, uint64_t a, uint64_t size)
{
    for (unsigned i = 0; i < n; i++)
        if (r[i].size && r[i].base < a + size && a < r[i].base + r[i].size)
            return true;
    return false;
}

static bool inside_one(const struct vtd_range *r, unsigned n, uint64_t a, uint64_t size)
{
    for (unsigned i = 0; i < n; i++)
        if (r[i].size && r[i].base <= a && a + size <= r[i].base + r[i].size)
            return true;
    return false;
}

/* Is [a, a+size) mapped everywhere, nowhere, or in part? Conservative (a
 * range under several hidden ranges at once counts as mixed), and exact for
 * a 4 KiB page since every range is 4 KiB aligned. */
static enum cover cover(const struct builder *b, uint64_t a, uint64_t size)
{
    const struct vtd_map_params *p = b->p;
    if (inside_one(p->hidden, p->nhidden, a, size))
        return COVER_NONE;
    if (a >= p->limit && !overlaps(p->extra, p->nextra, a, size))
        return COVER_NONE;
    if ((a + size <= p->limit || inside_one(p->extra, p->nextra, a, size)) &&
        !overlaps(p->hidden, p->nhidden, a, size))
        return COVER_ALL;
    return COVER_MIXED;
}

/* A zeroed page from the pool; NULL in counting mode (only counted);
 * NO_PAGE when the pool is used up. */
#define NO_PAGE ((uint64_t *)(uintptr_t)1)

static uint64_t *take_page(struct vtd_pool *pool)
{
    if (!pool->base) {
        pool->used++;
        return NULL;
    }
    if (pool->used >= pool->npages)
        return NO_PAGE;
    uint64_t *pg = (uint64_t *)(void *)(pool->base + pool->used++ * PAGE);
    for (unsigned i = 0; i < ENTRIES; i++)
        pg[i] = 0;          /* not present (9.8: R = W = 0) */
    return pg;
}

static void put(uint64_t *tab, unsigned i, uint64_t v)
{
    if (tab)
        tab[i] = v;
}

static bool large_allowed(const struct builder *b, int level)
{
    return (level == 2 && b->p->allow_2m) || (level == 3 && b->p->allow_1g);
}

static int build_level(struct builder *b, int level, uint64_t base, uint64_t **out)
{
    uint64_t *tab = take_page(b->pool);
    if (tab == NO_PAGE)
        return VTD_ERR_NOMEM;
    b->st.tables++;
    uint64_t size = level_size[level];
    for (unsigned i = 0; i < ENTRIES; i++) {
        uint64_t a = base + i * size;
        enum cover c = cover(b, a, size);
        if (c == COVER_NONE)
            continue;
        if (level == 1) {
            /* Exact at 4 KiB: COVER_ALL. Leaf (9.8, table 9-31): R, W, address. */
            put(tab, i, a | VTD_SL_R | VTD_SL_W);
            b->st.pages_4k++;
        } else if (c == COVER_ALL && large_allowed(b, level)) {
            /* A super-page leaf: PS (bit 7) in an SL-PDE (2 MiB) or SL-PDPE (1 GiB). */
            put(tab, i, a | VTD_SL_R | VTD_SL_W | VTD_SL_PS);
            if (level == 2)
                b->st.pages_2m++;
            else
                b->st.pages_1g++;
        } else {
            uint64_t *next;
            int rc = build_level(b, level - 1, a, &next);
            if (rc)
                return rc;
            /* Table entry: R and W set, so the leaf alone decides (3.6). */
            put(tab, i, pa(next) | VTD_SL_R | VTD_SL_W);
        }
    }
    *out = tab;
    return 0;
}

static bool ranges_ok(const struct vtd_range *r, unsigned n, bool must_fit)
{
    if (n && !r)
        return false;
    for (unsigned i = 0; i < n; i++) {
        if ((r[i].base | r[i].size) & (PAGE - 1) || r[i].base + r[i].size < r[i].base)
            return false;
        if (must_fit && r[i].base + r[i].size > MAX_ADDR)
            return false;
    }
    return true;
}

int vtd_map_build(const struct vtd_map_params *p, struct vtd_pool *pool, uint64_t *pml4,
                  struct vtd_map_stats *st)
{
    if (!p || !pool || (p->limit & (PAGE - 1)) || p->limit > MAX_ADDR ||
        !ranges_ok(p->extra, p->nextra, true) || !ranges_ok(p->hidden, p->nhidden, false) ||
        (pool->base && ((uintptr_t)pool->base & (PAGE - 1))))
        return VTD_ERR_INVAL;
    for (unsigned i = 0; i < p->nextra; i++)
        if (overlaps(p->hidden, p->nhidden, p->extra[i].base, p->extra[i].size))
            return VTD_ERR_INVAL;
    struct builder b = { .p = p, .pool = pool };
    size_t used0 = pool->used;
    uint64_t *root = NULL;
    int rc = build_level(&b, 4, 0, &root);
    if (rc) {
        pool->used = used0;
        return rc;
    }
    if (pml4)
        *pml4 = pa(root);
    if (st)
        *st = b.st;
    return 0;
}

static uint64_t *walk(uint64_t pml4, uint64_t addr, int *level)
{
    *level = 0;
    if (!pml4 || addr >= MAX_ADDR)
        return NULL;
    uint64_t *t = ptr(pml4);
    for (int l = 4; l >= 1; l--) {
        uint64_t *e = &t[(addr >> (12 + 9 * (l - 1))) & 511];
        if (l == 1 || !(*e & (VTD_SL_R | VTD_SL_W)) || (*e & VTD_SL_PS)) {
            *level = l;
            return e;
        }
        t = ptr(*e & VTD_SL_ADDR);
    }
    return NULL;
}

bool vtd_map_lookup(uint64_t pml4, uint64_t addr, int *level)
{
    int l;
    uint64_t *e = walk(pml4, addr, &l);
    bool mapped = e && (*e & (VTD_SL_R | VTD_SL_W)) == (VTD_SL_R | VTD_SL_W);
    if (level)
        *level = mapped ? l : 0;
    return mapped;
}

uint64_t *vtd_map_pte(uint64_t pml4, uint64_t addr)
{
    int l;
    uint64_t *e = walk(pml4, addr, &l);
    return e && l == 1 ? e : NULL;
}

uint64_t vtd_sl_root(uint64_t pml4, unsigned levels)
{
    if (levels == 4 || !pml4)
        return pml4;
    return ptr(pml4)[0] & VTD_SL_ADDR;
}

/* ================================================================ registers */

static uint32_t rd32(const struct vtd_unit *u, const struct vtd_hw *hw, uint32_t off)
{
    return hw->read32(hw->ctx, u->base + off);
}

static uint64_t rd64(const struct vtd_unit *u, const struct vtd_hw *hw, uint32_t off)
{
    return hw->read64(hw->ctx, u->base + off);
}

static void wr32(const struct vtd_unit *u, const struct vtd_hw *hw, uint32_t off, uint32_t v)
{
    hw->write32(hw->ctx, u->base + off, v);
}

static void wr64(const struct vtd_unit *u, const struct vtd_hw *hw, uint32_t off, uint64_t v)
{
    hw->write64(hw->ctx, u->base + off, v);
}

static int wait32(const struct vtd_unit *u, const struct vtd_hw *hw, uint32_t off, uint32_t mask,
                  uint32_t want)
{
    for (uint32_t i = 0; i <= hw->spins; i++)
        if ((rd32(u, hw, off) & mask) == want)
            return 0;
    return -1;
}

static int wait64(const struct vtd_unit *u, const struct vtd_hw *hw, uint32_t off, uint64_t mask,
                  uint64_t want)
{
    for (uint32_t i = 0; i <= hw->spins; i++)
        if ((rd64(u, hw, off) & mask) == want)
            return 0;
    return -1;
}

/* A persistent command on or off (11.4.4): the GSTS command bits as they
 * are, this one changed; then wait for its status bit to follow. */
static int command(const struct vtd_unit *u, const struct vtd_hw *hw, uint32_t bit, bool on)
{
    uint32_t keep = rd32(u, hw, VTD_GSTS) & VTD_GCMD_KEEP;
    wr32(u, hw, VTD_GCMD, on ? keep | bit : keep & ~bit);
    return wait32(u, hw, VTD_GSTS, bit, on ? bit : 0);
}

/* A one-shot command: SRTP completes when RTPS is set, WBF when WBFS clears. */
static int one_shot(const struct vtd_unit *u, const struct vtd_hw *hw, uint32_t bit, bool done_set)
{
    uint32_t keep = rd32(u, hw, VTD_GSTS) & VTD_GCMD_KEEP;
    wr32(u, hw, VTD_GCMD, keep | bit);
    return wait32(u, hw, VTD_GSTS, bit, done_set ? bit : 0);
}

static struct msg *unit_error(struct msg *m, char *err, size_t errlen, uint64_t base)
{
    msg_init(m, err, errlen);
    msg_str(m, "remapping unit at ");
    msg_hex(m, base);
    msg_str(m, ": ");
    return m;
}

int vtd_probe(struct vtd_unit *u, const struct vtd_hw *hw, uint64_t base, uint64_t reg_size,
              bool want_qi, char *err, size_t errlen)
{
    struct msg m;
    uint8_t *b = (uint8_t *)u;
    for (size_t i = 0; i < sizeof(*u); i++)
        b[i] = 0;
    msg_init(&m, err, errlen);
    u->base = base;
    u->reg_size = reg_size;
    u->ver = rd32(u, hw, VTD_VER);
    u->cap = rd64(u, hw, VTD_CAP);
    u->ecap = rd64(u, hw, VTD_ECAP);
    if (u->ver == 0xffffffffu || u->cap == ~0ull || u->ecap == ~0ull) {
        msg_str(unit_error(&m, err, errlen, base), "registers read all ones (no unit answers there)");
        return -1;
    }
    unsigned sagaw = VTD_CAP_SAGAW(u->cap);
    /* 3.6, 11.4.2: SAGAW bit 1 = 39-bit (3-level), bit 2 = 48-bit (4-level). */
    if (sagaw & VTD_SAGAW_4LEVEL) {
        u->levels = 4;
    } else if (sagaw & VTD_SAGAW_3LEVEL) {
        u->levels = 3;
    } else {
        unit_error(&m, err, errlen, base);
        msg_str(&m, "CAP.SAGAW ");
        msg_hex(&m, sagaw);
        msg_str(&m, " offers neither a 3- nor a 4-level second-level walk");
        return -1;
    }
    u->mgaw = VTD_CAP_MGAW(u->cap);
    u->fro = (uint32_t)VTD_CAP_FRO(u->cap);
    u->nfr = VTD_CAP_NFR(u->cap);
    u->iro = (uint32_t)VTD_ECAP_IRO(u->ecap);
    if (u->fro < VTD_REGS_MIN || u->fro + 16ull * u->nfr > reg_size) {
        unit_error(&m, err, errlen, base);
        msg_str(&m, "CAP.FRO puts ");
        msg_dec(&m, u->nfr);
        msg_str(&m, " fault recording registers at ");
        msg_hex(&m, u->fro);
        msg_str(&m, u->fro < VTD_REGS_MIN ? ", over the fixed registers" : ", outside its ");
        if (u->fro >= VTD_REGS_MIN) {
            msg_hex(&m, reg_size);
            msg_str(&m, "-byte register set");
        }
        return -1;
    }
    if (u->iro < VTD_REGS_MIN || u->iro + 16ull > reg_size) {
        unit_error(&m, err, errlen, base);
        msg_str(&m, "ECAP.IRO puts the IOTLB registers at ");
        msg_hex(&m, u->iro);
        msg_str(&m, u->iro < VTD_REGS_MIN ? ", over the fixed registers" : ", outside its ");
        if (u->iro >= VTD_REGS_MIN) {
            msg_hex(&m, reg_size);
            msg_str(&m, "-byte register set");
        }
        return -1;
    }
    u->qi = want_qi && (u->ecap & VTD_ECAP_QI);
    u->coherent = u->ecap & VTD_ECAP_C;
    u->gsts_found = rd32(u, hw, VTD_GSTS);
    return 0;
}

void vtd_flush_for(const struct vtd_unit *u, const struct vtd_hw *hw, const void *p, size_t len)
{
    if (!u->coherent)
        hw->flush(hw->ctx, p, len);
}

int vtd_prepare(struct vtd_unit *u, const struct vtd_hw *hw, struct vtd_pool *pool, uint64_t pml4)
{
    if (!pool->base) {
        pool->used += VTD_UNIT_PAGES;
        return 0;
    }
    if (pool->npages - pool->used < VTD_UNIT_PAGES)
        return VTD_ERR_NOMEM;
    u->root = take_page(pool);
    u->context = take_page(pool);
    u->iq = take_page(pool);
    u->iq_status = (volatile uint32_t *)take_page(pool);
    u->iq_tail = 0;
    uint64_t slroot = vtd_sl_root(pml4, u->levels);
    /* Context entry (9.3, legacy mode): P (bit 0), FPD 0 (faults recorded),
     * TT 00 (untranslated requests through the second-level table), the
     * second-level root in bits 63:12; upper quadword: AW (1 = 39 bits,
     * 3 levels; 2 = 48 bits, 4 levels) and domain 1 in bits 23:8. */
    uint64_t lo = slroot | 1, hi = (u->levels == 4 ? 2u : 1u) | (1u << 8);
    for (unsigned devfn = 0; devfn < 256; devfn++) {
        u->context[2 * devfn] = lo;
        u->context[2 * devfn + 1] = hi;
    }
    /* Root entry (9.1): P (bit 0), context-table pointer in 63:12; the
     * upper quadword is reserved in legacy mode. Every bus, one table. */
    for (unsigned bus = 0; bus < 256; bus++) {
        u->root[2 * bus] = pa(u->context) | 1;
        u->root[2 * bus + 1] = 0;
    }
    vtd_flush_for(u, hw, u->root, PAGE);
    vtd_flush_for(u, hw, u->context, PAGE);
    vtd_flush_for(u, hw, u->iq, PAGE);
    vtd_flush_for(u, hw, (const void *)u->iq_status, PAGE);
    return 0;
}

/* ================================================================ invalidation */

/* Append one 128-bit descriptor (6.5.2) and move the tail past it. */
static void queue_put(struct vtd_unit *u, const struct vtd_hw *hw, uint64_t lo, uint64_t hi)
{
    uint64_t *d = &u->iq[2 * u->iq_tail];
    d[0] = lo;
    d[1] = hi;
    vtd_flush_for(u, hw, d, 16);
    u->iq_tail = (u->iq_tail + 1) % 256;
}

static int invalidate_queue(struct vtd_unit *u, const struct vtd_hw *hw)
{
    bool drain_r = u->cap & (1ull << 55), drain_w = u->cap & (1ull << 54);
    uint32_t seq = ++u->wait_seq;
    *u->iq_status = 0;
    vtd_flush_for(u, hw, (const void *)u->iq_status, 4);
    /* 6.5.2.1 context-cache invalidate: type 1, granularity 01 (global). */
    queue_put(u, hw, 0x1 | (1u << 4), 0);
    /* 6.5.2.3 IOTLB invalidate: type 2, granularity 01 (global), drain reads
     * (bit 7) and writes (bit 6) where the unit can (CAP.DRD, CAP.DWD). */
    queue_put(u, hw, 0x2 | (1u << 4) | (drain_r ? 1u << 7 : 0) | (drain_w ? 1u << 6 : 0), 0);
    /* 6.5.2.8 invalidation wait: type 5, SW (bit 5): write seq (bits 63:32)
     * to the status address once everything before it is done. */
    queue_put(u, hw, 0x5 | (1u << 5) | ((uint64_t)seq << 32), pa((const void *)u->iq_status));
    wr64(u, hw, VTD_IQT, (uint64_t)u->iq_tail << 4);
    for (uint32_t i = 0; i <= hw->spins; i++) {
        if (__atomic_load_n(u->iq_status, __ATOMIC_ACQUIRE) == seq)
            return 0;
        if (rd32(u, hw, VTD_FSTS) & (VTD_FSTS_IQE | VTD_FSTS_ITE | VTD_FSTS_ICE))
            return -1;
    }
    return -1;
}

static int invalidate_registers(struct vtd_unit *u, const struct vtd_hw *hw)
{
    bool drain_r = u->cap & (1ull << 55), drain_w = u->cap & (1ull << 54);
    /* 6.5.1 and 11.4.6.1: global context-cache invalidation, then the IOTLB. */
    wr64(u, hw, VTD_CCMD, VTD_CCMD_ICC | VTD_CCMD_GLOBAL);
    if (wait64(u, hw, VTD_CCMD, VTD_CCMD_ICC, 0))
        return -1;
    wr64(u, hw, u->iro + 8, VTD_IOTLB_IVT | VTD_IOTLB_GLOBAL | (drain_r ? VTD_IOTLB_DR : 0) |
                                (drain_w ? VTD_IOTLB_DW : 0));
    return wait64(u, hw, u->iro + 8, VTD_IOTLB_IVT, 0);
}

int vtd_invalidate(struct vtd_unit *u, const struct vtd_hw *hw)
{
    bool queue = rd32(u, hw, VTD_GSTS) & VTD_GSTS_QIES;
    return queue ? invalidate_queue(u, hw) : invalidate_registers(u, hw);
}

/* ================================================================ faults */

const char *vtd_fault_reason(unsigned reason)
{
    /* 7.1.3 and appendix A (legacy-mode non-recoverable faults). */
    static const char *const names[] = {
        [1] = "root entry not present", [2] = "context entry not present",
        [3] = "invalid context entry", [4] = "address beyond the address width",
        [5] = "write not permitted", [6] = "read not permitted",
        [7] = "second-level entry unreadable", [8] = "root table unreadable",
        [9] = "context table unreadable", [0xa] = "root entry reserved bits",
        [0xb] = "context entry reserved bits", [0xc] = "second-level entry reserved bits",
        [0xd] = "translated request not allowed",
    };
    return reason < sizeof(names) / sizeof(names[0]) && names[reason] ? names[reason] : "other";
}

unsigned vtd_drain_faults(const struct vtd_unit *u, const struct vtd_hw *hw,
                          void (*fn)(void *arg, const struct vtd_fault *f), void *arg,
                          bool *overflow)
{
    uint32_t fsts = rd32(u, hw, VTD_FSTS);
    unsigned n = 0;
    if (overflow)
        *overflow = fsts & VTD_FSTS_PFO;
    if (!(fsts & (VTD_FSTS_PPF | VTD_FSTS_PFO)))
        return 0;
    uint32_t idx = VTD_FSTS_FRI(fsts) % u->nfr;
    for (uint32_t k = 0; k < u->nfr; k++, idx = (idx + 1) % u->nfr) {
        uint32_t off = u->fro + 16 * idx;
        uint64_t hi = rd64(u, hw, off + 8);
        if (!(hi & VTD_FRCD_F))
            break;
        uint64_t lo = rd64(u, hw, off);
        struct vtd_fault f = {
            .addr = lo & ~(PAGE - 1), .sid = (uint16_t)hi, .reason = (uint8_t)(hi >> 32),
            .read = hi & VTD_FRCD_T,
        };
        /* F is write-1-to-clear (11.4.14): the record's upper doubleword. */
        wr32(u, hw, off + 12, 1u << 31);
        if (fn)
            fn(arg, &f);
        n++;
    }
    if (fsts & VTD_FSTS_PFO)
        wr32(u, hw, VTD_FSTS, VTD_FSTS_PFO);
    return n;
}

/* ================================================================ on and off */

int vtd_enable(struct vtd_unit *u, const struct vtd_hw *hw, char *err, size_t errlen)
{
    struct msg m;
    const char *step;
    msg_init(&m, err, errlen);
    /* 7.3: faults are polled by the monitor, the fault event interrupt stays
     * masked (the guest owns every interrupt vector). Stale records go. */
    wr32(u, hw, VTD_FECTL, VTD_FECTL_IM);
    vtd_drain_faults(u, hw, NULL, NULL, NULL);
    uint32_t gsts = rd32(u, hw, VTD_GSTS);
    if (gsts & VTD_GSTS_QIES) {
        /* The firmware's queue: let it finish, then turn it off (6.5.2: the
         * queue address may change only while QIE is clear). */
        step = "draining the firmware's invalidation queue";
        if (wait64(u, hw, VTD_IQH, 0x7fff0, rd64(u, hw, VTD_IQT) & 0x7fff0))
            goto timeout;
        step = "turning the firmware's invalidation queue off";
        if (command(u, hw, VTD_GCMD_QIE, false))
            goto timeout;
    }
    if (u->cap & VTD_CAP_RWBF) {
        step = "flushing the write buffer";
        if (one_shot(u, hw, VTD_GCMD_WBF, false))
            goto timeout;
    }
    /* 11.4.5: RTADDR_REG, TTM 00 (legacy mode), then SRTP. */
    wr64(u, hw, VTD_RTADDR, pa(u->root));
    step = "setting the root table pointer";
    if (one_shot(u, hw, VTD_GCMD_SRTP, true))
        goto timeout;
    if (u->qi) {
        /* 11.4.9: IQT 0, IQA = the page, QS 0 (256 descriptors), DW 0 (128-bit). */
        wr64(u, hw, VTD_IQT, 0);
        wr64(u, hw, VTD_IQA, pa(u->iq));
        u->iq_tail = 0;
        step = "turning the invalidation queue on";
        if (command(u, hw, VTD_GCMD_QIE, true))
            goto timeout;
    }
    step = "invalidating the context cache and IOTLB";
    if (vtd_invalidate(u, hw))
        goto timeout;
    if (!(rd32(u, hw, VTD_GSTS) & VTD_GSTS_TES)) {
        step = "turning translation on";
        if (command(u, hw, VTD_GCMD_TE, true))
            goto timeout;
    }
    /* 3.14: with translation on, the protected memory regions the firmware
     * may have left are redundant, and they would block the OS's DMA. */
    if ((u->cap & (VTD_CAP_PLMR | VTD_CAP_PHMR)) && (rd32(u, hw, VTD_PMEN) & VTD_PMEN_PRS)) {
        wr32(u, hw, VTD_PMEN, 0);
        step = "turning the protected memory regions off";
        if (wait32(u, hw, VTD_PMEN, VTD_PMEN_PRS, 0))
            goto timeout;
    }
    u->enabled = true;
    return 0;
timeout:
    unit_error(&m, err, errlen, u->base);
    msg_str(&m, step);
    msg_str(&m, " failed (GSTS ");
    msg_hex(&m, rd32(u, hw, VTD_GSTS));
    msg_str(&m, ", FSTS ");
    msg_hex(&m, rd32(u, hw, VTD_FSTS));
    msg_str(&m, ")");
    return -1;
}

int vtd_disable(struct vtd_unit *u, const struct vtd_hw *hw)
{
    int rc = 0;
    uint32_t gsts = rd32(u, hw, VTD_GSTS);
    if (gsts & VTD_GSTS_TES)
        rc |= command(u, hw, VTD_GCMD_TE, false);
    if (u->qi && (gsts & VTD_GSTS_QIES)) {
        rc |= wait64(u, hw, VTD_IQH, 0x7fff0, rd64(u, hw, VTD_IQT) & 0x7fff0);
        rc |= command(u, hw, VTD_GCMD_QIE, false);
    }
    u->enabled = false;
    return rc ? -1 : 0;
}
