#include "core/apic.h"
#include "core/arch.h"

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

#ifndef LAMINA_UNIT_TEST
bool apic_x2apic_mode(void)
{
    return rdmsr(MSR_IA32_APIC_BASE) & APIC_BASE_EXTD;
}

void apic_mmio_write(uint64_t apic_base, uint32_t reg, uint32_t value)
{
    *(volatile uint32_t *)(uintptr_t)(apic_base + reg) = value;
}

uint32_t apic_mmio_read(uint64_t apic_base, uint32_t reg)
{
    return *(volatile uint32_t *)(uintptr_t)(apic_base + reg);
}

void apic_send_nmi(uint64_t apic_base, uint32_t apic_id)
{
    apic_send_ipi(apic_base, apic_id, (ICR_MODE_NMI << 8) | ICR_LEVEL_ASSERT);
}

void apic_send_ipi(uint64_t apic_base, uint32_t apic_id, uint32_t low)
{
    if (apic_x2apic_mode()) {
        wrmsr(MSR_X2APIC_ICR, ((uint64_t)apic_id << 32) | low);
        return;
    }
    /* xAPIC: ICR high holds what the guest last wrote; put it back after. */
    uint32_t high = apic_mmio_read(apic_base, APIC_REG_ICR_HIGH);
    apic_mmio_write(apic_base, APIC_REG_ICR_HIGH, apic_id << 24);
    apic_mmio_write(apic_base, APIC_REG_ICR_LOW, low);
    for (int i = 0; i < 100000 && (apic_mmio_read(apic_base, APIC_REG_ICR_LOW) & ICR_BUSY); i++)
        cpu_relax();
    apic_mmio_write(apic_base, APIC_REG_ICR_HIGH, high);
}
#endif
