/* VM-exit dispatch: one table entry per basic exit reason (SDM 3C appendix
 * C), giving the handler and the vendor-neutral exit kind it is counted as.
 * Most handlers are the core's (core/backend.h); the VT-x-only ones live in
 * vmx/. A reason without an entry is unexpected: the guest state is logged
 * and that CPU stops. Also here: events to re-deliver after an exit during
 * event delivery, and NMIs for the guest. Nothing here allocates. */
#include <stdio.h>
#include "core/arch.h"
#include "core/log.h"
#include "core/monitor.h"
#include "vmx/vmx.h"

typedef void (*exit_handler)(struct vcpu *v);

struct exit_entry {
    exit_handler handler;
    uint8_t kind;           /* LAMINA_EXIT_* */
    uint8_t insn;           /* LAMINA_INSN_* for the virtualization instructions */
    bool in_delivery;       /* can happen while an event is delivered (SDM 3C 28.2.4) */
};

#define CORE(h, k)      { (h), (k), 0, false }
#define INSN(i)         { NULL, LAMINA_EXIT_VIRT_INSN, (i), false }
#define DELIVERY(h, k)  { (h), (k), 0, true }

static const struct exit_entry exits[] = {
    [EXIT_REASON_EXCEPTION_NMI] = DELIVERY(vmx_handle_exception_nmi, LAMINA_EXIT_EXCEPTION),
    [EXIT_REASON_TRIPLE_FAULT] = CORE(vcpu_triple_fault, LAMINA_EXIT_TRIPLE_FAULT),
    [EXIT_REASON_TASK_SWITCH] = CORE(vmx_handle_task_switch, LAMINA_EXIT_OTHER),
    [EXIT_REASON_INIT_SIGNAL] = CORE(vmx_handle_init, LAMINA_EXIT_INIT),
    [EXIT_REASON_SIPI_SIGNAL] = CORE(vmx_handle_sipi, LAMINA_EXIT_SIPI),
    [EXIT_REASON_CPUID] = CORE(vcpu_cpuid, LAMINA_EXIT_CPUID),
    [EXIT_REASON_GETSEC] = INSN(LAMINA_INSN_GETSEC),
    [EXIT_REASON_INVD] = CORE(vcpu_invd, LAMINA_EXIT_INVD),
    [EXIT_REASON_VMCALL] = CORE(vcpu_vmcall, LAMINA_EXIT_HYPERCALL),
    [EXIT_REASON_VMCLEAR] = INSN(LAMINA_INSN_VMCLEAR),
    [EXIT_REASON_VMLAUNCH] = INSN(LAMINA_INSN_VMLAUNCH),
    [EXIT_REASON_VMPTRLD] = INSN(LAMINA_INSN_VMPTRLD),
    [EXIT_REASON_VMPTRST] = INSN(LAMINA_INSN_VMPTRST),
    [EXIT_REASON_VMREAD] = INSN(LAMINA_INSN_VMREAD),
    [EXIT_REASON_VMRESUME] = INSN(LAMINA_INSN_VMRESUME),
    [EXIT_REASON_VMWRITE] = INSN(LAMINA_INSN_VMWRITE),
    [EXIT_REASON_VMOFF] = INSN(LAMINA_INSN_VMXOFF),
    [EXIT_REASON_VMON] = INSN(LAMINA_INSN_VMXON),
    [EXIT_REASON_CR_ACCESS] = CORE(vmx_handle_cr_access, LAMINA_EXIT_CR_ACCESS),
    [EXIT_REASON_IO_INSTRUCTION] = CORE(vmx_handle_io, LAMINA_EXIT_IO),
    [EXIT_REASON_MSR_READ] = CORE(vcpu_rdmsr, LAMINA_EXIT_MSR_READ),
    [EXIT_REASON_MSR_WRITE] = CORE(vcpu_wrmsr, LAMINA_EXIT_MSR_WRITE),
    [EXIT_REASON_MONITOR_TRAP_FLAG] = CORE(vmx_handle_mtf, LAMINA_EXIT_STEP),
    [EXIT_REASON_EPT_VIOLATION] = DELIVERY(vmx_handle_ept_violation, LAMINA_EXIT_MEMORY),
    [EXIT_REASON_EPT_MISCONFIG] = DELIVERY(vmx_handle_ept_misconfig, LAMINA_EXIT_OTHER),
    [EXIT_REASON_INVEPT] = INSN(LAMINA_INSN_INVEPT),
    [EXIT_REASON_INVVPID] = INSN(LAMINA_INSN_INVVPID),
    [EXIT_REASON_VMFUNC] = INSN(LAMINA_INSN_VMFUNC),
    [EXIT_REASON_XSETBV] = CORE(vcpu_xsetbv, LAMINA_EXIT_XSETBV),
    [EXIT_REASON_NMI_WINDOW] = CORE(vmx_handle_nmi_window, LAMINA_EXIT_NMI_WINDOW),
    [EXIT_REASON_PREEMPTION_TIMER] = CORE(vmx_handle_timer, LAMINA_EXIT_TIMER),
    [EXIT_REASON_SEAMCALL] = INSN(LAMINA_INSN_SEAMCALL),
    [EXIT_REASON_TDCALL] = INSN(LAMINA_INSN_TDCALL),
};
#define NEXITS (sizeof(exits) / sizeof(exits[0]))

