/* The guest view and the operations on the guest, in the VMCS: the backend
 * side of core/backend.h (RIP advance, injection, VMCS-held MSRs, the TSC
 * offset, I/O exits, leaving VMX at the loader's request). */
#include <string.h>
#include "core/apic.h"
#include "core/arch.h"
#include "core/monitor.h"
#include "vmx/vmx.h"

#define AR_DPL(ar)  (((ar) >> 5) & 3)
#define AR_L        (1u << 13)
#define AR_DB       (1u << 14)

/* Straight-line reads of the fields asked for: a test per field, one VMREAD
 * (two for CR0) per field fetched. */
void be_guest_load(struct vcpu *v, uint32_t mask)
{
    mask &= ~v->gv_valid;
    if (mask & GV(GV_RIP))
        v->gv[GV_RIP] = vmcs_read(GUEST_RIP);
    if (mask & GV(GV_RSP))
        v->gv[GV_RSP] = vmcs_read(GUEST_RSP);
    if (mask & GV(GV_RFLAGS))
        v->gv[GV_RFLAGS] = vmcs_read(GUEST_RFLAGS);
    /* Host-owned bits read as the guest wrote them (SDM 3C 26.3). */
    if (mask & GV(GV_CR0))
        v->gv[GV_CR0] = (vmcs_read(GUEST_CR0) & ~vmx.cr0_mask) |
                        (vmcs_read(CR0_READ_SHADOW) & vmx.cr0_mask);
    if (mask & GV(GV_CR3))
        v->gv[GV_CR3] = vmcs_read(GUEST_CR3);
    if (mask & GV(GV_CR4)) {
        /* The shadow's CR4.VMXE is always 0: only other host-owned bits need it. */
        uint64_t cr4 = vmcs_read(GUEST_CR4) & ~vmx.cr4_mask;
        if (vmx.cr4_mask & ~CR4_VMXE)
            cr4 |= vmcs_read(CR4_READ_SHADOW) & vmx.cr4_mask;
        v->gv[GV_CR4] = cr4;
    }
    if (mask & (GV(GV_EFER) | GV(GV_CODE_SIZE)) && !(v->gv_valid & GV(GV_EFER))) {
        v->gv[GV_EFER] = vmcs_read(GUEST_IA32_EFER);
        mask |= GV(GV_EFER);
    }
    /* SS.DPL is the CPL (SDM 3C 25.4.1). */
    if (mask & GV(GV_CPL))
        v->gv[GV_CPL] = AR_DPL(vmcs_read(GUEST_SS_AR_BYTES));
    if (mask & GV(GV_CODE_SIZE)) {
        /* 64-bit mode: IA-32e mode and CS.L (SDM 3A 6.2.1); else CS.D/B. */
        uint64_t ar = vmcs_read(GUEST_CS_AR_BYTES);
        v->gv[GV_CODE_SIZE] = (ar & AR_L) && (v->gv[GV_EFER] & EFER_LMA) ? 64 :
                              (ar & AR_DB) ? 32 : 16;
    }
    /* Saved and loaded through the VMCS (the debug controls, SDM 3C 25.4.1). */
    if (mask & GV(GV_DR7))
        v->gv[GV_DR7] = vmcs_read(GUEST_DR7);
    if (mask & ~(GV(GV_COUNT) - 1))
        vcpu_stop(v, "the core asked for a guest field the backend does not have");
    v->gv_valid |= mask;
}

/* One field: the fields read by one VMREAD directly, the others as a batch of one. */
uint64_t be_guest_get(struct vcpu *v, enum gv_field f)
{
    static const uint16_t direct[GV_COUNT] = {
        [GV_RIP] = GUEST_RIP, [GV_RSP] = GUEST_RSP, [GV_RFLAGS] = GUEST_RFLAGS,
        [GV_CR3] = GUEST_CR3, [GV_EFER] = GUEST_IA32_EFER, [GV_DR7] = GUEST_DR7,
    };
    if ((unsigned)f < GV_COUNT && direct[f]) {
        v->gv[f] = vmcs_read(direct[f]);
        v->gv_valid |= GV(f);
    } else {
        be_guest_load(v, GV(f));
    }
    return v->gv[f];
}

