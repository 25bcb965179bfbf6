/* DMA protection over every remapping unit (iommu/dma.h). */
#include "iommu/dma.h"
#include "iommu/msg.h"

#define PAGE 4096ull

static void zero(void *p, size_t n)
{
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = 0;
}

int dma_plan(struct dma_prot *d, const struct vtd_hw *hw, const void *dmar, size_t len,
             uint64_t limit, bool want_qi, char *err, size_t errlen)
{
    struct msg m;
    zero(d, sizeof(*d));
    msg_init(&m, err, errlen);
    if (dmar_parse(dmar, len, &d->dmar, err, errlen))
        return -1;
    d->limit = limit;
    d->allow_2m = d->allow_1g = d->coherent = true;
    for (unsigned i = 0; i < d->dmar.nunits; i++) {
        const struct dmar_unit *du = &d->dmar.unit[i];
        struct vtd_unit *u = &d->unit[i];
        if (vtd_probe(u, hw, du->reg_base, du->reg_size, want_qi, err, errlen)) {
            /* Prefix the DMAR entry: "DMAR entry 1 (DRHD): remapping unit at ...". */
            char tail[DMA_ERR_LEN];
            struct msg t;
            msg_init(&t, tail, sizeof(tail));
            if (err)
                msg_str(&t, err);
            msg_init(&m, err, errlen);
            msg_str(&m, "DMAR entry ");
            msg_dec(&m, du->entry);
            msg_str(&m, " (DRHD): ");
            msg_str(&m, tail);
            return -1;
        }
        unsigned sllps = VTD_CAP_SLLPS(u->cap);
        d->allow_2m &= (sllps & VTD_SLLPS_2M) != 0;
        d->allow_1g &= (sllps & VTD_SLLPS_1G) != 0;
        d->coherent &= u->coherent;
        /* No device reaches a unit's registers either. */
        d->hidden[d->nhidden++] = (struct vtd_range){ du->reg_base, du->reg_size };
    }
    d->nunits = d->dmar.nunits;
    for (unsigned i = 0; i < d->dmar.nrmrrs; i++)
        d->rmrr[i] = (struct vtd_range){ d->dmar.rmrr[i].base,
                                         d->dmar.rmrr[i].end - d->dmar.rmrr[i].base };
    return 0;
}

int dma_hide(struct dma_prot *d, uint64_t base, uint64_t size)
{
    if (d->nhidden == DMA_MAX_HIDDEN || ((base | size) & (PAGE - 1)) || base + size < base)
        return -1;
    d->hidden[d->nhidden++] = (struct vtd_range){ base, size };
    return 0;
}

unsigned dma_reg_ranges(const struct dma_prot *d, struct vtd_range *out, unsigned max)
{
    unsigned n = 0;
    for (; n < d->nunits && n < max; n++)
        out[n] = d->hidden[n];
    return n;
}

static struct vtd_map_params map_params(const struct dma_prot *d)
{
    return (struct vtd_map_params){
        .limit = d->limit, .extra = d->rmrr, .nextra = d->dmar.nrmrrs,
        .hidden = d->hidden, .nhidden = d->nhidden,
        .allow_2m = d->allow_2m, .allow_1g = d->allow_1g,
    };
}

static bool hits_hidden(const struct dma_prot *d, const struct vtd_range *r)
{
    for (unsigned h = 0; h < d->nhidden; h++) {
        const struct vtd_range *x = &d->hidden[h];
        if (x->base < r->base + r->size && r->base < x->base + x->size)
            return true;
    }
    return false;
}

uint64_t dma_pages(const struct dma_prot *d, unsigned later)
{
    struct vtd_map_params p = map_params(d);
    struct vtd_range extra[DMAR_MAX_RMRRS];
    struct vtd_pool count = { 0 };
    /* An RMRR over a hidden range is refused by dma_build: counted without. */
    p.extra = extra;
    p.nextra = 0;
    for (unsigned i = 0; i < d->dmar.nrmrrs; i++)
        if (!hits_hidden(d, &d->rmrr[i]))
            extra[p.nextra++] = d->rmrr[i];
    if (vtd_map_build(&p, &count, NULL, NULL))
        return 0;           /* dma_build will refuse the same parameters */
    /* Each end of a range placed later splits at most one 1 GiB and one
     * 2 MiB leaf: four tables per range, six to spare. */
    return count.used + 6ull * later + (uint64_t)VTD_UNIT_PAGES * d->nunits;
}

