/* The VM-exit MSR-store, VM-exit MSR-load and VM-entry MSR-load lists (SDM 3C
 * 25.7.2, 25.8.2; formats 25.7.2 table "Format of an MSR Entry"): MSRs the
 * guest and the monitor hold different values of, switched by the processor
 * at every exit and entry, where the VMCS has no field for them.
 *
 * One area per CPU: the guest list at the start, the host list half-way.
 * The first n_store guest entries are stored at exit and loaded at entry (the
 * guest's values, which it may change without an exit); the entries after
 * them are loaded at entry only (commands such as IA32_FLUSH_CMD). The host
 * list is loaded at exit. */
#include "core/arch.h"
#include "core/monitor.h"
#include "core/spec.h"
#include "vmx/vmx.h"

uint8_t vmx_verw_on_entry;

static void add(struct vmx_msr_entry *e, unsigned *n, uint32_t msr, uint64_t value)
{
    e[*n] = (struct vmx_msr_entry){ .index = msr, .value = value };
    (*n)++;
}

void vmx_msr_lists_build(struct vmx_cpu *vc, uint8_t *area, const struct vmx_msr_plan *p)
{
    struct vmx_msr_entry *g = (struct vmx_msr_entry *)(void *)area;
    struct vmx_msr_entry *h = (struct vmx_msr_entry *)(void *)(area + VMX_MSR_AREA_HOST);
    unsigned ng = 0, nh = 0;
    if (p->spec->spec_ctrl) {
        add(g, &ng, MSR_IA32_SPEC_CTRL, p->guest_spec_ctrl);
        add(h, &nh, MSR_IA32_SPEC_CTRL, p->spec->host_spec_ctrl);
    }
    /* Performance monitoring: every counter stopped from exit to entry, so
     * no overflow in VMX root writes a PEBS record or raises a PMI there
     * (SDM 3B 20.2.2 IA32_PERF_GLOBAL_CTRL); the guest's own enables come
     * back at entry. */
    if (p->perf_global_ctrl) {
        add(g, &ng, MSR_IA32_PERF_GLOBAL_CTRL, p->guest_perf_global_ctrl);
        add(h, &nh, MSR_IA32_PERF_GLOBAL_CTRL, 0);
    }
    vc->msr_store = (uint8_t)ng;
    /* Last in the entry list: the flush comes after every other load. */
    if (p->spec->l1d_flush)
        add(g, &ng, MSR_IA32_FLUSH_CMD, FLUSH_CMD_L1D);
    vc->msr_guest = g;
    vc->msr_host = h;
    vc->msr_entry_load = (uint8_t)ng;
    vc->msr_exit_load = (uint8_t)nh;
}

uint64_t *be_guest_msr_slot(struct vcpu *v, uint32_t msr)
{
    struct vmx_cpu *vc = vmx_cpu(v->pc);
    for (unsigned i = 0; i < vc->msr_store; i++)
        if (vc->msr_guest[i].index == msr)
            return &vc->msr_guest[i].value;
    return 0;
}

uint64_t be_host_msr_value(struct vcpu *v, uint32_t msr)
{
    struct vmx_cpu *vc = vmx_cpu(v->pc);
    for (unsigned i = 0; i < vc->msr_exit_load; i++)
        if (vc->msr_host[i].index == msr)
            return vc->msr_host[i].value;
    return 0;
}
