/* Unit tests for core/gwalk.c: guest page walker (SDM 3A chapter 4).
 * Page tables are built in a fake guest-physical memory (a byte array). Where the point
 * is the walk itself, the tables are written by hand with indices spelled out;
 * elsewhere a small builder places entries and reports where each one is, so the tests
 * can then change individual bits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

#include <cmocka.h>

#include "core/gwalk.h"

/* ------------------------------------------------------------- fake memory */

#define MEM_SIZE  (8u << 20)
static uint8_t mem[MEM_SIZE];
static uint64_t next_page;
static uint64_t fail_lo, fail_hi;       /* reads touching [fail_lo, fail_hi) fail */
static unsigned nreads;

static int fake_read(void *opaque, uint64_t gpa, void *buf, size_t len)
{
    assert_ptr_equal(opaque, mem);
    nreads++;
    if (gpa < fail_hi && gpa + len > fail_lo)
        return -1;
    if (gpa >= MEM_SIZE || len > MEM_SIZE - gpa)
        return -1;                      /* not RAM */
    memcpy(buf, mem + gpa, len);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    memset(mem, 0, sizeof(mem));
    next_page = 0x100000;
    fail_lo = fail_hi = 0;
    nreads = 0;
    return 0;
}

static uint64_t alloc_page(void)
{
    uint64_t p = next_page;
    next_page += 4096;
    assert_true(next_page <= MEM_SIZE);
    return p;
}

static void put64(uint64_t a, uint64_t v) { memcpy(mem + a, &v, 8); }
static void put32(uint64_t a, uint32_t v) { memcpy(mem + a, &v, 4); }
static uint64_t get64(uint64_t a) { uint64_t v; memcpy(&v, mem + a, 8); return v; }
static uint32_t get32(uint64_t a) { uint32_t v; memcpy(&v, mem + a, 4); return v; }
static void set64(uint64_t a, uint64_t bits) { put64(a, get64(a) | bits); }
static void clr64(uint64_t a, uint64_t bits) { put64(a, get64(a) & ~bits); }

/* entry bits */
#define P    (1ull << 0)
#define RW   (1ull << 1)
#define US   (1ull << 2)
#define PWT  (1ull << 3)
#define PCD  (1ull << 4)
#define ACC  (1ull << 5)
#define DIRTY (1ull << 6)
#define PS   (1ull << 7)
#define G    (1ull << 8)
#define PAT_LARGE (1ull << 12)
#define XD   (1ull << 63)
#define PKEY(k) ((uint64_t)(k) << 59)
#define ALL  (P | RW | US)

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* error codes */
#define EC_P    GW_PFEC_P
#define EC_W    GW_PFEC_W
#define EC_U    GW_PFEC_U
#define EC_RSVD GW_PFEC_RSVD
#define EC_ID   GW_PFEC_ID
#define EC_PK   GW_PFEC_PK

/* ------------------------------------------------------------ table builders */

/* 4-/5-level: map `la` with a leaf entry `leaf` at level leaf_level (1: 4 KiB PTE,
   2: 2 MiB PDE, 3: 1 GiB PDPTE). Missing tables are allocated with P|RW|US entries.
   ent[l] receives the address of the level-l entry used. */
static void map_long(uint64_t root, int levels, uint64_t la, int leaf_level, uint64_t leaf,
                     uint64_t ent[6])
{
    uint64_t table = root;
    for (int l = levels;; l--) {
        uint64_t a = table + ((la >> (12 + 9 * (l - 1))) & 511) * 8;
        if (ent)
            ent[l] = a;
        if (l == leaf_level) {
            put64(a, leaf);
            return;
        }
        uint64_t e = get64(a);
        if (!(e & P)) {
            e = alloc_page() | ALL;
            put64(a, e);
        }
        table = e & 0x000ffffffffff000ull;
    }
}

/* PAE: pdpt is the 32-byte PDPT; ent[3] PDPTE, ent[2] PDE, ent[1] PTE. */
static void map_pae(uint64_t pdpt, uint32_t la, int leaf_level, uint64_t leaf, uint64_t ent[4])
{
    uint64_t a = pdpt + (la >> 30) * 8;
    if (ent)
        ent[3] = a;
    if (!(get64(a) & P))
        put64(a, alloc_page() | P);             /* PDPTE: no R/W, U/S (reserved) */
    uint64_t pd = get64(a) & 0x000ffffffffff000ull;
    a = pd + ((la >> 21) & 511) * 8;
    if (ent)
        ent[2] = a;
    if (leaf_level == 2) {
        put64(a, leaf);
        return;
    }
    if (!(get64(a) & P))
        put64(a, alloc_page() | ALL);
    uint64_t pt = get64(a) & 0x000ffffffffff000ull;
    a = pt + ((la >> 12) & 511) * 8;
    if (ent)
        ent[1] = a;
    put64(a, leaf);
}

/* ------------------------------------------------------------ contexts */

static struct gwalk_ctx ctx_base(void)
{
    struct gwalk_ctx c = { .read_phys = fake_read, .opaque = mem, .maxphyaddr = 46 };
    return c;
}

static struct gwalk_ctx ctx_long(uint64_t cr3, bool la57)
{
    struct gwalk_ctx c = ctx_base();
    c.cr0 = 0x80050033;                         /* PG WP NE ET MP PE (Linux) */
    c.cr3 = cr3;
    c.cr4 = GW_CR4_PAE | (la57 ? GW_CR4_LA57 : 0);
    c.efer = GW_EFER_LMA | (1ull << 8) | GW_EFER_NXE;
    return c;
}

static struct gwalk_ctx ctx_pae(uint64_t cr3)
{
    struct gwalk_ctx c = ctx_base();
    c.cr0 = GW_CR0_PG | GW_CR0_WP | 1;
    c.cr3 = cr3;
    c.cr4 = GW_CR4_PAE;
    c.efer = GW_EFER_NXE;
    return c;
}

static struct gwalk_ctx ctx_32(uint64_t cr3)
{
    struct gwalk_ctx c = ctx_base();
    c.cr0 = GW_CR0_PG | GW_CR0_WP | 1;
    c.cr3 = cr3;
    c.cr4 = GW_CR4_PSE;
    c.maxphyaddr = 40;
    return c;
}

/* ------------------------------------------------------------ expectations */

#define OK(c, la, acc, cpl, want)   expect_ok(__LINE__, (c), (la), (acc), (cpl), (want))
#define PF(c, la, acc, cpl, ec)     expect_pf(__LINE__, (c), (la), (acc), (cpl), (ec), (la))
#define PF2(c, la, acc, cpl, ec, cr2) expect_pf(__LINE__, (c), (la), (acc), (cpl), (ec), (cr2))
#define FAIL2(c, la, acc, cpl)      expect_readfail(__LINE__, (c), (la), (acc), (cpl))

static void expect_ok(int line, const struct gwalk_ctx *c, uint64_t la, enum gwalk_access acc,
                      unsigned cpl, uint64_t want)
{
    struct gwalk_fault f = { 0 };
    uint64_t gpa = 0xdeadbeef;
    int r = gwalk_translate(c, la, acc, cpl, &gpa, &f);
    if (r != 0)
        fail_msg("line %d: la %#llx acc %d cpl %u: r=%d ec=%#x", line, (unsigned long long)la,
                 acc, cpl, r, r == -1 ? f.error_code : 0);
    if (gpa != want)
        fail_msg("line %d: la %#llx -> %#llx, want %#llx", line, (unsigned long long)la,
                 (unsigned long long)gpa, (unsigned long long)want);
}

static void expect_pf(int line, const struct gwalk_ctx *c, uint64_t la, enum gwalk_access acc,
                      unsigned cpl, uint32_t ec, uint64_t cr2)
{
    struct gwalk_fault f;
    memset(&f, 0xcc, sizeof(f));
    uint64_t gpa = 0x5a5a5a5a;
    int r = gwalk_translate(c, la, acc, cpl, &gpa, &f);
    if (r != -1)
        fail_msg("line %d: la %#llx acc %d cpl %u: r=%d (gpa %#llx), want #PF ec %#x", line,
                 (unsigned long long)la, acc, cpl, r, (unsigned long long)gpa, ec);
    if (f.vector != 14 || f.error_code != ec || f.cr2 != cr2)
        fail_msg("line %d: la %#llx acc %d cpl %u: vector %u ec %#x cr2 %#llx, want 14 %#x %#llx",
                 line, (unsigned long long)la, acc, cpl, f.vector, f.error_code,
                 (unsigned long long)f.cr2, ec, (unsigned long long)cr2);
    if (gpa != 0x5a5a5a5a)
        fail_msg("line %d: gpa written on fault", line);
}

static void expect_readfail(int line, const struct gwalk_ctx *c, uint64_t la,
                            enum gwalk_access acc, unsigned cpl)
{
    struct gwalk_fault f, f0;
    memset(&f, 0xcc, sizeof(f));
    f0 = f;
    uint64_t gpa = 0x5a5a5a5a;
    int r = gwalk_translate(c, la, acc, cpl, &gpa, &f);
    if (r != -2)
        fail_msg("line %d: la %#llx: r=%d, want -2", line, (unsigned long long)la, r);
    if (gpa != 0x5a5a5a5a || memcmp(&f, &f0, sizeof(f)) != 0)
        fail_msg("line %d: outputs written on -2", line);
}

