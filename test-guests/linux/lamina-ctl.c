/* lamina-ctl: ask Lamina about itself from a Linux guest (user space, ring 3:
 * lamina.conf needs `hypercall-user yes`).
 *
 *   lamina-ctl status            ABI version, features, CPU count
 *   lamina-ctl stats [CPU]       VM exits and TSC ticks per exit kind, per CPU and total
 *   lamina-ctl log [-f] [CURSOR] events from CURSOR (default 0); -f keeps polling
 *
 * Every output line starts with "lamina-ctl: ". Exit status: 0 done, 1 Lamina
 * refused the call (the message names the LAMINA_E_* code), 2 usage, 3 Lamina
 * is not running (the VMCALL raised #UD: SIGILL).
 *
 * Static binary: gcc -static -I<lamina> lamina-ctl.c. Uses only the public
 * ABI header. Buffers are locked and written once before each call, since
 * the monitor refuses a page the guest has not mapped (it never pages in). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "core/lamina_hypercall.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_NOT_RUNNING 3
#define LAMINA_MAX_STATS_CPUS 64   /* per-CPU columns shown */

static sigjmp_buf ud_jump;

static void on_sigill(int sig)
{
    (void)sig;
    siglongjmp(ud_jump, 1);
}

/* VMCALL with the magic; RAX status, RDI/RSI/RDX in and out. */
static int64_t lamina_call(uint64_t func, uint64_t *rdi, uint64_t *rsi, uint64_t *rdx)
{
    uint64_t rax = func;
    __asm__ volatile("vmcall"
                     : "+a"(rax), "+D"(*rdi), "+S"(*rsi), "+d"(*rdx)
                     : "b"(LAMINA_HC_MAGIC)
                     : "memory");
    return (int64_t)rax;
}

static const char *error_text(int64_t st)
{
    switch (st) {
    case LAMINA_E_NOFUNC: return "LAMINA_E_NOFUNC: this Lamina does not have that function";
    case LAMINA_E_PERM:   return "LAMINA_E_PERM: ring 3 may not call Lamina "
                                 "(set `hypercall-user yes` in lamina.conf)";
    case LAMINA_E_INVAL:  return "LAMINA_E_INVAL: bad argument (no such CPU, or cursor "
                                 "ahead of the log)";
    case LAMINA_E_FAULT:  return "LAMINA_E_FAULT: buffer is not writable guest RAM";
    case LAMINA_E_RANGE:  return "LAMINA_E_RANGE: buffer too small or too large";
    default:              return "unknown status";
    }
}

/* The hypervisor's CPUID signature (leaf 0x40000000), or "none". */
static void hv_signature(char sig[13])
{
    uint32_t a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    if (!(c & (1u << 31))) {
        strcpy(sig, "none");
        return;
    }
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x40000000), "c"(0));
    memcpy(sig, &b, 4);
    memcpy(sig + 4, &c, 4);
    memcpy(sig + 8, &d, 4);
    sig[12] = 0;
}

static int64_t call_or_exit(const char *what, uint64_t func, uint64_t *rdi, uint64_t *rsi,
                            uint64_t *rdx);

/* Lamina answers VERSION (OK, or E_PERM in ring 3 without permission); any
 * other answer is another hypervisor's (KVM returns -1 to a ring-3 VMCALL). */
static void probe(void)
{
    uint64_t ver = 0, feat = 0, ncpus = 0;
    int64_t st = call_or_exit(NULL, LAMINA_HC_VERSION, &ver, &feat, &ncpus);
    if (st == LAMINA_E_PERM || (st == LAMINA_OK && ver >> 16 == LAMINA_HC_ABI_VERSION >> 16))
        return;
    char sig[13];
    hv_signature(sig);
    if (st == LAMINA_OK)
        printf("lamina-ctl: Lamina ABI %" PRIu64 ".%" PRIu64 " is not the %u.x this program "
               "speaks\n", ver >> 16, ver & 0xffff, LAMINA_HC_ABI_VERSION >> 16);
    else
        printf("lamina-ctl: Lamina is not running (VMCALL returned %" PRId64 "; hypervisor "
               "signature '%s')\n", st, sig);
    exit(EXIT_NOT_RUNNING);
}

/* The call, with #UD turned into a clear message and exit status 3. With
 * what NULL, errors are returned instead of reported. */
