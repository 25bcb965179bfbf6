/* M7, no side doors: the paths to monitor memory that do not go through a
 * trapped instruction (XSAVES state, performance monitoring, transient
 * execution, memory types, sleep states, kernel pointers in READ_LOG), each
 * through the VT-x exit dispatcher and the fake VMCS and hardware as in
 * tests/unit/exit_harness.h. */
#include "tests/unit/exit_harness.h"
#include "core/shutdown.h"
#include "core/spec.h"
#include "core/vcpu.h"

/* ------------------------------------------------- 1. IA32_XSS and XRSTORS */

static uint8_t *bitmaps(void)
{
    static uint8_t *bits;
    if (!bits)
        bits = aligned_alloc(4096, 3 * 4096);
    memset(bits, 0, 3 * 4096);
    vmx.msr_bitmap = bits;
    vmx.io_bitmap_a = bits + 4096;
    vmx.io_bitmap_b = bits + 8192;
    return bits;
}

static bool write_exits(const uint8_t *bits, uint32_t msr)
{
    unsigned high = msr >= 0xc0000000u ? 1024 : 0, b = msr & 0x1fff;
    return bits[2048 + high + b / 8] & (1u << (b % 8));
}

/* IA32_XSS passed through, a guest could set bit 8 and XRSTORS an Intel PT
 * state whose output base is host-physical monitor memory. */
static void xss_writes_exit(void **state)
{
    (void)state;
    uint8_t *bits = bitmaps();
    msr_intercepts_init();
    assert_true(write_exits(bits, 0xda0));
}

/* CPUID.(0DH,1) lists no PT state, CPUID.(0DH,8) is empty: as on a CPU
 * without PT, which the guest already sees in leaf 7. */
static void cpuid_0d_hides_pt_state(void **state)
{
    (void)state;
    fake_cpuid_set(0xd, 1, 0xf, 0x340, 0x1900, 0);          /* XSAVES; PT, CET U/S */
    fake_cpuid_set(0xd, 8, 0x80, 0, 1, 0);
    exit_with(EXIT_REASON_CPUID, 2);
    regs.rax = 0xd;
    regs.rcx = 1;
    run();
    assert_int_equal(regs.rax, 0xf);
    assert_int_equal(regs.rcx, 0x1800);
    exit_with(EXIT_REASON_CPUID, 2);
    regs.rax = 0xd;
    regs.rcx = 8;
    run();
    assert_int_equal(regs.rax | regs.rbx | regs.rcx | regs.rdx, 0);
}

static void xss_guest_mask_from_cpuid(void **state)
{
    (void)state;
    assert_int_equal(cpuid_xss_guest_mask(0xf, 0x1900, 0), 0x1800);
    assert_int_equal(cpuid_xss_guest_mask(0xf, 0x100, 1), 1ull << 32);
    assert_int_equal(cpuid_xss_guest_mask(0x7, 0x1900, 0), 0);      /* no XSAVES */
}

static void wrmsr_xss(uint64_t value)
{
    exit_with(EXIT_REASON_MSR_WRITE, 2);
    regs.rcx = 0xda0;
    regs.rax = (uint32_t)value;
    regs.rdx = value >> 32;
    run();
}

/* Bits the guest may use reach the processor; others are #GP, never written. */
static void xss_write_checked_against_cpuid(void **state)
{
    (void)state;
    mon.xss_guest = cpuid_xss_guest_mask(0xf, 0x1900, 0);
    fake_msr_set(0xda0, 0);
    wrmsr_xss(1ull << 8);
    assert_injected(INFO_GP);
    wrmsr_xss(1ull << 14);
    assert_injected(INFO_GP);
    wrmsr_xss(1ull << 40);
    assert_injected(INFO_GP);
    assert_int_equal(fake_msr_writes(0xda0), 0);
    assert_non_null(strstr(fake_log(), "IA32_XSS = 0x100 refused"));
    wrmsr_xss(0x1800);
    assert_skipped(2);
    assert_int_equal(fake_msr_get(0xda0), 0x1800);
    wrmsr_xss(0);
    assert_skipped(2);
    assert_int_equal(fake_msr_get(0xda0), 0);
}

