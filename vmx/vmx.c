/* Taking a CPU into VMX operation and turning its current state into the
 * guest: capability checks, VMXON, the VMCS, VMLAUNCH. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "core/arch.h"
#include "core/log.h"
#include "core/monitor.h"
#include "core/tsc.h"
#include "core/xsetbv.h"
#include "vmx/vmcs.h"
#include "vmx/vmx.h"

_Static_assert(offsetof(struct devirt_ctx, gdtr_limit) == 110, "lgdt operand offset");
_Static_assert(offsetof(struct devirt_ctx, idtr_limit) == 126, "lidt operand offset");
_Static_assert(offsetof(struct devirt_ctx, regs) == 136, "regs offset");

static void cpu_error(uint32_t cpu, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cpu_error(uint32_t cpu, const char *fmt, ...)
{
    struct lamina_cpu_info *ci = &mon.bi->report->cpu[cpu];
    va_list ap;
    int n = sniprintf(ci->err, sizeof(ci->err), "cpu %u: ", cpu);
    va_start(ap, fmt);
    vsniprintf(ci->err + n, sizeof(ci->err) - n, fmt, ap);
    va_end(ap);
    ci->state = CPU_STATE_FAILED;
}

static void read_caps(struct vmx_caps *c)
{
    memset(c, 0, sizeof(*c));
    c->basic = rdmsr(MSR_IA32_VMX_BASIC);
    c->pin = rdmsr(0x481);
    c->proc = rdmsr(0x482);
    c->exit = rdmsr(0x483);
    c->entry = rdmsr(0x484);
    c->misc = rdmsr(0x485);
    c->cr0_fixed0 = rdmsr(0x486);
    c->cr0_fixed1 = rdmsr(0x487);
    c->cr4_fixed0 = rdmsr(0x488);
    c->cr4_fixed1 = rdmsr(0x489);
    if (c->basic & (1ull << 55)) {       /* SDM 3C A.1: TRUE_ controls exist */
        c->true_pin = rdmsr(0x48d);
        c->true_proc = rdmsr(0x48e);
        c->true_exit = rdmsr(0x48f);
        c->true_entry = rdmsr(0x490);
    }
    if (c->proc & (1ull << (32 + 31))) {  /* secondary controls may be 1 */
        c->proc2 = rdmsr(0x48b);
        /* SDM 3C A.10: IA32_VMX_EPT_VPID_CAP exists if EPT or VPID may be 1 */
        if (c->proc2 & ((1ull << (32 + 1)) | (1ull << (32 + 5))))
            c->ept_vpid = rdmsr(0x48c);
    }
}

/* Everything that decides whether this CPU can run the monitor, changing nothing. */
static int check_this_cpu(uint32_t cpu, struct vmx_caps *caps, struct vmx_controls *ctl)
{
    uint32_t r[4];
    const char *why = NULL;

    cpuid(1, 0, r);
    if (!(r[2] & (1u << 5))) {
        cpu_error(cpu, "VMX not supported by the processor (CPUID.1:ECX.VMX = 0)");
        return -1;
    }
    uint64_t fc = rdmsr(MSR_IA32_FEATURE_CONTROL);
    if ((fc & FEATURE_CONTROL_LOCKED) && !(fc & FEATURE_CONTROL_VMX_OUT_SMX)) {
        cpu_error(cpu, "VMX disabled by the firmware (IA32_FEATURE_CONTROL = 0x%lx: locked, "
                  "VMX outside SMX off)", fc);
        return -1;
    }
    if (read_cr4() & CR4_VMXE) {
        cpu_error(cpu, "CR4.VMXE is already set: another hypervisor owns VMX on this CPU");
        return -1;
    }
    read_caps(caps);
    if (vmx_compute_controls(caps, ctl, &why) != 0) {
        cpu_error(cpu, "%s", why);
        return -1;
    }
    /* Only CR0.NE may need setting for VMX (the firmware runs with PE and PG). */
    uint64_t cr0 = read_cr0(), fixed = vmx_fix_cr0(caps, cr0, false);
    if ((fixed & ~cr0 & ~CR0_NE) || (cr0 & ~fixed)) {
        cpu_error(cpu, "CR0 0x%lx cannot satisfy the VMX fixed bits (fixed0 0x%lx, fixed1 0x%lx)",
                  cr0, caps->cr0_fixed0, caps->cr0_fixed1);
        return -1;
    }
    if (!(caps->cr4_fixed1 & CR4_VMXE)) {
        cpu_error(cpu, "CR4.VMXE may not be set (IA32_VMX_CR4_FIXED1 = 0x%lx)", caps->cr4_fixed1);
        return -1;
    }
    return 0;
}

