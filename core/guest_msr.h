/* MSRs whose guest value lives in the VMCS guest-state area, not in the
 * processor: SYSENTER_CS/ESP/EIP, FS_BASE, GS_BASE (always), IA32_DEBUGCTL,
 * IA32_PAT and IA32_EFER (Lamina loads and saves them on every entry and exit,
 * SDM 3C 25.7.1, 25.8.1). While the guest runs they are in the processor, but
 * once an RDMSR or WRMSR of one exits (the policy traps it), the processor
 * holds the HOST's value: the monitor must read and write the VMCS field, and
 * make the checks WRMSR would make, or the next VM entry fails (SDM 3C 27.3.1).
 * Pure code: the unit tests call it directly. */
#ifndef LAMINA_GUEST_MSR_H
#define LAMINA_GUEST_MSR_H

#include <stdbool.h>
#include <stdint.h>

enum guest_msr {
    GMSR_NONE = 0,          /* an ordinary MSR: RDMSR/WRMSR in VMX root reach it */
    GMSR_SYSENTER_CS, GMSR_SYSENTER_ESP, GMSR_SYSENTER_EIP,
    GMSR_FS_BASE, GMSR_GS_BASE, GMSR_DEBUGCTL, GMSR_PAT, GMSR_EFER,
};

enum guest_msr guest_msr_kind(uint32_t msr);

struct guest_msr_env {
    bool la57;              /* CPUID.(EAX=7,ECX=0):ECX[16]: 57-bit canonical addresses */
    bool nx;                /* CPUID.80000001H:EDX[20]: EFER.NXE may be set */
    bool paging;            /* guest CR0.PG */
    uint64_t efer;          /* guest IA32_EFER now */
};

/* The value to store in the VMCS for WRMSR(kind, v), or -1 when WRMSR raises
 * #GP: non-canonical SYSENTER_ESP/EIP/FS/GS base, a reserved or undefined PAT
 * type, reserved EFER bits, a change of EFER.LME while paging is on (SDM 3A
 * 10.8.5). EFER.LMA is read-only: the stored value keeps the current one.
 * SYSENTER_CS keeps bits 31:0. DEBUGCTL is not checked here (its valid bits
 * are model specific: the caller probes the processor). */
int guest_msr_write_value(enum guest_msr kind, uint64_t v, const struct guest_msr_env *env,
                          uint64_t *store);

#endif