/* A deny rule on IA32_XSS itself still applies: the trap is the same exit. */
static void xss_deny_rule(void **state)
{
    (void)state;
    mon.xss_guest = 0x1800;
    fake_msr_set(0xda0, 0);
    bi.policy.nrules = 1;
    bi.policy.rule[0] = (struct policy_rule){ .first = 0xda0, .last = 0xda0, .space = POLICY_MSR,
                                              .action = POLICY_DENY, .dir = POLICY_WRITE };
    wrmsr_xss(0x800);
    assert_injected(INFO_GP);
    assert_int_equal(last_event().action, LAMINA_ACT_DENIED);
    assert_int_equal(fake_msr_writes(0xda0), 0);
}


/* ------------------------------------------------ 5. transient execution */

#define E_ALL (CPUID_7_EDX_SPEC_CTRL | CPUID_7_EDX_L1D_FLUSH | CPUID_7_EDX_MD_CLEAR | \
               CPUID_7_EDX_ARCH_CAP)
#define AC_MMIO_NO (ARCH_CAP_SBDR_SSDP_NO | ARCH_CAP_FBSDP_NO | ARCH_CAP_PSDP_NO)

static struct spec_plan decide(uint32_t edx, uint64_t ac)
{
    struct spec_cpu c = { .cpuid7_edx = edx, .arch_cap = ac };
    struct spec_plan p;
    spec_decide(&c, &p);
    return p;
}

/* Each decision from CPUID and ARCH_CAPABILITIES, as on CPUs of each kind. */
static void spec_decisions(void **state)
{
    (void)state;
    /* Skylake-SP with updated microcode: no ARCH_CAPABILITIES; L1TF, MDS. */
    struct spec_plan p = decide(E_ALL & ~CPUID_7_EDX_ARCH_CAP, 0);
    assert_true(p.spec_ctrl);
    assert_int_equal(p.host_spec_ctrl, SPEC_CTRL_IBRS);
    assert_true(p.l1d_flush);
    assert_false(p.verw);               /* the L1D flush clears the buffers too */
    assert_true(p.mds && p.mmio_stale);
    /* Cascade Lake: RDCL_NO, MDS_NO, but MMIO stale data; FB_CLEAR. */
    p = decide(E_ALL, ARCH_CAP_RDCL_NO | ARCH_CAP_IBRS_ALL | ARCH_CAP_MDS_NO | ARCH_CAP_FB_CLEAR);
    assert_false(p.l1d_flush);
    assert_false(p.l1tf_open);
    assert_false(p.mds);
    assert_true(p.mmio_stale);
    assert_true(p.verw);
    /* Sapphire Rapids: none of them. */
    p = decide(E_ALL, ARCH_CAP_RDCL_NO | ARCH_CAP_IBRS_ALL | ARCH_CAP_MDS_NO | AC_MMIO_NO);
    assert_false(p.l1d_flush || p.verw || p.l1tf_open);
    assert_true(p.spec_ctrl);
    /* Nested under a VMM that flushes: SKIP_L1DFL_VMENTRY; MDS still needs VERW. */
    p = decide(E_ALL, ARCH_CAP_SKIP_L1DFL_VMENTRY);
    assert_false(p.l1d_flush);
    assert_true(p.verw);
    /* Old microcode: open to L1TF and MDS with no means to flush: said, not done. */
    p = decide(0, 0);
    assert_false(p.spec_ctrl || p.l1d_flush || p.verw);
    assert_true(p.l1tf_open);
    /* ARCH_CAPABILITIES not enumerated: its value is not believed. */
    p = decide(CPUID_7_EDX_L1D_FLUSH, ARCH_CAP_RDCL_NO);
    assert_true(p.l1d_flush);
    /* Bochs's Tiger Lake: RDCL_NO, IBRS_ALL, RSBA, SKIP_L1DFL, SSB_NO (0x1f). */
    p = decide(E_ALL, 0x1f);
    assert_false(p.l1d_flush);
    assert_true(p.verw);
}

