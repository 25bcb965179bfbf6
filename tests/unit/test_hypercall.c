/* Hypercall argument checking and dispatch (core/hypercall.c) against a small
 * guest: 2 MiB of guest-physical memory with 4-level page tables, a firmware
 * memory map with every kind of range, and monitor memory in the middle.
 * Events come from the real ring (core/evlog.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <cmocka.h>
#include "core/evlog.h"
#include "core/hypercall.h"

#define PHYS_SIZE  0x200000ull      /* guest-physical memory the test models */
#define PG 4096ull
static uint8_t phys[PHYS_SIZE];

#define MON_BASE   0x28000ull       /* monitor data: two pages */
#define MON_SIZE   0x2000ull
#define APIC_PAGE  0x2f000ull

static const struct lamina_memrange map[] = {
    { 0x0,      0x10,  7, 0 },      /* conventional: page tables */
    { 0x10000,  0x10,  2, 0 },      /* loader data */
    { 0x20000,  0x1,   0, 0 },      /* reserved */
    { 0x21000,  0x1,  11, 0 },      /* MMIO */
    { 0x22000,  0xe,   7, 0 },      /* conventional, holds MON_BASE and APIC_PAGE */
    { 0x30000,  0x1,  10, 0 },      /* ACPI NVS */
    { 0x31000,  0x1cf, 7, 0 },      /* conventional up to PHYS_SIZE */
    { 0x200000, 0x100, 7, 0 },      /* conventional, but beyond phys_limit */
    /* 0x300000 and up: not in the map */
};

static const struct hc_mem mem = {
    .map = map, .nmap = sizeof(map) / sizeof(map[0]),
    .mon_base = { 0x7000000, MON_BASE }, .mon_size = { 0x10000, MON_SIZE },
    .phys_limit = PHYS_SIZE, .apic_page = APIC_PAGE,
};

static int read_phys(void *opaque, uint64_t gpa, void *buf, size_t len)
{
    (void)opaque;
    if (gpa >= PHYS_SIZE || PHYS_SIZE - gpa < len)
        return -1;
    if (gpa < MON_BASE + MON_SIZE && MON_BASE < gpa + len)
        return -1;      /* as the monitor's read_guest_phys */
    memcpy(buf, phys + gpa, len);
    return 0;
}

static unsigned writes;
static void write_phys(void *opaque, uint64_t gpa, const void *src, size_t n)
{
    (void)opaque;
    /* The checker must never let a write reach anything but checked RAM. */
    assert_true(gpa < PHYS_SIZE && PHYS_SIZE - gpa >= n);
    assert_true(hc_ram_page(&mem, gpa & ~(PG - 1)));
    assert_true(hc_ram_page(&mem, (gpa + n - 1) & ~(PG - 1)));
    memcpy(phys + gpa, src, n);
    writes++;
}

/* Linear layout: L + i*4K is PT entry i (PT at 0x4000), see setup. */
#define L 0x40000000ull
#define LA(i) (L + (uint64_t)(i) * PG)
#define L_MONPT 0x40200000ull       /* its page table is a monitor page */
#define PTE_P 1ull
#define PTE_W 2ull
#define PTE_U 4ull
#define URW (PTE_P | PTE_W | PTE_U)

static void pte(unsigned i, uint64_t pa, uint64_t flags)
{
    uint64_t v = pa | flags;
    memcpy(phys + 0x4000 + i * 8, &v, 8);
}

static void entry(uint64_t table, unsigned i, uint64_t v)
{
    memcpy(phys + table + i * 8, &v, 8);
}

static struct gwalk_ctx walk;
static struct lamina_policy pol;
static struct percpu cpus[2];
static struct hc_env env;

