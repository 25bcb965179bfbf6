/* M6: exits where a guest could tell the monitor from bare metal. Each test
 * sets up an exit as the processor would (tests/unit/exit_harness.h) and
 * checks that the guest sees what a processor without the monitor gives it. */
#include "tests/unit/exit_harness.h"
#include "core/shutdown.h"
#include "core/vcpu.h"

/* ------------------------------------------ item 3: every unconditional exit */

/* SDM 3C 26.1.2: a task switch exits unconditionally. Lamina does not
 * emulate it: the CPU stops with a message that names it, its source and
 * the target TSS selector. */
static void task_switch_stops_naming_it(void **state)
{
    (void)state;
    exit_with(EXIT_REASON_TASK_SWITCH, 0);
    fake_vmcs_set(EXIT_QUALIFICATION, (3ull << 30) | 0x28);     /* IDT task gate, TSS 0x28 */
    fake_vmcs_set(IDT_VECTORING_INFO_FIELD, INTR_INFO_VALID_MASK | INTR_TYPE_HARD_EXCEPTION |
                                            INTR_INFO_DELIVER_CODE_MASK | 8);
    assert_true(run_stops());
    assert_non_null(strstr(fake_log(), "task switch through an IDT task gate to TSS selector "
                                       "0x28 (vector 8) is not emulated"));
    assert_int_equal(cpus[0].exits[LAMINA_EXIT_OTHER], 1);
}

/* SEAMCALL and TDCALL exit unconditionally (SDM 3C 26.1.2); a processor
 * without SEAM/TDX raises #UD for them, so does the guest. */
static void seamcall_tdcall_raise_ud(void **state)
{
    (void)state;
    static const struct { uint32_t reason; unsigned insn; } t[] = {
        { EXIT_REASON_SEAMCALL, LAMINA_INSN_SEAMCALL }, { EXIT_REASON_TDCALL, LAMINA_INSN_TDCALL },
    };
    for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        fake_vmcs_reset();
        exit_with(t[i].reason, 4);
        run();
        assert_injected(INFO_UD);
        assert_int_equal(last_event().kind, LAMINA_EV_VIRT_INSN);
        assert_int_equal(last_event().index, t[i].insn);
    }
    assert_int_equal(cpus[0].exits[LAMINA_EXIT_VIRT_INSN], 2);
    assert_string_equal(lamina_insn_name(LAMINA_INSN_SEAMCALL), "seamcall");
    assert_string_equal(lamina_insn_name(LAMINA_INSN_TDCALL), "tdcall");
}

/* Without the TRUE_ capability MSRs (IA32_VMX_BASIC[55] = 0) CR3-load and
 * CR3-store exiting are default1 and cannot be cleared (SDM 3C A.3.2): every
 * MOV to and from CR3 exits and the monitor does it as the processor would. */
static void cr3_exits_forced_without_true_ctls(void **state)
{
    (void)state;
    struct vmx_caps c = skx;
    c.basic &= ~VMX_BASIC_TRUE_CTLS;
    struct vmx_controls ctl;
    const char *why;
    assert_int_equal(vmx_compute_controls(&c, &ctl, &why), 0);
    assert_true(ctl.proc & CPU_BASED_CR3_LOAD_EXITING);
    assert_true(ctl.proc & CPU_BASED_CR3_STORE_EXITING);

    /* MOV CR3, RBX in 64-bit mode. */
    exit_with(EXIT_REASON_CR_ACCESS, 3);
    fake_vmcs_set(EXIT_QUALIFICATION, 3 | (3u << 8));
    regs.rbx = 0x7000;
    run();
    assert_skipped(3);
    assert_int_equal(fake_vmcs_get(GUEST_CR3), 0x7000);
    assert_int_equal(fake_invvpid_calls(), 1);          /* non-global translations flushed */
    /* MOV RDX, CR3. */
    exit_with(EXIT_REASON_CR_ACCESS, 3);
    fake_vmcs_set(GUEST_CR3, 0x9000);
    fake_vmcs_set(EXIT_QUALIFICATION, 3 | (1u << 4) | (2u << 8));
    regs.rdx = 0;
    run();
    assert_skipped(3);
    assert_int_equal(regs.rdx, 0x9000);
    /* MOV RSP, CR3: RSP is in the VMCS. */
    exit_with(EXIT_REASON_CR_ACCESS, 3);
    fake_vmcs_set(GUEST_CR3, 0x9000);
    fake_vmcs_set(GUEST_RSP, 0);
    fake_vmcs_set(EXIT_QUALIFICATION, 3 | (1u << 4) | (4u << 8));
    run();
    assert_int_equal(fake_vmcs_get(GUEST_RSP), 0x9000);
    /* A bit above MAXPHYADDR: #GP (SDM 2A MOV CR). */
    exit_with(EXIT_REASON_CR_ACCESS, 3);
    fake_vmcs_set(EXIT_QUALIFICATION, 3 | (3u << 8));
    regs.rbx = 1ull << 45;
    run();
    assert_injected(INFO_GP);
    /* CR4.PCIDE and bit 63: no flush, bit 63 is not stored. */
    exit_with(EXIT_REASON_CR_ACCESS, 3);
    fake_vmcs_set(GUEST_CR4, CR4_PAE | CR4_VMXE | (1ull << 17));
    fake_vmcs_set(EXIT_QUALIFICATION, 3 | (3u << 8));
    unsigned flushes = fake_invvpid_calls();
    regs.rbx = (1ull << 63) | 0x5000 | 3;
    run();
    assert_skipped(3);
    assert_int_equal(fake_vmcs_get(GUEST_CR3), 0x5003);
    assert_int_equal(fake_invvpid_calls(), flushes);
}