int vmx_probe_bsp(void)
{
    if (check_this_cpu(0, &mon.caps, &mon.ctl) != 0) {
        memcpy(mon.bi->report->err, mon.bi->report->cpu[0].err, LAMINA_ERR_LEN);
        return -1;
    }
    mon.ept_1g = vmx_ept_1g(&mon.caps);
    /* With several CPUs the guest's INIT IPIs go through the monitor. In
     * x2APIC mode the ICR is an MSR (trapped by the bitmap); in xAPIC mode
     * its page is made read-only in the EPT and the stores are emulated. */
    uint64_t apic = rdmsr(MSR_IA32_APIC_BASE);
    mon.apic_base = apic & 0x000ffffffffff000ull;
    mon.trap_xapic = mon.bi->ncpus > 1 && (apic & APIC_BASE_EN) && !(apic & APIC_BASE_EXTD) &&
                     mon.apic_base < mon.bi->phys_limit;
    uint64_t proc_cap = (mon.caps.basic & (1ull << 55)) ? mon.caps.true_proc : mon.caps.proc;
    mon.has_mtf = (proc_cap >> 32) & CPU_BASED_MONITOR_TRAP_FLAG;
    log_debug("vmx: basic %lx pin %x proc %x proc2 %x exit %x entry %x misc %lx ept/vpid %lx",
              mon.caps.basic, mon.ctl.pin, mon.ctl.proc, mon.ctl.proc2, mon.ctl.exit,
              mon.ctl.entry, mon.caps.misc, mon.caps.ept_vpid);
    mon.wait_for_sipi = vmx_wait_for_sipi(&mon.caps);
    if (mon.bi->ncpus > 1 && !mon.wait_for_sipi) {
        report_error("cpu 0: the wait-for-SIPI activity state is not supported; it is needed "
                     "to restart application processors under the monitor");
        return -1;
    }
    uint32_t r[4];
    cpuid(0x80000008, 0, r);
    mon.maxphyaddr = r[0] & 0xff;
    mtrr_read(&mon.mtrr, rdmsr, mon.maxphyaddr);
    cpuid(1, 0, r);
    if (r[2] & (1u << 26)) {           /* XSAVE */
        cpuid(0xd, 0, r);
        mon.xcr0_supported = ((uint64_t)r[3] << 32) | r[0];
    }
    cpuid(7, 0, r);
    mon.la57 = r[2] & (1u << 16);
    mon.tsc_adjust = r[1] & (1u << 1);
    cpuid(0x80000001, 0, r);
    mon.nx = r[3] & (1u << 20);
    mon.bi->report->cpu[0].state = CPU_STATE_CHECKED;
    return 0;
}

/* Any CPU: the same checks, and the same capabilities as the BSP (one VMCS
 * layout and one set of controls serves all). */
int vmx_cpu_check(uint32_t cpu)
{
    struct vmx_caps caps;
    struct vmx_controls ctl;
    if (cpu >= mon.bi->ncpus)
        return -1;
    if (check_this_cpu(cpu, &caps, &ctl) != 0)
        return -1;
    if (memcmp(&caps, &mon.caps, sizeof(caps)) != 0) {
        cpu_error(cpu, "VMX capabilities differ from cpu 0's");
        return -1;
    }
    mon.bi->report->cpu[cpu].state = CPU_STATE_CHECKED;
    return 0;
}

