/* The vendor-neutral exit handlers: what CPUID, XSETBV, INVD, VMCALL and the
 * virtualization instructions mean for the guest, the event record, INIT and
 * NMI bookkeeping, and stopping a guest. The backend calls these (core/backend.h);
 * nothing here knows the control structure's format. */
#include <stdio.h>
#include <string.h>
#include "core/arch.h"
#include "core/cpuid.h"
#include "core/evlog.h"
#include "core/hypercall.h"
#include "core/log.h"
#include "core/monitor.h"
#include "core/vcpu.h"
#include "core/xsetbv.h"


void vcpu_stop(struct vcpu *v, const char *why)
{
    struct percpu *pc = v->pc;
    pc->stopped = true;
    log_error("cpu %u: %s; guest stopped on this CPU", pc->index, why);
    be_dump_guest(v);
    halt_forever();
}

/* A guest can cause events at will (a port loop): the serial line gets the
 * first ones and then one in 1024 (core/log.c), the ring gets them all. */
static struct log_ratelimit event_rl = { .burst = 64 };

/* Record an event with an explicit place in the guest (rip, cr3); M8: a
 * blocked DMA has none and passes 0. */
void evlog_record(uint16_t cpu, uint8_t kind, uint8_t action, uint32_t index, uint64_t value,
                  uint8_t width, uint64_t rip, uint64_t cr3)
{
    struct lamina_event e;
    memset(&e, 0, sizeof(e));
    e.tsc = rdtsc();
    e.value = value;
    e.rip = rip;
    e.cr3 = cr3;
    e.index = index;
    e.cpu = cpu;
    e.kind = kind;
    e.width = width;
    e.action = action;
    evlog_put(&e);      /* e.seq is set even when the slot had to be dropped */

    uint8_t level = mon.bi->policy.event_level;
    uint32_t suppressed;
    if (level == POLICY_EVENTS_NONE || level > LOG_DEBUG ||
        !log_ratelimit_pass(&event_rl, &suppressed))
        return;
    char line[200];
    evlog_format(&e, line, sizeof(line));
    if (suppressed)
        log_msg((enum log_level)level, "%s (%u events not printed before this one)", line,
                suppressed);
    else
        log_msg((enum log_level)level, "%s", line);
}

void vcpu_event(struct vcpu *v, uint8_t kind, uint8_t action, uint32_t index, uint64_t value,
                uint8_t width)
{
    evlog_record((uint16_t)v->pc->index, kind, action, index, value, width,
                 guest_get(v, GV_RIP), guest_get(v, GV_CR3));
}

/* CPUID exits unconditionally (SDM 3C 26.1.2): the host's answer, filtered. */
void vcpu_cpuid(struct vcpu *v)
{
    struct guest_regs *r = v->r;
    uint32_t leaf = (uint32_t)r->rax, sub = (uint32_t)r->rcx;
    uint32_t h[4];
    cpuid(leaf, sub, h);
    struct cpuid_regs c = { h[0], h[1], h[2], h[3] };
    cpuid_filter(leaf, sub, &c, mon.bi->policy.stealth);
    if (cpuid_depends_on_cr4(leaf))
        cpuid_fix_osxsave(&c, leaf, sub, guest_get(v, GV_CR4));
    r->rax = c.eax;
    r->rbx = c.ebx;
    r->rcx = c.ecx;
    r->rdx = c.edx;
    be_skip_instruction(v);
}

/* XSETBV exits unconditionally: checked as the processor would, then done here. */
void vcpu_xsetbv(struct vcpu *v)
{
    struct guest_regs *r = v->r;
    uint64_t value = (r->rdx << 32) | (uint32_t)r->rax;
    bool osxsave = guest_get(v, GV_CR4) & CR4_OSXSAVE;
    switch (xsetbv_check((uint32_t)r->rcx, value, mon.xcr0_supported, osxsave,
                         (unsigned)guest_get(v, GV_CPL))) {
    case XSETBV_OK:
        xsetbv((uint32_t)r->rcx, value);
        be_skip_instruction(v);
        break;
    case XSETBV_UD:
        vcpu_inject_ud(v);
        break;
    default:
        vcpu_inject_gp(v);
        break;
    }
}

/* INVD would discard the monitor's dirty cache lines too: write them back instead. */
void vcpu_invd(struct vcpu *v)
{
    wbinvd();
    be_skip_instruction(v);
}