static void flush_all(const struct dma_prot *d, const struct vtd_hw *hw, const void *p, size_t n)
{
    if (!d->coherent)
        hw->flush(hw->ctx, p, n);
}

int dma_build(struct dma_prot *d, const struct vtd_hw *hw, struct vtd_pool *pool, char *err,
              size_t errlen)
{
    struct msg m;
    msg_init(&m, err, errlen);
    for (unsigned i = 0; i < d->dmar.nrmrrs; i++) {
        const struct vtd_range *r = &d->rmrr[i];
        if (!hits_hidden(d, r))
            continue;
        bool regs = false;
        for (unsigned u = 0; u < d->nunits; u++)
            regs |= d->hidden[u].base < r->base + r->size && r->base < d->hidden[u].base + d->hidden[u].size;
        msg_str(&m, "DMAR entry ");
        msg_dec(&m, d->dmar.rmrr[i].entry);
        msg_str(&m, " (RMRR): region ");
        msg_hex(&m, r->base);
        msg_str(&m, "-");
        msg_hex(&m, r->base + r->size - 1);
        msg_str(&m, regs ? " overlaps a remapping unit's registers" : " overlaps monitor memory");
        return -1;
    }
    size_t used0 = pool->used;
    struct vtd_map_params p = map_params(d);
    int rc = vtd_map_build(&p, pool, &d->pml4, &d->map);
    if (rc) {
        msg_str(&m, rc == VTD_ERR_NOMEM ? "out of pages for the DMA remapping tables"
                                        : "a range of the DMA map is beyond 2^48 or unaligned");
        return -1;
    }
    if (pool->base)
        flush_all(d, hw, pool->base + used0 * PAGE, (pool->used - used0) * PAGE);
    for (unsigned i = 0; i < d->nunits; i++) {
        if (vtd_prepare(&d->unit[i], hw, pool, d->pml4)) {
            pool->used = used0;
            msg_str(&m, "out of pages for the root and context tables");
            return -1;
        }
    }
    d->table_pages = pool->used - used0;
    return 0;
}

int dma_enable(struct dma_prot *d, const struct vtd_hw *hw, char *err, size_t errlen)
{
    for (unsigned i = 0; i < d->nunits; i++) {
        if (vtd_enable(&d->unit[i], hw, err, errlen)) {
            while (i-- > 0)
                vtd_disable(&d->unit[i], hw);
            d->enabled = 0;
            return -1;
        }
        d->enabled = i + 1;
    }
    return 0;
}

void dma_disable(struct dma_prot *d, const struct vtd_hw *hw)
{
    for (unsigned i = 0; i < d->nunits; i++)
        if (d->unit[i].enabled)
            vtd_disable(&d->unit[i], hw);
    d->enabled = 0;
}

struct poll_ctx {
    void (*fn)(void *arg, unsigned unit, const struct vtd_fault *f);
    void *arg;
    unsigned unit;
};

static void poll_one(void *arg, const struct vtd_fault *f)
{
    struct poll_ctx *c = arg;
    if (c->fn)
        c->fn(c->arg, c->unit, f);
}

unsigned dma_poll(struct dma_prot *d, const struct vtd_hw *hw,
                  void (*fn)(void *arg, unsigned unit, const struct vtd_fault *f), void *arg,
                  uint32_t *overflow)
{
    unsigned n = 0;
    uint32_t over = 0;
    for (unsigned i = 0; i < d->nunits; i++) {
        if (!d->unit[i].enabled)
            continue;
        struct poll_ctx c = { fn, arg, i };
        bool o = false;
        n += vtd_drain_faults(&d->unit[i], hw, poll_one, &c, &o);
        if (o)
            over |= 1u << i;
    }
    if (overflow)
        *overflow = over;
    return n;
}
