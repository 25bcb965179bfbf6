/* Debug exceptions around the instructions the monitor emulates or refuses
 * (M6 item 4), end to end through the VT-x dispatcher on the fake VMCS
 * (tests/unit/fake_vmcs.c): the RFLAGS image a fault injected by the monitor
 * pushes, the single-step trap after an emulated instruction, and the
 * DR0-DR3 breakpoints its emulated accesses hit. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/arch.h"
#include "core/evlog.h"
#include "core/log.h"
#include "core/monitor.h"
#include "core/xsetbv.h"
#include "ept/ept.h"
#include "ept/mtrr.h"
#include "tests/unit/fake.h"
#include "vmx/vmx.h"

void vmx_exit_handler(struct guest_regs *r);

#define RIP0        0x1000ull
#define SS_AR_CPL0  0xc093u
#define CS_AR_64    0xa09bu
#define CS_AR_32    0xc09bu
#define EFER_64     (EFER_LME | EFER_LMA)
#define RF          (1ull << 16)
#define TF          (1ull << 8)
#define DR6_BS      (1ull << 14)
#define PDE_ENABLED (1ull << 12)    /* pending debug exceptions: an enabled breakpoint */
#define INFO_GP     (INTR_INFO_VALID_MASK | INTR_TYPE_HARD_EXCEPTION | 13u | INTR_INFO_DELIVER_CODE_MASK)
#define INFO_UD     (INTR_INFO_VALID_MASK | INTR_TYPE_HARD_EXCEPTION | 6u)
#define INFO_NMI    (INTR_INFO_VALID_MASK | INTR_TYPE_NMI_INTR | 2u)

static struct lamina_bootinfo bi;
static struct lamina_report report;
static struct percpu cpus[2];
static struct guest_regs regs;
static uint8_t *sink;

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

static int setup(void **state)
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
    bi.ncpus = 1;
    bi.report = &report;
    bi.phys_limit = FAKE_RAM_SIZE;
    bi.serial_port = FAKE_LOG_PORT;
    bi.policy.event_level = LOG_INFO;
    bi.nmemmap = 1;
    bi.memmap[0] = (struct lamina_memrange){ .base = 0, .pages = FAKE_RAM_SIZE / 4096, .type = 7 };
    log_init(FAKE_LOG_PORT, LOG_INFO);
    mon.cpus = cpus;
    cpus[0].self = &cpus[0];
    vmx_cpu(&cpus[0])->vpid = 1;
    fake_this_cpu = &cpus[0];
    mon.hidden[0] = (struct mem_range){ 0x400000, 0x10000 };
    mon.hidden[1] = (struct mem_range){ 0x500000, 0x10000 };
    mon.nhidden = 2;
    mon.maxphyaddr = 39;
    mon.xcr0_supported = XFEATURE_X87 | XFEATURE_SSE | XFEATURE_YMM;
    if (!sink)
        sink = aligned_alloc(4096, 4096);
    mon.sink_page = sink;
    vmx.caps = skx;
    vmx.cr0_mask = CR0_NE;
    vmx.cr4_mask = CR4_VMXE;
    vmx.has_mtf = true;
    return 0;
}

/* An exit at RIP0 of an instruction of len bytes, 64-bit guest at CPL 0,
 * RFLAGS as given, nothing blocking, no debug exception pending. */
static void exit_rf(uint32_t reason, uint64_t len, uint64_t rflags)
{
    fake_vmcs_set(VM_ENTRY_INTR_INFO_FIELD, 0);
    fake_vmcs_set(GUEST_ACTIVITY_STATE, 0);
    fake_vmcs_set(VM_EXIT_REASON, reason);
    fake_vmcs_set(GUEST_RIP, RIP0);
    fake_vmcs_set(VM_EXIT_INSTRUCTION_LEN, len);
    fake_vmcs_set(GUEST_INTERRUPTIBILITY_INFO, 0);
    fake_vmcs_set(GUEST_PENDING_DBG_EXCEPTIONS, 0);
    fake_vmcs_set(GUEST_CR0, CR0_PE | CR0_NE | CR0_PG);
    fake_vmcs_set(CR0_READ_SHADOW, CR0_PE | CR0_NE | CR0_PG);
    fake_vmcs_set(GUEST_CR4, CR4_PAE | CR4_VMXE);
    fake_vmcs_set(GUEST_CR3, 0);
    fake_vmcs_set(GUEST_IA32_EFER, EFER_64);
    fake_vmcs_set(GUEST_IA32_DEBUGCTL, 0);
    fake_vmcs_set(GUEST_DR7, 0x400);
    fake_vmcs_set(GUEST_CS_AR_BYTES, CS_AR_64);
    fake_vmcs_set(GUEST_SS_AR_BYTES, SS_AR_CPL0);
    fake_vmcs_set(GUEST_RFLAGS, rflags);
}