/* Guest SPEC_CTRL saved at exit and restored at entry, the monitor's loaded
 * at exit; FLUSH_CMD last in the entry list. */
static void msr_lists_switch_spec_ctrl(void **state)
{
    (void)state;
    static uint8_t area[4096] __attribute__((aligned(16)));
    struct vmx_cpu *vc = vmx_cpu(&cpus[0]);
    struct spec_plan sp = decide(E_ALL & ~CPUID_7_EDX_ARCH_CAP, 0);
    struct vmx_msr_plan mp = { .spec = &sp, .guest_spec_ctrl = 2 };
    vmx_msr_lists_build(vc, area, &mp);
    assert_int_equal(vc->msr_store, 1);
    assert_int_equal(vc->msr_entry_load, 2);
    assert_int_equal(vc->msr_exit_load, 1);
    assert_ptr_equal(vc->msr_guest, (void *)area);
    assert_ptr_equal(vc->msr_host, (void *)(area + VMX_MSR_AREA_HOST));
    assert_int_equal(vc->msr_guest[0].index, MSR_IA32_SPEC_CTRL);
    assert_int_equal(vc->msr_guest[0].value, 2);
    assert_int_equal(vc->msr_guest[1].index, MSR_IA32_FLUSH_CMD);
    assert_int_equal(vc->msr_guest[1].value, FLUSH_CMD_L1D);
    assert_int_equal(vc->msr_host[0].index, MSR_IA32_SPEC_CTRL);
    assert_int_equal(vc->msr_host[0].value, SPEC_CTRL_IBRS);
    /* A CPU with neither: empty lists. */
    sp = decide(0, 0);
    vmx_msr_lists_build(vc, area, &mp);
    assert_int_equal(vc->msr_store + vc->msr_entry_load + vc->msr_exit_load, 0);
    /* L1D flush without SPEC_CTRL: the flush is entry 0 and nothing is stored. */
    sp = decide(CPUID_7_EDX_L1D_FLUSH, 0);
    vmx_msr_lists_build(vc, area, &mp);
    assert_int_equal(vc->msr_store, 0);
    assert_int_equal(vc->msr_entry_load, 1);
    assert_int_equal(vc->msr_guest[0].index, MSR_IA32_FLUSH_CMD);
}

/* A policy rule traps SPEC_CTRL: the guest's value is the one in the list,
 * read and written there; the processor keeps the monitor's. */
static void trapped_spec_ctrl_uses_the_list(void **state)
{
    (void)state;
    static uint8_t area[4096] __attribute__((aligned(16)));
    struct vmx_cpu *vc = vmx_cpu(&cpus[0]);
    struct spec_plan sp = decide(CPUID_7_EDX_SPEC_CTRL, 0);
    struct vmx_msr_plan mp = { .spec = &sp, .guest_spec_ctrl = 0 };
    vmx_msr_lists_build(vc, area, &mp);
    fake_msr_set(MSR_IA32_SPEC_CTRL, SPEC_CTRL_IBRS);       /* the monitor's, after exit */
    bi.policy.nrules = 1;
    bi.policy.rule[0] = (struct policy_rule){ .first = 0x48, .last = 0x48, .space = POLICY_MSR,
                                              .action = POLICY_LOG, .dir = POLICY_RW };
    exit_with(EXIT_REASON_MSR_WRITE, 2);
    regs.rcx = MSR_IA32_SPEC_CTRL;
    regs.rax = 4;                                           /* SSBD */
    run();
    assert_skipped(2);
    assert_int_equal(vc->msr_guest[0].value, 4);
    assert_int_equal(fake_msr_get(MSR_IA32_SPEC_CTRL), SPEC_CTRL_IBRS);
    exit_with(EXIT_REASON_MSR_READ, 2);
    regs.rcx = MSR_IA32_SPEC_CTRL;
    run();
    assert_int_equal(regs.rax, 4);
    /* A value the processor refuses: #GP, the list unchanged. */
    fake_msr_refuse_writes(MSR_IA32_SPEC_CTRL);
    exit_with(EXIT_REASON_MSR_WRITE, 2);
    regs.rcx = MSR_IA32_SPEC_CTRL;
    regs.rax = 1ull << 40;
    run();
    assert_injected(INFO_GP);
    assert_int_equal(vc->msr_guest[0].value, 4);
}

