/* Monitor-wide state: what setup() built and every CPU shares. */
#ifndef LAMINA_MONITOR_H
#define LAMINA_MONITOR_H

#include <stdint.h>
#include <stdbool.h>
#include "core/bootinfo.h"
#include "core/percpu.h"
#include "core/spinlock.h"
#include "core/spec.h"
#include "ept/mtrr.h"
#include "iommu/iommu.h"

/* Vendor-neutral: the backend keeps its own monitor-wide state (vmx/). */
struct monitor {
    struct lamina_bootinfo *bi;
    uint64_t host_cr3;              /* identity map of [0, phys_limit) for VMX root */
    unsigned maxphyaddr;
    uint16_t pm1_cnt[2];            /* ACPI PM1a/PM1b control ports (0: none) */
    uint16_t reset_port;            /* ACPI reset register port (0: none) */
    uint8_t reset_value;            /* what to write there to reset (FADT RESET_VALUE) */
    uint16_t pm1a_evt;              /* ACPI PM1a status port (0: none), core/sleep.c */
    uint8_t s5_typ;                 /* SLP_TYPa of S5 | 0x80; 0: unknown (core/sleep.c) */
    uint64_t apic_base;             /* xAPIC MMIO page (IA32_APIC_BASE) */
    bool init_emulation;            /* the guest's INIT IPIs emulated (core/ipi.c) */
    bool trap_xapic;                /* xAPIC page read-only to the guest: INIT IPIs emulated */
    uint32_t apic_ids[LAMINA_MAX_CPUS];
    uint8_t *sink_page;             /* what the guest sees instead of a monitor page */
    uint64_t *idt;                  /* host IDT, shared by all CPUs */
    struct percpu *cpus;
    struct mtrr_state mtrr;         /* the guest's MTRRs, decoded: they shape the EPT types */
    uint64_t mtrr_virt[MTRR_NSLOTS];    /* the guest's MTRR values (core/msr.c) */
    uint64_t mtrr_present;          /* bit mtrr_slot(msr): the MSR exists on this CPU */
    uint64_t xcr0_supported;
    bool perf_global_ctrl;          /* CPUID.0AH:EAX[7:0] >= 2: IA32_PERF_GLOBAL_CTRL exists */
    struct spec_plan spec;          /* transient-execution mitigations (core/spec.h) */
    uint64_t xss_guest;             /* IA32_XSS bits the guest may set (core/cpuid.h) */
    bool la57, nx;                  /* CPUID: 57-bit linear addresses, EFER.NXE */
    bool tsc_adjust;                /* CPUID: IA32_TSC_ADJUST exists */
    bool host_1g;                   /* CPUID: 1 GiB pages for the monitor's own map */
    volatile bool sealed;           /* loader hypercalls refused from now on */
    volatile uint32_t cpus_virtualized;
    struct mem_range hidden[3 + IOMMU_MAX_HIDDEN];  /* image and data regions; [2]: the
                                       xAPIC page, mapped 4 KiB so it can be made read-only;
                                       [3..nhidden): the remapping units' registers (M8) */
    unsigned nhidden;
    struct spinlock map_lock;       /* changes of the guest-physical map: MTRR
                                       retypes, pages mapped above RAM (M6) */
};

extern struct monitor mon;

/* The monitor's memory (image and data) as the guest must never see it, and
 * (M8) the remapping units' register pages, which it must not reach either,
 * not even through the monitor's own string I/O or page walks. */
static inline bool monitor_owns(uint64_t pa)
{
    for (unsigned i = 0; i < mon.nhidden; i++)  /* all but the APIC page */
        if (i != 2 && pa >= mon.hidden[i].base && pa - mon.hidden[i].base < mon.hidden[i].size)
            return true;
    return false;
}

/* core/entry.c */
void report_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void monitor_seal(void);
/* The CPU is about to run the guest (the backend's last step before entry),
 * or stopped being one (launch failed, or the loader's rollback). */
void monitor_cpu_entering(uint32_t cpu);
void monitor_cpu_left(uint32_t cpu);

/* core/host.c */
int host_paging_pages(uint64_t limit, bool use_1g, const struct mtrr_state *mtrr);
void host_paging_build(uint64_t *tables, uint64_t limit, bool use_1g, const struct mtrr_state *mtrr);
void host_idt_build(uint64_t *idt);
void host_gdt_build(struct percpu *pc);

#endif
