/* vmx/caps.c: VMX capability MSRs -> Lamina's VMCS controls (SDM 3C appendix A). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vmx/caps.h"
#include "vmx/vmx_defs.h"

/* A real Core i7-7800X (Skylake-X), as dumped in the comment of Bochs's
 * cpu/cpudb/intel/corei7_skylake-x.cc. */
static const struct vmx_caps skx_real = {
    .basic = 0x00da040000000004ull,
    .pin = 0x000000ff00000016ull,
    .proc = 0xfff9fffe0401e172ull,
    .exit = 0x01ffffff00036dffull,
    .entry = 0x0003ffff000011ffull,
    .true_pin = 0x000000ff00000016ull,
    .true_proc = 0xfff9fffe04006172ull,
    .true_exit = 0x01ffffff00036dfbull,
    .true_entry = 0x0003ffff000011fbull,
    .misc = 0x000000007004c1e7ull,
    .cr0_fixed0 = 0x80000021ull,
    .cr0_fixed1 = 0xffffffffull,
    .cr4_fixed0 = 0x00002000ull,
    .cr4_fixed1 = 0x003727ffull,
    .proc2 = 0x025d3fff00000000ull,
    .ept_vpid = 0x00000f0106734141ull,
};

/* What Bochs 2.7 computes for cpu: model=corei7_skylake_x (cpu/vmx.cc
 * init_vmx_capabilities): 4 KiB VMCS, no monitor trap flag, no PML-less quirks. */
static const struct vmx_caps bochs_skx = {
    .basic = 0x00d810000000002dull,      /* revision arbitrary */
    .pin = 0x0000007f00000016ull,
    .proc = 0xf7f9fffe0401e172ull,
    .exit = 0x007fffff00036dffull,
    .entry = 0x0000ffff000011ffull,
    .true_pin = 0x0000007f00000016ull,
    .true_proc = 0xf7f9fffe04006172ull,
    .true_exit = 0x007fffff00036dfbull,
    .true_entry = 0x0000ffff000011fbull,
    .misc = 0x00000000600401e0ull,
    .cr0_fixed0 = 0x80000021ull,
    .cr0_fixed1 = 0xffffffffull,
    .cr4_fixed0 = 0x00002000ull,
    .cr4_fixed1 = 0x003727ffull,
    .proc2 = 0x02177fff00000000ull,
    .ept_vpid = 0x00000f0106334141ull,
};

/* Lamina's expected controls on both (TRUE MSRs in use). */
/* NMIs exit and are delivered as virtual NMIs; the preemption timer (allowed
 * here) forwards an NMI that hit the monitor. */
#define EXP_PIN   (PIN_BASED_DEFAULT1 | PIN_BASED_NMI_EXITING | PIN_BASED_VIRTUAL_NMIS | \
                   PIN_BASED_VMX_PREEMPTION_TIMER)
#define EXP_PROC  0x9600617au   /* TRUE default1 + TSC offsetting + I/O and MSR bitmaps + secondary */
#define EXP_PROC2 0x001010aau   /* EPT VPID UG + RDTSCP INVPCID XSAVES */
#define EXP_EXIT  0x003f6fffu   /* default1 + save debug + host 64-bit + PAT/EFER x4 */
#define EXP_ENTRY 0x0000d1ffu   /* default1 + load debug + PAT + EFER, not IA-32e */

static uint64_t a1(uint32_t bits) { return (uint64_t)bits << 32; }   /* allowed-1 position */

static const char *compute(const struct vmx_caps *c, struct vmx_controls *out)
{
    const char *why = "untouched";
    int rc = vmx_compute_controls(c, out, &why);
    if (rc == 0) {
        assert_null(why);
        return NULL;
    }
    assert_int_equal(rc, -1);
    assert_non_null(why);
    /* *out is zeroed on failure */
    assert_int_equal(out->pin | out->proc | out->proc2 | out->exit | out->entry, 0);
    return why;
}

static void expect_failure(const struct vmx_caps *c, const char *reason)
{
    struct vmx_controls out = { 1, 1, 1, 1, 1 };
    const char *why = compute(c, &out);
    assert_non_null(why);
    assert_string_equal(why, reason);
}

/* ------------------------------------------------------------- vmx_adjust */

static void test_adjust_forces_allowed0_and_masks_allowed1(void **state)
{
    (void)state;
    uint32_t out = 0xdeadbeef;
    /* must-be-1 0x16, may-be-1 0x7f */
    assert_int_equal(vmx_adjust(0x0000007f00000016ull, 0x8, 0, &out), 0);
    assert_int_equal(out, 0x1e);
    /* wanted but not allowed: silently dropped */
    assert_int_equal(vmx_adjust(0x0000007f00000016ull, 0x180, 0, &out), 0);
    assert_int_equal(out, 0x16);
    /* want nothing: just the must-be-1 bits */
    assert_int_equal(vmx_adjust(0x0000007f00000016ull, 0, 0, &out), 0);
    assert_int_equal(out, 0x16);
}

