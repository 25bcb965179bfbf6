/* The monitor's entry: the API table the loader calls while the firmware
 * still runs natively, and the memory plan of the data region. */
#include <stdarg.h>
#include <string.h>
#include <stdio.h>
#include "core/arch.h"
#include "core/cpuid.h"
#include "core/log.h"
#include "core/monitor.h"
#include "core/vcpu.h"
#include "iommu/iommu.h"

#define PAGE 4096ull
#define PAGES(bytes) (((bytes) + PAGE - 1) / PAGE)
#define PERCPU_PAGES (HOST_STACK_SIZE / PAGE + HOST_IST_SIZE / PAGE)
#define SHARED_PAGES 2     /* sink page, IDT */

/* Image offset 0: lets a test guest recognise monitor memory if it ever saw it. */
__attribute__((section(".marker"), used))
static const char monitor_marker[16] = "LAMINA-MONITOR!!";

struct monitor mon;
static struct lamina_bootinfo boot_info;
extern char __image_start[], __image_end[];

void report_error(const char *fmt, ...)
{
    struct lamina_report *rep = mon.bi->report;
    va_list ap;
    va_start(ap, fmt);
    vsniprintf(rep->err, sizeof(rep->err), fmt, ap);
    va_end(ap);
}

struct percpu *percpu_of(uint32_t index)
{
    return &mon.cpus[index];
}

static uint64_t shared_pages(void)
{
    uint64_t pages = SHARED_PAGES;
    pages += (uint64_t)host_paging_pages(mon.bi->phys_limit, mon.host_1g, &mon.mtrr);
    pages += PAGES(sizeof(struct percpu) * mon.bi->ncpus);
    pages += PERCPU_PAGES * (uint64_t)mon.bi->ncpus;
    return pages;
}

/* What the processor offers that the core's decisions rest on (CPUID, the
 * MTRRs, the local APIC). Changes nothing. */
static void probe_processor(void)
{
    uint32_t r[4];
    cpuid(0x80000008, 0, r);
    mon.maxphyaddr = r[0] & 0xff;
    mtrr_read(&mon.mtrr, rdmsr, mon.maxphyaddr);
    cpuid(1, 0, r);
    if (r[2] & (1u << 26)) {           /* XSAVE */
        cpuid(0xd, 0, r);
        mon.xcr0_supported = ((uint64_t)r[3] << 32) | r[0];
        cpuid(0xd, 1, r);
        mon.xss_guest = cpuid_xss_guest_mask(r[0], r[2], r[3]);
    }
    cpuid(0, 0, r);
    if (r[0] >= 0xa) {
        cpuid(0xa, 0, r);
        mon.perf_global_ctrl = (r[0] & 0xff) >= 2;      /* SDM 3B 20.2.2 */
    }
    cpuid(7, 0, r);
    struct spec_cpu sc = { .cpuid7_edx = r[3] };
    if ((r[3] & CPUID_7_EDX_ARCH_CAP) && rdmsr_safe(MSR_IA32_ARCH_CAPABILITIES, &sc.arch_cap) != 0)
        sc.arch_cap = 0;
    spec_decide(&sc, &mon.spec);
    log_info("spec: rsb fill on exit; spec_ctrl %s; l1d flush on entry %s; verw on entry %s "
             "(mds %s, mmio stale data %s; arch_capabilities 0x%lx)",
             mon.spec.spec_ctrl ? "switched (ibrs in root)" : "absent",
             mon.spec.l1d_flush ? "yes" : mon.spec.l1tf_open ? "NEEDED, NO FLUSH COMMAND" : "no",
             mon.spec.verw ? "yes" : "no", mon.spec.mds ? "yes" : "no",
             mon.spec.mmio_stale ? "yes" : "no", sc.arch_cap);
    mon.la57 = r[2] & (1u << 16);
    mon.tsc_adjust = r[1] & (1u << 1);
    cpuid(0x80000001, 0, r);
    mon.nx = r[3] & (1u << 20);
    mon.host_1g = r[3] & (1u << 26);
    /* An INIT in VMX non-root exits (SDM 3C 26.2): the target enters the INIT
     * state itself, and the guest's APIC is its own. Only with init-emulation
     * (for platforms that keep the INIT pending after its exit, such as Bochs
     * 2.7) do the guest's INIT IPIs go through the monitor (core/ipi.c): in
     * x2APIC mode the ICR is an MSR (trapped), in xAPIC mode its page is made
     * read-only to the guest and the stores emulated. */
    uint64_t apic = rdmsr(MSR_IA32_APIC_BASE);
    mon.apic_base = apic & 0x000ffffffffff000ull;
    mon.init_emulation = mon.bi->init_emulation && mon.bi->ncpus > 1;
    mon.trap_xapic = mon.init_emulation && (apic & APIC_BASE_EN) && !(apic & APIC_BASE_EXTD) &&
                     mon.apic_base < mon.bi->phys_limit;
}

