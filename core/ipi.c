/* INIT IPI emulation, and the monitor's own use of the local APIC.
 *
 * With several CPUs the guest's INIT IPIs do not reach the target CPU: the
 * sender's ICR write is trapped (x2APIC: WRMSR 0x830 through the MSR bitmap;
 * xAPIC: the APIC page is read-only in the guest-physical map and the store
 * is decoded and emulated), the target is flagged and kicked with an NMI, and
 * its NMI exit enters the INIT state. A real INIT in VMX non-root would do
 * the same by itself, but Bochs 2.7 keeps such an INIT pending after the VM
 * exit, so the target could never run again (fixed upstream after 2.7).
 * Every other ICR write goes to the hardware unchanged. */
#include <string.h>
#include "core/apic.h"
#include "core/arch.h"
#include "core/log.h"
#include "core/monitor.h"
#include "core/vcpu.h"
#include "core/x86_decode.h"

/* ------------------------------------------------- this CPU's local APIC */
bool apic_x2apic_mode(void)
{
    return rdmsr(MSR_IA32_APIC_BASE) & APIC_BASE_EXTD;
}

void apic_mmio_write(uint64_t apic_base, uint32_t reg, uint32_t value)
{
    *(volatile uint32_t *)phys_ptr(apic_base + reg) = value;
}

uint32_t apic_mmio_read(uint64_t apic_base, uint32_t reg)
{
    return *(volatile uint32_t *)phys_ptr(apic_base + reg);
}

void apic_send_nmi(uint64_t apic_base, uint32_t apic_id)
{
    apic_send_ipi(apic_base, apic_id, (ICR_MODE_NMI << 8) | ICR_LEVEL_ASSERT);
}

void apic_send_ipi(uint64_t apic_base, uint32_t apic_id, uint32_t low)
{
    if (apic_send_ipi_safe(apic_base, apic_id, low) != 0)
        log_error("IPI 0x%x to APIC ID %u refused by the local APIC", low, apic_id);
}

/* In x2APIC mode the ICR is an MSR whose reserved bits #GP (SDM 3A 11.12.9):
 * the write goes through the fault-safe path, as `low` may hold the guest's bits. */
int apic_send_ipi_safe(uint64_t apic_base, uint32_t apic_id, uint32_t low)
{
    if (apic_x2apic_mode())
        return wrmsr_safe(MSR_X2APIC_ICR, ((uint64_t)apic_id << 32) | low) == 0 ? 0 : -1;
    /* xAPIC: ICR high holds what the guest last wrote; put it back after. */
    uint32_t high = apic_mmio_read(apic_base, APIC_REG_ICR_HIGH);
    apic_mmio_write(apic_base, APIC_REG_ICR_HIGH, apic_id << 24);
    apic_mmio_write(apic_base, APIC_REG_ICR_LOW, low);
    for (int i = 0; i < 100000 && (apic_mmio_read(apic_base, APIC_REG_ICR_LOW) & ICR_BUSY); i++)
        cpu_relax();
    apic_mmio_write(apic_base, APIC_REG_ICR_HIGH, high);
    return 0;
}

/* --------------------------------------------------- INIT IPI emulation */

static void request_init(struct percpu *target)
{
    if (target->waiting_for_sipi || target->stopped)
        return;     /* already in the INIT state, or gone */
    __atomic_store_n(&target->init_request, true, __ATOMIC_SEQ_CST);
    be_kick_cpu(target);
}

/* After the ICR write's instruction was skipped: deliver an emulated INIT. */
static void deliver_init_ipi(struct vcpu *v, uint64_t targets)
{
    bool init_self = false;
    for (uint32_t i = 0; i < mon.bi->ncpus; i++) {
        if (!(targets & (1ull << i)))
            continue;
        if (i == v->pc->index)
            init_self = true;
        else
            request_init(&mon.cpus[i]);
    }
    if (init_self)
        vcpu_enter_init(v);
}

/* Whether an ICR write is an INIT IPI the monitor emulates; logs the ones it
 * passes on although they are INITs. */
static bool emulated_init(struct vcpu *v, uint32_t low, uint32_t dest, bool x2apic,
                          uint64_t *targets)
{
    if (apic_init_targets(low, dest, x2apic, v->pc->index, mon.apic_ids, mon.bi->ncpus,
                          targets) == 0)
        return true;
    if (ICR_MODE(low) == ICR_MODE_INIT)
        log_warn("cpu %u: INIT IPI in logical destination mode passed on unemulated",
                 v->pc->index);
    return false;
}

/* A SIPI for several CPUs goes out once per target (see apic.h): 0 if it
 * is not one, 1 once sent, -1 if the APIC refused the guest's ICR bits (the
 * guest gets the #GP its own WRMSR would have raised; nothing was sent, as
 * the first write is the one that fails). */
