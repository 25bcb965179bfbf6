/* Transient-execution decisions: see core/spec.h. */
#include "core/spec.h"

void spec_decide(const struct spec_cpu *c, struct spec_plan *p)
{
    uint64_t ac = (c->cpuid7_edx & CPUID_7_EDX_ARCH_CAP) ? c->arch_cap : 0;
    *p = (struct spec_plan){ 0 };

    /* IBRS in VMX root: predictions the guest trained do not steer the
     * monitor's indirect branches (Intel, "Indirect Branch Restricted
     * Speculation"); with enhanced IBRS (IBRS_ALL) it is set once and stays. */
    if (c->cpuid7_edx & CPUID_7_EDX_SPEC_CTRL) {
        p->spec_ctrl = true;
        p->host_spec_ctrl = SPEC_CTRL_IBRS;
    }

    /* L1TF: a CPU without RDCL_NO lets a guest's non-present PTE read the
     * L1D speculatively, monitor lines included; flush it at entry unless the
     * CPU says a VMM need not (SKIP_L1DFL_VMENTRY: nested under a VMM that
     * flushes). Intel, "L1 Terminal Fault", "Deep Dive: L1TF". */
    bool l1tf = !(ac & ARCH_CAP_RDCL_NO) && !(ac & ARCH_CAP_SKIP_L1DFL_VMENTRY);
    if (l1tf && (c->cpuid7_edx & CPUID_7_EDX_L1D_FLUSH))
        p->l1d_flush = true;
    else if (l1tf)
        p->l1tf_open = true;

    /* MDS: fill/store/load buffers keep monitor data across the entry unless
     * MDS_NO; MMIO stale data unless the CPU says it has none of the three
     * paths (SBDR_SSDP_NO, FBSDP_NO, PSDP_NO). VERW clears the buffers where
     * MD_CLEAR or FB_CLEAR says it does. The L1D flush clears them too on
     * CPUs with MD_CLEAR, so VERW is then redundant. */
    p->mds = !(ac & ARCH_CAP_MDS_NO);
    p->mmio_stale = !((ac & ARCH_CAP_SBDR_SSDP_NO) && (ac & ARCH_CAP_FBSDP_NO) &&
                      (ac & ARCH_CAP_PSDP_NO));
    bool verw_clears = (c->cpuid7_edx & CPUID_7_EDX_MD_CLEAR) || (ac & ARCH_CAP_FB_CLEAR);
    if ((p->mds || p->mmio_stale) && verw_clears && !p->l1d_flush)
        p->verw = true;
}