/* MOV to CR3 under PAE paging loads the four PDPTEs (SDM 3A 5.4.1); a
 * present one with reserved bits set is #GP and nothing changes. */
static void cr3_write_in_pae_mode_loads_pdptes(void **state)
{
    (void)state;
    uint64_t *pdpt = (uint64_t *)(fake_ram + 0x6020);
    pdpt[0] = 0x11001;
    pdpt[1] = 0;
    pdpt[2] = 0x13001;
    pdpt[3] = 0x14001;
    exit_flat32(EXIT_REASON_CR_ACCESS, 3);
    fake_vmcs_set(GUEST_CR0, CR0_PE | CR0_NE | CR0_PG);
    fake_vmcs_set(CR0_READ_SHADOW, CR0_PE | CR0_NE | CR0_PG);
    fake_vmcs_set(GUEST_CR4, CR4_PAE | CR4_VMXE);
    fake_vmcs_set(EXIT_QUALIFICATION, 3 | (0u << 8));
    regs.rax = 0x6020;
    run();
    assert_skipped(3);
    assert_int_equal(fake_vmcs_get(GUEST_CR3), 0x6020);
    assert_int_equal(fake_vmcs_get(GUEST_PDPTR0), 0x11001);
    assert_int_equal(fake_vmcs_get(GUEST_PDPTR1), 0);
    assert_int_equal(fake_vmcs_get(GUEST_PDPTR2), 0x13001);
    assert_int_equal(fake_vmcs_get(GUEST_PDPTR3), 0x14001);
    /* Bit 1 of a present PDPTE is reserved. */
    pdpt[3] = 0x14003;
    exit_flat32(EXIT_REASON_CR_ACCESS, 3);
    fake_vmcs_set(GUEST_CR0, CR0_PE | CR0_NE | CR0_PG);
    fake_vmcs_set(CR0_READ_SHADOW, CR0_PE | CR0_NE | CR0_PG);
    fake_vmcs_set(GUEST_CR4, CR4_PAE | CR4_VMXE);
    fake_vmcs_set(GUEST_CR3, 0x1000);
    fake_vmcs_set(EXIT_QUALIFICATION, 3 | (0u << 8));
    run();
    assert_injected(INFO_GP);
    assert_int_equal(fake_vmcs_get(GUEST_CR3), 0x1000);
}

/* A SIPI for several CPUs is sent once per target with the guest's ICR bits:
 * a value the APIC refuses (x2APIC: reserved bits, #GP) must give the guest
 * the #GP, not fault in VMX root (SDM 3A 11.12.9). */
static void split_sipi_with_a_refused_icr_value_is_gp(void **state)
{
    (void)state;
    mon.init_emulation = true;
    fake_msr_set(MSR_IA32_APIC_BASE, APIC_PAGE | APIC_BASE_EN | APIC_BASE_EXTD);
    fake_msr_set(MSR_X2APIC_ICR, 0);
    fake_msr_refuse_writes(MSR_X2APIC_ICR);
    exit_with(EXIT_REASON_MSR_WRITE, 2);
    regs.rcx = MSR_X2APIC_ICR;
    regs.rax = (3u << 18) | (ICR_MODE_STARTUP << 8) | ICR_LEVEL_ASSERT | (1u << 16) | 0x9a;
    regs.rdx = 0;
    run();
    assert_injected(INFO_GP);
}

