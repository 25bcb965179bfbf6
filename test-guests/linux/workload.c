/* Workload for the Linux test guest (test-guests/linux/init): a static
 * program run by /init inside the initramfs. Compiled on the host with
 * `gcc -static -O2`; it needs nothing from the initramfs but the kernel.
 *
 *   workload cpuid                print the hypervisor signature of CPUID leaf
 *                                 0x40000000 ("LaminaLamina" under Lamina), or
 *                                 "none" when CPUID.1:ECX[31] is clear
 *   workload true                 exit 0 at once (the program fork-exec runs)
 *   workload forkexec N           fork + execve("workload true") + wait, N times
 *   workload pagefault MIB ROUNDS map MIB MiB of anonymous memory, touch every
 *                                 page, check it, unmap; ROUNDS times
 *   workload oncpu N              pin itself to CPU N, check it runs there and
 *                                 that CPUID there shows no VMX; print the
 *                                 APIC ID and the hypervisor bit it sees
 *   workload vmxon                execute VMXON in ring 3: it must raise #UD
 *                                 (SIGILL), as on a CPU without VMX; under
 *                                 Lamina it exits to the monitor, which logs
 *                                 a virt-insn event and injects the #UD
 *
 * Checks print one line "linux: PASS ..." or "linux: FAIL ..." and exit 0 on
 * PASS, 1 on FAIL; /init counts them by exit status. Usage errors exit 2.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CPUID_1_ECX_HYPERVISOR  (1u << 31)
#define HV_LEAF_BASE            0x40000000u

static char self_path[4096];

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int parse_count(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static void cpuid_leaf(uint32_t leaf, uint32_t r[4])
{
    __cpuid_count(leaf, 0, r[0], r[1], r[2], r[3]);
}

/* Bit 31 of CPUID.1:ECX is 0 on hardware (SDM 2, CPUID feature information);
 * hypervisors set it and answer leaf 0x40000000 with a 12-byte signature in
 * EBX, ECX, EDX. Without the bit, leaf 0x40000000 means nothing. */
static int cmd_cpuid(void)
{
    uint32_t r[4];
    cpuid_leaf(0, r);
    if (r[0] < 1) {
        puts("none");
        return 0;
    }
    cpuid_leaf(1, r);
    if (!(r[2] & CPUID_1_ECX_HYPERVISOR)) {
        puts("none");
        return 0;
    }
    cpuid_leaf(HV_LEAF_BASE, r);
    char sig[13];
    memcpy(sig + 0, &r[1], 4);
    memcpy(sig + 4, &r[2], 4);
    memcpy(sig + 8, &r[3], 4);
    sig[12] = '\0';
    /* Keep the line printable: a signature is ASCII, anything else shows as '?'. */
    for (int i = 0; i < 12; i++) {
        if (sig[i] == '\0')
            sig[i] = '_';
        else if ((unsigned char)sig[i] < 0x21 || (unsigned char)sig[i] > 0x7e)
            sig[i] = '?';
    }
    puts(sig);
    return 0;
}

/* Run on CPU n: sched_getcpu must say so, and CPUID there must show no VMX
 * (SDM 2, CPUID leaf 1 ECX[5]); 1000 CPUIDs there make a workload on that
 * CPU. The line gives the APIC ID and hypervisor bit seen, for the test. */
static int cmd_oncpu(long n)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((int)n, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) {
        printf("linux: FAIL oncpu %ld: sched_setaffinity: %s\n", n, strerror(errno));
        return 1;
    }
    int here = sched_getcpu();
    uint32_t r[4], vmx = 0, hv = 0;
    for (int i = 0; i < 1000; i++) {
        cpuid_leaf(1, r);
        vmx |= r[2] & (1u << 5);
        hv |= r[2] & CPUID_1_ECX_HYPERVISOR;
    }
    if (here != n || vmx) {
        printf("linux: FAIL oncpu %ld: ran on cpu %d, CPUID.1:ECX.VMX %u\n", n, here, vmx != 0);
        return 1;
    }
    printf("linux: PASS oncpu %ld apic-id %u hypervisor-bit %u\n", n, r[1] >> 24, hv != 0);
    return 0;
}

static int cmd_forkexec(long n)
{
    char *const argv[] = { self_path, (char *)"true", NULL };
    char *const envp[] = { NULL };
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            printf("linux: FAIL forkexec fork %ld of %ld: %s\n", i + 1, n, strerror(errno));
            return 1;
        }
        if (pid == 0) {
            execve(self_path, argv, envp);
            _exit(127);
        }
        int status;
        pid_t w;
        do
            w = waitpid(pid, &status, 0);
        while (w < 0 && errno == EINTR);
        if (w != pid) {
            printf("linux: FAIL forkexec waitpid %ld of %ld: %s\n", i + 1, n, strerror(errno));
            return 1;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            printf("linux: FAIL forkexec child %ld of %ld ended with status 0x%x\n",
                   i + 1, n, status);
            return 1;
        }
    }
    uint64_t ms = (now_ns() - t0) / 1000000ull;
    printf("linux: PASS forkexec %ld in %llu ms\n", n, (unsigned long long)ms);
    return 0;
}

