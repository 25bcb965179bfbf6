/* Guest MTRR writes: the EPT memory types follow the guest's MTRRs, as the
 * processor's would without EPT (SDM 3C 29.3.7: with EPT the MTRRs do not
 * apply to guest accesses, the EPT memory type does). */
#include "core/arch.h"
#include "core/log.h"
#include "core/monitor.h"
#include "core/spinlock.h"
#include "ept/memtype.h"

static struct spinlock memtype_lock;
static struct log_ratelimit memtype_rl = { .burst = 24 };

bool memtype_is_mtrr_msr(uint32_t msr)
{
    return msr == MSR_IA32_MTRR_DEF_TYPE ||
           (msr >= MSR_IA32_MTRR_PHYSBASE(0) && msr <= MSR_IA32_MTRR_PHYSMASK(MTRR_MAX_VAR / 2 - 1)) ||
           msr == 0x250 || msr == 0x258 || msr == 0x259 || (msr >= 0x268 && msr <= 0x26f);
}

void memtype_trap_mtrrs(uint8_t *msr_bitmap)
{
    for (uint32_t m = 0; m < 0x300; m++)
        if (memtype_is_mtrr_msr(m))
            msr_bitmap[2048 + m / 8] |= 1u << (m % 8);     /* write-low, SDM 3C 25.6.9 */
}

/* Called after the guest's WRMSR reached the hardware on this CPU. The
 * hardware MTRRs are the record: re-read them and retype the EPT; each CPU
 * invalidates its EPT translations at its next exit (memtype_sync). */
void memtype_mtrr_written(uint32_t cpu, uint32_t msr, uint64_t value)
{
    struct ept_retype_stats st;
    spin_lock(&memtype_lock);
    mtrr_read(&mon.mtrr, rdmsr, mon.maxphyaddr);
    ept_retype(mon.ept_root, &mon.mtrr, &mon.ept_reserve, &st);
    __atomic_add_fetch(&mon.ept_generation, 1, __ATOMIC_SEQ_CST);
    spin_unlock(&memtype_lock);

    uint32_t suppressed;
    if (log_ratelimit_pass(&memtype_rl, &suppressed))
        log_info("mtrr: cpu %u wrote msr 0x%x = 0x%lx: ept types %lu changed, %lu split, "
                 "%lu made UC%s", cpu, msr, value, st.changed, st.split, st.fallback_uc,
                 suppressed ? " (earlier messages suppressed)" : "");
}