/* ------------------------------------------------------------ item 2: resets */

#define ACPI_RESET_PORT 0xb2
#define ACPI_RESET_VALUE 0x0f

/* An I/O exit of an OUT of `size` bytes to `port` (value in RAX). */
static void out_exit(uint16_t port, unsigned size, uint32_t value)
{
    exit_with(EXIT_REASON_IO_INSTRUCTION, 1);
    fake_vmcs_set(EXIT_QUALIFICATION, ((uint64_t)port << 16) | (size - 1));
    regs.rax = value;
}

/* The machine was reset the hard way: the ACPI reset register if the FADT
 * gives one, then the reset control register with SYS_RST, then the 8042. */
static void assert_machine_reset(void)
{
    assert_int_equal(fake_port_last(ACPI_RESET_PORT), ACPI_RESET_VALUE);
    assert_int_equal(fake_port_last(0xcf9), 0x06);
    assert_int_equal(fake_port_last(0x64), 0xfe);
}

static void with_acpi_reset_register(void)
{
    mon.reset_port = ACPI_RESET_PORT;
    mon.reset_value = ACPI_RESET_VALUE;
}

/* A triple fault is a shutdown, which the chipset of a PC turns into a reset:
 * with on-triple-fault reset (the default) so does the monitor, logged first. */
static void triple_fault_resets_by_default(void **state)
{
    (void)state;
    with_acpi_reset_register();
    exit_with(EXIT_REASON_TRIPLE_FAULT, 0);
    assert_true(run_stops());
    assert_machine_reset();
    const char *log = fake_log(), *tf = strstr(log, "cpu 0: triple fault in the guest "
                                                    "(on-triple-fault reset): resetting the machine");
    assert_non_null(tf);
    /* Logged before the exits summary, which comes before the reset. */
    const char *summary = strstr(log, "exits triple-fault: 1");
    assert_non_null(summary);
    assert_true(tf < summary);
    assert_int_equal(last_event().kind, LAMINA_EV_TRIPLE_FAULT);
    assert_int_equal(last_event().action, LAMINA_ACT_RESET);
}

static void triple_fault_stops_with_on_triple_fault_stop(void **state)
{
    (void)state;
    bi.on_triple_fault = LAMINA_TRIPLE_FAULT_STOP;
    exit_with(EXIT_REASON_TRIPLE_FAULT, 0);
    assert_true(run_stops());
    assert_non_null(strstr(fake_log(), "triple fault in the guest; guest stopped on this CPU"));
    assert_int_equal(fake_port_writes(0xcf9), 0);
    assert_int_equal(last_event().action, LAMINA_ACT_STOPPED);
}

/* SDM 3A 9.1: after INIT the BSP starts over at the reset vector in the
 * firmware, which is gone under an OS: the monitor resets the machine. An AP
 * waits for a SIPI, as before. */
static void init_exit_on_the_bsp_resets(void **state)
{
    (void)state;
    exit_with(EXIT_REASON_INIT_SIGNAL, 0);
    assert_true(run_stops());
    assert_int_equal(fake_port_last(0xcf9), 0x06);
    assert_non_null(strstr(fake_log(), "cpu 0: INIT on the bootstrap processor: resetting the machine"));
    assert_false(cpus[0].waiting_for_sipi);
}

/* The same for an INIT IPI the monitor emulates (init-emulation), sent by an
 * AP to the BSP: the kick's NMI exit on the BSP resets. */
static void emulated_init_ipi_to_the_bsp_resets(void **state)
{
    (void)state;
    mon.init_emulation = true;
    fake_msr_set(MSR_IA32_APIC_BASE, APIC_PAGE | APIC_BASE_EN | APIC_BASE_EXTD);
    fake_msr_set(MSR_X2APIC_ICR, 0);
    fake_this_cpu = &cpus[1];
    exit_with(EXIT_REASON_MSR_WRITE, 2);
    regs.rcx = MSR_X2APIC_ICR;
    regs.rax = (ICR_MODE_INIT << 8) | ICR_LEVEL_ASSERT;
    regs.rdx = 0;                                   /* APIC ID 0: the BSP */
    run();
    assert_true(cpus[0].init_request);
    fake_this_cpu = &cpus[0];
    exit_with(EXIT_REASON_EXCEPTION_NMI, 0);
    fake_vmcs_set(VM_EXIT_INTR_INFO, INTR_INFO_VALID_MASK | INTR_TYPE_NMI_INTR | 2);
    fake_vmcs_set(IDT_VECTORING_INFO_FIELD, 0);
    assert_true(run_stops());
    assert_int_equal(fake_port_last(0xcf9), 0x06);
    assert_non_null(strstr(fake_log(), "cpu 0: INIT on the bootstrap processor: resetting the machine"));
}