/* The cached view fields a VMCS guest-state field feeds. */
static uint32_t view_fields_of(uint64_t field)
{
    switch (field) {
    case GUEST_RIP: return GV(GV_RIP);
    case GUEST_RSP: return GV(GV_RSP);
    case GUEST_RFLAGS: return GV(GV_RFLAGS);
    case GUEST_CR0: case CR0_READ_SHADOW: return GV(GV_CR0);
    case GUEST_CR3: return GV(GV_CR3);
    case GUEST_CR4: case CR4_READ_SHADOW: return GV(GV_CR4);
    case GUEST_IA32_EFER: return GV(GV_EFER) | GV(GV_CODE_SIZE);
    case GUEST_SS_AR_BYTES: return GV(GV_CPL);
    case GUEST_CS_AR_BYTES: return GV(GV_CODE_SIZE);
    case GUEST_DR7: return GV(GV_DR7);
    default: return 0;
    }
}

void vmx_guest_write(struct vcpu *v, uint64_t field, uint64_t value)
{
    vmcs_write(field, value);
    v->gv_valid &= ~view_fields_of(field);
}

void be_guest_set(struct vcpu *v, enum gv_field f, uint64_t value)
{
    switch (f) {
    case GV_RIP:
        vmcs_write(GUEST_RIP, value);
        break;
    case GV_RSP:
        vmcs_write(GUEST_RSP, value);
        break;
    case GV_RFLAGS:
        vmcs_write(GUEST_RFLAGS, value);
        break;
    default:
        vcpu_stop(v, "the core wrote a guest field the backend does not write");
    }
}

void be_guest_seg(struct vcpu *v, enum guest_sreg s, struct guest_seg *out)
{
    (void)v;
    /* The VMCS keeps segments in ES, CS, SS, DS, FS, GS order, two encodings apart. */
    out->sel = (uint16_t)vmcs_read(GUEST_ES_SELECTOR + 2 * s);
    out->base = vmcs_read(GUEST_ES_BASE + 2 * s);
    out->limit = (uint32_t)vmcs_read(GUEST_ES_LIMIT + 2 * s);
    out->ar = (uint32_t)vmcs_read(GUEST_ES_AR_BYTES + 2 * s);
}

void be_guest_pdptes(struct vcpu *v, uint64_t pdpte[4])
{
    (void)v;
    /* With EPT the PDPTEs the processor uses are guest state (SDM 3C 25.4.2). */
    for (int i = 0; i < 4; i++)
        pdpte[i] = vmcs_read(GUEST_PDPTR0 + 2 * i);
}

static inline void skip(struct vcpu *v, uint64_t len)
{
    uint64_t rip = (v->gv_valid & GV(GV_RIP)) ? v->gv[GV_RIP] : vmcs_read(GUEST_RIP);
    vmcs_write(GUEST_RIP, rip + len);
    v->gv[GV_RIP] = rip + len;
    v->gv_valid |= GV(GV_RIP);
    /* An emulated instruction ends blocking by STI / MOV SS (SDM 3C 25.4.2). */
    uint64_t intr = vmcs_read(GUEST_INTERRUPTIBILITY_INFO);
    if (intr & INTERRUPTIBILITY_STI_MOVSS)
        vmcs_write(GUEST_INTERRUPTIBILITY_INFO, intr & ~(uint64_t)INTERRUPTIBILITY_STI_MOVSS);
    vcpu_insn_done(v);
}

void be_skip_bytes(struct vcpu *v, unsigned len)
{
    skip(v, len);
}

/* For exits that report the instruction length (SDM 3C 28.2.5). */
void be_skip_instruction(struct vcpu *v)
{
    skip(v, vmcs_read(VM_EXIT_INSTRUCTION_LEN));
}

unsigned be_insn_len(struct vcpu *v)
{
    (void)v;
    return (unsigned)vmcs_read(VM_EXIT_INSTRUCTION_LEN);
}

void be_inject_exception(struct vcpu *v, unsigned vector, bool has_error, uint32_t error)
{
    uint32_t info = INTR_INFO_VALID | INTR_TYPE_HW_EXC | vector;
    if (has_error) {
        info |= INTR_INFO_DELIVER_ERR;
        vmcs_write(VM_ENTRY_EXCEPTION_ERROR_CODE, error);
    }
    vmcs_write(VM_ENTRY_INTR_INFO_FIELD, info);
    v->injected = true;
}