static int setup(void **unused)
{
    (void)unused;
    memset(phys, 0, sizeof(phys));
    /* PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000 -> PT 0x4000 (L) and PT MON_BASE (L_MONPT) */
    entry(0x1000, 0, 0x2000 | URW);
    entry(0x2000, 1, 0x3000 | URW);          /* L = 1 GiB */
    entry(0x3000, 0, 0x4000 | URW);
    entry(0x3000, 1, MON_BASE | URW);
    for (unsigned i = 0; i < 4; i++)
        pte(i, 0x40000 + i * PG, URW);
    /* 4: not present */
    pte(5, 0x44000, URW);
    pte(6, 0x45000, PTE_P | PTE_U);          /* read-only */
    pte(7, 0x46000, PTE_P | PTE_W);          /* supervisor */
    pte(8, MON_BASE, URW);
    pte(9, 0x21000, URW);                    /* MMIO */
    pte(10, 0x20000, URW);                   /* reserved */
    pte(11, 0x30000, URW);                   /* ACPI NVS */
    pte(12, APIC_PAGE, URW);
    pte(13, 0x200000, URW);                  /* beyond phys_limit */
    pte(14, 0x300000, URW);                  /* not in the map */
    pte(15, 0x10000, URW);                   /* loader data */
    for (unsigned i = 16; i < 16 + 256; i++)
        pte(i, 0x100000 + (i - 16) * PG, URW);
    pte(272, 0x50000, URW);
    walk = (struct gwalk_ctx){
        .cr0 = GW_CR0_PG | GW_CR0_WP | 1, .cr3 = 0x1000, .cr4 = GW_CR4_PAE,
        .efer = GW_EFER_LMA | (1ull << 8), .read_phys = read_phys, .maxphyaddr = 39,
    };
    memset(&pol, 0, sizeof(pol));
    pol.hypercall_user = 1;
    memset(cpus, 0, sizeof(cpus));
    env = (struct hc_env){
        .walk = &walk, .cpl = 3, .mem = &mem, .policy = &pol, .ncpus = 2, .cpus = cpus,
        .write_phys = write_phys,
    };
    writes = 0;
    evlog_reset();
    return 0;
}

static long check(uint64_t la, uint64_t len, unsigned cpl)
{
    static struct hc_buf b;
    return hc_check_buffer(&walk, cpl, false, &mem, la, len, 64, &b);
}

static void test_ok_and_pages(void **unused)
{
    (void)unused;
    struct hc_buf b;
    assert_int_equal(hc_check_buffer(&walk, 3, false, &mem, LA(0) + 0x10, 100, 64, &b), LAMINA_OK);
    assert_int_equal(b.npages, 1);
    assert_int_equal(b.gpa[0], 0x40000);
    assert_int_equal(hc_check_buffer(&walk, 3, false, &mem, LA(0) + 0xff0, 3 * PG, 64, &b),
                     LAMINA_OK);
    assert_int_equal(b.npages, 4);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(b.gpa[i], 0x40000 + i * PG);
    assert_int_equal(check(LA(15), PG, 3), LAMINA_OK);           /* loader data is RAM */
    assert_int_equal(check(LA(3), 2 * PG, 3), LAMINA_E_FAULT);   /* 3 ok, 4 unmapped */
}

static void test_unmapped_mid_buffer(void **unused)
{
    (void)unused;
    /* pages 3, 4 (not present), 5 */
    assert_int_equal(check(LA(3) + 0x800, 2 * PG, 3), LAMINA_E_FAULT);
    assert_int_equal(check(LA(4) - 32, 64, 3), LAMINA_E_FAULT);
    assert_int_equal(check(LA(5), PG, 3), LAMINA_OK);
}

static void test_not_ram(void **unused)
{
    (void)unused;
    for (unsigned i = 8; i <= 14; i++) {
        /* monitor page, MMIO, reserved, ACPI NVS, xAPIC, beyond the limit, unmapped */
        assert_int_equal(check(LA(i), 64, 3), LAMINA_E_FAULT);
        assert_int_equal(check(LA(i), 64, 0), LAMINA_E_FAULT);
        /* ending in it after a good page */
        assert_int_equal(check(LA(i) - 64, 128, 3), LAMINA_E_FAULT);
    }
    /* a page table in monitor memory: the walk itself fails */
    assert_int_equal(check(L_MONPT, 64, 0), LAMINA_E_FAULT);
}

static void test_ram_page_types(void **unused)
{
    (void)unused;
    assert_true(hc_ram_page(&mem, 0x40000));
    assert_true(hc_ram_page(&mem, 0x10000));
    assert_false(hc_ram_page(&mem, 0x40001));                    /* not a page address */
    assert_false(hc_ram_page(&mem, MON_BASE + PG));
    assert_false(hc_ram_page(&mem, 0x7000000));
    assert_false(hc_ram_page(&mem, PHYS_SIZE - PG + PHYS_SIZE)); /* far beyond */
    assert_true(hc_ram_page(&mem, PHYS_SIZE - PG));              /* last page below the limit */
    struct lamina_memrange one = { 0x1000, 1, 0, 0 };
    struct hc_mem m = { .map = &one, .nmap = 1, .phys_limit = 1ull << 40, .apic_page = ~0ull };
    /* every EFI type: only loader/boot/runtime code+data, conventional, ACPI reclaim */
    for (uint32_t t = 0; t < 20; t++) {
        one.type = t;
        bool ram = (t >= 1 && t <= 7) || t == 9;
        assert_int_equal(hc_ram_page(&m, 0x1000), ram);
    }
}

