/* dma.efi: Lamina's own VT-d code (iommu/) against a real IOMMU model.
 *
 * QEMU q35 with `-device intel-iommu` models VT-d DMA remapping but no VMX,
 * so the monitor itself cannot run there. This program runs natively under
 * QEMU and drives the same code the monitor runs in api_setup: it parses the
 * firmware's DMAR (iommu/dmar.c), probes the unit, builds the shared map and
 * the root and context tables and turns translation on (iommu/dma.c,
 * iommu/vtd.c), with one page hidden as a stand-in for monitor memory (the
 * sentinel) and its own table pages hidden as the monitor's data region is.
 * QEMU's `edu` PCI device is the bus master: its DMA engine copies between
 * a 4 KiB buffer inside the device and memory (hw/misc/edu.c: registers
 * 0x80 source, 0x88 destination, 0x90 count, 0x98 command; its DMA mask is
 * 28 bits, so every page here is below 256 MiB; each transfer moves XFER
 * bytes).
 *
 * Checks, one line each ("dma: PASS name ..."), then "N passed, N failed":
 * the table and unit as found; a DMA write to an allowed page lands; one to
 * the sentinel leaves it unchanged and the fault record names edu's source
 * id, the sentinel's address and reason 5 (write), a read of it reason 6;
 * after a map change (an allowed page unmapped) the old translation holds
 * until the IOTLB is invalidated, and the page is blocked afterwards; a
 * reserved region (RMRR) naming edu stays mapped although it lies outside
 * the map; the same with register-based invalidation; and translation off
 * again at the end, so the firmware carries on.
 *
 * Options (LoadOptions words): `regs-only` starts with register-based
 * invalidation (a unit without the queue).
 */
#include "test-guests/lib/tg.h"
#include "iommu/dma.h"
#include "iommu/hw.h"

#define PAGE        4096ull
#define EDU_VENDOR  0x1234
#define EDU_DEVICE  0x11e8
#define EDU_BUF     0x40000u        /* the device's buffer in its DMA address space */
#define EDU_CMD_RUN 0x1u
#define EDU_CMD_TO_RAM 0x2u         /* direction: buffer -> memory (else memory -> buffer) */
/* QEMU 7.2's edu refuses (as a hardware error that stops QEMU) a transfer
 * that ends exactly at its buffer's end: every DMA here moves half of it. */
#define XFER        2048u
#define FAULT_WRITE 5u
#define FAULT_READ  6u

/* ------------------------------------------------------------------ PCI */

static void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(port));
}

/* Configuration mechanism #1 (PCI 3.0 3.2.2.3.2), which q35 decodes. */
static uint32_t cfg_read(unsigned bus, unsigned dev, unsigned fn, unsigned off)
{
    outl(0xcf8, 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (off & 0xfc));
    return tg_inl(0xcfc);
}

static void cfg_write(unsigned bus, unsigned dev, unsigned fn, unsigned off, uint32_t v)
{
    outl(0xcf8, 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (off & 0xfc));
    outl(0xcfc, v);
}

struct edu {
    volatile uint8_t *mmio;
    uint16_t sid;           /* bus << 8 | dev << 3 | fn: the requester id in faults */
};

static bool edu_find(struct edu *e)
{
    for (unsigned dev = 0; dev < 32; dev++) {
        uint32_t id = cfg_read(0, dev, 0, 0);
        if ((id & 0xffff) != EDU_VENDOR || id >> 16 != EDU_DEVICE)
            continue;
        uint32_t bar = cfg_read(0, dev, 0, 0x10) & ~0xfu;
        /* Memory space and bus master (PCI 3.0 6.2.2, command bits 1 and 2). */
        cfg_write(0, dev, 0, 0x04, (cfg_read(0, dev, 0, 0x04) & 0xffff) | 0x6);
        e->mmio = (volatile uint8_t *)(uintptr_t)bar;
        e->sid = (uint16_t)(dev << 3);
        return bar != 0;
    }
    return false;
}

static uint32_t edu_rd(const struct edu *e, unsigned off)
{
    return *(volatile uint32_t *)(e->mmio + off);
}

static void edu_wr64(const struct edu *e, unsigned off, uint64_t v)
{
    *(volatile uint64_t *)(e->mmio + off) = v;
}

/* One DMA of `len` bytes between memory at `addr` and the device buffer;
 * waits for the engine (a QEMU timer, 100 ms of virtual time). */