static const char *const seg_names[] = { "es", "cs", "ss", "ds", "fs", "gs", "ldtr", "tr" };

/* Everything a developer needs to understand why a guest was stopped. */
void be_dump_guest(struct vcpu *v)
{
    char b[200];
    sniprintf(b, sizeof(b), "  exit reason 0x%lx qualification 0x%lx gpa 0x%lx linear 0x%lx\n",
              vmread(VM_EXIT_REASON), vmread(EXIT_QUALIFICATION), vmread(GUEST_PHYSICAL_ADDRESS),
              vmread(GUEST_LINEAR_ADDRESS));
    log_raw(b);
    sniprintf(b, sizeof(b), "  rip %016lx rsp %016lx rflags %016lx insn-len %lu\n",
              vmread(GUEST_RIP), vmread(GUEST_RSP), vmread(GUEST_RFLAGS),
              vmread(VM_EXIT_INSTRUCTION_LEN));
    log_raw(b);
    uint64_t gpr[16];
    __builtin_memcpy(gpr, v->r, sizeof(gpr));
    gpr[4] = vmread(GUEST_RSP);
    log_dump_gprs(gpr);
    sniprintf(b, sizeof(b), "  cr0 %016lx (shadow %lx) cr3 %016lx cr4 %016lx (shadow %lx)\n",
              vmread(GUEST_CR0), vmread(CR0_READ_SHADOW), vmread(GUEST_CR3),
              vmread(GUEST_CR4), vmread(CR4_READ_SHADOW));
    log_raw(b);
    sniprintf(b, sizeof(b), "  efer %lx pat %lx entry-ctl %lx activity %lu interruptibility %lx\n",
              vmread(GUEST_IA32_EFER), vmread(GUEST_IA32_PAT), vmread(VM_ENTRY_CONTROLS),
              vmread(GUEST_ACTIVITY_STATE), vmread(GUEST_INTERRUPTIBILITY_INFO));
    log_raw(b);
    for (int i = 0; i < 8; i++) {
        sniprintf(b, sizeof(b), "  %-4s sel %04lx base %016lx limit %08lx ar %05lx\n",
                  seg_names[i], vmread(GUEST_ES_SELECTOR + 2 * i), vmread(GUEST_ES_BASE + 2 * i),
                  vmread(GUEST_ES_LIMIT + 2 * i), vmread(GUEST_ES_AR_BYTES + 2 * i));
        log_raw(b);
    }
    sniprintf(b, sizeof(b), "  gdtr %016lx/%04lx idtr %016lx/%04lx idt-vectoring %lx exit-intr %lx\n",
              vmread(GUEST_GDTR_BASE), vmread(GUEST_GDTR_LIMIT), vmread(GUEST_IDTR_BASE),
              vmread(GUEST_IDTR_LIMIT), vmread(IDT_VECTORING_INFO_FIELD), vmread(VM_EXIT_INTR_INFO));
    log_raw(b);
}

/* SDM 3C 26.1.2: a task switch exits unconditionally (CALL/JMP to a TSS or
 * task gate, IRET with NT, an interrupt or exception through a task gate).
 * Lamina does not emulate it (SDM 3A 9.3: a dozen checks, each with its own
 * fault, and the TSS save/load in between): only 32-bit code uses it, in
 * practice a task gate for #DF, and there the guest is lost already. The CPU
 * stops with a message that names the task switch. */
void vmx_handle_task_switch(struct vcpu *v)
{
    static const char *const source[] = { "CALL", "IRET", "JMP", "an IDT task gate" };
    uint64_t qual = vmcs_read(EXIT_QUALIFICATION);
    uint32_t info = (uint32_t)vmcs_read(IDT_VECTORING_INFO_FIELD);
    char why[120], vec[16] = "";
    if (info & INTR_INFO_VALID)
        sniprintf(vec, sizeof(vec), " (vector %u)", info & 0xff);
    sniprintf(why, sizeof(why), "task switch through %s to TSS selector 0x%lx%s is not emulated",
              source[TASK_SWITCH_SOURCE(qual)], TASK_SWITCH_SELECTOR(qual), vec);
    vcpu_stop(v, why);
}

