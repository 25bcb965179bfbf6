/* Names of the basic VM-exit reasons (SDM 3C appendix C), as the monitor's
 * exit summary and lamina-ctl print them. Public like core/lamina_hypercall.h
 * (struct lamina_stats is indexed by these reasons): needs only <stddef.h>. */
#ifndef LAMINA_EXIT_REASONS_H
#define LAMINA_EXIT_REASONS_H

#include <stddef.h>

/* The name of basic exit reason r, or NULL for a reason without one. */
static inline const char *lamina_exit_reason_name(unsigned r)
{
    static const char *const names[] = {
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
    return r < sizeof(names) / sizeof(names[0]) ? names[r] : NULL;
}

#endif
