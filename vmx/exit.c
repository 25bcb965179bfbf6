/* VM-exit dispatch: one handler per basic exit reason (SDM 3C appendix C).
 * Exit reasons without a handler are unexpected: the guest state is logged and
 * that CPU stops. Nothing here allocates or calls stdio. */
#include <stdio.h>
#include <string.h>
#include "core/arch.h"
#include "core/cpuid.h"
#include "core/evlog.h"
#include "core/hypercall.h"
#include "core/apic.h"
#include "core/gwalk.h"
#include "core/guest_msr.h"
#include "core/evlog.h"
#include "core/policy.h"
#include "core/io.h"
#include "core/io_string.h"
#include "core/x86_decode.h"
#include "ept/memtype.h"
#include "core/log.h"
#include "core/monitor.h"
#include "core/xsetbv.h"
#include "iommu/iommu.h"
#include "vmx/init_state.h"
#include "vmx/vmcs.h"
#include "vmx/vmx.h"

#define INTR_INFO_VALID       INTR_INFO_VALID_MASK
#define INTR_INFO_DELIVER_ERR INTR_INFO_DELIVER_CODE_MASK
#define INTR_TYPE_NMI         INTR_TYPE_NMI_INTR
#define INTR_TYPE_HW_EXC      INTR_TYPE_HARD_EXCEPTION
#define VECTOR_DB 1
#define VECTOR_UD 6
#define RFLAGS_TF (1ull << 8)
#define CR4_PCIDE (1ull << 17)
#define APIC_BASE_ADDR_MASK 0x000ffffffffff000ul
#define DR6_BS    (1ull << 14)
#define VECTOR_GP 13
#define ACTIVITY_ACTIVE        0
#define ACTIVITY_WAIT_FOR_SIPI 3
#define INTERRUPTIBILITY_SMI   (1u << 2)
#define INTERRUPTIBILITY_NMI   (1u << 3)

struct exit_ctx {
    struct percpu *pc;
    struct guest_regs *r;
    uint32_t reason;          /* basic exit reason */
    uint64_t qual;
    bool injected;            /* an event is set up for the next VM entry */
};

_Static_assert(sizeof(struct guest_regs) == sizeof(((struct init_state *)0)->gpr), "gpr layout");

typedef void (*exit_handler)(struct exit_ctx *x);

static void skip_bytes(uint64_t len)
{
    vmcs_write(GUEST_RIP, vmcs_read(GUEST_RIP) + len);
    /* An emulated instruction ends blocking by STI / MOV SS (SDM 3C 25.1.3). */
    uint64_t intr = vmcs_read(GUEST_INTERRUPTIBILITY_INFO);
    if (intr & 3)
        vmcs_write(GUEST_INTERRUPTIBILITY_INFO, intr & ~3ull);
}

/* For exits that report the instruction length (SDM 3C 28.2.4). */
static void skip_instruction(void)
{
    skip_bytes(vmcs_read(VM_EXIT_INSTRUCTION_LEN));
}

static void inject_exception(struct exit_ctx *x, unsigned vector, bool has_error, uint32_t error)
{
    uint32_t info = INTR_INFO_VALID | INTR_TYPE_HW_EXC | vector;
    if (has_error) {
        info |= INTR_INFO_DELIVER_ERR;
        vmcs_write(VM_ENTRY_EXCEPTION_ERROR_CODE, error);
    }
    vmcs_write(VM_ENTRY_INTR_INFO_FIELD, info);
    x->injected = true;
}

static void inject_ud(struct exit_ctx *x) { inject_exception(x, VECTOR_UD, false, 0); }
static void inject_gp(struct exit_ctx *x) { inject_exception(x, VECTOR_GP, true, 0); }

static unsigned guest_cpl(void)
{
    return (vmcs_read(GUEST_SS_AR_BYTES) >> 5) & 3;
}

/* Record an event in the log (core/evlog.h) at the guest's current RIP and CR3. */
void guest_event(uint8_t kind, uint8_t action, uint32_t index, uint64_t value, uint8_t width)
{
    evlog_record((uint16_t)this_cpu()->index, kind, action, index, value, width,
                 vmcs_read(GUEST_RIP), vmcs_read(GUEST_CR3));
}

static const char *const seg_names[] = { "es", "cs", "ss", "ds", "fs", "gs", "ldtr", "tr" };

/* Everything a developer needs to understand why a guest was stopped. */
static void dump_guest(struct exit_ctx *x)
{
    char b[200];
    struct guest_regs *r = x->r;
    sniprintf(b, sizeof(b), "  exit reason 0x%lx qualification 0x%lx gpa 0x%lx linear 0x%lx\n",
              vmread(VM_EXIT_REASON), x->qual, vmread(GUEST_PHYSICAL_ADDRESS),
              vmread(GUEST_LINEAR_ADDRESS));
    log_raw(b);
    sniprintf(b, sizeof(b), "  rip %016lx rsp %016lx rflags %016lx insn-len %lu\n",
              vmread(GUEST_RIP), vmread(GUEST_RSP), vmread(GUEST_RFLAGS),
              vmread(VM_EXIT_INSTRUCTION_LEN));
    log_raw(b);
    uint64_t gpr[16];
    memcpy(gpr, r, sizeof(gpr));
    gpr[4] = vmread(GUEST_RSP);
    log_dump_gprs(gpr);
    sniprintf(b, sizeof(b), "  cr0 %016lx (shadow %lx) cr3 %016lx cr4 %016lx (shadow %lx)\n",
              vmread(GUEST_CR0), vmread(CR0_READ_SHADOW), vmread(GUEST_CR3),
              vmread(GUEST_CR4), vmread(CR4_READ_SHADOW));
    log_raw(b);
    sniprintf(b, sizeof(b), "  efer %lx pat %lx entry-ctl %lx activity %lu interruptibility %lx\n",
              vmread(GUEST_IA32_EFER), vmread(GUEST_IA32_PAT), vmread(VM_ENTRY_CONTROLS),
              vmread(GUEST_ACTIVITY_STATE), vmread(GUEST_INTERRUPTIBILITY_INFO));
    log_raw(b);
    for (int i = 0; i < 8; i++) {
        sniprintf(b, sizeof(b), "  %-4s sel %04lx base %016lx limit %08lx ar %05lx\n",
                  seg_names[i], vmread(GUEST_ES_SELECTOR + 2 * i), vmread(GUEST_ES_BASE + 2 * i),
                  vmread(GUEST_ES_LIMIT + 2 * i), vmread(GUEST_ES_AR_BYTES + 2 * i));
        log_raw(b);
    }
    sniprintf(b, sizeof(b), "  gdtr %016lx/%04lx idtr %016lx/%04lx idt-vectoring %lx exit-intr %lx\n",
              vmread(GUEST_GDTR_BASE), vmread(GUEST_GDTR_LIMIT), vmread(GUEST_IDTR_BASE),
              vmread(GUEST_IDTR_LIMIT), vmread(IDT_VECTORING_INFO_FIELD), vmread(VM_EXIT_INTR_INFO));
    log_raw(b);
}

/* Stop this guest CPU for good: log why, then halt in VMX root. */
static void __attribute__((noreturn)) stop_guest(struct exit_ctx *x, const char *why)
{
    struct percpu *pc = x->pc;
    pc->stopped = true;
    log_error("cpu %u: %s; guest stopped on this CPU", pc->index, why);
    dump_guest(x);
    halt_forever();
}

/* ------------------------------------------------------------ handlers */