/* The pending debug exceptions field (SDM 3C 25.4.2): at VM entry without
 * an injected event the processor delivers them as a #DB, updating DR6 as a
 * native trap would (SDM 3C 27.6.3, "Delivery of Pending Debug Exceptions
 * after VM Entry"). It may already hold traps the processor saved (blocking
 * by MOV SS): they and ours are one #DB. An injected event would drop them
 * (Bochs drops them too), so v->injected makes a guest NMI wait for its
 * window: the #DB, a trap of the previous instruction, goes first anyway
 * (SDM 3A table 7-2). Bit 12: at least one enabled breakpoint hit. */
void be_pending_debug(struct vcpu *v, uint32_t dr6)
{
    uint64_t pde = vmcs_read(GUEST_PENDING_DBG_EXCEPTIONS);
    pde |= dr6 & (GUEST_PENDING_DBG_B0_3 | GUEST_PENDING_DBG_BS);
    if (dr6 & GUEST_PENDING_DBG_B0_3)
        pde |= GUEST_PENDING_DBG_ENABLED_BP;
    vmcs_write(GUEST_PENDING_DBG_EXCEPTIONS, pde);
    v->injected = true;
}

/* VMCS guest-state fields of the MSRs VT-x holds (SDM 3C 25.4.1); 0 for the
 * ones it leaves in the processor. */
static const uint32_t msr_fields[GMSR_COUNT] = {
    [GMSR_SYSENTER_CS] = GUEST_SYSENTER_CS, [GMSR_SYSENTER_ESP] = GUEST_SYSENTER_ESP,
    [GMSR_SYSENTER_EIP] = GUEST_SYSENTER_EIP, [GMSR_FS_BASE] = GUEST_FS_BASE,
    [GMSR_GS_BASE] = GUEST_GS_BASE, [GMSR_DEBUGCTL] = GUEST_IA32_DEBUGCTL,
    [GMSR_PAT] = GUEST_IA32_PAT, [GMSR_EFER] = GUEST_IA32_EFER,
};

bool be_msr_held(enum guest_msr kind)
{
    return (unsigned)kind < GMSR_COUNT && msr_fields[kind] != 0;
}

static uint32_t msr_field(enum guest_msr kind)
{
    return msr_fields[kind];
}

uint64_t be_msr_field_read(struct vcpu *v, enum guest_msr kind)
{
    (void)v;
    return vmcs_read(msr_field(kind));
}

int be_msr_field_write(struct vcpu *v, enum guest_msr kind, uint64_t value)
{
    if (kind == GMSR_DEBUGCTL) {
        /* Valid bits are model specific: let the processor judge. VM exits
         * clear IA32_DEBUGCTL (SDM 3C 28.5.1), so 0 is the host's value. */
        int bad = wrmsr_safe(MSR_IA32_DEBUGCTL, value);
        wrmsr(MSR_IA32_DEBUGCTL, 0);
        if (bad)
            return -1;
    }
    vmx_guest_write(v, msr_field(kind), value);
    return 0;
}

static bool is_vmx_msr(uint32_t msr)
{
    return msr >= MSR_IA32_VMX_BASIC && msr <= MSR_IA32_VMX_LAST;
}

/* As on a CPU without VMX: the capability MSRs do not exist, and
 * IA32_FEATURE_CONTROL reads with its VMX enable bits clear and is locked. */
enum be_msr_result be_own_msr_read(uint32_t msr, uint64_t *value)
{
    if (is_vmx_msr(msr))
        return BE_MSR_GP;
    if (msr != MSR_IA32_FEATURE_CONTROL)
        return BE_MSR_NOT_MINE;
    if (rdmsr_safe(msr, value) != 0)
        return BE_MSR_GP;
    *value &= ~(FEATURE_CONTROL_VMX_IN_SMX | FEATURE_CONTROL_VMX_OUT_SMX);
    return BE_MSR_DONE;
}

enum be_msr_result be_own_msr_write(uint32_t msr, uint64_t value)
{
    (void)value;
    /* IA32_FEATURE_CONTROL is locked (writes #GP on hardware); VMX MSRs are read-only. */
    return msr == MSR_IA32_FEATURE_CONTROL || is_vmx_msr(msr) ? BE_MSR_GP : BE_MSR_NOT_MINE;
}

void be_set_tsc_offset(struct vcpu *v, uint64_t offset)
{
    (void)v;
    vmcs_write(TSC_OFFSET, offset);
}

