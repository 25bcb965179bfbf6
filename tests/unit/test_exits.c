/* The exit handlers, end to end on the host: each test sets the VMCS fields
 * and registers an exit would have (tests/unit/fake_vmcs.c), runs the VT-x
 * dispatcher (vmx/exit.c) into the vendor-neutral core, and checks what was
 * written back: registers, RIP, an injected event, the event log, the
 * hardware the monitor touched. */
#include "tests/unit/exit_harness.h"
#include "core/vcpu.h"

/* ------------------------------------------------------------------ CPUID */

static void cpuid_signature_with_one_vmread_per_field(void **state)
{
    (void)state;
    exit_with(EXIT_REASON_CPUID, 2);
    regs.rax = LAMINA_CPUID_BASE;
    run();
    assert_int_equal(regs.rax, LAMINA_CPUID_MAX_LEAF);
    assert_int_equal(regs.rbx, LAMINA_CPUID_SIG_EBX);
    assert_int_equal(regs.rcx, LAMINA_CPUID_SIG_ECX);
    assert_int_equal(regs.rdx, LAMINA_CPUID_SIG_EDX);
    assert_skipped(2);
    /* The lazy guest view: exit reason, RIP, length, interruptibility and
     * RFLAGS (RF and TF at the end of an instruction, core/debug.c), each
     * read once, and nothing else (CR4 only matters to leaves 1 and 7). */
    assert_int_equal(fake_vmcs_reads(VM_EXIT_REASON), 1);
    assert_int_equal(fake_vmcs_reads(GUEST_RIP), 1);
    assert_int_equal(fake_vmcs_reads(GUEST_RFLAGS), 1);
    assert_int_equal(fake_vmcs_reads(GUEST_CR4), 0);
    assert_int_equal(fake_vmcs_reads(EXIT_QUALIFICATION), 0);
    assert_int_equal(fake_vmcs_reads(IDT_VECTORING_INFO_FIELD), 0);
    assert_int_equal(fake_vmcs_total_reads(), 5);
    assert_int_equal(cpus[0].exits[LAMINA_EXIT_CPUID], 1);
    assert_true(cpus[0].ticks[LAMINA_EXIT_CPUID] > 0);
    /* Leaf 1 does need CR4 (OSXSAVE), once. */
    exit_with(EXIT_REASON_CPUID, 2);
    regs.rax = 1;
    run();
    assert_int_equal(fake_vmcs_reads(GUEST_CR4), 1);
}

static void cpuid_leaf1_hides_vmx(void **state)
{
    (void)state;
    fake_cpuid_set(1, 0, 0x50654, 0, CPUID_1_ECX_VMX | CPUID_1_ECX_XSAVE, 0);
    exit_with(EXIT_REASON_CPUID, 2);
    fake_vmcs_set(GUEST_CR4, CR4_PAE | CR4_VMXE | CR4_OSXSAVE);
    regs.rax = 1;
    run();
    assert_false(regs.rcx & CPUID_1_ECX_VMX);
    assert_true(regs.rcx & CPUID_1_ECX_HYPERVISOR);
    assert_true(regs.rcx & CPUID_1_ECX_OSXSAVE);    /* the guest's CR4.OSXSAVE */
    assert_int_equal(regs.rax, 0x50654);
}

static void cpuid_stealth(void **state)
{
    (void)state;
    bi.policy.stealth = 1;
    fake_cpuid_set(1, 0, 0, 0, CPUID_1_ECX_VMX, 0);
    fake_cpuid_set(LAMINA_CPUID_BASE, 0, 0x11, 0x22, 0x33, 0x44);
    exit_with(EXIT_REASON_CPUID, 2);
    regs.rax = 1;
    run();
    assert_int_equal(regs.rcx, 0);                  /* no VMX, no hypervisor bit */
    exit_with(EXIT_REASON_CPUID, 2);
    regs.rax = LAMINA_CPUID_BASE;
    run();
    assert_int_equal(regs.rbx, 0x22);               /* the processor's own answer */
}

static void emulated_instruction_ends_sti_blocking(void **state)
{
    (void)state;
    exit_with(EXIT_REASON_CPUID, 2);
    fake_vmcs_set(GUEST_INTERRUPTIBILITY_INFO, 1 | INTERRUPTIBILITY_NMI);
    regs.rax = 0;
    run();
    assert_int_equal(fake_vmcs_get(GUEST_INTERRUPTIBILITY_INFO), INTERRUPTIBILITY_NMI);
}

/* ------------------------------------------------------------------- MSRs */

static void rdmsr_vmx_capability_is_gp(void **state)
{
    (void)state;
    fake_msr_set(MSR_IA32_VMX_BASIC, skx.basic);
    exit_with(EXIT_REASON_MSR_READ, 2);
    regs.rcx = MSR_IA32_VMX_BASIC;
    run();
    assert_injected(INFO_GP);
    assert_int_equal(regs.rax, 0);
}

static void feature_control_reads_without_vmx(void **state)
{
    (void)state;
    fake_msr_set(MSR_IA32_FEATURE_CONTROL, FEATURE_CONTROL_LOCKED | FEATURE_CONTROL_VMX_OUT_SMX);
    exit_with(EXIT_REASON_MSR_READ, 2);
    regs.rcx = MSR_IA32_FEATURE_CONTROL;
    run();
    assert_skipped(2);
    assert_int_equal(regs.rax, FEATURE_CONTROL_LOCKED);
    exit_with(EXIT_REASON_MSR_WRITE, 2);
    regs.rax = 0;
    run();
    assert_injected(INFO_GP);
    assert_int_equal(fake_msr_writes(MSR_IA32_FEATURE_CONTROL), 0);
}

static void vmcs_held_msrs(void **state)
{
    (void)state;
    /* IA32_PAT lives in the VMCS: a valid value goes there, not to the processor. */
    fake_msr_set(MSR_IA32_PAT, PAT_DEFAULT);
    exit_with(EXIT_REASON_MSR_WRITE, 2);
    regs.rcx = MSR_IA32_PAT;
    regs.rax = 0x00070406;
    regs.rdx = 0x00070106;
    run();
    assert_skipped(2);
    assert_int_equal(fake_vmcs_get(GUEST_IA32_PAT), 0x0007010600070406ull);
    assert_int_equal(fake_msr_writes(MSR_IA32_PAT), 0);
    /* A reserved memory type (2) is #GP and changes nothing. */
    exit_with(EXIT_REASON_MSR_WRITE, 2);
    regs.rax = 0x02;
    regs.rdx = 0;
    run();
    assert_injected(INFO_GP);
    assert_int_equal(fake_vmcs_get(GUEST_IA32_PAT), 0x0007010600070406ull);
    /* RDMSR reads the VMCS field back. */
    exit_with(EXIT_REASON_MSR_READ, 2);
    run();
    assert_int_equal(regs.rax, 0x00070406);
    assert_int_equal(regs.rdx, 0x00070106);
    /* EFER.LME may not change while paging is on. */
    exit_with(EXIT_REASON_MSR_WRITE, 2);
    regs.rcx = MSR_EFER;
    regs.rax = 0;
    regs.rdx = 0;
    run();
    assert_injected(INFO_GP);
    assert_int_equal(fake_vmcs_get(GUEST_IA32_EFER), EFER_64);
}

