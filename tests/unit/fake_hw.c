/* The hardware behind core/arch.h's seam, for host unit tests: see fake.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "core/arch.h"
#include "core/monitor.h"
#include "tests/unit/fake.h"

uint8_t *fake_ram;
uint64_t fake_cr2, fake_dr6, fake_dr0_3, fake_xcr0;
uint32_t fake_pkru;
uint32_t read_pkru(void) { return fake_pkru; }
uint64_t fake_dr[4];
unsigned fake_wbinvd_calls, fake_xsetbv_calls;
jmp_buf fake_halt_jmp;
bool fake_halt_armed;
unsigned fake_halts;
struct percpu *fake_this_cpu;
struct monitor mon;

#define MSR_SLOTS 128
static struct { uint32_t msr; uint64_t value; unsigned writes; bool refuse; } msrs[MSR_SLOTS];
static unsigned nmsrs;
#define CPUID_SLOTS 32
static struct { uint32_t leaf, sub, r[4]; } cpuids[CPUID_SLOTS];
static unsigned ncpuids;
#define PORT_SLOTS 64
static struct { uint16_t port; uint32_t in, last; unsigned writes; bool has_in; } ports[PORT_SLOTS];
static unsigned nports;
static char logbuf[64 * 1024];
static size_t loglen;
static uint64_t tsc;

void fake_hw_reset(void)
{
    if (!fake_ram)
        fake_ram = aligned_alloc(4096, FAKE_RAM_SIZE);
    memset(fake_ram, 0, FAKE_RAM_SIZE);
    memset(msrs, 0, sizeof(msrs));
    memset(cpuids, 0, sizeof(cpuids));
    memset(ports, 0, sizeof(ports));
    nmsrs = ncpuids = nports = 0;
    fake_cr2 = fake_dr6 = fake_dr0_3 = fake_xcr0 = 0;
    fake_pkru = 0;
    memset(fake_dr, 0, sizeof(fake_dr));
    fake_wbinvd_calls = fake_xsetbv_calls = 0;
    fake_halts = 0;
    fake_halt_armed = false;
    fake_log_clear();
}

/* ------------------------------------------------------------------ MSRs */
static int msr_slot(uint32_t msr, bool create)
{
    for (unsigned i = 0; i < nmsrs; i++)
        if (msrs[i].msr == msr)
            return (int)i;
    if (!create)
        return -1;
    if (nmsrs == MSR_SLOTS)
        fail_msg("fake MSRs full");
    msrs[nmsrs].msr = msr;
    return (int)nmsrs++;
}

void fake_msr_set(uint32_t msr, uint64_t value) { msrs[msr_slot(msr, true)].value = value; }
bool fake_msr_present(uint32_t msr) { return msr_slot(msr, false) >= 0; }
void fake_msr_refuse_writes(uint32_t msr) { msrs[msr_slot(msr, true)].refuse = true; }

uint64_t fake_msr_get(uint32_t msr)
{
    int i = msr_slot(msr, false);
    if (i < 0)
        fail_msg("MSR 0x%x does not exist on the fake CPU", msr);
    return msrs[i].value;
}

unsigned fake_msr_writes(uint32_t msr)
{
    int i = msr_slot(msr, false);
    return i < 0 ? 0 : msrs[i].writes;
}

int rdmsr_safe(uint32_t msr, uint64_t *v)
{
    int i = msr_slot(msr, false);
    if (i < 0)
        return -1;
    *v = msrs[i].value;
    return 0;
}

int wrmsr_safe(uint32_t msr, uint64_t v)
{
    int i = msr_slot(msr, false);
    if (i < 0 || msrs[i].refuse)
        return -1;
    msrs[i].value = v;
    msrs[i].writes++;
    return 0;
}

uint64_t rdmsr(uint32_t msr) { return fake_msr_get(msr); }

void wrmsr(uint32_t msr, uint64_t v)
{
    if (wrmsr_safe(msr, v) != 0)
        fail_msg("WRMSR 0x%x = 0x%lx without a fault-safe path would have faulted", msr,
                 (unsigned long)v);
}

/* ----------------------------------------------------------------- CPUID */
void fake_cpuid_set(uint32_t leaf, uint32_t sub, uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
    for (unsigned i = 0; i < ncpuids; i++)
        if (cpuids[i].leaf == leaf && cpuids[i].sub == sub) {
            cpuids[i].r[0] = a, cpuids[i].r[1] = b, cpuids[i].r[2] = c, cpuids[i].r[3] = d;
            return;
        }
    if (ncpuids == CPUID_SLOTS)
        fail_msg("fake CPUID full");
    cpuids[ncpuids].leaf = leaf;
    cpuids[ncpuids].sub = sub;
    cpuids[ncpuids].r[0] = a, cpuids[ncpuids].r[1] = b, cpuids[ncpuids].r[2] = c;
    cpuids[ncpuids].r[3] = d;
    ncpuids++;
}

