/* The VT-x backend's hand-off: capability checks on every CPU, the data it
 * needs in the monitor's reserved region (MSR and I/O bitmaps, a VMXON
 * region and a VMCS per CPU, the EPT), and the intercept bitmaps. Runs in
 * firmware context, before any CPU is a guest. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "core/arch.h"
#include "core/log.h"
#include "core/monitor.h"
#include "vmx/vmx.h"

#define PAGE 4096ull
/* Table pages kept for splitting large EPT leaves when the MTRRs change. */
/* Table pages kept after the build: splits after MTRR writes, and (M6) the
 * space above RAM mapped on first touch (a PDPT per 512 GiB slot touched, a
 * PD per GiB where 1 GiB leaves are not allowed or the types mix). */
#define EPT_RESERVE_PAGES (32 + 8)
#define SHARED_PAGES 3          /* MSR bitmap, I/O bitmaps A and B */
#define PERCPU_PAGES 3          /* VMXON region, VMCS, MSR lists */

struct vmx_state vmx;

void vmx_cpu_error(uint32_t cpu, const char *fmt, ...)
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
    c->pin = rdmsr(MSR_IA32_VMX_PINBASED_CTLS);
    c->proc = rdmsr(MSR_IA32_VMX_PROCBASED_CTLS);
    c->exit = rdmsr(MSR_IA32_VMX_EXIT_CTLS);
    c->entry = rdmsr(MSR_IA32_VMX_ENTRY_CTLS);
    c->misc = rdmsr(MSR_IA32_VMX_MISC);
    c->cr0_fixed0 = rdmsr(MSR_IA32_VMX_CR0_FIXED0);
    c->cr0_fixed1 = rdmsr(MSR_IA32_VMX_CR0_FIXED1);
    c->cr4_fixed0 = rdmsr(MSR_IA32_VMX_CR4_FIXED0);
    c->cr4_fixed1 = rdmsr(MSR_IA32_VMX_CR4_FIXED1);
    if (c->basic & VMX_BASIC_TRUE_CTLS) {       /* SDM 3C A.1: TRUE_ controls exist */
        c->true_pin = rdmsr(MSR_IA32_VMX_TRUE_PINBASED_CTLS);
        c->true_proc = rdmsr(MSR_IA32_VMX_TRUE_PROCBASED_CTLS);
        c->true_exit = rdmsr(MSR_IA32_VMX_TRUE_EXIT_CTLS);
        c->true_entry = rdmsr(MSR_IA32_VMX_TRUE_ENTRY_CTLS);
    }
    if (c->proc & ((uint64_t)CPU_BASED_ACTIVATE_SECONDARY_CONTROLS << 32)) {
        c->proc2 = rdmsr(MSR_IA32_VMX_PROCBASED_CTLS2);
        /* SDM 3C A.10: IA32_VMX_EPT_VPID_CAP exists if EPT or VPID may be 1 */
        if (c->proc2 & ((uint64_t)(SECONDARY_EXEC_ENABLE_EPT | SECONDARY_EXEC_ENABLE_VPID) << 32))
            c->ept_vpid = rdmsr(MSR_IA32_VMX_EPT_VPID_CAP);
    }
}