/* ============================================================ paging off */

static void test_paging_off(void **state)
{
    (void)state;
    struct gwalk_ctx c = ctx_base();
    c.cr0 = 0x11;                               /* PE, ET: protected mode, no paging */
    c.cr4 = GW_CR4_PAE | GW_CR4_PSE;            /* no effect without CR0.PG */
    for (unsigned cpl = 0; cpl <= 3; cpl++) {
        OK(&c, 0x12345678, GW_READ, cpl, 0x12345678);
        OK(&c, 0x12345678, GW_WRITE, cpl, 0x12345678);
        OK(&c, 0xfffffff0, GW_FETCH, cpl, 0xfffffff0);
    }
    /* linear addresses are 32 bits outside IA-32e mode */
    OK(&c, 0x100001234ull, GW_READ, 0, 0x1234);
    OK(&c, 0xffffffff00000010ull, GW_WRITE, 0, 0x10);
    c.cr0 = 0;                                  /* real mode */
    OK(&c, 0xb8000, GW_WRITE, 0, 0xb8000);
    assert_int_equal(nreads, 0);                /* no paging structures */
}

/* ============================================================ 32-bit paging */

static void test_32bit_4k(void **state)
{
    (void)state;
    uint64_t pd = 0x200000, pt = 0x201000;
    /* la 0x00403123: PDE index 1, PTE index 3, offset 0x123 (SDM 3A 5.3) */
    put32(pd + 1 * 4, (uint32_t)(pt | ALL));
    put32(pt + 3 * 4, 0x00567000 | ALL);
    /* a decoy entry at the neighbouring indices */
    put32(pd + 0 * 4, (uint32_t)(pt | ALL));
    put32(pt + 2 * 4, 0x00999000 | ALL);
    put32(pt + 4 * 4, 0x00888000 | ALL);
    struct gwalk_ctx c = ctx_32(pd | PWT | PCD);   /* CR3 bits 4:3 are not address */
    for (unsigned cpl = 0; cpl <= 3; cpl++) {
        OK(&c, 0x00403123, GW_READ, cpl, 0x567123);
        OK(&c, 0x00403123, GW_WRITE, cpl, 0x567123);
        OK(&c, 0x00403fff, GW_FETCH, cpl, 0x567fff);
    }
    OK(&c, 0x00002123, GW_READ, 0, 0x999123);
    OK(&c, 0x00404000, GW_READ, 0, 0x888000);
    OK(&c, 0x00003000, GW_READ, 0, 0x567000);      /* PDE 0 uses the same table */
    /* 32-bit linear addresses: high bits dropped, also in cr2 */
    OK(&c, 0xabcdef0000403123ull, GW_READ, 0, 0x567123);
    PF2(&c, 0xabcdef0012345678ull, GW_READ, 0, 0, 0x12345678);
    /* frames use all of bits 31:12 */
    put32(pt + 5 * 4, 0xfffff000 | ALL);
    OK(&c, 0x00405abc, GW_READ, 0, 0xfffffabc);
    /* NXE has no effect on 32-bit paging (no XD bit): fetches are allowed */
    c.efer = GW_EFER_NXE;
    OK(&c, 0x00403123, GW_FETCH, 3, 0x567123);
    /* A/D bits were not set by the walk */
    assert_int_equal(get32(pd + 4) & (ACC | DIRTY), 0);
    assert_int_equal(get32(pt + 12) & (ACC | DIRTY), 0);
}

static void test_32bit_not_present(void **state)
{
    (void)state;
    uint64_t pd = 0x200000, pt = 0x201000;
    put32(pd + 1 * 4, (uint32_t)(pt | ALL));
    put32(pt + 3 * 4, 0x00567000 | RW | US);      /* P = 0 */
    struct gwalk_ctx c = ctx_32(pd);
    /* PDE not present (index 2) */
    PF(&c, 0x00800000, GW_READ, 0, 0);
    PF(&c, 0x00800000, GW_WRITE, 0, EC_W);
    PF(&c, 0x00800000, GW_READ, 3, EC_U);
    PF(&c, 0x00800000, GW_WRITE, 3, EC_W | EC_U);
    /* PTE not present */
    PF(&c, 0x00403123, GW_READ, 0, 0);
    PF(&c, 0x00403123, GW_WRITE, 3, EC_W | EC_U);
    PF(&c, 0x00403123, GW_READ, 1, 0);             /* CPL 1, 2: supervisor */
    PF(&c, 0x00403123, GW_WRITE, 2, EC_W);
    /* I/D is 0 for fetches unless SMEP or (PAE and NXE) (SDM 3A 5.7) */
    PF(&c, 0x00403123, GW_FETCH, 0, 0);
    PF(&c, 0x00403123, GW_FETCH, 3, EC_U);
    c.efer = GW_EFER_NXE;                          /* no PAE: still 0 */
    PF(&c, 0x00403123, GW_FETCH, 0, 0);
    c.cr4 |= GW_CR4_SMEP;
    PF(&c, 0x00403123, GW_FETCH, 0, EC_ID);
    PF(&c, 0x00403123, GW_FETCH, 3, EC_ID | EC_U);
    /* a present PTE with other bits: OK again */
    put32(pt + 3 * 4, 0x00567000 | P);
    OK(&c, 0x00403123, GW_READ, 0, 0x567123);
}

static void test_32bit_4m(void **state)
{
    (void)state;
    uint64_t pd = 0x200000;
    struct gwalk_ctx c = ctx_32(pd);                /* CR4.PSE = 1, M = 40 */
    /* la 0xffc12345: PDE index 0x3ff maps the 4 MiB page at 0x12c00000 */
    put32(pd + 0x3ff * 4, 0x12c00000 | PS | ALL);
    OK(&c, 0xffc12345, GW_READ, 3, 0x12c12345);
    OK(&c, 0xffffffff, GW_WRITE, 3, 0x12ffffff);
    /* PAT (bit 12) is not an address bit */
    put32(pd + 0x3ff * 4, 0x12c00000 | PAT_LARGE | PS | ALL);
    OK(&c, 0xffc12345, GW_READ, 0, 0x12c12345);

    /* PSE-36: bits 20:13 give physical address bits 39:32 when M = 40 */
    put32(pd + 0x3ff * 4, 0x12c00000 | (0xab << 13) | PS | ALL);
    OK(&c, 0xffc12345, GW_READ, 0, 0xab12c12345ull);
    c.maxphyaddr = 52;                              /* capped at 40 for 32-bit paging */
    OK(&c, 0xffc12345, GW_READ, 0, 0xab12c12345ull);
    /* M = 36: bits 16:13 are address bits 35:32, bits 21:17 reserved */
    c.maxphyaddr = 36;
    PF(&c, 0xffc12345, GW_READ, 0, EC_P | EC_RSVD);
    PF(&c, 0xffc12345, GW_WRITE, 3, EC_P | EC_W | EC_U | EC_RSVD);
    put32(pd + 0x3ff * 4, 0x12c00000 | (0xb << 13) | PS | ALL);
    OK(&c, 0xffc12345, GW_READ, 0, 0xb12c12345ull);
    put32(pd + 0x3ff * 4, 0x12c00000 | (1u << 17) | PS | ALL);
    PF(&c, 0xffc12345, GW_READ, 0, EC_P | EC_RSVD);
    /* M = 32 (no PSE-36): bits 21:13 all reserved */
    c.maxphyaddr = 32;
    put32(pd + 0x3ff * 4, 0x12c00000 | (1u << 13) | PS | ALL);
    PF(&c, 0xffc12345, GW_READ, 0, EC_P | EC_RSVD);
    c.maxphyaddr = 20;                              /* clamped to 32 */
    PF(&c, 0xffc12345, GW_READ, 0, EC_P | EC_RSVD);
    put32(pd + 0x3ff * 4, 0x12c00000 | PS | ALL);
    OK(&c, 0xffc12345, GW_READ, 0, 0x12c12345);
    /* bit 21 is reserved whatever M */
    c.maxphyaddr = 40;
    put32(pd + 0x3ff * 4, 0x12c00000 | (1u << 21) | PS | ALL);
    PF(&c, 0xffc12345, GW_FETCH, 0, EC_P | EC_RSVD);
    /* a not-present PDE with reserved bits is just not present */
    put32(pd + 0x3ff * 4, 0x12c00000 | (1u << 21) | PS | RW | US);
    PF(&c, 0xffc12345, GW_READ, 0, 0);

    /* With CR4.PSE = 0, PS is ignored: the PDE points to a page table. */
    uint64_t pt = 0x400000;                         /* 4 MiB aligned: also a 4 MiB frame */
    put32(pd + 0x3ff * 4, (uint32_t)(pt | PS | ALL));
    put32(pt + 0x012 * 4, 0x00777000 | ALL);
    OK(&c, 0xffc12345, GW_READ, 0, 0x412345);      /* PSE = 1: 4 MiB page */
    c.cr4 &= ~GW_CR4_PSE;
    OK(&c, 0xffc12345, GW_READ, 0, 0x777345);      /* PSE = 0: through the table */
    /* and bits 21:13, reserved in a 4 MiB PDE, are table-address bits there */
    put32(pd + 0x3ff * 4, (uint32_t)(pt | (1u << 21) | (1u << 13) | PS | ALL));
    put32(pt + 0x202000 + 0x012 * 4, 0x00666000 | ALL);
    OK(&c, 0xffc12345, GW_READ, 0, 0x666345);
}

