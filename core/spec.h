/* Transient execution: what the monitor does about speculative attacks by the
 * guest on monitor data, decided once from CPUID and IA32_ARCH_CAPABILITIES
 * (the CPU's own statement of which flaws it has), applied by the backend on
 * every exit and entry. Pure decisions here; unit-tested
 * (tests/unit/test_sidedoor.c).
 *
 *   - RSB fill after every exit (always): the guest's return-stack entries
 *     must not steer the monitor's first RETs (Spectre v2 / RSB underflow).
 *   - IA32_SPEC_CTRL: the monitor's own value loaded at exit (IBRS where the
 *     CPU has it, so guest-trained indirect branch predictions do not apply
 *     in VMX root), the guest's restored at entry.
 *   - L1D flush (IA32_FLUSH_CMD) at entry where the CPU is open to L1TF and
 *     does not say a VMM may skip it (ARCH_CAPABILITIES RDCL_NO,
 *     SKIP_L1DFL_VMENTRY).
 *   - VERW at entry where MDS or MMIO stale data applies and the L1D flush
 *     (which also clears the buffers on such CPUs) is not done. */
#ifndef LAMINA_SPEC_H
#define LAMINA_SPEC_H

#include <stdbool.h>
#include <stdint.h>

#define MSR_IA32_SPEC_CTRL         0x048
#define MSR_IA32_ARCH_CAPABILITIES 0x10a
#define MSR_IA32_FLUSH_CMD         0x10b

/* CPUID.(EAX=7,ECX=0):EDX (SDM 2 CPUID; Intel, "Speculative Execution Side
 * Channel Mitigations"). */
#define CPUID_7_EDX_MD_CLEAR    (1u << 10)
#define CPUID_7_EDX_SPEC_CTRL   (1u << 26)      /* IBRS and IBPB */
#define CPUID_7_EDX_STIBP       (1u << 27)
#define CPUID_7_EDX_L1D_FLUSH   (1u << 28)
#define CPUID_7_EDX_ARCH_CAP    (1u << 29)
#define CPUID_7_EDX_SSBD        (1u << 31)

/* IA32_ARCH_CAPABILITIES (SDM 4, MSR 10AH). */
#define ARCH_CAP_RDCL_NO            (1ull << 0)
#define ARCH_CAP_IBRS_ALL           (1ull << 1)
#define ARCH_CAP_SKIP_L1DFL_VMENTRY (1ull << 3)
#define ARCH_CAP_MDS_NO             (1ull << 5)
#define ARCH_CAP_TAA_NO             (1ull << 8)
#define ARCH_CAP_SBDR_SSDP_NO       (1ull << 13)
#define ARCH_CAP_FBSDP_NO           (1ull << 14)
#define ARCH_CAP_PSDP_NO            (1ull << 15)
#define ARCH_CAP_FB_CLEAR           (1ull << 17)

#define SPEC_CTRL_IBRS  (1ull << 0)
#define FLUSH_CMD_L1D   (1ull << 0)

struct spec_cpu {
    uint32_t cpuid7_edx;
    uint64_t arch_cap;          /* 0 where CPUID_7_EDX_ARCH_CAP is clear */
};

struct spec_plan {
    bool spec_ctrl;             /* IA32_SPEC_CTRL exists: switched at exit and entry */
    uint64_t host_spec_ctrl;    /* the monitor's value */
    bool l1d_flush;             /* IA32_FLUSH_CMD.L1D_FLUSH at every entry */
    bool l1tf_open;             /* open to L1TF with no flush command: said, not fixed */
    bool verw;                  /* VERW right before every entry */
    bool mds, mmio_stale;       /* why VERW (or the L1D flush) is needed */
};

void spec_decide(const struct spec_cpu *c, struct spec_plan *p);

#endif