static int api_plan(uint64_t *data_bytes)
{
    struct lamina_bootinfo *bi = mon.bi;
    log_init(bi->serial_port, (enum log_level)bi->log_level);
    if (bi->ncpus == 0 || bi->ncpus > LAMINA_MAX_CPUS) {
        report_error("%u processors reported; the monitor supports 1 to %u", bi->ncpus,
                     LAMINA_MAX_CPUS);
        return -1;
    }
    probe_processor();
    if (be_probe() != 0)
        return -1;
    bi->report->cpu[0].state = CPU_STATE_CHECKED;
    mon.hidden[0].base = bi->image_base;
    mon.hidden[0].size = bi->image_size;
    if (mon.trap_xapic)
        mon.hidden[2] = (struct mem_range){ .base = mon.apic_base, .size = PAGE };
    /* M8 hook: DMA protection (iommu/iommu.h): table pages, register pages hidden. */
    uint64_t dma_pages;
    if (iommu_plan(bi, &dma_pages) != 0)
        return -1;
    mon.nhidden = 3 + iommu_hidden(&mon.hidden[3], IOMMU_MAX_HIDDEN);
    uint64_t core = shared_pages() + dma_pages;
    *data_bytes = (core + be_plan_pages(core)) * PAGE;
    return 0;
}

static uint8_t *bump_alloc(uint64_t *cursor, uint64_t pages)
{
    uint8_t *p = (uint8_t *)(uintptr_t)*cursor;
    *cursor += pages * PAGE;
    return p;
}

static int api_setup(void)
{
    struct lamina_bootinfo *bi = mon.bi;
    uint64_t cur = bi->data_base;
    uint64_t end = bi->data_base + bi->data_size;

    memset((void *)(uintptr_t)bi->data_base, 0, bi->data_size);
    mon.hidden[1].base = bi->data_base;
    mon.hidden[1].size = bi->data_size;

    uint64_t *host_pt = (uint64_t *)bump_alloc(&cur, host_paging_pages(bi->phys_limit, mon.host_1g, &mon.mtrr));
    host_paging_build(host_pt, bi->phys_limit, mon.host_1g, &mon.mtrr);
    mon.host_cr3 = (uint64_t)(uintptr_t)host_pt;
    mon.sink_page = bump_alloc(&cur, 1);
    mon.idt = (uint64_t *)bump_alloc(&cur, 1);
    host_idt_build(mon.idt);
    mon.pm1_cnt[0] = bi->pm1a_cnt;
    mon.pm1_cnt[1] = bi->pm1b_cnt;
    mon.reset_port = bi->reset_port;
    mon.reset_value = bi->reset_value;
    mon.pm1a_evt = bi->pm1a_evt;
    mon.s5_typ = bi->s5_typ;

    mon.cpus = (struct percpu *)bump_alloc(&cur, PAGES(sizeof(struct percpu) * bi->ncpus));
    for (uint32_t i = 0; i < bi->ncpus; i++) {
        struct percpu *pc = &mon.cpus[i];
        pc->self = pc;
        pc->index = i;
        pc->apic_id = bi->report->cpu[i].apic_id;
        mon.apic_ids[i] = pc->apic_id;
        pc->stack = bump_alloc(&cur, HOST_STACK_SIZE / PAGE);
        pc->ist_stack = bump_alloc(&cur, HOST_IST_SIZE / PAGE);
        host_gdt_build(pc);
    }
    /* M8 hook: the DMA remapping tables, and translation on in every unit;
     * undone by api_rollback if the hand-off fails later. */
    if (iommu_setup(bi, &cur) != 0)
        return -1;
    mon.nhidden = 3 + iommu_hidden(&mon.hidden[3], IOMMU_MAX_HIDDEN);
    if (cur > end) {
        report_error("monitor data region too small (%lu KiB short)", (cur - end) / 1024);
        return -1;
    }
    /* The backend's structures and its guest-physical map, from the rest. */
    if (be_setup(&cur, end) != 0)
        return -1;
    /* The xAPIC page: readable as ever, stores exit (INIT IPI emulation). */
    if (mon.trap_xapic && be_map_page(mon.apic_base, mon.apic_base, BE_R | BE_X, MT_UC) != 0) {
        report_error("cannot map the local APIC page at 0x%lx read-only", mon.apic_base);
        return -1;
    }
    msr_intercepts_init();
    io_intercepts_init();
    log_info("monitor at 0x%lx (%lu KiB image, %lu KiB data), %s covers 0-0x%lx",
             bi->image_base, bi->image_size / 1024, bi->data_size / 1024, be_map_name,
             bi->phys_limit);
    const struct lamina_policy *pol = &bi->policy;
    log_info("policy: %u rules, %u locked msr, stealth %s, serial-exclusive %s, "
             "hypercall-user %s", pol->nrules, pol->nlocks, pol->stealth ? "yes" : "no",
             pol->serial_exclusive ? "yes" : "no", pol->hypercall_user == POLICY_HCUSER_FULL ? "full" : pol->hypercall_user ? "yes" : "no");
    return 0;
}