static bool edu_dma(const struct edu *e, uint64_t addr, bool to_ram, uint32_t len)
{
    edu_wr64(e, 0x80, to_ram ? EDU_BUF : addr);
    edu_wr64(e, 0x88, to_ram ? addr : EDU_BUF);
    edu_wr64(e, 0x90, len);
    edu_wr64(e, 0x98, EDU_CMD_RUN | (to_ram ? EDU_CMD_TO_RAM : 0));
    for (int i = 0; i < 3000; i++) {
        if (!(edu_rd(e, 0x98) & EDU_CMD_RUN))
            return true;
        uefi_call_wrapper(BS->Stall, 1, 1000);
    }
    return false;
}

/* ----------------------------------------------------------------- ACPI */

/* QEMU's DMAR, checksum verified. */
static const uint8_t *find_dmar(void)
{
    return tg_acpi_table("DMAR", true);
}

/* -------------------------------------------------------------- memory */

static uint64_t alloc_below(uint64_t pages, uint64_t max)
{
    EFI_PHYSICAL_ADDRESS a = max - 1;
    EFI_STATUS st = uefi_call_wrapper(BS->AllocatePages, 4, AllocateMaxAddress, EfiBootServicesData,
                                      pages, &a);
    return EFI_ERROR(st) ? 0 : a;
}

static void fill(uint64_t addr, uint8_t v)
{
    SetMem((void *)(uintptr_t)addr, PAGE, v);
}

static bool all(uint64_t addr, uint8_t v, uint32_t len)
{
    const volatile uint8_t *p = (const volatile uint8_t *)(uintptr_t)addr;
    for (uint32_t i = 0; i < len; i++)
        if (p[i] != v)
            return false;
    return true;
}

/* -------------------------------------------------------------- faults */

struct seen { unsigned n; struct vtd_fault f[8]; unsigned unit[8]; };

static void collect(void *arg, unsigned unit, const struct vtd_fault *f)
{
    struct seen *s = arg;
    if (s->n < 8) {
        s->f[s->n] = *f;
        s->unit[s->n] = unit;
    }
    s->n++;
}

static struct seen poll_faults(struct dma_prot *d)
{
    struct seen s = { 0 };
    uint32_t over = 0;
    dma_poll(d, &vtd_hw_direct, collect, &s, &over);
    if (over)
        tg_note("fault records overflowed (units 0x%x)", over);
    return s;
}

/* Exactly one fault: edu's, at addr, for this reason. */
static void expect_fault(const char *name, struct dma_prot *d, const struct edu *e, uint64_t addr,
                         unsigned reason)
{
    struct seen s = poll_faults(d);
    if (s.n == 1 && s.f[0].sid == e->sid && s.f[0].addr == addr && s.f[0].reason == reason &&
        s.f[0].read == (reason == FAULT_READ))
        tg_passf(name, "sid %02x:%02x.%u addr 0x%lx reason %u (%s) unit %u", s.f[0].sid >> 8,
                 (s.f[0].sid >> 3) & 31, s.f[0].sid & 7, (unsigned long)s.f[0].addr, s.f[0].reason,
                 vtd_fault_reason(s.f[0].reason), s.unit[0]);
    else if (s.n == 0)
        tg_fail(name, "no fault recorded (want sid 0x%x addr 0x%lx reason %u)", e->sid,
                (unsigned long)addr, reason);
    else
        tg_fail(name, "%u faults, first sid 0x%x addr 0x%lx reason %u read %d (want one: sid 0x%x "
                "addr 0x%lx reason %u)", s.n, s.f[0].sid, (unsigned long)s.f[0].addr,
                s.f[0].reason, s.f[0].read, e->sid, (unsigned long)addr, reason);
}

static void expect_no_fault(const char *name, struct dma_prot *d)
{
    struct seen s = poll_faults(d);
    if (s.n)
        tg_fail(name, "unexpected fault: sid 0x%x addr 0x%lx reason %u", s.f[0].sid,
                (unsigned long)s.f[0].addr, s.f[0].reason);
}

/* ------------------------------------------------------------- the map */

struct pages {
    uint64_t src;       /* a pattern the device reads */
    uint64_t allowed;   /* a page it may write */
    uint64_t sentinel;  /* stands for monitor memory: hidden */
    uint64_t spare;     /* the page unmapped and mapped again */
    uint64_t rmrr;      /* above the RMRR phase's limit */
};