/* VMX and SMX instructions: the guest sees a CPU without them. */
void vcpu_virt_insn(struct vcpu *v, unsigned insn)
{
    vcpu_event(v, LAMINA_EV_VIRT_INSN, LAMINA_ACT_DENIED, insn, 0, 0);
    vcpu_inject_ud(v);
}

/* A triple fault is a shutdown (SDM 3A 7.15, "interrupt 8"), which a PC's
 * chipset turns into a reset: so does the monitor, unless on-triple-fault
 * stop asks to keep the guest state for a look. */
void vcpu_triple_fault(struct vcpu *v)
{
    if (mon.bi->on_triple_fault == LAMINA_TRIPLE_FAULT_STOP) {
        vcpu_event(v, LAMINA_EV_TRIPLE_FAULT, LAMINA_ACT_STOPPED, 0, 0, 0);
        vcpu_stop(v, "triple fault in the guest");
    }
    vcpu_event(v, LAMINA_EV_TRIPLE_FAULT, LAMINA_ACT_RESET, 0, 0, 0);
    vcpu_reset_machine(v, "triple fault in the guest (on-triple-fault reset)");
}

/* ------------------------------------------------------------------ VMCALL */

int vcpu_read_phys(void *opaque, uint64_t gpa, void *buf, size_t len)
{
    (void)opaque;
    /* Guest RAM is identity-mapped for the monitor; its own pages are not
     * the guest's to read. */
    if (monitor_owns(gpa) || monitor_owns(gpa + len - 1) || gpa + len > mon.bi->phys_limit)
        return -1;
    memcpy(buf, phys_ptr(gpa), len);
    return 0;
}

/* A and D flags in a guest paging-structure entry, atomically as the processor
 * sets them (SDM 3A 5.8); never in monitor memory or outside RAM. */
static void vcpu_set_bits(void *opaque, uint64_t gpa, uint64_t bits, size_t size)
{
    (void)opaque;
    if (monitor_owns(gpa) || gpa + size > mon.bi->phys_limit)
        return;
    if (size == 4)
        __atomic_fetch_or((uint32_t *)phys_ptr(gpa), (uint32_t)bits, __ATOMIC_SEQ_CST);
    else
        __atomic_fetch_or((uint64_t *)phys_ptr(gpa), bits, __ATOMIC_SEQ_CST);
}

void vcpu_walk_ctx(struct vcpu *v, struct gwalk_ctx *c, uint64_t pdpte[4])
{
    guest_load(v, GV(GV_CR0) | GV(GV_CR3) | GV(GV_CR4) | GV(GV_EFER) | GV(GV_RFLAGS) |
                  GV(GV_CPL) | GV(GV_CODE_SIZE));
    *c = (struct gwalk_ctx){
        .cr0 = guest_get(v, GV_CR0), .cr3 = guest_get(v, GV_CR3), .cr4 = guest_get(v, GV_CR4),
        .efer = guest_get(v, GV_EFER), .maxphyaddr = (uint8_t)mon.maxphyaddr,
        .read_phys = vcpu_read_phys, .ac = (guest_get(v, GV_RFLAGS) >> 18) & 1,
    };
    /* M6: protection keys as the guest has them (SDM 3A 5.6.2), A/D flags set. */
    if (c->cr4 & GW_CR4_PKE)
        c->pkru = read_pkru();
    uint64_t pkrs;
    if ((c->cr4 & GW_CR4_PKS) && rdmsr_safe(MSR_IA32_PKRS, &pkrs) == 0)
        c->pkrs = (uint32_t)pkrs;
    c->set_bits = vcpu_set_bits;
    /* PAE paging: the PDPTEs the processor uses are the ones it loaded. */
    if ((c->cr0 & GW_CR0_PG) && (c->cr4 & GW_CR4_PAE) && !(c->efer & GW_EFER_LMA)) {
        be_guest_pdptes(v, pdpte);
        c->pdpte = pdpte;
    }
}

static void write_identity(void *opaque, uint64_t gpa, const void *src, size_t n)
{
    (void)opaque;
    memcpy(phys_ptr(gpa), src, n);
}

/* The public hypercalls (core/hypercall.c) for the calling CPU. Only the
 * functions with a buffer need the caller's paging. */
