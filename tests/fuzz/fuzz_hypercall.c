/* Fuzz the hypercall argument checker and dispatcher (core/hypercall.c).
 *
 * The input is a whole guest: control registers, CPL and mode, the hypercall
 * registers, a firmware memory-map type for each of 16 pages, and the bytes
 * of those 64 KiB of guest-physical memory (page tables included). Whatever
 * it holds, the monitor side must not fault (ASan/UBSan) and must never
 * write guest memory outside checked RAM pages: write_phys aborts if it is
 * asked to, and a failed call must not have written at all.
 *
 * Built with -DLAMINA_UNIT_TEST like the unit tests (host build of the
 * monitor sources: evlog_reset, no VMX glue). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "core/evlog.h"
#include "core/hypercall.h"

#define PAGES 16
#define PG 4096ull
#define MON_PAGE 11ull
#define APIC 12ull

static uint8_t phys[PAGES * PG];
static struct lamina_memrange map[PAGES];
static struct hc_mem mem;
static unsigned writes;

static int read_phys(void *opaque, uint64_t gpa, void *buf, size_t len)
{
    (void)opaque;
    if (gpa >= sizeof(phys) || sizeof(phys) - gpa < len)
        return -1;
    if (gpa < (MON_PAGE + 1) * PG && MON_PAGE * PG < gpa + len)
        return -1;
    memcpy(buf, phys + gpa, len);
    return 0;
}

static void write_phys(void *opaque, uint64_t gpa, const void *src, size_t n)
{
    (void)opaque;
    if (n == 0 || gpa >= sizeof(phys) || sizeof(phys) - gpa < n)
        abort();
    if (!hc_ram_page(&mem, gpa & ~(PG - 1)) || !hc_ram_page(&mem, (gpa + n - 1) & ~(PG - 1)))
        abort();
    if ((gpa & ~(PG - 1)) != ((gpa + n - 1) & ~(PG - 1)))
        abort();        /* one call per page */
    memcpy(phys + gpa, src, n);
    writes++;
}

struct input {
    uint64_t cr0, cr3, cr4, efer;
    uint64_t rax, rdi, rsi, rdx;
    uint8_t cpl, addr32, user, nevents, maxphyaddr, ac;
    uint8_t types[PAGES];
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in;
    if (size < sizeof(in))
        return 0;
    memcpy(&in, data, sizeof(in));
    data += sizeof(in);
    size -= sizeof(in);
    memset(phys, 0, sizeof(phys));
    memcpy(phys, data, size < sizeof(phys) ? size : sizeof(phys));

    for (unsigned i = 0; i < PAGES; i++)
        map[i] = (struct lamina_memrange){ i * PG, 1, in.types[i] % 16, 0 };
    mem = (struct hc_mem){
        .map = map, .nmap = PAGES, .mon_base = { MON_PAGE * PG, 0 }, .mon_size = { PG, 0 },
        .phys_limit = sizeof(phys) - (in.user & 0x80 ? PG : 0), .apic_page = APIC * PG,
    };
    struct gwalk_ctx walk = {
        .cr0 = in.cr0, .cr3 = in.cr3, .cr4 = in.cr4, .efer = in.efer, .read_phys = read_phys,
        .maxphyaddr = in.maxphyaddr, .ac = in.ac & 1,
    };
    struct lamina_policy pol;
    memset(&pol, 0, sizeof(pol));
    pol.hypercall_user = in.user % 3;
    static struct percpu cpus[2];
    struct hc_env env = {
        .walk = &walk, .cpl = in.cpl & 3, .addr32 = in.addr32 & 1, .mem = &mem, .policy = &pol,
        .ncpus = 2, .cpus = cpus, .write_phys = write_phys,
    };

    /* The checker alone: a good buffer is all RAM. */
    static struct hc_buf b;
    long st = hc_check_buffer(&walk, in.cpl & 3, in.addr32 & 1, &mem, in.rsi, in.rdx,
                              sizeof(struct lamina_event), &b);
    if (st == LAMINA_OK) {
        if (b.npages == 0 || b.npages > HC_MAX_PAGES || b.len != in.rdx || b.len == 0)
            abort();
        for (uint32_t i = 0; i < b.npages; i++)
            if (!hc_ram_page(&mem, b.gpa[i]))
                abort();
    } else if (st != LAMINA_E_RANGE && st != LAMINA_E_FAULT) {
        abort();
    }

    /* The dispatcher, with a few events in the log. */
    evlog_reset();
    for (unsigned i = 0; i < in.nevents % 8; i++) {
        struct lamina_event e = { 0 };
        e.value = i;
        evlog_put(&e);
    }
    struct hc_regs r = { in.rax % 4, in.rdi % 16, in.rsi, in.rdx };
    if (in.ac & 2)
        r.rdi = in.rdi;     /* sometimes a wild cursor or cpu index */
    struct hc_regs before = r;
    writes = 0;
    hypercall_dispatch(&env, &r);
    long rc = (long)r.rax;
    if (rc < LAMINA_E_RANGE || rc > LAMINA_OK)
        abort();
    if (rc != LAMINA_OK) {
        if (writes || r.rdi != before.rdi || r.rsi != before.rsi || r.rdx != before.rdx)
            abort();
    }
    return 0;
}
