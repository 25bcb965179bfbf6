/* The backend interface: what the vendor-neutral core needs from the
 * processor's virtualization extension, and what a backend calls in the core.
 *
 *      loader (efi/)  --api-->  core/  --be_*-->  backend (vmx/; later svm/)
 *                                 ^                     |
 *                                 +------ vcpu_* -------+   (one call per exit)
 *
 * The core decides what every guest action means (CPUID, MSRs, port I/O,
 * hypercalls, monitor memory, INIT IPIs, the shutdown ports, the event log,
 * the statistics); a backend only translates: it reads the exit from its
 * control structure, calls the core's vcpu_* handler for it, and applies the
 * result. Exactly one backend is linked into a monitor image (the functions
 * below are plain calls, no indirection on the exit path); the unit tests link
 * the VT-x backend against a fake control structure (tests/unit/fake_vmcs.c).
 *
 * Nothing under core/ includes a backend header: `make gates` checks it.
 *
 * What an AMD-V backend would still need from the core, noted for that
 * milestone: SVM has no SIPI exit and no wait-for-SIPI state, so starting a
 * CPU at a SIPI would become a core decision with a backend call to start it;
 * its instructions (VMRUN, VMLOAD, ...) would add LAMINA_INSN_* constants (a
 * minor ABI version). */
#ifndef LAMINA_BACKEND_H
#define LAMINA_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include "core/guest_msr.h"
#include "core/lamina_hypercall.h"
#include "core/percpu.h"
#include "iommu/iommu.h"

/* ------------------------------------------------------------- the guest view
 * Fields of the guest state the core reads, each fetched from the control
 * structure at most once per exit (struct vcpu caches them) and only if used.
 * The backend keeps the cache true: a write of a field the view holds goes
 * through guest_set, or drops the cached value (vmx/: vmx_guest_write); the
 * unit tests compare the cache with the control structure after every exit. */
enum gv_field {
    GV_RIP, GV_RSP, GV_RFLAGS,
    GV_CR0,         /* as the guest sees it (host-owned bits from the read shadow) */
    GV_CR3,
    GV_CR4,         /* as the guest sees it (CR4.VMXE reads 0) */
    GV_EFER,
    GV_CPL,         /* current privilege level, 0-3 */
    GV_CODE_SIZE,   /* 16, 32 or 64: CS.D or 64-bit mode (IA-32e mode and CS.L) */
    GV_DR7,         /* the guest's DR7 (its breakpoints; core/debug.c) */
    GV_COUNT
};

/* A segment in the form of the descriptor's attribute bits: type 3:0, S 4,
 * DPL 6:5, P 7, AVL 12, L 13, D/B 14, G 15, and bit 16 "unusable" (a null
 * selector loaded in protected mode). limit: in bytes, granularity applied. */
struct guest_seg { uint64_t base; uint32_t limit; uint32_t ar; uint16_t sel; };
enum guest_sreg { SREG_ES, SREG_CS, SREG_SS, SREG_DS, SREG_FS, SREG_GS, SREG_COUNT };

/* The exit being handled: one per exit, on the handling CPU's stack. */
struct vcpu {
    struct percpu *pc;
    struct guest_regs *r;       /* general-purpose registers (RSP: GV_RSP) */
    uint32_t gv_valid;          /* bit f: gv[f] holds the value */
    bool injected;              /* an event is set up for the next entry */
    uint8_t dbg_hits;           /* DR6 B0-B3 of breakpoints the emulated accesses hit */
    uint8_t kind;               /* LAMINA_EXIT_*: what the exit is counted as */
    uint64_t gv[GV_COUNT];
};

/* One field, or several (bit f of mask: field f), fetched into v->gv and
 * marked valid (guest_get and guest_load below call these). */