static char err[DMA_ERR_LEN];

/* Plan, hide, build, enable: what core/entry.c's api_plan and api_setup do
 * through iommu/iommu.c. The pool stands for the monitor's data region. */
static bool protect(struct dma_prot *d, const uint8_t *dmar, uint64_t limit, bool qi,
                    uint64_t sentinel, const char *name)
{
    if (dma_plan(d, &vtd_hw_direct, dmar, *(const uint32_t *)(dmar + 4), limit, qi, err,
                 sizeof(err))) {
        tg_fail(name, "dma_plan: %s", err);
        return false;
    }
    dma_hide(d, sentinel, PAGE);
    uint64_t n = dma_pages(d, 1);
    uint64_t pool_pa = alloc_below(n, 1ull << 32);
    struct vtd_pool pool = { .base = (uint8_t *)(uintptr_t)pool_pa, .npages = n };
    if (!pool_pa || dma_hide(d, pool_pa, n * PAGE) ||
        dma_build(d, &vtd_hw_direct, &pool, err, sizeof(err)) ||
        dma_enable(d, &vtd_hw_direct, err, sizeof(err))) {
        tg_fail(name, "%s", pool_pa ? err : "no pages for the tables");
        return false;
    }
    tg_passf(name, "%u unit(s), %s invalidation, %u-level walk, %lu table pages for [0, 0x%lx) "
             "(map: %lu tables, 1g=%lu 2m=%lu 4k=%lu)", d->nunits,
             d->unit[0].qi ? "queued" : "register", d->unit[0].levels,
             (unsigned long)d->table_pages, (unsigned long)limit, (unsigned long)d->map.tables,
             (unsigned long)d->map.pages_1g, (unsigned long)d->map.pages_2m,
             (unsigned long)d->map.pages_4k);
    return true;
}

/* Allowed write lands; the sentinel is neither written nor read. */
static void sentinel_checks(struct dma_prot *d, const struct edu *e, const struct pages *p,
                            const char *sfx)
{
    char n1[48], n2[48], n3[48], n4[48];
    tg_snprintf(n1, sizeof(n1), "allowed-write-lands%s", sfx);
    tg_snprintf(n2, sizeof(n2), "sentinel-unchanged%s", sfx);
    tg_snprintf(n3, sizeof(n3), "sentinel-write-fault%s", sfx);
    tg_snprintf(n4, sizeof(n4), "sentinel-read-fault%s", sfx);
    fill(p->src, 0xa5);
    fill(p->allowed, 0x00);
    fill(p->sentinel, 0x5a);
    if (!edu_dma(e, p->src, false, XFER) || !edu_dma(e, p->allowed, true, XFER)) {
        tg_fail(n1, "edu's DMA engine never finished");
        return;
    }
    if (all(p->allowed, 0xa5, XFER))
        tg_passf(n1, "%u bytes at 0x%lx", XFER, (unsigned long)p->allowed);
    else
        tg_fail(n1, "page at 0x%lx does not hold the pattern", (unsigned long)p->allowed);
    expect_no_fault(n1, d);
    edu_dma(e, p->sentinel, true, XFER);
    if (all(p->sentinel, 0x5a, PAGE))
        tg_passf(n2, "page at 0x%lx", (unsigned long)p->sentinel);
    else
        tg_fail(n2, "the device wrote the hidden page at 0x%lx", (unsigned long)p->sentinel);
    expect_fault(n3, d, e, p->sentinel, FAULT_WRITE);
    edu_dma(e, p->sentinel, false, 64);
    expect_fault(n4, d, e, p->sentinel, FAULT_READ);
}

/* The map changes (a page unmapped, then mapped again): the unit may use
 * what it cached until the IOTLB is invalidated (6.5), not afterwards. */