/* An exit in the middle of delivering an event (IDT-vectoring information,
 * SDM 3C 28.2.4) must deliver it again on the next entry. */
static void requeue_vectoring(struct vcpu *v)
{
    uint32_t info = (uint32_t)vmcs_read(IDT_VECTORING_INFO_FIELD);
    if (!(info & INTR_INFO_VALID))
        return;
    vmcs_write(VM_ENTRY_INTR_INFO_FIELD, info & ~(1u << 12));
    if (info & INTR_INFO_DELIVER_ERR)
        vmcs_write(VM_ENTRY_EXCEPTION_ERROR_CODE, vmcs_read(IDT_VECTORING_ERROR_CODE));
    vmcs_write(VM_ENTRY_INSTRUCTION_LEN, vmcs_read(VM_EXIT_INSTRUCTION_LEN));
    v->injected = true;
}

/* ------------------------------------------------------------------ NMIs
 * An NMI that arrives while the guest runs exits (NMI exiting); one that hits
 * VMX root is caught by the monitor's IDT (core/trap.c). Either way it is the
 * guest's, and it is delivered here as a virtual NMI (SDM 3C 26.7.1): the
 * guest's own NMI blocking then behaves as on bare metal (set by delivery,
 * cleared by its IRET). While the guest blocks NMIs, or STI or MOV SS blocks
 * events, or another event is being injected, NMI-window exiting brings the
 * CPU back as soon as it may take the NMI (SDM 3C 26.7.6). */

static void set_nmi_window(struct vmx_cpu *vc, bool on)
{
    if (vc->nmi_window == on)
        return;
    uint64_t proc = vmcs_read(CPU_BASED_VM_EXEC_CONTROL);
    vmcs_write(CPU_BASED_VM_EXEC_CONTROL, on ? proc | CPU_BASED_NMI_WINDOW_EXITING
                                             : proc & ~(uint64_t)CPU_BASED_NMI_WINDOW_EXITING);
    vc->nmi_window = on;
}

void vmx_handle_nmi_window(struct vcpu *v)
{
    set_nmi_window(vmx_cpu(v->pc), false);      /* the NMI goes in below */
}

/* The preemption timer ran out: zeroed by an NMI in root (be_nmi_in_root),
 * or, once in minutes, its idle value; the NMI, if any, goes in below. */
void vmx_handle_timer(struct vcpu *v)
{
    (void)v;
}

/* core/trap.c, on an NMI in VMX root: whatever the exit handler is doing,
 * the next entry exits at once (the timer's value is reloaded at each entry),
 * so the NMI waits no longer than that, even if the guest then halts. */
void be_nmi_in_root(struct percpu *pc)
{
    if (!(vmx.ctl.pin & PIN_BASED_VMX_PREEMPTION_TIMER) || !vmx_cpu(pc)->in_vmx)
        return;
    vmwrite(VMX_PREEMPTION_TIMER_VALUE, 0);
    vmx_cpu(pc)->timer_zeroed = true;
}

static void deliver_pending_nmi(struct vcpu *v)
{
    struct percpu *pc = v->pc;
    struct vmx_cpu *vc = vmx_cpu(pc);
    if (vc->timer_zeroed) {
        /* Before the pending flag is taken: an NMI after this zeroes it again. */
        vc->timer_zeroed = false;
        vmcs_write(VMX_PREEMPTION_TIMER_VALUE, PREEMPTION_TIMER_IDLE);
    }
    if (!pc->nmi_pending || vcpu_pending_init(v))
        return;
    if (vmcs_read(GUEST_ACTIVITY_STATE) == ACTIVITY_WAIT_FOR_SIPI) {
        pc->nmi_pending = false;   /* NMIs are blocked in wait-for-SIPI (SDM 3C 27.6.2) */
        return;
    }
    if (v->injected ||
        (vmcs_read(GUEST_INTERRUPTIBILITY_INFO) & (INTERRUPTIBILITY_NMI | INTERRUPTIBILITY_STI_MOVSS))) {
        set_nmi_window(vc, true);
        return;
    }
    if (!__atomic_exchange_n(&pc->nmi_pending, false, __ATOMIC_SEQ_CST))
        return;
    vmcs_write(VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | INTR_TYPE_NMI | 2);
    v->injected = true;
    set_nmi_window(vc, false);
}

