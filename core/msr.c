/* RDMSR and WRMSR: what each trapped MSR access means. An access exits when
 * the policy has a rule on the MSR, or when the MSR is one the monitor keeps
 * for itself (msr_intercepts_init). Guest values the control structure holds
 * (core/guest_msr.h) are read and written there, with the processor's own
 * checks; the policy's log, deny and lock actions are applied here. */
#include "core/arch.h"
#include "core/guest_msr.h"
#include "core/log.h"
#include "core/monitor.h"
#include "core/spinlock.h"
#include "core/vcpu.h"
#include "ept/mtrr.h"

#define APIC_BASE_ADDR_MASK 0x000ffffffffff000ul

/* The MSRs whose writes (and, for IA32_TSC_ADJUST and the MTRRs, reads) exit
 * whatever the
 * policy says: the x2APIC ICR under init-emulation (core/ipi.c), the
 * microcode trigger (refused), IA32_APIC_BASE (the APIC page may not move),
 * the TSC pair (core/tsc.h), IA32_RTIT_CTL (Intel PT is hidden), IA32_XSS
 * (XRSTORS of hidden state components, core/cpuid.h), IA32_DS_AREA and
 * IA32_PEBS_ENABLE (the debug store is hidden), IA32_MISC_ENABLE (XD disable
 * is shared with VMX root) and the MTRRs (the
 * guest-physical map follows them). Then the policy's MSRs, in the
 * directions its rules name. */
void msr_intercepts_init(void)
{
    static const uint32_t write_trapped[] = { MSR_IA32_BIOS_UPDT_TRIG, MSR_IA32_APIC_BASE,
                                              MSR_IA32_TSC, MSR_IA32_RTIT_CTL,
                                              MSR_IA32_XSS, MSR_IA32_DS_AREA,
                                              MSR_IA32_PEBS_ENABLE, MSR_IA32_MISC_ENABLE };
    for (unsigned i = 0; i < sizeof(write_trapped) / sizeof(write_trapped[0]); i++)
        be_intercept_msr(write_trapped[i], POLICY_WRITE, true);
    if (mon.init_emulation)
        be_intercept_msr(MSR_X2APIC_ICR, POLICY_WRITE, true);
    /* The TSC offset covers RDMSR of the TSC; IA32_TSC_ADJUST is the guest's own. */
    be_intercept_msr(MSR_IA32_TSC_ADJUST, POLICY_READ | POLICY_WRITE, true);
    mtrr_virt_init();
    for (uint32_t m = 0; m < 0x300; m++)
        if (mtrr_is_msr(m))
            be_intercept_msr(m, POLICY_READ | POLICY_WRITE, true);
    const struct lamina_policy *p = &mon.bi->policy;
    for (uint32_t i = 0; i < p->nrules && i < POLICY_MAX_RULES; i++) {
        const struct policy_rule *rule = &p->rule[i];
        if (rule->space != POLICY_MSR)
            continue;
        for (uint64_t m = rule->first; m <= rule->last; m++)
            if (policy_msr_coverable((uint32_t)m))     /* refused at load; never a stray bit */
                be_intercept_msr((uint32_t)m, rule->dir, true);
    }
}

static void mtrr_written(uint32_t cpu, uint32_t msr, uint64_t value);

/* M6: the guest's TSC moved (offset old -> pc->tsc.offset). From the first
 * non-zero offset on, IA32_TSC_DEADLINE is trapped (the bitmap is shared: on
 * every CPU, translated by each one's own offset, zero included), and a
 * deadline already armed here is moved so it still fires at the same guest
 * TSC, as it would when the TSC itself is written (SDM 3A 11.5.4.1). */
static void tsc_offset_changed(struct percpu *pc, uint64_t old)
{
    if (pc->tsc.offset)     /* setting a bit already set: harmless on any CPU */
        be_intercept_msr(MSR_IA32_TSC_DEADLINE, POLICY_READ | POLICY_WRITE, true);
    uint64_t host;
    if (rdmsr_safe(MSR_IA32_TSC_DEADLINE, &host) == 0 && host != 0)
        wrmsr_safe(MSR_IA32_TSC_DEADLINE,
                   tsc_deadline_to_host(tsc_deadline_to_guest(host, old), pc->tsc.offset));
}

