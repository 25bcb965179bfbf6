/* The exit-handler harness of tests/unit/test_exits.c, test_metal_exits.c
 * and test_sidedoor.c: a fake machine of
 * two CPUs, 8 MiB of RAM and Skylake-X VMX capabilities; exit_with() sets up
 * an exit the way the processor would, run() handles it. Static functions:
 * one including file per test binary. */
#ifndef LAMINA_TEST_EXIT_HARNESS_H
#define LAMINA_TEST_EXIT_HARNESS_H
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/apic.h"
#include "core/arch.h"
#include "core/cpuid.h"
#include "core/evlog.h"
#include "core/log.h"
#include "core/monitor.h"
#include "core/xsetbv.h"
#include "tests/unit/fake.h"
#include "vmx/vmx.h"

void vmx_exit_handler(struct guest_regs *r);
void io_summary_reset(void);

#define MON_BASE   0x400000ull      /* the monitor's image, hidden from the guest */
#define MON_SIZE   0x10000ull
#define DATA_BASE  0x500000ull      /* its data region */
#define DATA_SIZE  0x10000ull
#define APIC_PAGE  0x7fe000ull      /* the xAPIC page, inside the fake RAM */
#define RIP0       0x1000ull
#define SS_AR_CPL0 0xc093u
#define SS_AR_CPL3 0xc0f3u
#define CS_AR_64   0xa09bu          /* L = 1 */
#define CS_AR_32   0xc09bu          /* D = 1 */
#define EFER_64    (EFER_LME | EFER_LMA)
#define INFO_GP    (INTR_INFO_VALID_MASK | INTR_TYPE_HARD_EXCEPTION | 13u | INTR_INFO_DELIVER_CODE_MASK)
#define INFO_UD    (INTR_INFO_VALID_MASK | INTR_TYPE_HARD_EXCEPTION | 6u)

static struct lamina_bootinfo bi;
static struct lamina_report report;
static struct percpu cpus[2];
static struct guest_regs regs;
static uint8_t *sink;

/* Real Core i7-7800X capabilities (as in test_vmx_caps.c). */
static const struct vmx_caps skx = {
    .basic = 0x00da040000000004ull, .pin = 0x000000ff00000016ull,
    .proc = 0xfff9fffe0401e172ull, .exit = 0x01ffffff00036dffull,
    .entry = 0x0003ffff000011ffull, .true_pin = 0x000000ff00000016ull,
    .true_proc = 0xfff9fffe04006172ull, .true_exit = 0x01ffffff00036dfbull,
    .true_entry = 0x0003ffff000011fbull, .misc = 0x000000007004c1e7ull,
    .cr0_fixed0 = 0x80000021ull, .cr0_fixed1 = 0xffffffffull,
    .cr4_fixed0 = 0x00002000ull, .cr4_fixed1 = 0x003727ffull,
    .proc2 = 0x025d3fff00000000ull, .ept_vpid = 0x00000f0106734141ull,
};

static __attribute__((unused)) int setup(void **state)
{
    (void)state;
    fake_vmcs_reset();
    fake_hw_reset();
    evlog_reset();
    memset(&bi, 0, sizeof(bi));
    memset(&report, 0, sizeof(report));
    memset(cpus, 0, sizeof(cpus));
    memset(&regs, 0, sizeof(regs));
    memset(&mon, 0, sizeof(mon));
    memset(&vmx, 0, sizeof(vmx));
    mon.bi = &bi;
    bi.ncpus = 2;
    bi.report = &report;
    bi.phys_limit = FAKE_RAM_SIZE;
    bi.serial_port = FAKE_LOG_PORT;
    bi.policy.event_level = LOG_INFO;
    bi.nmemmap = 1;
    bi.memmap[0] = (struct lamina_memrange){ .base = 0, .pages = FAKE_RAM_SIZE / 4096, .type = 7 };
    log_init(FAKE_LOG_PORT, LOG_INFO);
    mon.cpus = cpus;
    for (unsigned i = 0; i < 2; i++) {
        cpus[i].self = &cpus[i];
        cpus[i].index = i;
        cpus[i].apic_id = i;
        mon.apic_ids[i] = i;
        vmx_cpu(&cpus[i])->vpid = i + 1;
    }
    fake_this_cpu = &cpus[0];
    mon.hidden[0] = (struct mem_range){ MON_BASE, MON_SIZE };
    mon.hidden[1] = (struct mem_range){ DATA_BASE, DATA_SIZE };
    mon.nhidden = 3;        /* image, data, the xAPIC slot (M8: no remapping units) */
    mon.maxphyaddr = 39;
    mon.xcr0_supported = XFEATURE_X87 | XFEATURE_SSE | XFEATURE_YMM;
    mon.nx = true;
    mon.tsc_adjust = true;
    mon.apic_base = APIC_PAGE;
    if (!sink)
        sink = aligned_alloc(4096, 4096);
    memset(sink, 0x5a, 4096);
    mon.sink_page = sink;
    vmx.caps = skx;
    vmx.cr0_mask = CR0_NE;
    vmx.cr4_mask = CR4_VMXE;
    vmx.has_mtf = true;
    vmx.wait_for_sipi = true;
    fake_msr_set(MSR_IA32_APIC_BASE, APIC_PAGE | APIC_BASE_EN);
    io_summary_reset();     /* core/io.c: printed once per machine */
    return 0;
}

