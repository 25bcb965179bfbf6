/* The architectural state after INIT (SDM 3A 9.1.1 table 9-1, "Processor State After
 * Reset/INIT") as guest state for VM entry with the unrestricted-guest control (SDM 3C
 * 26.3.1), and the change a start-up IPI makes to it (SDM 3A 8.4.3, 10.6.1).
 *
 * An INIT signal in VMX non-root operation causes a VM exit (reason 3, SDM 3C 26.2);
 * the monitor then loads this state into the guest's VMCS with one VMWRITE per entry
 * of init_state.vmcs[], loads the few registers the VMCS does not hold, and resumes the
 * guest in the wait-for-SIPI activity state. A SIPI then exits (reason 4) and the
 * monitor writes the init_sipi_fields(). The caller also has to:
 *   - clear the "IA-32e mode guest" entry control (EFER.LMA = 0 here, SDM 3C 27.3.1.1);
 *   - set CR0_GUEST_HOST_MASK / CR4_GUEST_HOST_MASK to include at least
 *     vmx_cr0_host_owned(caps, true) / vmx_cr4_host_owned(caps), so that the guest
 *     reads the INIT values from the read shadows in the table (CR0.NE, CR4.VMXE);
 *   - cancel any pending event injection (VM_ENTRY_INTR_INFO_FIELD = 0).
 * Left alone, as INIT leaves them unchanged (SDM 3A 9.1: caches, MSRs, MTRRs, x87 state):
 * IA32_PAT, IA32_DEBUGCTL, the SYSENTER MSRs, XCR0. IA32_EFER is nevertheless set to 0
 * (as KVM does): LMA must be 0 for a guest that is not in IA-32e mode (SDM 3C 27.3.1.1)
 * and the restarted processor's start-up code expects LME clear. */
#ifndef LAMINA_VMX_INIT_STATE_H
#define LAMINA_VMX_INIT_STATE_H

#include <stdint.h>
#include <stdbool.h>
#include "vmx/caps.h"

/* One VMCS field and the value to VMWRITE into it. */
struct vmcs_field_value {
    uint32_t field;         /* encoding, SDM 3C appendix B (vmx/vmx_defs.h) */
    uint64_t value;
};

#define INIT_STATE_MAX_FIELDS 56
#define INIT_SIPI_FIELDS      4

/* Architectural register numbers (as in exit qualifications, and struct guest_regs). */
enum gpr_index {
    GPR_RAX, GPR_RCX, GPR_RDX, GPR_RBX, GPR_RSP, GPR_RBP, GPR_RSI, GPR_RDI,
    GPR_R8, GPR_R9, GPR_R10, GPR_R11, GPR_R12, GPR_R13, GPR_R14, GPR_R15,
};

struct init_state {
    struct vmcs_field_value vmcs[INIT_STATE_MAX_FIELDS];  /* VMWRITE each */
    unsigned nvmcs;
    /* State the VMCS does not hold. */
    uint64_t gpr[16];       /* by enum gpr_index: RDX = CPU signature, others 0 (gpr[GPR_RSP]
                               is also GUEST_RSP in vmcs[]) */
    uint64_t cr2;           /* 0 */
    uint64_t dr[4];         /* DR0-DR3: 0 */
    uint64_t dr6;           /* 0xFFFF0FF0 */
};

/* The VMCS values, exactly as VMWRITE takes them, for:
 *   CS:  selector 0xF000, base 0xFFFF0000, limit 0xFFFF, access rights 0x9B
 *        (execute/read accessed code, present, 16-bit);
 *   SS, DS, ES, FS, GS: selector 0, base 0, limit 0xFFFF, access rights 0x93
 *        (read/write accessed data, present; SS DPL 0 as CR0.PE = 0 requires);
 *   LDTR: selector 0, base 0, limit 0xFFFF, 0x82 (usable LDT, present);
 *   TR:  selector 0, base 0, limit 0xFFFF, 0x8B (32-bit busy TSS, present: TR must be
 *        usable and busy for VM entry, SDM 3C 27.3.1.2);
 *   GDTR, IDTR: base 0, limit 0xFFFF;
 *   RIP 0xFFF0, RSP 0, RFLAGS 0x2, DR7 0x400, IA32_EFER 0;
 *   CR0 read shadow 0x60000010 and GUEST_CR0 = vmx_fix_cr0(caps, 0x60000010, true);
 *   CR4 read shadow 0 and GUEST_CR4 = vmx_fix_cr4(caps, 0); CR3 0;
 *   interruptibility 0, pending debug exceptions 0;
 *   activity state wait-for-SIPI if `wait_for_sipi`, else active (a BSP after INIT
 *   starts at the reset vector at once).
 * gpr[GPR_RDX] = cpu_signature (the processor's CPUID.1:EAX, SDM 3A 9.1.3).
 * Returns -1 (and builds nothing) if wait_for_sipi is asked for but the activity
 * state is not supported (vmx_wait_for_sipi(caps) false, SDM 3C 27.3.1.5); else 0. */
int init_state_build(struct init_state *s, const struct vmx_caps *caps,
                     uint32_t cpu_signature, bool wait_for_sipi);

/* The fields a SIPI with `vector` changes (SDM 3A 8.4.3, 10.6.1): CS selector =
 * vector << 8, CS base = vector << 12, RIP = 0, activity state active. Fills
 * out[INIT_SIPI_FIELDS] and returns the count. */
unsigned init_sipi_fields(uint8_t vector, struct vmcs_field_value out[INIT_SIPI_FIELDS]);

/* Apply those fields to a built state. */
void init_state_apply_sipi(struct init_state *s, uint8_t vector);

/* Look up a field's value in a built state; false if the state does not set it. */
bool init_state_get(const struct init_state *s, uint32_t field, uint64_t *value);

#endif