/* RDMSR as the guest would see it natively; -1 where that raises #GP. */
static int guest_rdmsr(struct vcpu *v, uint32_t msr, uint64_t *val)
{
    uint64_t *slot = be_guest_msr_slot(v, msr);
    if (slot) {                         /* switched at exit: the guest's value is here */
        *val = *slot;
        return 0;
    }
    enum guest_msr kind = guest_msr_kind(msr);
    if (kind != GMSR_NONE && be_msr_held(kind)) {
        *val = be_msr_field_read(v, kind);
        return 0;
    }
    if (msr == MSR_IA32_TSC) {          /* trapped only under a policy rule */
        *val = rdtsc() + v->pc->tsc.offset;
        return 0;
    }
    if (msr == MSR_IA32_TSC_ADJUST) {
        *val = v->pc->tsc.adjust;
        return mon.tsc_adjust ? 0 : -1;
    }
    if (msr == MSR_IA32_TSC_DEADLINE) {
        uint64_t host;
        if (rdmsr_safe(msr, &host) != 0)
            return -1;
        *val = tsc_deadline_to_guest(host, v->pc->tsc.offset);
        return 0;
    }
    if (mtrr_is_msr(msr)) {
        if (!(mon.mtrr_present & (1ull << mtrr_slot(msr))))
            return -1;
        *val = mon.mtrr_virt[mtrr_slot(msr)];
        return 0;
    }
    switch (be_own_msr_read(msr, val)) {
    case BE_MSR_DONE:
        return 0;
    case BE_MSR_GP:
        return -1;
    default:
        return rdmsr_safe(msr, val);
    }
}

void vcpu_rdmsr(struct vcpu *v)
{
    struct guest_regs *r = v->r;
    uint32_t msr = (uint32_t)r->rcx;
    const struct policy_rule *rule = policy_lookup(&mon.bi->policy, POLICY_MSR, msr, POLICY_READ);
    uint64_t val;
    if (rule && rule->action == POLICY_DENY) {
        vcpu_event(v, LAMINA_EV_MSR_READ, LAMINA_ACT_DENIED, msr, 0, 8);
        vcpu_inject_gp(v);
        return;
    }
    if (guest_rdmsr(v, msr, &val) != 0) {
        vcpu_inject_gp(v);
        return;
    }
    if (rule)
        vcpu_event(v, LAMINA_EV_MSR_READ, LAMINA_ACT_LOGGED, msr, val, 8);
    r->rax = (uint32_t)val;
    r->rdx = val >> 32;
    be_skip_instruction(v);
}

/* WRMSR of an MSR the control structure holds: checked as the processor would. */
static int write_field_msr(struct vcpu *v, enum guest_msr kind, uint64_t val)
{
    const struct guest_msr_env env = {
        .la57 = mon.la57, .nx = mon.nx,
        .paging = guest_get(v, GV_CR0) & CR0_PG, .efer = guest_get(v, GV_EFER),
    };
    uint64_t store;
    if (guest_msr_write_value(kind, val, &env, &store) != 0)
        return -1;
    return be_msr_field_write(v, kind, store);
}

/* WRMSR as the guest would see it natively (minus microcode loads); -1 where
 * that raises #GP. The x2APIC ICR is not handled here. */