static void locked_msr_per_cpu(void **state)
{
    (void)state;
    const uint32_t lstar = 0xc0000082;
    bi.policy.nrules = 1;
    bi.policy.rule[0] = (struct policy_rule){ .first = lstar, .last = lstar, .space = POLICY_MSR,
                                              .action = POLICY_LOCK, .dir = POLICY_WRITE };
    bi.policy.nlocks = 1;
    bi.policy.lock_msr[0] = lstar;
    fake_msr_set(lstar, 0);
    exit_with(EXIT_REASON_MSR_WRITE, 2);
    regs.rcx = lstar;
    regs.rax = 0x1000;
    run();                                          /* the first write passes */
    assert_skipped(2);
    assert_int_equal(fake_msr_get(lstar), 0x1000);
    assert_int_equal(last_event().action, LAMINA_ACT_LOGGED);
    exit_with(EXIT_REASON_MSR_WRITE, 2);
    run();                                          /* the same value again passes */
    assert_skipped(2);
    exit_with(EXIT_REASON_MSR_WRITE, 2);
    regs.rax = 0x2000;
    run();                                          /* another value: #GP, recorded */
    assert_injected(INFO_GP);
    assert_int_equal(fake_msr_get(lstar), 0x1000);
    struct lamina_event e = last_event();
    assert_int_equal(e.kind, LAMINA_EV_MSR_WRITE);
    assert_int_equal(e.action, LAMINA_ACT_LOCKED);
    assert_int_equal(e.index, lstar);
    assert_int_equal(e.value, 0x2000);
    assert_int_equal(e.rip, RIP0);
    /* CPU 1 has its own lock: its first write passes. */
    fake_this_cpu = &cpus[1];
    exit_with(EXIT_REASON_MSR_WRITE, 2);
    run();
    assert_skipped(2);
    assert_int_equal(fake_msr_get(lstar), 0x2000);
}

static void denied_msr_read(void **state)
{
    (void)state;
    bi.policy.nrules = 1;
    bi.policy.rule[0] = (struct policy_rule){ .first = 0x8b, .last = 0x8b, .space = POLICY_MSR,
                                              .action = POLICY_DENY, .dir = POLICY_READ };
    fake_msr_set(0x8b, 0x1234);
    exit_with(EXIT_REASON_MSR_READ, 2);
    regs.rcx = 0x8b;
    run();
    assert_injected(INFO_GP);
    struct lamina_event e = last_event();
    assert_int_equal(e.kind, LAMINA_EV_MSR_READ);
    assert_int_equal(e.action, LAMINA_ACT_DENIED);
}

static void tsc_write_moves_the_offset(void **state)
{
    (void)state;
    static uint8_t bits[4096];      /* a non-zero offset traps TSC_DEADLINE (M6) */
    vmx.msr_bitmap = bits;
    fake_msr_set(MSR_IA32_TSC, 0);
    exit_with(EXIT_REASON_MSR_WRITE, 2);
    regs.rcx = MSR_IA32_TSC;
    regs.rax = 0;
    run();
    assert_skipped(2);
    assert_int_equal(fake_msr_writes(MSR_IA32_TSC), 0);     /* never the processor's */
    assert_int_equal(fake_vmcs_get(TSC_OFFSET), cpus[0].tsc.offset);
    assert_true(cpus[0].tsc.offset != 0);
}

/* --------------------------------------------------------- CR0, CR4, XSETBV */

static void cr0_write_of_a_host_owned_bit(void **state)
{
    (void)state;
    exit_with(EXIT_REASON_CR_ACCESS, 3);
    fake_vmcs_set(EXIT_QUALIFICATION, 0);           /* MOV to CR0 from RAX */
    fake_vmcs_set(VM_ENTRY_CONTROLS, VM_ENTRY_IA32E_MODE);
    regs.rax = CR0_PE | CR0_PG | (1ull << 4);       /* NE clear */
    run();
    assert_skipped(3);
    assert_int_equal(fake_vmcs_get(CR0_READ_SHADOW), regs.rax);
    assert_int_equal(fake_vmcs_get(GUEST_CR0), regs.rax | CR0_NE);
    assert_int_equal(fake_invvpid_calls(), 1);
    /* Turning paging off in 64-bit mode is #GP (SDM 2A MOV CR). */
    exit_with(EXIT_REASON_CR_ACCESS, 3);
    fake_vmcs_set(EXIT_QUALIFICATION, 0);
    regs.rax = CR0_PE;
    run();
    assert_injected(INFO_GP);
}

static void cr4_vmxe_is_gp(void **state)
{
    (void)state;
    exit_with(EXIT_REASON_CR_ACCESS, 3);
    fake_vmcs_set(EXIT_QUALIFICATION, 4 | (1 << 8));    /* MOV to CR4 from RCX */
    regs.rcx = CR4_PAE | CR4_VMXE;
    run();
    assert_injected(INFO_GP);
    exit_with(EXIT_REASON_CR_ACCESS, 3);
    fake_vmcs_set(EXIT_QUALIFICATION, 4 | (1 << 8));
    fake_vmcs_set(CR4_READ_SHADOW, CR4_PAE);
    regs.rcx = CR4_PAE | CR4_OSXSAVE;
    run();
    assert_skipped(3);
    assert_int_equal(fake_vmcs_get(CR4_READ_SHADOW), CR4_PAE | CR4_OSXSAVE);
    assert_int_equal(fake_vmcs_get(GUEST_CR4), CR4_PAE | CR4_OSXSAVE | CR4_VMXE);
}

static void xsetbv_checked(void **state)
{
    (void)state;
    exit_with(EXIT_REASON_XSETBV, 3);
    fake_vmcs_set(GUEST_CR4, CR4_PAE | CR4_VMXE | CR4_OSXSAVE);
    regs.rax = XFEATURE_X87 | XFEATURE_SSE | XFEATURE_YMM;
    run();
    assert_skipped(3);
    assert_int_equal(fake_xcr0, 7);
    exit_with(EXIT_REASON_XSETBV, 3);
    fake_vmcs_set(GUEST_CR4, CR4_PAE | CR4_VMXE | CR4_OSXSAVE);
    regs.rax = XFEATURE_YMM;                        /* AVX without SSE and x87 */
    run();
    assert_injected(INFO_GP);
    exit_with(EXIT_REASON_XSETBV, 3);               /* CR4.OSXSAVE clear: #UD */
    regs.rax = 3;
    run();
    assert_injected(INFO_UD);
    assert_int_equal(fake_xsetbv_calls, 1);
}

/* -------------------------------------------------------------------- I/O */

static void io_rule(unsigned i, uint16_t first, uint16_t last, uint8_t action, uint8_t dir)
{
    bi.policy.rule[i] = (struct policy_rule){ .first = first, .last = last, .space = POLICY_IO,
                                              .action = action, .dir = dir };
    if (bi.policy.nrules <= i)
        bi.policy.nrules = i + 1;
}

/* OUT or IN (size 1, 2, 4) at port with DX, as the exit qualification says. */
static void io_exit(uint16_t port, unsigned size, bool in)
{
    exit_with(EXIT_REASON_IO_INSTRUCTION, 1);
    fake_vmcs_set(EXIT_QUALIFICATION, (uint64_t)port << 16 | (in ? 8 : 0) | (size - 1));
}

static void io_each_policy_action(void **state)
{
    (void)state;
    io_rule(0, 0x84, 0x84, POLICY_LOG, POLICY_RW);
    io_rule(1, 0x85, 0x85, POLICY_DENY, POLICY_WRITE);
    io_rule(2, 0x86, 0x87, POLICY_DENY, POLICY_READ);
    /* log: the write happens and is recorded */
    io_exit(0x84, 1, false);
    regs.rax = 0x5a;
    run();
    assert_skipped(1);
    assert_int_equal(fake_port_last(0x84), 0x5a);
    struct lamina_event e = last_event();
    assert_int_equal(e.kind, LAMINA_EV_IO_OUT);
    assert_int_equal(e.action, LAMINA_ACT_LOGGED);
    assert_int_equal(e.value, 0x5a);
    /* deny write: dropped, recorded */
    io_exit(0x85, 1, false);
    run();
    assert_skipped(1);
    assert_int_equal(fake_port_writes(0x85), 0);
    assert_int_equal(last_event().action, LAMINA_ACT_DENIED);
    /* deny read, 2 bytes: a floating bus, the rest of RAX kept */
    fake_port_set(0x86, 0x1234);
    io_exit(0x86, 2, true);
    regs.rax = 0xaaaabbbbccccddddull;
    run();
    assert_skipped(1);
    assert_int_equal(regs.rax, 0xaaaabbbbccccffffull);
    /* no rule on port 0x88: the processor's answer, nothing recorded */
    long before = event_count();
    fake_port_set(0x88, 0x12345678);
    io_exit(0x88, 4, true);
    regs.rax = ~0ull;
    run();
    assert_int_equal(regs.rax, 0x12345678);         /* IN to EAX zero-extends */
    assert_int_equal(event_count(), before);
}