void vmx_msr_bitmap_init(uint8_t *bitmap)
{
    /* SDM 3C 25.6.9: read-low at 0, read-high at 1024, write-low at 2048,
     * write-high at 3072; one bit per MSR. A set bit makes the access exit. */
    static const struct { uint32_t first, last; } trapped[] = {
        { MSR_IA32_FEATURE_CONTROL, MSR_IA32_FEATURE_CONTROL },
        { MSR_IA32_VMX_BASIC, MSR_IA32_VMX_LAST },
    };
    for (size_t i = 0; i < sizeof(trapped) / sizeof(trapped[0]); i++) {
        for (uint32_t m = trapped[i].first; m <= trapped[i].last; m++) {
            bitmap[m / 8] |= 1u << (m % 8);
            bitmap[2048 + m / 8] |= 1u << (m % 8);
        }
    }
    /* Write-only traps: the x2APIC ICR (INIT IPIs are emulated, vmx/exit.c),
     * the microcode update trigger (refused), IA32_APIC_BASE (the guest
     * may not move the APIC page), the TSC pair (below) and IA32_RTIT_CTL
     * (Intel PT is hidden). */
    static const uint32_t write_trapped[] = { MSR_X2APIC_ICR, MSR_IA32_BIOS_UPDT_TRIG,
                                              MSR_IA32_APIC_BASE, MSR_IA32_TSC,
                                              MSR_IA32_TSC_ADJUST, MSR_IA32_RTIT_CTL };
    for (size_t i = 0; i < sizeof(write_trapped) / sizeof(write_trapped[0]); i++)
        bitmap[2048 + write_trapped[i] / 8] |= 1u << (write_trapped[i] % 8);
    /* The TSC and IA32_TSC_ADJUST are the guest's own (core/tsc.h): writes
     * exit, and so do reads of IA32_TSC_ADJUST (the TSC offset covers RDMSR
     * of the TSC). */
    bitmap[MSR_IA32_TSC_ADJUST / 8] |= 1u << (MSR_IA32_TSC_ADJUST % 8);
    /* The policy's MSRs, in the directions its rules name. */
    const struct lamina_policy *p = &mon.bi->policy;
    for (uint32_t i = 0; i < p->nrules && i < POLICY_MAX_RULES; i++) {
        const struct policy_rule *rule = &p->rule[i];
        if (rule->space != POLICY_MSR)
            continue;
        for (uint64_t m = rule->first; m <= rule->last; m++) {
            if (!policy_msr_coverable((uint32_t)m))
                continue;       /* refused at load; never a stray bit */
            uint32_t bit = (uint32_t)m & 0x1fff, high = m >= 0xc0000000u ? 1024 : 0;
            if (rule->dir & POLICY_READ)
                bitmap[high + bit / 8] |= 1u << (bit % 8);
            if (rule->dir & POLICY_WRITE)
                bitmap[2048 + high + bit / 8] |= 1u << (bit % 8);
        }
    }
}

/* ---------------------------------------------------------------- VMCS */

struct seg {
    uint16_t sel;
    uint64_t base;
    uint32_t limit;
    uint32_t ar;
};

#define AR_UNUSABLE (1u << 16)

/* Decode a GDT descriptor into the VMCS form (SDM 3C 24.4.1, access rights). */
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
        s.ar |= 1;       /* accessed: SDM 3C 26.3.1.2 wants it for usable code/data */
    return s;
}

enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDTR, SEG_TR, SEG_COUNT };