uint64_t be_guest_get(struct vcpu *v, enum gv_field f);
void be_guest_load(struct vcpu *v, uint32_t mask);
/* Only GV_RIP, GV_RSP and GV_RFLAGS are written this way. */
void be_guest_set(struct vcpu *v, enum gv_field f, uint64_t value);
void be_guest_seg(struct vcpu *v, enum guest_sreg s, struct guest_seg *out);
/* The four PDPTEs of PAE paging as the processor holds them (SDM 3A 5.4.1). */
void be_guest_pdptes(struct vcpu *v, uint64_t pdpte[4]);

#define GV(f) (1u << (f))

/* Make sure the fields in mask are in v->gv: one backend call for all of them. */
static inline void guest_load(struct vcpu *v, uint32_t mask)
{
    uint32_t missing = mask & ~v->gv_valid;
    if (missing)
        be_guest_load(v, missing);
}

static inline uint64_t guest_get(struct vcpu *v, enum gv_field f)
{
    return (v->gv_valid & GV(f)) ? v->gv[f] : be_guest_get(v, f);
}

static inline void guest_set(struct vcpu *v, enum gv_field f, uint64_t value)
{
    be_guest_set(v, f, value);
    v->gv[f] = value;
    v->gv_valid |= 1u << f;
}

/* ------------------------------------------------------ operations on the guest
 * RIP past the instruction that caused the exit (its length as the processor
 * reported it), or past `len` bytes of an instruction the core decoded itself.
 * Either ends blocking by STI and MOV SS, as completing an instruction does. */
void be_skip_instruction(struct vcpu *v);
void be_skip_bytes(struct vcpu *v, unsigned len);
/* A hardware exception delivered at the next entry (error code if has_error).
 * The core injects through vcpu_inject_exception (core/debug.c). */
void be_inject_exception(struct vcpu *v, unsigned vector, bool has_error, uint32_t error);
/* Debug traps due after the instruction the monitor just completed (DR6
 * bits: B0-B3 of enabled breakpoints hit, BS), delivered by the processor
 * at the next entry as it would have delivered them natively: DR6 updated,
 * ahead of any NMI. Nothing else is injected at that entry. */
void be_pending_debug(struct vcpu *v, uint32_t dr6);
/* The guest values of the MSRs the control structure holds (core/guest_msr.h):
 * be_msr_held says which; the others are in the processor while the monitor
 * runs. The write is the core's checked value; -1 if the processor refuses it
 * (IA32_DEBUGCTL bits are model specific: the backend asks the processor). */
bool be_msr_held(enum guest_msr kind);
uint64_t be_msr_field_read(struct vcpu *v, enum guest_msr kind);
int be_msr_field_write(struct vcpu *v, enum guest_msr kind, uint64_t value);
/* The extension's own MSRs (VMX: IA32_FEATURE_CONTROL's VMX bits and the
 * IA32_VMX_* capability MSRs), answered as on a processor without it:
 * BE_MSR_NOT_MINE for any other MSR, else BE_MSR_DONE (*value read) or BE_MSR_GP. */
enum be_msr_result { BE_MSR_NOT_MINE, BE_MSR_DONE, BE_MSR_GP };
enum be_msr_result be_own_msr_read(uint32_t msr, uint64_t *value);
enum be_msr_result be_own_msr_write(uint32_t msr, uint64_t value);
/* MSRs the processor switches at exit and entry (the guest's value saved at
 * exit, the monitor's loaded; core/spec.h): where the guest's value is kept
 * while the monitor runs, NULL for any other MSR; and the monitor's value. */
uint64_t *be_guest_msr_slot(struct vcpu *v, uint32_t msr);
uint64_t be_host_msr_value(struct vcpu *v, uint32_t msr);
/* guest TSC = processor TSC + offset (RDTSC, RDTSCP, RDMSR of the TSC). */
void be_set_tsc_offset(struct vcpu *v, uint64_t offset);
/* Address size (16, 32, 64) and source segment of the INS/OUTS that exited,
 * where the processor reports them; -1 where it does not (the core decodes). */
int be_string_io_info(struct vcpu *v, unsigned *addr_size, unsigned *seg);
/* The linear address of the access that made the map refuse (vcpu_memory_fault),
 * where the processor reports it: 0, or -1. */