static void test_32bit_rights(void **state)
{
    (void)state;
    uint64_t pd = 0x200000, pt = 0x201000;
    struct gwalk_ctx c = ctx_32(pd);
    put32(pd + 0 * 4, (uint32_t)(pt | ALL));
    put32(pt + 1 * 4, 0x00300000 | P | US);         /* user, read-only */
    put32(pt + 2 * 4, 0x00301000 | P | RW);         /* supervisor */
    put32(pd + 1 * 4, (uint32_t)(pt | P | US));     /* read-only PDE over a RW PTE */
    put32(pt + 3 * 4, 0x00302000 | ALL);
    put32(pd + 2 * 4, 0x00800000 | PS | P | US);    /* 4 MiB read-only user page */

    OK(&c, 0x1000, GW_READ, 3, 0x300000);
    PF(&c, 0x1000, GW_WRITE, 3, EC_P | EC_W | EC_U);
    PF(&c, 0x1000, GW_WRITE, 0, EC_P | EC_W);       /* CR0.WP = 1 */
    PF(&c, 0x2000, GW_READ, 3, EC_P | EC_U);
    PF(&c, 0x2000, GW_FETCH, 3, EC_P | EC_U);
    OK(&c, 0x2000, GW_WRITE, 0, 0x301000);
    PF(&c, 0x403000, GW_WRITE, 3, EC_P | EC_W | EC_U);   /* R/W = 0 in the PDE */
    OK(&c, 0x403000, GW_READ, 3, 0x302000);
    PF(&c, 0x800000, GW_WRITE, 3, EC_P | EC_W | EC_U);
    c.cr0 &= ~GW_CR0_WP;                            /* supervisor writes ignore R/W */
    OK(&c, 0x1000, GW_WRITE, 0, 0x300000);
    OK(&c, 0x403000, GW_WRITE, 2, 0x302000);
    OK(&c, 0x800000, GW_WRITE, 0, 0x800000);
    PF(&c, 0x1000, GW_WRITE, 3, EC_P | EC_W | EC_U);     /* never for user writes */
    /* SMEP/SMAP apply to 32-bit paging too */
    c.cr4 |= GW_CR4_SMEP | GW_CR4_SMAP;
    PF(&c, 0x1000, GW_FETCH, 0, EC_P | EC_ID);
    PF(&c, 0x1000, GW_READ, 0, EC_P);
    c.ac = true;
    OK(&c, 0x1000, GW_READ, 0, 0x300000);
}

/* ============================================================ PAE paging */

static void test_pae_translate(void **state)
{
    (void)state;
    /* PDPT at 0x200020: CR3 bits 31:5 (SDM 3A 5.4.1), not page aligned */
    uint64_t pdpt = 0x200020, pd = 0x201000, pt = 0x202000, pd1 = 0x203000;
    /* la 0xc0201abc: PDPTE 3, PDE 1, PTE 1, offset 0xabc */
    put64(pdpt + 3 * 8, pd | P);
    put64(pd + 1 * 8, pt | ALL);
    put64(pt + 1 * 8, 0x345000 | ALL);
    put64(pt + 2 * 8, 0x346000 | ALL);
    put64(pdpt + 2 * 8, pd1 | P);                   /* decoy: PDPTE 2 */
    put64(pd1 + 1 * 8, 0x00e00000 | PS | ALL);
    struct gwalk_ctx c = ctx_pae(pdpt | PWT | PCD);
    for (unsigned cpl = 0; cpl <= 3; cpl++) {
        OK(&c, 0xc0201abc, GW_READ, cpl, 0x345abc);
        OK(&c, 0xc0201abc, GW_WRITE, cpl, 0x345abc);
        OK(&c, 0xc0201abc, GW_FETCH, cpl, 0x345abc);    /* PDPTE has no U/S or R/W */
    }
    OK(&c, 0xc0202000, GW_READ, 0, 0x346000);
    OK(&c, 0x80212345, GW_READ, 0, 0xe12345);          /* 2 MiB page via PDPTE 2 */
    OK(&c, 0x803fffff, GW_READ, 0, 0xffffff);
    OK(&c, 0xffffffff80212345ull, GW_READ, 0, 0xe12345);   /* 32-bit linear */
    /* 2 MiB frame above 4 GiB (PAE's point): bits 35:21 with M = 36 */
    put64(pd1 + 1 * 8, 0xfffe00000ull | PS | ALL);
    c.maxphyaddr = 36;
    OK(&c, 0x80212345, GW_READ, 0, 0xfffe12345ull);
    /* the PAT bit (12) of a 2 MiB PDE is not an address bit */
    put64(pd1 + 1 * 8, 0x00e00000 | PAT_LARGE | PS | ALL);
    OK(&c, 0x80212345, GW_READ, 0, 0xe12345);
    /* PCD/PWT/A/D/G/ignored bits in any entry change nothing */
    put64(pdpt + 3 * 8, pd | P | PWT | PCD | (7ull << 9));
    put64(pd + 1 * 8, pt | ALL | ACC | DIRTY | G | (7ull << 9));
    put64(pt + 1 * 8, 0x345000 | ALL | ACC | DIRTY | G | PS /* PAT */ | (7ull << 9));
    OK(&c, 0xc0201abc, GW_WRITE, 3, 0x345abc);
    /* not present at each level */
    PF(&c, 0x00000000, GW_READ, 0, 0);              /* PDPTE 0 */
    PF(&c, 0xc0400000, GW_WRITE, 3, EC_W | EC_U);   /* PDE 2 */
    PF(&c, 0xc0203000, GW_READ, 3, EC_U);           /* PTE 3 */
    /* I/D for fetches: PAE and NXE (SDM 3A 5.7) */
    PF(&c, 0xc0203000, GW_FETCH, 0, EC_ID);
    c.efer = 0;
    PF(&c, 0xc0203000, GW_FETCH, 0, 0);
    c.cr4 |= GW_CR4_SMEP;
    PF(&c, 0xc0203000, GW_FETCH, 3, EC_ID | EC_U);
}

static void test_pae_reserved(void **state)
{
    (void)state;
    uint64_t pdpt = 0x200000;
    uint64_t e4[4], e2[4];
    map_pae(pdpt, 0x40201000, 1, 0x345000 | ALL, e4);
    map_pae(pdpt, 0x40600000, 2, 0x00a00000 | PS | ALL, e2);
    struct gwalk_ctx c = ctx_pae(pdpt);
    c.maxphyaddr = 36;
    OK(&c, 0x40201010, GW_READ, 0, 0x345010);
    OK(&c, 0x40612345, GW_READ, 0, 0xa12345);

    /* PDPTE (table 4-8): bits 2:1, 8:5, 63:M reserved; PWT/PCD and 11:9 are not */
    const uint64_t pdpte_rsvd[] = { 1ull << 1, 1ull << 2, 1ull << 5, 1ull << 6, 1ull << 7,
                                    1ull << 8, 1ull << 36, 1ull << 51, 1ull << 62, XD };
    uint64_t orig = get64(e4[3]);
    for (size_t i = 0; i < sizeof(pdpte_rsvd) / sizeof(pdpte_rsvd[0]); i++) {
        put64(e4[3], orig | pdpte_rsvd[i]);
        PF(&c, 0x40201010, GW_READ, 0, EC_P | EC_RSVD);
        PF(&c, 0x40201010, GW_WRITE, 3, EC_P | EC_W | EC_U | EC_RSVD);
        PF(&c, 0x40201010, GW_FETCH, 0, EC_P | EC_RSVD | EC_ID);
    }
    put64(e4[3], orig | PWT | PCD | (7ull << 9));
    OK(&c, 0x40201010, GW_READ, 0, 0x345010);
    put64(e4[3], orig);

    /* PDE/PTE: bits 62:M reserved (unlike 4-level paging, where 62:52 are ignored) */
    const uint64_t addr_rsvd[] = { 1ull << 36, 1ull << 45, 1ull << 51, 1ull << 52, 1ull << 62 };
    for (size_t i = 0; i < sizeof(addr_rsvd) / sizeof(addr_rsvd[0]); i++) {
        set64(e4[2], addr_rsvd[i]);
        PF(&c, 0x40201010, GW_READ, 0, EC_P | EC_RSVD);
        clr64(e4[2], addr_rsvd[i]);
        set64(e4[1], addr_rsvd[i]);
        PF(&c, 0x40201010, GW_READ, 0, EC_P | EC_RSVD);
        clr64(e4[1], addr_rsvd[i]);
        set64(e2[2], addr_rsvd[i]);
        PF(&c, 0x40612345, GW_READ, 0, EC_P | EC_RSVD);
        clr64(e2[2], addr_rsvd[i]);
    }
    /* bit 35 is an address bit with M = 36, reserved with M = 35 */
    set64(e4[1], 1ull << 35);
    OK(&c, 0x40201010, GW_READ, 0, 0x800345010ull);
    c.maxphyaddr = 35;
    PF(&c, 0x40201010, GW_READ, 0, EC_P | EC_RSVD);
    c.maxphyaddr = 36;
    clr64(e4[1], 1ull << 35);
    /* 2 MiB PDE: bits 20:13 reserved */
    set64(e2[2], 1ull << 13);
    PF(&c, 0x40612345, GW_READ, 0, EC_P | EC_RSVD);
    clr64(e2[2], 1ull << 13);
    set64(e2[2], 1ull << 20);
    PF(&c, 0x40612345, GW_READ, 3, EC_P | EC_U | EC_RSVD);
    clr64(e2[2], 1ull << 20);
    OK(&c, 0x40612345, GW_READ, 0, 0xa12345);

    /* XD (bit 63): reserved when NXE = 0; with NXE = 1 it forbids fetches only */
    set64(e4[1], XD);
    OK(&c, 0x40201010, GW_READ, 0, 0x345010);
    PF(&c, 0x40201010, GW_FETCH, 0, EC_P | EC_ID);
    PF(&c, 0x40201010, GW_FETCH, 3, EC_P | EC_U | EC_ID);
    c.efer = 0;
    PF(&c, 0x40201010, GW_READ, 0, EC_P | EC_RSVD);
    PF(&c, 0x40201010, GW_FETCH, 0, EC_P | EC_RSVD);     /* no I/D without NXE/SMEP */
    clr64(e4[1], XD);
    set64(e4[2], XD);
    PF(&c, 0x40201010, GW_READ, 0, EC_P | EC_RSVD);
    c.efer = GW_EFER_NXE;
    PF(&c, 0x40201010, GW_FETCH, 0, EC_P | EC_ID);       /* XD in the PDE */
    OK(&c, 0x40201010, GW_WRITE, 0, 0x345010);
    clr64(e4[2], XD);
    /* protection keys exist only in 4-/5-level paging (bits 62:59 are reserved here):
       CR4.PKE/PKS and PKRU/PKRS have no effect on PAE paging */
    c.cr4 |= GW_CR4_PKE | GW_CR4_PKS;
    c.pkru = c.pkrs = 0xffffffff;
    OK(&c, 0x40201010, GW_WRITE, 3, 0x345010);
    OK(&c, 0x40201010, GW_WRITE, 0, 0x345010);
}

