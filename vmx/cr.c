/* Control-register exits. With unrestricted guest only the bits VMX fixes are
 * host-owned (CR0.NE, CR4.VMXE and their like): a MOV to CR0/CR4 or an LMSW
 * that changes one exits, and the monitor completes it as hardware would.
 * The guest reads its own values from the read shadows (SDM 3C 26.3). */
#include "core/arch.h"
#include "core/gwalk.h"
#include "core/monitor.h"
#include "core/vcpu.h"
#include "vmx/vmx.h"

#define CR4_PCIDE (1ull << 17)

static uint64_t read_gpr(struct vcpu *v, unsigned n)
{
    /* SDM 3C 28.2.1 table 28-3 register numbering matches struct guest_regs
     * order; RSP (4) is in the VMCS. */
    return n == 4 ? guest_get(v, GV_RSP) : ((uint64_t *)v->r)[n];
}

/* 64-bit mode: IA-32e mode and CS.L (SDM 3A 6.2.1). */
static bool guest_64bit(struct vcpu *v)
{
    return guest_get(v, GV_CODE_SIZE) == 64;
}

static void write_gpr(struct vcpu *v, unsigned n, uint64_t value)
{
    if (n == 4)
        guest_set(v, GV_RSP, value);
    else
        ((uint64_t *)v->r)[n] = value;
}

/* PAE paging (CR0.PG, CR4.PAE, not IA-32e mode) loads the PDPTEs at MOV to
 * CR3 and at a MOV to CR0/CR4 that leaves it on after changing PG, PAE, PGE,
 * PSE, CD, NW or SMEP (SDM 3A 5.4.1); under EPT the processor keeps them in
 * the VMCS (SDM 3C 25.4.2). -1: a reserved bit, the instruction is #GP.
 * Monitor memory and addresses outside RAM also give -1 (the processor would
 * read the sink page or MMIO there; no OS puts its PDPT in either). */
static int load_pdptes(uint64_t cr3)
{
    struct gwalk_ctx c = { .read_phys = vcpu_read_phys, .maxphyaddr = (uint8_t)mon.maxphyaddr };
    uint64_t pdpte[4];
    if (gwalk_load_pdptes(&c, cr3, pdpte) != 0)
        return -1;
    for (int i = 0; i < 4; i++)
        vmcs_write(GUEST_PDPTR0 + 2 * i, pdpte[i]);
    return 0;
}

/* PAE paging: CR0.PG, CR4.PAE and not IA-32e mode (SDM 3A 5.1.1). */
static bool pae_paging(uint64_t cr0, uint64_t cr4, uint64_t efer)
{
    return (cr0 & CR0_PG) && (cr4 & CR4_PAE) && !(efer & EFER_LMA);
}

/* MOV to CR3 (SDM 2A MOV CR; 3A 4.10.4.1). It exits only where CR3-load
 * exiting cannot be cleared (no TRUE_ capability MSRs, SDM 3C A.3.2). */
static void write_guest_cr3(struct vcpu *v, uint64_t val)
{
    guest_load(v, GV(GV_CR0) | GV(GV_CR4) | GV(GV_EFER) | GV(GV_CODE_SIZE));
    uint64_t cr4 = guest_get(v, GV_CR4);
    bool flush = true;
    if (guest_64bit(v)) {
        /* With CR4.PCIDE, bit 63 asks for no invalidation and is not stored. */
        if ((cr4 & CR4_PCIDE) && (val >> 63)) {
            flush = false;
            val &= ~(1ull << 63);
        }
        if (val >> mon.maxphyaddr) {
            vcpu_inject_gp(v);
            return;
        }
    } else {
        val = (uint32_t)val;
    }
    if (pae_paging(guest_get(v, GV_CR0), cr4, guest_get(v, GV_EFER)) && load_pdptes(val) != 0) {
        vcpu_inject_gp(v);
        return;
    }
    vmx_guest_write(v, GUEST_CR3, val);
    if (flush)
        be_guest_tlb_flush(v);
    be_skip_instruction(v);
}

