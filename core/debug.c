/* Debug exceptions around what the monitor does in the guest's place (M6
 * item 4). Natively the processor raises them at instruction boundaries; an
 * instruction the monitor emulates or refuses never ran there, so the
 * monitor owes the guest what the processor would have done:
 *   - a fault it injects pushes RF = 1, as every fault-class exception does;
 *   - an instruction it completes clears RF, and is followed by the
 *     single-step trap when TF was set, and by the trap of every DR0-DR3
 *     breakpoint its emulated accesses hit.
 * The core decides which DR6 bits are due; the backend delivers them
 * (be_pending_debug). Nothing here allocates or touches UEFI. */
#include "core/arch.h"
#include "core/vcpu.h"

/* SDM 3A table 7-1 (exception classes): the faults among the exceptions the
 * monitor may inject. #DB (1) is a trap or a fault depending on its cause
 * (the monitor injects only its traps), #BP (3) and #OF (4) are traps, NMI
 * (2) is an interrupt, #DF (8) and #MC (18) are aborts. */
#define FAULT_VECTORS ((1u << 0) | (1u << 5) | (1u << 6) | (1u << 7) | (1u << 9) | \
                       (1u << 10) | (1u << 11) | (1u << 12) | (1u << 13) | (1u << 14) | \
                       (1u << 16) | (1u << 17) | (1u << 19) | (1u << 20) | (1u << 21))

bool debug_is_fault(unsigned vector)
{
    return vector < 32 && (FAULT_VECTORS >> vector) & 1;
}

/* SDM 3A 18.3.1.1: "for any fault-class exception except a debug exception
 * generated in response to an instruction breakpoint, the value pushed for
 * RF is 1". Event injection at VM entry pushes the guest RFLAGS as they are
 * (VM entry does not set RF by itself), so RF goes into the guest RFLAGS
 * first; delivery then clears it for the handler, as natively. */
void vcpu_inject_exception(struct vcpu *v, unsigned vector, bool has_error, uint32_t error)
{
    if (debug_is_fault(vector)) {
        uint64_t rflags = guest_get(v, GV_RFLAGS);
        if (!(rflags & RFLAGS_RF))
            guest_set(v, GV_RFLAGS, rflags | RFLAGS_RF);
    }
    be_inject_exception(v, vector, has_error, error);
}

#define DR6_BS (1u << 14)

/* The single-step trap: TF set when the instruction began (emulated
 * instructions never change TF), unless IA32_DEBUGCTL.BTF limits it to
 * branches, which no instruction the monitor completes is (SDM 3A 18.4.3). */
static uint32_t step_trap(struct vcpu *v, uint64_t rflags)
{
    if (!(rflags & RFLAGS_TF))
        return 0;
    uint64_t debugctl = be_msr_held(GMSR_DEBUGCTL) ? be_msr_field_read(v, GMSR_DEBUGCTL)
                                                   : rdmsr(MSR_IA32_DEBUGCTL);
    return (debugctl & DEBUGCTL_BTF) ? 0 : DR6_BS;
}

static void traps_due(struct vcpu *v, uint64_t rflags)
{
    uint32_t dr6 = v->dbg_hits | step_trap(v, rflags);
    v->dbg_hits = 0;
    if (dr6)
        be_pending_debug(v, dr6);
}

/* SDM 3A 18.3.1.1: the processor clears RF when an instruction completes;
 * its traps follow it (SDM 3A 18.3.1.4 single-step, 18.2.4 data and I/O
 * breakpoints, both trap-class: RIP is past the instruction). */
void vcpu_insn_done(struct vcpu *v)
{
    uint64_t rflags = guest_get(v, GV_RFLAGS);
    if (rflags & RFLAGS_RF)
        guest_set(v, GV_RFLAGS, rflags & ~RFLAGS_RF);
    traps_due(v, rflags);
}

void vcpu_iteration_done(struct vcpu *v)
{
    traps_due(v, guest_get(v, GV_RFLAGS));
}

/* ------------------------------------------- DR0-DR3 on emulated accesses
 * SDM 3A 18.2.4 (DR7: R/Wn 00 execute, 01 write, 10 I/O with CR4.DE, 11
 * read or write; LENn 00 1 byte, 01 2, 11 4, 10 8) and 18.2.5 (an access
 * hits a breakpoint when it touches any byte of the breakpoint's aligned
 * range). Data and I/O breakpoints are traps, after the access's instruction
 * (18.3.1.2, 18.3.1.3). When an enabled breakpoint hits, DR6 gets the B bit
 * of every breakpoint the access matches, enabled or not ("may be set" in
 * 18.2.3; native Bochs sets them all). */
#define DR7_ENABLES 0xffu
#define BP_WRITE 1u
#define BP_IO    2u
#define BP_RW    3u

static void breakpoints_hit(struct vcpu *v, uint64_t addr, unsigned size, unsigned kind_a,
                            unsigned kind_b)
{
    static const uint64_t len_mask[4] = { 0, 1, 7, 3 };
    uint64_t dr7 = guest_get(v, GV_DR7);
    if (!(dr7 & DR7_ENABLES))
        return;
    uint8_t bits = 0;
    bool enabled = false;
    for (unsigned n = 0; n < 4; n++) {
        unsigned rw = (dr7 >> (16 + 4 * n)) & 3, len = (dr7 >> (18 + 4 * n)) & 3;
        if (rw != kind_a && rw != kind_b)
            continue;
        uint64_t start = read_dr(n) & ~len_mask[len], end = start + len_mask[len];
        if (addr > end || addr + size - 1 < start)
            continue;
        bits |= (uint8_t)(1u << n);
        if ((dr7 >> (2 * n)) & 3)
            enabled = true;
    }
    if (enabled)
        v->dbg_hits |= bits;
}

void vcpu_debug_io(struct vcpu *v, uint16_t port, unsigned size)
{
    if (guest_get(v, GV_DR7) & DR7_ENABLES && guest_get(v, GV_CR4) & CR4_DE)
        breakpoints_hit(v, port, size, BP_IO, BP_IO);
}

/* A read matches R/W 11 only; a write matches 01 and 11. */
void vcpu_debug_data(struct vcpu *v, uint64_t la, unsigned size, bool write)
{
    breakpoints_hit(v, la, size, BP_RW, write ? BP_WRITE : BP_RW);
}

bool vcpu_debug_armed(struct vcpu *v)
{
    return guest_get(v, GV_DR7) & DR7_ENABLES;
}