#define VMW(field, value)                                                             \
    do {                                                                              \
        if (vmwrite((field), (value)) != VMX_OK) {                                    \
            cpu_error(pc->index, "VMWRITE of field 0x%04x failed: VM-instruction "    \
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

/* Guest state = this CPU as it is now (SDM 3C 24.4), host state = the
 * monitor's own (24.5), controls computed from the capability MSRs (24.6-24.8). */
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
             * TSS in TR (SDM 3C 26.3.1.2): describe an empty one at 0. */
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

    /* CR0/CR4 bits VMX fixes are host-owned; the guest reads its own values
     * from the shadows (SDM 3C 25.3). CR4.VMXE reads as 0. */
    uint64_t cr0_mask = mon.caps.cr0_fixed0 & ~(CR0_PE | CR0_PG) & 0xffffffffull;
    VMW(CR0_GUEST_HOST_MASK, cr0_mask);
    VMW(CR0_READ_SHADOW, cr0);
    VMW(CR4_GUEST_HOST_MASK, mon.caps.cr4_fixed0 | CR4_VMXE);
    VMW(CR4_READ_SHADOW, cr4 & ~CR4_VMXE);

    VMW(PIN_BASED_VM_EXEC_CONTROL, mon.ctl.pin);
    VMW(CPU_BASED_VM_EXEC_CONTROL, mon.ctl.proc);
    VMW(SECONDARY_VM_EXEC_CONTROL, mon.ctl.proc2);
    VMW(VM_EXIT_CONTROLS, mon.ctl.exit);
    uint32_t entry = mon.ctl.entry;
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
    VMW(VM_EXIT_MSR_STORE_COUNT, 0);
    VMW(VM_EXIT_MSR_LOAD_COUNT, 0);
    VMW(VM_ENTRY_MSR_LOAD_COUNT, 0);
    VMW(VM_ENTRY_INTR_INFO_FIELD, 0);
    VMW(IO_BITMAP_A, (uint64_t)(uintptr_t)mon.io_bitmap_a);
    VMW(IO_BITMAP_B, (uint64_t)(uintptr_t)mon.io_bitmap_b);
    VMW(MSR_BITMAP, (uint64_t)(uintptr_t)mon.msr_bitmap);
    VMW(EPT_POINTER, mon.eptp);
    VMW(VIRTUAL_PROCESSOR_ID, pc->vpid);
    if (mon.ctl.proc2 & SECONDARY_EXEC_ENABLE_XSAVES)
        VMW(XSS_EXIT_BITMAP, 0);

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

/* Undo what cpu_launch changed, for a failure before the guest runs. */
static void leave_vmx(struct percpu *pc, uint64_t cr4, uint64_t rflags)
{
    if (pc->in_vmx) {
        vmclear((uint64_t)(uintptr_t)pc->vmcs);
        vmxoff();
        pc->in_vmx = false;
    }
    write_cr4(cr4);
    write_rflags(rflags);
}

int vmx_cpu_launch(uint32_t cpu, uint64_t guest_rip, uint64_t guest_rsp)
{
    if (cpu >= mon.bi->ncpus)
        return -1;
    struct percpu *pc = &mon.cpus[cpu];
    struct lamina_cpu_info *ci = &mon.bi->report->cpu[cpu];
    uint64_t rflags = read_rflags();
    cli();
    uint64_t cr0 = read_cr0(), cr4 = read_cr4();
    enum vmx_result r;


    /* SDM 3C 24.7: lock IA32_FEATURE_CONTROL with VMX outside SMX if the
     * firmware left it unlocked (check_this_cpu refused locked-off). */
    uint64_t fc = rdmsr(MSR_IA32_FEATURE_CONTROL);
    if (!(fc & FEATURE_CONTROL_LOCKED))
        wrmsr(MSR_IA32_FEATURE_CONTROL, fc | FEATURE_CONTROL_LOCKED | FEATURE_CONTROL_VMX_OUT_SMX);

    /* SDM 3C 24.8: CR0 and CR4 fixed bits hold in VMX operation. */
    write_cr0(vmx_fix_cr0(&mon.caps, cr0, false));
    write_cr4(vmx_fix_cr4(&mon.caps, cr4) | CR4_VMXE);

    uint32_t rev = (uint32_t)(mon.caps.basic & 0x7fffffff);
    memcpy(pc->vmxon_region, &rev, 4);
    memcpy(pc->vmcs, &rev, 4);
    r = vmxon((uint64_t)(uintptr_t)pc->vmxon_region);
    if (r != VMX_OK) {
        cpu_error(cpu, "VMXON failed (%s)", vmx_result_text(r));
        leave_vmx(pc, cr4, rflags);
        return -1;
    }
    pc->in_vmx = true;
    r = vmclear((uint64_t)(uintptr_t)pc->vmcs);
    if (r == VMX_OK)
        r = vmptrld((uint64_t)(uintptr_t)pc->vmcs);
    if (r != VMX_OK) {
        cpu_error(cpu, "VMCLEAR/VMPTRLD failed (%s, VM-instruction error %u)",
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
        cpu_error(cpu, "VMWRITE of the guest RFLAGS/RIP/RSP failed");
        leave_vmx(pc, cr4, rflags);
        return -1;
    }
    ci->state = CPU_STATE_GUEST;
    __atomic_add_fetch(&mon.cpus_virtualized, 1, __ATOMIC_SEQ_CST);
    log_info("cpu %u (apic id %u): entering VMX non-root", cpu, pc->apic_id);

    int rc = vmx_launch();      /* returns only if VMLAUNCH failed */
    __atomic_sub_fetch(&mon.cpus_virtualized, 1, __ATOMIC_SEQ_CST);
    if (rc == 1) {
        uint32_t err = vmx_instruction_error();
        cpu_error(cpu, "VMLAUNCH failed: VM-instruction error %u (%s)", err, vmx_error_name(err));
    } else {
        cpu_error(cpu, "VMLAUNCH failed: VMfailInvalid (no current VMCS)");
    }
    leave_vmx(pc, cr4, rflags);
    return -1;
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
