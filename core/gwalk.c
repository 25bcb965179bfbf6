/* Guest page walker: SDM 3A chapter 4. See gwalk.h for what is and is not modelled. */
#include "core/gwalk.h"

#include <string.h>

/* Paging-structure entry bits common to all modes (SDM 3A 5.3, 4.4.2, 4.5.4). */
#define PTE_P    (1ull << 0)
#define PTE_RW   (1ull << 1)
#define PTE_US   (1ull << 2)
#define PTE_PS   (1ull << 7)
#define PTE_XD   (1ull << 63)

#define BITS(hi, lo)  ((~0ull >> (63 - (hi))) & ~((1ull << (lo)) - 1))

/* Result of a successful walk, before the access-rights check (SDM 3A 5.6). */
struct walk {
    uint64_t pa;
    bool writable;      /* R/W = 1 in every entry that controls access rights */
    bool user;          /* U/S = 1 in every such entry: a user-mode address */
    bool xd;            /* XD = 1 in some entry (only meaningful with NXE) */
    unsigned pkey;      /* leaf bits 62:59, 4-/5-level paging */
    uint64_t ent[5];    /* addresses of the entries used, the leaf last (A/D flags) */
    unsigned nent;
    uint8_t ent_size;   /* 4 (32-bit paging) or 8 */
};

#define PTE_A (1ull << 5)
#define PTE_D (1ull << 6)

enum { W_OK = 0, W_NOT_PRESENT, W_RSVD, W_READ_FAIL };

static unsigned eff_maxphyaddr(const struct gwalk_ctx *c)
{
    unsigned m = c->maxphyaddr;
    if (m == 0 || m > 52)
        return 52;
    if (m < 32)
        return 32;
    return m;
}

static int read_entry(const struct gwalk_ctx *c, uint64_t addr, uint64_t *v, size_t size)
{
    uint64_t e = 0;
    if (c->read_phys(c->opaque, addr, &e, size) != 0)
        return W_READ_FAIL;
    *v = e;             /* little-endian: a 4-byte read fills the low half */
    return W_OK;
}

/* 32-bit paging, SDM 3A 5.3 (tables 4-4 to 4-6). */
static int walk_32(const struct gwalk_ctx *c, uint32_t la, struct walk *w)
{
    uint64_t pde, pte;
    uint64_t a = (c->cr3 & 0xfffff000u) + ((la >> 22) << 2);
    w->ent_size = 4;
    w->ent[w->nent++] = a;
    int r = read_entry(c, a, &pde, 4);
    if (r)
        return r;
    if (!(pde & PTE_P))
        return W_NOT_PRESENT;
    w->writable = pde & PTE_RW;
    w->user = pde & PTE_US;
    w->xd = false;                                  /* no XD bit in 32-bit paging */

    /* PS is ignored when CR4.PSE = 0 (SDM 3A 5.3, table 4-5 note) */
    if ((c->cr4 & GW_CR4_PSE) && (pde & PTE_PS)) {
        /* 4-MByte page (table 4-4): PDE bits (M-20):13 hold PA bits (M-1):32 (PSE-36),
           bits 21:(M-19) are reserved; M = min(MAXPHYADDR, 40). */
        unsigned m = eff_maxphyaddr(c);
        if (m > 40)
            m = 40;
        if (pde & BITS(21, m - 19))
            return W_RSVD;
        uint64_t high = (pde >> 13) & ((1ull << (m - 32)) - 1);
        w->pa = (high << 32) | (pde & 0xffc00000u) | (la & 0x3fffffu);
        return W_OK;
    }

    a = (pde & 0xfffff000u) + (((la >> 12) & 0x3ff) << 2);
    w->ent[w->nent++] = a;
    r = read_entry(c, a, &pte, 4);
    if (r)
        return r;
    if (!(pte & PTE_P))
        return W_NOT_PRESENT;
    w->writable = w->writable && (pte & PTE_RW);
    w->user = w->user && (pte & PTE_US);
    w->pa = (pte & 0xfffff000u) | (la & 0xfff);
    return W_OK;
}

/* Walk from a page directory (level 2) or higher: shared by PAE paging (starting at
   level 2 below a PDPTE) and 4-/5-level paging (starting at level 4 or 5).
   Reserved bits (SDM 3A tables 4-8..4-11 for PAE, 4-14..4-20 for 4-/5-level):
     - address bits above MAXPHYADDR: 51:M (4-/5-level), 62:M (PAE);
     - bit 63 (XD) when EFER.NXE = 0;
     - PS (bit 7) in PML5Es and PML4Es;
     - bits 29:13 of a PDPTE mapping a 1-GByte page, bits 20:13 of a PDE mapping a
       2-MByte page (the PAT bit is bit 12). */