static int64_t call_or_exit(const char *what, uint64_t func, uint64_t *rdi, uint64_t *rsi,
                            uint64_t *rdx)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigill;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGILL, &sa, &old);
    if (sigsetjmp(ud_jump, 1)) {
        sigaction(SIGILL, &old, NULL);
        printf("lamina-ctl: Lamina is not running (VMCALL raised #UD)\n");
        exit(EXIT_NOT_RUNNING);
    }
    int64_t st = lamina_call(func, rdi, rsi, rdx);
    sigaction(SIGILL, &old, NULL);
    if (st != LAMINA_OK && what) {
        printf("lamina-ctl: %s: error %" PRId64 " %s\n", what, st, error_text(st));
        exit(EXIT_REFUSED);
    }
    return st;
}

/* Buffers: page-aligned, locked, and written once so every page is present
 * and writable (not a shared zero page or copy-on-write) at the call. */
static void *pinned(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("lamina-ctl: mmap");
        exit(EXIT_REFUSED);
    }
    if (mlock(p, size) != 0)
        perror("lamina-ctl: mlock (continuing with the pages touched)");
    memset(p, 0, size);
    return p;
}


/* A kind this program does not know (a newer minor ABI) is shown by number. */
static void kind_name(unsigned k, char *buf, size_t size)
{
    const char *name = lamina_exit_kind_name(k);
    if (name)
        snprintf(buf, size, "%s", name);
    else
        snprintf(buf, size, "kind-%u", k);
}

static int cmd_status(void)
{
    uint64_t ver = 0, feat = 0, ncpus = 0;
    call_or_exit("status", LAMINA_HC_VERSION, &ver, &feat, &ncpus);
    static const char *const fnames[] = { "stats", "event-log", "user", "stealth",
                                          "serial-exclusive" };
    char f[128] = "";
    for (unsigned i = 0; i < sizeof(fnames) / sizeof(fnames[0]); i++)
        if (feat & (1u << i)) {
            strcat(f, f[0] ? "," : "");
            strcat(f, fnames[i]);
        }
    printf("lamina-ctl: Lamina ABI %" PRIu64 ".%" PRIu64 " features %s cpus %" PRIu64 "\n",
           ver >> 16, ver & 0xffff, f[0] ? f : "none", ncpus);
    return 0;
}

static void get_stats(struct lamina_stats *s, uint32_t cpu)
{
    uint64_t rdi = cpu, rsi = (uint64_t)(uintptr_t)s, rdx = sizeof(*s);
    call_or_exit("stats", LAMINA_HC_STATS, &rdi, &rsi, &rdx);
}

static int cmd_stats(int argc, char **argv)
{
    struct lamina_stats *all = pinned(sizeof(*all) * (LAMINA_MAX_STATS_CPUS + 1));
    get_stats(all, LAMINA_ALL_CPUS);
    uint32_t ncpus = all->ncpus < LAMINA_MAX_STATS_CPUS ? all->ncpus : LAMINA_MAX_STATS_CPUS;
    uint32_t only = LAMINA_ALL_CPUS;
    if (argc > 0) {
        char *end;
        unsigned long v = strtoul(argv[0], &end, 0);
        if (*end || end == argv[0]) {
            fprintf(stderr, "lamina-ctl: stats: bad CPU '%s'\n", argv[0]);
            return EXIT_USAGE;
        }
        only = (uint32_t)v;
        get_stats(&all[1], only);   /* Lamina checks the index */
        ncpus = 1;
    } else {
        for (uint32_t c = 0; c < ncpus; c++)
            get_stats(&all[1 + c], c);
    }
    uint64_t total = 0, ticks = 0;
    unsigned nkinds = all->nkinds < LAMINA_EXIT_KINDS ? all->nkinds : LAMINA_EXIT_KINDS;
    for (unsigned r = 0; r < nkinds; r++) {
        const struct lamina_stats *t = only == LAMINA_ALL_CPUS ? all : &all[1];
        if (!t->exits[r])
            continue;
        char name[40], per[256] = "";
        size_t n = 0;
        kind_name(r, name, sizeof(name));
        for (uint32_t c = 0; c < ncpus && only == LAMINA_ALL_CPUS && n < sizeof(per); c++)
            n += snprintf(per + n, sizeof(per) - n, " cpu%u %" PRIu64 "/%" PRIu64, c,
                          all[1 + c].exits[r], all[1 + c].ticks[r]);
        printf("lamina-ctl: exits %s %" PRIu64 " ticks %" PRIu64 "%s\n", name, t->exits[r],
               t->ticks[r], per);
        total += t->exits[r];
        ticks += t->ticks[r];
    }
    if (only == LAMINA_ALL_CPUS)
        printf("lamina-ctl: exits total %" PRIu64 " ticks %" PRIu64 " on %u cpus\n", total,
               ticks, all->ncpus);
    else
        printf("lamina-ctl: exits total %" PRIu64 " ticks %" PRIu64 " on cpu %u\n", total,
               ticks, only);
    printf("lamina-ctl: events recorded %" PRIu64 " overwritten %" PRIu64 "\n",
           all->events_recorded, all->events_overwritten);
    return 0;
}