/* The 8042's "pulse output port" commands (0xf0-0xff; a 0 in bit 0 pulses the
 * reset line, IBM PC/AT technical reference) reset the machine: trapped like
 * 0xcf9, the summary is printed and the command reaches the controller. */
static void kbc_reset_is_a_reset(void **state)
{
    (void)state;
    const struct shutdown_ports none = { { 0, 0 }, 0 };
    assert_int_equal(shutdown_write_kind(&none, 0x64, 1, 0xfe), SHUTDOWN_KBC_RESET);
    assert_int_equal(shutdown_write_kind(&none, 0x64, 1, 0xf0), SHUTDOWN_KBC_RESET);
    assert_int_equal(shutdown_write_kind(&none, 0x64, 1, 0xff), SHUTDOWN_NONE);
    assert_int_equal(shutdown_write_kind(&none, 0x64, 1, 0xd1), SHUTDOWN_NONE);
    assert_int_equal(shutdown_write_kind(&none, 0x60, 1, 0xfe), SHUTDOWN_NONE);

    uint8_t *bits = calloc(1, 3 * 4096);
    vmx.msr_bitmap = bits;
    vmx.io_bitmap_a = bits + 4096;
    vmx.io_bitmap_b = bits + 8192;
    io_intercepts_init();
    assert_true(vmx.io_bitmap_a[0x64 / 8] & (1u << (0x64 % 8)));
    assert_true(vmx.io_bitmap_a[0xcf9 / 8] & (1u << (0xcf9 % 8)));
    free(bits);

    out_exit(0x64, 1, 0xfe);
    run();
    assert_skipped(1);
    assert_int_equal(fake_port_last(0x64), 0xfe);
    assert_non_null(strstr(fake_log(), "guest resets the machine (8042 reset line) (port 0x64, value 0xfe)"));
    assert_non_null(strstr(fake_log(), "exits io: 1"));
}

/* 0xcf9 and the FADT reset register: the summary, then the write itself. A
 * soft reset (RST_CPU without SYS_RST) asserts INIT on a PC (its INIT exit on
 * the BSP then resets, above). */
static void cf9_and_acpi_resets_reach_the_hardware(void **state)
{
    (void)state;
    with_acpi_reset_register();
    out_exit(0xcf9, 1, 0x04);
    run();
    assert_skipped(1);
    assert_int_equal(fake_port_last(0xcf9), 0x04);
    assert_non_null(strstr(fake_log(), "guest resets the machine (port 0xcf9, value 0x4)"));
    out_exit(ACPI_RESET_PORT, 1, ACPI_RESET_VALUE);
    run();
    assert_int_equal(fake_port_last(ACPI_RESET_PORT), ACPI_RESET_VALUE);
    assert_int_equal(fake_port_writes(ACPI_RESET_PORT), 1);
}

/* ---------------------------------------------------- item 5: CR0/CR4 writes */

/* CR0.PG is the guest's own bit (not in the CR0 mask): its read-shadow copy is
 * stale. Turning paging on with EFER.LME activates IA-32e mode (SDM 3A
 * 10.8.5) whatever the shadow says. */