int be_access_linear(struct vcpu *v, uint64_t *la);
/* Length of the instruction that exited, as the processor reported it (0: unknown). */
unsigned be_insn_len(struct vcpu *v);
/* Put this CPU into the architectural INIT state, waiting for a SIPI (SDM 3A
 * table "Processor state following power-up, reset, or INIT"): nothing set up
 * before it is delivered. */
void be_enter_init_state(struct vcpu *v);
/* Let exactly one guest instruction run, then call vcpu_step_done(). */
void be_step_one(struct vcpu *v);
/* Everything about the guest a developer needs when it is stopped. */
void be_dump_guest(struct vcpu *v);
/* Leave the extension on this CPU and go on natively after the instruction
 * that exited (the loader's rollback). */
void be_devirtualize(struct vcpu *v) __attribute__((noreturn));

/* ------------------------------------------------------- guest-physical memory */
#define BE_R 1u
#define BE_W 2u
#define BE_X 4u
/* Map the 4 KiB guest-physical page `gpa` (one the monitor hid, or the xAPIC
 * page) onto `hpa` with these permissions and memory type (ept/mtrr.h MT_*);
 * perm 0 makes it a hole again. 0, or -1 if gpa is not a page the backend
 * mapped with 4 KiB. Takes effect on this CPU at be_tlb_flush(). */
int be_map_page(uint64_t gpa, uint64_t hpa, unsigned perm, uint8_t type);
/* M6: map the guest-physical address gpa, not mapped yet and not the
 * monitor's, identity and typed by the MTRRs, up to MAXPHYADDR: 0, or -1 if
 * it cannot (out of reserved table pages, or at/above MAXPHYADDR). Called
 * under mon.map_lock; the access runs again without a flush. */
int be_map_above(uint64_t gpa);
/* Drop this CPU's cached guest-physical translations; or every CPU's (this
 * one at once, the others before they next run the guest). */
void be_tlb_flush(struct vcpu *v);
void be_tlb_flush_all(void);
/* The MTRRs (mon.mtrr) changed: retype the guest-physical map, then
 * be_tlb_flush_all(). */
struct be_retype_stats {
    uint64_t changed;       /* leaves whose memory type changed */
    uint64_t split;         /* large leaves split to keep one type each */
    uint64_t fallback_uc;   /* large leaves made UC for want of table pages */
};
void be_memory_types_changed(struct be_retype_stats *st);
/* The map's name in messages ("ept"). */
extern const char be_map_name[];
/* Drop this CPU's cached linear translations of the guest (after a CR write
 * the core emulated). */
void be_guest_tlb_flush(struct vcpu *v);

/* ----------------------------------------------------------------- intercepts
 * Make guest accesses to these ports, or these MSRs in these directions
 * (POLICY_READ | POLICY_WRITE), exit (trap) or run unseen again (release).
 * The bitmaps are shared by every CPU. */
void be_intercept_io(uint16_t port, unsigned count, bool trap);
void be_intercept_msr(uint32_t msr, unsigned dir, bool trap);

/* ----------------------------------------------------------- other CPUs */
/* Make the CPU exit soon (an NMI); its exit calls vcpu_nmi(). */
void be_kick_cpu(struct percpu *target);
/* An NMI hit VMX root on this CPU (pc->nmi_pending is set): make sure the
 * guest gets it promptly, even if it halts right after the next entry. May
 * run at any point of an exit handler (it is called from the NMI handler). */
void be_nmi_in_root(struct percpu *pc);

/* --------------------------------------------- hand-off (firmware context)
 * be_probe: the BSP's capabilities (report_error and -1 if it cannot run the
 * monitor). be_plan_pages: pages of the data region the backend needs, given
 * the core's own count. be_setup: take them from *cursor (advanced) up to end.
 * be_cpu_check: may this CPU run the monitor (changes nothing). be_cpu_launch:
 * enter the extension; the guest continues at guest_rip/guest_rsp (returns
 * natively, -1, only on failure); right before the first guest instruction it
 * calls monitor_cpu_entering(), and monitor_cpu_left() if entry then failed.
 * A failing step records its reason in the report (vmx/: vmx_cpu_error). */