static void test_pae_pdpte_registers(void **state)
{
    (void)state;
    uint64_t pdpt = 0x200000;
    uint64_t e[4];
    map_pae(pdpt, 0x40201000, 1, 0x345000 | ALL, e);
    struct gwalk_ctx c = ctx_pae(pdpt);
    OK(&c, 0x40201010, GW_READ, 0, 0x345010);

    /* The PDPTEs given (VMCS guest PDPTEs) are used instead of memory. */
    uint64_t regs[4] = { 0, get64(e[3]), 0, 0 };
    uint64_t pd = get64(e[3]) & ~0xfffull;
    c.pdpte = regs;
    put64(pdpt + 8, 0);                             /* memory copy changed since load */
    OK(&c, 0x40201010, GW_READ, 0, 0x345010);
    PF(&c, 0x00201010, GW_READ, 0, 0);
    /* ... even if memory has a present one there */
    put64(pdpt + 0, pd | P);
    PF(&c, 0x00201010, GW_READ, 0, 0);
    c.pdpte = NULL;
    OK(&c, 0x00201010, GW_READ, 0, 0x345010);
    PF(&c, 0x40201010, GW_READ, 0, 0);              /* memory PDPTE 1 is 0 now */
}

/* ============================================================ 4-level paging */

static void test_long_4k_by_hand(void **state)
{
    (void)state;
    /* la: PML4 0x0ab, PDPT 0x155, PD 0x0cc, PT 0x1f0, offset 0x123 (SDM 3A 5.5.4) */
    const uint64_t la = 0x000055d5599f0123ull;
    uint64_t pml4 = 0x200000, pdpt = 0x201000, pd = 0x202000, pt = 0x203000;
    put64(pml4 + 0x0ab * 8, pdpt | ALL);
    put64(pdpt + 0x155 * 8, pd | ALL);
    put64(pd + 0x0cc * 8, pt | ALL);
    put64(pt + 0x1f0 * 8, 0x0000123456789000ull | ALL);
    /* decoys one index off at every level */
    put64(pml4 + 0x0ac * 8, pdpt | ALL);
    put64(pdpt + 0x154 * 8, pd | ALL);
    put64(pd + 0x0cd * 8, pt | ALL);
    put64(pt + 0x1f1 * 8, 0x0000000000777000ull | ALL);
    struct gwalk_ctx c = ctx_long(pml4 | 0x7ff, false);  /* PCID in CR3 bits 11:0 */
    for (unsigned cpl = 0; cpl <= 3; cpl++)
        for (int a = GW_READ; a <= GW_FETCH; a++)
            OK(&c, la, (enum gwalk_access)a, cpl, 0x0000123456789123ull);
    OK(&c, la + 0x1000, GW_READ, 0, 0x777123);
    OK(&c, la | 0xfff, GW_READ, 0, 0x0000123456789fffull);
    PF(&c, la + 0x2000, GW_READ, 0, 0);
    /* the same PML4 slot from the upper half: index 0x1ab is empty */
    PF(&c, 0xffff000000000000ull | la | (1ull << 47), GW_READ, 0, 0);
    put64(pml4 + 0x1ab * 8, pdpt | ALL);
    OK(&c, 0xffff000000000000ull | la | (1ull << 47), GW_READ, 0, 0x0000123456789123ull);
    /* walk reads: one per level */
    nreads = 0;
    OK(&c, la, GW_READ, 0, 0x0000123456789123ull);
    assert_int_equal(nreads, 4);
    /* A/D not touched */
    assert_int_equal(get64(pt + 0x1f0 * 8) & (ACC | DIRTY), 0);
    assert_int_equal(get64(pml4 + 0x0ab * 8) & ACC, 0);
}

static void test_long_large_pages(void **state)
{
    (void)state;
    uint64_t root = alloc_page();
    uint64_t e1g[6], e2m[6];
    /* 1 GiB page at la 0x40000000 -> 0x3_c000_0000; 2 MiB at 0x7fe00000 -> 0x1_2340_0000 */
    map_long(root, 4, 0x40000000, 3, 0x3c0000000ull | PS | ALL, e1g);
    map_long(root, 4, 0x7fe00000ull + 0x80000000ull, 2, 0x123400000ull | PS | ALL, e2m);
    struct gwalk_ctx c = ctx_long(root, false);
    OK(&c, 0x40000000, GW_READ, 3, 0x3c0000000ull);
    OK(&c, 0x7fffffff, GW_WRITE, 3, 0x3ffffffffull);
    OK(&c, 0x5a5a5a5a, GW_FETCH, 0, 0x3da5a5a5aull);
    OK(&c, 0xffe12345ull, GW_READ, 0, 0x123412345ull);
    OK(&c, 0xffffffffull, GW_READ, 0, 0x1235fffffull);
    PF(&c, 0xffc00000ull, GW_READ, 0, 0);           /* next 2 MiB down is absent */
    /* PAT bit 12 of large pages is not an address bit */
    set64(e1g[3], PAT_LARGE);
    set64(e2m[2], PAT_LARGE);
    OK(&c, 0x40000123, GW_READ, 0, 0x3c0000123ull);
    OK(&c, 0xffe12345ull, GW_READ, 0, 0x123412345ull);
    /* 1 GiB: bits 29:13 reserved */
    for (unsigned b = 13; b <= 29; b++) {
        set64(e1g[3], 1ull << b);
        PF(&c, 0x40000123, GW_READ, 0, EC_P | EC_RSVD);
        clr64(e1g[3], 1ull << b);
    }
    /* 2 MiB: bits 20:13 reserved */
    for (unsigned b = 13; b <= 20; b++) {
        set64(e2m[2], 1ull << b);
        PF(&c, 0xffe12345ull, GW_WRITE, 3, EC_P | EC_W | EC_U | EC_RSVD);
        clr64(e2m[2], 1ull << b);
    }
    OK(&c, 0x40000123, GW_READ, 0, 0x3c0000123ull);
    OK(&c, 0xffe12345ull, GW_READ, 0, 0x123412345ull);
    /* the same entries without PS point to tables */
    uint64_t t = alloc_page();
    put64(e1g[3], t | ALL);
    put64(t + 0 * 8, 0x00600000 | PS | ALL);
    OK(&c, 0x40012345, GW_READ, 0, 0x612345);
}