static int split_sipi(struct vcpu *v, uint32_t low, uint32_t dest, bool x2apic)
{
    uint64_t targets;
    if (!apic_sipi_needs_split(low, dest, x2apic) ||
        apic_ipi_targets(low, dest, x2apic, v->pc->index, mon.apic_ids, mon.bi->ncpus,
                         &targets) != 0)
        return 0;
    for (uint32_t i = 0; i < mon.bi->ncpus; i++)
        if ((targets & (1ull << i)) &&
            apic_send_ipi_safe(mon.apic_base, mon.apic_ids[i], low & ~(3u << 18)) != 0)
            return -1;
    return 1;
}

void ipi_icr_msr_write(struct vcpu *v, uint64_t val)
{
    uint64_t targets;
    /* The x2APIC ICR exists in x2APIC mode only (SDM 3A 11.12.1): in xAPIC
     * mode WRMSR 0x830 raises #GP, it must not send emulated INITs/SIPIs. */
    if (!apic_x2apic_mode()) {
        vcpu_inject_gp(v);
        return;
    }
    int split = split_sipi(v, (uint32_t)val, (uint32_t)(val >> 32), true);
    if (split < 0) {
        vcpu_inject_gp(v);
        return;
    }
    if (split) {
        be_skip_instruction(v);
        return;
    }
    if (!emulated_init(v, (uint32_t)val, (uint32_t)(val >> 32), true, &targets)) {
        if (wrmsr_safe(MSR_X2APIC_ICR, val) != 0)
            vcpu_inject_gp(v);
        else
            be_skip_instruction(v);
        return;
    }
    be_skip_instruction(v);
    deliver_init_ipi(v, targets);
}

/* Fetch and decode the store that wrote the (read-only) xAPIC page. */
static int decode_guest_store(struct vcpu *v, struct x86_store *st)
{
    unsigned mode = (unsigned)guest_get(v, GV_CODE_SIZE);
    unsigned cpl = (unsigned)guest_get(v, GV_CPL);
    struct gwalk_ctx c;
    uint64_t pdpte[4];
    vcpu_walk_ctx(v, &c, pdpte);
    uint64_t rip = guest_get(v, GV_RIP);
    struct guest_seg cs;
    be_guest_seg(v, SREG_CS, &cs);
    uint64_t la = mode == 64 ? rip : cs.base + rip;
    uint8_t code[15];
    struct gwalk_fault f;
    size_t avail = 4096 - (la & 0xfff);
    if (avail > sizeof(code))
        avail = sizeof(code);
    if (gwalk_read(&c, la, code, avail, GW_FETCH, cpl, &f) != 0)
        return -1;
    /* The instruction may continue on the next page. */
    if (avail < sizeof(code) &&
        gwalk_read(&c, la + avail, code + avail, sizeof(code) - avail, GW_FETCH, cpl, &f) == 0)
        avail = sizeof(code);
    return x86_decode_store(code, avail, mode, st);
}

/* A guest store to the xAPIC page (read-only in the guest-physical map while
 * INITs are emulated): performed on the real APIC, unless it sends an INIT IPI. */
void ipi_xapic_store(struct vcpu *v, uint64_t gpa)
{
    struct x86_store st;
    uint32_t reg = (uint32_t)(gpa & 0xfff);
    if (decode_guest_store(v, &st) != 0 || st.width != 4 || (reg & 3))
        vcpu_stop(v, "cannot emulate the guest's store to the local APIC page");
    uint64_t *gpr = (uint64_t *)v->r;
    uint32_t value;
    if (!st.from_reg)
        value = (uint32_t)st.imm;
    else if (st.reg == 4)
        value = (uint32_t)guest_get(v, GV_RSP);
    else
        value = (uint32_t)gpr[st.reg];
    uint32_t old = st.is_xchg ? apic_mmio_read(mon.apic_base, reg) : 0;
    uint64_t targets = 0;
    uint32_t dest = apic_mmio_read(mon.apic_base, APIC_REG_ICR_HIGH) >> 24;
    bool init = reg == APIC_REG_ICR_LOW && emulated_init(v, value, dest, false, &targets);
    /* xAPIC: an MMIO store, nothing to refuse. */
    bool split = !init && reg == APIC_REG_ICR_LOW && split_sipi(v, value, dest, false) != 0;
    if (!init && !split)
        apic_mmio_write(mon.apic_base, reg, value);
    if (st.is_xchg) {
        if (st.reg == 4)
            guest_set(v, GV_RSP, old);
        else
            gpr[st.reg] = old;      /* a 32-bit register write zero-extends */
    }
    /* A data breakpoint on the store (core/debug.c), traps after it. */
    uint64_t la;
    if (be_access_linear(v, &la) == 0)
        vcpu_debug_data(v, la, st.width, true);
    be_skip_bytes(v, st.len);
    if (init)
        deliver_init_ipi(v, targets);
}