void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    for (unsigned i = 0; i < ncpuids; i++)
        if (cpuids[i].leaf == leaf && (cpuids[i].sub == sub || cpuids[i].sub == 0xffffffffu)) {
            memcpy(r, cpuids[i].r, 16);
            return;
        }
    memset(r, 0, 16);
}

/* ----------------------------------------------------------------- ports */
static int port_slot(uint16_t port)
{
    for (unsigned i = 0; i < nports; i++)
        if (ports[i].port == port)
            return (int)i;
    if (nports == PORT_SLOTS)
        fail_msg("fake ports full");
    ports[nports].port = port;
    return (int)nports++;
}

void fake_port_set(uint16_t port, uint32_t value)
{
    int i = port_slot(port);
    ports[i].in = value;
    ports[i].has_in = true;
}

unsigned fake_port_writes(uint16_t port) { return ports[port_slot(port)].writes; }
uint32_t fake_port_last(uint16_t port) { return ports[port_slot(port)].last; }

static uint32_t port_in(uint16_t port, uint32_t ones)
{
    if (port == FAKE_LOG_PORT + 5)
        return 0x20;                    /* the UART's transmitter is always empty */
    int i = port_slot(port);
    return ports[i].has_in ? ports[i].in & ones : ones;
}

static void port_out(uint16_t port, uint32_t v)
{
    if (port == FAKE_LOG_PORT) {
        if (loglen + 1 < sizeof(logbuf) && v != '\r')
            logbuf[loglen++] = (char)v;
        logbuf[loglen] = 0;
        return;
    }
    int i = port_slot(port);
    ports[i].last = v;
    ports[i].writes++;
}

uint8_t inb(uint16_t port) { return (uint8_t)port_in(port, 0xff); }
uint16_t inw(uint16_t port) { return (uint16_t)port_in(port, 0xffff); }
uint32_t inl(uint16_t port) { return port_in(port, 0xffffffffu); }
void outb(uint16_t port, uint8_t v) { port_out(port, v); }
void outw(uint16_t port, uint16_t v) { port_out(port, v); }
void outl(uint16_t port, uint32_t v) { port_out(port, v); }

const char *fake_log(void) { return logbuf; }

void fake_log_clear(void)
{
    loglen = 0;
    logbuf[0] = 0;
}

/* ------------------------------------------------------ registers, memory */
uint64_t read_cr0(void) { return CR0_PE | CR0_NE | CR0_PG; }
uint64_t read_cr2(void) { return fake_cr2; }
uint64_t read_cr3(void) { return 0; }
uint64_t read_cr4(void) { return CR4_PAE; }
void write_cr0(uint64_t v) { (void)v; }
void write_cr2(uint64_t v) { fake_cr2 = v; }
void write_cr3(uint64_t v) { (void)v; }
void write_cr4(uint64_t v) { (void)v; }
uint64_t read_dr7(void) { return 0x400; }
uint64_t read_rflags(void) { return 2; }
void write_rflags(uint64_t v) { (void)v; }
uint64_t rdtsc(void) { return tsc += 100; }
void wbinvd(void) { fake_wbinvd_calls++; }

void xsetbv(uint32_t xcr, uint64_t v)
{
    (void)xcr;
    fake_xcr0 = v;
    fake_xsetbv_calls++;
}

uint64_t read_dr6(void) { return fake_dr6; }
void write_dr6(uint64_t v) { fake_dr6 = v; }
void write_dr0_3(uint64_t v) { fake_dr0_3 = v; }
uint64_t read_dr(unsigned n) { return n < 4 ? fake_dr[n] : 0; }

void *phys_ptr(uint64_t pa)
{
    /* The monitor's own data (the sink page, EPT tables) is host memory in
     * the tests: only guest-physical addresses go through here. */
    if (pa >= FAKE_RAM_SIZE)
        fail_msg("physical address 0x%lx is outside the fake RAM", (unsigned long)pa);
    return fake_ram + pa;
}

struct percpu *this_cpu(void) { return fake_this_cpu; }

void halt_forever(void)
{
    fake_halts++;
    if (!fake_halt_armed)
        fail_msg("the monitor stopped this CPU unexpectedly; log:\n%s", logbuf);
    longjmp(fake_halt_jmp, 1);
}

/* vmx/vmx_asm.S */
void cpu_unblock_nmi(void) {}
void vmx_devirt_jump(void *ctx) __attribute__((noreturn));
void vmx_devirt_jump(void *ctx)
{
    (void)ctx;
    halt_forever();
}

/* core/entry.c, which the tests do not link. */
void monitor_seal(void)
{
    mon.sealed = true;
}

void monitor_cpu_entering(uint32_t cpu)
{
    (void)cpu;
    mon.cpus_virtualized++;
}

void monitor_cpu_left(uint32_t cpu)
{
    (void)cpu;
    mon.cpus_virtualized--;
}

void report_error(const char *fmt, ...)
{
    (void)fmt;
}