static void handle_cpuid(struct exit_ctx *x)
{
    struct guest_regs *r = x->r;
    uint32_t leaf = (uint32_t)r->rax, sub = (uint32_t)r->rcx;
    uint32_t v[4];
    cpuid(leaf, sub, v);
    struct cpuid_regs c = { v[0], v[1], v[2], v[3] };
    cpuid_filter(leaf, sub, &c, mon.bi->policy.stealth);
    cpuid_fix_osxsave(&c, leaf, sub, vmcs_read(GUEST_CR4));
    r->rax = c.eax;
    r->rbx = c.ebx;
    r->rcx = c.ecx;
    r->rdx = c.edx;
    skip_instruction();
}

static void handle_xsetbv(struct exit_ctx *x)
{
    struct guest_regs *r = x->r;
    uint64_t value = (r->rdx << 32) | (uint32_t)r->rax;
    bool osxsave = vmcs_read(GUEST_CR4) & CR4_OSXSAVE;
    switch (xsetbv_check((uint32_t)r->rcx, value, mon.xcr0_supported, osxsave, guest_cpl())) {
    case XSETBV_OK:
        __asm__ volatile("xsetbv" :: "c"((uint32_t)r->rcx), "a"((uint32_t)value),
                         "d"((uint32_t)(value >> 32)));
        skip_instruction();
        break;
    case XSETBV_UD:
        inject_ud(x);
        break;
    default:
        inject_gp(x);
        break;
    }
}

/* INVD would discard the monitor's dirty cache lines too: write them back instead. */
static void handle_invd(struct exit_ctx *x)
{
    (void)x;
    __asm__ volatile("wbinvd" ::: "memory");
    skip_instruction();
}

/* GETSEC, and VMX instructions: the guest sees a CPU without SMX and VMX. */
static void handle_ud(struct exit_ctx *x)
{
    guest_event(LAMINA_EV_VMX_INSN, LAMINA_ACT_DENIED, x->reason, 0, 0);
    inject_ud(x);
}

static void __attribute__((noreturn)) devirtualize(struct exit_ctx *x)
{
    struct devirt_ctx c;
    memset(&c, 0, sizeof(c));
    c.rip = vmcs_read(GUEST_RIP) + vmcs_read(VM_EXIT_INSTRUCTION_LEN);
    c.cs = vmcs_read(GUEST_CS_SELECTOR);
    c.rflags = vmcs_read(GUEST_RFLAGS);
    c.rsp = vmcs_read(GUEST_RSP);
    c.ss = vmcs_read(GUEST_SS_SELECTOR);
    c.cr3 = vmcs_read(GUEST_CR3);
    c.cr4 = vmcs_read(GUEST_CR4) & ~CR4_VMXE;
    c.ds = vmcs_read(GUEST_DS_SELECTOR);
    c.es = vmcs_read(GUEST_ES_SELECTOR);
    c.fs = vmcs_read(GUEST_FS_SELECTOR);
    c.gs = vmcs_read(GUEST_GS_SELECTOR);
    c.fs_base = vmcs_read(GUEST_FS_BASE);
    c.gs_base = vmcs_read(GUEST_GS_BASE);
    c.gdtr_limit = (uint16_t)vmcs_read(GUEST_GDTR_LIMIT);
    c.gdtr_base = vmcs_read(GUEST_GDTR_BASE);
    c.idtr_limit = (uint16_t)vmcs_read(GUEST_IDTR_LIMIT);
    c.idtr_base = vmcs_read(GUEST_IDTR_BASE);
    c.regs = *x->r;
    c.regs.rax = 0;
    x->pc->in_vmx = false;
    mon.bi->report->cpu[x->pc->index].state = CPU_STATE_DEVIRT;
    __atomic_sub_fetch(&mon.cpus_virtualized, 1, __ATOMIC_SEQ_CST);
    log_info("cpu %u: left VMX operation at the loader's request", x->pc->index);
    vmclear((uint64_t)(uintptr_t)x->pc->vmcs);
    vmx_devirt_jump(&c);
}

static void guest_walk_ctx(struct gwalk_ctx *c, uint64_t pdpte[4]);
static bool guest_64bit(void);

/* VMCALL: the loader's calls (with its secret, ring 0, before the seal), the
 * public hypercalls (LAMINA_HC_MAGIC in RBX, core/hypercall.c); anything
 * else raises #UD as on a processor without VMX. */
static void handle_vmcall(struct exit_ctx *x)
{
    struct guest_regs *r = x->r;
    if (!mon.sealed && r->rbx == mon.bi->loader_secret && guest_cpl() == 0) {
        if (r->rax == LAMINA_VMCALL_DEVIRT)
            devirtualize(x);
        if (r->rax == LAMINA_VMCALL_SEAL) {
            monitor_seal();
            r->rax = 0;
            skip_instruction();
            return;
        }
    }
    if (r->rbx == LAMINA_HC_MAGIC) {
        struct gwalk_ctx c;
        uint64_t pdpte[4];
        guest_walk_ctx(&c, pdpte);
        hypercall_vmcall(r, &c, guest_cpl(), !guest_64bit());
        skip_instruction();
        return;
    }
    inject_ud(x);
}

#define X2APIC_ICR MSR_X2APIC_ICR
static void handle_icr_write(struct exit_ctx *x, uint64_t v);

static bool is_vmx_msr(uint32_t msr)
{
    return msr >= MSR_IA32_VMX_BASIC && msr <= MSR_IA32_VMX_LAST;
}

/* VMCS guest-state fields of the MSRs core/guest_msr.h lists. */
static uint64_t guest_msr_field(enum guest_msr kind)
{
    static const uint64_t field[] = {
        [GMSR_SYSENTER_CS] = GUEST_SYSENTER_CS, [GMSR_SYSENTER_ESP] = GUEST_SYSENTER_ESP,
        [GMSR_SYSENTER_EIP] = GUEST_SYSENTER_EIP, [GMSR_FS_BASE] = GUEST_FS_BASE,
        [GMSR_GS_BASE] = GUEST_GS_BASE, [GMSR_DEBUGCTL] = GUEST_IA32_DEBUGCTL,
        [GMSR_PAT] = GUEST_IA32_PAT, [GMSR_EFER] = GUEST_IA32_EFER,
    };
    return field[kind];
}

/* RDMSR as the guest would see it natively; -1 where that raises #GP. */
static int guest_rdmsr(uint32_t msr, uint64_t *v)
{
    enum guest_msr kind = guest_msr_kind(msr);
    if (kind != GMSR_NONE) {
        *v = vmcs_read(guest_msr_field(kind));
        return 0;
    }
    if (msr == MSR_IA32_TSC) {          /* trapped only under a policy rule */
        *v = rdtsc() + this_cpu()->tsc.offset;
        return 0;
    }
    if (msr == MSR_IA32_TSC_ADJUST) {
        *v = this_cpu()->tsc.adjust;
        return mon.tsc_adjust ? 0 : -1;
    }
    if (is_vmx_msr(msr) || rdmsr_safe(msr, v) != 0)
        return -1;
    /* As on a CPU without VMX: the VMX enable bits read as clear. */
    if (msr == MSR_IA32_FEATURE_CONTROL)
        *v &= ~(FEATURE_CONTROL_VMX_IN_SMX | FEATURE_CONTROL_VMX_OUT_SMX);
    return 0;
}