static int guest_wrmsr(struct vcpu *v, uint32_t msr, uint64_t val)
{
    struct percpu *pc = v->pc;
    uint64_t *slot = be_guest_msr_slot(v, msr);
    if (slot) {
        /* The processor checks the value; the monitor's own goes back at
         * once, the guest's is loaded at entry. */
        int gp = wrmsr_safe(msr, val);
        (void)wrmsr_safe(msr, be_host_msr_value(v, msr));   /* loaded at exit: cannot fault */
        if (gp != 0)
            return -1;
        *slot = val;
        return 0;
    }
    enum guest_msr kind = guest_msr_kind(msr);
    if (kind != GMSR_NONE && be_msr_held(kind))
        return write_field_msr(v, kind, val);
    if (msr == MSR_IA32_TSC || msr == MSR_IA32_TSC_ADJUST) {
        if (msr == MSR_IA32_TSC_ADJUST && !mon.tsc_adjust)
            return -1;
        uint64_t old = pc->tsc.offset;
        if (msr == MSR_IA32_TSC)
            tsc_virt_write_tsc(&pc->tsc, val, rdtsc());
        else
            tsc_virt_write_adjust(&pc->tsc, val);
        be_set_tsc_offset(v, pc->tsc.offset);
        if (pc->tsc.offset != old)
            tsc_offset_changed(pc, old);
        return 0;
    }
    if (msr == MSR_IA32_TSC_DEADLINE)   /* the guest's value: fault-safe */
        return wrmsr_safe(msr, tsc_deadline_to_host(val, pc->tsc.offset)) == 0 ? 0 : -1;
    if (msr == MSR_IA32_BIOS_UPDT_TRIG) {
        /* No microcode loads under the monitor: the write is dropped, the
         * revision in IA32_BIOS_SIGN_ID stays as it was, and a loader that
         * checks it (Linux does) reports a failed update and moves on. */
        static struct log_ratelimit rl = { .burst = 4 };
        uint32_t suppressed;
        if (log_ratelimit_pass(&rl, &suppressed))
            log_warn("cpu %u: microcode update refused (WRMSR IA32_BIOS_UPDT_TRIG)", pc->index);
        return 0;
    }
    if (msr == MSR_IA32_DS_AREA || msr == MSR_IA32_PEBS_ENABLE) {
        /* The debug store is hidden (core/cpuid.c): its buffers would take
         * BTS and PEBS records written by the processor itself. */
        static struct log_ratelimit rl = { .burst = 4 };
        uint32_t suppressed;
        if (log_ratelimit_pass(&rl, &suppressed))
            log_warn("cpu %u: WRMSR 0x%x = 0x%lx refused: no debug store (BTS/PEBS) under "
                     "the monitor", pc->index, msr, val);
        return -1;
    }
    if (msr == MSR_IA32_MISC_ENABLE) {
        /* Shared with VMX root: XD disable would make the NX bit of the
         * monitor's page tables reserved (SDM 3A 5.1.3); the rest passes. */
        uint64_t cur;
        if (rdmsr_safe(msr, &cur) != 0 || ((cur ^ val) & MISC_ENABLE_XD_DISABLE)) {
            static struct log_ratelimit rl = { .burst = 4 };
            uint32_t suppressed;
            if (log_ratelimit_pass(&rl, &suppressed))
                log_warn("cpu %u: IA32_MISC_ENABLE = 0x%lx refused (XD disable changed)",
                         pc->index, val);
            return -1;
        }
        return wrmsr_safe(msr, val) != 0 ? -1 : 0;
    }
    if (msr == MSR_IA32_XSS && (val & ~mon.xss_guest)) {
        /* SDM 4 (IA32_XSS) and SDM 3A 13.11: a bit CPUID.(0DH,1) does not
         * list is reserved, and WRMSR of it is #GP, as on a CPU without the
         * component. Intel PT's (bit 8) is never listed to the guest. */
        static struct log_ratelimit rl = { .burst = 4 };
        uint32_t suppressed;
        if (log_ratelimit_pass(&rl, &suppressed))
            log_warn("cpu %u: IA32_XSS = 0x%lx refused (guest may set 0x%lx)", pc->index, val,
                     mon.xss_guest);
        return -1;
    }
    if (mtrr_is_msr(msr)) {
        /* Virtualized: the processor's MTRRs stay the firmware's, so the
         * monitor's memory keeps its type (a guest could otherwise make it
         * UC, or WC and weakly ordered under the monitor's locks); the
         * guest's shape only the EPT memory types, which are what apply to
         * its accesses (SDM 3C 29.3.7.2). Checked as WRMSR would. */
        if (!(mon.mtrr_present & (1ull << mtrr_slot(msr))) ||
            !mtrr_value_valid(msr, val, rdmsr(MSR_IA32_MTRRCAP), mon.maxphyaddr))
            return -1;
        mtrr_written(pc->index, msr, val);
        return 0;
    }
    if (msr == MSR_IA32_APIC_BASE && ((val ^ rdmsr(MSR_IA32_APIC_BASE)) & APIC_BASE_ADDR_MASK)) {
        /* A moved xAPIC page decodes before memory for this CPU's own
         * accesses, VMX root included (SDM 3A 11.4.5): over monitor memory
         * it would stand in for the monitor's data; elsewhere the monitor's
         * IPIs (mon.apic_base) would miss it. Mode bits (EN, EXTD) may change. */
        static struct log_ratelimit rl = { .burst = 4 };
        uint32_t suppressed;
        if (log_ratelimit_pass(&rl, &suppressed))
            log_warn("cpu %u: guest moving the local APIC to 0x%lx refused", pc->index,
                     val & APIC_BASE_ADDR_MASK);
        return -1;
    }
    switch (be_own_msr_write(msr, val)) {
    case BE_MSR_DONE:
        return 0;
    case BE_MSR_GP:
        return -1;
    default:
        break;
    }
    /* Intel PT is hidden (core/cpuid.c), as on a CPU without it. */
    if (msr == MSR_IA32_RTIT_CTL || wrmsr_safe(msr, val) != 0)
        return -1;
    return 0;
}