/* ------------------------------------------- 2. performance monitoring */

/* Counters stopped from exit to entry: the guest's IA32_PERF_GLOBAL_CTRL is
 * stored at exit and loaded at entry, 0 is loaded at exit. */
static void msr_lists_stop_counters_in_root(void **state)
{
    (void)state;
    static uint8_t area[4096] __attribute__((aligned(16)));
    struct vmx_cpu *vc = vmx_cpu(&cpus[0]);
    struct spec_plan sp = decide(CPUID_7_EDX_SPEC_CTRL | CPUID_7_EDX_L1D_FLUSH, 0);
    struct vmx_msr_plan mp = { .spec = &sp, .perf_global_ctrl = true,
                               .guest_perf_global_ctrl = 0x70000000full };
    vmx_msr_lists_build(vc, area, &mp);
    assert_int_equal(vc->msr_store, 2);
    assert_int_equal(vc->msr_exit_load, 2);
    assert_int_equal(vc->msr_entry_load, 3);
    assert_int_equal(vc->msr_guest[1].index, MSR_IA32_PERF_GLOBAL_CTRL);
    assert_int_equal(vc->msr_guest[1].value, 0x70000000full);
    assert_int_equal(vc->msr_host[1].index, MSR_IA32_PERF_GLOBAL_CTRL);
    assert_int_equal(vc->msr_host[1].value, 0);
    assert_int_equal(vc->msr_guest[2].index, MSR_IA32_FLUSH_CMD);     /* still last */
    /* Without SPEC_CTRL the counters are still stopped. */
    sp = decide(0, 0);
    vmx_msr_lists_build(vc, area, &mp);
    assert_int_equal(vc->msr_store, 1);
    assert_int_equal(vc->msr_host[0].index, MSR_IA32_PERF_GLOBAL_CTRL);
    assert_int_equal(vc->msr_host[0].value, 0);
}

/* The debug store (BTS, PEBS buffers) is hidden: its MSR writes exit and are
 * #GP, never reaching the processor, and CPUID does not list it. */
static void debug_store_refused(void **state)
{
    (void)state;
    uint8_t *bits = bitmaps();
    msr_intercepts_init();
    assert_true(write_exits(bits, MSR_IA32_DS_AREA));
    assert_true(write_exits(bits, MSR_IA32_PEBS_ENABLE));
    fake_msr_set(MSR_IA32_DS_AREA, 0);
    fake_msr_set(MSR_IA32_PEBS_ENABLE, 0);
    uint32_t m[2] = { MSR_IA32_DS_AREA, MSR_IA32_PEBS_ENABLE };
    for (unsigned i = 0; i < 2; i++) {
        exit_with(EXIT_REASON_MSR_WRITE, 2);
        regs.rcx = m[i];
        regs.rax = (uint32_t)MON_BASE;
        run();
        assert_injected(INFO_GP);
        assert_int_equal(fake_msr_writes(m[i]), 0);
    }
    fake_cpuid_set(1, 0, 0x50654, 0, CPUID_1_ECX_DTES64 | CPUID_1_ECX_DS_CPL | 1,
                   CPUID_1_EDX_DS | 1);
    exit_with(EXIT_REASON_CPUID, 2);
    regs.rax = 1;
    regs.rcx = 0;
    run();
    assert_int_equal(regs.rdx, 1);
    assert_int_equal(regs.rcx & ~CPUID_1_ECX_HYPERVISOR, 1);
}