static void io_reset_prints_the_final_summary(void **state)
{
    (void)state;
    io_exit(0xcf9, 1, false);
    regs.rax = 0x06;                                /* RST_CPU | SYS_RST */
    run();
    assert_int_equal(fake_port_last(0xcf9), 0x06);  /* the reset reaches the hardware */
    assert_non_null(strstr(fake_log(), "guest resets the machine (port 0xcf9, value 0x6)"));
    assert_non_null(strstr(fake_log(), "exits io: 1 (cpu 0: 1, cpu 1: 0)"));
}

static void rep_outsb_to_a_logged_port(void **state)
{
    (void)state;
    io_rule(0, 0x80, 0x80, POLICY_LOG, POLICY_WRITE);
    vmx.caps.basic |= VMX_BASIC_INOUT;
    exit_flat32(EXIT_REASON_IO_INSTRUCTION, 2);
    fake_vmcs_set(EXIT_QUALIFICATION, 0x80ull << 16 | (1 << 5) | (1 << 4));   /* REP OUTSB */
    fake_vmcs_set(VMX_INSTRUCTION_INFO, (1u << 7) | (3u << 15));            /* 32-bit, DS */
    memcpy(fake_ram + 0x2000, "abc", 3);
    regs.rsi = 0x2000;
    regs.rcx = 3;
    run();
    assert_skipped(2);
    assert_int_equal(fake_port_writes(0x80), 3);
    assert_int_equal(fake_port_last(0x80), 'c');
    assert_int_equal(regs.rcx, 0);
    assert_int_equal(regs.rsi, 0x2003);
    assert_int_equal(event_count(), 3);             /* one event per element */
}

/* ----------------------------------------------------------------- VMCALL */

static void vmcall_version(void **state)
{
    (void)state;
    exit_with(EXIT_REASON_VMCALL, 3);
    regs.rax = LAMINA_HC_VERSION;
    regs.rbx = LAMINA_HC_MAGIC;
    run();
    assert_skipped(3);
    assert_int_equal(regs.rax, LAMINA_OK);
    assert_int_equal(regs.rdi, LAMINA_HC_ABI_VERSION);
    assert_int_equal(regs.rdx, 2);
    assert_int_equal(cpus[0].exits[LAMINA_EXIT_HYPERCALL], 1);
}

static void vmcall_refusals(void **state)
{
    (void)state;
    exit_with(EXIT_REASON_VMCALL, 3);               /* no magic: #UD as without Lamina */
    regs.rax = LAMINA_HC_VERSION;
    regs.rbx = 0;
    run();
    assert_injected(INFO_UD);
    exit_with(EXIT_REASON_VMCALL, 3);               /* ring 3 without hypercall-user */
    fake_vmcs_set(GUEST_SS_AR_BYTES, SS_AR_CPL3);
    regs.rbx = LAMINA_HC_MAGIC;
    run();
    assert_skipped(3);
    assert_int_equal((int64_t)regs.rax, LAMINA_E_PERM);
    exit_with(EXIT_REASON_VMCALL, 3);               /* an unknown function */
    regs.rax = 77;
    run();
    assert_int_equal((int64_t)regs.rax, LAMINA_E_NOFUNC);
    /* The loader's calls with a wrong secret, or after the seal: #UD. */
    bi.loader_secret = 0x1234567;
    exit_with(EXIT_REASON_VMCALL, 3);
    regs.rax = LAMINA_VMCALL_SEAL;
    regs.rbx = 0x1234568;
    run();
    assert_injected(INFO_UD);
    assert_false(mon.sealed);
    exit_with(EXIT_REASON_VMCALL, 3);
    regs.rbx = 0x1234567;
    run();
    assert_skipped(3);
    assert_true(mon.sealed);
    exit_with(EXIT_REASON_VMCALL, 3);
    regs.rax = LAMINA_VMCALL_DEVIRT;
    run();
    assert_injected(INFO_UD);
}

static void vmcall_stats_buffers(void **state)
{
    (void)state;
    /* In monitor memory: refused before a byte is written. */
    exit_flat32(EXIT_REASON_VMCALL, 3);
    regs.rax = LAMINA_HC_STATS;
    regs.rbx = LAMINA_HC_MAGIC;
    regs.rdi = LAMINA_ALL_CPUS;
    regs.rsi = MON_BASE + 0x100;
    regs.rdx = sizeof(struct lamina_stats);
    run();
    assert_int_equal((int64_t)regs.rax, LAMINA_E_FAULT);
    assert_int_equal(regs.rdi, LAMINA_ALL_CPUS);      /* results unchanged on an error */
    /* In RAM: the exits by kind, this call's own exit included. */
    exit_flat32(EXIT_REASON_VMCALL, 3);
    regs.rax = LAMINA_HC_STATS;
    regs.rsi = 0x3000;
    run();
    assert_int_equal((int64_t)regs.rax, LAMINA_OK);
    struct lamina_stats s;
    memcpy(&s, fake_ram + 0x3000, sizeof(s));
    assert_int_equal(s.nkinds, LAMINA_EXIT_KINDS);
    assert_int_equal(s.ncpus, 2);
    assert_int_equal(s.exits[LAMINA_EXIT_HYPERCALL], 2);
}

/* ------------------------------------------------------- monitor memory */

static uint64_t build_ept(void)
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
    struct mem_range hidden[2] = { { MON_BASE, MON_SIZE }, { DATA_BASE, DATA_SIZE } };
    struct ept_params p = { .mtrr = &m, .limit = FAKE_RAM_SIZE, .hidden = hidden, .nhidden = 2 };
    struct ept_pool pool = { .base = pool_mem, .npages = 64 };
    struct ept_stats st;
    assert_int_equal(ept_build(&p, &pool, &vmx.ept_root, &st), 0);
    return vmx.ept_root;
}

static uint64_t leaf_of(uint64_t gpa)
{
    int level;
    uint64_t *e = ept_leaf(vmx.ept_root, gpa, &level);
    assert_non_null(e);
    assert_int_equal(level, 1);
    return *e;
}

static void hidden_page_read_with_mtf(void **state)
{
    (void)state;
    build_ept();
    const uint64_t gpa = MON_BASE + 0x1010;
    assert_int_equal(leaf_of(gpa), 0);              /* a hole */
    exit_with(EXIT_REASON_EPT_VIOLATION, 3);
    fake_vmcs_set(EXIT_QUALIFICATION, 1);           /* a read */
    fake_vmcs_set(GUEST_PHYSICAL_ADDRESS, gpa);
    fake_vmcs_set(IDT_VECTORING_INFO_FIELD, 0);
    fake_vmcs_set(CPU_BASED_VM_EXEC_CONTROL, 0);
    run();
    struct lamina_event e = last_event();
    assert_int_equal(e.kind, LAMINA_EV_MONITOR_MEM);
    assert_int_equal(e.value, gpa);
    assert_int_equal(e.action, LAMINA_ACT_DENIED);
    /* The one instruction reads the sink page, under the monitor trap flag. */
    assert_int_equal(leaf_of(gpa) & EPT_ADDR_MASK, (uint64_t)(uintptr_t)sink);
    assert_true(fake_vmcs_get(CPU_BASED_VM_EXEC_CONTROL) & CPU_BASED_MONITOR_TRAP_FLAG);
    assert_int_equal(fake_vmcs_get(GUEST_RIP), RIP0);  /* not skipped: it runs */
    assert_int_equal(fake_invept_calls(), 1);
    assert_non_null(strstr(fake_log(), "guest read of monitor memory at gpa 0x401010"));
    /* The MTF exit after it: a hole again, the sink wiped, MTF off. */
    exit_with(EXIT_REASON_MONITOR_TRAP_FLAG, 0);
    run();
    assert_int_equal(leaf_of(gpa), 0);
    assert_int_equal(sink[100], 0);
    assert_false(fake_vmcs_get(CPU_BASED_VM_EXEC_CONTROL) & CPU_BASED_MONITOR_TRAP_FLAG);
    assert_int_equal(cpus[0].nredirect, 0);
    assert_int_equal(cpus[0].exits[LAMINA_EXIT_MEMORY], 1);
    assert_int_equal(cpus[0].exits[LAMINA_EXIT_STEP], 1);
}

