/* Public hypercalls: VERSION, STATS, READ_LOG (core/lamina_hypercall.h).
 * See core/hypercall.h for what is checked; the rule behind it is that no
 * argument, however chosen, makes the monitor fault, write outside ordinary
 * guest RAM, or write anything before the whole buffer has been checked. */
#include <string.h>
#include "core/evlog.h"
#include "core/hypercall.h"

/* EFI_MEMORY_TYPE (UEFI 2.10, 7.2, table 7-6). */
enum {
    EFI_RESERVED = 0, EFI_LOADER_CODE, EFI_LOADER_DATA, EFI_BS_CODE, EFI_BS_DATA,
    EFI_RT_CODE, EFI_RT_DATA, EFI_CONVENTIONAL, EFI_UNUSABLE, EFI_ACPI_RECLAIM,
    EFI_ACPI_NVS, EFI_MMIO, EFI_MMIO_PORT, EFI_PAL_CODE, EFI_PERSISTENT, EFI_UNACCEPTED,
};

/* Ordinary RAM the OS owns (or shares with runtime firmware) once it runs.
 * Not: reserved (the monitor's own pages are reserved), unusable (failed
 * RAM), ACPI NVS (firmware state kept across sleep), MMIO and port space
 * (device registers: a write has side effects), PAL code, persistent memory
 * (NVDIMM: a stray log dump would outlive the reboot), unaccepted memory
 * (confidential VMs: touching it before acceptance faults). */
static bool ram_type(uint32_t type)
{
    switch (type) {
    case EFI_LOADER_CODE: case EFI_LOADER_DATA: case EFI_BS_CODE: case EFI_BS_DATA:
    case EFI_RT_CODE: case EFI_RT_DATA: case EFI_CONVENTIONAL: case EFI_ACPI_RECLAIM:
        return true;
    default:
        return false;
    }
}

bool hc_ram_page(const struct hc_mem *m, uint64_t page)
{
    if (page & (HC_PAGE - 1))
        return false;
    if (page >= m->phys_limit || m->phys_limit - page < HC_PAGE)
        return false;
    if (page == (m->apic_page & ~(HC_PAGE - 1)))
        return false;
    for (int i = 0; i < 2; i++)     /* overlap of [page, page+4K) and the region */
        if (m->mon_size[i] && page < m->mon_base[i] + m->mon_size[i] &&
            m->mon_base[i] < page + HC_PAGE)
            return false;
    /* Firmware entries are page-aligned, so a page is inside one or none. */
    for (uint32_t i = 0; i < m->nmap; i++) {
        const struct lamina_memrange *r = &m->map[i];
        if (page >= r->base && (page - r->base) / HC_PAGE < r->pages)
            return ram_type(r->type);
    }
    return false;
}

long hc_check_buffer(const struct gwalk_ctx *walk, unsigned cpl, bool addr32,
                     const struct hc_mem *mem, uint64_t la, uint64_t len, uint64_t min_len,
                     struct hc_buf *out)
{
    if (len == 0 || len > LAMINA_HC_BUF_MAX || len < min_len)
        return LAMINA_E_RANGE;
    uint64_t last = la + len - 1;
    if (last < la)
        return LAMINA_E_FAULT;
    if (addr32 && last > 0xffffffffull)
        return LAMINA_E_FAULT;      /* the processor would wrap at 4 GiB */
    if (!gwalk_canonical(walk, la) || !gwalk_canonical(walk, last))
        return LAMINA_E_FAULT;      /* #GP for the guest's own access (SDM 3A 3.3.7.1) */
    uint64_t first_page = la & ~(HC_PAGE - 1);
    uint32_t npages = (uint32_t)(((last & ~(HC_PAGE - 1)) - first_page) / HC_PAGE + 1);
    if (npages > HC_MAX_PAGES)
        return LAMINA_E_RANGE;      /* not reachable with len <= LAMINA_HC_BUF_MAX */
    for (uint32_t i = 0; i < npages; i++) {
        uint64_t page_la = first_page + i * HC_PAGE, gpa;
        struct gwalk_fault f;
        /* The access as the guest's own store at its CPL would be checked
         * (SDM 3A 5.6): present, writable, user page at CPL 3, SMAP. */
        if (gwalk_translate(walk, page_la, GW_WRITE, cpl, &gpa, &f) != 0)
            return LAMINA_E_FAULT;
        gpa &= ~(HC_PAGE - 1);
        if (!hc_ram_page(mem, gpa))
            return LAMINA_E_FAULT;
        out->gpa[i] = gpa;
    }
    out->la = la;
    out->len = len;
    out->npages = npages;
    return LAMINA_OK;
}

void hc_buf_write(const struct hc_buf *b, uint64_t off, const void *src, size_t n,
                  hc_write_fn write_phys, void *opaque)
{
    const uint8_t *s = src;
    while (n) {
        uint64_t la = b->la + off;
        uint64_t page = (la & ~(HC_PAGE - 1)) - (b->la & ~(HC_PAGE - 1));
        uint64_t in_page = la & (HC_PAGE - 1);
        size_t chunk = HC_PAGE - in_page;
        if (chunk > n)
            chunk = n;
        write_phys(opaque, b->gpa[page / HC_PAGE] + in_page, s, chunk);
        s += chunk;
        off += chunk;
        n -= chunk;
    }
}