static void test_protection(void **unused)
{
    (void)unused;
    assert_int_equal(check(LA(6), 64, 3), LAMINA_E_FAULT);   /* read-only, user */
    assert_int_equal(check(LA(6), 64, 0), LAMINA_E_FAULT);   /* read-only, CR0.WP */
    walk.cr0 &= ~GW_CR0_WP;
    assert_int_equal(check(LA(6), 64, 0), LAMINA_OK);        /* as hardware: WP=0 */
    walk.cr0 |= GW_CR0_WP;
    assert_int_equal(check(LA(7), 64, 3), LAMINA_E_FAULT);   /* supervisor page at CPL 3 */
    assert_int_equal(check(LA(7), 64, 0), LAMINA_OK);
    /* SMAP: a supervisor write to a user page needs RFLAGS.AC */
    walk.cr4 |= GW_CR4_SMAP;
    assert_int_equal(check(LA(0), 64, 0), LAMINA_E_FAULT);
    walk.ac = true;
    assert_int_equal(check(LA(0), 64, 0), LAMINA_OK);
}

static void test_lengths(void **unused)
{
    (void)unused;
    struct hc_buf b;
    assert_int_equal(check(LA(0), 0, 3), LAMINA_E_RANGE);
    assert_int_equal(check(LA(0), 63, 3), LAMINA_E_RANGE);           /* < one record */
    assert_int_equal(check(LA(16), LAMINA_HC_BUF_MAX + 1, 3), LAMINA_E_RANGE);
    assert_int_equal(check(LA(16), UINT64_MAX, 3), LAMINA_E_RANGE);
    assert_int_equal(hc_check_buffer(&walk, 3, false, &mem, LA(16), LAMINA_HC_BUF_MAX, 64, &b),
                     LAMINA_OK);
    assert_int_equal(b.npages, 256);
    /* unaligned maximal buffer: 257 pages */
    assert_int_equal(hc_check_buffer(&walk, 3, false, &mem, LA(16) + 1, LAMINA_HC_BUF_MAX, 64, &b),
                     LAMINA_OK);
    assert_int_equal(b.npages, HC_MAX_PAGES);
    assert_int_equal(b.gpa[256], 0x50000);
}

static void test_overflow_canonical(void **unused)
{
    (void)unused;
    struct hc_buf b;
    assert_int_equal(check(0xfffffffffffff000ull, 0x2000, 0), LAMINA_E_FAULT);    /* wraps */
    assert_int_equal(check(UINT64_MAX, 64, 0), LAMINA_E_FAULT);
    assert_int_equal(check(0x0000800000000000ull, 64, 0), LAMINA_E_FAULT);      /* non-canonical */
    assert_int_equal(check(0x00007ffffffff000ull, 0x2000, 0), LAMINA_E_FAULT);  /* runs into it */
    /* 32-bit callers: a buffer past 4 GiB would wrap */
    assert_int_equal(hc_check_buffer(&walk, 0, true, &mem, 0xfffff000ull, 0x2000, 64, &b),
                     LAMINA_E_FAULT);
}

/* --------------------------------------------------------- dispatch */

static void test_perm(void **unused)
{
    (void)unused;
    pol.hypercall_user = 0;
    for (uint64_t f = 0; f < 4; f++) {
        struct hc_regs r = { f, 11, 22, 33 };
        hypercall_dispatch(&env, &r);
        assert_int_equal((int64_t)r.rax, LAMINA_E_PERM);
        assert_int_equal(r.rdi, 11);        /* unchanged on an error */
        assert_int_equal(r.rsi, 22);
        assert_int_equal(r.rdx, 33);
    }
    /* ring 0 needs no permission */
    env.cpl = 0;
    struct hc_regs r = { LAMINA_HC_VERSION, 0, 0, 0 };
    hypercall_dispatch(&env, &r);
    assert_int_equal(r.rax, LAMINA_OK);
    assert_int_equal(r.rsi & LAMINA_FEAT_USER, 0);
}