static void hidden_page_write_with_tf(void **state)
{
    (void)state;
    build_ept();
    vmx.has_mtf = false;                            /* Bochs 2.7's Skylake-X */
    const uint64_t gpa = DATA_BASE + 0x20;
    exit_with(EXIT_REASON_EPT_VIOLATION, 3);
    fake_vmcs_set(EXIT_QUALIFICATION, 2);           /* a write */
    fake_vmcs_set(GUEST_PHYSICAL_ADDRESS, gpa);
    fake_vmcs_set(IDT_VECTORING_INFO_FIELD, 0);
    fake_vmcs_set(EXCEPTION_BITMAP, 0);
    fake_vmcs_set(GUEST_RFLAGS, 0x2 | RFLAGS_TF);   /* the guest single-steps itself */
    run();
    assert_true(fake_vmcs_get(EXCEPTION_BITMAP) & (1u << 1));
    assert_true(fake_vmcs_get(GUEST_RFLAGS) & RFLAGS_TF);
    /* The single-step #DB: the step ends, and it is the guest's #DB too. */
    exit_with(EXIT_REASON_EXCEPTION_NMI, 0);
    fake_vmcs_set(VM_EXIT_INTR_INFO, INTR_INFO_VALID_MASK | INTR_TYPE_HARD_EXCEPTION | 1);
    fake_vmcs_set(IDT_VECTORING_INFO_FIELD, 0);
    fake_vmcs_set(GUEST_RFLAGS, 0x2 | RFLAGS_TF);
    run();
    assert_int_equal(leaf_of(gpa), 0);
    assert_false(fake_vmcs_get(EXCEPTION_BITMAP) & (1u << 1));
    assert_true(fake_vmcs_get(GUEST_RFLAGS) & RFLAGS_TF);       /* the guest's own TF */
    assert_int_equal(fake_vmcs_get(VM_ENTRY_INTR_INFO_FIELD),
                     INTR_INFO_VALID_MASK | INTR_TYPE_HARD_EXCEPTION | 1);
    assert_true(fake_dr6 & (1ull << 14));           /* DR6.BS */
    assert_int_equal(cpus[0].exits[LAMINA_EXIT_STEP], 1);
}

static void ept_violation_elsewhere_stops(void **state)
{
    (void)state;
    build_ept();
    exit_with(EXIT_REASON_EPT_VIOLATION, 3);
    fake_vmcs_set(EXIT_QUALIFICATION, 1);
    fake_vmcs_set(GUEST_PHYSICAL_ADDRESS, 0x200000);
    fake_vmcs_set(IDT_VECTORING_INFO_FIELD, 0);
    assert_true(run_stops());
    assert_true(cpus[0].stopped);
    assert_non_null(strstr(fake_log(), "EPT violation outside monitor memory; guest stopped"));
}

/* ---------------------------------------------------------- INIT and SIPI */

static void init_then_sipi(void **state)
{
    (void)state;
    fake_this_cpu = &cpus[1];      /* an AP: INIT of the BSP resets (M6) */
    fake_cpuid_set(1, 0, 0x50654, 0, 0, 0);
    exit_with(EXIT_REASON_INIT_SIGNAL, 0);
    fake_vmcs_set(VM_ENTRY_CONTROLS, VM_ENTRY_IA32E_MODE | VM_ENTRY_LOAD_IA32_EFER);
    regs.rax = 0x1234;
    run();
    assert_int_equal(fake_vmcs_get(GUEST_ACTIVITY_STATE), GUEST_ACTIVITY_WAIT_SIPI);
    assert_int_equal(fake_vmcs_get(GUEST_CS_SELECTOR), 0xf000);
    assert_int_equal(fake_vmcs_get(GUEST_RIP), 0xfff0);
    assert_int_equal(fake_vmcs_get(GUEST_IA32_EFER), 0);
    assert_int_equal(fake_vmcs_get(VM_ENTRY_CONTROLS), VM_ENTRY_LOAD_IA32_EFER);
    assert_int_equal(regs.rax, 0);
    assert_int_equal(regs.rdx, 0x50654);            /* the CPU signature */
    assert_int_equal(fake_dr6, 0xffff0ff0);
    assert_true(cpus[1].waiting_for_sipi);
    exit_with(EXIT_REASON_SIPI_SIGNAL, 0);
    fake_vmcs_set(EXIT_QUALIFICATION, 0x9a);
    run();
    assert_int_equal(fake_vmcs_get(GUEST_CS_SELECTOR), 0x9a00);
    assert_int_equal(fake_vmcs_get(GUEST_CS_BASE), 0x9a000);
    assert_int_equal(fake_vmcs_get(GUEST_RIP), 0);
    assert_int_equal(fake_vmcs_get(GUEST_ACTIVITY_STATE), 0);
    assert_false(cpus[1].waiting_for_sipi);
    assert_int_equal(cpus[1].exits[LAMINA_EXIT_INIT], 1);
    assert_int_equal(cpus[1].exits[LAMINA_EXIT_SIPI], 1);
}

static void x2apic_init_ipi_kicks_the_target(void **state)
{
    (void)state;
    mon.init_emulation = true;
    fake_msr_set(MSR_IA32_APIC_BASE, APIC_PAGE | APIC_BASE_EN | APIC_BASE_EXTD);
    fake_msr_set(MSR_X2APIC_ICR, 0);
    exit_with(EXIT_REASON_MSR_WRITE, 2);
    regs.rcx = MSR_X2APIC_ICR;
    regs.rax = (ICR_MODE_INIT << 8) | ICR_LEVEL_ASSERT;
    regs.rdx = 1;                                   /* APIC ID 1 */
    run();
    assert_skipped(2);
    assert_true(cpus[1].init_request);
    /* The INIT itself never reached the ICR: the kick (an NMI) did. */
    assert_int_equal(fake_msr_writes(MSR_X2APIC_ICR), 1);
    assert_int_equal(fake_msr_get(MSR_X2APIC_ICR),
                     (1ull << 32) | (ICR_MODE_NMI << 8) | ICR_LEVEL_ASSERT);
    /* CPU 1 takes the NMI exit and enters the INIT state. */
    fake_this_cpu = &cpus[1];
    fake_cpuid_set(1, 0, 0x50654, 0, 0, 0);
    exit_with(EXIT_REASON_EXCEPTION_NMI, 0);
    fake_vmcs_set(VM_EXIT_INTR_INFO, INTR_INFO_VALID_MASK | INTR_TYPE_NMI_INTR | 2);
    fake_vmcs_set(IDT_VECTORING_INFO_FIELD, 0);
    fake_vmcs_set(VM_ENTRY_CONTROLS, VM_ENTRY_IA32E_MODE);
    run();
    assert_false(cpus[1].init_request);
    assert_true(cpus[1].waiting_for_sipi);
    assert_int_equal(fake_vmcs_get(GUEST_ACTIVITY_STATE), GUEST_ACTIVITY_WAIT_SIPI);
    assert_int_equal(cpus[1].exits[LAMINA_EXIT_NMI], 1);
    assert_int_equal(cpus[1].exits[LAMINA_EXIT_EXCEPTION], 0);
}