static int walk_long(const struct gwalk_ctx *c, uint64_t la, uint64_t table, int level,
                     bool pae, struct walk *w)
{
    unsigned m = eff_maxphyaddr(c);
    uint64_t rsvd_addr = pae ? BITS(62, m) : (m < 52 ? BITS(51, m) : 0);
    uint64_t rsvd_xd = (c->efer & GW_EFER_NXE) ? 0 : PTE_XD;
    const uint64_t addr_mask = BITS(51, 12);

    for (;; level--) {
        unsigned shift = 12 + 9 * (unsigned)(level - 1);
        uint64_t e, a = table + (((la >> shift) & 0x1ff) << 3);
        w->ent_size = 8;
        if (w->nent < 5)
            w->ent[w->nent++] = a;
        int r = read_entry(c, a, &e, 8);
        if (r)
            return r;
        if (!(e & PTE_P))
            return W_NOT_PRESENT;

        uint64_t rsvd = rsvd_addr | rsvd_xd;
        bool leaf = level == 1 || ((level == 2 || level == 3) && (e & PTE_PS));
        if (level >= 4)
            rsvd |= PTE_PS;
        else if (leaf && level == 3)
            rsvd |= BITS(29, 13);
        else if (leaf && level == 2)
            rsvd |= BITS(20, 13);
        if (e & rsvd)
            return W_RSVD;

        w->writable = w->writable && (e & PTE_RW);
        w->user = w->user && (e & PTE_US);
        w->xd = w->xd || (e & PTE_XD);

        if (leaf) {
            uint64_t page_mask = (1ull << shift) - 1;
            w->pa = (e & addr_mask & ~page_mask) | (la & page_mask);
            w->pkey = (unsigned)(e >> 59) & 0xf;
            return W_OK;
        }
        table = e & addr_mask;
    }
}

/* PAE paging, SDM 3A 5.4: a PDPTE (one of four, selected by bits 31:30) then the
   page directory. PDPTEs carry no access rights (4.4.1). */
static int walk_pae(const struct gwalk_ctx *c, uint32_t la, struct walk *w)
{
    uint64_t pdpte;
    unsigned i = la >> 30;
    if (c->pdpte) {
        pdpte = c->pdpte[i];
    } else {
        int r = read_entry(c, (c->cr3 & 0xffffffe0u) + (i << 3), &pdpte, 8);
        if (r)
            return r;
    }
    if (!(pdpte & PTE_P))
        return W_NOT_PRESENT;
    /* table 4-8: bits 2:1, 8:5 and 63:M reserved */
    if (pdpte & (BITS(63, eff_maxphyaddr(c)) | BITS(2, 1) | BITS(8, 5)))
        return W_RSVD;
    return walk_long(c, la, pdpte & BITS(51, 12), 2, true, w);
}

/* Protection-key violation as the PK error-code bit defines it (SDM 3A 5.6.2, 4.7):
   PKRU governs user-mode addresses (CR4.PKE), IA32_PKRS supervisor-mode addresses
   (CR4.PKS); for data accesses only; ADi forbids any access, WDi writes by user-mode
   accesses and, with CR0.WP = 1, by supervisor-mode accesses. It is evaluated whether or
   not the access also breaks the ordinary rights, as PK is reported alongside them. */
static bool pk_violation(const struct gwalk_ctx *c, const struct walk *w, enum gwalk_access acc,
                         bool user_access)
{
    uint32_t keys;
    if (acc == GW_FETCH)
        return false;
    if (w->user && (c->cr4 & GW_CR4_PKE))
        keys = c->pkru;
    else if (!w->user && (c->cr4 & GW_CR4_PKS))
        keys = c->pkrs;
    else
        return false;
    bool ad = (keys >> (2 * w->pkey)) & 1;
    bool wd = (keys >> (2 * w->pkey + 1)) & 1;
    return ad || (wd && acc == GW_WRITE && ((c->cr0 & GW_CR0_WP) || user_access));
}

/* Access rights, SDM 3A 5.6.1. */
static bool access_allowed(const struct gwalk_ctx *c, const struct walk *w,
                           enum gwalk_access acc, bool user_access, bool nx)
{
    bool smap_blocks = (c->cr4 & GW_CR4_SMAP) && w->user && !c->ac;
    switch (acc) {
    case GW_FETCH:
        if (nx && w->xd)
            return false;
        if (user_access)
            return w->user;
        return !((c->cr4 & GW_CR4_SMEP) && w->user);
    case GW_WRITE:
        if (user_access)
            return w->user && w->writable;
        if (smap_blocks)
            return false;
        return w->writable || !(c->cr0 & GW_CR0_WP);
    case GW_READ:
    default:
        if (user_access)
            return w->user;
        return !smap_blocks;
    }
}