/* ------------------------------------------------------------ 4. MTRRs */

static void mtrr_fake_cpu(void)
{
    fake_msr_set(MSR_IA32_MTRRCAP, 0x402);          /* 2 variable ranges, WC, no fixed */
    fake_msr_set(MSR_IA32_MTRR_DEF_TYPE, (1u << 11) | MT_WB);
    for (unsigned i = 0; i < 2; i++) {
        fake_msr_set(MSR_IA32_MTRR_PHYSBASE(i), 0);
        fake_msr_set(MSR_IA32_MTRR_PHYSMASK(i), 0);
    }
    mon.maxphyaddr = 39;
    mtrr_virt_init();
}

static void wrmsr_exit(uint32_t msr, uint64_t value)
{
    exit_with(EXIT_REASON_MSR_WRITE, 2);
    regs.rcx = msr;
    regs.rax = (uint32_t)value;
    regs.rdx = value >> 32;
    run();
}

/* The guest's MTRR writes never reach the processor: monitor memory keeps the
 * type the firmware gave it, whatever the guest asks (here: UC, then the
 * MTRRs disabled). The guest reads back what it wrote; the EPT follows. */
static void mtrr_writes_stay_virtual(void **state)
{
    (void)state;
    uint8_t *bits = bitmaps();
    mtrr_fake_cpu();
    msr_intercepts_init();
    unsigned b = MSR_IA32_MTRR_PHYSBASE(0);
    assert_true(bits[b / 8] & (1u << (b % 8)));             /* reads exit too */
    uint64_t base = (MON_BASE & ~0xfffull) | MT_UC, mask = 0x7ffffff000ull | (1u << 11);
    wrmsr_exit(MSR_IA32_MTRR_PHYSBASE(0), base);
    assert_skipped(2);
    wrmsr_exit(MSR_IA32_MTRR_PHYSMASK(0), mask);
    assert_skipped(2);
    wrmsr_exit(MSR_IA32_MTRR_DEF_TYPE, MT_UC);              /* E clear: all UC */
    assert_skipped(2);
    assert_int_equal(fake_msr_writes(MSR_IA32_MTRR_PHYSBASE(0)), 0);
    assert_int_equal(fake_msr_writes(MSR_IA32_MTRR_PHYSMASK(0)), 0);
    assert_int_equal(fake_msr_writes(MSR_IA32_MTRR_DEF_TYPE), 0);
    assert_int_equal(fake_msr_get(MSR_IA32_MTRR_DEF_TYPE), (1u << 11) | MT_WB);
    exit_with(EXIT_REASON_MSR_READ, 2);
    regs.rcx = MSR_IA32_MTRR_PHYSMASK(0);
    run();
    assert_int_equal((regs.rdx << 32) | regs.rax, mask);
    assert_false(mon.mtrr.enabled);                         /* the guest's view, for the EPT */
}

/* Checked as the processor would: #GP for reserved encodings and bits, and for
 * MTRRs the processor does not have. */
