/* What the guest sees of CPUID. Vendor-neutral filtering of the host's answer:
 * the monitor executes CPUID itself (it exits unconditionally, SDM 3C 26.1.2) and
 * passes the result through these functions before writing the guest's registers. */
#ifndef LAMINA_CPUID_H
#define LAMINA_CPUID_H

#include <stdint.h>
#include <stdbool.h>

struct cpuid_regs { uint32_t eax, ebx, ecx, edx; };

/* Hypervisor CPUID range. SDM 2 CPUID: "No existing or future CPU will return processor
 * identification or feature information if the initial EAX value is in the range
 * 40000000H to 4FFFFFFFH"; hypervisors use it by convention. */
#define LAMINA_CPUID_BASE           0x40000000u
#define LAMINA_CPUID_RANGE_END      0x4fffffffu
#define LAMINA_CPUID_MAX_LEAF       0x40000001u      /* EAX of leaf 0x40000000 */
#define LAMINA_CPUID_INTERFACE      0x40000001u      /* EAX = interface version */
#define LAMINA_CPUID_VERSION        1u

/* The 12-byte signature in EBX, ECX, EDX of leaf 0x40000000: "LaminaLamina", the name
 * twice like "VMwareVMware" and "XenVMMXenVMM" (no NUL bytes; readable in a dump of
 * the registers; a guest compares all 12 bytes). Little-endian packing of
 * "Lami" "naLa" "mina". */
#define LAMINA_CPUID_SIG_EBX        0x696d614cu      /* "Lami" */
#define LAMINA_CPUID_SIG_ECX        0x614c616eu      /* "naLa" */
#define LAMINA_CPUID_SIG_EDX        0x616e696du      /* "mina" */

#define CPUID_1_ECX_DTES64          (1u << 2)
#define CPUID_1_ECX_DS_CPL          (1u << 4)
#define CPUID_1_EDX_DS              (1u << 21)
#define CPUID_1_ECX_VMX             (1u << 5)
#define CPUID_1_ECX_XSAVE           (1u << 26)
#define CPUID_1_ECX_OSXSAVE         (1u << 27)
#define CPUID_1_ECX_HYPERVISOR      (1u << 31)
#define CPUID_7_0_EBX_INTEL_PT      (1u << 25)
#define CPUID_80000001_ECX_SVM      (1u << 2)
#define CPUID_SVM_LEAF              0x8000000au      /* AMD-V features */
#define CPUID_7_0_ECX_PKU           (1u << 3)
#define CPUID_7_0_ECX_OSPKE         (1u << 4)
#define CPUID_D_1_EAX_XSAVES        (1u << 3)
/* IA32_XSS bits the guest never gets: Intel PT's state (SDM 1 13.5.6), whose
 * output addresses are host-physical, so XRSTORS of it could aim a trace at
 * monitor memory. CPUID.(0DH,1):EDX:ECX does not list them, CPUID.(0DH,8)
 * reads all zero, and IA32_XSS writes setting them raise #GP (core/msr.c). */
#define XSS_HIDDEN                  (1ull << 8)

/* The IA32_XSS bits a guest may set: those CPUID.(EAX=0DH,ECX=1) lists
 * (EDX:ECX, SDM 1 13.2) minus XSS_HIDDEN; none without XSAVES (EAX bit 3). */
uint64_t cpuid_xss_guest_mask(uint32_t d1_eax, uint32_t d1_ecx, uint32_t d1_edx);

/* Given the host's answer *r for (leaf, subleaf), rewrite it into what the guest sees:
 *   leaf 1: ECX.VMX (bit 5) cleared (no nested VMX); ECX bit 31 (hypervisor present) set
 *           unless stealth;
 *   leaf 7, subleaf 0: EBX bit 25 (Intel PT) cleared; leaf 0x14 (PT details) all zero;
 *   leaf 0x80000001: ECX bit 2 (SVM) cleared; leaf 0x8000000A (SVM details) all zero;
 *   leaf 0x40000000: EAX = LAMINA_CPUID_MAX_LEAF, EBX/ECX/EDX = the signature;
 *   leaf 0x40000001: EAX = LAMINA_CPUID_VERSION, EBX = ECX = EDX = 0;
 *   other leaves 0x40000000-0x4FFFFFFF: all zero.
 * With stealth the 0x4xxxxxxx leaves and leaf 1 bit 31 stay as the host returned them
 * (Lamina adds nothing a guest could detect; VMX is still hidden). */
void cpuid_filter(uint32_t leaf, uint32_t subleaf, struct cpuid_regs *r, bool stealth);

/* The host's CR4 decides some CPUID bits (the monitor runs CPUID with the host's CR4):
 * make them follow the guest's CR4 instead, as on bare metal:
 *   leaf 1:             ECX bit 27 (OSXSAVE) = guest CR4.OSXSAVE (bit 18);
 *   leaf 7, subleaf 0:  ECX bit 4 (OSPKE)    = guest CR4.PKE (bit 22).
 * Other leaves are left alone. Call after cpuid_filter. */
void cpuid_fix_osxsave(struct cpuid_regs *r, uint32_t leaf, uint32_t subleaf, uint64_t guest_cr4);

/* Whether cpuid_fix_osxsave can change leaf's answer (so the caller need not
 * fetch the guest's CR4 for any other leaf). */
static inline bool cpuid_depends_on_cr4(uint32_t leaf)
{
    return leaf == 1 || leaf == 7;
}

#endif
