/* Taking a CPU into VMX operation and turning its current state into the
 * guest: capability checks, VMXON, the VMCS, VMLAUNCH. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "core/arch.h"
#include "core/cpuid.h"
#include "core/log.h"
#include "core/monitor.h"
#include "core/tsc.h"
#include "vmx/vmx.h"

_Static_assert(offsetof(struct devirt_ctx, gdtr_limit) == 110, "lgdt operand offset");
_Static_assert(offsetof(struct devirt_ctx, idtr_limit) == 126, "lidt operand offset");
_Static_assert(offsetof(struct devirt_ctx, regs) == 136, "regs offset");

/* ---------------------------------------------------------------- VMCS */

struct seg {
    uint16_t sel;
    uint64_t base;
    uint32_t limit;
    uint32_t ar;
};

#define AR_UNUSABLE (1u << 16)

/* Decode a GDT descriptor into the VMCS form (SDM 3C 25.4.1, access rights). */
static struct seg seg_from_gdt(uint64_t gdt_base, uint16_t gdt_limit, uint16_t sel, bool system)
{
    struct seg s = { .sel = sel };
    if ((sel & ~3u) == 0 || (sel & 4) || (uint32_t)(sel & ~7u) + 7 > gdt_limit) {
        s.ar = AR_UNUSABLE;
        return s;
    }
    const uint64_t *d = (const uint64_t *)(uintptr_t)(gdt_base + (sel & ~7u));
    uint64_t lo = d[0];
    s.base = ((lo >> 16) & 0xffffff) | ((lo >> 32) & 0xff000000);
    if (system)
        s.base |= d[1] << 32;
    s.limit = (uint32_t)((lo & 0xffff) | ((lo >> 32) & 0xf0000));
    s.ar = (uint32_t)(((lo >> 40) & 0xff) | (((lo >> 52) & 0xf) << 12));
    if (s.ar & (1u << 15))
        s.limit = (s.limit << 12) | 0xfff;
    if (!system)
        s.ar |= 1;       /* accessed: SDM 3C 27.3.1.2 wants it for usable code/data */
    return s;
}

enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDTR, SEG_TR, SEG_COUNT };

#define VMW(field, value)                                                             \
    do {                                                                              \
        if (vmwrite((field), (value)) != VMX_OK) {                                    \
            vmx_cpu_error(pc->index, "VMWRITE of field 0x%04x failed: VM-instruction "    \
                      "error %u (%s)", (unsigned)(field), vmx_instruction_error(),     \
                      vmx_error_name(vmx_instruction_error()));                       \
            return -1;                                                                \
        }                                                                             \
    } while (0)

static int write_segment(struct percpu *pc, int i, const struct seg *s)
{
    VMW(GUEST_ES_SELECTOR + 2 * i, s->sel);
    VMW(GUEST_ES_LIMIT + 2 * i, s->limit);
    VMW(GUEST_ES_AR_BYTES + 2 * i, s->ar);
    VMW(GUEST_ES_BASE + 2 * i, s->base);
    return 0;
}

/* Guest state = this CPU as it is now (SDM 3C 25.4), host state = the
 * monitor's own (25.5), controls computed from the capability MSRs (25.6-25.8). */
