/* The EPT at run time: EPT violations and misconfigurations, single-stepping
 * one guest instruction (the monitor trap flag, or RFLAGS.TF with #DB
 * exiting), and the guest-physical map operations of core/backend.h. */
#include "core/arch.h"
#include "core/monitor.h"
#include "vmx/vmx.h"

#define DR6_BS    (1ull << 14)

const char be_map_name[] = "ept";

_Static_assert(BE_R == EPT_R && BE_W == EPT_W && BE_X == EPT_X, "BE_R/W/X are the EPT bits");

void vmx_flush_ept(void)
{
    /* M6: the type the CPU has (SDM 3C A.10); all-context also covers ours. */
    enum vmx_result r = invept(vmx_invept_single(&vmx.caps) ? INVEPT_SINGLE_CONTEXT
                                                            : INVEPT_ALL_CONTEXT, vmx.eptp);
    if (r != VMX_OK)
        vmx_insn_failed("INVEPT", vmx.eptp, r);
}

void be_tlb_flush(struct vcpu *v)
{
    (void)v;
    vmx_flush_ept();
}

int be_map_page(uint64_t gpa, uint64_t hpa, unsigned perm, uint8_t type)
{
    /* BE_R/W/X are the EPT's R/W/X bits (SDM 3C 29.3.2). */
    return ept_set_page_typed(vmx.ept_root, gpa, hpa, perm, type) == 0 ? 0 : -1;
}

void be_memory_types_changed(struct be_retype_stats *st)
{
    struct ept_retype_stats es;
    ept_retype(vmx.ept_root, &mon.mtrr, &vmx.ept_reserve, &es);
    st->changed = es.changed;
    st->split = es.split;
    st->fallback_uc = es.fallback_uc;
    be_tlb_flush_all();
}

/* Every CPU drops its cached guest-physical translations: this one now, the
 * others at their next exit (vmx_exit_handler compares generations). */
void be_tlb_flush_all(void)
{
    uint64_t gen = __atomic_add_fetch(&vmx.ept_generation, 1, __ATOMIC_SEQ_CST);
    vmx_cpu(this_cpu())->ept_generation = gen;
    vmx_flush_ept();
}

void be_map_stats(struct be_map_stats *out)
{
    out->name = be_map_name;
    out->pages_1g = vmx.ept_stats.pages_1g;
    out->pages_2m = vmx.ept_stats.pages_2m;
    out->pages_4k = vmx.ept_stats.pages_4k;
    out->tables = vmx.ept_stats.tables;
}

/* SDM 3C 28.2.1 table 28-7: bits 0-2 of the qualification are the access
 * (read, write, fetch), in the order of BE_R/W/X. */
void vmx_handle_ept_violation(struct vcpu *v)
{
    uint64_t qual = vmcs_read(EXIT_QUALIFICATION);
    vcpu_memory_fault(v, vmcs_read(GUEST_PHYSICAL_ADDRESS), (unsigned)(qual & 7));
}

/* SDM 3C 28.2.1 table 28-7: bit 7 of the qualification says the guest
 * linear-address field is valid. */
int be_access_linear(struct vcpu *v, uint64_t *la)
{
    (void)v;
    if (!(vmcs_read(EXIT_QUALIFICATION) & (1u << 7)))
        return -1;
    *la = vmcs_read(GUEST_LINEAR_ADDRESS);
    return 0;
}

void vmx_handle_ept_misconfig(struct vcpu *v)
{
    vcpu_stop(v, "EPT misconfiguration (a bug in the monitor's EPT)");
}

/* Let exactly one guest instruction run, then exit: the monitor trap flag
 * (SDM 3C 26.5.2), or where the CPU lacks it (Bochs 2.7 does) RFLAGS.TF with
 * #DB exiting: the single-step trap after the instruction exits. Only that
 * trap ends a TF step: if an interrupt or a guest fault comes first, its
 * handler's IRET restores TF from the frame and the trap follows the retried
 * instruction, so ending the step at any other exit would leave a stray TF
 * in the guest's frame. */
void be_step_one(struct vcpu *v)
{
    struct vmx_cpu *vc = vmx_cpu(v->pc);
    if (vmx.has_mtf) {
        vmcs_write(CPU_BASED_VM_EXEC_CONTROL,
                   vmcs_read(CPU_BASED_VM_EXEC_CONTROL) | CPU_BASED_MONITOR_TRAP_FLAG);
        return;
    }
    if (vc->stepping)
        return;         /* a second monitor page touched by the same instruction */
    uint64_t rflags = guest_get(v, GV_RFLAGS);
    vc->guest_tf = rflags & RFLAGS_TF;
    guest_set(v, GV_RFLAGS, rflags | RFLAGS_TF);
    /* SDM 3C 27.3.1.5: with TF = 1 and blocking by STI or MOV SS, VM entry
     * demands BS pending. Under STI blocking that #DB would come before the
     * instruction; blocking by MOV SS holds it until after the one
     * instruction (SDM 3A 7.8.3) and blocks interrupts for it as STI does. */
    uint64_t intr = vmcs_read(GUEST_INTERRUPTIBILITY_INFO);
    if (intr & INTERRUPTIBILITY_STI_MOVSS) {
        vmcs_write(GUEST_INTERRUPTIBILITY_INFO,
                   (intr & ~(uint64_t)INTERRUPTIBILITY_STI_MOVSS) | INTERRUPTIBILITY_MOVSS);
        vmcs_write(GUEST_PENDING_DBG_EXCEPTIONS,
                   vmcs_read(GUEST_PENDING_DBG_EXCEPTIONS) | GUEST_PENDING_DBG_BS);
    }
    vmcs_write(EXCEPTION_BITMAP, vmcs_read(EXCEPTION_BITMAP) | (1u << VECTOR_DB));
    vc->stepping = true;
}

void vmx_handle_mtf(struct vcpu *v)
{
    vcpu_step_done(v);
    vmcs_write(CPU_BASED_VM_EXEC_CONTROL,
               vmcs_read(CPU_BASED_VM_EXEC_CONTROL) & ~(uint64_t)CPU_BASED_MONITOR_TRAP_FLAG);
}

/* The single-step #DB of be_step_one. If the guest was single-stepping
 * itself, the trap is its own too: it gets it, with DR6.BS as hardware sets. */
void vmx_handle_step_db(struct vcpu *v)
{
    struct vmx_cpu *vc = vmx_cpu(v->pc);
    bool guest_tf = vc->guest_tf;
    vcpu_step_done(v);
    if (!guest_tf)
        guest_set(v, GV_RFLAGS, guest_get(v, GV_RFLAGS) & ~RFLAGS_TF);
    vmcs_write(EXCEPTION_BITMAP, vmcs_read(EXCEPTION_BITMAP) & ~(1u << VECTOR_DB));
    vc->stepping = false;
    if (guest_tf) {
        write_dr6(read_dr6() | DR6_BS);
        be_inject_exception(v, VECTOR_DB, false, 0);
    }
}