static void hypercall(struct vcpu *v)
{
    bool addr32 = guest_get(v, GV_CODE_SIZE) != 64;
    uint64_t fn = addr32 ? (uint32_t)v->r->rax : v->r->rax;
    struct gwalk_ctx walk;
    uint64_t pdpte[4];
    if (fn == LAMINA_HC_STATS || fn == LAMINA_HC_READ_LOG)
        vcpu_walk_ctx(v, &walk, pdpte);
    struct hc_mem mem = {
        .map = mon.bi->memmap, .nmap = mon.bi->nmemmap,
        .mon_base = { mon.hidden[0].base, mon.hidden[1].base },
        .mon_size = { mon.hidden[0].size, mon.hidden[1].size },
        .phys_limit = mon.bi->phys_limit, .apic_page = mon.apic_base,
    };
    if (mem.nmap > LAMINA_MAX_MEMMAP)
        mem.nmap = LAMINA_MAX_MEMMAP;
    struct hc_env env = {
        .walk = &walk, .cpl = (unsigned)guest_get(v, GV_CPL),
        .addr32 = addr32, .mem = &mem, .policy = &mon.bi->policy,
        .ncpus = mon.bi->ncpus, .cpus = mon.cpus, .write_phys = write_identity,
    };
    struct guest_regs *g = v->r;
    struct hc_regs r = { g->rax, g->rdi, g->rsi, g->rdx };
    hypercall_dispatch(&env, &r);
    g->rax = r.rax;
    g->rdi = r.rdi;
    g->rsi = r.rsi;
    g->rdx = r.rdx;
}

/* VMCALL: the loader's calls (with its secret, ring 0, before the seal), the
 * public hypercalls (LAMINA_HC_MAGIC in RBX); anything else raises #UD as on
 * a processor without VMX. */
void vcpu_vmcall(struct vcpu *v)
{
    struct guest_regs *r = v->r;
    if (!mon.sealed && r->rbx == mon.bi->loader_secret && guest_get(v, GV_CPL) == 0) {
        if (r->rax == LAMINA_VMCALL_DEVIRT) {
            struct percpu *pc = v->pc;
            monitor_cpu_left(pc->index);
            mon.bi->report->cpu[pc->index].state = CPU_STATE_DEVIRT;
            log_info("cpu %u: left the guest at the loader's request", pc->index);
            r->rax = 0;
            be_devirtualize(v);
        }
        if (r->rax == LAMINA_VMCALL_SEAL) {
            monitor_seal();
            r->rax = 0;
            be_skip_instruction(v);
            return;
        }
    }
    if (r->rbx == LAMINA_HC_MAGIC) {
        hypercall(v);
        be_skip_instruction(v);
        return;
    }
    vcpu_inject_ud(v);
}

/* ------------------------------------------------------- INIT, SIPI and NMIs */

/* SDM 3A 9.1.1: after INIT an AP waits for a SIPI, the BSP starts over at the
 * reset vector, in firmware the OS has long replaced: the monitor resets the
 * machine instead (cpu 0 is the BSP, core/entry.c). */
void vcpu_enter_init(struct vcpu *v)
{
    if (v->pc->index == 0)
        vcpu_reset_machine(v, "INIT on the bootstrap processor");
    be_enter_init_state(v);
    v->injected = true;             /* nothing from before the INIT is delivered */
    v->pc->nmi_pending = false;
    v->pc->waiting_for_sipi = true;
    v->pc->trace_budget = 64;       /* log level debug: trace the restart */
}

/* A real INIT signal in VMX non-root exits (SDM 3C 26.2). With the guest's
 * INIT IPIs intercepted (core/ipi.c) this only happens when the guest
 * bypasses them, e.g. after switching the APIC back to xAPIC mode. */
void vcpu_init_signal(struct vcpu *v)
{
    vcpu_enter_init(v);
}

void vcpu_sipi_done(struct vcpu *v)
{
    v->pc->waiting_for_sipi = false;
}

/* An NMI reached this CPU in the guest: an INIT kick (core/ipi.c), or the
 * guest's own NMI to deliver. */
void vcpu_nmi(struct vcpu *v)
{
    if (__atomic_exchange_n(&v->pc->init_request, false, __ATOMIC_SEQ_CST)) {
        vcpu_enter_init(v);
        return;
    }
    v->pc->nmi_pending = true;
}

/* An NMI that hit the monitor (core/trap.c) may be an INIT kick too. */
bool vcpu_pending_init(struct vcpu *v)
{
    struct percpu *pc = v->pc;
    if (!pc->nmi_pending || pc->waiting_for_sipi ||
        !__atomic_exchange_n(&pc->init_request, false, __ATOMIC_SEQ_CST))
        return false;
    pc->nmi_pending = false;
    vcpu_enter_init(v);
    return true;
}