int be_probe(void);
uint64_t be_plan_pages(uint64_t core_pages);
int be_setup(uint64_t *cursor, uint64_t end);
int be_cpu_check(uint32_t cpu);     /* cpu < ncpus: the core checked it */
int be_cpu_launch(uint32_t cpu, uint64_t guest_rip, uint64_t guest_rsp);   /* the same */
/* For the hand-off summary: the guest-physical map's pages by size. */
struct be_map_stats { const char *name; uint64_t pages_1g, pages_2m, pages_4k, tables; };
void be_map_stats(struct be_map_stats *out);

/* ============================================== the core, called by a backend
 * One handler per vendor-neutral event. Each leaves the guest ready to resume
 * (RIP advanced, or an exception injected) or stops this CPU. */
/* Around every exit: counts it under `kind` (LAMINA_EXIT_*; a handler that
 * finds out more may recount it with vcpu_set_kind), then adds the TSC ticks
 * spent since t0 (the handler's own path length). */
static inline void vcpu_begin(struct vcpu *v, struct percpu *pc, struct guest_regs *r,
                              unsigned kind)
{
    v->pc = pc;
    v->r = r;
    v->gv_valid = 0;
    v->injected = false;
    v->dbg_hits = 0;
    v->kind = (uint8_t)kind;
    pc->exits[kind]++;
    /* M8 hook: blocked DMAs into the event log, before a hypercall reads it. */
    iommu_exit(pc->index, kind == LAMINA_EXIT_HYPERCALL);
}

static inline void vcpu_set_kind(struct vcpu *v, unsigned kind)
{
    v->pc->exits[v->kind]--;
    v->pc->exits[kind]++;
    v->kind = (uint8_t)kind;
}

static inline void vcpu_end(struct vcpu *v, uint64_t ticks)
{
    v->pc->ticks[v->kind] += ticks;
}
void vcpu_cpuid(struct vcpu *v);
void vcpu_rdmsr(struct vcpu *v);
void vcpu_wrmsr(struct vcpu *v);
void vcpu_xsetbv(struct vcpu *v);
void vcpu_invd(struct vcpu *v);
void vcpu_vmcall(struct vcpu *v);
void vcpu_virt_insn(struct vcpu *v, unsigned insn);            /* LAMINA_INSN_* */
void vcpu_io(struct vcpu *v, uint16_t port, unsigned size, bool in);
void vcpu_string_io(struct vcpu *v, uint16_t port, unsigned size, bool in, bool rep);
/* A guest-physical access the map refused (BE_R/W/X: what was tried). */
void vcpu_memory_fault(struct vcpu *v, uint64_t gpa, unsigned access);
void vcpu_step_done(struct vcpu *v);
/* be_skip_instruction/be_skip_bytes moved RIP past an instruction the monitor
 * completed for the guest: what the processor does at the end of an
 * instruction (RF cleared, single-step and breakpoint traps; core/debug.c). */
void vcpu_insn_done(struct vcpu *v);
/* An NMI reached this CPU in the guest: an INIT kick (handled here) or the
 * guest's own, which is then pending (pc->nmi_pending) for the backend. */
void vcpu_nmi(struct vcpu *v);
/* Before the next entry: an INIT kick that arrived in VMX root. True if the
 * CPU entered the INIT state. */
bool vcpu_pending_init(struct vcpu *v);
void vcpu_init_signal(struct vcpu *v);         /* a real INIT arrived */
void vcpu_sipi_done(struct vcpu *v);           /* the backend started the CPU at a SIPI */
void vcpu_triple_fault(struct vcpu *v);
void vcpu_stop(struct vcpu *v, const char *why) __attribute__((noreturn));
/* Record an event (core/evlog.h) at the guest's RIP and CR3. */
void vcpu_event(struct vcpu *v, uint8_t kind, uint8_t action, uint32_t index, uint64_t value,
                uint8_t width);

#endif