/* A MOV to CR0 that touched a host-owned bit: apply it as hardware would. */
static void write_guest_cr0(struct vcpu *v, uint64_t val)
{
    if ((val >> 32) || ((val & CR0_PG) && !(val & CR0_PE)) || ((val & CR0_NW) && !(val & CR0_CD))) {
        vcpu_inject_gp(v);
        return;
    }
    /* The guest's CR0: its own bits (PG, PE, ...) from GUEST_CR0, the
     * host-owned ones from the read shadow (M6: the shadow's copy of a bit
     * the mask does not own is stale). */
    uint64_t old = guest_get(v, GV_CR0);
    uint64_t efer = guest_get(v, GV_EFER);
    /* SDM 2A MOV CR, 3A 10.8.5: paging cannot be turned off in 64-bit mode
     * (only from compatibility mode) or with CR4.PCIDE set, nor turned on
     * with EFER.LME but without CR4.PAE. Hardware checks these; the write
     * exits here only because it also changed a host-owned bit (NE). PG,
     * PAE and PCIDE are the guest's own bits: their current values are in
     * GUEST_CR0/GUEST_CR4, the read shadows only hold host-owned ones. */
    uint64_t cr4 = vmcs_read(GUEST_CR4), cur_pg = old & CR0_PG;
    bool pg_off = !(val & CR0_PG) && cur_pg, pg_on = (val & CR0_PG) && !cur_pg;
    if ((pg_off && (guest_64bit(v) || (cr4 & CR4_PCIDE))) ||
        (pg_on && (efer & EFER_LME) && !(cr4 & CR4_PAE))) {
        vcpu_inject_gp(v);
        return;
    }
    uint64_t entry = vmcs_read(VM_ENTRY_CONTROLS);
    /* SDM 3A 10.8.5: setting PG with EFER.LME activates IA-32e mode. */
    if ((val & CR0_PG) && !(old & CR0_PG) && (efer & EFER_LME)) {
        efer |= EFER_LMA;
        entry |= VM_ENTRY_IA32E_MODE;
    } else if (!(val & CR0_PG) && (old & CR0_PG)) {
        efer &= ~EFER_LMA;
        entry &= ~VM_ENTRY_IA32E_MODE;
    }
    if (pae_paging(val, cr4, efer) && ((val ^ old) & (CR0_PG | CR0_CD | CR0_NW)) &&
        load_pdptes(vmcs_read(GUEST_CR3)) != 0) {
        vcpu_inject_gp(v);
        return;
    }
    vmx_guest_write(v, GUEST_IA32_EFER, efer);
    vmcs_write(VM_ENTRY_CONTROLS, entry);
    vmx_guest_write(v, CR0_READ_SHADOW, val);
    vmx_guest_write(v, GUEST_CR0, vmx_fix_cr0(&vmx.caps, val, true));
    be_guest_tlb_flush(v);
    be_skip_instruction(v);
}

static void write_guest_cr4(struct vcpu *v, uint64_t val)
{
    /* The guest sees no VMX, so CR4.VMXE is reserved to it; so are bits the CPU lacks. */
    if ((val & CR4_VMXE) || (val & ~vmx.caps.cr4_fixed1)) {
        vcpu_inject_gp(v);
        return;
    }
    /* SDM 2A MOV CR: PAE cannot be cleared in IA-32e mode. Under PAE paging
     * a change of PAE, PGE, PSE or SMEP reloads the PDPTEs (SDM 3A 5.4.1). */
    uint64_t cr0 = guest_get(v, GV_CR0), efer = guest_get(v, GV_EFER);
    uint64_t old = guest_get(v, GV_CR4);
    if (((efer & EFER_LMA) && !(val & CR4_PAE)) ||
        (pae_paging(cr0, val, efer) && ((val ^ old) & (CR4_PAE | CR4_PGE | CR4_PSE | CR4_SMEP)) &&
         load_pdptes(vmcs_read(GUEST_CR3)) != 0)) {
        vcpu_inject_gp(v);
        return;
    }
    vmx_guest_write(v, CR4_READ_SHADOW, val);
    vmx_guest_write(v, GUEST_CR4, vmx_fix_cr4(&vmx.caps, val) | CR4_VMXE);
    be_guest_tlb_flush(v);
    be_skip_instruction(v);
}

/* SDM 3C 28.2.1 table 28-3: exit qualification for control-register accesses. */
void vmx_handle_cr_access(struct vcpu *v)
{
    uint64_t qual = vmcs_read(EXIT_QUALIFICATION);
    unsigned cr = qual & 0xf, type = (qual >> 4) & 3, reg = (qual >> 8) & 0xf;
    if (type == 0 && cr == 0) {
        write_guest_cr0(v, read_gpr(v, reg));
    } else if (type == 0 && cr == 4) {
        write_guest_cr4(v, read_gpr(v, reg));
    } else if (type == 0 && cr == 3) {
        write_guest_cr3(v, read_gpr(v, reg));
    } else if (type == 1 && cr == 3) {
        /* MOV from CR3: outside 64-bit mode the destination's upper half is 0. */
        write_gpr(v, reg, guest_64bit(v) ? guest_get(v, GV_CR3) : (uint32_t)guest_get(v, GV_CR3));
        be_skip_instruction(v);
    } else if (type == 3) {
        /* LMSW loads CR0 bits 3:0 but cannot clear PE (SDM 2A LMSW). */
        uint64_t src = (qual >> 16) & 0xf, old = guest_get(v, GV_CR0);
        write_guest_cr0(v, (old & ~0xeull) | (src & 0xe) | ((old | src) & 1));
    } else {
        vcpu_stop(v, "unexpected control-register access exit");
    }
}