/* The policy's say on a WRMSR: 0 to go ahead, -1 refused (#GP, recorded).
 * slot: the MSR's place in lock_msr under a lock rule, else -1. */
static int wrmsr_policy_check(struct vcpu *v, const struct policy_rule *rule, int slot,
                              uint32_t msr, uint64_t val)
{
    if (!rule || rule->action == POLICY_LOG)
        return 0;
    if (rule->action == POLICY_LOCK) {
        struct percpu *pc = v->pc;
        if (slot < 0 || !(pc->lock_written & (1u << slot)) || pc->lock_value[slot] == val)
            return 0;
        vcpu_event(v, LAMINA_EV_MSR_WRITE, LAMINA_ACT_LOCKED, msr, val, 8);
        return -1;
    }
    vcpu_event(v, LAMINA_EV_MSR_WRITE, LAMINA_ACT_DENIED, msr, val, 8);
    return -1;
}

void vcpu_wrmsr(struct vcpu *v)
{
    struct guest_regs *r = v->r;
    uint32_t msr = (uint32_t)r->rcx;
    uint64_t val = (r->rdx << 32) | (uint32_t)r->rax;
    const struct policy_rule *rule = policy_lookup(&mon.bi->policy, POLICY_MSR, msr, POLICY_WRITE);
    int slot = rule && rule->action == POLICY_LOCK ? policy_lock_slot(&mon.bi->policy, msr) : -1;
    if (wrmsr_policy_check(v, rule, slot, msr, val) != 0) {
        vcpu_inject_gp(v);
        return;
    }
    /* A ruled write is recorded whether or not the processor takes it. */
    if (msr == MSR_X2APIC_ICR && mon.init_emulation) {
        if (rule)
            vcpu_event(v, LAMINA_EV_MSR_WRITE, LAMINA_ACT_LOGGED, msr, val, 8);
        ipi_icr_msr_write(v, val);
        return;
    }
    int gp = guest_wrmsr(v, msr, val);
    if (rule)
        vcpu_event(v, LAMINA_EV_MSR_WRITE, LAMINA_ACT_LOGGED, msr, val, 8);
    if (gp) {
        vcpu_inject_gp(v);
        return;
    }
    /* The first write that took effect sets the value this CPU keeps. */
    if (slot >= 0 && !(v->pc->lock_written & (1u << slot))) {
        v->pc->lock_value[slot] = val;
        v->pc->lock_written |= 1u << slot;
    }
    be_skip_instruction(v);
}

/* ------------------------------------------------------------------ MTRRs */
static struct log_ratelimit mtrr_rl = { .burst = 24 };

/* The guest's MTRRs: one set for all CPUs (an OS keeps them equal, SDM 3A
 * 12.11.8, and one guest-physical map serves every CPU), the firmware's
 * values at hand-off. IA32_MTRRCAP is the processor's. */
static uint64_t mtrr_virt_rdmsr(uint32_t msr)
{
    return msr == MSR_IA32_MTRRCAP ? rdmsr(msr) : mon.mtrr_virt[mtrr_slot(msr)];
}

void mtrr_virt_init(void)
{
    mon.mtrr_present = 0;
    for (uint32_t m = 0; m < 0x300; m++) {
        uint64_t val;
        if (mtrr_is_msr(m) && rdmsr_safe(m, &val) == 0) {
            mon.mtrr_virt[mtrr_slot(m)] = val;
            mon.mtrr_present |= 1ull << mtrr_slot(m);
        }
    }
}

/* Called after the guest's WRMSR of an MTRR: the guest's set changed, and
 * the backend retypes the guest-physical map (with EPT the MTRRs do not apply
 * to guest accesses, the map's memory types do: SDM 3C 29.3.7). */
static void mtrr_written(uint32_t cpu, uint32_t msr, uint64_t value)
{
    struct be_retype_stats st;
    spin_lock(&mon.map_lock);
    mon.mtrr_virt[mtrr_slot(msr)] = value;
    mtrr_read(&mon.mtrr, mtrr_virt_rdmsr, mon.maxphyaddr);
    be_memory_types_changed(&st);
    spin_unlock(&mon.map_lock);
    uint32_t suppressed;
    if (log_ratelimit_pass(&mtrr_rl, &suppressed))
        log_info("mtrr: cpu %u wrote msr 0x%x = 0x%lx: %s types %lu changed, %lu split, "
                 "%lu made UC%s", cpu, msr, value, be_map_name, st.changed, st.split,
                 st.fallback_uc, suppressed ? " (earlier messages suppressed)" : "");
}