static void mtrr_writes_checked(void **state)
{
    (void)state;
    mtrr_fake_cpu();
    static const struct { uint32_t msr; uint64_t value; } bad[] = {
        { MSR_IA32_MTRR_DEF_TYPE, (1u << 11) | 2 },         /* type 2 reserved */
        { MSR_IA32_MTRR_DEF_TYPE, (1u << 11) | (1u << 8) | MT_WB },
        { MSR_IA32_MTRR_PHYSBASE(1), (1ull << 39) | MT_WB },   /* above MAXPHYADDR */
        { MSR_IA32_MTRR_PHYSBASE(1), 0x100000 | 7 },
        { MSR_IA32_MTRR_PHYSMASK(1), 0x7ffffff000ull | 1 },
        { MSR_IA32_MTRR_PHYSBASE(2), MT_WB },               /* only 2 pairs */
        { MSR_IA32_MTRR_FIX64K_00000, 0x0606060606060606ull },  /* no fixed ranges */
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        wrmsr_exit(bad[i].msr, bad[i].value);
        assert_injected(INFO_GP);
    }
    exit_with(EXIT_REASON_MSR_READ, 2);
    regs.rcx = MSR_IA32_MTRR_PHYSBASE(2);
    run();
    assert_injected(INFO_GP);
    assert_true(mtrr_value_valid(MSR_IA32_MTRR_FIX64K_00000, 0x0605040100060504ull, 0x500, 39));
    assert_false(mtrr_value_valid(MSR_IA32_MTRR_PHYSBASE(0), MT_WC, 0x100, 39));  /* no WC */
}

/* ------------------------------------------------------ 3. sleep states */

static void io_exit(uint16_t port, unsigned size, bool in)
{
    exit_with(EXIT_REASON_IO_INSTRUCTION, 1);
    fake_vmcs_set(EXIT_QUALIFICATION, (uint64_t)port << 16 | (in ? 8 : 0) | (size - 1));
}

/* \_Sn packages as compilers emit them: ZeroOp/OneOp or BytePrefix elements. */
static void aml_sleep_types(void **state)
{
    (void)state;
    static const uint8_t aml[] = {
        0x10, 0x20, '\\', '_', 'S', 'B', '_',
        0x08, '_', 'S', '3', '_', 0x12, 0x06, 0x04, 0x01, 0x01, 0x00, 0x00,
        0x08, '_', 'S', '4', '_', 0x12, 0x08, 0x04, 0x0a, 0x02, 0x0a, 0x02, 0x00, 0x00,
        0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00,
        0x08, '_', 'S', '1', '_', 0x0a, 0x05,          /* not a package */
    };
    uint8_t typ = 0xff;
    assert_int_equal(acpi_sleep_type(aml, sizeof(aml), 3, &typ), 0);
    assert_int_equal(typ, 1);
    assert_int_equal(acpi_sleep_type(aml, sizeof(aml), 4, &typ), 0);
    assert_int_equal(typ, 2);
    assert_int_equal(acpi_sleep_type(aml, sizeof(aml), 5, &typ), 0);
    assert_int_equal(typ, 0);
    assert_int_equal(acpi_sleep_type(aml, sizeof(aml), 1, &typ), -1);
    assert_int_equal(acpi_sleep_type(aml, sizeof(aml), 2, &typ), -1);
    assert_int_equal(acpi_sleep_type(aml, 10, 3, &typ), -1);             /* cut short */
}

/* S3 through PM1a_CNT: the write is dropped and recorded, WAK_STS reads set
 * until the guest clears it; S5 (power-off) passes. */