static void x2apic_icr_in_xapic_mode_is_gp(void **state)
{
    (void)state;
    mon.init_emulation = true;
    fake_msr_set(MSR_X2APIC_ICR, 0);
    exit_with(EXIT_REASON_MSR_WRITE, 2);
    regs.rcx = MSR_X2APIC_ICR;
    regs.rax = (ICR_MODE_INIT << 8) | ICR_LEVEL_ASSERT;
    run();
    assert_injected(INFO_GP);
    assert_false(cpus[1].init_request);
}

/* Without init-emulation (the default) an INIT IPI is the guest's own: even
 * under a policy rule that traps the ICR, the write reaches the APIC as it
 * is, and the target's INIT exit (not a kick) puts it in the INIT state. */
static void init_ipi_not_emulated_by_default(void **state)
{
    (void)state;
    bi.policy.nrules = 1;
    bi.policy.rule[0] = (struct policy_rule){ .first = MSR_X2APIC_ICR, .last = MSR_X2APIC_ICR,
                                              .space = POLICY_MSR, .action = POLICY_LOG,
                                              .dir = POLICY_WRITE };
    fake_msr_set(MSR_IA32_APIC_BASE, APIC_PAGE | APIC_BASE_EN | APIC_BASE_EXTD);
    fake_msr_set(MSR_X2APIC_ICR, 0);
    exit_with(EXIT_REASON_MSR_WRITE, 2);
    regs.rcx = MSR_X2APIC_ICR;
    regs.rax = (ICR_MODE_INIT << 8) | ICR_LEVEL_ASSERT;
    regs.rdx = 1;
    run();
    assert_skipped(2);
    assert_false(cpus[1].init_request);
    assert_int_equal(fake_msr_get(MSR_X2APIC_ICR), (1ull << 32) | regs.rax);
    assert_int_equal(last_event().action, LAMINA_ACT_LOGGED);
}

static void xapic_store_of_an_init_ipi(void **state)
{
    (void)state;
    build_ept();
    mon.init_emulation = true;
    mon.trap_xapic = true;
    exit_flat32(EXIT_REASON_EPT_VIOLATION, 2);
    fake_vmcs_set(EXIT_QUALIFICATION, 2);
    fake_vmcs_set(GUEST_PHYSICAL_ADDRESS, APIC_PAGE + APIC_REG_ICR_LOW);
    fake_vmcs_set(IDT_VECTORING_INFO_FIELD, 0);
    *(uint32_t *)(fake_ram + APIC_PAGE + APIC_REG_ICR_HIGH) = 1u << 24;   /* to APIC ID 1 */
    fake_ram[RIP0] = 0x89;                          /* mov %ecx, (%eax) */
    fake_ram[RIP0 + 1] = 0x08;
    regs.rcx = (ICR_MODE_INIT << 8) | ICR_LEVEL_ASSERT;
    regs.rax = APIC_PAGE + APIC_REG_ICR_LOW;
    run();
    assert_int_equal(fake_vmcs_get(GUEST_RIP), RIP0 + 2);
    assert_true(cpus[1].init_request);
    /* The ICR got the monitor's NMI kick, not the guest's INIT. */
    assert_int_equal(ICR_MODE(*(uint32_t *)(fake_ram + APIC_PAGE + APIC_REG_ICR_LOW)),
                     ICR_MODE_NMI);
    assert_int_equal(*(uint32_t *)(fake_ram + APIC_PAGE + APIC_REG_ICR_HIGH), 1u << 24);
    /* Any other register: the store reaches the APIC as written. */
    exit_flat32(EXIT_REASON_EPT_VIOLATION, 2);
    fake_vmcs_set(EXIT_QUALIFICATION, 2);
    fake_vmcs_set(GUEST_PHYSICAL_ADDRESS, APIC_PAGE + 0xb0);           /* EOI */
    fake_vmcs_set(IDT_VECTORING_INFO_FIELD, 0);
    regs.rcx = 0;
    regs.rax = APIC_PAGE + 0xb0;
    *(uint32_t *)(fake_ram + APIC_PAGE + 0xb0) = 0xdead;
    run();
    assert_int_equal(*(uint32_t *)(fake_ram + APIC_PAGE + 0xb0), 0);
}

/* ------------------------------------------------- stops and #UD exits */

static void triple_fault_stops_the_guest(void **state)
{
    (void)state;
    bi.on_triple_fault = LAMINA_TRIPLE_FAULT_STOP;     /* the default resets (M6) */
    exit_with(EXIT_REASON_TRIPLE_FAULT, 0);
    assert_true(run_stops());
    struct lamina_event e = last_event();
    assert_int_equal(e.kind, LAMINA_EV_TRIPLE_FAULT);
    assert_int_equal(e.action, LAMINA_ACT_STOPPED);
    assert_non_null(strstr(fake_log(), "triple fault in the guest; guest stopped on this CPU"));
    assert_non_null(strstr(fake_log(), "  exit reason 0x2 "));
}

static void vmx_instructions_raise_ud(void **state)
{
    (void)state;
    static const struct { uint32_t reason; unsigned insn; } t[] = {
        { EXIT_REASON_VMON, LAMINA_INSN_VMXON }, { EXIT_REASON_VMOFF, LAMINA_INSN_VMXOFF },
        { EXIT_REASON_VMLAUNCH, LAMINA_INSN_VMLAUNCH }, { EXIT_REASON_INVEPT, LAMINA_INSN_INVEPT },
        { EXIT_REASON_GETSEC, LAMINA_INSN_GETSEC }, { EXIT_REASON_VMFUNC, LAMINA_INSN_VMFUNC },
    };
    for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        fake_vmcs_reset();
        exit_with(t[i].reason, 3);
        run();
        assert_injected(INFO_UD);
        struct lamina_event e = last_event();
        assert_int_equal(e.kind, LAMINA_EV_VIRT_INSN);
        assert_int_equal(e.index, t[i].insn);
    }
    assert_int_equal(cpus[0].exits[LAMINA_EXIT_VIRT_INSN], 6);
}

static void unexpected_exit_stops(void **state)
{
    (void)state;
    exit_with(EXIT_REASON_HLT, 1);
    assert_true(run_stops());
    assert_non_null(strstr(fake_log(), "unexpected VM exit, reason 12"));
    assert_int_equal(cpus[0].exits[LAMINA_EXIT_OTHER], 1);
}

static void interrupted_delivery_is_requeued(void **state)
{
    (void)state;
    build_ept();
    /* An EPT violation on a hidden page while delivering #PF (error code 2). */
    exit_with(EXIT_REASON_EPT_VIOLATION, 0);
    fake_vmcs_set(EXIT_QUALIFICATION, 2);
    fake_vmcs_set(GUEST_PHYSICAL_ADDRESS, MON_BASE);
    fake_vmcs_set(CPU_BASED_VM_EXEC_CONTROL, 0);
    fake_vmcs_set(IDT_VECTORING_INFO_FIELD,
                  INTR_INFO_VALID_MASK | INTR_TYPE_HARD_EXCEPTION | INTR_INFO_DELIVER_CODE_MASK | 14);
    fake_vmcs_set(IDT_VECTORING_ERROR_CODE, 2);
    run();
    assert_int_equal(fake_vmcs_get(VM_ENTRY_INTR_INFO_FIELD),
                     INTR_INFO_VALID_MASK | INTR_TYPE_HARD_EXCEPTION | INTR_INFO_DELIVER_CODE_MASK | 14);
    assert_int_equal(fake_vmcs_get(VM_ENTRY_EXCEPTION_ERROR_CODE), 2);
}


/* ------------------------------------------- more exits, one behaviour each */

