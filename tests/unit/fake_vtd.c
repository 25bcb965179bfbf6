/* The fake VT-d register file (fake_vtd.h). */
#include <stdlib.h>
#include <string.h>
#include "tests/unit/fake_vtd.h"

#define FRO 0x220
#define IRO 0xf0

void fake_unit_init(struct fake_unit *u, uint64_t base)
{
    memset(u, 0, sizeof(*u));
    u->base = base;
    u->ver = 0x10;
    u->cap = (uint64_t)(FRO / 16) << 24 | (uint64_t)(47) << 16 | (VTD_SAGAW_3LEVEL | VTD_SAGAW_4LEVEL) << 8 |
             (uint64_t)(VTD_SLLPS_2M | VTD_SLLPS_1G) << 34 | 2 /* ND */;
    u->ecap = (uint64_t)(IRO / 16) << 8 | VTD_ECAP_QI;
}

static struct fake_unit *find(struct fake_hw *f, uint64_t addr, uint32_t *off)
{
    for (unsigned i = 0; i < f->n; i++)
        if (addr >= f->unit[i]->base && addr - f->unit[i]->base < 4096) {
            *off = (uint32_t)(addr - f->unit[i]->base);
            return f->unit[i];
        }
    abort();        /* the code under test touched an address no unit has */
}

static uint32_t fro(const struct fake_unit *u) { return (uint32_t)VTD_CAP_FRO(u->cap); }
static uint32_t iro(const struct fake_unit *u) { return (uint32_t)VTD_ECAP_IRO(u->ecap); }

static uint64_t rd(struct fake_unit *u, uint32_t off, int size)
{
    if (u->ones)
        return size == 4 ? 0xffffffffu : ~0ull;
    if (off >= fro(u) && off < fro(u) + 16 * VTD_CAP_NFR(u->cap)) {
        unsigned i = (off - fro(u)) / 16, q = ((off - fro(u)) % 16) / 8;
        u->frcd_reads++;
        uint64_t v = u->frcd[i][q];
        return (off & 4) ? v >> 32 : v;
    }
    if (off == iro(u) + 8)
        return u->iotlb;
    switch (off) {
    case VTD_VER: return u->ver;
    case VTD_CAP: return u->cap;
    case VTD_ECAP: return u->ecap;
    case VTD_GSTS: return u->gsts;
    case VTD_RTADDR: return u->rtaddr;
    case VTD_CCMD: return u->ccmd;
    case VTD_FSTS: {
        uint32_t ppf = 0;
        for (unsigned i = 0; i < VTD_CAP_NFR(u->cap); i++)
            if (u->frcd[i][1] & VTD_FRCD_F)
                ppf = VTD_FSTS_PPF;
        return (u->fsts & ~VTD_FSTS_PPF) | ppf;
    }
    case VTD_FECTL: return u->fectl;
    case VTD_PMEN: return u->pmen;
    case VTD_IQH: return u->iqh;
    case VTD_IQT: return u->iqt;
    case VTD_IQA: return u->iqa;
    default: return 0;
    }
}

static void run_queue(struct fake_unit *u, uint64_t tail)
{
    if (!(u->gsts & VTD_GSTS_QIES))
        return;         /* the tail is set up before the queue is turned on */
    uint64_t *q = (uint64_t *)(uintptr_t)(u->iqa & ~0xfffull);
    while (u->iqh != tail) {
        uint64_t *d = &q[2 * (u->iqh >> 4)];
        unsigned type = d[0] & 0xf, g = (d[0] >> 4) & 3;
        u->queue_descs++;
        if (type == 1 && g == 1) {
            u->cc_global++;
            u->cc_since_srtp++;
        } else if (type == 2 && g == 1) {
            u->iotlb_global++;
            u->iotlb_since_srtp++;
        } else if (type == 5) {
            u->waits++;
            if (d[0] & (1u << 5))
                *(volatile uint32_t *)(uintptr_t)(d[1] & ~3ull) = (uint32_t)(d[0] >> 32);
        } else {
            u->illegal++;
        }
        u->iqh = (u->iqh + 16) % 4096;
    }
}