static void test_adjust_required_not_allowed(void **state)
{
    (void)state;
    uint32_t out = 0;
    /* bit 7 required but not allowed to be 1 */
    assert_int_equal(vmx_adjust(0x0000007f00000016ull, 0, 0x80, &out), -1);
    assert_int_equal(out, 0x16);            /* adjusted word still reported, without bit 7 */
    /* required implies wanted */
    assert_int_equal(vmx_adjust(0x0000007f00000016ull, 0, 0x40, &out), 0);
    assert_int_equal(out, 0x56);
    /* high bit */
    assert_int_equal(vmx_adjust(0x7fffffff00000000ull, 0, 0x80000000u, &out), -1);
    assert_int_equal(vmx_adjust(0xffffffff00000000ull, 0, 0x80000000u, &out), 0);
    assert_int_equal(out, 0x80000000u);
}

static void test_adjust_contradictory_msr(void **state)
{
    (void)state;
    uint32_t out;
    /* bit 4 must be 1 (allowed-0) but may not be 1 (allowed-1): no valid setting */
    assert_int_equal(vmx_adjust(0x0000000f00000010ull, 0, 0, &out), -1);
}

/* ------------------------------------------------------ vmx_compute_controls */

static void expect_lamina_controls(const struct vmx_caps *c)
{
    struct vmx_controls out;
    assert_null(compute(c, &out));
    assert_int_equal(out.pin, EXP_PIN);
    assert_int_equal(out.proc, EXP_PROC);
    assert_int_equal(out.proc2, EXP_PROC2);
    assert_int_equal(out.exit, EXP_EXIT);
    assert_int_equal(out.entry, EXP_ENTRY);
}

static void test_skylake_x_real(void **state)
{
    (void)state;
    expect_lamina_controls(&skx_real);
}

static void test_bochs_skylake_x(void **state)
{
    (void)state;
    expect_lamina_controls(&bochs_skx);
}

static void test_named_bits_in_result(void **state)
{
    (void)state;
    struct vmx_controls o;
    assert_null(compute(&skx_real, &o));
    /* nothing trapped that the brief says must not be */
    assert_false(o.pin & PIN_BASED_EXT_INTR_EXITING);
    assert_true(o.pin & PIN_BASED_NMI_EXITING);
    assert_true(o.pin & PIN_BASED_VIRTUAL_NMIS);
    assert_false(o.proc & CPU_BASED_NMI_WINDOW_EXITING);   /* only while an NMI waits */
    assert_false(o.proc & (CPU_BASED_HLT_EXITING | CPU_BASED_INVLPG_EXITING |
                           CPU_BASED_RDTSC_EXITING | CPU_BASED_CR3_LOAD_EXITING |
                           CPU_BASED_CR3_STORE_EXITING | CPU_BASED_UNCOND_IO_EXITING |
                           CPU_BASED_MOV_DR_EXITING | CPU_BASED_MONITOR_TRAP_FLAG));
    assert_true(o.proc & CPU_BASED_USE_IO_BITMAPS);
    assert_true(o.proc & CPU_BASED_USE_MSR_BITMAPS);
    assert_true(o.proc & CPU_BASED_USE_TSC_OFFSETTING);
    assert_true(o.proc & CPU_BASED_ACTIVATE_SECONDARY_CONTROLS);
    assert_true(o.proc2 & SECONDARY_EXEC_ENABLE_EPT);
    assert_true(o.proc2 & SECONDARY_EXEC_ENABLE_VPID);
    assert_true(o.proc2 & SECONDARY_EXEC_UNRESTRICTED_GUEST);
    assert_false(o.proc2 & SECONDARY_EXEC_ENABLE_USR_WAIT_PAUSE);   /* not on Skylake-X */
    assert_false(o.exit & VM_EXIT_ACK_INTR_ON_EXIT);
    assert_true(o.exit & VM_EXIT_HOST_ADDR_SPACE_SIZE);
    assert_false(o.entry & VM_ENTRY_IA32E_MODE);
    assert_false(o.entry & VM_ENTRY_SMM);
}

static void test_no_true_msrs_default1_forced(void **state)
{
    (void)state;
    struct vmx_caps c = skx_real;
    struct vmx_controls o;
    c.basic &= ~VMX_BASIC_TRUE_CTLS;
    /* garbage in the TRUE fields must not be used */
    c.true_pin = c.true_proc = c.true_exit = c.true_entry = 0;
    assert_null(compute(&c, &o));
    /* SDM 3C A.2: without TRUE MSRs the default1 bits are all 1 */
    assert_int_equal(o.pin & PIN_BASED_DEFAULT1, PIN_BASED_DEFAULT1);
    assert_int_equal(o.proc & CPU_BASED_DEFAULT1, CPU_BASED_DEFAULT1);
    assert_int_equal(o.exit & VM_EXIT_DEFAULT1, VM_EXIT_DEFAULT1);
    assert_int_equal(o.entry & VM_ENTRY_DEFAULT1, VM_ENTRY_DEFAULT1);
    /* so CR3-load and CR3-store exiting are on (the monitor must handle them) */
    assert_true(o.proc & CPU_BASED_CR3_LOAD_EXITING);
    assert_true(o.proc & CPU_BASED_CR3_STORE_EXITING);
    assert_int_equal(o.proc, 0x9601e17au);
    assert_int_equal(o.exit, EXP_EXIT);
    assert_int_equal(o.entry, EXP_ENTRY);
}

