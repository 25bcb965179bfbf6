/* The local APIC as the monitor uses it: guest INIT IPIs are intercepted and
 * emulated (see core/ipi.c), so the monitor decodes ICR writes and kicks
 * target CPUs with NMIs. Works with the APIC in xAPIC (MMIO) or x2APIC (MSR)
 * mode, whichever the guest chose. */
#ifndef LAMINA_APIC_H
#define LAMINA_APIC_H

#include <stdbool.h>
#include <stdint.h>

#define APIC_REG_ICR_LOW   0x300
#define APIC_REG_ICR_HIGH  0x310

#define ICR_MODE(v)          (((v) >> 8) & 7)
#define ICR_MODE_NMI         4u
#define ICR_MODE_INIT        5u
#define ICR_MODE_STARTUP     6u
#define ICR_LOGICAL          (1u << 11)
#define ICR_BUSY             (1u << 12)
#define ICR_LEVEL_ASSERT     (1u << 14)
#define ICR_SHORTHAND(v)     (((v) >> 18) & 3)
#define ICR_DEST_SELF        1u
#define ICR_DEST_ALL         2u
#define ICR_DEST_ALL_BUT_SELF 3u

/* Which CPUs (bit i: CPU index i) an IPI with this ICR reaches in physical
 * destination mode (shorthands and broadcast included); -1 in logical mode. */
int apic_ipi_targets(uint32_t icr_low, uint32_t dest, bool x2apic, uint32_t self,
                     const uint32_t *apic_ids, uint32_t ncpus, uint64_t *targets);

/* The same for an INIT IPI the monitor emulates; -1 if it does not emulate
 * it (not an INIT, logical destination mode), and 0 targets for a level
 * de-assert. */
int apic_init_targets(uint32_t icr_low, uint32_t dest, bool x2apic, uint32_t self,
                      const uint32_t *apic_ids, uint32_t ncpus, uint64_t *targets);

/* A SIPI to several CPUs at once (shorthand or broadcast). Bochs 2.7 takes
 * the SIPI VM exit inside its delivery loop and abandons the remaining
 * targets, so the monitor sends such a SIPI once per target. */
bool apic_sipi_needs_split(uint32_t icr_low, uint32_t dest, bool x2apic);

/* Host side (core/apic.c): the APIC of the CPU running the monitor. */
bool apic_x2apic_mode(void);
void apic_mmio_write(uint64_t apic_base, uint32_t reg, uint32_t value);
uint32_t apic_mmio_read(uint64_t apic_base, uint32_t reg);
/* Send an IPI (ICR low bits: vector, delivery mode, level; no shorthand) to
 * the CPU with this APIC ID, in whichever mode this APIC is. */
void apic_send_ipi(uint64_t apic_base, uint32_t apic_id, uint32_t icr_low);
/* The same, -1 if the APIC refused the value (x2APIC: #GP on reserved bits). */
int apic_send_ipi_safe(uint64_t apic_base, uint32_t apic_id, uint32_t icr_low);
void apic_send_nmi(uint64_t apic_base, uint32_t apic_id);

#endif