static int setup_vmcs(struct percpu *pc)
{
    struct dtr gdtr, idtr;
    sgdt(&gdtr);
    sidt(&idtr);
    uint16_t sels[SEG_COUNT] = {
        read_es(), read_cs(), read_ss(), read_ds(), read_fs(), read_gs(), read_ldtr(), read_tr(),
    };
    for (int i = 0; i < SEG_COUNT; i++) {
        struct seg s = seg_from_gdt(gdtr.base, gdtr.limit, sels[i], i >= SEG_LDTR);
        if (i == SEG_TR && (s.ar & AR_UNUSABLE)) {
            /* The firmware never loaded a TSS, but VM entry needs a usable busy
             * TSS in TR (SDM 3C 27.3.1.2): describe an empty one at 0. */
            s = (struct seg){ .sel = 0, .base = 0, .limit = 0x67, .ar = 0x8b };
        }
        if (write_segment(pc, i, &s) != 0)
            return -1;
    }
    VMW(GUEST_FS_BASE, rdmsr(MSR_FS_BASE));
    VMW(GUEST_GS_BASE, rdmsr(MSR_GS_BASE));
    VMW(GUEST_GDTR_BASE, gdtr.base);
    VMW(GUEST_GDTR_LIMIT, gdtr.limit);
    VMW(GUEST_IDTR_BASE, idtr.base);
    VMW(GUEST_IDTR_LIMIT, idtr.limit);

    uint64_t cr0 = read_cr0(), cr4 = read_cr4(), efer = rdmsr(MSR_EFER);
    VMW(GUEST_CR0, cr0);
    VMW(GUEST_CR3, read_cr3());
    VMW(GUEST_CR4, cr4);
    VMW(GUEST_DR7, read_dr7());
    VMW(GUEST_RFLAGS, read_rflags());
    VMW(GUEST_IA32_DEBUGCTL, rdmsr(MSR_IA32_DEBUGCTL));
    VMW(GUEST_SYSENTER_CS, rdmsr(MSR_IA32_SYSENTER_CS));
    VMW(GUEST_SYSENTER_ESP, rdmsr(MSR_IA32_SYSENTER_ESP));
    VMW(GUEST_SYSENTER_EIP, rdmsr(MSR_IA32_SYSENTER_EIP));
    VMW(GUEST_IA32_PAT, rdmsr(MSR_IA32_PAT));
    VMW(GUEST_IA32_EFER, efer);
    VMW(VMCS_LINK_POINTER, ~0ull);
    VMW(GUEST_ACTIVITY_STATE, 0);
    VMW(GUEST_INTERRUPTIBILITY_INFO, 0);
    VMW(GUEST_PENDING_DBG_EXCEPTIONS, 0);

    /* CR0/CR4 bits VMX fixes are host-owned (vmx/setup.c); the guest reads
     * its own values from the shadows (SDM 3C 26.3). CR4.VMXE reads as 0. */
    VMW(CR0_GUEST_HOST_MASK, vmx.cr0_mask);
    VMW(CR0_READ_SHADOW, cr0);
    VMW(CR4_GUEST_HOST_MASK, vmx.cr4_mask);
    VMW(CR4_READ_SHADOW, cr4 & ~CR4_VMXE);

    VMW(PIN_BASED_VM_EXEC_CONTROL, vmx.ctl.pin);
    VMW(CPU_BASED_VM_EXEC_CONTROL, vmx.ctl.proc);
    VMW(SECONDARY_VM_EXEC_CONTROL, vmx.ctl.proc2);
    VMW(VM_EXIT_CONTROLS, vmx.ctl.exit);
    uint32_t entry = vmx.ctl.entry;
    if (efer & EFER_LMA)
        entry |= VM_ENTRY_IA32E_MODE;
    VMW(VM_ENTRY_CONTROLS, entry);
    VMW(EXCEPTION_BITMAP, 0);
    VMW(PAGE_FAULT_ERROR_CODE_MASK, 0);
    VMW(PAGE_FAULT_ERROR_CODE_MATCH, 0);
    VMW(CR3_TARGET_COUNT, 0);
    /* The guest's TSC starts as the processor's; its writes move the offset
     * (core/tsc.h), never the processor's TSC the event log relies on. */
    VMW(TSC_OFFSET, 0);
    pc->tsc.offset = 0;
    pc->tsc.adjust = mon.tsc_adjust ? rdmsr(MSR_IA32_TSC_ADJUST) : 0;
    /* Transient execution (core/spec.h): IA32_SPEC_CTRL switched, IA32_FLUSH_CMD
     * at entry, through the MSR lists (SDM 3C 25.7.2, 25.8.2). The guest
     * starts with the firmware's IA32_SPEC_CTRL. */
    struct vmx_cpu *vc = vmx_cpu(pc);
    struct vmx_msr_plan mp = { .spec = &mon.spec };
    if (mon.spec.spec_ctrl)
        mp.guest_spec_ctrl = rdmsr(MSR_IA32_SPEC_CTRL);
    if (mon.perf_global_ctrl) {
        mp.perf_global_ctrl = true;
        mp.guest_perf_global_ctrl = rdmsr(MSR_IA32_PERF_GLOBAL_CTRL);
    }
    vmx_msr_lists_build(vc, vc->msr_area, &mp);
    VMW(VM_EXIT_MSR_STORE_ADDR, (uint64_t)(uintptr_t)vc->msr_guest);
    VMW(VM_EXIT_MSR_STORE_COUNT, vc->msr_store);
    VMW(VM_EXIT_MSR_LOAD_ADDR, (uint64_t)(uintptr_t)vc->msr_host);
    VMW(VM_EXIT_MSR_LOAD_COUNT, vc->msr_exit_load);
    VMW(VM_ENTRY_MSR_LOAD_ADDR, (uint64_t)(uintptr_t)vc->msr_guest);
    VMW(VM_ENTRY_MSR_LOAD_COUNT, vc->msr_entry_load);
    vmx_verw_on_entry = mon.spec.verw;
    VMW(VM_ENTRY_INTR_INFO_FIELD, 0);
    if (vmx.ctl.pin & PIN_BASED_VMX_PREEMPTION_TIMER)
        VMW(VMX_PREEMPTION_TIMER_VALUE, PREEMPTION_TIMER_IDLE);
    VMW(IO_BITMAP_A, (uint64_t)(uintptr_t)vmx.io_bitmap_a);
    VMW(IO_BITMAP_B, (uint64_t)(uintptr_t)vmx.io_bitmap_b);
    VMW(MSR_BITMAP, (uint64_t)(uintptr_t)vmx.msr_bitmap);
    VMW(EPT_POINTER, vmx.eptp);
    VMW(VIRTUAL_PROCESSOR_ID, vmx_cpu(pc)->vpid);
    /* SDM 3C 26.1.3: XSAVES/XRSTORS exit when IA32_XSS and this bitmap share
     * a bit. IA32_XSS never holds a hidden bit (core/msr.c); should one get
     * there all the same, the exit is unexpected and stops the guest. */
    if (vmx.ctl.proc2 & SECONDARY_EXEC_ENABLE_XSAVES)
        VMW(XSS_EXIT_BITMAP, XSS_HIDDEN);

    uint64_t host_cr4 = cr4;
    if (mon.xcr0_supported)
        host_cr4 |= CR4_OSXSAVE;    /* so the monitor can execute XSETBV for the guest */
    VMW(HOST_CR0, cr0);
    VMW(HOST_CR3, mon.host_cr3);
    VMW(HOST_CR4, host_cr4);
    VMW(HOST_CS_SELECTOR, HOST_SEL_CODE);
    VMW(HOST_SS_SELECTOR, HOST_SEL_DATA);
    VMW(HOST_DS_SELECTOR, HOST_SEL_DATA);
    VMW(HOST_ES_SELECTOR, HOST_SEL_DATA);
    VMW(HOST_FS_SELECTOR, HOST_SEL_DATA);
    VMW(HOST_GS_SELECTOR, HOST_SEL_DATA);
    VMW(HOST_TR_SELECTOR, HOST_SEL_TSS);
    VMW(HOST_FS_BASE, 0);
    VMW(HOST_GS_BASE, (uint64_t)(uintptr_t)pc);
    VMW(HOST_TR_BASE, (uint64_t)(uintptr_t)&pc->tss);
    VMW(HOST_GDTR_BASE, (uint64_t)(uintptr_t)pc->gdt);
    VMW(HOST_IDTR_BASE, (uint64_t)(uintptr_t)mon.idt);
    VMW(HOST_IA32_SYSENTER_CS, 0);
    VMW(HOST_IA32_SYSENTER_ESP, 0);
    VMW(HOST_IA32_SYSENTER_EIP, 0);
    VMW(HOST_IA32_PAT, PAT_DEFAULT);
    VMW(HOST_IA32_EFER, efer);
    VMW(HOST_RSP, (uint64_t)(uintptr_t)(pc->stack + HOST_STACK_SIZE - 16));
    VMW(HOST_RIP, (uint64_t)(uintptr_t)vmx_exit_entry);
    return 0;
}

