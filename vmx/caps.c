/* VMX capability MSRs (SDM 3C appendix A) -> the VMCS controls Lamina runs with. */
#include <stddef.h>
#include "vmx/caps.h"
#include "vmx/vmx_defs.h"

#define CAPS_CR0_PE (1ull << 0)
#define CAPS_CR0_PG (1ull << 31)

static uint32_t allowed0(uint64_t cap) { return (uint32_t)cap; }         /* 1 = must be 1 */
static uint32_t allowed1(uint64_t cap) { return (uint32_t)(cap >> 32); } /* 0 = must be 0 */

int vmx_adjust(uint64_t cap, uint32_t want, uint32_t required, uint32_t *out)
{
    uint32_t must1 = allowed0(cap), may1 = allowed1(cap);

    *out = (want | required | must1) & may1;
    if (required & ~may1)
        return -1;
    if (must1 & ~may1)          /* no setting of such a bit can be valid */
        return -1;
    return 0;
}

/* SDM 3C A.2: if IA32_VMX_BASIC[55] is 1, the TRUE_ MSRs report the controls exactly
 * (some default1 controls may be 0); otherwise the plain MSRs apply. */
static bool have_true(const struct vmx_caps *c) { return (c->basic & VMX_BASIC_TRUE_CTLS) != 0; }
static uint64_t pin_cap(const struct vmx_caps *c) { return have_true(c) ? c->true_pin : c->pin; }
static uint64_t proc_cap(const struct vmx_caps *c) { return have_true(c) ? c->true_proc : c->proc; }
static uint64_t exit_cap(const struct vmx_caps *c) { return have_true(c) ? c->true_exit : c->exit; }
static uint64_t entry_cap(const struct vmx_caps *c) { return have_true(c) ? c->true_entry : c->entry; }

/* SDM 3C A.3.3: IA32_VMX_PROCBASED_CTLS2 exists only if "activate secondary controls"
 * may be 1; A.10: IA32_VMX_EPT_VPID_CAP only if "enable EPT" or "enable VPID" may be 1. */
static bool proc2_valid(const struct vmx_caps *c)
{
    return (allowed1(proc_cap(c)) & CPU_BASED_ACTIVATE_SECONDARY_CONTROLS) != 0;
}

static bool ept_vpid_valid(const struct vmx_caps *c)
{
    return proc2_valid(c) &&
           (allowed1(c->proc2) & (SECONDARY_EXEC_ENABLE_EPT | SECONDARY_EXEC_ENABLE_VPID)) != 0;
}

static bool ept_cap(const struct vmx_caps *c, uint64_t bits)
{
    return ept_vpid_valid(c) && (c->ept_vpid & bits) == bits;
}

/* Required control bits, each with the reason given when the CPU lacks it. */
struct need {
    uint32_t bit;
    const char *why;
};

static const char *check_needs(uint64_t cap, const struct need *n, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!(allowed1(cap) & n[i].bit))
            return n[i].why;
    return NULL;
}

#define NEEDS(cap, arr) check_needs((cap), (arr), sizeof(arr) / sizeof((arr)[0]))

static const struct need pin_needs[] = {
    { PIN_BASED_NMI_EXITING, "NMI exiting not supported" },
    { PIN_BASED_VIRTUAL_NMIS, "virtual NMIs not supported" },
};

static const struct need proc_needs[] = {
    { CPU_BASED_ACTIVATE_SECONDARY_CONTROLS, "secondary processor-based controls not supported" },
    { CPU_BASED_USE_IO_BITMAPS, "I/O bitmaps not supported" },
    { CPU_BASED_USE_MSR_BITMAPS, "MSR bitmaps not supported" },
    { CPU_BASED_USE_TSC_OFFSETTING, "TSC offsetting not supported" },
    { CPU_BASED_NMI_WINDOW_EXITING, "NMI-window exiting not supported" },
};