static void gcmd(struct fake_unit *u, uint32_t v)
{
    if (v & VTD_GCMD_SRTP) {
        u->rt_latched = u->rtaddr;
        u->gsts |= VTD_GSTS_RTPS;
        u->srtp++;
        u->cc_since_srtp = u->iotlb_since_srtp = 0;
    }
    if (v & VTD_GCMD_WBF)
        u->wbf++;
    if ((v & VTD_GCMD_QIE) && !(u->gsts & VTD_GSTS_QIES)) {
        u->gsts |= VTD_GSTS_QIES;
        u->iqh = 0;
        u->qie_on++;
    } else if (!(v & VTD_GCMD_QIE)) {
        u->gsts &= ~VTD_GSTS_QIES;
    }
    if ((v & VTD_GCMD_TE) && !(u->gsts & VTD_GSTS_TES) && !u->stuck_te) {
        u->gsts |= VTD_GSTS_TES;
        u->te_on++;
        u->inval_before_te = u->cc_since_srtp && u->iotlb_since_srtp;
    } else if (!(v & VTD_GCMD_TE)) {
        u->gsts &= ~VTD_GSTS_TES;
    }
    /* A persistent bit the write leaves out is turned off (11.4.4). */
    if (!(v & VTD_GCMD_IRE))
        u->gsts &= ~VTD_GSTS_IRES;
}

static void wr(struct fake_unit *u, uint32_t off, uint64_t v, int size)
{
    if (off >= fro(u) && off < fro(u) + 16 * VTD_CAP_NFR(u->cap)) {
        unsigned i = (off - fro(u)) / 16;
        if ((off % 16) == 12 && (v & (1u << 31)))
            u->frcd[i][1] &= ~VTD_FRCD_F;
        return;
    }
    if (off == iro(u) + 8) {
        if (u->gsts & VTD_GSTS_QIES)
            u->illegal++;
        if ((v & VTD_IOTLB_IVT) && ((v >> 60) & 3) == 1) {
            u->iotlb_global++;
            u->iotlb_since_srtp++;
            u->reg_inval++;
        }
        u->iotlb = v & ~VTD_IOTLB_IVT;
        return;
    }
    (void)size;
    switch (off) {
    case VTD_GCMD: gcmd(u, (uint32_t)v); break;
    case VTD_RTADDR: u->rtaddr = v; break;
    case VTD_CCMD:
        if (u->gsts & VTD_GSTS_QIES)
            u->illegal++;
        if ((v & VTD_CCMD_ICC) && ((v >> 61) & 3) == 1) {
            u->cc_global++;
            u->cc_since_srtp++;
            u->reg_inval++;
        }
        u->ccmd = v & ~VTD_CCMD_ICC;
        break;
    case VTD_FSTS: u->fsts &= ~((uint32_t)v & 0x7d); break;     /* write 1 to clear */
    case VTD_FECTL: u->fectl = (uint32_t)v; break;
    case VTD_PMEN:
        if (!(v & VTD_PMEN_EPM))
            u->pmen = 0;
        break;
    case VTD_IQT: u->iqt = v; run_queue(u, v); break;
    case VTD_IQA:
        if (u->gsts & VTD_GSTS_QIES)
            u->illegal++;       /* 6.5.2: the queue moves only while QIE is clear */
        u->iqa = v;
        break;
    default: break;
    }
}

static uint32_t rd32(void *ctx, uint64_t a) { uint32_t o; struct fake_unit *u = find(ctx, a, &o); return (uint32_t)rd(u, o, 4); }
static uint64_t rd64(void *ctx, uint64_t a) { uint32_t o; struct fake_unit *u = find(ctx, a, &o); return rd(u, o, 8); }
static void wr32(void *ctx, uint64_t a, uint32_t v) { uint32_t o; struct fake_unit *u = find(ctx, a, &o); wr(u, o, v, 4); }
static void wr64(void *ctx, uint64_t a, uint64_t v) { uint32_t o; struct fake_unit *u = find(ctx, a, &o); wr(u, o, v, 8); }

static void flush(void *ctx, const void *p, size_t n)
{
    struct fake_hw *f = ctx;
    (void)p;
    f->flushes++;
    f->flushed_bytes += n;
}

void fake_hw_init(struct vtd_hw *hw, struct fake_hw *f)
{
    memset(f, 0, sizeof(*f));
    *hw = (struct vtd_hw){ .read32 = rd32, .read64 = rd64, .write32 = wr32, .write64 = wr64,
                           .flush = flush, .ctx = f, .spins = 50 };
}

void fake_hw_add(struct fake_hw *f, struct fake_unit *u)
{
    f->unit[f->n++] = u;
}

struct vtd_pool fake_pool(size_t n)
{
    uint8_t *b = aligned_alloc(4096, n * 4096);
    memset(b, 0xee, n * 4096);      /* take_page must zero what it hands out */
    return (struct vtd_pool){ .base = b, .npages = n };
}

void fake_pool_free(struct vtd_pool *p)
{
    free(p->base);
    p->base = NULL;
}
