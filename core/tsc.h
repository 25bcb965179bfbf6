/* The guest's time-stamp counter, kept apart from the processor's.
 *
 * The monitor timestamps its event log with the processor's TSC, so a guest
 * that wrote IA32_TIME_STAMP_COUNTER or IA32_TSC_ADJUST could reorder the
 * monitor's record. Writes of both MSRs exit instead; the monitor folds them
 * into the VMCS TSC offset (the guest's RDTSC, RDTSCP and RDMSR of the TSC
 * return the processor's TSC plus the offset, SDM 3C 25.6.5) and keeps the
 * guest's IA32_TSC_ADJUST, which moves with every TSC write as on hardware
 * (SDM 3B 18.17.3). The processor's TSC is never written. Pure code. */
#ifndef LAMINA_TSC_H
#define LAMINA_TSC_H

#include <stdint.h>

#define MSR_IA32_TSC         0x10
#define MSR_IA32_TSC_ADJUST  0x3b
#define MSR_IA32_TSC_DEADLINE 0x6e0

struct tsc_virt {
    uint64_t offset;    /* guest TSC = processor TSC + offset (mod 2^64) */
    uint64_t adjust;    /* the guest's IA32_TSC_ADJUST */
};

/* WRMSR IA32_TSC = v when the processor's TSC reads `now`. */
void tsc_virt_write_tsc(struct tsc_virt *t, uint64_t v, uint64_t now);
/* WRMSR IA32_TSC_ADJUST = v: the guest's TSC moves by the difference. */
void tsc_virt_write_adjust(struct tsc_virt *t, uint64_t v);

/* IA32_TSC_DEADLINE (SDM 3A 11.5.4.1) is compared with the processor's TSC,
 * the guest's deadline with the guest's: a guest value becomes a processor
 * value and back. 0 means disarmed both ways; a guest deadline that lands on
 * processor TSC 0 becomes 1 (one tick late, but armed). */
static inline uint64_t tsc_deadline_to_host(uint64_t guest, uint64_t offset)
{
    if (guest == 0)
        return 0;
    uint64_t host = guest - offset;
    return host ? host : 1;
}

static inline uint64_t tsc_deadline_to_guest(uint64_t host, uint64_t offset)
{
    return host ? host + offset : 0;
}

#endif