static const struct need proc2_needs[] = {
    { SECONDARY_EXEC_ENABLE_EPT, "EPT not supported" },
    { SECONDARY_EXEC_UNRESTRICTED_GUEST, "unrestricted guest not supported" },
    { SECONDARY_EXEC_ENABLE_VPID, "VPID not supported" },
};

static const struct need exit_needs[] = {
    { VM_EXIT_HOST_ADDR_SPACE_SIZE, "64-bit host (host address-space size exit control) not supported" },
    { VM_EXIT_SAVE_DEBUG_CONTROLS, "saving debug controls on VM exit not supported" },
    { VM_EXIT_SAVE_IA32_PAT, "saving IA32_PAT on VM exit not supported" },
    { VM_EXIT_LOAD_IA32_PAT, "loading IA32_PAT on VM exit not supported" },
    { VM_EXIT_SAVE_IA32_EFER, "saving IA32_EFER on VM exit not supported" },
    { VM_EXIT_LOAD_IA32_EFER, "loading IA32_EFER on VM exit not supported" },
};

static const struct need entry_needs[] = {
    { VM_ENTRY_LOAD_DEBUG_CONTROLS, "loading debug controls on VM entry not supported" },
    { VM_ENTRY_LOAD_IA32_PAT, "loading IA32_PAT on VM entry not supported" },
    { VM_ENTRY_LOAD_IA32_EFER, "loading IA32_EFER on VM entry not supported" },
    { VM_ENTRY_IA32E_MODE, "64-bit guests (IA-32e mode guest entry control) not supported" },
};

/* What Lamina wants of each control word; see caps.h. */
/* NMI exiting with virtual NMIs: an NMI exits, and the monitor delivers it to
 * the guest itself, which then blocks and unblocks NMIs exactly as on bare
 * metal (SDM 3C 25.6.1, 26.7.1); NMI-window exiting (below) waits out the
 * guest's blocking. The preemption timer, where the CPU has it, makes a
 * guest entry exit at once when an NMI hit the monitor (vmx/exit.c). */
#define LAMINA_PIN_REQUIRED  (PIN_BASED_NMI_EXITING | PIN_BASED_VIRTUAL_NMIS)
#define LAMINA_PIN_OPTIONAL  PIN_BASED_VMX_PREEMPTION_TIMER
#define LAMINA_PROC_WANT  (CPU_BASED_USE_IO_BITMAPS | CPU_BASED_USE_MSR_BITMAPS | \
                           CPU_BASED_USE_TSC_OFFSETTING | \
                           CPU_BASED_ACTIVATE_SECONDARY_CONTROLS)
#define LAMINA_PROC2_REQUIRED (SECONDARY_EXEC_ENABLE_EPT | SECONDARY_EXEC_ENABLE_VPID | \
                               SECONDARY_EXEC_UNRESTRICTED_GUEST)
/* SDM 3C 26.3: with these 0, RDTSCP, INVPCID, XSAVES/XRSTORS and UMONITOR/UMWAIT/
 * TPAUSE cause #UD in the guest: enable them wherever the CPU allows. */
#define LAMINA_PROC2_OPTIONAL (SECONDARY_EXEC_ENABLE_RDTSCP | SECONDARY_EXEC_ENABLE_INVPCID | \
                               SECONDARY_EXEC_ENABLE_XSAVES | SECONDARY_EXEC_ENABLE_USR_WAIT_PAUSE)
#define LAMINA_EXIT_REQUIRED (VM_EXIT_SAVE_DEBUG_CONTROLS | VM_EXIT_HOST_ADDR_SPACE_SIZE | \
                              VM_EXIT_SAVE_IA32_PAT | VM_EXIT_LOAD_IA32_PAT | \
                              VM_EXIT_SAVE_IA32_EFER | VM_EXIT_LOAD_IA32_EFER)
#define LAMINA_ENTRY_REQUIRED (VM_ENTRY_LOAD_DEBUG_CONTROLS | VM_ENTRY_LOAD_IA32_PAT | \
                               VM_ENTRY_LOAD_IA32_EFER)