static void hidden_page_with_tf_when_the_guest_had_none(void **state)
{
    (void)state;
    build_ept();
    vmx.has_mtf = false;
    exit_with(EXIT_REASON_EPT_VIOLATION, 3);
    fake_vmcs_set(EXIT_QUALIFICATION, 1);
    fake_vmcs_set(GUEST_PHYSICAL_ADDRESS, MON_BASE);
    fake_vmcs_set(IDT_VECTORING_INFO_FIELD, 0);
    fake_vmcs_set(EXCEPTION_BITMAP, 0);
    run();
    assert_true(fake_vmcs_get(GUEST_RFLAGS) & RFLAGS_TF);
    exit_with(EXIT_REASON_EXCEPTION_NMI, 0);
    fake_vmcs_set(VM_EXIT_INTR_INFO, INTR_INFO_VALID_MASK | INTR_TYPE_HARD_EXCEPTION | 1);
    fake_vmcs_set(IDT_VECTORING_INFO_FIELD, 0);
    fake_vmcs_set(GUEST_RFLAGS, 0x2 | RFLAGS_TF);
    run();
    assert_false(fake_vmcs_get(GUEST_RFLAGS) & RFLAGS_TF);   /* the monitor's TF is gone */
    assert_false(fake_vmcs_has(VM_ENTRY_INTR_INFO_FIELD) &&
                 (fake_vmcs_get(VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID_MASK));
}

static void nmi_exit(void)
{
    exit_with(EXIT_REASON_EXCEPTION_NMI, 0);
    fake_vmcs_set(VM_EXIT_INTR_INFO, INTR_INFO_VALID_MASK | INTR_TYPE_NMI_INTR | 2);
    fake_vmcs_set(IDT_VECTORING_INFO_FIELD, 0);
    fake_vmcs_set(GUEST_ACTIVITY_STATE, 0);
    if (!fake_vmcs_has(CPU_BASED_VM_EXEC_CONTROL))
        fake_vmcs_set(CPU_BASED_VM_EXEC_CONTROL, 0);
}

#define INFO_NMI (INTR_INFO_VALID_MASK | INTR_TYPE_NMI_INTR | 2)

static bool nmi_window_on(void)
{
    return fake_vmcs_get(CPU_BASED_VM_EXEC_CONTROL) & CPU_BASED_NMI_WINDOW_EXITING;
}

static bool entry_event(void)
{
    return fake_vmcs_has(VM_ENTRY_INTR_INFO_FIELD) &&
           (fake_vmcs_get(VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID_MASK);
}

/* Virtual NMIs: the NMI goes in at once when nothing blocks it. */
static void guest_nmi_delivered_as_virtual_nmi(void **state)
{
    (void)state;
    nmi_exit();
    run();
    assert_int_equal(fake_vmcs_get(VM_ENTRY_INTR_INFO_FIELD), INFO_NMI);
    assert_false(cpus[0].nmi_pending);
    assert_false(nmi_window_on());
    assert_int_equal(cpus[0].exits[LAMINA_EXIT_NMI], 1);
}

/* The guest is in its NMI handler (virtual-NMI blocking), or in an STI or
 * MOV SS shadow: the NMI waits for the NMI window, then goes in. */
static void guest_nmi_waits_for_the_window(void **state)
{
    (void)state;
    static const uint64_t blocking[] = { INTERRUPTIBILITY_NMI, 1 /* STI */, 2 /* MOV SS */ };
    for (unsigned i = 0; i < 3; i++) {
        nmi_exit();
        fake_vmcs_set(GUEST_INTERRUPTIBILITY_INFO, blocking[i]);
        run();
        assert_false(entry_event());
        assert_true(cpus[0].nmi_pending);
        assert_true(nmi_window_on());
        /* Its IRET (or the next instruction) opens the window. */
        exit_with(EXIT_REASON_NMI_WINDOW, 0);
        fake_vmcs_set(GUEST_ACTIVITY_STATE, 0);
        run();
        assert_int_equal(fake_vmcs_get(VM_ENTRY_INTR_INFO_FIELD), INFO_NMI);
        assert_false(cpus[0].nmi_pending);
        assert_false(nmi_window_on());
    }
    assert_int_equal(cpus[0].exits[LAMINA_EXIT_NMI_WINDOW], 3);
}

/* An event already set up for this entry goes first; the NMI after it. */
static void nmi_after_an_injected_event(void **state)
{
    (void)state;
    cpus[0].nmi_pending = true;         /* e.g. an NMI that hit VMX root */
    exit_with(EXIT_REASON_VMCALL, 3);   /* no magic: #UD injected */
    fake_vmcs_set(GUEST_ACTIVITY_STATE, 0);
    fake_vmcs_set(CPU_BASED_VM_EXEC_CONTROL, 0);
    run();
    assert_injected(INFO_UD);
    assert_true(cpus[0].nmi_pending);
    assert_true(nmi_window_on());
}

/* Waiting for SIPI: NMIs are blocked; the one pending is dropped. */
static void nmi_dropped_in_wait_for_sipi(void **state)
{
    (void)state;
    nmi_exit();
    fake_vmcs_set(GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_WAIT_SIPI);
    run();
    assert_false(entry_event());
    assert_false(cpus[0].nmi_pending);
}

/* An NMI that hit VMX root zeroed the preemption timer (so the next entry
 * exits at once, even if the guest halts); the exit that follows puts the
 * timer back and delivers the NMI. */
static void nmi_in_root_comes_back_through_the_timer(void **state)
{
    (void)state;
    vmx.ctl.pin = PIN_BASED_VMX_PREEMPTION_TIMER;
    vmx_cpu(&cpus[0])->in_vmx = true;
    cpus[0].nmi_pending = true;
    be_nmi_in_root(&cpus[0]);
    assert_int_equal(fake_vmcs_get(VMX_PREEMPTION_TIMER_VALUE), 0);
    exit_with(EXIT_REASON_PREEMPTION_TIMER, 0);
    fake_vmcs_set(GUEST_ACTIVITY_STATE, 0);
    fake_vmcs_set(CPU_BASED_VM_EXEC_CONTROL, 0);
    run();
    assert_int_equal(fake_vmcs_get(VMX_PREEMPTION_TIMER_VALUE), PREEMPTION_TIMER_IDLE);
    assert_int_equal(fake_vmcs_get(VM_ENTRY_INTR_INFO_FIELD), INFO_NMI);
    assert_int_equal(cpus[0].exits[LAMINA_EXIT_TIMER], 1);
    /* Without the timer (a CPU that lacks it) nothing is written. */
    vmx.ctl.pin = 0;
    fake_vmcs_set(VMX_PREEMPTION_TIMER_VALUE, 7);
    be_nmi_in_root(&cpus[0]);
    assert_int_equal(fake_vmcs_get(VMX_PREEMPTION_TIMER_VALUE), 7);
}

static void init_kick_that_hit_vmx_root(void **state)
{
    (void)state;
    fake_this_cpu = &cpus[1];      /* an AP: INIT of the BSP resets (M6) */
    fake_cpuid_set(1, 0, 0x50654, 0, 0, 0);
    cpus[1].nmi_pending = true;         /* core/trap.c saw the kick's NMI */
    cpus[1].init_request = true;
    exit_with(EXIT_REASON_CPUID, 2);
    fake_vmcs_set(VM_ENTRY_CONTROLS, VM_ENTRY_IA32E_MODE);
    run();
    assert_true(cpus[1].waiting_for_sipi);
    assert_false(cpus[1].init_request);
    assert_int_equal(fake_vmcs_get(GUEST_ACTIVITY_STATE), GUEST_ACTIVITY_WAIT_SIPI);
    assert_false(fake_vmcs_get(VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID_MASK);
}

static void cr0_pg_on_activates_ia32e_mode(void **state)
{
    (void)state;
    exit_with(EXIT_REASON_CR_ACCESS, 3);
    fake_vmcs_set(GUEST_CR0, CR0_PE | CR0_NE);
    fake_vmcs_set(CR0_READ_SHADOW, CR0_PE);
    fake_vmcs_set(GUEST_IA32_EFER, EFER_LME);
    fake_vmcs_set(GUEST_CS_AR_BYTES, CS_AR_32);
    fake_vmcs_set(VM_ENTRY_CONTROLS, 0);
    fake_vmcs_set(EXIT_QUALIFICATION, 0);
    regs.rax = CR0_PE | CR0_PG;
    run();
    assert_skipped(3);
    assert_int_equal(fake_vmcs_get(GUEST_IA32_EFER), EFER_LME | EFER_LMA);
    assert_int_equal(fake_vmcs_get(VM_ENTRY_CONTROLS), VM_ENTRY_IA32E_MODE);
    /* LMSW sets MP (bit 1) and cannot clear PE. */
    exit_with(EXIT_REASON_CR_ACCESS, 4);
    fake_vmcs_set(CR0_READ_SHADOW, CR0_PE | CR0_PG);
    fake_vmcs_set(EXIT_QUALIFICATION, (3u << 4) | (2ull << 16));  /* LMSW with MP, PE clear */
    run();
    assert_int_equal(fake_vmcs_get(CR0_READ_SHADOW), CR0_PE | CR0_PG | 2);
    /* A CR4 bit the processor does not have: #GP. */
    exit_with(EXIT_REASON_CR_ACCESS, 3);
    fake_vmcs_set(EXIT_QUALIFICATION, 4);
    regs.rax = CR4_PAE | (1ull << 28);
    run();
    assert_injected(INFO_GP);
}

static void redelivered_event_keeps_its_length(void **state)
{
    (void)state;
    build_ept();
    exit_with(EXIT_REASON_EPT_VIOLATION, 2);
    fake_vmcs_set(EXIT_QUALIFICATION, 2);
    fake_vmcs_set(GUEST_PHYSICAL_ADDRESS, MON_BASE);
    fake_vmcs_set(CPU_BASED_VM_EXEC_CONTROL, 0);
    /* A software interrupt (INT 0x80, type 4) interrupted by the exit. */
    fake_vmcs_set(IDT_VECTORING_INFO_FIELD, INTR_INFO_VALID_MASK | (4u << 8) | 0x80);
    run();
    assert_int_equal(fake_vmcs_get(VM_ENTRY_INTR_INFO_FIELD),
                     INTR_INFO_VALID_MASK | (4u << 8) | 0x80);
    assert_int_equal(fake_vmcs_get(VM_ENTRY_INSTRUCTION_LEN), 2);
}

static void mtrr_write_retypes_and_flushes_here(void **state)
{
    (void)state;
    build_ept();
    mon.mtrr.enabled = true;
    mon.mtrr.def_type = MT_WB;
    mon.mtrr.phys_mask = (1ull << 39) - 1;
    mon.maxphyaddr = 39;
    fake_msr_set(MSR_IA32_MTRRCAP, 0x408);          /* 8 variable ranges, WC, no fixed */
    fake_msr_set(MSR_IA32_MTRR_DEF_TYPE, (1u << 11) | MT_WB);
    for (unsigned i = 0; i < 8; i++) {
        fake_msr_set(MSR_IA32_MTRR_PHYSBASE(i), 0);
        fake_msr_set(MSR_IA32_MTRR_PHYSMASK(i), 0);
    }
    vmx.ept_reserve.base = aligned_alloc(4096, 8 * 4096);
    vmx.ept_reserve.npages = 8;
    memset(vmx.ept_reserve.base, 0, 8 * 4096);
    uint64_t gen = vmx.ept_generation;
    /* UC over 2 MiB at 2 MiB. The guest's MTRRs start as the processor's (M7:
     * virtualized, core/msr.c). */
    fake_msr_set(MSR_IA32_MTRR_PHYSBASE(0), 0x200000 | MT_UC);
    mtrr_virt_init();
    exit_with(EXIT_REASON_MSR_WRITE, 2);
    regs.rcx = MSR_IA32_MTRR_PHYSMASK(0);
    regs.rax = (uint32_t)(0x7fffe00000ull | (1u << 11));
    regs.rdx = 0x7fffe00000ull >> 32;
    run();
    assert_skipped(2);
    int level;
    uint64_t *e = ept_leaf(vmx.ept_root, 0x200000, &level);
    assert_non_null(e);
    assert_int_equal((*e >> 3) & 7, MT_UC);
    assert_int_equal(vmx.ept_generation, gen + 1);
    assert_int_equal(vmx_cpu(&cpus[0])->ept_generation, gen + 1);   /* this CPU is current */
    assert_int_equal(fake_invept_calls(), 1);                       /* ... and flushed now */
    assert_non_null(strstr(fake_log(), "mtrr: cpu 0 wrote msr 0x201 = 0x7fffe00800: ept types"));
    assert_int_equal(fake_msr_writes(MSR_IA32_MTRR_PHYSMASK(0)), 0);    /* never the processor's */
    free(vmx.ept_reserve.base);
}

static void msrs_the_guest_may_not_write(void **state)
{
    (void)state;
    static const struct { uint32_t msr; uint64_t value; } t[] = {
        { MSR_IA32_APIC_BASE, 0x500000 | APIC_BASE_EN },    /* moving the APIC */
        { MSR_IA32_RTIT_CTL, 1 },                            /* Intel PT is hidden */
        { MSR_IA32_VMX_BASIC, 0 },                           /* read-only, hidden */
        { MSR_IA32_TSC_ADJUST, 5 },                          /* absent on this CPU */
    };
    mon.tsc_adjust = false;
    for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        fake_msr_set(t[i].msr, 0x1234);
        exit_with(EXIT_REASON_MSR_WRITE, 2);
        regs.rcx = t[i].msr;
        regs.rax = (uint32_t)t[i].value;
        regs.rdx = t[i].value >> 32;
        run();
        assert_injected(INFO_GP);
        assert_int_equal(fake_msr_writes(t[i].msr), 0);
    }
    /* Changing only the mode bits of IA32_APIC_BASE is the guest's right. */
    fake_msr_set(MSR_IA32_APIC_BASE, APIC_PAGE | APIC_BASE_EN);
    exit_with(EXIT_REASON_MSR_WRITE, 2);
    regs.rcx = MSR_IA32_APIC_BASE;
    regs.rax = (uint32_t)(APIC_PAGE | APIC_BASE_EN | APIC_BASE_EXTD);
    regs.rdx = 0;
    run();
    assert_skipped(2);
    assert_int_equal(fake_msr_get(MSR_IA32_APIC_BASE), APIC_PAGE | APIC_BASE_EN | APIC_BASE_EXTD);
}

static void serial_exclusive_port_floats(void **state)
{
    (void)state;
    bi.policy.serial_exclusive = 1;
    bi.serial_port = 0x2f8;
    fake_port_set(0x2fd, 0x60);
    io_exit(0x2fd, 1, true);
    regs.rax = 0;
    run();
    assert_int_equal(regs.rax, 0xff);
    io_exit(0x2f8, 1, false);
    regs.rax = 'x';
    run();
    assert_int_equal(fake_port_writes(0x2f8), 0);
    assert_int_equal(last_event().action, LAMINA_ACT_DENIED);
}

static void loader_rollback_leaves_vmx(void **state)
{
    (void)state;
    bi.loader_secret = 0x77;
    mon.cpus_virtualized = 2;
    exit_with(EXIT_REASON_VMCALL, 3);
    regs.rax = LAMINA_VMCALL_DEVIRT;
    regs.rbx = 0x77;
    for (unsigned s = 0; s < 8; s++)
        fake_vmcs_set(GUEST_ES_SELECTOR + 2 * s, 0);
    fake_vmcs_set(GUEST_FS_BASE, 0);
    fake_vmcs_set(GUEST_GS_BASE, 0);
    fake_vmcs_set(GUEST_GDTR_LIMIT, 0);
    fake_vmcs_set(GUEST_GDTR_BASE, 0);
    fake_vmcs_set(GUEST_IDTR_LIMIT, 0);
    fake_vmcs_set(GUEST_IDTR_BASE, 0);
    fake_vmcs_set(GUEST_RSP, 0);
    assert_true(run_stops());           /* the jump to native code */
    assert_int_equal(regs.rax, 0);
    assert_int_equal(mon.cpus_virtualized, 1);
    assert_int_equal(report.cpu[0].state, CPU_STATE_DEVIRT);
    assert_false(vmx_cpu(&cpus[0])->in_vmx);
}

static void invd_and_misconfig(void **state)
{
    (void)state;
    exit_with(EXIT_REASON_INVD, 2);
    run();
    assert_skipped(2);
    assert_int_equal(fake_wbinvd_calls, 1);     /* never the guest's INVD */
    exit_with(EXIT_REASON_EPT_MISCONFIG, 3);
    fake_vmcs_set(IDT_VECTORING_INFO_FIELD, 0);
    assert_true(run_stops());
    assert_non_null(strstr(fake_log(), "EPT misconfiguration"));
}

static void cpuid_pt_and_interface_leaves(void **state)
{
    (void)state;
    fake_cpuid_set(7, 0, 0, CPUID_7_0_EBX_INTEL_PT | 1, 0, 0);
    fake_cpuid_set(0x14, 0, 1, 2, 3, 4);
    exit_with(EXIT_REASON_CPUID, 2);
    regs.rax = 7;
    regs.rcx = 0;
    run();
    assert_int_equal(regs.rbx, 1);
    exit_with(EXIT_REASON_CPUID, 2);
    regs.rax = 0x14;
    run();
    assert_int_equal(regs.rax | regs.rbx | regs.rcx | regs.rdx, 0);
    exit_with(EXIT_REASON_CPUID, 2);
    regs.rax = LAMINA_CPUID_INTERFACE;
    run();
    assert_int_equal(regs.rax, LAMINA_CPUID_VERSION);
}

static void vmcall_read_log_from_32_bit_code(void **state)
{
    (void)state;
    io_rule(0, 0x80, 0x80, POLICY_LOG, POLICY_WRITE);
    io_exit(0x80, 1, false);
    regs.rax = 0x42;
    run();                                      /* event 0 */
    exit_flat32(EXIT_REASON_VMCALL, 3);
    regs.rax = 0xffffffff00000000ull | LAMINA_HC_READ_LOG;  /* upper half ignored */
    regs.rbx = LAMINA_HC_MAGIC;
    regs.rdi = 0;
    regs.rsi = 0xffffffff00004000ull;
    regs.rdx = 4096;
    run();
    assert_int_equal((int64_t)regs.rax, LAMINA_OK);
    assert_int_equal(regs.rsi, 1);              /* one record */
    assert_int_equal(regs.rdi, 1);              /* the next cursor */
    struct lamina_event e;
    memcpy(&e, fake_ram + 0x4000, sizeof(e));
    assert_int_equal(e.kind, LAMINA_EV_IO_OUT);
    assert_int_equal(e.value, 0x42);
}

static void intercept_bitmaps(void **state)
{
    (void)state;
    uint8_t *bits = calloc(1, 3 * 4096);
    vmx.msr_bitmap = bits;
    vmx.io_bitmap_a = bits + 4096;
    vmx.io_bitmap_b = bits + 8192;
    be_intercept_msr(0xc0000082, POLICY_WRITE, true);
    assert_int_equal(bits[2048 + 1024 + 0x82 / 8], 1u << (0x82 % 8));  /* write-high */
    assert_int_equal(bits[1024 + 0x82 / 8], 0);
    be_intercept_msr(0x1d9, POLICY_READ, true);
    assert_int_equal(bits[0x1d9 / 8], 1u << (0x1d9 % 8));
    be_intercept_msr(0x40000000, POLICY_READ, true);                   /* outside: ignored */
    be_intercept_io(0x7fff, 2, true);
    assert_int_equal(bits[4096 + 0x7fff / 8], 0x80);
    assert_int_equal(bits[8192], 1);
    be_intercept_io(0x7fff, 1, false);                                  /* released */
    assert_int_equal(bits[4096 + 0x7fff / 8], 0);
    assert_int_equal(bits[8192], 1);
    be_intercept_msr(0xc0000082, POLICY_WRITE, false);
    assert_int_equal(bits[2048 + 1024 + 0x82 / 8], 0);
    free(bits);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(cpuid_signature_with_one_vmread_per_field, setup),
        cmocka_unit_test_setup(cpuid_leaf1_hides_vmx, setup),
        cmocka_unit_test_setup(cpuid_stealth, setup),
        cmocka_unit_test_setup(emulated_instruction_ends_sti_blocking, setup),
        cmocka_unit_test_setup(rdmsr_vmx_capability_is_gp, setup),
        cmocka_unit_test_setup(feature_control_reads_without_vmx, setup),
        cmocka_unit_test_setup(vmcs_held_msrs, setup),
        cmocka_unit_test_setup(locked_msr_per_cpu, setup),
        cmocka_unit_test_setup(denied_msr_read, setup),
        cmocka_unit_test_setup(tsc_write_moves_the_offset, setup),
        cmocka_unit_test_setup(cr0_write_of_a_host_owned_bit, setup),
        cmocka_unit_test_setup(cr4_vmxe_is_gp, setup),
        cmocka_unit_test_setup(xsetbv_checked, setup),
        cmocka_unit_test_setup(io_each_policy_action, setup),
        cmocka_unit_test_setup(io_reset_prints_the_final_summary, setup),
        cmocka_unit_test_setup(rep_outsb_to_a_logged_port, setup),
        cmocka_unit_test_setup(vmcall_version, setup),
        cmocka_unit_test_setup(vmcall_refusals, setup),
        cmocka_unit_test_setup(vmcall_stats_buffers, setup),
        cmocka_unit_test_setup(hidden_page_read_with_mtf, setup),
        cmocka_unit_test_setup(hidden_page_write_with_tf, setup),
        cmocka_unit_test_setup(ept_violation_elsewhere_stops, setup),
        cmocka_unit_test_setup(init_then_sipi, setup),
        cmocka_unit_test_setup(x2apic_init_ipi_kicks_the_target, setup),
        cmocka_unit_test_setup(x2apic_icr_in_xapic_mode_is_gp, setup),
        cmocka_unit_test_setup(init_ipi_not_emulated_by_default, setup),
        cmocka_unit_test_setup(xapic_store_of_an_init_ipi, setup),
        cmocka_unit_test_setup(triple_fault_stops_the_guest, setup),
        cmocka_unit_test_setup(vmx_instructions_raise_ud, setup),
        cmocka_unit_test_setup(unexpected_exit_stops, setup),
        cmocka_unit_test_setup(interrupted_delivery_is_requeued, setup),
        cmocka_unit_test_setup(hidden_page_with_tf_when_the_guest_had_none, setup),
        cmocka_unit_test_setup(guest_nmi_delivered_as_virtual_nmi, setup),
        cmocka_unit_test_setup(guest_nmi_waits_for_the_window, setup),
        cmocka_unit_test_setup(nmi_after_an_injected_event, setup),
        cmocka_unit_test_setup(nmi_dropped_in_wait_for_sipi, setup),
        cmocka_unit_test_setup(nmi_in_root_comes_back_through_the_timer, setup),
        cmocka_unit_test_setup(init_kick_that_hit_vmx_root, setup),
        cmocka_unit_test_setup(cr0_pg_on_activates_ia32e_mode, setup),
        cmocka_unit_test_setup(redelivered_event_keeps_its_length, setup),
        cmocka_unit_test_setup(mtrr_write_retypes_and_flushes_here, setup),
        cmocka_unit_test_setup(msrs_the_guest_may_not_write, setup),
        cmocka_unit_test_setup(serial_exclusive_port_floats, setup),
        cmocka_unit_test_setup(loader_rollback_leaves_vmx, setup),
        cmocka_unit_test_setup(invd_and_misconfig, setup),
        cmocka_unit_test_setup(cpuid_pt_and_interface_leaves, setup),
        cmocka_unit_test_setup(vmcall_read_log_from_32_bit_code, setup),
        cmocka_unit_test_setup(intercept_bitmaps, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