static void lma_follows_the_real_cr0_pg(void **state)
{
    (void)state;
    exit_with(EXIT_REASON_CR_ACCESS, 3);
    fake_vmcs_set(GUEST_CR0, CR0_PE | CR0_NE);                  /* paging off */
    fake_vmcs_set(CR0_READ_SHADOW, CR0_PE | CR0_PG);            /* stale PG, NE clear */
    fake_vmcs_set(GUEST_IA32_EFER, EFER_LME);
    fake_vmcs_set(GUEST_CS_AR_BYTES, CS_AR_32);
    fake_vmcs_set(VM_ENTRY_CONTROLS, 0);
    fake_vmcs_set(EXIT_QUALIFICATION, 0);                        /* MOV CR0, RAX */
    regs.rax = CR0_PE | CR0_PG | CR0_NE;
    run();
    assert_skipped(3);
    assert_int_equal(fake_vmcs_get(GUEST_IA32_EFER), EFER_LME | EFER_LMA);
    assert_int_equal(fake_vmcs_get(VM_ENTRY_CONTROLS), VM_ENTRY_IA32E_MODE);
    /* And the other way: paging really on (compatibility mode), a shadow
     * saying off; turning it off leaves IA-32e mode. */
    exit_with(EXIT_REASON_CR_ACCESS, 3);
    fake_vmcs_set(GUEST_CR0, CR0_PE | CR0_NE | CR0_PG);
    fake_vmcs_set(CR0_READ_SHADOW, CR0_PE | CR0_NE);
    fake_vmcs_set(GUEST_IA32_EFER, EFER_LME | EFER_LMA);
    fake_vmcs_set(GUEST_CS_AR_BYTES, CS_AR_32);                 /* compatibility mode */
    fake_vmcs_set(GUEST_CR4, CR4_PAE | CR4_VMXE);
    fake_vmcs_set(VM_ENTRY_CONTROLS, VM_ENTRY_IA32E_MODE);
    fake_vmcs_set(EXIT_QUALIFICATION, 0);
    regs.rax = CR0_PE;                                           /* NE and PG cleared */
    run();
    assert_skipped(3);
    assert_int_equal(fake_vmcs_get(GUEST_IA32_EFER), EFER_LME);
    assert_int_equal(fake_vmcs_get(VM_ENTRY_CONTROLS), 0);
}

/* LMSW changes CR0 bits 3:0 of the guest's real CR0 (PE, MP, EM, TS are
 * guest-owned too, SDM 2A LMSW). */
static void lmsw_starts_from_the_real_cr0(void **state)
{
    (void)state;
    exit_with(EXIT_REASON_CR_ACCESS, 3);
    fake_vmcs_set(GUEST_CR0, CR0_PE | CR0_NE | CR0_PG | 8);     /* TS set */
    fake_vmcs_set(CR0_READ_SHADOW, 0);                           /* NE clear, stale rest */
    fake_vmcs_set(VM_ENTRY_CONTROLS, VM_ENTRY_IA32E_MODE);
    fake_vmcs_set(EXIT_QUALIFICATION, (3u << 4) | ((uint64_t)(CR0_NE | 2) << 16));
    run();
    /* LMSW loads bits 3:0 only (MP set, TS cleared): NE stays as the guest had it. */
    assert_int_equal(fake_vmcs_get(CR0_READ_SHADOW), CR0_PE | CR0_PG | 2);
}

/* A MOV to CR0 that exits and leaves PAE paging on loads the PDPTEs from CR3
 * (SDM 3A 5.4.1); bad ones are #GP and change nothing. */
static void cr0_write_enabling_pae_paging_loads_pdptes(void **state)
{
    (void)state;
    uint64_t *pdpt = (uint64_t *)(fake_ram + 0x6000);
    pdpt[0] = 0x21001;
    pdpt[1] = 0x22001;
    pdpt[2] = 0;
    pdpt[3] = 0x24001;
    exit_flat32(EXIT_REASON_CR_ACCESS, 3);
    fake_vmcs_set(GUEST_CR4, CR4_PAE | CR4_VMXE);
    fake_vmcs_set(GUEST_CR3, 0x6000);
    fake_vmcs_set(VM_ENTRY_CONTROLS, 0);
    fake_vmcs_set(EXIT_QUALIFICATION, 0);
    regs.rax = CR0_PE | CR0_PG;                                  /* and NE cleared: exits */
    run();
    assert_skipped(3);
    assert_int_equal(fake_vmcs_get(GUEST_PDPTR0), 0x21001);
    assert_int_equal(fake_vmcs_get(GUEST_PDPTR1), 0x22001);
    assert_int_equal(fake_vmcs_get(GUEST_PDPTR2), 0);
    assert_int_equal(fake_vmcs_get(GUEST_PDPTR3), 0x24001);
    assert_true(fake_vmcs_get(GUEST_CR0) & CR0_PG);
    /* A reserved bit (bit 5) in a present PDPTE: #GP, paging stays off. */
    pdpt[1] = 0x22021;
    exit_flat32(EXIT_REASON_CR_ACCESS, 3);
    fake_vmcs_set(GUEST_CR4, CR4_PAE | CR4_VMXE);
    fake_vmcs_set(GUEST_CR3, 0x6000);
    fake_vmcs_set(VM_ENTRY_CONTROLS, 0);
    fake_vmcs_set(EXIT_QUALIFICATION, 0);
    regs.rax = CR0_PE | CR0_PG;
    run();
    assert_injected(INFO_GP);
    assert_false(fake_vmcs_get(GUEST_CR0) & CR0_PG);
}