/* ------------------------------------------------------------ dispatch */

static uint32_t features(const struct lamina_policy *p)
{
    uint32_t f = LAMINA_FEAT_STATS | LAMINA_FEAT_EVENT_LOG;
    if (p->hypercall_user)
        f |= LAMINA_FEAT_USER;
    if (p->stealth)
        f |= LAMINA_FEAT_STEALTH;
    if (p->serial_exclusive)
        f |= LAMINA_FEAT_SERIAL_EXCLUSIVE;
    return f;
}

static long hc_stats(const struct hc_env *env, struct hc_regs *r)
{
    uint64_t cpu = r->rdi;
    if (cpu != LAMINA_ALL_CPUS && cpu >= env->ncpus)
        return LAMINA_E_INVAL;
    struct hc_buf buf;
    long st = hc_check_buffer(env->walk, env->cpl, env->addr32, env->mem, r->rsi, r->rdx,
                              sizeof(struct lamina_stats), &buf);
    if (st != LAMINA_OK)
        return st;
    struct lamina_stats s;
    memset(&s, 0, sizeof(s));
    s.cpu = (uint32_t)cpu;
    s.ncpus = env->ncpus;
    s.nkinds = LAMINA_EXIT_KINDS;
    evlog_counts(&s.events_recorded, &s.events_overwritten);
    for (uint32_t c = 0; c < env->ncpus; c++) {
        if (cpu != LAMINA_ALL_CPUS && c != cpu)
            continue;
        /* Other CPUs update theirs meanwhile: each 64-bit load is whole. */
        const volatile struct percpu *pc = &env->cpus[c];
        for (unsigned i = 0; i < LAMINA_EXIT_KINDS; i++) {
            s.exits[i] += pc->exits[i];
            s.ticks[i] += pc->ticks[i];
        }
    }
    hc_buf_write(&buf, 0, &s, sizeof(s), env->write_phys, env->opaque);
    r->rdi = sizeof(s);
    return LAMINA_OK;
}

static long hc_read_log(const struct hc_env *env, struct hc_regs *r)
{
    struct hc_buf buf;
    long st = hc_check_buffer(env->walk, env->cpl, env->addr32, env->mem, r->rsi, r->rdx,
                              sizeof(struct lamina_event), &buf);
    if (st != LAMINA_OK)
        return st;
    uint64_t cursor = r->rdi, lost_total = 0, n = 0, room = buf.len / sizeof(struct lamina_event);
    /* One event at a time through a stack copy: records are whole when they
     * reach the guest (the seqlock check is on the copy), and need no bounce
     * buffer bigger than one. */
    while (n < room) {
        struct lamina_event ev;
        uint64_t lost;
        long got = evlog_read(&cursor, &ev, 1, &lost);
        if (got < 0)
            return LAMINA_E_INVAL;      /* first round only: the cursor never passes the head */
        lost_total += lost;
        if (got == 0)
            break;
        if (env->cpl == 3 && env->policy->hypercall_user != POLICY_HCUSER_FULL) {
            /* Ring 3 learns what happened, not where the kernel is: no RIP,
             * no CR3, no MSR value (IA32_LSTAR and the like give KASLR away). */
            ev.rip = 0;
            ev.cr3 = 0;
            if (ev.kind == LAMINA_EV_MSR_READ || ev.kind == LAMINA_EV_MSR_WRITE)
                ev.value = 0;
        }
        hc_buf_write(&buf, n * sizeof(ev), &ev, sizeof(ev), env->write_phys, env->opaque);
        n++;
    }
    r->rdi = cursor;
    r->rsi = n;
    r->rdx = lost_total;
    return LAMINA_OK;
}

void hypercall_dispatch(const struct hc_env *env, struct hc_regs *r)
{
    struct hc_regs in = *r;
    long st;
    if (env->addr32) {
        /* 16/32-bit callers (compatibility mode too) pass 32-bit values. */
        in.rax = (uint32_t)in.rax;
        in.rdi = (uint32_t)in.rdi;
        in.rsi = (uint32_t)in.rsi;
        in.rdx = (uint32_t)in.rdx;
    }
    struct hc_regs out = in;
    if (env->cpl == 3 && !env->policy->hypercall_user) {
        st = LAMINA_E_PERM;
    } else {
        switch (in.rax) {
        case LAMINA_HC_VERSION:
            out.rdi = LAMINA_HC_ABI_VERSION;
            out.rsi = features(env->policy);
            out.rdx = env->ncpus;
            st = LAMINA_OK;
            break;
        case LAMINA_HC_STATS:
            st = hc_stats(env, &out);
            break;
        case LAMINA_HC_READ_LOG:
            st = hc_read_log(env, &out);
            break;
        default:
            st = LAMINA_E_NOFUNC;
            break;
        }
    }
    if (st == LAMINA_OK) {
        r->rdi = out.rdi;
        r->rsi = out.rsi;
        r->rdx = out.rdx;
    }
    r->rax = (uint64_t)st;
}