/* Everything that decides whether this CPU can run the monitor, changing nothing. */
int vmx_check_cpu(uint32_t cpu, struct vmx_caps *caps, struct vmx_controls *ctl)
{
    uint32_t r[4];
    const char *why = NULL;

    cpuid(1, 0, r);
    if (!(r[2] & (1u << 5))) {
        vmx_cpu_error(cpu, "VMX not supported by the processor (CPUID.1:ECX.VMX = 0)");
        return -1;
    }
    uint64_t fc = rdmsr(MSR_IA32_FEATURE_CONTROL);
    if ((fc & FEATURE_CONTROL_LOCKED) && !(fc & FEATURE_CONTROL_VMX_OUT_SMX)) {
        vmx_cpu_error(cpu, "VMX disabled by the firmware (IA32_FEATURE_CONTROL = 0x%lx: "
                      "locked, VMX outside SMX off)", fc);
        return -1;
    }
    if (read_cr4() & CR4_VMXE) {
        vmx_cpu_error(cpu, "CR4.VMXE is already set: another hypervisor owns VMX on this CPU");
        return -1;
    }
    read_caps(caps);
    if (vmx_compute_controls(caps, ctl, &why) != 0) {
        vmx_cpu_error(cpu, "%s", why);
        return -1;
    }
    /* Only CR0.NE may need setting for VMX (the firmware runs with PE and PG). */
    uint64_t cr0 = read_cr0(), fixed = vmx_fix_cr0(caps, cr0, false);
    if ((fixed & ~cr0 & ~CR0_NE) || (cr0 & ~fixed)) {
        vmx_cpu_error(cpu, "CR0 0x%lx cannot satisfy the VMX fixed bits (fixed0 0x%lx, "
                      "fixed1 0x%lx)", cr0, caps->cr0_fixed0, caps->cr0_fixed1);
        return -1;
    }
    if (!(caps->cr4_fixed1 & CR4_VMXE)) {
        vmx_cpu_error(cpu, "CR4.VMXE may not be set (IA32_VMX_CR4_FIXED1 = 0x%lx)",
                      caps->cr4_fixed1);
        return -1;
    }
    return 0;
}

int be_probe(void)
{
    if (vmx_check_cpu(0, &vmx.caps, &vmx.ctl) != 0) {
        memcpy(mon.bi->report->err, mon.bi->report->cpu[0].err, LAMINA_ERR_LEN);
        return -1;
    }
    vmx.ept_1g = vmx_ept_1g(&vmx.caps);
    uint64_t proc_cap = (vmx.caps.basic & VMX_BASIC_TRUE_CTLS) ? vmx.caps.true_proc : vmx.caps.proc;
    vmx.has_mtf = (proc_cap >> 32) & CPU_BASED_MONITOR_TRAP_FLAG;
    log_debug("vmx: basic %lx pin %x proc %x proc2 %x exit %x entry %x misc %lx ept/vpid %lx",
              vmx.caps.basic, vmx.ctl.pin, vmx.ctl.proc, vmx.ctl.proc2, vmx.ctl.exit,
              vmx.ctl.entry, vmx.caps.misc, vmx.caps.ept_vpid);
    vmx.wait_for_sipi = vmx_wait_for_sipi(&vmx.caps);
    if (mon.bi->ncpus > 1 && !vmx.wait_for_sipi) {
        report_error("cpu 0: the wait-for-SIPI activity state is not supported; it is needed "
                     "to restart application processors under the monitor");
        return -1;
    }
    return 0;
}

/* Any CPU: the same checks, and the same capabilities as the BSP (one VMCS
 * layout and one set of controls serves all). */
int be_cpu_check(uint32_t cpu)
{
    struct vmx_caps caps;
    struct vmx_controls ctl;
    if (vmx_check_cpu(cpu, &caps, &ctl) != 0)
        return -1;
    if (memcmp(&caps, &vmx.caps, sizeof(caps)) != 0) {
        vmx_cpu_error(cpu, "VMX capabilities differ from cpu 0's");
        return -1;
    }
    return 0;
}

/* Table pages the EPT will need: a counting run, plus room for the data
 * region (not yet placed) to be mapped with 4 KiB pages and split at both ends. */
static uint64_t plan_ept_pages(uint64_t other_pages)
{
    struct mem_range known[sizeof(mon.hidden) / sizeof(mon.hidden[0])];
    unsigned n = mon.nhidden;
    for (unsigned i = 0; i < n; i++)
        known[i] = mon.hidden[i];
    known[1].size = 0;      /* the data region: not placed yet */
    struct ept_pool count = { 0 };
    struct ept_params p = {
        .mtrr = &mon.mtrr, .limit = mon.bi->phys_limit,
        .hidden = known, .nhidden = n, .allow_1g = vmx.ept_1g,
    };
    uint64_t root;
    struct ept_stats st;
    ept_build(&p, &count, &root, &st);
    uint64_t data_pages = other_pages + count.used;
    return count.used + data_pages / 512 + 1 + data_pages / (512 * 512) + 1 + 4 +
           EPT_RESERVE_PAGES;
}

uint64_t be_plan_pages(uint64_t core_pages)
{
    uint64_t own = SHARED_PAGES + PERCPU_PAGES * (uint64_t)mon.bi->ncpus;
    return own + plan_ept_pages(core_pages + own);
}