static void invalidation_checks(struct dma_prot *d, const struct edu *e, const struct pages *p,
                                const char *sfx)
{
    char n1[48], n2[48], n3[48];
    tg_snprintf(n1, sizeof(n1), "unmap-invalidated-blocks%s", sfx);
    tg_snprintf(n2, sizeof(n2), "unmap-fault%s", sfx);
    tg_snprintf(n3, sizeof(n3), "remap-invalidated-lands%s", sfx);
    uint64_t *pte = vtd_map_pte(d->pml4, p->spare);
    if (!pte) {
        tg_fail(n1, "page 0x%lx is not under a 4 KiB table", (unsigned long)p->spare);
        return;
    }
    fill(p->src, 0x3c);
    edu_dma(e, p->src, false, XFER);
    fill(p->spare, 0);
    edu_dma(e, p->spare, true, XFER);          /* the unit caches the translation */
    uint64_t old = *pte;
    *pte = 0;
    vtd_flush_for(&d->unit[0], &vtd_hw_direct, pte, 8);
    fill(p->spare, 0);
    edu_dma(e, p->spare, true, XFER);
    tg_note("before the invalidation a DMA to the unmapped page %s (the IOTLB %s)",
            all(p->spare, 0x3c, XFER) ? "still landed" : "was blocked",
            all(p->spare, 0x3c, XFER) ? "held the old translation" : "did not cache it");
    poll_faults(d);
    int rc = 0;
    for (unsigned i = 0; i < d->nunits; i++)
        rc |= vtd_invalidate(&d->unit[i], &vtd_hw_direct);
    fill(p->spare, 0);
    edu_dma(e, p->spare, true, XFER);
    if (!rc && all(p->spare, 0, XFER))
        tg_passf(n1, "page 0x%lx", (unsigned long)p->spare);
    else
        tg_fail(n1, "invalidate rc %d, page 0x%lx %s", rc, (unsigned long)p->spare,
                all(p->spare, 0x3c, XFER) ? "written" : "partly written");
    expect_fault(n2, d, e, p->spare, FAULT_WRITE);
    *pte = old;
    vtd_flush_for(&d->unit[0], &vtd_hw_direct, pte, 8);
    for (unsigned i = 0; i < d->nunits; i++)
        rc |= vtd_invalidate(&d->unit[i], &vtd_hw_direct);
    edu_dma(e, p->spare, true, XFER);
    if (!rc && all(p->spare, 0x3c, XFER))
        tg_passf(n3, "page 0x%lx", (unsigned long)p->spare);
    else
        tg_fail(n3, "page 0x%lx not written after it was mapped again", (unsigned long)p->spare);
    expect_no_fault(n3, d);
}

/* The firmware's DMAR with one more structure: an RMRR for edu over `page`. */
static uint8_t *dmar_with_rmrr(const uint8_t *dmar, const struct edu *e, uint64_t page)
{
    uint32_t len = *(const uint32_t *)(dmar + 4), add = 24 + 8;
    uint8_t *t = AllocatePool(len + add);
    if (!t)
        return NULL;
    CopyMem(t, dmar, len);
    uint8_t *r = t + len;
    SetMem(r, add, 0);
    r[0] = 1;                                   /* type RMRR (8.4) */
    r[2] = (uint8_t)add;
    *(uint64_t *)(r + 8) = page;
    *(uint64_t *)(r + 16) = page + PAGE - 1;
    r[24] = 1;                                  /* scope: PCI endpoint (8.3.1) */
    r[25] = 8;
    r[29] = (uint8_t)(e->sid >> 8);             /* start bus */
    r[30] = (uint8_t)((e->sid >> 3) & 31);
    r[31] = (uint8_t)(e->sid & 7);
    *(uint32_t *)(t + 4) = len + add;
    t[9] = 0;
    uint8_t s = 0;
    for (uint32_t i = 0; i < len + add; i++)
        s = (uint8_t)(s + t[i]);
    t[9] = (uint8_t)-s;
    return t;
}

/* RMRR: a limit below edu's page shuts it out; the same map with an RMRR
 * naming edu over that page lets its DMA land. */