static void run(void)
{
    vmx_exit_handler(&regs);
}

static void assert_fault(uint32_t info)
{
    assert_int_equal(fake_vmcs_get(VM_ENTRY_INTR_INFO_FIELD), info);
    assert_int_equal(fake_vmcs_get(GUEST_RIP), RIP0);
}

/* ------------------------------------------------- item 4: RF on faults */

/* SDM 3A 18.3.1.1: every fault-class exception pushes RF = 1. VM-entry
 * injection pushes the guest RFLAGS as they are (SDM 3C 27.5.1), so the
 * monitor sets RF there; the handler itself runs with RF clear (delivery
 * clears it), as natively. */
static void injected_faults_push_rf(void **state)
{
    (void)state;
    /* #GP: a MOV to CR4 that sets VMXE. */
    exit_rf(EXIT_REASON_CR_ACCESS, 3, 0x202);
    fake_vmcs_set(EXIT_QUALIFICATION, 4 | (1 << 8));
    regs.rcx = CR4_PAE | CR4_VMXE;
    run();
    assert_fault(INFO_GP);
    assert_int_equal(fake_vmcs_get(GUEST_RFLAGS), 0x202 | RF);
    /* #GP: WRMSR of the locked IA32_FEATURE_CONTROL. */
    exit_rf(EXIT_REASON_MSR_WRITE, 2, 0x2);
    regs.rcx = MSR_IA32_FEATURE_CONTROL;
    run();
    assert_fault(INFO_GP);
    assert_int_equal(fake_vmcs_get(GUEST_RFLAGS), 0x2 | RF);
    /* #GP: RDMSR of a VMX capability MSR. */
    exit_rf(EXIT_REASON_MSR_READ, 2, 0x2);
    regs.rcx = MSR_IA32_VMX_BASIC;
    run();
    assert_fault(INFO_GP);
    assert_int_equal(fake_vmcs_get(GUEST_RFLAGS), 0x2 | RF);
    /* #UD: VMCALL without the magic, and VMXON. */
    exit_rf(EXIT_REASON_VMCALL, 3, 0x2);
    regs.rbx = 0;
    run();
    assert_fault(INFO_UD);
    assert_int_equal(fake_vmcs_get(GUEST_RFLAGS), 0x2 | RF);
    exit_rf(EXIT_REASON_VMON, 4, 0x2);
    run();
    assert_fault(INFO_UD);
    assert_int_equal(fake_vmcs_get(GUEST_RFLAGS), 0x2 | RF);
    /* #UD: XSETBV with CR4.OSXSAVE clear. */
    exit_rf(EXIT_REASON_XSETBV, 3, 0x2);
    regs.rax = 3;
    run();
    assert_fault(INFO_UD);
    assert_int_equal(fake_vmcs_get(GUEST_RFLAGS), 0x2 | RF);
}