static void sleep_s3_refused_s5_passes(void **state)
{
    (void)state;
    mon.pm1_cnt[0] = 0x604;
    mon.pm1a_evt = 0x600;
    mon.s5_typ = 0x80 | 0;
    fake_port_set(0x600, 0x0001);
    fake_port_set(0x601, 0x00);
    io_exit(0x604, 2, false);
    regs.rax = (1u << 10) | (1u << 13);                 /* SLP_TYP 1 (S3), SLP_EN */
    run();
    assert_int_equal(fake_port_writes(0x604), 0);
    struct lamina_event e = last_event();
    assert_int_equal(e.kind, LAMINA_EV_IO_OUT);
    assert_int_equal(e.action, LAMINA_ACT_DENIED);
    assert_int_equal(e.index, 0x604);
    assert_non_null(strstr(fake_log(), "ACPI sleep (SLP_TYP 1, port 0x604 = 0x2400) refused"));
    io_exit(0x600, 2, true);
    run();
    assert_int_equal(regs.rax & 0xffff, 0x8001);       /* WAK_STS */
    io_exit(0x601, 1, true);
    run();
    assert_int_equal(regs.rax & 0xff, 0x80);
    io_exit(0x600, 2, false);
    regs.rax = 0x8000;                                  /* write 1 to clear */
    run();
    assert_int_equal(fake_port_writes(0x600), 1);
    io_exit(0x600, 2, true);
    run();
    assert_int_equal(regs.rax & 0xffff, 0x0001);
    /* The high byte alone (SLP_TYP 2, SLP_EN): refused too. */
    io_exit(0x605, 1, false);
    regs.rax = (2u << 2) | (1u << 5);
    run();
    assert_int_equal(fake_port_writes(0x605), 0);
    /* S5: power-off goes to the hardware (and the final summary is printed). */
    io_exit(0x604, 2, false);
    regs.rax = (0u << 10) | (1u << 13);
    run();
    assert_int_equal(fake_port_writes(0x604), 1);
    assert_non_null(strstr(fake_log(), "enters an ACPI sleep state"));
}

/* Without \_S5 in the DSDT the states cannot be told apart: all pass. */
static void sleep_unknown_types_pass(void **state)
{
    (void)state;
    mon.pm1_cnt[0] = 0x604;
    mon.s5_typ = 0;
    io_exit(0x604, 2, false);
    regs.rax = (1u << 10) | (1u << 13);
    run();
    assert_int_equal(fake_port_writes(0x604), 1);
}

/* ------------------------------------------------ 7. IA32_MISC_ENABLE */

/* XD disable (bit 34) applies in VMX root too: set, the NX bit of the
 * monitor's own page tables would become reserved (SDM 4 IA32_MISC_ENABLE,
 * SDM 3A 5.1.3). Refused; the other bits pass to the processor. */
static void misc_enable_xd_disable_refused(void **state)
{
    (void)state;
    uint8_t *bits = bitmaps();
    msr_intercepts_init();
    assert_true(write_exits(bits, 0x1a0));
    fake_msr_set(0x1a0, 0x850089);
    wrmsr_exit(0x1a0, 0x850089 | (1ull << 34));
    assert_injected(INFO_GP);
    assert_int_equal(fake_msr_writes(0x1a0), 0);
    wrmsr_exit(0x1a0, 0x850088);                            /* fast strings off: allowed */
    assert_skipped(2);
    assert_int_equal(fake_msr_get(0x1a0), 0x850088);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(xss_writes_exit, setup),
        cmocka_unit_test_setup(cpuid_0d_hides_pt_state, setup),
        cmocka_unit_test_setup(xss_guest_mask_from_cpuid, setup),
        cmocka_unit_test_setup(xss_write_checked_against_cpuid, setup),
        cmocka_unit_test_setup(xss_deny_rule, setup),
        cmocka_unit_test_setup(spec_decisions, setup),
        cmocka_unit_test_setup(msr_lists_switch_spec_ctrl, setup),
        cmocka_unit_test_setup(trapped_spec_ctrl_uses_the_list, setup),
        cmocka_unit_test_setup(msr_lists_stop_counters_in_root, setup),
        cmocka_unit_test_setup(debug_store_refused, setup),
        cmocka_unit_test_setup(mtrr_writes_stay_virtual, setup),
        cmocka_unit_test_setup(mtrr_writes_checked, setup),
        cmocka_unit_test_setup(aml_sleep_types, setup),
        cmocka_unit_test_setup(sleep_s3_refused_s5_passes, setup),
        cmocka_unit_test_setup(sleep_unknown_types_pass, setup),
        cmocka_unit_test_setup(misc_enable_xd_disable_refused, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