static void test_true_msrs_used_when_bit55(void **state)
{
    (void)state;
    struct vmx_caps c = skx_real;
    struct vmx_controls o;
    /* The TRUE MSR says secondary controls can't be 1: must be honoured even though
     * the plain MSR allows them. */
    c.true_proc &= ~a1(CPU_BASED_ACTIVATE_SECONDARY_CONTROLS);
    assert_non_null(compute(&c, &o));
    /* and the other way round: the plain MSR is ignored when bit 55 is set */
    c = skx_real;
    c.proc = 0;
    assert_null(compute(&c, &o));
    assert_int_equal(o.proc, EXP_PROC);
}

static void test_default1_cleared_with_true_msrs(void **state)
{
    (void)state;
    struct vmx_controls o;
    assert_null(compute(&skx_real, &o));
    /* TRUE_PROCBASED allows CR3 exiting 0 and Lamina does not want it */
    assert_false(o.proc & (CPU_BASED_CR3_LOAD_EXITING | CPU_BASED_CR3_STORE_EXITING));
    /* but the remaining must-be-1 bits of the TRUE MSRs stay on */
    assert_int_equal(o.proc & 0x04006172u, 0x04006172u);
    assert_int_equal(o.pin & 0x16u, 0x16u);
}

static void test_optional_secondary_controls(void **state)
{
    (void)state;
    struct vmx_caps c = skx_real;
    struct vmx_controls o;

    /* user wait and pause allowed (e.g. Tremont, Sapphire Rapids): enabled */
    c.proc2 |= a1(SECONDARY_EXEC_ENABLE_USR_WAIT_PAUSE);
    assert_null(compute(&c, &o));
    assert_int_equal(o.proc2, EXP_PROC2 | SECONDARY_EXEC_ENABLE_USR_WAIT_PAUSE);

    /* none of the optional ones: only the three required */
    c.proc2 = a1(SECONDARY_EXEC_ENABLE_EPT | SECONDARY_EXEC_ENABLE_VPID |
                 SECONDARY_EXEC_UNRESTRICTED_GUEST);
    assert_null(compute(&c, &o));
    assert_int_equal(o.proc2, SECONDARY_EXEC_ENABLE_EPT | SECONDARY_EXEC_ENABLE_VPID |
                     SECONDARY_EXEC_UNRESTRICTED_GUEST);

    /* each optional one on its own */
    const uint32_t opt[] = { SECONDARY_EXEC_ENABLE_RDTSCP, SECONDARY_EXEC_ENABLE_INVPCID,
                             SECONDARY_EXEC_ENABLE_XSAVES, SECONDARY_EXEC_ENABLE_USR_WAIT_PAUSE };
    for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++) {
        c.proc2 = a1(SECONDARY_EXEC_ENABLE_EPT | SECONDARY_EXEC_ENABLE_VPID |
                     SECONDARY_EXEC_UNRESTRICTED_GUEST | opt[i]);
        assert_null(compute(&c, &o));
        assert_int_equal(o.proc2, SECONDARY_EXEC_ENABLE_EPT | SECONDARY_EXEC_ENABLE_VPID |
                         SECONDARY_EXEC_UNRESTRICTED_GUEST | opt[i]);
    }
}

static void test_missing_ept(void **state)
{
    (void)state;
    struct vmx_caps c = skx_real;
    c.proc2 &= ~a1(SECONDARY_EXEC_ENABLE_EPT);
    expect_failure(&c, "EPT not supported");
}

static void test_missing_unrestricted_guest(void **state)
{
    (void)state;
    /* Nehalem-like: EPT and VPID, no unrestricted guest */
    struct vmx_caps c = skx_real;
    c.proc2 = 0x000000ff00000000ull & ~a1(SECONDARY_EXEC_UNRESTRICTED_GUEST);
    expect_failure(&c, "unrestricted guest not supported");
}

static void test_missing_vpid(void **state)
{
    (void)state;
    struct vmx_caps c = skx_real;
    c.proc2 &= ~a1(SECONDARY_EXEC_ENABLE_VPID);
    expect_failure(&c, "VPID not supported");
}

static void test_missing_primary_required(void **state)
{
    (void)state;
    struct vmx_caps c = skx_real;
    c.true_proc &= ~a1(CPU_BASED_ACTIVATE_SECONDARY_CONTROLS);
    expect_failure(&c, "secondary processor-based controls not supported");
    c = skx_real;
    c.true_proc &= ~a1(CPU_BASED_USE_IO_BITMAPS);
    expect_failure(&c, "I/O bitmaps not supported");
    c = skx_real;
    c.true_proc &= ~a1(CPU_BASED_USE_MSR_BITMAPS);
    expect_failure(&c, "MSR bitmaps not supported");
}