static void rmrr_checks(const uint8_t *dmar, const struct edu *e, const struct pages *p)
{
    static struct dma_prot d;
    uint64_t limit = p->rmrr & ~((1ull << 26) - 1);     /* the 64 MiB below the page */
    fill(p->src, 0x77);
    if (!protect(&d, dmar, limit, true, p->sentinel, "map-below-rmrr-page"))
        return;
    edu_dma(e, p->src, false, XFER);        /* src is below the limit */
    fill(p->rmrr, 0);
    edu_dma(e, p->rmrr, true, XFER);
    if (all(p->rmrr, 0, PAGE))
        tg_passf("outside-map-blocked", "page 0x%lx above limit 0x%lx", (unsigned long)p->rmrr,
                 (unsigned long)limit);
    else
        tg_fail("outside-map-blocked", "page 0x%lx written", (unsigned long)p->rmrr);
    expect_fault("outside-map-fault", &d, e, p->rmrr, FAULT_WRITE);
    dma_disable(&d, &vtd_hw_direct);

    uint8_t *with = dmar_with_rmrr(dmar, e, p->rmrr);
    if (!with || !protect(&d, with, limit, true, p->sentinel, "map-with-rmrr")) {
        if (!with)
            tg_fail("map-with-rmrr", "no memory for the table");
        return;
    }
    if (d.dmar.nrmrrs == 1 && d.dmar.rmrr[0].scope[0].dev == ((e->sid >> 3) & 31))
        tg_passf("rmrr-parsed", "0x%lx-0x%lx for %02x:%02x.%u", (unsigned long)d.dmar.rmrr[0].base,
                 (unsigned long)d.dmar.rmrr[0].end - 1, d.dmar.rmrr[0].scope[0].bus,
                 d.dmar.rmrr[0].scope[0].dev, d.dmar.rmrr[0].scope[0].fn);
    else
        tg_fail("rmrr-parsed", "%u RMRRs", d.dmar.nrmrrs);
    edu_dma(e, p->src, false, XFER);
    fill(p->rmrr, 0);
    edu_dma(e, p->rmrr, true, XFER);
    if (all(p->rmrr, 0x77, XFER))
        tg_passf("rmrr-device-works", "edu's DMA to its reserved region 0x%lx lands",
                 (unsigned long)p->rmrr);
    else
        tg_fail("rmrr-device-works", "page 0x%lx not written", (unsigned long)p->rmrr);
    expect_no_fault("rmrr-device-works", &d);
    dma_disable(&d, &vtd_hw_direct);
    FreePool(with);
}

/* The loader's last step with DMA protection on (efi/acpi.c, dmar_unlink):
 * the DMAR leaves QEMU's XSDT, which stays a valid table with the others. */
static const uint8_t *dmar_at_start;

