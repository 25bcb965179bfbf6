/* Exit statistics: counts per basic exit reason, kept by each CPU in its own
 * struct percpu (no sharing on the exit path), summed when reported. */
#include <stdio.h>
#include "core/io.h"
#include "core/log.h"
#include "core/monitor.h"

/* SDM 3C appendix C, basic exit reasons. */
static const char *const reason_names[EXIT_REASON_SLOTS] = {
    [0] = "exception-or-nmi", [1] = "external-interrupt", [2] = "triple-fault",
    [3] = "init", [4] = "sipi", [5] = "io-smi", [6] = "other-smi",
    [7] = "interrupt-window", [8] = "nmi-window", [9] = "task-switch", [10] = "cpuid",
    [11] = "getsec", [12] = "hlt", [13] = "invd", [14] = "invlpg", [15] = "rdpmc",
    [16] = "rdtsc", [17] = "rsm", [18] = "vmcall", [19] = "vmclear", [20] = "vmlaunch",
    [21] = "vmptrld", [22] = "vmptrst", [23] = "vmread", [24] = "vmresume", [25] = "vmwrite",
    [26] = "vmxoff", [27] = "vmxon", [28] = "cr-access", [29] = "dr-access", [30] = "io",
    [31] = "msr-read", [32] = "msr-write", [33] = "entry-fail-guest-state",
    [34] = "entry-fail-msr-load", [36] = "mwait", [37] = "monitor-trap-flag",
    [39] = "monitor", [40] = "pause", [41] = "entry-fail-machine-check",
    [43] = "tpr-below-threshold", [44] = "apic-access", [45] = "virtualized-eoi",
    [46] = "gdtr-idtr", [47] = "ldtr-tr", [48] = "ept-violation", [49] = "ept-misconfig",
    [50] = "invept", [51] = "rdtscp", [52] = "preemption-timer", [53] = "invvpid",
    [54] = "wbinvd", [55] = "xsetbv", [56] = "apic-write", [57] = "rdrand",
    [58] = "invpcid", [59] = "vmfunc", [60] = "encls", [61] = "rdseed",
    [62] = "pml-full", [63] = "xsaves", [64] = "xrstors",
};

void stats_log_exits(void)
{
    uint64_t total = 0, total_ticks = 0;
    for (unsigned reason = 0; reason < EXIT_REASON_SLOTS; reason++) {
        char per_cpu[160];
        size_t n = 0;
        uint64_t sum = 0, ticks = 0;
        for (uint32_t c = 0; c < mon.bi->ncpus; c++) {
            uint64_t v = mon.cpus[c].exits[reason];
            sum += v;
            ticks += mon.cpus[c].ticks[reason];
            if (n < sizeof(per_cpu))
                n += sniprintf(per_cpu + n, sizeof(per_cpu) - n, "%scpu %u: %lu",
                               c ? ", " : "", c, v);
        }
        if (!sum)
            continue;
        total += sum;
        total_ticks += ticks;
        /* Mean ticks per exit: the monitor's own path length for the reason
         * (from the handler's entry to its end, not the VM exit/entry itself). */
        if (reason_names[reason])
            log_info("exits %s: %lu (%s), %lu ticks, %lu per exit", reason_names[reason], sum,
                     per_cpu, ticks, ticks / sum);
        else
            log_info("exits reason-%u: %lu (%s), %lu ticks, %lu per exit", reason, sum, per_cpu,
                     ticks, ticks / sum);
    }
    log_info("exits total: %lu on %u cpus, %lu ticks in the handlers", total, mon.bi->ncpus,
             total_ticks);
}