static void test_missing_exit_controls(void **state)
{
    (void)state;
    static const struct { uint32_t bit; const char *why; } cases[] = {
        { VM_EXIT_HOST_ADDR_SPACE_SIZE, "64-bit host (host address-space size exit control) not supported" },
        { VM_EXIT_SAVE_DEBUG_CONTROLS, "saving debug controls on VM exit not supported" },
        { VM_EXIT_SAVE_IA32_PAT, "saving IA32_PAT on VM exit not supported" },
        { VM_EXIT_LOAD_IA32_PAT, "loading IA32_PAT on VM exit not supported" },
        { VM_EXIT_SAVE_IA32_EFER, "saving IA32_EFER on VM exit not supported" },
        { VM_EXIT_LOAD_IA32_EFER, "loading IA32_EFER on VM exit not supported" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct vmx_caps c = skx_real;
        c.true_exit &= ~a1(cases[i].bit);
        c.true_exit &= ~(uint64_t)cases[i].bit;     /* keep the MSR self-consistent */
        expect_failure(&c, cases[i].why);
    }
}

static void test_missing_entry_controls(void **state)
{
    (void)state;
    static const struct { uint32_t bit; const char *why; } cases[] = {
        { VM_ENTRY_LOAD_DEBUG_CONTROLS, "loading debug controls on VM entry not supported" },
        { VM_ENTRY_LOAD_IA32_PAT, "loading IA32_PAT on VM entry not supported" },
        { VM_ENTRY_LOAD_IA32_EFER, "loading IA32_EFER on VM entry not supported" },
        { VM_ENTRY_IA32E_MODE, "64-bit guests (IA-32e mode guest entry control) not supported" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct vmx_caps c = skx_real;
        c.true_entry &= ~a1(cases[i].bit);
        c.true_entry &= ~(uint64_t)cases[i].bit;
        expect_failure(&c, cases[i].why);
    }
}

static void test_no_true_msrs_missing_exit_pat(void **state)
{
    (void)state;
    /* Without the TRUE MSRs the plain MSR decides. */
    struct vmx_caps c = skx_real;
    c.basic &= ~VMX_BASIC_TRUE_CTLS;
    c.exit &= ~a1(VM_EXIT_LOAD_IA32_PAT);
    expect_failure(&c, "loading IA32_PAT on VM exit not supported");
}

static void test_no_virtual_nmis(void **state)
{
    (void)state;
    struct vmx_caps c = skx_real;
    c.true_pin &= ~((uint64_t)PIN_BASED_VIRTUAL_NMIS << 32);
    expect_failure(&c, "virtual NMIs not supported");
    c = skx_real;
    c.true_proc &= ~((uint64_t)CPU_BASED_NMI_WINDOW_EXITING << 32);
    expect_failure(&c, "NMI-window exiting not supported");
    c = skx_real;       /* no preemption timer: fine, just not used */
    c.true_pin &= ~((uint64_t)PIN_BASED_VMX_PREEMPTION_TIMER << 32);
    struct vmx_controls o;
    assert_null(compute(&c, &o));
    assert_false(o.pin & PIN_BASED_VMX_PREEMPTION_TIMER);
}

static void test_contradictory_pin_msr(void **state)
{
    (void)state;
    struct vmx_caps c = skx_real;
    /* must-be-1 bits (0x16) that may not be 1, NMI exiting and virtual NMIs allowed */
    c.true_pin = 0x0000002800000016ull;
    expect_failure(&c, "inconsistent pin-based control capabilities");
}

static void test_basic_checks(void **state)
{
    (void)state;
    struct vmx_caps c;
    struct vmx_controls o;

    c = skx_real;   /* memory type UC */
    c.basic &= ~(0xfull << 50);
    expect_failure(&c, "VMCS memory type not write-back");

    c = skx_real;   /* memory type 5 (WP) */
    c.basic = (c.basic & ~(0xfull << 50)) | (5ull << 50);
    expect_failure(&c, "VMCS memory type not write-back");

    c = skx_real;   /* 32-bit physical addresses only */
    c.basic |= 1ull << 48;
    expect_failure(&c, "VMX structures limited to 32-bit physical addresses");

    c = skx_real;   /* region larger than a page */
    c.basic = (c.basic & ~(0x1fffull << 32)) | (0x1001ull << 32);
    expect_failure(&c, "VMCS region size not in 1..4096 bytes");

    c = skx_real;   /* size 0 */
    c.basic &= ~(0x1fffull << 32);
    expect_failure(&c, "VMCS region size not in 1..4096 bytes");

    c = skx_real;   /* exactly 4096 (Bochs): fine */
    c.basic = (c.basic & ~(0x1fffull << 32)) | (0x1000ull << 32);
    assert_null(compute(&c, &o));
}

static void test_ept_vpid_caps(void **state)
{
    (void)state;
    static const struct { uint64_t clear; const char *why; } cases[] = {
        { VMX_EPT_PAGE_WALK_4_BIT, "EPT 4-level page walk not supported" },
        { VMX_EPTP_WB_BIT, "write-back EPT paging structures not supported" },
        { VMX_EPT_2MB_PAGE_BIT, "EPT 2 MiB pages not supported" },
        { VMX_EPT_INVEPT_BIT, "INVEPT not supported" },
        { VMX_EPT_EXTENT_CONTEXT_BIT | VMX_EPT_EXTENT_GLOBAL_BIT,
          "neither single-context nor all-context INVEPT supported" },
        { VMX_VPID_INVVPID_BIT, "INVVPID not supported" },
        { VMX_VPID_EXTENT_SINGLE_CONTEXT_BIT | VMX_VPID_EXTENT_GLOBAL_CONTEXT_BIT,
          "neither single-context nor all-context INVVPID supported" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct vmx_caps c = skx_real;
        c.ept_vpid &= ~cases[i].clear;
        expect_failure(&c, cases[i].why);
    }

    /* one INVEPT / INVVPID type is enough; 1 GiB pages and execute-only are optional */
    const uint64_t ok_clear[] = { VMX_EPT_EXTENT_CONTEXT_BIT, VMX_EPT_EXTENT_GLOBAL_BIT,
                                  VMX_VPID_EXTENT_SINGLE_CONTEXT_BIT,
                                  VMX_VPID_EXTENT_GLOBAL_CONTEXT_BIT, VMX_EPT_1GB_PAGE_BIT,
                                  VMX_EPT_EXECUTE_ONLY_BIT, VMX_EPT_AD_BIT, VMX_EPTP_UC_BIT };
    for (size_t i = 0; i < sizeof(ok_clear) / sizeof(ok_clear[0]); i++) {
        struct vmx_caps c = skx_real;
        struct vmx_controls o;
        c.ept_vpid &= ~ok_clear[i];
        assert_null(compute(&c, &o));
    }
}

static void test_misc_store_lma(void **state)
{
    (void)state;
    struct vmx_caps c = skx_real;
    c.misc &= ~VMX_MISC_SAVE_EFER_LMA;
    expect_failure(&c, "VM exits do not save IA32_EFER.LMA (IA32_VMX_MISC bit 5)");
}

static void test_why_may_be_null(void **state)
{
    (void)state;
    struct vmx_caps c = skx_real;
    struct vmx_controls o;
    assert_int_equal(vmx_compute_controls(&c, &o, NULL), 0);
    c.proc2 = 0;
    assert_int_equal(vmx_compute_controls(&c, &o, NULL), -1);
}

/* ------------------------------------------------------------ CR0 and CR4 */

static void test_fix_cr0(void **state)
{
    (void)state;
    /* INIT CR0 (CD NW ET) under unrestricted guest: only NE forced */
    assert_int_equal(vmx_fix_cr0(&skx_real, 0x60000010ull, true), 0x60000030ull);
    /* not unrestricted: PE and PG forced too */
    assert_int_equal(vmx_fix_cr0(&skx_real, 0x60000010ull, false), 0xe0000031ull);
    /* a firmware's long-mode CR0 without NE */
    assert_int_equal(vmx_fix_cr0(&skx_real, 0x80000011ull, false), 0x80000031ull);
    /* unrestricted keeps PE/PG as given, both ways */
    assert_int_equal(vmx_fix_cr0(&skx_real, 0x80000031ull, true), 0x80000031ull);
    assert_int_equal(vmx_fix_cr0(&skx_real, 0x00000000ull, true), 0x00000020ull);
    /* bits outside fixed1 (here the reserved 63:32) are cleared */
    assert_int_equal(vmx_fix_cr0(&skx_real, 0xffffffff80000031ull, false), 0x80000031ull);
    /* a fixed1 that forbids CD (made up) */
    struct vmx_caps c = skx_real;
    c.cr0_fixed1 = 0xbfffffffull;
    assert_int_equal(vmx_fix_cr0(&c, 0x60000010ull, true), 0x20000030ull);
}

static void test_fix_cr4(void **state)
{
    (void)state;
    assert_int_equal(vmx_fix_cr4(&skx_real, 0), 0x2000ull);
    assert_int_equal(vmx_fix_cr4(&skx_real, 0x20ull), 0x2020ull);          /* PAE kept */
    assert_int_equal(vmx_fix_cr4(&skx_real, 1ull << 22), 0x2000ull);      /* PKE not in fixed1 */
    assert_int_equal(vmx_fix_cr4(&skx_real, 0x3727ffull), 0x3727ffull);
    assert_int_equal(vmx_fix_cr4(&skx_real, 1ull << 40), 0x2000ull);
}

static void test_host_owned_masks(void **state)
{
    (void)state;
    assert_int_equal(vmx_cr0_host_owned(&skx_real, true), 0x20ull);
    assert_int_equal(vmx_cr0_host_owned(&skx_real, false), 0x80000021ull);
    assert_int_equal(vmx_cr4_host_owned(&skx_real), 0x2000ull);
}

/* ------------------------------------------------------------- small queries */

static void test_ept_1g(void **state)
{
    (void)state;
    struct vmx_caps c = skx_real;
    assert_true(vmx_ept_1g(&c));
    assert_true(vmx_ept_1g(&bochs_skx));
    c.ept_vpid &= ~VMX_EPT_1GB_PAGE_BIT;
    assert_false(vmx_ept_1g(&c));
    /* the EPT/VPID MSR is only meaningful if EPT or VPID may be enabled */
    c = skx_real;
    c.proc2 &= ~a1(SECONDARY_EXEC_ENABLE_EPT | SECONDARY_EXEC_ENABLE_VPID);
    assert_false(vmx_ept_1g(&c));
    c = skx_real;
    c.true_proc &= ~a1(CPU_BASED_ACTIVATE_SECONDARY_CONTROLS);
    assert_false(vmx_ept_1g(&c));
}

static void test_wait_for_sipi(void **state)
{
    (void)state;
    struct vmx_caps c = skx_real;
    assert_true(vmx_wait_for_sipi(&c));
    assert_true(vmx_wait_for_sipi(&bochs_skx));
    c.misc &= ~VMX_MISC_ACTIVITY_WAIT_SIPI;
    assert_false(vmx_wait_for_sipi(&c));
    c.misc = VMX_MISC_ACTIVITY_WAIT_SIPI;
    assert_true(vmx_wait_for_sipi(&c));
}

static void test_inv_types(void **state)
{
    (void)state;
    struct vmx_caps c = skx_real;
    assert_true(vmx_invept_single(&c));
    assert_true(vmx_invept_all(&c));
    assert_true(vmx_invvpid_single(&c));
    assert_true(vmx_invvpid_all(&c));
    assert_true(vmx_invvpid_addr(&c));
    c.ept_vpid &= ~VMX_EPT_EXTENT_CONTEXT_BIT;
    assert_false(vmx_invept_single(&c));
    assert_true(vmx_invept_all(&c));
    c.ept_vpid &= ~VMX_EPT_INVEPT_BIT;      /* types mean nothing without INVEPT */
    assert_false(vmx_invept_all(&c));
    c.ept_vpid &= ~VMX_VPID_INVVPID_BIT;
    assert_false(vmx_invvpid_single(&c));
    assert_false(vmx_invvpid_all(&c));
    assert_false(vmx_invvpid_addr(&c));
}

static void test_revision_and_size(void **state)
{
    (void)state;
    assert_int_equal(vmx_vmcs_revision(&skx_real), 4);
    assert_int_equal(vmx_vmcs_size(&skx_real), 0x400);
    assert_int_equal(vmx_vmcs_size(&bochs_skx), 4096);
    struct vmx_caps c = skx_real;
    c.basic |= 0x80000000ull;               /* bit 31 is not part of the revision */
    assert_int_equal(vmx_vmcs_revision(&c), 4);
}

/* ---------------------------------------------------- vmx_defs.h encodings */

struct field_case { uint32_t enc; unsigned width, type; };

static void test_field_encodings_consistent(void **state)
{
    (void)state;
    /* Every encoding's width and type bits (SDM 3C 25.11.2) agree with the
     * appendix-B table it belongs to: catches a mistyped digit. */
    static const struct field_case f[] = {
#define W16 VMCS_FIELD_WIDTH_16
#define W64 VMCS_FIELD_WIDTH_64
#define W32 VMCS_FIELD_WIDTH_32
#define WN  VMCS_FIELD_WIDTH_NATURAL
#define TC  VMCS_FIELD_TYPE_CONTROL
#define TR  VMCS_FIELD_TYPE_EXIT_INFO
#define TG  VMCS_FIELD_TYPE_GUEST
#define TH  VMCS_FIELD_TYPE_HOST
        { VIRTUAL_PROCESSOR_ID, W16, TC }, { POSTED_INTR_NV, W16, TC }, { EPTP_INDEX, W16, TC },
        { GUEST_ES_SELECTOR, W16, TG }, { GUEST_CS_SELECTOR, W16, TG },
        { GUEST_SS_SELECTOR, W16, TG }, { GUEST_DS_SELECTOR, W16, TG },
        { GUEST_FS_SELECTOR, W16, TG }, { GUEST_GS_SELECTOR, W16, TG },
        { GUEST_LDTR_SELECTOR, W16, TG }, { GUEST_TR_SELECTOR, W16, TG },
        { GUEST_INTR_STATUS, W16, TG }, { GUEST_PML_INDEX, W16, TG },
        { HOST_ES_SELECTOR, W16, TH }, { HOST_CS_SELECTOR, W16, TH }, { HOST_SS_SELECTOR, W16, TH },
        { HOST_DS_SELECTOR, W16, TH }, { HOST_FS_SELECTOR, W16, TH }, { HOST_GS_SELECTOR, W16, TH },
        { HOST_TR_SELECTOR, W16, TH },
        { IO_BITMAP_A, W64, TC }, { IO_BITMAP_B, W64, TC }, { MSR_BITMAP, W64, TC },
        { VM_EXIT_MSR_STORE_ADDR, W64, TC }, { VM_EXIT_MSR_LOAD_ADDR, W64, TC },
        { VM_ENTRY_MSR_LOAD_ADDR, W64, TC }, { EXECUTIVE_VMCS_POINTER, W64, TC },
        { PML_ADDRESS, W64, TC }, { TSC_OFFSET, W64, TC }, { VIRTUAL_APIC_PAGE_ADDR, W64, TC },
        { APIC_ACCESS_ADDR, W64, TC }, { POSTED_INTR_DESC_ADDR, W64, TC },
        { VM_FUNCTION_CONTROL, W64, TC }, { EPT_POINTER, W64, TC },
        { EOI_EXIT_BITMAP0, W64, TC }, { EOI_EXIT_BITMAP3, W64, TC },
        { EPTP_LIST_ADDRESS, W64, TC }, { VMREAD_BITMAP, W64, TC }, { VMWRITE_BITMAP, W64, TC },
        { VE_INFORMATION_ADDRESS, W64, TC }, { XSS_EXIT_BITMAP, W64, TC },
        { ENCLS_EXITING_BITMAP, W64, TC }, { TSC_MULTIPLIER, W64, TC },
        { TERTIARY_VM_EXEC_CONTROL, W64, TC },
        { GUEST_PHYSICAL_ADDRESS, W64, TR },
        { VMCS_LINK_POINTER, W64, TG }, { GUEST_IA32_DEBUGCTL, W64, TG },
        { GUEST_IA32_PAT, W64, TG }, { GUEST_IA32_EFER, W64, TG },
        { GUEST_IA32_PERF_GLOBAL_CTRL, W64, TG }, { GUEST_PDPTR0, W64, TG },
        { GUEST_PDPTR3, W64, TG }, { GUEST_BNDCFGS, W64, TG }, { GUEST_IA32_RTIT_CTL, W64, TG },
        { GUEST_IA32_LBR_CTL, W64, TG }, { GUEST_IA32_PKRS, W64, TG },
        { HOST_IA32_PAT, W64, TH }, { HOST_IA32_EFER, W64, TH },
        { HOST_IA32_PERF_GLOBAL_CTRL, W64, TH }, { HOST_IA32_PKRS, W64, TH },
        { PIN_BASED_VM_EXEC_CONTROL, W32, TC }, { CPU_BASED_VM_EXEC_CONTROL, W32, TC },
        { EXCEPTION_BITMAP, W32, TC }, { PAGE_FAULT_ERROR_CODE_MASK, W32, TC },
        { PAGE_FAULT_ERROR_CODE_MATCH, W32, TC }, { CR3_TARGET_COUNT, W32, TC },
        { VM_EXIT_CONTROLS, W32, TC }, { VM_EXIT_MSR_STORE_COUNT, W32, TC },
        { VM_EXIT_MSR_LOAD_COUNT, W32, TC }, { VM_ENTRY_CONTROLS, W32, TC },
        { VM_ENTRY_MSR_LOAD_COUNT, W32, TC }, { VM_ENTRY_INTR_INFO_FIELD, W32, TC },
        { VM_ENTRY_EXCEPTION_ERROR_CODE, W32, TC }, { VM_ENTRY_INSTRUCTION_LEN, W32, TC },
        { TPR_THRESHOLD, W32, TC }, { SECONDARY_VM_EXEC_CONTROL, W32, TC },
        { PLE_GAP, W32, TC }, { PLE_WINDOW, W32, TC },
        { VM_INSTRUCTION_ERROR, W32, TR }, { VM_EXIT_REASON, W32, TR },
        { VM_EXIT_INTR_INFO, W32, TR }, { VM_EXIT_INTR_ERROR_CODE, W32, TR },
        { IDT_VECTORING_INFO_FIELD, W32, TR }, { IDT_VECTORING_ERROR_CODE, W32, TR },
        { VM_EXIT_INSTRUCTION_LEN, W32, TR }, { VMX_INSTRUCTION_INFO, W32, TR },
        { GUEST_ES_LIMIT, W32, TG }, { GUEST_CS_LIMIT, W32, TG }, { GUEST_SS_LIMIT, W32, TG },
        { GUEST_DS_LIMIT, W32, TG }, { GUEST_FS_LIMIT, W32, TG }, { GUEST_GS_LIMIT, W32, TG },
        { GUEST_LDTR_LIMIT, W32, TG }, { GUEST_TR_LIMIT, W32, TG },
        { GUEST_GDTR_LIMIT, W32, TG }, { GUEST_IDTR_LIMIT, W32, TG },
        { GUEST_ES_AR_BYTES, W32, TG }, { GUEST_CS_AR_BYTES, W32, TG },
        { GUEST_SS_AR_BYTES, W32, TG }, { GUEST_DS_AR_BYTES, W32, TG },
        { GUEST_FS_AR_BYTES, W32, TG }, { GUEST_GS_AR_BYTES, W32, TG },
        { GUEST_LDTR_AR_BYTES, W32, TG }, { GUEST_TR_AR_BYTES, W32, TG },
        { GUEST_INTERRUPTIBILITY_INFO, W32, TG }, { GUEST_ACTIVITY_STATE, W32, TG },
        { GUEST_SMBASE, W32, TG }, { GUEST_SYSENTER_CS, W32, TG },
        { VMX_PREEMPTION_TIMER_VALUE, W32, TG },
        { HOST_IA32_SYSENTER_CS, W32, TH },
        { CR0_GUEST_HOST_MASK, WN, TC }, { CR4_GUEST_HOST_MASK, WN, TC },
        { CR0_READ_SHADOW, WN, TC }, { CR4_READ_SHADOW, WN, TC },
        { CR3_TARGET_VALUE0, WN, TC }, { CR3_TARGET_VALUE3, WN, TC },
        { EXIT_QUALIFICATION, WN, TR }, { EXIT_IO_RCX, WN, TR }, { EXIT_IO_RSI, WN, TR },
        { EXIT_IO_RDI, WN, TR }, { EXIT_IO_RIP, WN, TR }, { GUEST_LINEAR_ADDRESS, WN, TR },
        { GUEST_CR0, WN, TG }, { GUEST_CR3, WN, TG }, { GUEST_CR4, WN, TG },
        { GUEST_ES_BASE, WN, TG }, { GUEST_CS_BASE, WN, TG }, { GUEST_SS_BASE, WN, TG },
        { GUEST_DS_BASE, WN, TG }, { GUEST_FS_BASE, WN, TG }, { GUEST_GS_BASE, WN, TG },
        { GUEST_LDTR_BASE, WN, TG }, { GUEST_TR_BASE, WN, TG }, { GUEST_GDTR_BASE, WN, TG },
        { GUEST_IDTR_BASE, WN, TG }, { GUEST_DR7, WN, TG }, { GUEST_RSP, WN, TG },
        { GUEST_RIP, WN, TG }, { GUEST_RFLAGS, WN, TG }, { GUEST_PENDING_DBG_EXCEPTIONS, WN, TG },
        { GUEST_SYSENTER_ESP, WN, TG }, { GUEST_SYSENTER_EIP, WN, TG },
        { GUEST_S_CET, WN, TG }, { GUEST_SSP, WN, TG }, { GUEST_INTR_SSP_TABLE, WN, TG },
        { HOST_CR0, WN, TH }, { HOST_CR3, WN, TH }, { HOST_CR4, WN, TH },
        { HOST_FS_BASE, WN, TH }, { HOST_GS_BASE, WN, TH }, { HOST_TR_BASE, WN, TH },
        { HOST_GDTR_BASE, WN, TH }, { HOST_IDTR_BASE, WN, TH },
        { HOST_IA32_SYSENTER_ESP, WN, TH }, { HOST_IA32_SYSENTER_EIP, WN, TH },
        { HOST_RSP, WN, TH }, { HOST_RIP, WN, TH }, { HOST_S_CET, WN, TH }, { HOST_SSP, WN, TH },
        { HOST_INTR_SSP_TABLE, WN, TH },
    };
    size_t n = sizeof(f) / sizeof(f[0]);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(VMCS_FIELD_WIDTH(f[i].enc), f[i].width);
        assert_int_equal(VMCS_FIELD_TYPE(f[i].enc), f[i].type);
        assert_int_equal(f[i].enc & 1, 0);              /* full access, not high half */
        assert_int_equal(f[i].enc & 0x1000, 0);         /* bit 12 reserved */
        for (size_t j = i + 1; j < n; j++)
            assert_int_not_equal(f[i].enc, f[j].enc);
    }
    /* spot checks against appendix B */
    assert_int_equal(GUEST_RIP, 0x681e);
    assert_int_equal(VM_INSTRUCTION_ERROR, 0x4400);
    assert_int_equal(EPT_POINTER, 0x201a);
    assert_int_equal(GUEST_TR_AR_BYTES, 0x4822);
    assert_int_equal(HOST_RIP, 0x6c16);
    assert_int_equal(VIRTUAL_PROCESSOR_ID, 0);
    /* segment fields are laid out ES CS SS DS FS GS LDTR TR, 2 apart */
    assert_int_equal(GUEST_TR_SELECTOR - GUEST_ES_SELECTOR, 14);
    assert_int_equal(GUEST_TR_LIMIT - GUEST_ES_LIMIT, 14);
    assert_int_equal(GUEST_TR_AR_BYTES - GUEST_ES_AR_BYTES, 14);
    assert_int_equal(GUEST_TR_BASE - GUEST_ES_BASE, 14);
}

static void test_exit_reason_numbers(void **state)
{
    (void)state;
    /* SDM 3C appendix C spot checks */
    assert_int_equal(EXIT_REASON_INIT_SIGNAL, 3);
    assert_int_equal(EXIT_REASON_SIPI_SIGNAL, 4);
    assert_int_equal(EXIT_REASON_CPUID, 10);
    assert_int_equal(EXIT_REASON_VMCALL, 18);
    assert_int_equal(EXIT_REASON_CR_ACCESS, 28);
    assert_int_equal(EXIT_REASON_IO_INSTRUCTION, 30);
    assert_int_equal(EXIT_REASON_MSR_READ, 31);
    assert_int_equal(EXIT_REASON_MSR_WRITE, 32);
    assert_int_equal(EXIT_REASON_INVALID_STATE, 33);
    assert_int_equal(EXIT_REASON_EPT_VIOLATION, 48);
    assert_int_equal(EXIT_REASON_EPT_MISCONFIG, 49);
    assert_int_equal(EXIT_REASON_XSETBV, 55);
    assert_int_equal(EXIT_REASON_XRSTORS, 64);
    assert_int_equal(EXIT_REASON_BUS_LOCK, 74);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adjust_forces_allowed0_and_masks_allowed1),
        cmocka_unit_test(test_adjust_required_not_allowed),
        cmocka_unit_test(test_adjust_contradictory_msr),
        cmocka_unit_test(test_skylake_x_real),
        cmocka_unit_test(test_bochs_skylake_x),
        cmocka_unit_test(test_named_bits_in_result),
        cmocka_unit_test(test_no_true_msrs_default1_forced),
        cmocka_unit_test(test_true_msrs_used_when_bit55),
        cmocka_unit_test(test_default1_cleared_with_true_msrs),
        cmocka_unit_test(test_optional_secondary_controls),
        cmocka_unit_test(test_missing_ept),
        cmocka_unit_test(test_missing_unrestricted_guest),
        cmocka_unit_test(test_missing_vpid),
        cmocka_unit_test(test_missing_primary_required),
        cmocka_unit_test(test_missing_exit_controls),
        cmocka_unit_test(test_missing_entry_controls),
        cmocka_unit_test(test_no_true_msrs_missing_exit_pat),
        cmocka_unit_test(test_no_virtual_nmis),
        cmocka_unit_test(test_contradictory_pin_msr),
        cmocka_unit_test(test_basic_checks),
        cmocka_unit_test(test_ept_vpid_caps),
        cmocka_unit_test(test_misc_store_lma),
        cmocka_unit_test(test_why_may_be_null),
        cmocka_unit_test(test_fix_cr0),
        cmocka_unit_test(test_fix_cr4),
        cmocka_unit_test(test_host_owned_masks),
        cmocka_unit_test(test_ept_1g),
        cmocka_unit_test(test_wait_for_sipi),
        cmocka_unit_test(test_inv_types),
        cmocka_unit_test(test_revision_and_size),
        cmocka_unit_test(test_field_encodings_consistent),
        cmocka_unit_test(test_exit_reason_numbers),
    };
    return cmocka_run_group_tests_name("vmx_caps", tests, NULL, NULL);
}