/* A string I/O page fault (#PF, error code) also pushes RF = 1. */
static void string_io_page_fault_pushes_rf(void **state)
{
    (void)state;
    bi.policy.nrules = 1;
    bi.policy.rule[0] = (struct policy_rule){ .first = 0x80, .last = 0x80, .space = POLICY_IO,
                                              .action = POLICY_LOG, .dir = POLICY_RW };
    vmx.caps.basic |= VMX_BASIC_INOUT;
    exit_rf(EXIT_REASON_IO_INSTRUCTION, 2, 0x2);
    /* 64-bit paging with CR3 = 0: the PML4 at 0 is all zeros, nothing present. */
    memset(fake_ram, 0, 4096);
    fake_vmcs_set(EXIT_QUALIFICATION, 0x80ull << 16 | (1 << 4));       /* OUTSB */
    fake_vmcs_set(VMX_INSTRUCTION_INFO, (2u << 7) | (3u << 15));      /* 64-bit, DS */
    for (unsigned s = 0; s < 6; s++) {
        fake_vmcs_set(GUEST_ES_SELECTOR + 2 * s, 0x10);
        fake_vmcs_set(GUEST_ES_BASE + 2 * s, 0);
        fake_vmcs_set(GUEST_ES_LIMIT + 2 * s, 0xffffffff);
        fake_vmcs_set(GUEST_ES_AR_BYTES + 2 * s, s == 1 ? CS_AR_64 : 0xc093);
    }
    regs.rsi = 0x2000;
    run();
    assert_int_equal(fake_vmcs_get(VM_ENTRY_INTR_INFO_FIELD),
                     INTR_INFO_VALID_MASK | INTR_TYPE_HARD_EXCEPTION | 14u | INTR_INFO_DELIVER_CODE_MASK);
    assert_int_equal(fake_vmcs_get(GUEST_RFLAGS), 0x2 | RF);
    assert_int_equal(fake_cr2, 0x2000);
}

/* ------------------------------------- item 4: TF over emulated instructions */

/* The single-step trap after an instruction the monitor completed: RIP
 * past it, nothing injected, DR6.BS pending for the processor to deliver
 * (the VMCS pending debug exceptions, SDM 3C 25.4.2), RF cleared. */