static void test_version(void **unused)
{
    (void)unused;
    pol.stealth = 1;
    struct hc_regs r = { LAMINA_HC_VERSION, 0, 0, 0 };
    hypercall_dispatch(&env, &r);
    assert_int_equal(r.rax, LAMINA_OK);
    assert_int_equal(r.rdi, LAMINA_HC_ABI_VERSION);
    assert_int_equal(r.rsi, LAMINA_FEAT_STATS | LAMINA_FEAT_EVENT_LOG | LAMINA_FEAT_USER |
                            LAMINA_FEAT_STEALTH);
    assert_int_equal(r.rdx, 2);
    r = (struct hc_regs){ 3, 1, 2, 3 };
    hypercall_dispatch(&env, &r);
    assert_int_equal((int64_t)r.rax, LAMINA_E_NOFUNC);
    assert_int_equal(r.rdi, 1);
    r = (struct hc_regs){ 0x100000000ull, 1, 2, 3 };    /* not VERSION in 64-bit mode */
    hypercall_dispatch(&env, &r);
    assert_int_equal((int64_t)r.rax, LAMINA_E_NOFUNC);
}

static void read_back(uint64_t la, void *out, size_t n)
{
    /* through the test's page tables, independent of the code under test */
    uint8_t *o = out;
    while (n) {
        uint64_t gpa;
        struct gwalk_fault f;
        assert_int_equal(gwalk_translate(&walk, la, GW_READ, 0, &gpa, &f), 0);
        size_t chunk = PG - (la & (PG - 1));
        if (chunk > n)
            chunk = n;
        memcpy(o, phys + gpa, chunk);
        o += chunk;
        la += chunk;
        n -= chunk;
    }
}

static void test_stats(void **unused)
{
    (void)unused;
    cpus[0].exits[LAMINA_EXIT_CPUID] = 5;
    cpus[0].ticks[LAMINA_EXIT_CPUID] = 500;
    cpus[1].exits[LAMINA_EXIT_CPUID] = 7;
    cpus[1].ticks[LAMINA_EXIT_CPUID] = 700;
    cpus[1].exits[LAMINA_EXIT_IO] = 1;
    struct lamina_event e = { 0 };
    evlog_put(&e);
    /* across a page boundary */
    uint64_t la = LA(1) - 100;
    struct hc_regs r = { LAMINA_HC_STATS, LAMINA_ALL_CPUS, la, sizeof(struct lamina_stats) };
    hypercall_dispatch(&env, &r);
    assert_int_equal(r.rax, LAMINA_OK);
    assert_int_equal(r.rdi, sizeof(struct lamina_stats));
    struct lamina_stats s;
    read_back(la, &s, sizeof(s));
    assert_int_equal(s.cpu, LAMINA_ALL_CPUS);
    assert_int_equal(s.ncpus, 2);
    assert_int_equal(s.nkinds, LAMINA_EXIT_KINDS);
    assert_int_equal(s.exits[LAMINA_EXIT_CPUID], 12);
    assert_int_equal(s.ticks[LAMINA_EXIT_CPUID], 1200);
    assert_int_equal(s.exits[LAMINA_EXIT_IO], 1);
    assert_int_equal(s.events_recorded, 1);

    r = (struct hc_regs){ LAMINA_HC_STATS, 1, la, PG };
    hypercall_dispatch(&env, &r);
    assert_int_equal(r.rax, LAMINA_OK);
    read_back(la, &s, sizeof(s));
    assert_int_equal(s.cpu, 1);
    assert_int_equal(s.exits[LAMINA_EXIT_CPUID], 7);
    assert_int_equal(s.ticks[LAMINA_EXIT_CPUID], 700);

    r = (struct hc_regs){ LAMINA_HC_STATS, 2, la, PG };     /* no CPU 2 */
    hypercall_dispatch(&env, &r);
    assert_int_equal((int64_t)r.rax, LAMINA_E_INVAL);
    r = (struct hc_regs){ LAMINA_HC_STATS, 0, la, sizeof(struct lamina_stats) - 1 };
    hypercall_dispatch(&env, &r);
    assert_int_equal((int64_t)r.rax, LAMINA_E_RANGE);
    r = (struct hc_regs){ LAMINA_HC_STATS, 0, LA(8), PG };  /* monitor page */
    writes = 0;
    hypercall_dispatch(&env, &r);
    assert_int_equal((int64_t)r.rax, LAMINA_E_FAULT);
    assert_int_equal(writes, 0);
}

