/* M6: the guest-physical space above the EPT built at hand-off, mapped on
 * first touch (ept_map_above) up to MAXPHYADDR, with table pages from the
 * EPT reserve that MTRR-driven splits also use. */
#include "core/monitor.h"
#include "vmx/vmx.h"

int be_map_above(uint64_t gpa)
{
    unsigned bits = mon.maxphyaddr < 48 ? mon.maxphyaddr : 48;   /* 4-level EPT */
    struct ept_params p = {
        .mtrr = &mon.mtrr, .limit = 1ull << bits,
        .hidden = mon.hidden, .nhidden = mon.nhidden, .allow_1g = vmx.ept_1g,
    };
    return ept_map_above(vmx.ept_root, gpa, &p, &vmx.ept_reserve) == 0 ? 0 : -1;
}