static const char *vmx_result_text(enum vmx_result r)
{
    return r == VMX_FAIL_INVALID ? "VMfailInvalid" : "VMfailValid";
}

/* Undo what be_cpu_launch changed, for a failure before the guest runs. */
static void leave_vmx(struct percpu *pc, uint64_t cr4, uint64_t rflags)
{
    struct vmx_cpu *vc = vmx_cpu(pc);
    if (vc->in_vmx) {
        vmclear((uint64_t)(uintptr_t)vc->vmcs);
        vmxoff();
        vc->in_vmx = false;
    }
    write_cr4(cr4);
    write_rflags(rflags);
}

int be_cpu_launch(uint32_t cpu, uint64_t guest_rip, uint64_t guest_rsp)
{
    struct percpu *pc = &mon.cpus[cpu];
    struct vmx_cpu *vc = vmx_cpu(pc);
    uint64_t rflags = read_rflags();
    cli();
    uint64_t cr0 = read_cr0(), cr4 = read_cr4();
    enum vmx_result r;


    /* SDM 3C 24.7: lock IA32_FEATURE_CONTROL with VMX outside SMX if the
     * firmware left it unlocked (vmx_check_cpu refused locked-off). */
    uint64_t fc = rdmsr(MSR_IA32_FEATURE_CONTROL);
    if (!(fc & FEATURE_CONTROL_LOCKED))
        wrmsr(MSR_IA32_FEATURE_CONTROL, fc | FEATURE_CONTROL_LOCKED | FEATURE_CONTROL_VMX_OUT_SMX);

    /* SDM 3C 24.8: CR0 and CR4 fixed bits hold in VMX operation. */
    write_cr0(vmx_fix_cr0(&vmx.caps, cr0, false));
    write_cr4(vmx_fix_cr4(&vmx.caps, cr4) | CR4_VMXE);

    uint32_t rev = (uint32_t)(vmx.caps.basic & 0x7fffffff);
    memcpy(vc->vmxon_region, &rev, 4);
    memcpy(vc->vmcs, &rev, 4);
    r = vmxon((uint64_t)(uintptr_t)vc->vmxon_region);
    if (r != VMX_OK) {
        vmx_cpu_error(cpu, "VMXON failed (%s)", vmx_result_text(r));
        leave_vmx(pc, cr4, rflags);
        return -1;
    }
    vc->in_vmx = true;
    r = vmclear((uint64_t)(uintptr_t)vc->vmcs);
    if (r == VMX_OK)
        r = vmptrld((uint64_t)(uintptr_t)vc->vmcs);
    if (r != VMX_OK) {
        vmx_cpu_error(cpu, "VMCLEAR/VMPTRLD failed (%s, VM-instruction error %u)",
                  vmx_result_text(r), r == VMX_FAIL_VALID ? vmx_instruction_error() : 0);
        leave_vmx(pc, cr4, rflags);
        return -1;
    }
    if (setup_vmcs(pc) != 0) {
        leave_vmx(pc, cr4, rflags);
        return -1;
    }
    /* The guest resumes in the loader with the RFLAGS we had on entry. */
    if (vmwrite(GUEST_RFLAGS, rflags) != VMX_OK || vmwrite(GUEST_RIP, guest_rip) != VMX_OK ||
        vmwrite(GUEST_RSP, guest_rsp) != VMX_OK) {
        vmx_cpu_error(cpu, "VMWRITE of the guest RFLAGS/RIP/RSP failed");
        leave_vmx(pc, cr4, rflags);
        return -1;
    }
    monitor_cpu_entering(cpu);
    log_info("cpu %u (apic id %u): entering VMX non-root", cpu, pc->apic_id);

    int rc = vmx_launch();      /* returns only if VMLAUNCH failed */
    monitor_cpu_left(cpu);
    if (rc == 1) {
        uint32_t err = vmx_instruction_error();
        vmx_cpu_error(cpu, "VMLAUNCH failed: VM-instruction error %u (%s)", err, vmx_error_name(err));
    } else {
        vmx_cpu_error(cpu, "VMLAUNCH failed: VMfailInvalid (no current VMCS)");
    }
    leave_vmx(pc, cr4, rflags);
    return -1;
}