static void assert_stepped(uint64_t len)
{
    assert_int_equal(fake_vmcs_get(GUEST_RIP), RIP0 + len);
    assert_false(fake_vmcs_get(VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID_MASK);
    assert_int_equal(fake_vmcs_get(GUEST_PENDING_DBG_EXCEPTIONS), DR6_BS);
    assert_true(fake_vmcs_get(GUEST_RFLAGS) & TF);
    assert_false(fake_vmcs_get(GUEST_RFLAGS) & RF);
}

static void tf_over_each_emulated_instruction(void **state)
{
    (void)state;
    fake_vmcs_set(VM_ENTRY_INTR_INFO_FIELD, 0);
    /* CPUID, also with stealth yes */
    exit_rf(EXIT_REASON_CPUID, 2, 0x2 | TF);
    regs.rax = 0;
    run();
    assert_stepped(2);
    bi.policy.stealth = 1;
    exit_rf(EXIT_REASON_CPUID, 2, 0x2 | TF);
    regs.rax = 0x40000000;
    run();
    assert_stepped(2);
    /* OUT to a logged port, IN from it */
    bi.policy.nrules = 1;
    bi.policy.rule[0] = (struct policy_rule){ .first = 0x80, .last = 0x80, .space = POLICY_IO,
                                              .action = POLICY_LOG, .dir = POLICY_RW };
    exit_rf(EXIT_REASON_IO_INSTRUCTION, 2, 0x2 | TF);
    fake_vmcs_set(EXIT_QUALIFICATION, 0x80ull << 16);
    run();
    assert_stepped(2);
    exit_rf(EXIT_REASON_IO_INSTRUCTION, 1, 0x2 | TF);
    fake_vmcs_set(EXIT_QUALIFICATION, 0x80ull << 16 | 8);
    run();
    assert_stepped(1);
    /* RDMSR, WRMSR (IA32_PAT, held in the VMCS) */
    fake_vmcs_set(GUEST_IA32_PAT, 0x0007040600070406ull);
    exit_rf(EXIT_REASON_MSR_READ, 2, 0x2 | TF);
    regs.rcx = MSR_IA32_PAT;
    run();
    assert_stepped(2);
    exit_rf(EXIT_REASON_MSR_WRITE, 2, 0x2 | TF);
    regs.rax = 0x00070406;
    regs.rdx = 0x00070406;
    run();
    assert_stepped(2);
    /* XSETBV */
    exit_rf(EXIT_REASON_XSETBV, 3, 0x2 | TF);
    fake_vmcs_set(GUEST_CR4, CR4_PAE | CR4_VMXE | CR4_OSXSAVE);
    regs.rax = 3;
    regs.rcx = 0;
    regs.rdx = 0;
    run();
    assert_stepped(3);
    /* VMCALL (a hypercall) */
    exit_rf(EXIT_REASON_VMCALL, 3, 0x2 | TF);
    regs.rax = LAMINA_HC_VERSION;
    regs.rbx = LAMINA_HC_MAGIC;
    run();
    assert_stepped(3);
    /* MOV to CR4 the monitor completes (a host-owned bit is involved) */
    exit_rf(EXIT_REASON_CR_ACCESS, 3, 0x2 | TF);
    fake_vmcs_set(EXIT_QUALIFICATION, 4 | (1 << 8));
    fake_vmcs_set(CR4_READ_SHADOW, CR4_PAE);
    regs.rcx = CR4_PAE | CR4_OSXSAVE;
    run();
    assert_stepped(3);
}

/* A fault is not followed by the step trap: the instruction did not complete. */
static void tf_over_a_fault_is_the_fault_alone(void **state)
{
    (void)state;
    exit_rf(EXIT_REASON_MSR_WRITE, 2, 0x2 | TF);
    regs.rcx = MSR_IA32_FEATURE_CONTROL;
    run();
    assert_fault(INFO_GP);
    assert_int_equal(fake_vmcs_get(GUEST_PENDING_DBG_EXCEPTIONS), 0);
}

/* IA32_DEBUGCTL.BTF: TF traps only after branches (SDM 3A 18.4.3); CPUID is none. */
static void btf_steps_over_no_emulated_instruction(void **state)
{
    (void)state;
    exit_rf(EXIT_REASON_CPUID, 2, 0x2 | TF);
    fake_vmcs_set(GUEST_IA32_DEBUGCTL, 2);
    regs.rax = 0;
    run();
    assert_int_equal(fake_vmcs_get(GUEST_RIP), RIP0 + 2);
    assert_int_equal(fake_vmcs_get(GUEST_PENDING_DBG_EXCEPTIONS), 0);
}

/* RF is cleared when an instruction completes (SDM 3A 18.3.1.1): an IRET
 * with RF = 1 in its frame onto CPUID must not suppress an instruction
 * breakpoint on the instruction after it. */
static void emulated_instruction_clears_rf(void **state)
{
    (void)state;
    exit_rf(EXIT_REASON_CPUID, 2, 0x202 | RF);
    regs.rax = 0;
    run();
    assert_int_equal(fake_vmcs_get(GUEST_RFLAGS), 0x202);
    assert_int_equal(fake_vmcs_get(GUEST_PENDING_DBG_EXCEPTIONS), 0);
}

/* MOV SS; CPUID with TF: the trap of MOV SS is held until after CPUID
 * (SDM 3A 7.8.3), the processor saved it as pending BS at the exit; the
 * emulated CPUID ends the blocking and the one #DB follows it. */
static void tf_after_mov_ss(void **state)
{
    (void)state;
    exit_rf(EXIT_REASON_CPUID, 2, 0x2 | TF);
    fake_vmcs_set(GUEST_INTERRUPTIBILITY_INFO, 2);          /* blocking by MOV SS */
    fake_vmcs_set(GUEST_PENDING_DBG_EXCEPTIONS, DR6_BS);
    regs.rax = 0;
    run();
    assert_int_equal(fake_vmcs_get(GUEST_INTERRUPTIBILITY_INFO), 0);
    assert_stepped(2);
}

/* A guest NMI and a step trap at once: the #DB (a trap of the previous
 * instruction) comes first (SDM 3A 7.9, table 7-2); an injection would drop
 * the pending #DB, so the NMI waits for its window. */
static void step_trap_before_an_nmi(void **state)
{
    (void)state;
    fake_vmcs_set(CPU_BASED_VM_EXEC_CONTROL, 0);
    cpus[0].nmi_pending = true;
    exit_rf(EXIT_REASON_CPUID, 2, 0x2 | TF);
    regs.rax = 0;
    run();
    assert_stepped(2);
    assert_true(fake_vmcs_get(CPU_BASED_VM_EXEC_CONTROL) & CPU_BASED_NMI_WINDOW_EXITING);
    assert_true(cpus[0].nmi_pending);
}

/* REP OUTSB with TF traps after every iteration (SDM 3A 18.3.1.4), RIP on
 * the instruction until the last, RF set so a breakpoint on it does not fire
 * again. */
static void tf_over_rep_string_io_steps_each_element(void **state)
{
    (void)state;
    bi.policy.nrules = 1;
    bi.policy.rule[0] = (struct policy_rule){ .first = 0x80, .last = 0x80, .space = POLICY_IO,
                                              .action = POLICY_LOG, .dir = POLICY_RW };
    vmx.caps.basic |= VMX_BASIC_INOUT;
    exit_rf(EXIT_REASON_IO_INSTRUCTION, 2, 0x2 | TF);
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
    fake_vmcs_set(EXIT_QUALIFICATION, 0x80ull << 16 | (1 << 5) | (1 << 4));   /* REP OUTSB */
    fake_vmcs_set(VMX_INSTRUCTION_INFO, (1u << 7) | (3u << 15));            /* 32-bit, DS */
    memcpy(fake_ram + 0x2000, "abc", 3);
    regs.rsi = 0x2000;
    regs.rcx = 3;
    run();
    assert_int_equal(fake_port_writes(0x80), 1);
    assert_int_equal(regs.rcx, 2);
    assert_int_equal(fake_vmcs_get(GUEST_RIP), RIP0);
    assert_int_equal(fake_vmcs_get(GUEST_PENDING_DBG_EXCEPTIONS), DR6_BS);
    assert_true(fake_vmcs_get(GUEST_RFLAGS) & RF);
}

static void build_ept(void)
{
    static uint8_t *pool_mem;
    if (!pool_mem)
        pool_mem = aligned_alloc(4096, 64 * 4096);
    memset(pool_mem, 0, 64 * 4096);
    struct mtrr_state m;
    memset(&m, 0, sizeof(m));
    m.enabled = true;
    m.def_type = MT_WB;
    m.phys_mask = (1ull << 39) - 1;
    struct mem_range hidden[2] = { { 0x400000, 0x10000 }, { 0x500000, 0x10000 } };
    struct ept_params p = { .mtrr = &m, .limit = FAKE_RAM_SIZE, .hidden = hidden, .nhidden = 2 };
    struct ept_pool pool = { .base = pool_mem, .npages = 64 };
    struct ept_stats st;
    assert_int_equal(ept_build(&p, &pool, &vmx.ept_root, &st), 0);
}

/* The TF stepping fallback (no MTF) in an STI shadow: VM entry demands BS
 * pending when TF = 1 with STI or MOV SS blocking (SDM 3C 27.3.1.5), and a
 * pending BS under STI blocking would be delivered before the instruction;
 * blocking by MOV SS holds it until after the one instruction and blocks
 * interrupts as STI does. */
static void tf_step_fallback_in_an_sti_shadow(void **state)
{
    (void)state;
    build_ept();
    vmx.has_mtf = false;
    exit_rf(EXIT_REASON_EPT_VIOLATION, 3, 0x202);
    fake_vmcs_set(GUEST_INTERRUPTIBILITY_INFO, 1);          /* blocking by STI */
    fake_vmcs_set(EXIT_QUALIFICATION, 1);
    fake_vmcs_set(GUEST_PHYSICAL_ADDRESS, 0x400010);
    fake_vmcs_set(IDT_VECTORING_INFO_FIELD, 0);
    fake_vmcs_set(EXCEPTION_BITMAP, 0);
    run();
    assert_true(fake_vmcs_get(GUEST_RFLAGS) & TF);
    assert_int_equal(fake_vmcs_get(GUEST_INTERRUPTIBILITY_INFO), 2);
    assert_int_equal(fake_vmcs_get(GUEST_PENDING_DBG_EXCEPTIONS), DR6_BS);
    /* Without blocking nothing else changes. */
    exit_rf(EXIT_REASON_MONITOR_TRAP_FLAG, 0, 0x202);       /* (reset the step) */
    vmx_cpu(&cpus[0])->stepping = false;
    exit_rf(EXIT_REASON_EPT_VIOLATION, 3, 0x202);
    fake_vmcs_set(EXIT_QUALIFICATION, 1);
    fake_vmcs_set(GUEST_PHYSICAL_ADDRESS, 0x400010);
    cpus[0].nredirect = 0;
    run();
    assert_int_equal(fake_vmcs_get(GUEST_INTERRUPTIBILITY_INFO), 0);
    assert_int_equal(fake_vmcs_get(GUEST_PENDING_DBG_EXCEPTIONS), 0);
}

/* ----------------------------- item 4: DR0-DR3 breakpoints on emulated accesses */

#define DR7_L(n)        (1ull << (2 * (n)))
#define DR7_RW(n, rw)   ((uint64_t)(rw) << (16 + 4 * (n)))
#define DR7_LEN(n, len) ((uint64_t)(len) << (18 + 4 * (n)))    /* 0 1, 1 2, 3 4, 2 8 bytes */

static void logged_port_0x80(void)
{
    bi.policy.nrules = 1;
    bi.policy.rule[0] = (struct policy_rule){ .first = 0x80, .last = 0x87, .space = POLICY_IO,
                                              .action = POLICY_LOG, .dir = POLICY_RW };
}

/* An I/O breakpoint (CR4.DE, RW = 10) covering an emulated OUT: a trap after
 * it with its B bit (SDM 3A 18.2.4, 18.2.5): pending with "enabled
 * breakpoint", RIP past the instruction. A disabled breakpoint matching as
 * well gets its B bit too; one that does not match does not. */
static void io_breakpoint_on_an_emulated_out(void **state)
{
    (void)state;
    logged_port_0x80();
    fake_dr[0] = 0x90;                              /* no match */
    fake_dr[1] = 0x80;                              /* 4 bytes: 0x80-0x83, enabled */
    fake_dr[2] = 0x82;                              /* 1 byte, disabled */
    exit_rf(EXIT_REASON_IO_INSTRUCTION, 1, 0x2);
    fake_vmcs_set(GUEST_CR4, CR4_PAE | CR4_VMXE | CR4_DE);
    fake_vmcs_set(GUEST_DR7, 0x400 | DR7_L(0) | DR7_RW(0, 2) | DR7_L(1) | DR7_RW(1, 2) |
                                 DR7_LEN(1, 3) | DR7_RW(2, 2));
    fake_vmcs_set(EXIT_QUALIFICATION, 0x82ull << 16 | 1);          /* OUT DX, AX to 0x82 */
    run();
    assert_int_equal(fake_vmcs_get(GUEST_RIP), RIP0 + 1);
    assert_int_equal(fake_vmcs_get(GUEST_PENDING_DBG_EXCEPTIONS), PDE_ENABLED | 0x2 | 0x4);
    /* With TF as well: one #DB, both causes in DR6. */
    exit_rf(EXIT_REASON_IO_INSTRUCTION, 1, 0x2 | TF);
    fake_vmcs_set(GUEST_CR4, CR4_PAE | CR4_VMXE | CR4_DE);
    fake_vmcs_set(GUEST_DR7, 0x400 | DR7_L(1) | DR7_RW(1, 2) | DR7_LEN(1, 3));
    fake_vmcs_set(EXIT_QUALIFICATION, 0x80ull << 16 | 8);          /* IN AL, DX */
    run();
    assert_int_equal(fake_vmcs_get(GUEST_PENDING_DBG_EXCEPTIONS), PDE_ENABLED | DR6_BS | 0x2);
}

/* No CR4.DE: RW = 10 is no I/O breakpoint. No enabled match: nothing. */
static void io_breakpoint_needs_de_and_an_enabled_match(void **state)
{
    (void)state;
    logged_port_0x80();
    fake_dr[0] = 0x80;
    exit_rf(EXIT_REASON_IO_INSTRUCTION, 1, 0x2);
    fake_vmcs_set(GUEST_DR7, 0x400 | DR7_L(0) | DR7_RW(0, 2));
    fake_vmcs_set(EXIT_QUALIFICATION, 0x80ull << 16);
    run();
    assert_int_equal(fake_vmcs_get(GUEST_PENDING_DBG_EXCEPTIONS), 0);
    exit_rf(EXIT_REASON_IO_INSTRUCTION, 1, 0x2);
    fake_vmcs_set(GUEST_CR4, CR4_PAE | CR4_VMXE | CR4_DE);
    fake_vmcs_set(GUEST_DR7, 0x400 | DR7_RW(0, 2));                /* not enabled */
    fake_vmcs_set(EXIT_QUALIFICATION, 0x80ull << 16);
    run();
    assert_int_equal(fake_vmcs_get(GUEST_PENDING_DBG_EXCEPTIONS), 0);
}

static void flat32_string_exit(uint64_t qual, uint64_t rflags)
{
    vmx.caps.basic |= VMX_BASIC_INOUT;
    exit_rf(EXIT_REASON_IO_INSTRUCTION, 2, rflags);
    fake_vmcs_set(GUEST_CR0, CR0_PE | CR0_NE);
    fake_vmcs_set(CR0_READ_SHADOW, CR0_PE | CR0_NE);
    fake_vmcs_set(GUEST_CR4, CR4_VMXE | CR4_DE);
    fake_vmcs_set(GUEST_IA32_EFER, 0);
    fake_vmcs_set(GUEST_CS_AR_BYTES, CS_AR_32);
    for (unsigned s = 0; s < 6; s++) {
        fake_vmcs_set(GUEST_ES_SELECTOR + 2 * s, 0x10);
        fake_vmcs_set(GUEST_ES_BASE + 2 * s, 0);
        fake_vmcs_set(GUEST_ES_LIMIT + 2 * s, 0xffffffff);
        fake_vmcs_set(GUEST_ES_AR_BYTES + 2 * s, s == 1 ? CS_AR_32 : 0xc093);
    }
    fake_vmcs_set(EXIT_QUALIFICATION, qual);
    fake_vmcs_set(VMX_INSTRUCTION_INFO, (1u << 7) | (3u << 15));            /* 32-bit, DS */
}

/* A data breakpoint (RW = 01, write) on the memory an emulated REP INSB
 * stores to: the trap follows the element that hit (SDM 3A 18.2.4: data
 * breakpoints are traps), RIP still on the REP with RF set. With a
 * breakpoint enabled, one element per exit. */
static void data_breakpoint_on_an_emulated_ins_store(void **state)
{
    (void)state;
    logged_port_0x80();
    fake_port_set(0x80, 0x5a);
    fake_dr[3] = 0x2001;
    flat32_string_exit(0x80ull << 16 | (1 << 5) | (1 << 4) | 8, 0x2);    /* REP INSB */
    fake_vmcs_set(GUEST_DR7, 0x400 | DR7_L(3) | DR7_RW(3, 1));
    regs.rdi = 0x2000;
    regs.rcx = 4;
    run();
    assert_int_equal(regs.rcx, 3);                  /* 0x2000: no hit */
    assert_int_equal(fake_vmcs_get(GUEST_PENDING_DBG_EXCEPTIONS), 0);
    flat32_string_exit(0x80ull << 16 | (1 << 5) | (1 << 4) | 8, 0x2 | RF);
    fake_vmcs_set(GUEST_DR7, 0x400 | DR7_L(3) | DR7_RW(3, 1));
    run();
    assert_int_equal(regs.rcx, 2);                  /* stopped after the element at 0x2001 */
    assert_int_equal(fake_ram[0x2001], 0x5a);
    assert_int_equal(fake_vmcs_get(GUEST_RIP), RIP0);
    assert_int_equal(fake_vmcs_get(GUEST_PENDING_DBG_EXCEPTIONS), PDE_ENABLED | 0x8);
    assert_true(fake_vmcs_get(GUEST_RFLAGS) & RF);
    /* A read/write breakpoint (RW = 11) on what an OUTSB reads. */
    fake_dr[3] = 0x3000;
    flat32_string_exit(0x80ull << 16 | (1 << 4), 0x2);                  /* OUTSB */
    fake_vmcs_set(GUEST_DR7, 0x400 | DR7_L(3) | DR7_RW(3, 3));
    regs.rsi = 0x3000;
    run();
    assert_int_equal(fake_vmcs_get(GUEST_RIP), RIP0 + 2);
    assert_int_equal(fake_vmcs_get(GUEST_PENDING_DBG_EXCEPTIONS), PDE_ENABLED | 0x8);
    /* A write breakpoint does not see that read. */
    flat32_string_exit(0x80ull << 16 | (1 << 4), 0x2);
    fake_vmcs_set(GUEST_DR7, 0x400 | DR7_L(3) | DR7_RW(3, 1));
    regs.rsi = 0x3000;
    run();
    assert_int_equal(fake_vmcs_get(GUEST_PENDING_DBG_EXCEPTIONS), 0);
}

/* The xAPIC page is read-only while INITs are emulated (two CPUs or more):
 * the monitor performs the guest's store to it, so a data breakpoint on
 * that store's linear address (the EPT violation reports it, SDM 3C 28.2.1
 * table 28-7 bit 7) is the monitor's to raise. */
static void data_breakpoint_on_an_emulated_xapic_store(void **state)
{
    (void)state;
    const uint64_t apic = 0x7fe000, tpr = apic + 0x80;
    build_ept();
    mon.trap_xapic = true;
    mon.apic_base = apic;
    fake_dr[0] = tpr;
    flat32_string_exit(0, 0x2);
    fake_vmcs_set(VM_EXIT_REASON, EXIT_REASON_EPT_VIOLATION);
    fake_vmcs_set(EXIT_QUALIFICATION, 2 | (1 << 7));        /* a write, linear address valid */
    fake_vmcs_set(GUEST_PHYSICAL_ADDRESS, tpr);
    fake_vmcs_set(GUEST_LINEAR_ADDRESS, tpr);
    fake_vmcs_set(IDT_VECTORING_INFO_FIELD, 0);
    fake_vmcs_set(GUEST_DR7, 0x400 | DR7_L(0) | DR7_RW(0, 1) | DR7_LEN(0, 3));
    fake_ram[RIP0] = 0x89;                                  /* mov %ecx, (%eax) */
    fake_ram[RIP0 + 1] = 0x08;
    regs.rax = tpr;
    regs.rcx = 0x10;
    run();
    assert_int_equal(*(uint32_t *)(fake_ram + tpr), 0x10);
    assert_int_equal(fake_vmcs_get(GUEST_RIP), RIP0 + 2);
    assert_int_equal(fake_vmcs_get(GUEST_PENDING_DBG_EXCEPTIONS), PDE_ENABLED | 0x1);
    /* TF over the same store, no breakpoint: the single-step trap. */
    flat32_string_exit(0, 0x2 | TF);
    fake_vmcs_set(VM_EXIT_REASON, EXIT_REASON_EPT_VIOLATION);
    fake_vmcs_set(EXIT_QUALIFICATION, 2 | (1 << 7));
    fake_vmcs_set(GUEST_PHYSICAL_ADDRESS, tpr);
    fake_vmcs_set(GUEST_LINEAR_ADDRESS, tpr);
    fake_vmcs_set(IDT_VECTORING_INFO_FIELD, 0);
    run();
    assert_int_equal(fake_vmcs_get(GUEST_RIP), RIP0 + 2);
    assert_int_equal(fake_vmcs_get(GUEST_PENDING_DBG_EXCEPTIONS), DR6_BS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(injected_faults_push_rf, setup),
        cmocka_unit_test_setup(string_io_page_fault_pushes_rf, setup),
        cmocka_unit_test_setup(tf_over_each_emulated_instruction, setup),
        cmocka_unit_test_setup(tf_over_a_fault_is_the_fault_alone, setup),
        cmocka_unit_test_setup(btf_steps_over_no_emulated_instruction, setup),
        cmocka_unit_test_setup(emulated_instruction_clears_rf, setup),
        cmocka_unit_test_setup(tf_after_mov_ss, setup),
        cmocka_unit_test_setup(step_trap_before_an_nmi, setup),
        cmocka_unit_test_setup(tf_over_rep_string_io_steps_each_element, setup),
        cmocka_unit_test_setup(tf_step_fallback_in_an_sti_shadow, setup),
        cmocka_unit_test_setup(io_breakpoint_on_an_emulated_out, setup),
        cmocka_unit_test_setup(io_breakpoint_needs_de_and_an_enabled_match, setup),
        cmocka_unit_test_setup(data_breakpoint_on_an_emulated_ins_store, setup),
        cmocka_unit_test_setup(data_breakpoint_on_an_emulated_xapic_store, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