static void handle_rdmsr(struct exit_ctx *x)
{
    struct guest_regs *r = x->r;
    uint32_t msr = (uint32_t)r->rcx;
    const struct policy_rule *rule = policy_lookup(&mon.bi->policy, POLICY_MSR, msr, POLICY_READ);
    uint64_t v;
    if (rule && rule->action == POLICY_DENY) {
        guest_event(LAMINA_EV_MSR_READ, LAMINA_ACT_DENIED, msr, 0, 8);
        inject_gp(x);
        return;
    }
    if (guest_rdmsr(msr, &v) != 0) {
        inject_gp(x);
        return;
    }
    if (rule)
        guest_event(LAMINA_EV_MSR_READ, LAMINA_ACT_LOGGED, msr, v, 8);
    r->rax = (uint32_t)v;
    r->rdx = v >> 32;
    skip_instruction();
}

/* WRMSR of a VMCS-held MSR: checked as the processor would, then stored in
 * the guest-state field. */
static int write_vmcs_msr(enum guest_msr kind, uint64_t v)
{
    const struct guest_msr_env env = {
        .la57 = mon.la57, .nx = mon.nx,
        .paging = vmcs_read(GUEST_CR0) & CR0_PG, .efer = vmcs_read(GUEST_IA32_EFER),
    };
    uint64_t store;
    if (guest_msr_write_value(kind, v, &env, &store) != 0)
        return -1;
    if (kind == GMSR_DEBUGCTL) {
        /* Valid bits are model specific: let the processor judge. VM exits
         * clear IA32_DEBUGCTL (SDM 3C 28.5.1), so 0 is the host's value. */
        int bad = wrmsr_safe(MSR_IA32_DEBUGCTL, v);
        wrmsr(MSR_IA32_DEBUGCTL, 0);
        if (bad)
            return -1;
    }
    vmcs_write(guest_msr_field(kind), store);
    return 0;
}

/* WRMSR as the guest would see it natively (minus microcode loads); -1 where
 * that raises #GP. The x2APIC ICR is not handled here. */
static int guest_wrmsr(struct exit_ctx *x, uint32_t msr, uint64_t v)
{
    enum guest_msr kind = guest_msr_kind(msr);
    if (kind != GMSR_NONE)
        return write_vmcs_msr(kind, v);
    if (msr == MSR_IA32_TSC || msr == MSR_IA32_TSC_ADJUST) {
        struct tsc_virt *t = &x->pc->tsc;
        if (msr == MSR_IA32_TSC_ADJUST && !mon.tsc_adjust)
            return -1;
        if (msr == MSR_IA32_TSC)
            tsc_virt_write_tsc(t, v, rdtsc());
        else
            tsc_virt_write_adjust(t, v);
        vmcs_write(TSC_OFFSET, t->offset);
        return 0;
    }
    if (msr == MSR_IA32_BIOS_UPDT_TRIG) {
        /* No microcode loads under the monitor: the write is dropped, the
         * revision in IA32_BIOS_SIGN_ID stays as it was, and a loader that
         * checks it (Linux does) reports a failed update and moves on. */
        static struct log_ratelimit rl = { .burst = 4 };
        uint32_t suppressed;
        if (log_ratelimit_pass(&rl, &suppressed))
            log_warn("cpu %u: microcode update refused (WRMSR IA32_BIOS_UPDT_TRIG)", x->pc->index);
        return 0;
    }
    if (memtype_is_mtrr_msr(msr)) {
        if (wrmsr_safe(msr, v) != 0)
            return -1;
        memtype_mtrr_written(x->pc->index, msr, v);
        return 0;
    }
    if (msr == MSR_IA32_APIC_BASE && ((v ^ rdmsr(MSR_IA32_APIC_BASE)) & APIC_BASE_ADDR_MASK)) {
        /* A moved xAPIC page decodes before memory for this CPU's own
         * accesses, VMX root included (SDM 3A 11.4.5): over monitor memory
         * it would stand in for the monitor's data; elsewhere the monitor's
         * IPIs (mon.apic_base) would miss it. Mode bits (EN, EXTD) may change. */
        static struct log_ratelimit rl = { .burst = 4 };
        uint32_t suppressed;
        if (log_ratelimit_pass(&rl, &suppressed))
            log_warn("cpu %u: guest moving the local APIC to 0x%lx refused", x->pc->index,
                     (uint64_t)(v & APIC_BASE_ADDR_MASK));
        return -1;
    }
    /* IA32_FEATURE_CONTROL is locked (writes #GP on hardware); VMX MSRs are
     * read-only; Intel PT is hidden (core/cpuid.c), as on a CPU without it. */
    if (msr == MSR_IA32_FEATURE_CONTROL || is_vmx_msr(msr) || msr == MSR_IA32_RTIT_CTL ||
        wrmsr_safe(msr, v) != 0)
        return -1;
    return 0;
}

/* The policy's say on a WRMSR: 0 to go ahead, -1 refused (#GP, recorded). */
/* The policy's say on a WRMSR: 0 to go ahead, -1 refused (#GP, recorded).
 * slot: the MSR's place in lock_msr under a lock rule, else -1. */
static int wrmsr_policy_check(struct exit_ctx *x, const struct policy_rule *rule, int slot,
                              uint32_t msr, uint64_t v)
{
    if (!rule || rule->action == POLICY_LOG)
        return 0;
    if (rule->action == POLICY_LOCK) {
        struct percpu *pc = x->pc;
        if (slot < 0 || !(pc->lock_written & (1u << slot)) || pc->lock_value[slot] == v)
            return 0;
        guest_event(LAMINA_EV_MSR_WRITE, LAMINA_ACT_LOCKED, msr, v, 8);
        return -1;
    }
    guest_event(LAMINA_EV_MSR_WRITE, LAMINA_ACT_DENIED, msr, v, 8);
    return -1;
}

static void handle_wrmsr(struct exit_ctx *x)
{
    struct guest_regs *r = x->r;
    uint32_t msr = (uint32_t)r->rcx;
    uint64_t v = (r->rdx << 32) | (uint32_t)r->rax;
    const struct policy_rule *rule = policy_lookup(&mon.bi->policy, POLICY_MSR, msr, POLICY_WRITE);
    int slot = rule && rule->action == POLICY_LOCK ? policy_lock_slot(&mon.bi->policy, msr) : -1;
    if (wrmsr_policy_check(x, rule, slot, msr, v) != 0) {
        inject_gp(x);
        return;
    }
    /* A ruled write is recorded whether or not the processor takes it. */
    if (msr == X2APIC_ICR) {
        if (rule)
            guest_event(LAMINA_EV_MSR_WRITE, LAMINA_ACT_LOGGED, msr, v, 8);
        handle_icr_write(x, v);
        return;
    }
    int gp = guest_wrmsr(x, msr, v);
    if (rule)
        guest_event(LAMINA_EV_MSR_WRITE, LAMINA_ACT_LOGGED, msr, v, 8);
    if (gp) {
        inject_gp(x);
        return;
    }
    /* The first write that took effect sets the value this CPU keeps. */
    if (slot >= 0 && !(x->pc->lock_written & (1u << slot))) {
        x->pc->lock_value[slot] = v;
        x->pc->lock_written |= 1u << slot;
    }
    skip_instruction();
}

static uint64_t *gpr(struct guest_regs *r, unsigned n)
{
    /* SDM 3C table 28-3 register numbering matches struct guest_regs order;
     * RSP (4) is in the VMCS and handled by the callers. */
    return &((uint64_t *)r)[n];
}

