/* The security policy: which I/O ports and MSRs the monitor traps, and what it
 * does with each access. Written by the lamina.conf parser (efi/config.c), read
 * by the monitor (core/io.c, core/msr.c). Pure C, no libc: linked into the
 * loader, the monitor and the host unit tests alike.
 *
 * lamina.conf lines (see efi/config.h for the syntax):
 *   io   <action> <first>[-<last>] [read|write|rw]
 *   msr  <action> <first>[-<last>] [read|write|rw]
 * action: log (allowed, recorded), deny (refused, recorded), lock (msr only:
 * the first write on each CPU passes, a later write of another value is
 * refused). Direction defaults to rw (lock: write, the only one it takes).
 *
 * Most specific wins: of the rules covering an access (same space, index in
 * range, direction overlapping), the one with the narrowest range decides; at
 * equal width a one-direction rule beats an rw rule. Two rules that would tie
 * with different actions are refused at load (contradictory).
 */
#ifndef LAMINA_POLICY_H
#define LAMINA_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#define POLICY_MAX_RULES   64
#define POLICY_MAX_LOCKS   32      /* MSRs under lock rules, all rules together */

enum policy_space { POLICY_IO = 0, POLICY_MSR = 1 };

/* Ordered by severity: a multi-byte port access takes the most severe action
 * of the ports it touches. */
enum policy_action {
    POLICY_ALLOW = 0,   /* no rule: not trapped for policy, not recorded */
    POLICY_LOG   = 1,
    POLICY_LOCK  = 2,
    POLICY_DENY  = 3,
};

#define POLICY_READ   1u
#define POLICY_WRITE  2u
#define POLICY_RW     3u

struct policy_rule {
    uint32_t first, last;       /* inclusive; ports <= 0xffff */
    uint8_t space;              /* enum policy_space */
    uint8_t action;             /* enum policy_action */
    uint8_t dir;                /* POLICY_READ | POLICY_WRITE */
    uint8_t pad;
    uint32_t line;              /* lamina.conf line, for messages */
};

/* hypercall-user: no; yes (READ_LOG records without RIP, CR3 and MSR values
 * for ring 3: no kernel pointers, KASLR stays); full (everything). */
#define POLICY_HCUSER_NO   0
#define POLICY_HCUSER_YES  1
#define POLICY_HCUSER_FULL 2

struct lamina_policy {
    uint32_t nrules;
    uint32_t nlocks;
    uint8_t stealth;            /* hide the hypervisor bit and the 0x40000000 leaves */
    uint8_t serial_exclusive;   /* the log port is the monitor's alone */
    uint8_t hypercall_user;     /* ring 3 may use the read-only hypercalls: POLICY_HCUSER_* */
    uint8_t event_level;        /* log level of event lines (core/log.h), 0xff: none */
    uint32_t pad;
    struct policy_rule rule[POLICY_MAX_RULES];
    uint32_t lock_msr[POLICY_MAX_LOCKS];    /* every MSR under a lock rule, in rule order */
};

#define POLICY_EVENTS_NONE 0xff

/* The rule that decides an access to `index` in direction `dir` (POLICY_READ or
 * POLICY_WRITE), or NULL when no rule covers it (allowed, not recorded). */
const struct policy_rule *policy_lookup(const struct lamina_policy *p, enum policy_space space,
                                        uint32_t index, unsigned dir);

/* A port access of `size` bytes (1, 2, 4) touches ports port..port+size-1 (the
 * last ones wrap at 0xffff as the processor's do not: they are clamped). The
 * most severe rule among them decides; NULL when none covers any of them. */
const struct policy_rule *policy_lookup_io(const struct lamina_policy *p, uint16_t port,
                                           unsigned size, unsigned dir);

/* MSRs the VMX MSR bitmap covers (SDM 3C 25.6.9): 0-0x1fff and
 * 0xc0000000-0xc0001fff. Rules outside them are refused at load. */
bool policy_msr_coverable(uint32_t msr);

/* MSRs the guest can change without RDMSR/WRMSR, so without an exit the MSR
 * bitmap could ask for: FS/GS base (WRFSBASE, WRGSBASE), GS and KERNEL_GS base
 * (SWAPGS), and the MSRs of the supervisor state components XRSTORS loads
 * from memory (SDM 1 13.2, table "Supervisor State Components"; SDM 3A
 * 13.11 XRSTORS). A deny or lock rule on one would promise more than the
 * monitor enforces: the loader refuses it (efi/config.c). The first such MSR
 * in [first, last] and why, or NULL. */
const char *policy_msr_bypassed(uint32_t first, uint32_t last, uint32_t *msr);

/* Index of `msr` in p->lock_msr, or -1. */
int policy_lock_slot(const struct lamina_policy *p, uint32_t msr);

#endif
