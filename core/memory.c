/* Guest-physical accesses the map refused: a store to the trapped xAPIC page
 * (core/ipi.c emulates it), or the monitor's own memory. A guest access to
 * monitor memory is logged, and the one instruction then completes against a
 * zeroed sink page lent in place of the monitor's; the hole is restored after
 * it, so the guest keeps running and never sees or changes monitor data. */
#include <string.h>
#include "core/arch.h"
#include "core/log.h"
#include "core/monitor.h"
#include "core/vcpu.h"
#include "ept/mtrr.h"

bool memory_is_trapped_apic(uint64_t gpa, uint64_t len)
{
    return mon.trap_xapic && (gpa & ~0xfffull) <= mon.apic_base &&
           ((gpa + len - 1) & ~0xfffull) >= mon.apic_base;
}

static struct log_ratelimit monitor_mem_rl = { .burst = 16 };

void vcpu_memory_fault(struct vcpu *v, uint64_t gpa, unsigned access)
{
    struct percpu *pc = v->pc;
    if ((access & BE_W) && memory_is_trapped_apic(gpa, 1)) {
        ipi_xapic_store(v, gpa);
        return;
    }
    if (!monitor_owns(gpa) && gpa >= mon.bi->phys_limit) {
        /* M6: above RAM (a 64-bit BAR): mapped now, the access runs again. */
        spin_lock(&mon.map_lock);
        int rc = be_map_above(gpa);
        spin_unlock(&mon.map_lock);
        if (rc == 0)
            return;
        log_error("cpu %u: guest-physical address 0x%lx above RAM cannot be mapped "
                  "(MAXPHYADDR %u, or no reserved table page left)", pc->index, gpa,
                  mon.maxphyaddr);
    }
    if (!monitor_owns(gpa))
        vcpu_stop(v, "EPT violation outside monitor memory");
    vcpu_event(v, LAMINA_EV_MONITOR_MEM, LAMINA_ACT_DENIED, (uint32_t)(gpa >> 12), gpa, 0);

    uint32_t suppressed;
    if (log_ratelimit_pass(&monitor_mem_rl, &suppressed)) {
        const char *what = (access & BE_W) ? "write" : (access & BE_X) ? "fetch" : "read";
        log_warn("cpu %u: guest %s of monitor memory at gpa 0x%lx (rip 0x%lx) denied%s",
                 pc->index, what, gpa, guest_get(v, GV_RIP),
                 suppressed ? " (more suppressed)" : "");
    }
    if (pc->nredirect == MAX_REDIRECTS)
        vcpu_stop(v, "too many monitor pages touched by one instruction");
    uint64_t page = gpa & ~0xfffull;
    if (be_map_page(page, (uint64_t)(uintptr_t)mon.sink_page, BE_R | BE_W | BE_X, MT_WB) != 0)
        vcpu_stop(v, "cannot lend the sink page in place of monitor memory");
    pc->redirect_gpa[pc->nredirect++] = page;
    be_tlb_flush(v);
    be_step_one(v);
}

/* The instruction is done: the monitor pages lent to it are holes again. */
void vcpu_step_done(struct vcpu *v)
{
    struct percpu *pc = v->pc;
    for (uint32_t i = 0; i < pc->nredirect; i++)
        be_map_page(pc->redirect_gpa[i], 0, 0, 0);
    pc->nredirect = 0;
    be_tlb_flush(v);
    memset(mon.sink_page, 0, 4096);
}