static void print_event(const struct lamina_event *e)
{
    char what[96];
    switch (e->kind) {
    case LAMINA_EV_IO_IN: case LAMINA_EV_IO_OUT:
    case LAMINA_EV_MSR_READ: case LAMINA_EV_MSR_WRITE:
        snprintf(what, sizeof(what), "0x%x value 0x%" PRIx64 " width %u", e->index, e->value,
                 e->width);
        break;
    case LAMINA_EV_MONITOR_MEM:
        snprintf(what, sizeof(what), "gpa 0x%" PRIx64, e->value);
        break;
    case LAMINA_EV_VIRT_INSN:
        snprintf(what, sizeof(what), "%s", lamina_insn_name(e->index));
        break;
    case LAMINA_EV_DMA_FAULT:
        snprintf(what, sizeof(what), "%02x:%02x.%u %s addr 0x%" PRIx64 " reason 0x%x unit %u",
                 LAMINA_EV_DMA_SID(e->index) >> 8, (LAMINA_EV_DMA_SID(e->index) >> 3) & 31,
                 LAMINA_EV_DMA_SID(e->index) & 7, LAMINA_EV_DMA_READ(e->index) ? "read" : "write",
                 e->value, e->width, LAMINA_EV_DMA_UNIT(e->index));
        break;
    default:
        snprintf(what, sizeof(what), "index 0x%x value 0x%" PRIx64, e->index, e->value);
        break;
    }
    printf("lamina-ctl: event %" PRIu64 " cpu %u %s %s rip 0x%" PRIx64 " cr3 0x%" PRIx64
           " %s tsc %" PRIu64 "\n", e->seq, e->cpu, lamina_event_kind_name(e->kind), what, e->rip, e->cr3,
           lamina_event_action_name(e->action), e->tsc);
}

#define LOG_BATCH 64

static int cmd_log(int argc, char **argv)
{
    int follow = 0;
    uint64_t cursor = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-f")) {
            follow = 1;
            continue;
        }
        char *end;
        cursor = strtoull(argv[i], &end, 0);
        if (*end || end == argv[i]) {
            fprintf(stderr, "lamina-ctl: log: bad cursor '%s'\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    struct lamina_event *buf = pinned(sizeof(*buf) * LOG_BATCH);
    uint64_t shown = 0, lost_total = 0;
    for (;;) {
        uint64_t rdi = cursor, rsi = (uint64_t)(uintptr_t)buf, rdx = sizeof(*buf) * LOG_BATCH;
        call_or_exit("log", LAMINA_HC_READ_LOG, &rdi, &rsi, &rdx);
        if (rdx) {
            printf("lamina-ctl: %" PRIu64 " events lost (overwritten before they were read)\n",
                   rdx);
            lost_total += rdx;
        }
        for (uint64_t i = 0; i < rsi && i < LOG_BATCH; i++)
            print_event(&buf[i]);
        shown += rsi;
        cursor = rdi;
        fflush(stdout);
        if (rsi == LOG_BATCH || rdx)
            continue;           /* more may be waiting */
        if (!follow)
            break;
        usleep(200 * 1000);
    }
    printf("lamina-ctl: log: %" PRIu64 " events read, %" PRIu64 " lost, next cursor %" PRIu64
           "\n", shown, lost_total, cursor);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: lamina-ctl status | stats [CPU] | log [-f] [CURSOR]\n");
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "status") && strcmp(argv[1], "stats") && strcmp(argv[1], "log"))
        return usage();
    probe();
    if (!strcmp(argv[1], "status"))
        return cmd_status();
    if (!strcmp(argv[1], "stats"))
        return cmd_stats(argc - 2, argv + 2);
    if (!strcmp(argv[1], "log"))
        return cmd_log(argc - 2, argv + 2);
    return usage();
}