static void test_long_reserved(void **state)
{
    (void)state;
    uint64_t root = alloc_page();
    uint64_t e[6];
    const uint64_t la = 0x00007f0012345678ull;
    map_long(root, 4, la, 1, 0x0000200000345000ull | ALL, e);
    struct gwalk_ctx c = ctx_long(root, false);      /* M = 46 */
    OK(&c, la, GW_READ, 0, 0x0000200000345678ull);

    for (int l = 1; l <= 4; l++) {
        /* address bits 51:M */
        for (unsigned b = 46; b <= 51; b++) {
            set64(e[l], 1ull << b);
            PF(&c, la, GW_READ, 0, EC_P | EC_RSVD);
            PF(&c, la, GW_FETCH, 3, EC_P | EC_U | EC_RSVD | EC_ID);
            clr64(e[l], 1ull << b);
        }
        /* bits 62:52 are ignored (62:59 are the protection key in a leaf) */
        set64(e[l], 0x7ffull << 52);
        OK(&c, la, GW_READ, 0, 0x0000200000345678ull);
        clr64(e[l], 0x7ffull << 52);
        /* XD reserved when NXE = 0 */
        set64(e[l], XD);
        c.efer &= ~GW_EFER_NXE;
        PF(&c, la, GW_WRITE, 0, EC_P | EC_W | EC_RSVD);
        PF(&c, la, GW_FETCH, 0, EC_P | EC_RSVD);     /* I/D needs NXE or SMEP */
        c.efer |= GW_EFER_NXE;
        OK(&c, la, GW_READ, 0, 0x0000200000345678ull);
        PF(&c, la, GW_FETCH, 0, EC_P | EC_ID);
        clr64(e[l], XD);
    }
    /* PS in a PML4E is reserved */
    set64(e[4], PS);
    PF(&c, la, GW_READ, 0, EC_P | EC_RSVD);
    clr64(e[4], PS);
    /* M = 52: no address bits reserved; bit 45 is an address bit at M = 46 */
    set64(e[1], 1ull << 51);
    PF(&c, la, GW_READ, 0, EC_P | EC_RSVD);
    c.maxphyaddr = 52;
    OK(&c, la, GW_READ, 0, 0x0008200000345678ull);
    c.maxphyaddr = 0;                               /* 0 means 52 */
    OK(&c, la, GW_READ, 0, 0x0008200000345678ull);
    c.maxphyaddr = 200;                             /* clamped to 52 */
    OK(&c, la, GW_READ, 0, 0x0008200000345678ull);
    c.maxphyaddr = 46;
    clr64(e[1], 1ull << 51);
    /* reserved bits in a not-present entry do not matter */
    put64(e[2], get64(e[2]) & ~P);
    set64(e[2], 1ull << 50);
    PF(&c, la, GW_WRITE, 3, EC_W | EC_U);
    /* the first problem met stops the walk: reserved at PML4, not present below */
    set64(e[4], 1ull << 50);
    PF(&c, la, GW_WRITE, 3, EC_P | EC_W | EC_U | EC_RSVD);
    /* reserved bits win over protection: supervisor PML4E, user access */
    uint64_t root2 = alloc_page();
    map_long(root2, 4, la, 1, 0x345000 | P, e);
    clr64(e[4], US);
    c.cr3 = root2;
    PF(&c, la, GW_WRITE, 3, EC_P | EC_W | EC_U);
    set64(e[1], XD);
    c.efer &= ~GW_EFER_NXE;
    PF(&c, la, GW_WRITE, 3, EC_P | EC_W | EC_U | EC_RSVD);
}

static void test_long_not_present(void **state)
{
    (void)state;
    uint64_t root = alloc_page();
    uint64_t e[6];
    const uint64_t la = 0xffffc90000401000ull;
    map_long(root, 4, la, 1, 0x345000 | ALL, e);
    struct gwalk_ctx c = ctx_long(root, false);
    for (int l = 1; l <= 4; l++) {
        uint64_t keep = get64(e[l]);
        put64(e[l], keep & ~P);
        PF(&c, la, GW_READ, 0, 0);
        PF(&c, la, GW_READ, 3, EC_U);
        PF(&c, la, GW_WRITE, 0, EC_W);
        PF(&c, la, GW_WRITE, 3, EC_W | EC_U);
        PF(&c, la, GW_FETCH, 0, EC_ID);             /* NXE = 1 with PAE */
        PF(&c, la, GW_FETCH, 3, EC_ID | EC_U);
        c.efer &= ~GW_EFER_NXE;
        PF(&c, la, GW_FETCH, 0, 0);
        c.cr4 |= GW_CR4_SMEP;
        PF(&c, la, GW_FETCH, 3, EC_ID | EC_U);
        c.cr4 &= ~GW_CR4_SMEP;
        c.efer |= GW_EFER_NXE;
        put64(e[l], 0);                             /* an all-zero entry too */
        PF(&c, la + 0x10, GW_WRITE, 1, EC_W);
        put64(e[l], keep);
        OK(&c, la, GW_READ, 0, 0x345000);
    }
}

/* ============================================================ access rights */

/* A 4-level mapping of `la` to 0x345000 with leaf flags; returns entry addresses. */
static struct gwalk_ctx rights_setup(uint64_t la, uint64_t leaf_flags, uint64_t e[6])
{
    uint64_t root = alloc_page();
    map_long(root, 4, la, 1, 0x345000 | leaf_flags, e);
    return ctx_long(root, false);
}

static void test_rights_user_supervisor(void **state)
{
    (void)state;
    const uint64_t la = 0x400000;
    uint64_t e[6];
    struct gwalk_ctx c = rights_setup(la, P | RW, e);    /* supervisor page */
    PF(&c, la, GW_READ, 3, EC_P | EC_U);
    PF(&c, la, GW_WRITE, 3, EC_P | EC_W | EC_U);
    PF(&c, la, GW_FETCH, 3, EC_P | EC_U | EC_ID);
    for (unsigned cpl = 0; cpl <= 2; cpl++) {
        OK(&c, la, GW_READ, cpl, 0x345000);
        OK(&c, la, GW_WRITE, cpl, 0x345000);
        OK(&c, la, GW_FETCH, cpl, 0x345000);
    }
    /* U/S = 0 at any one level makes a supervisor-mode address */
    set64(e[1], US);
    OK(&c, la, GW_READ, 3, 0x345000);
    for (int l = 2; l <= 4; l++) {
        clr64(e[l], US);
        PF(&c, la, GW_READ, 3, EC_P | EC_U);
        PF(&c, la, GW_WRITE, 3, EC_P | EC_W | EC_U);
        set64(e[l], US);
    }
    OK(&c, la, GW_WRITE, 3, 0x345000);
}

static void test_rights_write(void **state)
{
    (void)state;
    const uint64_t la = 0x400000;
    uint64_t e[6];
    struct gwalk_ctx c = rights_setup(la, P | US, e);    /* read-only user page */
    OK(&c, la, GW_READ, 3, 0x345000);
    OK(&c, la, GW_FETCH, 3, 0x345000);
    PF(&c, la, GW_WRITE, 3, EC_P | EC_W | EC_U);
    PF(&c, la, GW_WRITE, 0, EC_P | EC_W);           /* CR0.WP = 1 */
    c.cr0 &= ~GW_CR0_WP;
    OK(&c, la, GW_WRITE, 0, 0x345000);
    OK(&c, la, GW_WRITE, 2, 0x345000);
    PF(&c, la, GW_WRITE, 3, EC_P | EC_W | EC_U);
    c.cr0 |= GW_CR0_WP;
    /* R/W = 0 at any one level makes the page read-only */
    set64(e[1], RW);
    OK(&c, la, GW_WRITE, 3, 0x345000);
    for (int l = 2; l <= 4; l++) {
        clr64(e[l], RW);
        PF(&c, la, GW_WRITE, 3, EC_P | EC_W | EC_U);
        PF(&c, la, GW_WRITE, 0, EC_P | EC_W);
        OK(&c, la, GW_READ, 3, 0x345000);
        set64(e[l], RW);
    }
    /* read-only supervisor page */
    clr64(e[1], US | RW);
    PF(&c, la, GW_WRITE, 0, EC_P | EC_W);
    PF(&c, la, GW_WRITE, 3, EC_P | EC_W | EC_U);
}

static void test_rights_nx(void **state)
{
    (void)state;
    const uint64_t la = 0x400000;
    uint64_t e[6];
    struct gwalk_ctx c = rights_setup(la, ALL | XD, e);
    OK(&c, la, GW_READ, 3, 0x345000);
    OK(&c, la, GW_WRITE, 3, 0x345000);
    PF(&c, la, GW_FETCH, 3, EC_P | EC_U | EC_ID);
    PF(&c, la, GW_FETCH, 0, EC_P | EC_ID);
    clr64(e[1], XD);
    OK(&c, la, GW_FETCH, 3, 0x345000);
    for (int l = 2; l <= 4; l++) {                  /* XD at any level */
        set64(e[l], XD);
        PF(&c, la, GW_FETCH, 0, EC_P | EC_ID);
        clr64(e[l], XD);
    }
    /* XD wins over user access to supervisor page only in that both fault the same */
    clr64(e[1], US);
    set64(e[1], XD);
    PF(&c, la, GW_FETCH, 3, EC_P | EC_U | EC_ID);
}