static int api_cpu_check(uint32_t cpu)
{
    if (cpu >= mon.bi->ncpus || be_cpu_check(cpu) != 0)
        return -1;
    mon.bi->report->cpu[cpu].state = CPU_STATE_CHECKED;
    return 0;
}

static int api_cpu_launch(uint32_t cpu, uint64_t guest_rip, uint64_t guest_rsp)
{
    if (cpu >= mon.bi->ncpus)
        return -1;
    return be_cpu_launch(cpu, guest_rip, guest_rsp);
}

void monitor_cpu_entering(uint32_t cpu)
{
    mon.bi->report->cpu[cpu].state = CPU_STATE_GUEST;
    __atomic_add_fetch(&mon.cpus_virtualized, 1, __ATOMIC_SEQ_CST);
}

void monitor_cpu_left(uint32_t cpu)
{
    (void)cpu;
    __atomic_sub_fetch(&mon.cpus_virtualized, 1, __ATOMIC_SEQ_CST);
}

/* M8 hook: the hand-off failed after setup: translation off again. */
static void api_rollback(void)
{
    iommu_rollback();
}

static struct lamina_monitor_api api = {
    .magic = LAMINA_API_MAGIC,
    .version = LAMINA_API_VERSION,
    .bootinfo = &boot_info,
    .plan = api_plan,
    .setup = api_setup,
    .cpu_check = api_cpu_check,
    .cpu_launch = api_cpu_launch,
    .rollback = api_rollback,
};

struct lamina_monitor_api *lamina_monitor_entry(void);
__attribute__((visibility("default")))
struct lamina_monitor_api *lamina_monitor_entry(void)
{
    mon.bi = &boot_info;
    return &api;
}

/* Called on the SEAL hypercall: the figures of the hand-off. */
void monitor_seal(void)
{
    struct lamina_bootinfo *bi = mon.bi;
    struct lamina_summary *s = &bi->report->summary;
    struct be_map_stats ms;
    be_map_stats(&ms);
    s->cpus_virtualized = mon.cpus_virtualized;
    s->map_1g = ms.pages_1g;
    s->map_2m = ms.pages_2m;
    s->map_4k = ms.pages_4k;
    s->map_tables = ms.tables;
    s->reserved_bytes = bi->image_size + bi->data_size;
    s->handoff_ticks = rdtsc() - bi->tsc_start;
    iommu_summary(&s->dma_units, &s->dma_table_pages);     /* M8 hook */
    mon.sealed = true;
    log_info("summary: cpus %u virtualized, %s pages 1g=%lu 2m=%lu 4k=%lu, reserved %lu KiB, "
             "hand-off %lu tsc ticks, dma protection %s (%u units, %lu KiB tables)",
             s->cpus_virtualized, ms.name, s->map_1g, s->map_2m, s->map_4k,
             s->reserved_bytes / 1024, s->handoff_ticks, s->dma_units ? "on" : "off",
             s->dma_units, s->dma_table_pages * 4);
}
