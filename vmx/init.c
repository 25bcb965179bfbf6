/* INIT, SIPI and NMI exits, and the INIT state itself (vmx/init_state.h).
 * The core decides when a CPU enters the INIT state (core/vcpu.c,
 * core/ipi.c); this is how VT-x puts it there and starts it again. */
#include <string.h>
#include "core/arch.h"
#include "vmx/init_state.h"
#include "vmx/vmx.h"


_Static_assert(sizeof(struct guest_regs) == sizeof(((struct init_state *)0)->gpr), "gpr layout");

/* The architectural INIT state (SDM 3A table 10-1) in the wait-for-SIPI
 * activity state (SDM 3C 27.6.2). */
void be_enter_init_state(struct vcpu *v)
{
    uint32_t sig[4];
    cpuid(1, 0, sig);
    struct init_state st;
    init_state_build(&st, &vmx.caps, sig[0], true);
    for (unsigned i = 0; i < st.nvmcs; i++)
        vmx_guest_write(v, st.vmcs[i].field, st.vmcs[i].value);
    /* Registers the VMCS does not hold are the guest's own in VMX root too. */
    memcpy(v->r, st.gpr, sizeof(*v->r));
    write_cr2(st.cr2);
    write_dr0_3(st.dr[0]);
    write_dr6(st.dr6);
    /* INIT leaves IA-32e mode (EFER = 0 in the INIT state). */
    vmcs_write(VM_ENTRY_CONTROLS, vmcs_read(VM_ENTRY_CONTROLS) & ~(uint64_t)VM_ENTRY_IA32E_MODE);
    vmcs_write(VM_ENTRY_INTR_INFO_FIELD, 0);
    vmx_flush_vpid(v->pc);
}

/* A real INIT signal in VMX non-root exits (SDM 3C 26.2). */
void vmx_handle_init(struct vcpu *v)
{
    vcpu_init_signal(v);
}

void vmx_handle_sipi(struct vcpu *v)
{
    struct vmcs_field_value f[INIT_SIPI_FIELDS];
    unsigned n = init_sipi_fields((uint8_t)(vmcs_read(EXIT_QUALIFICATION) & 0xff), f);
    for (unsigned i = 0; i < n; i++)
        vmx_guest_write(v, f[i].field, f[i].value);
    /* A CPU starting at the SIPI vector has no event blocking. */
    vmcs_write(GUEST_INTERRUPTIBILITY_INFO, 0);
    vmcs_write(GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
    vcpu_sipi_done(v);
}

void vmx_handle_exception_nmi(struct vcpu *v)
{
    uint32_t info = (uint32_t)vmcs_read(VM_EXIT_INTR_INFO);
    if ((info & INTR_INFO_VALID) && (info & INTR_INFO_INTR_TYPE_MASK) == INTR_TYPE_NMI) {
        vcpu_set_kind(v, LAMINA_EXIT_NMI);
        vcpu_nmi(v);
        /* An NMI's VM exit leaves NMIs blocked in VMX root until an IRET
         * (SDM 3C 28.x, "blocking by NMI" after an NMI exit): without one,
         * every later NMI would wait for good. */
        cpu_unblock_nmi();
        return;
    }
    if ((info & INTR_INFO_VALID) && (info & INTR_INFO_VECTOR_MASK) == VECTOR_DB &&
        vmx_cpu(v->pc)->stepping) {
        vcpu_set_kind(v, LAMINA_EXIT_STEP);
        vmx_handle_step_db(v);
        return;
    }
    vcpu_stop(v, "unexpected exception exit");
}