static void put_events(unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        struct lamina_event e = { 0 };
        e.kind = LAMINA_EV_IO_OUT;
        e.index = 0x80;
        e.value = 1000 + i;
        evlog_put(&e);
    }
}

static void test_read_log(void **unused)
{
    (void)unused;
    put_events(5);
    struct lamina_event ev[8];
    uint64_t la = LA(2) - 3 * 64 - 10;          /* record 3 straddles pages 1 and 2 */
    struct hc_regs r = { LAMINA_HC_READ_LOG, 0, la, 3 * 64 + 63 };
    hypercall_dispatch(&env, &r);
    assert_int_equal(r.rax, LAMINA_OK);
    assert_int_equal(r.rdi, 3);     /* next cursor */
    assert_int_equal(r.rsi, 3);     /* events */
    assert_int_equal(r.rdx, 0);     /* lost */
    read_back(la, ev, 3 * 64);
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(ev[i].seq, i);
        assert_int_equal(ev[i].value, 1000 + i);
    }
    la = LA(2) - 10;
    r = (struct hc_regs){ LAMINA_HC_READ_LOG, 3, la, 8 * 64 };
    hypercall_dispatch(&env, &r);
    assert_int_equal(r.rax, LAMINA_OK);
    assert_int_equal(r.rdi, 5);
    assert_int_equal(r.rsi, 2);
    read_back(la, ev, 2 * 64);
    assert_int_equal(ev[0].seq, 3);
    assert_int_equal(ev[1].value, 1004);
    /* caught up: nothing, cursor kept */
    r = (struct hc_regs){ LAMINA_HC_READ_LOG, 5, la, 8 * 64 };
    hypercall_dispatch(&env, &r);
    assert_int_equal(r.rax, LAMINA_OK);
    assert_int_equal(r.rdi, 5);
    assert_int_equal(r.rsi, 0);
}

static void test_read_log_errors(void **unused)
{
    (void)unused;
    put_events(5);
    writes = 0;
    struct hc_regs r = { LAMINA_HC_READ_LOG, 6, LA(0), PG };   /* cursor ahead */
    hypercall_dispatch(&env, &r);
    assert_int_equal((int64_t)r.rax, LAMINA_E_INVAL);
    assert_int_equal(r.rdi, 6);
    r = (struct hc_regs){ LAMINA_HC_READ_LOG, 0, LA(0), 63 };
    hypercall_dispatch(&env, &r);
    assert_int_equal((int64_t)r.rax, LAMINA_E_RANGE);
    r = (struct hc_regs){ LAMINA_HC_READ_LOG, 0, LA(0), 0 };
    hypercall_dispatch(&env, &r);
    assert_int_equal((int64_t)r.rax, LAMINA_E_RANGE);
    r = (struct hc_regs){ LAMINA_HC_READ_LOG, 0, LA(0), LAMINA_HC_BUF_MAX + 64 };
    hypercall_dispatch(&env, &r);
    assert_int_equal((int64_t)r.rax, LAMINA_E_RANGE);
    /* pages 3 (good), 4 (unmapped): the good page is not written either */
    memset(phys + 0x43000, 0xaa, PG);
    r = (struct hc_regs){ LAMINA_HC_READ_LOG, 0, LA(4) - 128, 4 * 64 };
    hypercall_dispatch(&env, &r);
    assert_int_equal((int64_t)r.rax, LAMINA_E_FAULT);
    assert_int_equal(phys[0x43000 + PG - 128], 0xaa);
    assert_int_equal(writes, 0);
    /* read-only and supervisor pages at CPL 3 */
    r = (struct hc_regs){ LAMINA_HC_READ_LOG, 0, LA(6), PG };
    hypercall_dispatch(&env, &r);
    assert_int_equal((int64_t)r.rax, LAMINA_E_FAULT);
    r = (struct hc_regs){ LAMINA_HC_READ_LOG, 0, LA(7), PG };
    hypercall_dispatch(&env, &r);
    assert_int_equal((int64_t)r.rax, LAMINA_E_FAULT);
    assert_int_equal(writes, 0);
}