/* An exit of `reason` at RIP0 by an instruction of `len` bytes, from a 64-bit
 * guest at CPL 0 with paging on and nothing blocking interrupts. */
static __attribute__((unused)) void exit_with(uint32_t reason, uint64_t len)
{
    /* Every VM exit clears the valid bit of the entry event (SDM 3C 28.2.1). */
    if (fake_vmcs_has(VM_ENTRY_INTR_INFO_FIELD))
        fake_vmcs_set(VM_ENTRY_INTR_INFO_FIELD, 0);
    fake_vmcs_set(VM_EXIT_REASON, reason);
    fake_vmcs_set(GUEST_RIP, RIP0);
    fake_vmcs_set(VM_EXIT_INSTRUCTION_LEN, len);
    fake_vmcs_set(GUEST_INTERRUPTIBILITY_INFO, 0);
    fake_vmcs_set(GUEST_CR0, CR0_PE | CR0_NE | CR0_PG);
    fake_vmcs_set(CR0_READ_SHADOW, CR0_PE | CR0_NE | CR0_PG);
    fake_vmcs_set(GUEST_CR4, CR4_PAE | CR4_VMXE);
    fake_vmcs_set(GUEST_CR3, 0);
    fake_vmcs_set(GUEST_IA32_EFER, EFER_64);
    fake_vmcs_set(GUEST_CS_AR_BYTES, CS_AR_64);
    fake_vmcs_set(GUEST_SS_AR_BYTES, SS_AR_CPL0);
    fake_vmcs_set(GUEST_RFLAGS, 0x2);
    fake_vmcs_set(GUEST_DR7, 0x400);                /* no breakpoint enabled */
}

/* The same guest with paging off in 32-bit protected mode: guest-linear is
 * guest-physical, as simple as it gets for tests that touch guest memory. */
static __attribute__((unused)) void exit_flat32(uint32_t reason, uint64_t len)
{
    exit_with(reason, len);
    fake_vmcs_set(GUEST_CR0, CR0_PE | CR0_NE);
    fake_vmcs_set(CR0_READ_SHADOW, CR0_PE | CR0_NE);
    fake_vmcs_set(GUEST_CR4, CR4_VMXE);
    fake_vmcs_set(GUEST_IA32_EFER, 0);
    fake_vmcs_set(GUEST_CS_AR_BYTES, CS_AR_32);
    for (unsigned s = 0; s < 6; s++) {
        fake_vmcs_set(GUEST_ES_SELECTOR + 2 * s, 0x10);
        fake_vmcs_set(GUEST_ES_BASE + 2 * s, 0);
        fake_vmcs_set(GUEST_ES_LIMIT + 2 * s, 0xffffffff);
        fake_vmcs_set(GUEST_ES_AR_BYTES + 2 * s, s == 1 ? CS_AR_32 : 0xc093);
    }
}

static __attribute__((unused)) void run(void)
{
    vmx_exit_handler(&regs);
}

/* Runs the exit; true if the monitor stopped the CPU. */
static __attribute__((unused)) bool run_stops(void)
{
    fake_halt_armed = true;
    if (setjmp(fake_halt_jmp) == 0) {
        vmx_exit_handler(&regs);
        fake_halt_armed = false;
        return false;
    }
    fake_halt_armed = false;
    return true;
}

static __attribute__((unused)) void assert_skipped(uint64_t len)
{
    assert_int_equal(fake_vmcs_get(GUEST_RIP), RIP0 + len);
    assert_false(fake_vmcs_has(VM_ENTRY_INTR_INFO_FIELD) &&
                 (fake_vmcs_get(VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID_MASK));
}

static __attribute__((unused)) void assert_injected(uint32_t info)
{
    assert_int_equal(fake_vmcs_get(VM_ENTRY_INTR_INFO_FIELD), info);
    if (info & INTR_INFO_DELIVER_CODE_MASK)
        assert_int_equal(fake_vmcs_get(VM_ENTRY_EXCEPTION_ERROR_CODE), 0);
    assert_int_equal(fake_vmcs_get(GUEST_RIP), RIP0);    /* faults do not advance RIP */
}

/* The newest event in the log. */
static __attribute__((unused)) struct lamina_event last_event(void)
{
    struct lamina_event e[64], none = { 0 };
    uint64_t cursor = 0, lost;
    long n = evlog_read(&cursor, e, 64, &lost);
    return n > 0 ? e[n - 1] : none;
}

static __attribute__((unused)) long event_count(void)
{
    struct lamina_event e[64];
    uint64_t cursor = 0, lost;
    return evlog_read(&cursor, e, 64, &lost);
}

#endif
