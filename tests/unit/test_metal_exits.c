/* M6: exits where a guest could tell the monitor from bare metal. Each test
 * sets up an exit as the processor would (tests/unit/exit_harness.h) and
 * checks that the guest sees what a processor without the monitor gives it. */
#include "tests/unit/exit_harness.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(task_switch_stops_naming_it, setup),
        cmocka_unit_test_setup(seamcall_tdcall_raise_ud, setup),
        cmocka_unit_test_setup(cr3_exits_forced_without_true_ctls, setup),
        cmocka_unit_test_setup(cr3_write_in_pae_mode_loads_pdptes, setup),
        cmocka_unit_test_setup(split_sipi_with_a_refused_icr_value_is_gp, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