static int fail(struct vmx_controls *out, const char **why, const char *reason)
{
    out->pin = out->proc = out->proc2 = out->exit = out->entry = 0;
    if (why)
        *why = reason;
    return -1;
}

static const char *check_basic(const struct vmx_caps *c)
{
    uint32_t size = vmx_vmcs_size(c);
    unsigned type = (unsigned)((c->basic >> VMX_BASIC_MEM_TYPE_SHIFT) & VMX_BASIC_MEM_TYPE_MASK);

    /* SDM 3C A.1: bits 44:32 give the VMXON/VMCS region size, at most 4096. */
    if (size == 0 || size > 4096)
        return "VMCS region size not in 1..4096 bytes";
    /* SDM 3C A.1: bit 48 set limits VMXON/VMCS/bitmap addresses to 32 bits. */
    if (c->basic & VMX_BASIC_32BIT_PHYS_ADDR_ONLY)
        return "VMX structures limited to 32-bit physical addresses";
    /* SDM 3C A.1: bits 53:50, the memory type of VMCS accesses; the monitor's memory is WB. */
    if (type != VMX_BASIC_MEM_TYPE_WB)
        return "VMCS memory type not write-back";
    return NULL;
}

static const char *check_ept_vpid(const struct vmx_caps *c)
{
    uint64_t e = c->ept_vpid;

    /* SDM 3C A.10 */
    if (!(e & VMX_EPT_PAGE_WALK_4_BIT))
        return "EPT 4-level page walk not supported";
    if (!(e & VMX_EPTP_WB_BIT))
        return "write-back EPT paging structures not supported";
    if (!(e & VMX_EPT_2MB_PAGE_BIT))
        return "EPT 2 MiB pages not supported";
    if (!(e & VMX_EPT_INVEPT_BIT))
        return "INVEPT not supported";
    if (!(e & (VMX_EPT_EXTENT_CONTEXT_BIT | VMX_EPT_EXTENT_GLOBAL_BIT)))
        return "neither single-context nor all-context INVEPT supported";
    if (!(e & VMX_VPID_INVVPID_BIT))
        return "INVVPID not supported";
    if (!(e & (VMX_VPID_EXTENT_SINGLE_CONTEXT_BIT | VMX_VPID_EXTENT_GLOBAL_CONTEXT_BIT)))
        return "neither single-context nor all-context INVVPID supported";
    return NULL;
}

int vmx_compute_controls(const struct vmx_caps *c, struct vmx_controls *out, const char **why)
{
    const char *reason;
    struct vmx_controls r;

    if ((reason = check_basic(c)) != NULL)
        return fail(out, why, reason);

    if ((reason = NEEDS(pin_cap(c), pin_needs)) != NULL)
        return fail(out, why, reason);
    if (vmx_adjust(pin_cap(c), LAMINA_PIN_OPTIONAL, LAMINA_PIN_REQUIRED, &r.pin) != 0)
        return fail(out, why, "inconsistent pin-based control capabilities");

    if ((reason = NEEDS(proc_cap(c), proc_needs)) != NULL)
        return fail(out, why, reason);
    if (vmx_adjust(proc_cap(c), LAMINA_PROC_WANT, LAMINA_PROC_WANT, &r.proc) != 0)
        return fail(out, why, "inconsistent processor-based control capabilities");

    /* proc2 is valid from here on: secondary controls may be 1. */
    if ((reason = NEEDS(c->proc2, proc2_needs)) != NULL)
        return fail(out, why, reason);
    if (vmx_adjust(c->proc2, LAMINA_PROC2_OPTIONAL, LAMINA_PROC2_REQUIRED, &r.proc2) != 0)
        return fail(out, why, "inconsistent secondary control capabilities");

    /* ept_vpid is valid from here on: EPT may be 1. */
    if ((reason = check_ept_vpid(c)) != NULL)
        return fail(out, why, reason);

    /* SDM 3C A.6: bit 5 is 1 on every CPU with unrestricted guest; without it a guest
     * that leaves or enters long mode would run with a stale "IA-32e mode guest". */
    if (!(c->misc & VMX_MISC_SAVE_EFER_LMA))
        return fail(out, why, "VM exits do not save IA32_EFER.LMA (IA32_VMX_MISC bit 5)");

    if ((reason = NEEDS(exit_cap(c), exit_needs)) != NULL)
        return fail(out, why, reason);
    if (vmx_adjust(exit_cap(c), LAMINA_EXIT_REQUIRED, LAMINA_EXIT_REQUIRED, &r.exit) != 0)
        return fail(out, why, "inconsistent VM-exit control capabilities");

    if ((reason = NEEDS(entry_cap(c), entry_needs)) != NULL)
        return fail(out, why, reason);
    if (vmx_adjust(entry_cap(c), LAMINA_ENTRY_REQUIRED, LAMINA_ENTRY_REQUIRED, &r.entry) != 0)
        return fail(out, why, "inconsistent VM-entry control capabilities");
    /* The IA-32e mode guest control is the caller's, per guest: never forced here.
     * (It is in no default1 class, so the adjustment leaves it 0.) */
    r.entry &= ~(uint32_t)VM_ENTRY_IA32E_MODE;

    *out = r;
    if (why)
        *why = NULL;
    return 0;
}