/* SDM 3C 28.2.5 table 28-8 (instruction information for INS/OUTS), where
 * IA32_VMX_BASIC bit 54 says the processor reports it (SDM 3C A.1; Bochs
 * 2.7 does): bits 9:7 address size (0 16, 1 32, 2 64), bits 17:15 segment
 * (undefined for INS, which always uses ES). */
int be_string_io_info(struct vcpu *v, unsigned *addr_size, unsigned *seg)
{
    if (!(vmx.caps.basic & VMX_BASIC_INOUT))
        return -1;
    uint32_t info = (uint32_t)vmcs_read(VMX_INSTRUCTION_INFO);
    unsigned as = (info >> 7) & 7, s = (info >> 15) & 7;
    if (as > 2 || s >= SREG_COUNT)
        vcpu_stop(v, "string I/O exit with an invalid instruction-information field");
    *addr_size = 16u << as;
    *seg = s;
    return 0;
}

/* SDM 3C 28.2.1 table 28-5: exit qualification for I/O instructions. */
void vmx_handle_io(struct vcpu *v)
{
    uint64_t qual = vmcs_read(EXIT_QUALIFICATION);
    unsigned size = (unsigned)(qual & 7) + 1;
    bool in = qual & (1u << 3), string = qual & (1u << 4);
    uint16_t port = (uint16_t)(qual >> 16);
    if (size != 1 && size != 2 && size != 4)
        vcpu_stop(v, "I/O exit with an invalid access size");
    if (string)
        vcpu_string_io(v, port, size, in, qual & (1u << 5));
    else
        vcpu_io(v, port, size, in);
}

void vmx_flush_vpid(struct percpu *pc)
{
    uint16_t vpid = (uint16_t)vmx_cpu(pc)->vpid;
    /* M6: the type the CPU has (SDM 3C A.10); all-context flushes every VPID. */
    enum vmx_result r = invvpid(vmx_invvpid_single(&vmx.caps) ? INVVPID_SINGLE_CONTEXT
                                                              : INVVPID_ALL_CONTEXT, vpid);
    if (r != VMX_OK)
        vmx_insn_failed("INVVPID", vpid, r);
}

void be_guest_tlb_flush(struct vcpu *v)
{
    vmx_flush_vpid(v->pc);
}

/* The loader's rollback: leave VMX on this CPU and continue natively after
 * the VMCALL, with the guest's state. */
void be_devirtualize(struct vcpu *v)
{
    struct devirt_ctx c;
    memset(&c, 0, sizeof(c));
    c.rip = vmcs_read(GUEST_RIP) + vmcs_read(VM_EXIT_INSTRUCTION_LEN);
    c.cs = vmcs_read(GUEST_CS_SELECTOR);
    c.rflags = vmcs_read(GUEST_RFLAGS);
    c.rsp = vmcs_read(GUEST_RSP);
    c.ss = vmcs_read(GUEST_SS_SELECTOR);
    c.cr3 = vmcs_read(GUEST_CR3);
    c.cr4 = vmcs_read(GUEST_CR4) & ~CR4_VMXE;
    c.ds = vmcs_read(GUEST_DS_SELECTOR);
    c.es = vmcs_read(GUEST_ES_SELECTOR);
    c.fs = vmcs_read(GUEST_FS_SELECTOR);
    c.gs = vmcs_read(GUEST_GS_SELECTOR);
    c.fs_base = vmcs_read(GUEST_FS_BASE);
    c.gs_base = vmcs_read(GUEST_GS_BASE);
    c.gdtr_limit = (uint16_t)vmcs_read(GUEST_GDTR_LIMIT);
    c.gdtr_base = vmcs_read(GUEST_GDTR_BASE);
    c.idtr_limit = (uint16_t)vmcs_read(GUEST_IDTR_LIMIT);
    c.idtr_base = vmcs_read(GUEST_IDTR_BASE);
    c.regs = *v->r;
    struct vmx_cpu *vc = vmx_cpu(v->pc);
    vc->in_vmx = false;
    vmclear((uint64_t)(uintptr_t)vc->vmcs);
    vmx_devirt_jump(&c);
}

/* A kick is an NMI: NMI exiting brings the target to vcpu_nmi(). */
void be_kick_cpu(struct percpu *target)
{
    apic_send_nmi(mon.apic_base, target->apic_id);
}