static void test_rights_smep(void **state)
{
    (void)state;
    const uint64_t la = 0x400000;
    uint64_t e[6];
    struct gwalk_ctx c = rights_setup(la, ALL, e);   /* user page */
    OK(&c, la, GW_FETCH, 0, 0x345000);
    c.cr4 |= GW_CR4_SMEP;
    PF(&c, la, GW_FETCH, 0, EC_P | EC_ID);
    PF(&c, la, GW_FETCH, 2, EC_P | EC_ID);
    OK(&c, la, GW_FETCH, 3, 0x345000);
    OK(&c, la, GW_READ, 0, 0x345000);               /* data accesses unaffected */
    OK(&c, la, GW_WRITE, 0, 0x345000);
    c.efer &= ~GW_EFER_NXE;                         /* I/D still set: SMEP */
    PF(&c, la, GW_FETCH, 0, EC_P | EC_ID);
    /* a supervisor-mode address (U/S = 0 somewhere) is fine */
    clr64(e[3], US);
    OK(&c, la, GW_FETCH, 0, 0x345000);
}

static void test_rights_smap(void **state)
{
    (void)state;
    const uint64_t la = 0x400000;
    uint64_t e[6];
    struct gwalk_ctx c = rights_setup(la, ALL, e);   /* user page, writable */
    c.cr4 |= GW_CR4_SMAP;
    PF(&c, la, GW_READ, 0, EC_P);
    PF(&c, la, GW_WRITE, 0, EC_P | EC_W);
    PF(&c, la, GW_READ, 1, EC_P);
    OK(&c, la, GW_FETCH, 0, 0x345000);              /* SMAP is data only */
    OK(&c, la, GW_READ, 3, 0x345000);               /* user accesses unaffected */
    OK(&c, la, GW_WRITE, 3, 0x345000);
    c.cr0 &= ~GW_CR0_WP;                            /* WP = 0 does not lift SMAP */
    PF(&c, la, GW_WRITE, 0, EC_P | EC_W);
    c.cr0 |= GW_CR0_WP;
    /* RFLAGS.AC = 1 allows explicit supervisor accesses */
    c.ac = true;
    OK(&c, la, GW_READ, 0, 0x345000);
    OK(&c, la, GW_WRITE, 0, 0x345000);
    /* ... subject to R/W and WP as without SMAP */
    clr64(e[1], RW);
    PF(&c, la, GW_WRITE, 0, EC_P | EC_W);
    c.cr0 &= ~GW_CR0_WP;
    OK(&c, la, GW_WRITE, 0, 0x345000);
    c.ac = false;
    PF(&c, la, GW_WRITE, 0, EC_P | EC_W);
    PF(&c, la, GW_READ, 0, EC_P);
    /* supervisor-mode addresses are not subject to SMAP */
    clr64(e[4], US);
    OK(&c, la, GW_READ, 0, 0x345000);
    OK(&c, la, GW_WRITE, 0, 0x345000);
    /* SMAP off: fine */
    set64(e[4], US);
    c.cr4 &= ~GW_CR4_SMAP;
    OK(&c, la, GW_READ, 0, 0x345000);
}

static void test_rights_pkeys(void **state)
{
    (void)state;
    const uint64_t la = 0x400000;
    uint64_t e[6];
    struct gwalk_ctx c = rights_setup(la, ALL | PKEY(5), e);
    c.pkru = 3u << 10;                              /* AD5, WD5: no effect without PKE */
    OK(&c, la, GW_READ, 3, 0x345000);
    OK(&c, la, GW_WRITE, 3, 0x345000);
    c.cr4 |= GW_CR4_PKE;
    /* AD5: no data access */
    c.pkru = 1u << 10;
    PF(&c, la, GW_READ, 3, EC_P | EC_U | EC_PK);
    PF(&c, la, GW_WRITE, 3, EC_P | EC_W | EC_U | EC_PK);
    PF(&c, la, GW_READ, 0, EC_P | EC_PK);           /* supervisor access to user address */
    PF(&c, la, GW_WRITE, 0, EC_P | EC_W | EC_PK);
    OK(&c, la, GW_FETCH, 3, 0x345000);              /* keys do not govern fetches */
    OK(&c, la, GW_FETCH, 0, 0x345000);
    /* WD5: writes, and supervisor writes only with WP */
    c.pkru = 2u << 10;
    OK(&c, la, GW_READ, 3, 0x345000);
    OK(&c, la, GW_READ, 0, 0x345000);
    PF(&c, la, GW_WRITE, 3, EC_P | EC_W | EC_U | EC_PK);
    PF(&c, la, GW_WRITE, 0, EC_P | EC_W | EC_PK);
    c.cr0 &= ~GW_CR0_WP;
    OK(&c, la, GW_WRITE, 0, 0x345000);
    PF(&c, la, GW_WRITE, 3, EC_P | EC_W | EC_U | EC_PK);
    c.cr0 |= GW_CR0_WP;
    /* other keys' bits do not matter */
    c.pkru = ~(3u << 10);
    OK(&c, la, GW_WRITE, 3, 0x345000);
    /* the key comes from the leaf bits 62:59 */
    put64(e[1], (get64(e[1]) & ~PKEY(0xf)) | PKEY(15));
    c.pkru = 1u << 30;
    PF(&c, la, GW_READ, 3, EC_P | EC_U | EC_PK);
    c.pkru = 1u << 28;
    OK(&c, la, GW_READ, 3, 0x345000);
    /* PK is set together with another violation when the key also forbids it */
    put64(e[1], (get64(e[1]) & ~(PKEY(0xf) | RW)) | PKEY(5));
    c.pkru = 2u << 10;
    PF(&c, la, GW_WRITE, 3, EC_P | EC_W | EC_U | EC_PK);
    c.pkru = 0;
    PF(&c, la, GW_WRITE, 3, EC_P | EC_W | EC_U);
    /* PKRU does not apply to supervisor-mode addresses */
    set64(e[1], RW);
    clr64(e[2], US);
    c.pkru = ~0u;
    OK(&c, la, GW_WRITE, 0, 0x345000);
    /* IA32_PKRS does, with CR4.PKS: AD5 */
    c.pkrs = 1u << 10;
    OK(&c, la, GW_READ, 0, 0x345000);
    c.cr4 |= GW_CR4_PKS;
    PF(&c, la, GW_READ, 0, EC_P | EC_PK);
    PF(&c, la, GW_WRITE, 1, EC_P | EC_W | EC_PK);
    OK(&c, la, GW_FETCH, 0, 0x345000);
    /* WD5 in PKRS: supervisor writes with WP only */
    c.pkrs = 2u << 10;
    OK(&c, la, GW_READ, 0, 0x345000);
    PF(&c, la, GW_WRITE, 0, EC_P | EC_W | EC_PK);
    c.cr0 &= ~GW_CR0_WP;
    OK(&c, la, GW_WRITE, 0, 0x345000);
    c.cr0 |= GW_CR0_WP;
    /* PKRS does not apply to user-mode addresses */
    set64(e[2], US);
    c.pkru = 0;
    c.pkrs = ~0u;
    OK(&c, la, GW_WRITE, 0, 0x345000);
    OK(&c, la, GW_WRITE, 3, 0x345000);
}

/* ============================================================ 5-level paging */

static void test_5level(void **state)
{
    (void)state;
    /* la: PML5 0x1a5, PML4 0x0ab, PDPT 0x155, PD 0x0cc, PT 0x1f0, offset 0x123 */
    const uint64_t la = 0xffa555d5599f0123ull;
    uint64_t pml5 = 0x200000, pml4 = 0x201000, pdpt = 0x202000, pd = 0x203000, pt = 0x204000;
    put64(pml5 + 0x1a5 * 8, pml4 | ALL);
    put64(pml4 + 0x0ab * 8, pdpt | ALL);
    put64(pdpt + 0x155 * 8, pd | ALL);
    put64(pd + 0x0cc * 8, pt | ALL);
    put64(pt + 0x1f0 * 8, 0x0000000abcdef000ull | ALL);
    struct gwalk_ctx c = ctx_long(pml5, true);
    assert_true(gwalk_canonical(&c, la));
    OK(&c, la, GW_READ, 3, 0xabcdef123ull);
    OK(&c, la, GW_FETCH, 0, 0xabcdef123ull);
    nreads = 0;
    OK(&c, la, GW_WRITE, 0, 0xabcdef123ull);
    assert_int_equal(nreads, 5);
    /* bits 56:48 select the PML5 entry: 0x1a4 is empty */
    PF(&c, la - (1ull << 48), GW_READ, 0, 0);
    /* without LA57 the same CR3 is a PML4: index 0x0ab of pml5 is empty */
    c.cr4 &= ~GW_CR4_LA57;
    PF(&c, la, GW_READ, 0, 0);
    c.cr4 |= GW_CR4_LA57;

    /* PML5E: PS reserved, U/S and R/W and XD count */
    set64(pml5 + 0x1a5 * 8, PS);
    PF(&c, la, GW_READ, 0, EC_P | EC_RSVD);
    clr64(pml5 + 0x1a5 * 8, PS);
    set64(pml5 + 0x1a5 * 8, 1ull << 46);            /* M = 46 */
    PF(&c, la, GW_READ, 0, EC_P | EC_RSVD);
    clr64(pml5 + 0x1a5 * 8, 1ull << 46);
    clr64(pml5 + 0x1a5 * 8, US);
    PF(&c, la, GW_READ, 3, EC_P | EC_U);
    set64(pml5 + 0x1a5 * 8, US);
    clr64(pml5 + 0x1a5 * 8, RW);
    PF(&c, la, GW_WRITE, 3, EC_P | EC_W | EC_U);
    set64(pml5 + 0x1a5 * 8, RW | XD);
    PF(&c, la, GW_FETCH, 3, EC_P | EC_U | EC_ID);
    c.efer &= ~GW_EFER_NXE;
    PF(&c, la, GW_READ, 3, EC_P | EC_U | EC_RSVD);
    c.efer |= GW_EFER_NXE;
    clr64(pml5 + 0x1a5 * 8, XD);
    /* not present PML5E */
    clr64(pml5 + 0x1a5 * 8, P);
    PF(&c, la, GW_WRITE, 3, EC_W | EC_U);
    set64(pml5 + 0x1a5 * 8, P);
    /* 1 GiB and 2 MiB pages under 5 levels */
    put64(pdpt + 0x155 * 8, 0x0000004c0000000ull | PS | ALL);
    OK(&c, la, GW_READ, 0, 0x4c0000000ull + 0x199f0123ull);
    put64(pdpt + 0x155 * 8, pd | ALL);
    put64(pd + 0x0cc * 8, 0x0000000000e00000ull | PS | ALL);
    OK(&c, la, GW_READ, 0, 0xe00000 + 0x1f0123);
    /* top of the lower half of the 57-bit space, built by the helper */
    uint64_t root = alloc_page(), e[6];
    map_long(root, 5, 0x00ff800000001000ull, 1, 0x777000 | ALL, e);
    c.cr3 = root;
    OK(&c, 0x00ff800000001abcull, GW_READ, 0, 0x777abc);
    assert_int_equal(e[5], root + 0x0ff * 8);
}

