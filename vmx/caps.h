/* VMX capability reporting (SDM 3C appendix A) turned into Lamina's VMCS controls.
 * Pure functions over raw MSR values: the caller reads the MSRs (vmx/vmx.c). */
#ifndef LAMINA_VMX_CAPS_H
#define LAMINA_VMX_CAPS_H

#include <stdint.h>
#include <stdbool.h>

struct vmx_caps {            /* raw MSR values */
    uint64_t basic;          /* 0x480 */
    uint64_t pin, proc, exit, entry;                     /* 0x481..0x484 */
    uint64_t true_pin, true_proc, true_exit, true_entry; /* 0x48D..0x490, valid if basic bit 55 */
    uint64_t misc;           /* 0x485 */
    uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1; /* 0x486..0x489 */
    uint64_t proc2;          /* 0x48B, valid if proc allowed-1 bit 31 */
    uint64_t ept_vpid;       /* 0x48C, valid if proc2 allows EPT or VPID */
};

struct vmx_controls { uint32_t pin, proc, proc2, exit, entry; };

/* Adjust a wanted control word to a capability MSR (SDM 3C A.3-A.5): the allowed-0
 * settings (low 32 bits: 1 = must be 1) are forced on, the allowed-1 settings (high
 * 32 bits: 0 = must be 0) mask. `required` bits are wanted too. *out always receives
 * the adjusted word. Returns -1 if a bit in `required` is not allowed to be 1, or if
 * the MSR is self-contradictory (a bit that must be 1 but may not be 1); else 0. */
int vmx_adjust(uint64_t cap, uint32_t want, uint32_t required, uint32_t *out);

/* Compute Lamina's controls. On failure returns -1 and sets *why (if why is not NULL)
 * to a static English reason ("EPT not supported", ...); on success returns 0 and sets
 * *why to NULL. *out is zeroed on failure.
 *   pin:   NMI exiting and virtual NMIs (required); the VMX-preemption timer if
 *          allowed (external interrupts are not trapped)
 *   proc:  I/O bitmaps, MSR bitmaps, TSC offsetting, secondary controls (all
 *          required); NMI-window exiting must be allowed, but is not set here
 *          (without the TRUE MSRs, CR3-load/store exiting are forced on: default1)
 *   proc2: EPT, VPID, unrestricted guest (required); RDTSCP, INVPCID, XSAVES/XRSTORS,
 *          user wait and pause if allowed (with them 0 the instructions #UD, SDM 3C 26.3)
 *   exit:  save debug controls, host address-space size, save/load IA32_PAT,
 *          save/load IA32_EFER (all required)
 *   entry: load debug controls, load IA32_PAT, load IA32_EFER (required); the
 *          "IA-32e mode guest" control must be allowed but is not set here: the
 *          caller sets it per guest (VM_ENTRY_IA32E_MODE). */
int vmx_compute_controls(const struct vmx_caps *c, struct vmx_controls *out, const char **why);

/* CR0/CR4 values adjusted to the VMX fixed bits (SDM 3C A.7, A.8): fixed0 bits set,
 * bits clear in fixed1 cleared. With `unrestricted` (the unrestricted-guest control
 * will be 1), CR0.PE and CR0.PG are exempt from fixed0 (SDM 3C 27.3.1.1). */
uint64_t vmx_fix_cr0(const struct vmx_caps *c, uint64_t cr0, bool unrestricted);
uint64_t vmx_fix_cr4(const struct vmx_caps *c, uint64_t cr4);

/* The CR bits VMX forces to 1 (fixed0, less PE/PG for an unrestricted guest): the
 * least CR0/CR4 guest/host mask that lets the guest see its own values of them
 * through the read shadows (e.g. CR0.NE, CR4.VMXE). Bits forced to 0 (clear in
 * fixed1) are left out: guest attempts to set them #GP in non-root operation. */
uint64_t vmx_cr0_host_owned(const struct vmx_caps *c, bool unrestricted);
uint64_t vmx_cr4_host_owned(const struct vmx_caps *c);

/* EPT may map 1 GiB pages (IA32_VMX_EPT_VPID_CAP bit 17, SDM 3C A.10). */
bool vmx_ept_1g(const struct vmx_caps *c);
/* The wait-for-SIPI activity state is supported (IA32_VMX_MISC bit 8, SDM 3C A.6). */
bool vmx_wait_for_sipi(const struct vmx_caps *c);
/* INVEPT / INVVPID types (SDM 3C A.10); false if the EPT/VPID MSR is not valid. */
bool vmx_invept_single(const struct vmx_caps *c);
bool vmx_invept_all(const struct vmx_caps *c);
bool vmx_invvpid_single(const struct vmx_caps *c);
bool vmx_invvpid_all(const struct vmx_caps *c);
bool vmx_invvpid_addr(const struct vmx_caps *c);

/* VMCS revision identifier (bits 30:0) and region size in bytes (bits 44:32), SDM 3C A.1. */
uint32_t vmx_vmcs_revision(const struct vmx_caps *c);
uint32_t vmx_vmcs_size(const struct vmx_caps *c);

#endif