void vmx_exit_handler(struct guest_regs *r);
void vmx_exit_handler(struct guest_regs *r)
{
    uint64_t t0 = rdtsc();
    uint32_t full = (uint32_t)vmcs_read(VM_EXIT_REASON), reason = full & 0xffff;
    const struct exit_entry *e =
        reason < NEXITS && (exits[reason].handler || exits[reason].insn) ? &exits[reason] : NULL;
    unsigned kind = e ? e->kind : LAMINA_EXIT_OTHER;
    struct vcpu v;
    vcpu_begin(&v, this_cpu(), r, kind);
    struct vmx_cpu *vc = vmx_cpu(v.pc);
    if (vc->ept_generation != vmx.ept_generation) {
        /* Another CPU changed the EPT (MTRR write): drop stale translations. */
        vc->ept_generation = vmx.ept_generation;
        vmx_flush_ept();
    }
    if (v.pc->trace_budget) {
        v.pc->trace_budget--;
        log_debug("cpu %u: exit %u qual 0x%lx rip %lx:%lx", v.pc->index, reason,
                  vmcs_read(EXIT_QUALIFICATION), vmcs_read(GUEST_CS_SELECTOR),
                  vmcs_read(GUEST_RIP));
    }
    if (full & (1u << 31))
        vcpu_stop(&v, "VM entry failed on guest state or MSR loading");
    if (!e) {
        char why[64];
        sniprintf(why, sizeof(why), "unexpected VM exit, reason %u", reason);
        vcpu_stop(&v, why);
    }
    if (e->in_delivery)
        requeue_vectoring(&v);
    if (e->insn)        /* GETSEC and the VMX instructions: as on a CPU without them */
        vcpu_virt_insn(&v, e->insn);
    else
        e->handler(&v);
    deliver_pending_nmi(&v);
#ifdef LAMINA_UNIT_TEST
    fake_view_check(&v);
#endif
    vcpu_end(&v, rdtsc() - t0);
}

void vmx_insn_failed(const char *insn, uint64_t operand, enum vmx_result r)
{
    struct percpu *pc = this_cpu();
    uint32_t err = r == VMX_FAIL_VALID ? vmx_instruction_error() : 0;
    pc->stopped = true;
    log_error("cpu %u: %s 0x%lx failed: %s, VM-instruction error %u (%s); guest stopped",
              pc->index, insn, operand, r == VMX_FAIL_VALID ? "VMfailValid" : "VMfailInvalid",
              err, r == VMX_FAIL_VALID ? vmx_error_name(err) : "no current VMCS");
    halt_forever();
}

void vmcs_read_failed(uint64_t field)
{
    uint64_t v;
    vmx_insn_failed("VMREAD", field, vmread_checked(field, &v));
}

void vmcs_write_failed(uint64_t field, uint64_t value)
{
    vmx_insn_failed("VMWRITE", field, vmwrite(field, value));
}

void vmx_resume_failed(int invalid) __attribute__((noreturn));
void vmx_resume_failed(int invalid)
{
    struct percpu *pc = this_cpu();
    uint32_t err = invalid ? 0 : vmx_instruction_error();
    pc->stopped = true;
    log_error("cpu %u: VMRESUME failed: %s, VM-instruction error %u (%s); guest stopped",
              pc->index, invalid ? "VMfailInvalid" : "VMfailValid", err,
              invalid ? "no current VMCS" : vmx_error_name(err));
    halt_forever();
}

/* SDM 3C 31.4, table 31-1. */
const char *vmx_error_name(uint32_t err)
{
    static const char *const names[] = {
        [1] = "VMCALL executed in VMX root operation",
        [2] = "VMCLEAR with invalid physical address",
        [3] = "VMCLEAR with VMXON pointer",
        [4] = "VMLAUNCH with non-clear VMCS",
        [5] = "VMRESUME with non-launched VMCS",
        [6] = "VMRESUME after VMXOFF",
        [7] = "VM entry with invalid control field(s)",
        [8] = "VM entry with invalid host-state field(s)",
        [9] = "VMPTRLD with invalid physical address",
        [10] = "VMPTRLD with VMXON pointer",
        [11] = "VMPTRLD with incorrect VMCS revision identifier",
        [12] = "VMREAD/VMWRITE from/to unsupported VMCS component",
        [13] = "VMWRITE to read-only VMCS component",
        [15] = "VMXON executed in VMX root operation",
        [16] = "VM entry with invalid executive-VMCS pointer",
        [17] = "VM entry with non-launched executive VMCS",
        [18] = "VM entry with executive-VMCS pointer not VMXON pointer",
        [19] = "VMCALL with non-clear VMCS",
        [20] = "VMCALL with invalid VM-exit control fields",
        [22] = "VMCALL with incorrect MSEG revision identifier",
        [23] = "VMXOFF under dual-monitor treatment of SMIs and SMM",
        [24] = "VMCALL with invalid SMM-monitor features",
        [25] = "VM entry with invalid VM-execution control fields in executive VMCS",
        [26] = "VM entry with events blocked by MOV SS",
        [28] = "Invalid operand to INVEPT/INVVPID",
    };
    if (err < sizeof(names) / sizeof(names[0]) && names[err])
        return names[err];
    return "unknown error";
}