uint64_t vmx_fix_cr0(const struct vmx_caps *c, uint64_t cr0, bool unrestricted)
{
    return (cr0 | vmx_cr0_host_owned(c, unrestricted)) & c->cr0_fixed1;
}

uint64_t vmx_fix_cr4(const struct vmx_caps *c, uint64_t cr4)
{
    return (cr4 | vmx_cr4_host_owned(c)) & c->cr4_fixed1;
}

uint64_t vmx_cr0_host_owned(const struct vmx_caps *c, bool unrestricted)
{
    uint64_t fixed0 = c->cr0_fixed0;
    /* SDM 3C A.7 and 26.3.1.1: with unrestricted guest, PE and PG may be 0. */
    if (unrestricted)
        fixed0 &= ~(CAPS_CR0_PE | CAPS_CR0_PG);
    return fixed0;
}

uint64_t vmx_cr4_host_owned(const struct vmx_caps *c)
{
    return c->cr4_fixed0;
}

bool vmx_ept_1g(const struct vmx_caps *c)
{
    return ept_cap(c, VMX_EPT_1GB_PAGE_BIT);
}

bool vmx_wait_for_sipi(const struct vmx_caps *c)
{
    return (c->misc & VMX_MISC_ACTIVITY_WAIT_SIPI) != 0;
}

bool vmx_invept_single(const struct vmx_caps *c)
{
    return ept_cap(c, VMX_EPT_INVEPT_BIT | VMX_EPT_EXTENT_CONTEXT_BIT);
}

bool vmx_invept_all(const struct vmx_caps *c)
{
    return ept_cap(c, VMX_EPT_INVEPT_BIT | VMX_EPT_EXTENT_GLOBAL_BIT);
}

bool vmx_invvpid_single(const struct vmx_caps *c)
{
    return ept_cap(c, VMX_VPID_INVVPID_BIT | VMX_VPID_EXTENT_SINGLE_CONTEXT_BIT);
}

bool vmx_invvpid_all(const struct vmx_caps *c)
{
    return ept_cap(c, VMX_VPID_INVVPID_BIT | VMX_VPID_EXTENT_GLOBAL_CONTEXT_BIT);
}

bool vmx_invvpid_addr(const struct vmx_caps *c)
{
    return ept_cap(c, VMX_VPID_INVVPID_BIT | VMX_VPID_EXTENT_INDIVIDUAL_ADDR_BIT);
}

uint32_t vmx_vmcs_revision(const struct vmx_caps *c)
{
    return (uint32_t)(c->basic & VMX_BASIC_REVISION_MASK);
}

uint32_t vmx_vmcs_size(const struct vmx_caps *c)
{
    return (uint32_t)((c->basic >> VMX_BASIC_VMCS_SIZE_SHIFT) & VMX_BASIC_VMCS_SIZE_MASK);
}