int gwalk_translate(const struct gwalk_ctx *c, uint64_t la, enum gwalk_access acc, unsigned cpl,
                    uint64_t *gpa, struct gwalk_fault *fault)
{
    bool lma = c->efer & GW_EFER_LMA;
    bool user_access = cpl == 3;

    if (!lma)
        la = (uint32_t)la;                          /* 32-bit linear addresses */
    if (!(c->cr0 & GW_CR0_PG)) {
        *gpa = la;
        return 0;
    }

    struct walk w = { .writable = true, .user = true };
    bool pae = c->cr4 & GW_CR4_PAE;
    int r;
    if (lma)
        r = walk_long(c, la, c->cr3 & BITS(51, 12), (c->cr4 & GW_CR4_LA57) ? 5 : 4, false, &w);
    else if (pae)
        r = walk_pae(c, (uint32_t)la, &w);
    else
        r = walk_32(c, (uint32_t)la, &w);
    if (r == W_READ_FAIL)
        return -2;

    /* XD exists, and NXE has effect, only with PAE-format entries (SDM 3A 5.6.1). */
    bool nx = pae && (c->efer & GW_EFER_NXE);
    bool pk = false;
    if (r == W_OK) {
        if (lma)
            pk = pk_violation(c, &w, acc, user_access);
        if (access_allowed(c, &w, acc, user_access, nx) && !pk) {
            if (c->set_bits)
                for (unsigned i = 0; i < w.nent; i++)
                    c->set_bits(c->opaque, w.ent[i],
                                PTE_A | (i == w.nent - 1 && acc == GW_WRITE ? PTE_D : 0),
                                w.ent_size);
            *gpa = w.pa;
            return 0;
        }
    }

    /* SDM 3A 5.7 */
    uint32_t ec = 0;
    if (r != W_NOT_PRESENT)
        ec |= GW_PFEC_P;
    if (acc == GW_WRITE)
        ec |= GW_PFEC_W;
    if (user_access)
        ec |= GW_PFEC_U;
    if (r == W_RSVD)
        ec |= GW_PFEC_RSVD;
    if (acc == GW_FETCH && ((c->cr4 & GW_CR4_SMEP) || nx))
        ec |= GW_PFEC_ID;
    if (pk)
        ec |= GW_PFEC_PK;
    fault->vector = GW_PF_VECTOR;
    fault->error_code = ec;
    fault->cr2 = la;
    return -1;
}

int gwalk_read(const struct gwalk_ctx *c, uint64_t la, void *buf, size_t len, enum gwalk_access acc,
               unsigned cpl, struct gwalk_fault *fault)
{
    uint8_t *out = buf;
    while (len > 0) {
        size_t chunk = 4096 - (size_t)(la & 0xfff);
        if (chunk > len)
            chunk = len;
        uint64_t gpa;
        int r = gwalk_translate(c, la, acc, cpl, &gpa, fault);
        if (r)
            return r;
        if (c->read_phys(c->opaque, gpa, out, chunk) != 0)
            return -2;
        la += chunk;
        out += chunk;
        len -= chunk;
    }
    return 0;
}

bool gwalk_canonical(const struct gwalk_ctx *c, uint64_t la)
{
    if (!(c->efer & GW_EFER_LMA))
        return true;
    unsigned bits = (c->cr4 & GW_CR4_LA57) ? 57 : 48;
    uint64_t top = la >> (bits - 1);                /* bits 63:(bits-1) */
    return top == 0 || top == (~0ull >> (bits - 1));
}

/* SDM 3A 5.4.1: loading the PDPTEs (MOV to CR0/CR3/CR4 that leaves PAE paging
 * on). A present PDPTE with bits 2:1, 8:5 or 63:MAXPHYADDR set makes the
 * instruction #GP and loads nothing. */
int gwalk_load_pdptes(const struct gwalk_ctx *c, uint64_t cr3, uint64_t pdpte[4])
{
    uint64_t e[4];
    for (unsigned i = 0; i < 4; i++) {
        if (read_entry(c, (cr3 & 0xffffffe0u) + 8 * i, &e[i], 8) != W_OK)
            return -2;
        if ((e[i] & PTE_P) && (e[i] & (BITS(63, eff_maxphyaddr(c)) | BITS(2, 1) | BITS(8, 5))))
            return -1;
    }
    for (unsigned i = 0; i < 4; i++)
        pdpte[i] = e[i];
    return 0;
}