/* The same for a CR4 write that exits (a host-owned CR4 bit in the mask). */
static void cr4_write_under_pae_paging_loads_pdptes(void **state)
{
    (void)state;
    uint64_t *pdpt = (uint64_t *)(fake_ram + 0x6000);
    pdpt[0] = 0x31001;
    pdpt[1] = pdpt[2] = pdpt[3] = 0;
    vmx.cr4_mask = CR4_VMXE | CR4_PSE;         /* as if the CPU fixed CR4.PSE */
    exit_flat32(EXIT_REASON_CR_ACCESS, 3);
    fake_vmcs_set(GUEST_CR0, CR0_PE | CR0_NE | CR0_PG);
    fake_vmcs_set(CR0_READ_SHADOW, CR0_PE | CR0_NE | CR0_PG);
    fake_vmcs_set(GUEST_CR3, 0x6000);
    fake_vmcs_set(GUEST_CR4, CR4_VMXE | CR4_PSE);
    fake_vmcs_set(CR4_READ_SHADOW, CR4_PSE);                     /* PAE off, PSE on */
    fake_vmcs_set(EXIT_QUALIFICATION, 4);                        /* MOV CR4, RAX */
    regs.rax = CR4_PAE;                                          /* PAE on, PSE off */
    run();
    assert_skipped(3);
    assert_int_equal(fake_vmcs_get(GUEST_PDPTR0), 0x31001);
    assert_int_equal(fake_vmcs_get(GUEST_PDPTR3), 0);
}

/* ------------------------------------------------- item 6: TSC_DEADLINE */

#define MSR_TSC_DEADLINE 0x6e0

static void msr_exit(uint32_t reason, uint32_t msr, uint64_t value)
{
    exit_with(reason, 2);
    regs.rcx = msr;
    regs.rax = (uint32_t)value;
    regs.rdx = value >> 32;
}

static bool msr_trapped(const uint8_t *bits, uint32_t msr, bool write)
{
    return bits[(write ? 2048 : 0) + msr / 8] & (1u << (msr % 8));
}

/* The guest's TSC is the processor's plus the offset; the processor compares
 * IA32_TSC_DEADLINE with its own TSC (SDM 3A 11.5.4.1). Once a TSC_ADJUST or
 * TSC write gives an offset, the deadline is trapped and translated both
 * ways, and one already armed moves with the guest's TSC. */
static void tsc_deadline_follows_the_offset(void **state)
{
    (void)state;
    uint8_t *bits = calloc(1, 4096);
    vmx.msr_bitmap = bits;
    fake_msr_set(MSR_TSC_DEADLINE, 0);
    /* No offset yet: the deadline is the guest's own, not trapped. */
    msr_intercepts_init();
    assert_false(msr_trapped(bits, MSR_TSC_DEADLINE, true));

    /* Linux zeroes a firmware TSC_ADJUST of -1000: the guest's TSC jumps by 1000. */
    cpus[0].tsc.adjust = (uint64_t)-1000;
    msr_exit(EXIT_REASON_MSR_WRITE, MSR_IA32_TSC_ADJUST, 0);
    run();
    assert_skipped(2);
    assert_int_equal(cpus[0].tsc.offset, 1000);
    assert_true(msr_trapped(bits, MSR_TSC_DEADLINE, true));
    assert_true(msr_trapped(bits, MSR_TSC_DEADLINE, false));

    /* A deadline at guest TSC 50000 is processor TSC 49000. */
    msr_exit(EXIT_REASON_MSR_WRITE, MSR_TSC_DEADLINE, 50000);
    run();
    assert_skipped(2);
    assert_int_equal(fake_msr_get(MSR_TSC_DEADLINE), 49000);
    msr_exit(EXIT_REASON_MSR_READ, MSR_TSC_DEADLINE, 0);
    run();
    assert_int_equal(regs.rax, 50000);
    assert_int_equal(regs.rdx, 0);

    /* The guest's TSC moves again (TSC_ADJUST = 500): the armed deadline
     * still fires at guest TSC 50000, processor TSC 48500. */
    msr_exit(EXIT_REASON_MSR_WRITE, MSR_IA32_TSC_ADJUST, 500);
    run();
    assert_int_equal(cpus[0].tsc.offset, 1500);
    assert_int_equal(fake_msr_get(MSR_TSC_DEADLINE), 48500);

    /* 0 disarms, and a disarmed (or fired) deadline reads 0. */
    msr_exit(EXIT_REASON_MSR_WRITE, MSR_TSC_DEADLINE, 0);
    run();
    assert_int_equal(fake_msr_get(MSR_TSC_DEADLINE), 0);
    msr_exit(EXIT_REASON_MSR_READ, MSR_TSC_DEADLINE, 0);
    regs.rax = 0x77;
    run();
    assert_int_equal(regs.rax, 0);
    free(bits);
}