static long minor_faults(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_minflt;
}

/* A value per page and round, so a page seen twice (two virtual pages
 * mapped to one frame) or a stale frame from the previous round shows. */
static uint64_t page_tag(uint64_t page, uint64_t round)
{
    return (page * 0x9e3779b97f4a7c15ull) ^ (round << 56) ^ 0x4c616d696e61ull;
}

static int cmd_pagefault(long mib, long rounds)
{
    long psz = sysconf(_SC_PAGESIZE);
    size_t len = (size_t)mib << 20;
    size_t pages = len / (size_t)psz;
    long faults0 = minor_faults();
    uint64_t t0 = now_ns();

    for (long r = 0; r < rounds; r++) {
        unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            printf("linux: FAIL pagefault-loop mmap %ld MiB round %ld: %s\n",
                   mib, r + 1, strerror(errno));
            return 1;
        }
        /* 4 KiB faults, not 2 MiB ones: one fault per page touched. */
        madvise(p, len, MADV_NOHUGEPAGE);
        for (size_t i = 0; i < pages; i++) {
            uint64_t *w = (uint64_t *)(p + i * (size_t)psz);
            if (w[0] != 0) {
                printf("linux: FAIL pagefault-loop round %ld page %zu not zero-filled\n",
                       r + 1, i);
                return 1;
            }
            w[0] = page_tag(i, (uint64_t)r);
            w[psz / 8 - 1] = ~page_tag(i, (uint64_t)r);
        }
        for (size_t i = 0; i < pages; i++) {
            const uint64_t *w = (const uint64_t *)(p + i * (size_t)psz);
            if (w[0] != page_tag(i, (uint64_t)r) || w[psz / 8 - 1] != ~page_tag(i, (uint64_t)r)) {
                printf("linux: FAIL pagefault-loop round %ld page %zu lost its contents\n",
                       r + 1, i);
                return 1;
            }
        }
        if (munmap(p, len) != 0) {
            printf("linux: FAIL pagefault-loop munmap round %ld: %s\n", r + 1, strerror(errno));
            return 1;
        }
    }

    uint64_t ms = (now_ns() - t0) / 1000000ull;
    long faults = minor_faults() - faults0;
    unsigned long long touched = (unsigned long long)pages * (unsigned long long)rounds;
    /* Every first touch of an anonymous page faults; a count far below
     * the pages touched means the loop did not measure what it claims. */
    if (faults0 < 0 || faults < 0 || (unsigned long long)faults < touched) {
        printf("linux: FAIL pagefault-loop %llu pages but only %ld minor faults\n", touched, faults);
        return 1;
    }
    printf("linux: PASS pagefault-loop %llu pages, %ld minor faults, %ld x %ld MiB, %llu ms\n",
           touched, faults, rounds, mib, (unsigned long long)ms);
    return 0;
}

static sigjmp_buf insn_jump;
static void on_insn_signal(int sig)
{
    siglongjmp(insn_jump, sig);
}

/* VMXON is checked for VMX non-root before CPL (SDM 3C 31.3, VMXON): in a
 * guest it always exits; natively with CR4.VMXE clear it is #UD. */
static int cmd_vmxon(void)
{
    static uint64_t region __attribute__((aligned(4096)));
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_insn_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGILL, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    int sig = sigsetjmp(insn_jump, 1);
    if (sig == 0) {
        __asm__ volatile("vmxon %0" :: "m"(region) : "memory", "cc");
        printf("linux: FAIL vmxon-ud: VMXON in ring 3 completed\n");
        return 1;
    }
    if (sig != SIGILL) {
        printf("linux: FAIL vmxon-ud: signal %d (%s), not SIGILL\n", sig, strsignal(sig));
        return 1;
    }
    printf("linux: PASS vmxon-ud SIGILL\n");
    return 0;
}

static int usage(void)
{
    fputs("usage: workload cpuid | true | forkexec N | pagefault MIB ROUNDS | oncpu N | vmxon\n",
          stderr);
    return 2;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "true") == 0 && argc == 2)
        return 0;
    /* execve wants a path; /proc/self/exe names this binary wherever it lies. */
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
    if (n <= 0) {
        snprintf(self_path, sizeof(self_path), "%s", argv[0]);
    } else {
        self_path[n] = '\0';
    }

    const char *cmd = argv[1];
    long a, b;
    if (strcmp(cmd, "cpuid") == 0 && argc == 2)
        return cmd_cpuid();
    if (strcmp(cmd, "vmxon") == 0 && argc == 2)
        return cmd_vmxon();
    if (strcmp(cmd, "forkexec") == 0 && argc == 3 &&
        parse_count(argv[2], 1, 10000000, &a) == 0)
        return cmd_forkexec(a);
    if (strcmp(cmd, "oncpu") == 0 && argc == 3 && parse_count(argv[2], 0, 1023, &a) == 0)
        return cmd_oncpu(a);
    if (strcmp(cmd, "pagefault") == 0 && argc == 4 &&
        parse_count(argv[2], 1, 4096, &a) == 0 && parse_count(argv[3], 1, 100000, &b) == 0)
        return cmd_pagefault(a, b);
    return usage();
}