static uint64_t read_gpr(struct guest_regs *r, unsigned n)
{
    return n == 4 ? vmcs_read(GUEST_RSP) : *gpr(r, n);
}

static void flush_guest_tlb(struct percpu *pc)
{
    enum vmx_result r = invvpid(INVVPID_SINGLE_CONTEXT, (uint16_t)pc->vpid);
    if (r != VMX_OK)
        vmx_insn_failed("INVVPID", pc->vpid, r);
}

static void flush_ept(void)
{
    enum vmx_result r = invept(INVEPT_SINGLE_CONTEXT, mon.eptp);
    if (r != VMX_OK)
        vmx_insn_failed("INVEPT", mon.eptp, r);
}

/* A MOV to CR0 that touched a host-owned bit: apply it as hardware would. */
static void write_guest_cr0(struct exit_ctx *x, uint64_t v)
{
    if ((v >> 32) || ((v & CR0_PG) && !(v & CR0_PE)) || ((v & CR0_NW) && !(v & CR0_CD))) {
        inject_gp(x);
        return;
    }
    uint64_t old = vmcs_read(CR0_READ_SHADOW);
    uint64_t efer = vmcs_read(GUEST_IA32_EFER);
    /* SDM 2A MOV CR, 3A 10.8.5: paging cannot be turned off in 64-bit mode
     * (only from compatibility mode) or with CR4.PCIDE set, nor turned on
     * with EFER.LME but without CR4.PAE. Hardware checks these; the write
     * exits here only because it also changed a host-owned bit (NE). PG,
     * PAE and PCIDE are the guest's own bits: their current values are in
     * GUEST_CR0/GUEST_CR4, the read shadows only hold host-owned ones. */
    uint64_t cr4 = vmcs_read(GUEST_CR4), cur_pg = vmcs_read(GUEST_CR0) & CR0_PG;
    bool pg_off = !(v & CR0_PG) && cur_pg, pg_on = (v & CR0_PG) && !cur_pg;
    if ((pg_off && (guest_64bit() || (cr4 & CR4_PCIDE))) ||
        (pg_on && (efer & EFER_LME) && !(cr4 & CR4_PAE))) {
        inject_gp(x);
        return;
    }
    uint64_t entry = vmcs_read(VM_ENTRY_CONTROLS);
    /* SDM 3A 10.8.5: setting PG with EFER.LME activates IA-32e mode. */
    if ((v & CR0_PG) && !(old & CR0_PG) && (efer & EFER_LME)) {
        efer |= EFER_LMA;
        entry |= VM_ENTRY_IA32E_MODE;
    } else if (!(v & CR0_PG) && (old & CR0_PG)) {
        efer &= ~EFER_LMA;
        entry &= ~VM_ENTRY_IA32E_MODE;
    }
    vmcs_write(GUEST_IA32_EFER, efer);
    vmcs_write(VM_ENTRY_CONTROLS, entry);
    vmcs_write(CR0_READ_SHADOW, v);
    vmcs_write(GUEST_CR0, vmx_fix_cr0(&mon.caps, v, true));
    flush_guest_tlb(x->pc);
    skip_instruction();
}

static void write_guest_cr4(struct exit_ctx *x, uint64_t v)
{
    /* The guest sees no VMX, so CR4.VMXE is reserved to it; so are bits the CPU lacks. */
    if ((v & CR4_VMXE) || (v & ~mon.caps.cr4_fixed1)) {
        inject_gp(x);
        return;
    }
    vmcs_write(CR4_READ_SHADOW, v);
    vmcs_write(GUEST_CR4, vmx_fix_cr4(&mon.caps, v) | CR4_VMXE);
    flush_guest_tlb(x->pc);
    skip_instruction();
}

/* SDM 3C 28.2.1 table 28-3: exit qualification for control-register accesses. */
static void handle_cr_access(struct exit_ctx *x)
{
    unsigned cr = x->qual & 0xf, type = (x->qual >> 4) & 3, reg = (x->qual >> 8) & 0xf;
    if (type == 0 && cr == 0) {
        write_guest_cr0(x, read_gpr(x->r, reg));
    } else if (type == 0 && cr == 4) {
        write_guest_cr4(x, read_gpr(x->r, reg));
    } else if (type == 3) {
        /* LMSW loads CR0 bits 3:0 but cannot clear PE (SDM 2A LMSW). */
        uint64_t src = (x->qual >> 16) & 0xf, old = vmcs_read(CR0_READ_SHADOW);
        write_guest_cr0(x, (old & ~0xeull) | (src & 0xe) | ((old | src) & 1));
    } else {
        stop_guest(x, "unexpected control-register access exit");
    }
}

/* Put this guest CPU into the architectural INIT state, waiting for a SIPI
 * (SDM 3A 9.1 table 9-1; SDM 3C 26.6.2 wait-for-SIPI activity state). */
static void enter_init_state(struct exit_ctx *x)
{
    uint32_t v[4];
    cpuid(1, 0, v);
    struct init_state st;
    init_state_build(&st, &mon.caps, v[0], true);
    for (unsigned i = 0; i < st.nvmcs; i++)
        vmcs_write(st.vmcs[i].field, st.vmcs[i].value);
    /* Registers the VMCS does not hold are the guest's own in VMX root too. */
    memcpy(x->r, st.gpr, sizeof(*x->r));
    write_cr2(st.cr2);
    __asm__ volatile("mov %0, %%dr0; mov %0, %%dr1; mov %0, %%dr2; mov %0, %%dr3; mov %1, %%dr6"
                     :: "r"(st.dr[0]), "r"(st.dr6));
    /* INIT leaves IA-32e mode (EFER = 0 in the INIT state). */
    vmcs_write(VM_ENTRY_CONTROLS, vmcs_read(VM_ENTRY_CONTROLS) & ~(uint64_t)VM_ENTRY_IA32E_MODE);
    vmcs_write(VM_ENTRY_INTR_INFO_FIELD, 0);
    x->injected = true;     /* nothing from before the INIT is delivered */
    x->pc->nmi_pending = false;
    x->pc->waiting_for_sipi = true;
    x->pc->trace_budget = 64;      /* log level debug: trace the restart */
    flush_guest_tlb(x->pc);
}

/* A real INIT signal in VMX non-root exits (SDM 3C 26.2). With the guest's
 * INIT IPIs intercepted (below) this only happens when the guest bypasses
 * the x2APIC, e.g. after switching back to xAPIC mode. */
static void handle_init(struct exit_ctx *x)
{
    enter_init_state(x);
}

/* --------------------------------------------------- INIT IPI emulation
 * The guest's INIT IPIs do not reach the target CPU: the sender's ICR write
 * is trapped (x2APIC: WRMSR 0x830 through the MSR bitmap; xAPIC: the APIC
 * page is read-only in the EPT and the store is decoded and emulated), the
 * target is flagged and kicked with an NMI, and its NMI exit enters the INIT
 * state. A real INIT in VMX non-root would do the same by itself, but Bochs
 * 2.7 keeps such an INIT pending after the VM exit, so the target could never
 * run again (fixed upstream after 2.7). Every other ICR write goes to the
 * hardware unchanged. */

static void request_init(struct percpu *target)
{
    if (target->waiting_for_sipi || target->stopped)
        return;     /* already in the INIT state, or gone */
    __atomic_store_n(&target->init_request, true, __ATOMIC_SEQ_CST);
    apic_send_nmi(mon.apic_base, target->apic_id);
}