static void test_read_log_lost(void **unused)
{
    (void)unused;
    put_events(EVLOG_SLOTS + 10);
    struct hc_regs r = { LAMINA_HC_READ_LOG, 0, LA(16), 64 * 4 };
    hypercall_dispatch(&env, &r);
    assert_int_equal(r.rax, LAMINA_OK);
    assert_int_equal(r.rsi, 4);
    assert_int_equal(r.rdx, 10);
    assert_int_equal(r.rdi, 14);
    struct lamina_event ev;
    read_back(LA(16), &ev, sizeof(ev));
    assert_int_equal(ev.seq, 10);
}

/* 16/32-bit callers: the upper halves of the registers are not theirs. */
static void test_addr32(void **unused)
{
    (void)unused;
    env.addr32 = true;
    put_events(1);
    struct hc_regs r = { 0xdead000000000000ull | LAMINA_HC_READ_LOG, 0xffff000000000000ull,
                         0xbeef000000000000ull | LA(0), 0xf00d000000000000ull | 64 };
    hypercall_dispatch(&env, &r);
    assert_int_equal(r.rax, LAMINA_OK);
    assert_int_equal(r.rsi, 1);
    assert_int_equal(r.rdi, 1);
}

/* M7: READ_LOG from ring 3 under "hypercall-user yes" gives no kernel
 * pointers (KASLR): RIP, CR3 and MSR values cleared; "full" gives all; ring 0
 * always gets all. */
static void put_kernel_events(void)
{
    struct lamina_event e = { .kind = LAMINA_EV_MSR_WRITE, .index = 0xc0000082,
                              .value = 0xffffffff81a00000ull, .rip = 0xffffffff8100abcdull,
                              .cr3 = 0x1234000, .width = 8 };
    evlog_put(&e);
    e = (struct lamina_event){ .kind = LAMINA_EV_IO_OUT, .index = 0x80, .value = 0x42,
                               .rip = 0x401000, .cr3 = 0x5678000, .width = 1 };
    evlog_put(&e);
}

static void read_two(struct lamina_event ev[2])
{
    struct hc_regs r = { LAMINA_HC_READ_LOG, 0, LA(2), 2 * 64 };
    hypercall_dispatch(&env, &r);
    assert_int_equal(r.rax, LAMINA_OK);
    assert_int_equal(r.rsi, 2);
    read_back(LA(2), ev, 2 * 64);
}

static void test_read_log_user_sanitized(void **unused)
{
    (void)unused;
    struct lamina_event ev[2];
    put_kernel_events();
    read_two(ev);                               /* CPL 3, hypercall-user yes */
    assert_int_equal(ev[0].kind, LAMINA_EV_MSR_WRITE);
    assert_int_equal(ev[0].index, 0xc0000082);
    assert_int_equal(ev[0].value, 0);
    assert_int_equal(ev[0].rip, 0);
    assert_int_equal(ev[0].cr3, 0);
    assert_int_equal(ev[1].value, 0x42);        /* port values stay */
    assert_int_equal(ev[1].rip, 0);
    assert_int_equal(ev[1].cr3, 0);
    pol.hypercall_user = POLICY_HCUSER_FULL;
    read_two(ev);
    assert_int_equal(ev[0].value, 0xffffffff81a00000ull);
    assert_int_equal(ev[0].rip, 0xffffffff8100abcdull);
    assert_int_equal(ev[0].cr3, 0x1234000);
    pol.hypercall_user = POLICY_HCUSER_YES;
    env.cpl = 0;
    read_two(ev);
    assert_int_equal(ev[0].value, 0xffffffff81a00000ull);
    assert_int_equal(ev[1].rip, 0x401000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_ok_and_pages, setup),
        cmocka_unit_test_setup(test_unmapped_mid_buffer, setup),
        cmocka_unit_test_setup(test_not_ram, setup),
        cmocka_unit_test_setup(test_ram_page_types, setup),
        cmocka_unit_test_setup(test_protection, setup),
        cmocka_unit_test_setup(test_lengths, setup),
        cmocka_unit_test_setup(test_overflow_canonical, setup),
        cmocka_unit_test_setup(test_perm, setup),
        cmocka_unit_test_setup(test_version, setup),
        cmocka_unit_test_setup(test_stats, setup),
        cmocka_unit_test_setup(test_read_log, setup),
        cmocka_unit_test_setup(test_read_log_errors, setup),
        cmocka_unit_test_setup(test_read_log_lost, setup),
        cmocka_unit_test_setup(test_addr32, setup),
        cmocka_unit_test_setup(test_read_log_user_sanitized, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