/* A processor without the TSC-deadline mode: its #GP stays the guest's. */
static void tsc_deadline_absent_is_gp(void **state)
{
    (void)state;
    uint8_t *bits = calloc(1, 4096);
    vmx.msr_bitmap = bits;
    cpus[0].tsc.offset = 1000;
    msr_exit(EXIT_REASON_MSR_WRITE, MSR_TSC_DEADLINE, 5);
    run();
    assert_injected(INFO_GP);
    free(bits);
}

/* ------------------------------------------- item 1: all of physical memory */

/* The EPT covers [0, phys_limit) at hand-off; an access above it (a 64-bit
 * BAR) is mapped on first touch, typed by the MTRRs, and the instruction runs
 * again: no stop, nothing injected, RIP where it was. Up to MAXPHYADDR. */
static void access_above_ram_is_mapped_on_first_touch(void **state)
{
    (void)state;
    static uint8_t *mem;
    if (!mem)
        mem = aligned_alloc(4096, 72 * 4096);
    memset(mem, 0, 72 * 4096);
    mon.mtrr.enabled = true;
    mon.mtrr.def_type = MT_UC;
    mon.mtrr.phys_mask = (1ull << 39) - 1;
    struct ept_params p = { .mtrr = &mon.mtrr, .limit = FAKE_RAM_SIZE, .allow_1g = true };
    struct ept_pool pool = { .base = mem, .npages = 64 };
    struct ept_stats st;
    assert_int_equal(ept_build(&p, &pool, &vmx.ept_root, &st), 0);
    vmx.ept_1g = true;
    vmx.ept_reserve = (struct ept_pool){ .base = mem + 64 * 4096, .npages = 8 };

    const uint64_t bar = 0x4000000000ull + 0x10;        /* 256 GiB: a 64-bit BAR */
    exit_with(EXIT_REASON_EPT_VIOLATION, 4);
    fake_vmcs_set(EXIT_QUALIFICATION, 2);                /* a write */
    fake_vmcs_set(GUEST_PHYSICAL_ADDRESS, bar);
    fake_vmcs_set(IDT_VECTORING_INFO_FIELD, 0);
    run();
    assert_int_equal(fake_vmcs_get(GUEST_RIP), RIP0);   /* the access runs again */
    assert_false(fake_vmcs_has(VM_ENTRY_INTR_INFO_FIELD) &&
                 (fake_vmcs_get(VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID_MASK));
    int level;
    uint64_t *e = ept_leaf(vmx.ept_root, bar, &level);
    assert_non_null(e);
    assert_int_equal(level, 3);
    assert_int_equal((*e & EPT_MT_MASK) >> EPT_MT_SHIFT, MT_UC);

    /* Just below MAXPHYADDR (39 here), and just above the RAM (a 2 MiB leaf
     * in the first GiB, whose PD the build made). */
    exit_with(EXIT_REASON_EPT_VIOLATION, 4);
    fake_vmcs_set(EXIT_QUALIFICATION, 1);
    fake_vmcs_set(GUEST_PHYSICAL_ADDRESS, (1ull << 39) - 8);
    fake_vmcs_set(IDT_VECTORING_INFO_FIELD, 0);
    run();
    assert_non_null(ept_leaf(vmx.ept_root, (1ull << 39) - 8, &level));
    exit_with(EXIT_REASON_EPT_VIOLATION, 4);
    fake_vmcs_set(EXIT_QUALIFICATION, 1);
    fake_vmcs_set(GUEST_PHYSICAL_ADDRESS, FAKE_RAM_SIZE);
    fake_vmcs_set(IDT_VECTORING_INFO_FIELD, 0);
    run();
    e = ept_leaf(vmx.ept_root, FAKE_RAM_SIZE, &level);
    assert_non_null(e);
    assert_int_equal(level, 2);
    assert_int_equal(cpus[0].exits[LAMINA_EXIT_MEMORY], 3);
}

/* --------------------------------------------------- item 7: translations */

/* The INVEPT and INVVPID types come from IA32_VMX_EPT_VPID_CAP (SDM 3C A.10):
 * single-context where supported, else all-context (vmx_check_cpu requires
 * one of the two). A CPU with only all-context INVEPT got VMfailValid. */
static void invalidation_types_from_the_capabilities(void **state)
{
    (void)state;
    struct percpu *pc = &cpus[0];
    vmx_flush_ept();
    vmx_flush_vpid(pc);
    assert_int_equal(fake_invept_last_type(), 1);       /* single-context */
    assert_int_equal(fake_invvpid_last_type(), 1);
    vmx.caps.ept_vpid &= ~(VMX_EPT_EXTENT_CONTEXT_BIT | VMX_VPID_EXTENT_SINGLE_CONTEXT_BIT);
    vmx_flush_ept();
    vmx_flush_vpid(pc);
    assert_int_equal(fake_invept_last_type(), 2);       /* all-context */
    assert_int_equal(fake_invvpid_last_type(), 2);
}

/* The page walker the monitor uses on the guest's behalf (hypercall buffers,
 * INS, instruction fetch) sees the guest's protection keys, PKRU (live in the
 * processor: the monitor does not switch it) and IA32_PKRS (not switched
 * either), and sets A/D flags in guest memory, never in the monitor's. */
static void walk_context_has_pkeys_and_sets_ad(void **state)
{
    (void)state;
    exit_with(EXIT_REASON_CPUID, 2);
    fake_vmcs_set(GUEST_CR4, CR4_PAE | CR4_VMXE | CR4_PKE | CR4_PKS);
    fake_pkru = 0x0000000c;                     /* key 1: access and write disabled */
    fake_msr_set(MSR_IA32_PKRS, 0x30);          /* key 2 */
    struct vcpu v;
    vcpu_begin(&v, &cpus[0], &regs, LAMINA_EXIT_CPUID);
    struct gwalk_ctx c;
    uint64_t pdpte[4];
    vcpu_walk_ctx(&v, &c, pdpte);
    assert_int_equal(c.pkru, 0xc);
    assert_int_equal(c.pkrs, 0x30);
    assert_non_null(c.set_bits);
    memset(fake_ram + 0x3000, 0, 8);
    c.set_bits(c.opaque, 0x3000, 0x60, 8);
    assert_int_equal(fake_ram[0x3000], 0x60);
    fake_ram[MON_BASE] = 0;
    c.set_bits(c.opaque, MON_BASE, 0x20, 8);    /* monitor memory: untouched */
    assert_int_equal(fake_ram[MON_BASE], 0);
    /* Without CR4.PKE/PKS the keys play no part and are not read. */
    exit_with(EXIT_REASON_CPUID, 2);
    fake_pkru = 0xffffffff;
    vcpu_begin(&v, &cpus[0], &regs, LAMINA_EXIT_CPUID);
    vcpu_walk_ctx(&v, &c, pdpte);
    assert_int_equal(c.pkru, 0);
    assert_int_equal(c.pkrs, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(task_switch_stops_naming_it, setup),
        cmocka_unit_test_setup(seamcall_tdcall_raise_ud, setup),
        cmocka_unit_test_setup(cr3_exits_forced_without_true_ctls, setup),
        cmocka_unit_test_setup(cr3_write_in_pae_mode_loads_pdptes, setup),
        cmocka_unit_test_setup(split_sipi_with_a_refused_icr_value_is_gp, setup),
        cmocka_unit_test_setup(triple_fault_resets_by_default, setup),
        cmocka_unit_test_setup(triple_fault_stops_with_on_triple_fault_stop, setup),
        cmocka_unit_test_setup(init_exit_on_the_bsp_resets, setup),
        cmocka_unit_test_setup(emulated_init_ipi_to_the_bsp_resets, setup),
        cmocka_unit_test_setup(kbc_reset_is_a_reset, setup),
        cmocka_unit_test_setup(cf9_and_acpi_resets_reach_the_hardware, setup),
        cmocka_unit_test_setup(lma_follows_the_real_cr0_pg, setup),
        cmocka_unit_test_setup(lmsw_starts_from_the_real_cr0, setup),
        cmocka_unit_test_setup(cr0_write_enabling_pae_paging_loads_pdptes, setup),
        cmocka_unit_test_setup(cr4_write_under_pae_paging_loads_pdptes, setup),
        cmocka_unit_test_setup(tsc_deadline_follows_the_offset, setup),
        cmocka_unit_test_setup(tsc_deadline_absent_is_gp, setup),
        cmocka_unit_test_setup(access_above_ram_is_mapped_on_first_touch, setup),
        cmocka_unit_test_setup(invalidation_types_from_the_capabilities, setup),
        cmocka_unit_test_setup(walk_context_has_pkeys_and_sets_ad, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
