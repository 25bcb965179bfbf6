/* Helpers the core's exit handlers share (core/vcpu.c, msr.c, io.c, ipi.c,
 * memory.c). The handlers themselves are declared in core/backend.h. */
#ifndef LAMINA_VCPU_H
#define LAMINA_VCPU_H

#include <stdbool.h>
#include <stdint.h>
#include "core/arch.h"
#include "core/backend.h"
#include "core/gwalk.h"


/* core/debug.c: an exception for the guest, as the processor would raise it
 * (a fault pushes RF = 1). The core injects through this, never through
 * be_inject_exception directly. */
void vcpu_inject_exception(struct vcpu *v, unsigned vector, bool has_error, uint32_t error);
bool debug_is_fault(unsigned vector);
/* core/debug.c: the guest's DR0-DR3 breakpoints an emulated access hits,
 * noted in v->dbg_hits for the trap after the instruction (or iteration):
 * a port access of size bytes (I/O breakpoints, CR4.DE), a data access at a
 * linear address. vcpu_debug_armed: any breakpoint enabled in DR7, so that
 * a REP string instruction stops at the element that hits. */
void vcpu_debug_io(struct vcpu *v, uint16_t port, unsigned size);
void vcpu_debug_data(struct vcpu *v, uint64_t la, unsigned size, bool write);
bool vcpu_debug_armed(struct vcpu *v);
/* Some iterations of a REP string instruction done, RIP still on it: the
 * traps due after them (single-step, breakpoints), as vcpu_insn_done. */
void vcpu_iteration_done(struct vcpu *v);

static inline void vcpu_inject_ud(struct vcpu *v) { vcpu_inject_exception(v, VECTOR_UD, false, 0); }
static inline void vcpu_inject_gp(struct vcpu *v) { vcpu_inject_exception(v, VECTOR_GP, true, 0); }

/* The guest's paging as the control structure holds it, for gwalk (core/gwalk.h);
 * pdpte: room for the four PAE PDPTEs, which c may point at. */
void vcpu_walk_ctx(struct vcpu *v, struct gwalk_ctx *c, uint64_t pdpte[4]);

/* Guest-physical memory as the monitor sees it (identity-mapped), for gwalk's
 * read_phys: the monitor's own pages and anything beyond the map read as -1. */
int vcpu_read_phys(void *opaque, uint64_t gpa, void *buf, size_t len);

/* Put this CPU into the INIT state (be_enter_init_state and the core's own
 * bookkeeping). */
void vcpu_enter_init(struct vcpu *v);

/* core/ipi.c: a WRMSR of the x2APIC ICR, and a store to the trapped xAPIC page. */
void ipi_icr_msr_write(struct vcpu *v, uint64_t value);
void ipi_xapic_store(struct vcpu *v, uint64_t gpa);

/* core/memory.c: whether a guest access of len bytes at gpa touches the
 * xAPIC page the monitor traps. */
bool memory_is_trapped_apic(uint64_t gpa, uint64_t len);

/* core/io.c: one IN or OUT of 1, 2 or 4 bytes, as the policy allows. */
void io_access(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *value);

/* Setup: the intercepts the core needs (core/msr.c, core/io.c). */
void msr_intercepts_init(void);
void mtrr_virt_init(void);
/* core/sleep.c */
bool sleep_refused(uint16_t port, unsigned size, uint32_t value, unsigned *typ);
void sleep_status_in(uint16_t port, unsigned size, uint32_t *value);
void sleep_status_out(uint16_t port, unsigned size, uint32_t value);          /* the guest's MTRRs from the processor's (core/msr.c) */
void io_intercepts_init(void);
void vcpu_reset_machine(struct vcpu *v, const char *why) __attribute__((noreturn));

/* core/stats.c: exits by kind, all CPUs, on the log port. */
void stats_log_exits(void);

#endif
