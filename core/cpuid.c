/* Guest view of CPUID: see core/cpuid.h. */
#include "core/cpuid.h"

#define CR4_OSXSAVE_BIT (1ull << 18)
#define CR4_PKE_BIT     (1ull << 22)

void cpuid_filter(uint32_t leaf, uint32_t subleaf, struct cpuid_regs *r, bool stealth)
{
    if (leaf == 7 && subleaf == 0) {
        /* Intel PT writes its trace to physical addresses that EPT does not
         * translate (unless "Intel PT uses guest physical addresses"), so a
         * guest could aim it at monitor memory: the guest sees no PT, and its
         * IA32_RTIT_CTL writes raise #GP (core/msr.c). */
        r->ebx &= ~CPUID_7_0_EBX_INTEL_PT;
        return;
    }
    if (leaf == 0xd && subleaf == 1) {
        r->ecx &= ~(uint32_t)XSS_HIDDEN;
        r->edx &= ~(uint32_t)(XSS_HIDDEN >> 32);
        return;
    }
    if (leaf == 0xd && subleaf < 64 && ((XSS_HIDDEN >> subleaf) & 1)) {
        r->eax = r->ebx = r->ecx = r->edx = 0;  /* the component does not exist */
        return;
    }
    if (leaf == 0x14 || leaf == CPUID_SVM_LEAF) {   /* PT and SVM enumeration leaves */
        r->eax = r->ebx = r->ecx = r->edx = 0;
        return;
    }
    if (leaf == 0x80000001) {
        /* No nested virtualization on any processor: AMD-V is hidden as VMX is. */
        r->ecx &= ~CPUID_80000001_ECX_SVM;
        return;
    }
    if (leaf == 1) {
        /* VMXON in the guest would exit to the monitor, which offers no nested VMX. */
        r->ecx &= ~CPUID_1_ECX_VMX;
        /* No debug store: BTS and PEBS write records to the DS area on their
         * own (SDM 3B 18.6.8, 20.4.9), PEBS on older CPUs through addresses
         * EPT does not check; IA32_DS_AREA and IA32_PEBS_ENABLE writes raise
         * #GP (core/msr.c), as on a CPU without DS. */
        r->edx &= ~CPUID_1_EDX_DS;
        r->ecx &= ~(CPUID_1_ECX_DTES64 | CPUID_1_ECX_DS_CPL);
        /* Bit 31 is "not used, always returns 0" on hardware (SDM 2 CPUID, feature
         * information in ECX); hypervisors set it to announce the 0x4xxxxxxx leaves. */
        if (!stealth)
            r->ecx |= CPUID_1_ECX_HYPERVISOR;
        return;
    }
    if (leaf < LAMINA_CPUID_BASE || leaf > LAMINA_CPUID_RANGE_END || stealth)
        return;

    r->eax = r->ebx = r->ecx = r->edx = 0;
    switch (leaf) {
    case LAMINA_CPUID_BASE:
        r->eax = LAMINA_CPUID_MAX_LEAF;
        r->ebx = LAMINA_CPUID_SIG_EBX;
        r->ecx = LAMINA_CPUID_SIG_ECX;
        r->edx = LAMINA_CPUID_SIG_EDX;
        break;
    case LAMINA_CPUID_INTERFACE:
        r->eax = LAMINA_CPUID_VERSION;
        break;
    default:
        break;
    }
}

void cpuid_fix_osxsave(struct cpuid_regs *r, uint32_t leaf, uint32_t subleaf, uint64_t guest_cr4)
{
    /* SDM 2 CPUID: CPUID.1:ECX.OSXSAVE[bit 27] reflects CR4.OSXSAVE;
     * CPUID.(EAX=7,ECX=0):ECX.OSPKE[bit 4] reflects CR4.PKE. */
    if (leaf == 1) {
        r->ecx &= ~CPUID_1_ECX_OSXSAVE;
        if (guest_cr4 & CR4_OSXSAVE_BIT)
            r->ecx |= CPUID_1_ECX_OSXSAVE;
    } else if (leaf == 7 && subleaf == 0) {
        r->ecx &= ~CPUID_7_0_ECX_OSPKE;
        if (guest_cr4 & CR4_PKE_BIT)
            r->ecx |= CPUID_7_0_ECX_OSPKE;
    }
}

uint64_t cpuid_xss_guest_mask(uint32_t d1_eax, uint32_t d1_ecx, uint32_t d1_edx)
{
    if (!(d1_eax & CPUID_D_1_EAX_XSAVES))
        return 0;
    return (((uint64_t)d1_edx << 32) | d1_ecx) & ~XSS_HIDDEN;
}