/* ============================================================ read_phys failures */

static void test_read_phys_failure(void **state)
{
    (void)state;
    /* 4-level: failure at each level's table */
    uint64_t root = alloc_page(), e[6];
    const uint64_t la = 0x00007f0012345678ull;
    map_long(root, 4, la, 1, 0x345000 | ALL, e);
    struct gwalk_ctx c = ctx_long(root, false);
    OK(&c, la, GW_READ, 0, 0x345678);
    for (int l = 1; l <= 4; l++) {
        fail_lo = e[l] & ~0xfffull;
        fail_hi = fail_lo + 4096;
        FAIL2(&c, la, GW_READ, 0);
        FAIL2(&c, la, GW_FETCH, 3);
    }
    fail_lo = fail_hi = 0;
    /* a table pointer beyond RAM */
    uint64_t keep = get64(e[2]);
    put64(e[2], 0x0000100000000000ull | ALL);
    FAIL2(&c, la, GW_WRITE, 3);
    put64(e[2], keep);
    /* CR3 beyond RAM */
    c.cr3 = 0x10000000;
    FAIL2(&c, la, GW_READ, 0);
    /* the data page being absent is not the walker's business */
    c.cr3 = root;
    put64(e[1], 0x0000200000000000ull | ALL);
    OK(&c, la, GW_READ, 0, 0x0000200000000678ull);

    /* 32-bit paging: PD and PT */
    uint64_t pd = 0x200000, pt = 0x201000;
    put32(pd + 1 * 4, (uint32_t)(pt | ALL));
    put32(pt + 3 * 4, 0x567000 | ALL);
    struct gwalk_ctx c32 = ctx_32(pd);
    OK(&c32, 0x403000, GW_READ, 0, 0x567000);
    fail_lo = pd; fail_hi = pd + 4096;
    FAIL2(&c32, 0x403000, GW_READ, 0);
    fail_lo = pt; fail_hi = pt + 4096;
    FAIL2(&c32, 0x403000, GW_READ, 0);
    fail_lo = fail_hi = 0;

    /* PAE: PDPT, PD, PT */
    setup(NULL);
    uint64_t pdpt = 0x200000, ep[4];
    map_pae(pdpt, 0x40201000, 1, 0x345000 | ALL, ep);
    struct gwalk_ctx cp = ctx_pae(pdpt);
    OK(&cp, 0x40201000, GW_READ, 0, 0x345000);
    for (int l = 1; l <= 3; l++) {
        fail_lo = ep[l]; fail_hi = ep[l] + 8;
        FAIL2(&cp, 0x40201000, GW_READ, 0);
    }
    /* given PDPTEs: no PDPT read at all */
    uint64_t regs[4] = { 0, get64(ep[3]), 0, 0 };
    cp.pdpte = regs;
    fail_lo = ep[3]; fail_hi = ep[3] + 8;
    OK(&cp, 0x40201000, GW_READ, 0, 0x345000);
    fail_lo = fail_hi = 0;
}

/* ============================================================ gwalk_read */

static void test_read_across_pages(void **state)
{
    (void)state;
    uint64_t root = alloc_page(), e[6];
    /* three consecutive linear pages on scattered physical pages */
    map_long(root, 4, 0x7ff000, 1, 0x600000 | ALL, NULL);
    map_long(root, 4, 0x800000, 1, 0x500000 | P | US, NULL);   /* read-only */
    map_long(root, 4, 0x801000, 1, 0x700000 | ALL, e);
    struct gwalk_ctx c = ctx_long(root, false);
    for (unsigned i = 0; i < 4096; i++) {
        mem[0x600000 + i] = (uint8_t)(0x10 + i);
        mem[0x500000 + i] = (uint8_t)(0x80 + i);
        mem[0x700000 + i] = (uint8_t)(0xc0 + i);
    }
    struct gwalk_fault f;
    uint8_t buf[8192 + 16];
    /* within a page */
    memset(buf, 0, sizeof(buf));
    assert_int_equal(gwalk_read(&c, 0x800010, buf, 4, GW_READ, 3, &f), 0);
    assert_memory_equal(buf, ((uint8_t[]){ 0x90, 0x91, 0x92, 0x93 }), 4);
    /* crossing one boundary: an 8-byte read at 0x7ffffc */
    assert_int_equal(gwalk_read(&c, 0x7ffffc, buf, 8, GW_READ, 3, &f), 0);
    assert_memory_equal(buf, ((uint8_t[]){ 0x0c, 0x0d, 0x0e, 0x0f, 0x80, 0x81, 0x82, 0x83 }), 8);
    /* two boundaries */
    size_t n = 4096 + 8;
    assert_int_equal(gwalk_read(&c, 0x7ffffc, buf, n, GW_FETCH, 0, &f), 0);
    assert_memory_equal(buf, mem + 0x600ffc, 4);
    assert_memory_equal(buf + 4, mem + 0x500000, 4096);
    assert_memory_equal(buf + 4100, mem + 0x700000, 4);
    /* len 0: nothing read, success */
    nreads = 0;
    assert_int_equal(gwalk_read(&c, 0x12345678, buf, 0, GW_READ, 0, &f), 0);
    assert_int_equal(nreads, 0);
    /* rights are checked per page: the read-only middle page faults on write, at its
       first byte (cr2), as a page-crossing access does */
    memset(&f, 0, sizeof(f));
    assert_int_equal(gwalk_read(&c, 0x7ffffc, buf, 8, GW_WRITE, 3, &f), -1);
    assert_int_equal(f.vector, 14);
    assert_int_equal(f.error_code, EC_P | EC_W | EC_U);
    assert_int_equal(f.cr2, 0x800000);
    /* a fault on the first page reports the start address */
    assert_int_equal(gwalk_read(&c, 0x7feffcull, buf, 8, GW_READ, 0, &f), -1);
    assert_int_equal(f.error_code, 0);
    assert_int_equal(f.cr2, 0x7feffc);
    /* the third page not present */
    clr64(e[1], P);
    assert_int_equal(gwalk_read(&c, 0x800ff0, buf, 0x20, GW_READ, 3, &f), -1);
    assert_int_equal(f.error_code, EC_U);
    assert_int_equal(f.cr2, 0x801000);
    /* ... and NX on the third page for a fetch */
    put64(e[1], 0x700000 | ALL | XD);
    assert_int_equal(gwalk_read(&c, 0x800ff0, buf, 0x20, GW_FETCH, 3, &f), -1);
    assert_int_equal(f.error_code, EC_P | EC_U | EC_ID);
    assert_int_equal(f.cr2, 0x801000);
    assert_int_equal(gwalk_read(&c, 0x800ff0, buf, 0x20, GW_READ, 3, &f), 0);
    /* a data page outside RAM: -2 */
    put64(e[1], 0x0000100000000000ull | ALL);
    assert_int_equal(gwalk_read(&c, 0x800ff0, buf, 0x20, GW_READ, 3, &f), -2);
    assert_int_equal(gwalk_read(&c, 0x800ff0, buf, 0x10, GW_READ, 3, &f), 0);
}

