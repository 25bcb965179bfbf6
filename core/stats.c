/* Exit statistics: counts per exit kind (LAMINA_EXIT_*), kept by each CPU in
 * its own struct percpu (no sharing on the exit path), summed when reported. */
#include <stdio.h>
#include "core/log.h"
#include "core/monitor.h"
#include "core/vcpu.h"


void stats_log_exits(void)
{
    uint64_t total = 0, total_ticks = 0;
    for (unsigned kind = 0; kind < LAMINA_EXIT_KINDS; kind++) {
        char per_cpu[160];
        size_t n = 0;
        uint64_t sum = 0, ticks = 0;
        for (uint32_t c = 0; c < mon.bi->ncpus; c++) {
            uint64_t v = mon.cpus[c].exits[kind];
            sum += v;
            ticks += mon.cpus[c].ticks[kind];
            if (n < sizeof(per_cpu))
                n += sniprintf(per_cpu + n, sizeof(per_cpu) - n, "%scpu %u: %lu",
                               c ? ", " : "", c, v);
        }
        if (!sum)
            continue;
        total += sum;
        total_ticks += ticks;
        /* Mean ticks per exit: the monitor's own path length for the kind
         * (from the handler's entry to its end, not the VM exit/entry itself). */
        const char *name = lamina_exit_kind_name(kind);
        char unnamed[16];
        if (!name) {
            sniprintf(unnamed, sizeof(unnamed), "kind-%u", kind);
            name = unnamed;
        }
        log_info("exits %s: %lu (%s), %lu ticks, %lu per exit", name, sum, per_cpu, ticks,
                 ticks / sum);
    }
    log_info("exits total: %lu on %u cpus, %lu ticks in the handlers", total, mon.bi->ncpus,
             total_ticks);
}