/* After the ICR write's instruction was skipped: deliver an emulated INIT. */
static void deliver_init_ipi(struct exit_ctx *x, uint64_t targets)
{
    bool init_self = false;
    for (uint32_t i = 0; i < mon.bi->ncpus; i++) {
        if (!(targets & (1ull << i)))
            continue;
        if (i == x->pc->index)
            init_self = true;
        else
            request_init(&mon.cpus[i]);
    }
    if (init_self)
        enter_init_state(x);
}

/* Whether an ICR write is an INIT IPI the monitor emulates; logs the ones it
 * passes on although they are INITs. */
static bool emulated_init(struct exit_ctx *x, uint32_t low, uint32_t dest, bool x2apic,
                          uint64_t *targets)
{
    if (apic_init_targets(low, dest, x2apic, x->pc->index, mon.apic_ids, mon.bi->ncpus,
                          targets) == 0)
        return true;
    if (ICR_MODE(low) == ICR_MODE_INIT)
        log_warn("cpu %u: INIT IPI in logical destination mode passed on unemulated",
                 x->pc->index);
    return false;
}

/* A SIPI for several CPUs goes out once per target (see apic.h). */
static bool split_sipi(struct exit_ctx *x, uint32_t low, uint32_t dest, bool x2apic)
{
    uint64_t targets;
    if (!apic_sipi_needs_split(low, dest, x2apic) ||
        apic_ipi_targets(low, dest, x2apic, x->pc->index, mon.apic_ids, mon.bi->ncpus,
                         &targets) != 0)
        return false;
    for (uint32_t i = 0; i < mon.bi->ncpus; i++)
        if (targets & (1ull << i))
            apic_send_ipi(mon.apic_base, mon.apic_ids[i], low & ~(3u << 18));
    return true;
}

static void handle_icr_write(struct exit_ctx *x, uint64_t v)
{
    uint64_t targets;
    /* The x2APIC ICR exists in x2APIC mode only (SDM 3A 11.12.1): in xAPIC
     * mode WRMSR 0x830 raises #GP, it must not send emulated INITs/SIPIs. */
    if (!apic_x2apic_mode()) {
        inject_gp(x);
        return;
    }
    if (split_sipi(x, (uint32_t)v, (uint32_t)(v >> 32), true)) {
        skip_instruction();
        return;
    }
    if (!emulated_init(x, (uint32_t)v, (uint32_t)(v >> 32), true, &targets)) {
        if (wrmsr_safe(X2APIC_ICR, v) != 0)
            inject_gp(x);
        else
            skip_instruction();
        return;
    }
    skip_instruction();
    deliver_init_ipi(x, targets);
}

static int read_guest_phys(void *opaque, uint64_t gpa, void *buf, size_t len)
{
    (void)opaque;
    /* Guest RAM is identity-mapped for the monitor; its own pages are not
     * the guest's to fetch from. */
    if (monitor_owns(gpa) || monitor_owns(gpa + len - 1) || gpa + len > mon.bi->phys_limit)
        return -1;
    memcpy(buf, (const void *)(uintptr_t)gpa, len);
    return 0;
}

/* The guest's paging as its VMCS holds it, for gwalk. pdpte: room for the
 * four PDPTEs, which c may point at. */
static void guest_walk_ctx(struct gwalk_ctx *c, uint64_t pdpte[4])
{
    uint64_t efer = vmcs_read(GUEST_IA32_EFER);
    *c = (struct gwalk_ctx){
        .cr0 = vmcs_read(GUEST_CR0), .cr3 = vmcs_read(GUEST_CR3), .cr4 = vmcs_read(GUEST_CR4),
        .efer = efer, .maxphyaddr = (uint8_t)mon.maxphyaddr, .read_phys = read_guest_phys,
        .ac = (vmcs_read(GUEST_RFLAGS) >> 18) & 1,
    };
    /* PAE paging under EPT: the PDPTEs the processor uses are in the VMCS. */
    if ((c->cr0 & GW_CR0_PG) && (c->cr4 & GW_CR4_PAE) && !(efer & EFER_LMA)) {
        for (int i = 0; i < 4; i++)
            pdpte[i] = vmcs_read(GUEST_PDPTR0 + 2 * i);
        c->pdpte = pdpte;
    }
}

/* 64-bit mode: IA-32e mode and CS.L (SDM 3A 5.2.1). */
static bool guest_64bit(void)
{
    return ((vmcs_read(GUEST_CS_AR_BYTES) >> 13) & 1) && (vmcs_read(GUEST_IA32_EFER) & EFER_LMA);
}

/* The guest's code size: 64 in 64-bit mode, else CS.D/B picks 32 or 16. */
static unsigned guest_code_size(void)
{
    return guest_64bit() ? 64 : ((vmcs_read(GUEST_CS_AR_BYTES) >> 14) & 1) ? 32 : 16;
}

/* Fetch and decode the store that wrote the (read-only) xAPIC page. */
static int decode_guest_store(struct x86_store *st)
{
    unsigned mode = guest_code_size();
    struct gwalk_ctx c;
    uint64_t pdpte[4];
    guest_walk_ctx(&c, pdpte);
    uint64_t rip = vmcs_read(GUEST_RIP);
    uint64_t la = mode == 64 ? rip : vmcs_read(GUEST_CS_BASE) + rip;
    uint8_t code[15];
    struct gwalk_fault f;
    size_t avail = 4096 - (la & 0xfff);
    if (avail > sizeof(code))
        avail = sizeof(code);
    if (gwalk_read(&c, la, code, avail, GW_FETCH, guest_cpl(), &f) != 0)
        return -1;
    /* The instruction may continue on the next page. */
    if (avail < sizeof(code) &&
        gwalk_read(&c, la + avail, code + avail, sizeof(code) - avail, GW_FETCH, guest_cpl(), &f) == 0)
        avail = sizeof(code);
    return x86_decode_store(code, avail, mode, st);
}

/* A guest store to the xAPIC page (read-only in the EPT when INITs are
 * emulated): performed on the real APIC, unless it sends an INIT IPI. */
static void emulate_xapic_store(struct exit_ctx *x, uint64_t gpa)
{
    struct x86_store st;
    uint32_t reg = (uint32_t)(gpa & 0xfff);
    if (decode_guest_store(&st) != 0 || st.width != 4 || (reg & 3))
        stop_guest(x, "cannot emulate the guest's store to the local APIC page");
    uint64_t *gpr = (uint64_t *)x->r;
    uint32_t value;
    if (!st.from_reg)
        value = (uint32_t)st.imm;
    else if (st.reg == 4)
        value = (uint32_t)vmcs_read(GUEST_RSP);
    else
        value = (uint32_t)gpr[st.reg];
    uint32_t old = st.is_xchg ? apic_mmio_read(mon.apic_base, reg) : 0;
    uint64_t targets = 0;
    uint32_t dest = apic_mmio_read(mon.apic_base, APIC_REG_ICR_HIGH) >> 24;
    bool init = reg == APIC_REG_ICR_LOW && emulated_init(x, value, dest, false, &targets);
    bool split = !init && reg == APIC_REG_ICR_LOW && split_sipi(x, value, dest, false);
    if (!init && !split)
        apic_mmio_write(mon.apic_base, reg, value);
    if (st.is_xchg) {
        if (st.reg == 4)
            vmcs_write(GUEST_RSP, old);
        else
            gpr[st.reg] = old;      /* a 32-bit register write zero-extends */
    }
    skip_bytes(st.len);
    if (init)
        deliver_init_ipi(x, targets);
}

