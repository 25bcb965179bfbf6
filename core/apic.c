#include "core/apic.h"

int apic_init_targets(uint32_t icr_low, uint32_t dest, bool x2apic, uint32_t self,
                      const uint32_t *apic_ids, uint32_t ncpus, uint64_t *targets)
{
    *targets = 0;
    if (ICR_MODE(icr_low) != ICR_MODE_INIT || (icr_low & ICR_LOGICAL))
        return -1;
    if (!(icr_low & ICR_LEVEL_ASSERT))
        return 0;       /* INIT level de-assert: no effect on current processors */
    return apic_ipi_targets(icr_low, dest, x2apic, self, apic_ids, ncpus, targets);
}

bool apic_sipi_needs_split(uint32_t icr_low, uint32_t dest, bool x2apic)
{
    return ICR_MODE(icr_low) == ICR_MODE_STARTUP && !(icr_low & ICR_LOGICAL) &&
           (ICR_SHORTHAND(icr_low) != 0 || dest == (x2apic ? 0xffffffffu : 0xffu));
}

int apic_ipi_targets(uint32_t icr_low, uint32_t dest, bool x2apic, uint32_t self,
                     const uint32_t *apic_ids, uint32_t ncpus, uint64_t *targets)
{
    *targets = 0;
    if (icr_low & ICR_LOGICAL)
        return -1;
    uint32_t broadcast = x2apic ? 0xffffffffu : 0xffu;
    unsigned shorthand = ICR_SHORTHAND(icr_low);
    for (uint32_t i = 0; i < ncpus && i < 64; i++) {
        bool hit = shorthand == ICR_DEST_ALL || (shorthand == ICR_DEST_ALL_BUT_SELF && i != self) ||
                   (shorthand == ICR_DEST_SELF && i == self) ||
                   (shorthand == 0 && (apic_ids[i] == dest || dest == broadcast));
        if (hit)
            *targets |= 1ull << i;
    }
    return 0;
}