static uint8_t *take(uint64_t *cursor, uint64_t pages)
{
    uint8_t *p = (uint8_t *)(uintptr_t)*cursor;
    *cursor += pages * PAGE;
    return p;
}

/* SDM 3C 25.6.4: bitmap A covers ports 0-0x7fff, B 0x8000-0xffff; a set bit exits. */
static void set_bit(uint8_t *map, unsigned bit, bool on)
{
    if (on)
        map[bit / 8] |= (uint8_t)(1u << (bit % 8));
    else
        map[bit / 8] &= (uint8_t)~(1u << (bit % 8));
}

void be_intercept_io(uint16_t port, unsigned count, bool trap)
{
    for (unsigned i = 0; i < count && port + i <= 0xffff; i++) {
        uint16_t p = (uint16_t)(port + i);
        set_bit(p < 0x8000 ? vmx.io_bitmap_a : vmx.io_bitmap_b, p & 0x7fff, trap);
    }
}

/* SDM 3C 25.6.9: read-low at 0, read-high at 1024, write-low at 2048,
 * write-high at 3072; one bit per MSR. MSRs outside both ranges always exit. */
void be_intercept_msr(uint32_t msr, unsigned dir, bool trap)
{
    if (msr > 0x1fff && (msr < 0xc0000000u || msr > 0xc0001fffu))
        return;
    unsigned bit = msr & 0x1fff, high = msr >= 0xc0000000u ? 1024 : 0;
    if (dir & POLICY_READ)
        set_bit(vmx.msr_bitmap + high, bit, trap);
    if (dir & POLICY_WRITE)
        set_bit(vmx.msr_bitmap + 2048 + high, bit, trap);
}

int be_setup(uint64_t *cursor, uint64_t end)
{
    vmx.msr_bitmap = take(cursor, 1);
    vmx.io_bitmap_a = take(cursor, 1);
    vmx.io_bitmap_b = take(cursor, 1);
    for (uint32_t i = 0; i < mon.bi->ncpus; i++) {
        struct vmx_cpu *vc = vmx_cpu(&mon.cpus[i]);
        vc->vmxon_region = take(cursor, 1);
        vc->vmcs = take(cursor, 1);
        vc->msr_area = take(cursor, 1);
        vc->vpid = i + 1;
    }
    /* VMX's own MSRs: the guest sees a CPU without VMX (vmx/guest.c). */
    be_intercept_msr(MSR_IA32_FEATURE_CONTROL, POLICY_READ | POLICY_WRITE, true);
    for (uint32_t m = MSR_IA32_VMX_BASIC; m <= MSR_IA32_VMX_LAST; m++)
        be_intercept_msr(m, POLICY_READ | POLICY_WRITE, true);
    /* CR0/CR4 bits VMX fixes are host-owned; the guest reads its own values
     * from the shadows (SDM 3C 26.3). CR4.VMXE reads as 0. */
    vmx.cr0_mask = vmx.caps.cr0_fixed0 & ~(CR0_PE | CR0_PG) & 0xffffffffull;
    vmx.cr4_mask = vmx.caps.cr4_fixed0 | CR4_VMXE;

    if (*cursor > end) {
        report_error("monitor data region too small (%lu KiB short)", (*cursor - end) / 1024);
        return -1;
    }
    struct ept_pool pool = { .base = (uint8_t *)(uintptr_t)*cursor, .npages = (end - *cursor) / PAGE };
    struct ept_params p = {
        .mtrr = &mon.mtrr, .limit = mon.bi->phys_limit,
        .hidden = mon.hidden, .nhidden = mon.nhidden, .allow_1g = vmx.ept_1g,
    };
    if (ept_build(&p, &pool, &vmx.ept_root, &vmx.ept_stats) != 0) {
        report_error("out of memory for EPT tables (%lu pages reserved)", (unsigned long)pool.npages);
        return -1;
    }
    vmx.eptp = ept_eptp(vmx.ept_root);
    /* What the build left of the pool stays in reserve for MTRR-driven splits. */
    vmx.ept_reserve = (struct ept_pool){
        .base = pool.base + pool.used * PAGE, .npages = pool.npages - pool.used,
    };
    *cursor = end;
    return 0;
}