static void test_read_legacy_wrap(void **state)
{
    (void)state;
    /* 32-bit paging: a read at 0xfffffffe wraps to linear 0 */
    uint64_t pd = 0x200000, pt_hi = 0x201000, pt_lo = 0x202000;
    put32(pd + 0x3ff * 4, (uint32_t)(pt_hi | ALL));
    put32(pt_hi + 0x3ff * 4, 0x300000 | ALL);
    put32(pd + 0, (uint32_t)(pt_lo | ALL));
    put32(pt_lo + 0, 0x310000 | ALL);
    mem[0x300ffe] = 0xaa; mem[0x300fff] = 0xbb;
    mem[0x310000] = 0xcc; mem[0x310001] = 0xdd;
    struct gwalk_ctx c = ctx_32(pd);
    struct gwalk_fault f;
    uint8_t buf[4];
    assert_int_equal(gwalk_read(&c, 0xfffffffe, buf, 4, GW_READ, 0, &f), 0);
    assert_memory_equal(buf, ((uint8_t[]){ 0xaa, 0xbb, 0xcc, 0xdd }), 4);
    put32(pt_lo + 0, 0);
    assert_int_equal(gwalk_read(&c, 0xfffffffe, buf, 4, GW_READ, 3, &f), -1);
    assert_int_equal(f.cr2, 0);
    assert_int_equal(f.error_code, EC_U);
    /* paging off, not IA-32e: physical = linear, wrapping at 4 GiB */
    c.cr0 = 1;
    mem[0] = 0x11;
    mem[1] = 0x22;
    assert_int_equal(gwalk_read(&c, 0x100000000ull, buf, 2, GW_READ, 0, &f), 0);
    assert_memory_equal(buf, ((uint8_t[]){ 0x11, 0x22 }), 2);
    assert_int_equal(gwalk_read(&c, 0x300ffe, buf, 4, GW_READ, 0, &f), 0);
    assert_memory_equal(buf, ((uint8_t[]){ 0xaa, 0xbb, 0, 0 }), 4);
    /* physical 0xfffffffe is not RAM here */
    assert_int_equal(gwalk_read(&c, 0xfffffffe, buf, 4, GW_READ, 0, &f), -2);
}

/* ============================================================ canonical */

static void test_canonical(void **state)
{
    (void)state;
    struct gwalk_ctx c = ctx_long(0x1000, false);
    assert_true(gwalk_canonical(&c, 0));
    assert_true(gwalk_canonical(&c, 0x00007fffffffffffull));
    assert_false(gwalk_canonical(&c, 0x0000800000000000ull));
    assert_false(gwalk_canonical(&c, 0xffff7fffffffffffull));
    assert_true(gwalk_canonical(&c, 0xffff800000000000ull));
    assert_true(gwalk_canonical(&c, ~0ull));
    assert_false(gwalk_canonical(&c, 0x8000000000000000ull));
    assert_false(gwalk_canonical(&c, 0x0001000000000000ull));
    assert_false(gwalk_canonical(&c, 0xfffe000000000000ull | 0xffffffffffffull));
    /* 5-level: bits 63:56 */
    c.cr4 |= GW_CR4_LA57;
    assert_true(gwalk_canonical(&c, 0x0000800000000000ull));
    assert_true(gwalk_canonical(&c, 0x00ffffffffffffffull));
    assert_false(gwalk_canonical(&c, 0x0100000000000000ull));
    assert_true(gwalk_canonical(&c, 0xff00000000000000ull));
    assert_false(gwalk_canonical(&c, 0xfeffffffffffffffull));
    assert_true(gwalk_canonical(&c, 0xffa555d5599f0123ull));
    assert_false(gwalk_canonical(&c, 0x8000000000000000ull));
    /* not IA-32e: no canonical check (even with LA57 set) */
    c.efer = 0;
    assert_true(gwalk_canonical(&c, 0x8000000000000000ull));
    assert_true(gwalk_canonical(&c, 0x0000800000000000ull));
    c.cr4 &= ~GW_CR4_LA57;
    assert_true(gwalk_canonical(&c, 0x0123456789abcdefull));
}

/* M6: where the monitor reads or writes guest memory through the guest's
 * paging (hypercall buffers, INS, instruction fetch), the accessed flags of
 * the entries used are set, and the dirty flag of the leaf for a write, as
 * the processor does (SDM 3A 5.8); PAE PDPTEs have none. Only when the
 * context asks for it (set_bits), and only for a translation that succeeds. */
static void fake_set_bits(void *opaque, uint64_t gpa, uint64_t bits, size_t size)
{
    (void)opaque;
    if (size == 4)
        put32(gpa, get32(gpa) | (uint32_t)bits);
    else
        set64(gpa, bits);
}

static void test_accessed_dirty(void **state)
{
    (void)state;
    uint64_t root = alloc_page(), ent[6];
    uint64_t page = alloc_page();
    map_long(root, 4, 0x400000, 1, page | ALL, ent);
    struct gwalk_ctx c = ctx_long(root, false);
    uint64_t gpa;
    struct gwalk_fault f;
    /* Without set_bits: nothing written. */
    assert_int_equal(gwalk_translate(&c, 0x400000, GW_WRITE, 0, &gpa, &f), 0);
    for (int l = 1; l <= 4; l++)
        assert_false(get64(ent[l]) & (ACC | DIRTY));
    c.set_bits = fake_set_bits;
    /* A read: A in every level, no D. */
    assert_int_equal(gwalk_translate(&c, 0x400010, GW_READ, 0, &gpa, &f), 0);
    for (int l = 1; l <= 4; l++)
        assert_true(get64(ent[l]) & ACC);
    assert_false(get64(ent[1]) & DIRTY);
    /* A write: D in the leaf only. */
    assert_int_equal(gwalk_translate(&c, 0x400010, GW_WRITE, 0, &gpa, &f), 0);
    assert_true(get64(ent[1]) & DIRTY);
    for (int l = 2; l <= 4; l++)
        assert_false(get64(ent[l]) & DIRTY);
    /* A 2 MiB leaf gets D; a fault sets nothing. */
    map_long(root, 4, 0x40000000, 2, 0x800000 | ALL | PS, ent);
    assert_int_equal(gwalk_translate(&c, 0x40001000, GW_WRITE, 0, &gpa, &f), 0);
    assert_int_equal(get64(ent[2]) & (ACC | DIRTY), ACC | DIRTY);
    map_long(root, 4, 0x80000000, 1, alloc_page() | P | US, ent);   /* read-only */
    assert_int_equal(gwalk_translate(&c, 0x80000000, GW_WRITE, 3, &gpa, &f), -1);
    assert_false(get64(ent[1]) & (ACC | DIRTY));

    /* 32-bit paging: 4-byte entries. */
    uint64_t pd = alloc_page(), pt = alloc_page();
    put32(pd + (0x00401000 >> 22) * 4, (uint32_t)(pt | ALL));
    put32(pt + ((0x00401000 >> 12) & 0x3ff) * 4, (uint32_t)(alloc_page() | ALL));
    struct gwalk_ctx c32 = ctx_32(pd);
    c32.set_bits = fake_set_bits;
    assert_int_equal(gwalk_translate(&c32, 0x00401000, GW_WRITE, 0, &gpa, &f), 0);
    assert_int_equal(get32(pd + (0x00401000 >> 22) * 4) & (ACC | DIRTY), ACC);
    assert_int_equal(get32(pt + ((0x00401000 >> 12) & 0x3ff) * 4) & (ACC | DIRTY), ACC | DIRTY);

    /* PAE: the PDPTE is left alone (its bit 5 is reserved). */
    uint64_t pdpt = alloc_page(), e4[4];
    map_pae(pdpt, 0x1000, 1, alloc_page() | ALL, e4);
    struct gwalk_ctx cp = ctx_pae(pdpt);
    cp.set_bits = fake_set_bits;
    assert_int_equal(gwalk_translate(&cp, 0x1000, GW_READ, 0, &gpa, &f), 0);
    assert_false(get64(e4[3]) & ACC);
    assert_true(get64(e4[2]) & ACC);
    assert_true(get64(e4[1]) & ACC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_paging_off, setup),
        cmocka_unit_test_setup(test_32bit_4k, setup),
        cmocka_unit_test_setup(test_32bit_not_present, setup),
        cmocka_unit_test_setup(test_32bit_4m, setup),
        cmocka_unit_test_setup(test_32bit_rights, setup),
        cmocka_unit_test_setup(test_pae_translate, setup),
        cmocka_unit_test_setup(test_pae_reserved, setup),
        cmocka_unit_test_setup(test_pae_pdpte_registers, setup),
        cmocka_unit_test_setup(test_long_4k_by_hand, setup),
        cmocka_unit_test_setup(test_long_large_pages, setup),
        cmocka_unit_test_setup(test_long_reserved, setup),
        cmocka_unit_test_setup(test_long_not_present, setup),
        cmocka_unit_test_setup(test_rights_user_supervisor, setup),
        cmocka_unit_test_setup(test_rights_write, setup),
        cmocka_unit_test_setup(test_rights_nx, setup),
        cmocka_unit_test_setup(test_rights_smep, setup),
        cmocka_unit_test_setup(test_rights_smap, setup),
        cmocka_unit_test_setup(test_rights_pkeys, setup),
        cmocka_unit_test_setup(test_5level, setup),
        cmocka_unit_test_setup(test_read_phys_failure, setup),
        cmocka_unit_test_setup(test_read_across_pages, setup),
        cmocka_unit_test_setup(test_read_legacy_wrap, setup),
        cmocka_unit_test_setup(test_canonical, setup),
        cmocka_unit_test_setup(test_accessed_dirty, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