static void hide_checks(void)
{
    uint8_t *xsdt = tg_acpi_xsdt();
    if (!xsdt) {
        tg_fail("dmar-hidden", "no XSDT");
        return;
    }
    uint32_t before = *(const uint32_t *)(xsdt + 4);
    int n = dmar_unlink(xsdt, 8);
    uint32_t after = *(const uint32_t *)(xsdt + 4);
    bool facp = false;
    for (uint32_t off = 36; off + 8 <= after; off += 8) {
        const uint8_t *t = (const uint8_t *)(uintptr_t) * (const uint64_t *)(xsdt + off);
        facp |= t && tg_mem_eq(t, "FACP", 4);
    }
    const uint8_t *renamed = dmar_at_start;
    if (n == 1 && !find_dmar() && tg_acpi_sum_ok(xsdt, after) && after == before - 8 && facp &&
        tg_mem_eq(renamed, "LDMR", 4) && tg_acpi_sum_ok(renamed, *(const uint32_t *)(renamed + 4)))
        tg_passf("dmar-hidden", "XSDT %u -> %u bytes, checksum good, FACP still there, the table "
                 "renamed LDMR", before, after);
    else
        tg_fail("dmar-hidden", "removed %d, XSDT %u -> %u bytes, checksum %s, DMAR %s, FACP %s", n,
                before, after, tg_acpi_sum_ok(xsdt, after) ? "good" : "bad", find_dmar() ? "found" : "gone",
                facp ? "there" : "gone");
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
    static struct dma_prot d;
    tg_init(image, systab, "dma");
    bool regs_first = tg_option_given(image, L"regs-only");

    const uint8_t *dmar = find_dmar();
    dmar_at_start = dmar;
    struct dmar_info info;
    if (!dmar) {
        tg_fail("dmar-found", "no ACPI DMAR table (QEMU without -device intel-iommu?)");
        return tg_summary() ? EFI_ABORTED : EFI_SUCCESS;
    }
    uint32_t len = *(const uint32_t *)(dmar + 4);
    if (dmar_parse(dmar, len, &info, err, sizeof(err))) {
        tg_fail("dmar-parsed", "%s", err);
        return tg_summary() ? EFI_ABORTED : EFI_SUCCESS;
    }
    tg_passf("dmar-parsed", "%u bytes, haw %u, flags 0x%x, %u unit(s), %u RMRR(s), %u ATSR(s), "
             "%u structure(s)", len, info.haw, info.flags, info.nunits, info.nrmrrs, info.natsr,
             info.nentries);
    for (unsigned i = 0; i < info.nunits; i++) {
        const struct dmar_unit *u = &info.unit[i];
        tg_note("unit %u: registers 0x%lx (%lu bytes), segment %u, flags 0x%x, %u scope(s)%s", i,
                (unsigned long)u->reg_base, (unsigned long)u->reg_size, u->segment, u->flags,
                u->nscopes, (u->flags & DMAR_DRHD_INCLUDE_PCI_ALL) ? ", INCLUDE_PCI_ALL" : "");
        for (unsigned k = 0; k < u->nscopes && k < DMAR_MAX_SCOPES; k++)
            tg_note("  scope %u: type %u id %u bus 0x%x path %02x.%x", k, u->scope[k].type,
                    u->scope[k].enum_id, u->scope[k].bus, u->scope[k].dev, u->scope[k].fn);
    }
    tg_print("dma: DMAR bytes");
    for (uint32_t i = 0; i < len; i++)
        tg_print(" %02x", dmar[i]);
    tg_print("\n");

    struct edu e;
    if (!edu_find(&e) || edu_rd(&e, 0) != 0x010000edu) {
        tg_fail("edu-found", "no edu device answering on bus 0 (QEMU without -device edu?)");
        return tg_summary() ? EFI_ABORTED : EFI_SUCCESS;
    }
    tg_passf("edu-found", "00:%02x.0, BAR0 0x%lx", e.sid >> 3, (unsigned long)(uintptr_t)e.mmio);

    /* src, allowed, sentinel, spare: one 2 MiB region, below 64 MiB (the
     * RMRR phase maps only [0, 64 MiB) and needs src); rmrr: above it. */
    struct pages p;
    uint64_t low = alloc_below(4, 64ull << 20), high = alloc_below(1, 256ull << 20);
    p.src = low;
    p.allowed = low + PAGE;
    p.sentinel = low + 2 * PAGE;
    p.spare = low + 3 * PAGE;
    p.rmrr = high;
    if (!low || !high || high < (64ull << 20)) {
        tg_fail("pages", "no pages where edu can reach them (low 0x%lx, high 0x%lx)",
                (unsigned long)low, (unsigned long)high);
        return tg_summary() ? EFI_ABORTED : EFI_SUCCESS;
    }

    /* Without translation edu reaches everything: the sentinel is a page like any other. */
    fill(p.src, 0x11);
    fill(p.sentinel, 0);
    edu_dma(&e, p.src, false, XFER);
    edu_dma(&e, p.sentinel, true, XFER);
    if (all(p.sentinel, 0x11, XFER))
        tg_pass("no-translation-reaches-sentinel");
    else
        tg_fail("no-translation-reaches-sentinel", "edu's DMA did not land before translation");

    for (int pass = 0; pass < 2; pass++) {
        bool qi = regs_first ? pass == 1 : pass == 0;
        const char *sfx = qi ? "" : "-regs";
        char name[40];
        tg_snprintf(name, sizeof(name), "protect%s", sfx);
        if (!protect(&d, dmar, 4ull << 30, qi, p.sentinel, name))
            break;
        if (d.unit[0].qi != qi) {
            tg_skip(name, "the unit offers no invalidation queue");
        }
        sentinel_checks(&d, &e, &p, sfx);
        invalidation_checks(&d, &e, &p, sfx);
        dma_disable(&d, &vtd_hw_direct);
    }
    rmrr_checks(dmar, &e, &p);
    tg_skip("second-unit", "QEMU models one intel-iommu unit; several units are unit-tested "
                           "(tests/unit/test_dma.c)");

    /* Translation off: the firmware's own DMA is identity again. */
    fill(p.src, 0x22);
    fill(p.sentinel, 0);
    edu_dma(&e, p.src, false, XFER);
    edu_dma(&e, p.sentinel, true, XFER);
    if (all(p.sentinel, 0x22, XFER))
        tg_pass("translation-off-again");
    else
        tg_fail("translation-off-again", "edu's DMA did not land after dma_disable");
    hide_checks();
    return tg_summary() ? EFI_ABORTED : EFI_SUCCESS;
}