/* An NMI reached this CPU (in the guest, or in VMX root): an INIT kick, or
 * the guest's own NMI to reinject. */
static void take_nmi(struct exit_ctx *x)
{
    if (__atomic_exchange_n(&x->pc->init_request, false, __ATOMIC_SEQ_CST)) {
        enter_init_state(x);
        return;
    }
    x->pc->nmi_pending = true;
}

static void handle_step_db(struct exit_ctx *x);

static void handle_exception_nmi(struct exit_ctx *x)
{
    uint32_t info = (uint32_t)vmcs_read(VM_EXIT_INTR_INFO);
    if ((info & INTR_INFO_VALID) && (info & INTR_INFO_INTR_TYPE_MASK) == INTR_TYPE_NMI) {
        take_nmi(x);
        return;
    }
    if ((info & INTR_INFO_VALID) && (info & INTR_INFO_VECTOR_MASK) == VECTOR_DB && x->pc->stepping) {
        handle_step_db(x);
        return;
    }
    stop_guest(x, "unexpected exception exit");
}

static void handle_sipi(struct exit_ctx *x)
{
    struct vmcs_field_value f[INIT_SIPI_FIELDS];
    unsigned n = init_sipi_fields((uint8_t)(x->qual & 0xff), f);
    for (unsigned i = 0; i < n; i++)
        vmcs_write(f[i].field, f[i].value);
    /* A CPU starting at the SIPI vector has no event blocking. Bochs 2.7
     * leaves NMIs and SMIs masked after a SIPI VM exit (its wait-for-SIPI
     * masks are lifted only on the non-VMX path): an IRET unmasks NMIs, and
     * the SMI-blocking bit it keeps reporting is cleared at each exit (it can
     * only be set in SMM, where this guest never is: SDM 3C 26.3.1.5). */
    vmcs_write(GUEST_INTERRUPTIBILITY_INFO, 0);
    cpu_unblock_nmi();
    x->pc->smi_block_quirk = true;
    vmcs_write(GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
    x->pc->waiting_for_sipi = false;
}

/* ------------------------------------------------ string I/O (INS/OUTS) */

/* Guest-physical access for string I/O. Monitor pages read as zeros and
 * writes to them are dropped: what the guest would get from the sink page
 * (handle_ept_violation) if the access had run natively. */
static struct log_ratelimit strio_rl = { .burst = 8 };

static int strio_read_phys(void *opaque, uint64_t gpa, void *buf, size_t len)
{
    (void)opaque;
    if (gpa + len > mon.bi->phys_limit)
        return -1;
    if (monitor_owns(gpa) || monitor_owns(gpa + len - 1)) {
        memset(buf, 0, len);
        return 0;
    }
    memcpy(buf, (const void *)(uintptr_t)gpa, len);
    return 0;
}

static int strio_write_phys(void *opaque, uint64_t gpa, const void *buf, size_t len)
{
    struct exit_ctx *x = opaque;
    if (gpa + len > mon.bi->phys_limit)
        return -1;
    /* The xAPIC page is read-only to the guest so that INIT IPIs can be
     * emulated: an INS there would reach the ICR behind the monitor's back.
     * Only MOV/XCHG stores to it are emulated; like any other form, this one
     * stops the guest. */
    if (mon.trap_xapic && (gpa & ~0xfffull) <= mon.apic_base &&
        ((gpa + len - 1) & ~0xfffull) >= mon.apic_base)
        return -1;
    if (monitor_owns(gpa) || monitor_owns(gpa + len - 1)) {
        uint32_t suppressed;
        if (log_ratelimit_pass(&strio_rl, &suppressed))
            log_warn("cpu %u: guest INS into monitor memory at gpa 0x%lx denied",
                     x->pc->index, gpa);
        return 0;
    }
    memcpy((void *)(uintptr_t)gpa, buf, len);
    return 0;
}

static void strio_port(void *opaque, uint16_t port, unsigned size, bool in, uint32_t *value)
{
    struct exit_ctx *x = opaque;
    io_access(x->pc, port, size, in, value);
}

/* Address size and segment of the INS/OUTS that exited: from the VM-exit
 * instruction-information field where the CPU reports it (IA32_VMX_BASIC
 * bit 54, SDM 3C A.1; Bochs 2.7 sets it), else decoded from the bytes. */
static int strio_insn(struct ios_state *s, unsigned mode)
{
    if (mon.caps.basic & VMX_BASIC_INOUT) {
        /* SDM 3C 28.2.5, table 28-8: bits 9:7 address size (0 16, 1 32, 2 64),
           bits 17:15 segment (undefined for INS, which always uses ES). */
        uint32_t info = (uint32_t)vmcs_read(VMX_INSTRUCTION_INFO);
        unsigned as = (info >> 7) & 7, seg = (info >> 15) & 7;
        if (as > 2 || seg >= IOS_NSEG)
            return -1;
        s->addr_size = (uint8_t)(16u << as);
        s->seg = (uint8_t)seg;
        return 0;
    }
    uint64_t rip = vmcs_read(GUEST_RIP);
    uint64_t la = mode == 64 ? rip : (vmcs_read(GUEST_CS_BASE) + rip) & 0xffffffffull;
    uint8_t code[15];
    struct gwalk_fault f;
    size_t len = vmcs_read(VM_EXIT_INSTRUCTION_LEN);
    if (len == 0 || len > sizeof(code) ||
        gwalk_read(&s->walk, la, code, len, GW_FETCH, s->cpl, &f) != 0)
        return -1;
    struct ios_decoded d;
    if (ios_decode(code, len, mode, &d) != 0 || d.len != len)
        return -1;
    s->addr_size = d.addr_size;
    s->seg = d.seg;
    return 0;
}

/* Elements per exit: a 512-byte sector as words fits in one; longer strings
 * re-execute with RIP on the instruction, so interrupts get a window. */
#define STRIO_MAX_ELEMS 256
#define RFLAGS_DF (1ull << 10)
#define RFLAGS_RF (1ull << 16)
#define RFLAGS_VM (1ull << 17)

static void handle_string_io(struct exit_ctx *x, unsigned size, bool in, bool rep, uint16_t port)
{
    struct ios_state s;
    memset(&s, 0, sizeof(s));
    uint64_t rflags = vmcs_read(GUEST_RFLAGS);
    unsigned mode = guest_code_size();
    s.long64 = mode == 64;
    s.in = in;
    s.rep = rep;
    s.op_size = (uint8_t)size;
    s.port = port;
    uint64_t pdpte[4];
    guest_walk_ctx(&s.walk, pdpte);
    s.walk.read_phys = strio_read_phys;
    s.pe = s.walk.cr0 & CR0_PE;
    s.v86 = rflags & RFLAGS_VM;
    s.df = rflags & RFLAGS_DF;
    s.cpl = guest_cpl();
    for (unsigned i = 0; i < IOS_NSEG; i++) {
        s.segs[i].base = vmcs_read(GUEST_ES_BASE + 2 * i);
        s.segs[i].limit = (uint32_t)vmcs_read(GUEST_ES_LIMIT + 2 * i);
        s.segs[i].ar = (uint32_t)vmcs_read(GUEST_ES_AR_BYTES + 2 * i);
    }
    s.rcx = x->r->rcx;
    s.rsi = x->r->rsi;
    s.rdi = x->r->rdi;
    s.write_phys = strio_write_phys;
    s.port_io = strio_port;
    s.opaque = x;
    s.max_elems = STRIO_MAX_ELEMS;
    if (strio_insn(&s, mode) != 0)
        stop_guest(x, "cannot decode the guest's string I/O instruction");

    struct ios_fault f;
    enum ios_result res = ios_emulate(&s, &f);
    x->r->rcx = s.rcx;
    x->r->rsi = s.rsi;
    x->r->rdi = s.rdi;
    switch (res) {
    case IOS_DONE:
        /* RF is cleared when an instruction completes (SDM 3A 18.3.1.1). */
        if (rflags & RFLAGS_RF)
            vmcs_write(GUEST_RFLAGS, rflags & ~RFLAGS_RF);
        skip_instruction();
        break;
    case IOS_AGAIN:
        /* As for a REP interrupted between iterations: RF keeps an instruction
         * breakpoint on it from firing again (SDM 3A 18.3.1.1). */
        vmcs_write(GUEST_RFLAGS, rflags | RFLAGS_RF);
        break;
    case IOS_FAULT:
        /* Fault-class exceptions push RF = 1 (SDM 3A 18.3.1.1); VM entry
         * delivers with the guest RFLAGS, so set it there. */
        vmcs_write(GUEST_RFLAGS, rflags | RFLAGS_RF);
        if (f.vector == GW_PF_VECTOR)
            write_cr2(f.cr2);
        inject_exception(x, f.vector, true, f.error_code);
        break;
    default:
        stop_guest(x, "string I/O to guest memory that is not RAM");
    }
}

/* SDM 3C 28.2.1 table 28-5: exit qualification for I/O instructions. */
static void handle_io(struct exit_ctx *x)
{
    unsigned size = (unsigned)(x->qual & 7) + 1;
    bool in = x->qual & (1u << 3), string = x->qual & (1u << 4);
    uint16_t port = (uint16_t)(x->qual >> 16);
    if (size != 1 && size != 2 && size != 4)
        stop_guest(x, "I/O exit with an invalid access size");
    if (string) {
        handle_string_io(x, size, in, x->qual & (1u << 5), port);
        return;
    }
    static const uint64_t mask[5] = { 0, 0xff, 0xffff, 0, 0xffffffff };
    uint32_t value = (uint32_t)(x->r->rax & mask[size]);
    io_access(x->pc, port, size, in, &value);
    if (in) {
        /* IN to EAX zero-extends into RAX; to AL/AX it keeps the rest. */
        x->r->rax = size == 4 ? value : (x->r->rax & ~mask[size]) | value;
    }
    skip_instruction();
}

static void handle_triple_fault(struct exit_ctx *x)
{
    guest_event(LAMINA_EV_TRIPLE_FAULT, LAMINA_ACT_STOPPED, 0, 0, 0);
    stop_guest(x, "triple fault in the guest");
}

/* Guest access to monitor memory: log it, let the one instruction complete
 * against a zeroed sink page, and restore the hole after it (monitor trap flag). */
static struct log_ratelimit ept_rl = { .burst = 16 };
static void begin_step(struct exit_ctx *x);

static void handle_ept_violation(struct exit_ctx *x)
{
    struct percpu *pc = x->pc;
    uint64_t gpa = vmcs_read(GUEST_PHYSICAL_ADDRESS);
    if (mon.trap_xapic && (gpa & ~0xfffull) == mon.apic_base && (x->qual & 2)) {
        emulate_xapic_store(x, gpa);
        return;
    }
    if (!monitor_owns(gpa))
        stop_guest(x, "EPT violation outside monitor memory");
    guest_event(LAMINA_EV_MONITOR_MEM, LAMINA_ACT_DENIED, (uint32_t)(gpa >> 12), gpa, 0);

    uint32_t suppressed;
    if (log_ratelimit_pass(&ept_rl, &suppressed)) {
        const char *what = (x->qual & 2) ? "write" : (x->qual & 4) ? "fetch" : "read";
        log_warn("cpu %u: guest %s of monitor memory at gpa 0x%lx (rip 0x%lx) denied%s",
                 pc->index, what, gpa, vmcs_read(GUEST_RIP),
                 suppressed ? " (more suppressed)" : "");
    }
    if (pc->nredirect == MAX_REDIRECTS)
        stop_guest(x, "too many monitor pages touched by one instruction");
    uint64_t page = gpa & ~0xfffull;
    ept_set_page(mon.ept_root, page, (uint64_t)(uintptr_t)mon.sink_page, EPT_RWX);
    pc->redirect_gpa[pc->nredirect++] = page;
    flush_ept();
    begin_step(x);
}

/* Let exactly one guest instruction run, then exit: the monitor trap flag
 * (SDM 3C 26.5.2), or where the CPU lacks it (Bochs 2.7 does) RFLAGS.TF with
 * #DB exiting: the single-step trap after the instruction exits. Only that
 * trap ends a TF step: if an interrupt or a guest fault comes first, its
 * handler's IRET restores TF from the frame and the trap follows the retried
 * instruction, so ending the step at any other exit would leave a stray TF
 * in the guest's frame. */
static void begin_step(struct exit_ctx *x)
{
    struct percpu *pc = x->pc;
    if (mon.has_mtf) {
        vmcs_write(CPU_BASED_VM_EXEC_CONTROL,
                   vmcs_read(CPU_BASED_VM_EXEC_CONTROL) | CPU_BASED_MONITOR_TRAP_FLAG);
        return;
    }
    if (pc->stepping)
        return;         /* a second monitor page touched by the same instruction */
    uint64_t rflags = vmcs_read(GUEST_RFLAGS);
    pc->guest_tf = rflags & RFLAGS_TF;
    vmcs_write(GUEST_RFLAGS, rflags | RFLAGS_TF);
    vmcs_write(EXCEPTION_BITMAP, vmcs_read(EXCEPTION_BITMAP) | (1u << VECTOR_DB));
    pc->stepping = true;
}

/* The instruction is done: the monitor pages lent to it are holes again. */
static void end_step(struct exit_ctx *x)
{
    struct percpu *pc = x->pc;
    for (uint32_t i = 0; i < pc->nredirect; i++)
        ept_set_page(mon.ept_root, pc->redirect_gpa[i], 0, 0);
    pc->nredirect = 0;
    flush_ept();
    memset(mon.sink_page, 0, 4096);
    if (mon.has_mtf) {
        vmcs_write(CPU_BASED_VM_EXEC_CONTROL,
                   vmcs_read(CPU_BASED_VM_EXEC_CONTROL) & ~(uint64_t)CPU_BASED_MONITOR_TRAP_FLAG);
        return;
    }
    if (!pc->stepping)
        return;
    if (!pc->guest_tf)
        vmcs_write(GUEST_RFLAGS, vmcs_read(GUEST_RFLAGS) & ~RFLAGS_TF);
    vmcs_write(EXCEPTION_BITMAP, vmcs_read(EXCEPTION_BITMAP) & ~(1u << VECTOR_DB));
    pc->stepping = false;
}

static void handle_mtf(struct exit_ctx *x)
{
    end_step(x);
}

/* The single-step #DB of begin_step. If the guest was single-stepping
 * itself, the trap is its own too: it gets it, with DR6.BS as hardware sets. */
static void handle_step_db(struct exit_ctx *x)
{
    bool guest_tf = x->pc->guest_tf;
    end_step(x);
    if (guest_tf) {
        uint64_t dr6;
        __asm__ volatile("mov %%dr6, %0" : "=r"(dr6));
        __asm__ volatile("mov %0, %%dr6" :: "r"(dr6 | DR6_BS));
        inject_exception(x, VECTOR_DB, false, 0);
    }
}

static void handle_ept_misconfig(struct exit_ctx *x)
{
    stop_guest(x, "EPT misconfiguration (a bug in the monitor's EPT)");
}

static const exit_handler handlers[] = {
    [EXIT_REASON_EXCEPTION_NMI] = handle_exception_nmi,
    [EXIT_REASON_TRIPLE_FAULT] = handle_triple_fault,
    [EXIT_REASON_INIT_SIGNAL] = handle_init,
    [EXIT_REASON_SIPI_SIGNAL] = handle_sipi,
    [EXIT_REASON_CPUID] = handle_cpuid,
    [EXIT_REASON_GETSEC] = handle_ud,
    [EXIT_REASON_INVD] = handle_invd,
    [EXIT_REASON_VMCALL] = handle_vmcall,
    [EXIT_REASON_VMCLEAR] = handle_ud,
    [EXIT_REASON_VMLAUNCH] = handle_ud,
    [EXIT_REASON_VMPTRLD] = handle_ud,
    [EXIT_REASON_VMPTRST] = handle_ud,
    [EXIT_REASON_VMREAD] = handle_ud,
    [EXIT_REASON_VMRESUME] = handle_ud,
    [EXIT_REASON_VMWRITE] = handle_ud,
    [EXIT_REASON_VMOFF] = handle_ud,
    [EXIT_REASON_VMON] = handle_ud,
    [EXIT_REASON_CR_ACCESS] = handle_cr_access,
    [EXIT_REASON_IO_INSTRUCTION] = handle_io,
    [EXIT_REASON_MSR_READ] = handle_rdmsr,
    [EXIT_REASON_MSR_WRITE] = handle_wrmsr,
    [EXIT_REASON_MONITOR_TRAP_FLAG] = handle_mtf,
    [EXIT_REASON_EPT_VIOLATION] = handle_ept_violation,
    [EXIT_REASON_EPT_MISCONFIG] = handle_ept_misconfig,
    [EXIT_REASON_INVEPT] = handle_ud,
    [EXIT_REASON_INVVPID] = handle_ud,
    [EXIT_REASON_VMFUNC] = handle_ud,
    [EXIT_REASON_XSETBV] = handle_xsetbv,
};

/* An exit in the middle of delivering an event (IDT-vectoring information,
 * SDM 3C 28.2.4) must deliver it again on the next entry. */
static void requeue_vectoring(struct exit_ctx *x)
{
    uint32_t info = (uint32_t)vmcs_read(IDT_VECTORING_INFO_FIELD);
    if (!(info & INTR_INFO_VALID))
        return;
    vmcs_write(VM_ENTRY_INTR_INFO_FIELD, info & ~(1u << 12));
    if (info & INTR_INFO_DELIVER_ERR)
        vmcs_write(VM_ENTRY_EXCEPTION_ERROR_CODE, vmcs_read(IDT_VECTORING_ERROR_CODE));
    vmcs_write(VM_ENTRY_INSTRUCTION_LEN, vmcs_read(VM_EXIT_INSTRUCTION_LEN));
    x->injected = true;
}

/* An NMI that hit the monitor belongs to the guest (NMIs do not exit). */
static void deliver_pending_nmi(struct exit_ctx *x)
{
    struct percpu *pc = x->pc;
    if (!pc->nmi_pending)
        return;
    /* An INIT kick that arrived while in VMX root. */
    if (!pc->waiting_for_sipi && __atomic_exchange_n(&pc->init_request, false, __ATOMIC_SEQ_CST)) {
        pc->nmi_pending = false;
        enter_init_state(x);
        return;
    }
    if (x->injected)
        return;
    if (vmcs_read(GUEST_INTERRUPTIBILITY_INFO) & INTERRUPTIBILITY_NMI)
        return;     /* still blocked: try again at the next exit */
    if (vmcs_read(GUEST_ACTIVITY_STATE) == ACTIVITY_WAIT_FOR_SIPI) {
        x->pc->nmi_pending = false;   /* NMIs are dropped while waiting for SIPI */
        return;
    }
    vmcs_write(VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | INTR_TYPE_NMI | 2);
    x->pc->nmi_pending = false;
}

void vmx_exit_handler(struct guest_regs *r);
void vmx_exit_handler(struct guest_regs *r)
{
    uint64_t t0 = rdtsc();
    struct exit_ctx x = { .pc = this_cpu(), .r = r };
    uint32_t full = (uint32_t)vmcs_read(VM_EXIT_REASON);
    x.reason = full & 0xffff;
    x.qual = vmcs_read(EXIT_QUALIFICATION);
    if (x.pc->ept_generation != mon.ept_generation) {
        /* Another CPU changed the EPT (MTRR write): drop stale translations. */
        x.pc->ept_generation = mon.ept_generation;
        flush_ept();
    }
    unsigned slot = x.reason < EXIT_REASON_SLOTS ? x.reason : EXIT_REASON_SLOTS - 1;
    x.pc->exits[slot]++;
    /* M8 hook: blocked DMAs into the event log, before a hypercall reads it. */
    iommu_exit(x.pc->index, x.reason == EXIT_REASON_VMCALL);

    if (x.pc->trace_budget) {
        x.pc->trace_budget--;
        log_debug("cpu %u: exit %u qual 0x%lx rip %lx:%lx", x.pc->index, x.reason, x.qual,
                  vmcs_read(GUEST_CS_SELECTOR), vmcs_read(GUEST_RIP));
    }
    if (full & (1u << 31))
        stop_guest(&x, "VM entry failed on guest state or MSR loading");
    if (x.pc->smi_block_quirk) {
        uint64_t intr = vmcs_read(GUEST_INTERRUPTIBILITY_INFO);
        if (intr & INTERRUPTIBILITY_SMI)
            vmcs_write(GUEST_INTERRUPTIBILITY_INFO, intr & ~(uint64_t)INTERRUPTIBILITY_SMI);
    }
    requeue_vectoring(&x);
    exit_handler h = x.reason < sizeof(handlers) / sizeof(handlers[0]) ? handlers[x.reason] : NULL;
    if (!h) {
        char why[64];
        sniprintf(why, sizeof(why), "unexpected VM exit, reason %u", x.reason);
        stop_guest(&x, why);
    }
    h(&x);
    deliver_pending_nmi(&x);
    x.pc->ticks[slot] += rdtsc() - t0;
}

void vmx_insn_failed(const char *insn, uint64_t operand, enum vmx_result r)
{
    struct percpu *pc = this_cpu();
    uint32_t err = r == VMX_FAIL_VALID ? vmx_instruction_error() : 0;
    pc->stopped = true;
    log_error("cpu %u: %s 0x%lx failed: %s, VM-instruction error %u (%s); guest stopped",
              pc->index, insn, operand, r == VMX_FAIL_VALID ? "VMfailValid" : "VMfailInvalid",
              err, r == VMX_FAIL_VALID ? vmx_error_name(err) : "no current VMCS");
    halt_forever();
}

void vmx_resume_failed(int invalid) __attribute__((noreturn));
void vmx_resume_failed(int invalid)
{
    struct percpu *pc = this_cpu();
    uint32_t err = invalid ? 0 : vmx_instruction_error();
    pc->stopped = true;
    log_error("cpu %u: VMRESUME failed: %s, VM-instruction error %u (%s); guest stopped",
              pc->index, invalid ? "VMfailInvalid" : "VMfailValid", err,
              invalid ? "no current VMCS" : vmx_error_name(err));
    halt_forever();
}
