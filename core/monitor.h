/* Monitor-wide state: what setup() built and every CPU shares. */
#ifndef LAMINA_MONITOR_H
#define LAMINA_MONITOR_H

#include <stdint.h>
#include <stdbool.h>
#include "core/bootinfo.h"
#include "core/percpu.h"
#include "ept/ept.h"
#include "ept/mtrr.h"
#include "vmx/caps.h"
#include "iommu/iommu.h"

struct monitor {
    struct lamina_bootinfo *bi;
    uint64_t host_cr3;              /* identity map of [0, phys_limit) for VMX root */
    uint64_t eptp;
    uint64_t ept_root;
    struct ept_stats ept_stats;
    struct ept_pool ept_reserve;    /* table pages for splits after MTRR writes */
    volatile uint64_t ept_generation;   /* bumped at each EPT change: CPUs INVEPT */
    unsigned maxphyaddr;
    uint16_t pm1_cnt[2];            /* ACPI PM1a/PM1b control ports (0: none) */
    uint16_t reset_port;            /* ACPI reset register port (0: none) */
    uint64_t apic_base;             /* xAPIC MMIO page (IA32_APIC_BASE) */
    bool trap_xapic;                /* xAPIC page read-only in the EPT: INIT IPIs emulated */
    uint32_t apic_ids[LAMINA_MAX_CPUS];
    uint8_t *msr_bitmap;            /* 4 KiB, SDM 3C 25.6.9 */
    uint8_t *io_bitmap_a;           /* ports 0x0000-0x7fff */
    uint8_t *io_bitmap_b;           /* ports 0x8000-0xffff */
    uint8_t *sink_page;             /* what the guest sees instead of a monitor page */
    uint64_t *idt;                  /* host IDT, shared by all CPUs */
    struct percpu *cpus;
    struct mtrr_state mtrr;
    struct vmx_caps caps;
    struct vmx_controls ctl;
    bool ept_1g;
    bool wait_for_sipi;
    bool has_mtf;                   /* monitor trap flag may be set */
    uint64_t xcr0_supported;
    bool la57, nx;                  /* CPUID: 57-bit linear addresses, EFER.NXE */
    bool tsc_adjust;                /* CPUID: IA32_TSC_ADJUST exists */
    volatile bool sealed;           /* loader hypercalls refused from now on */
    volatile uint32_t cpus_virtualized;
    struct ept_range hidden[3 + IOMMU_MAX_HIDDEN];  /* image and data regions; [2]: the
                                       xAPIC page, mapped 4 KiB so it can be made read-only;
                                       [3..nhidden): the remapping units' registers (M8) */
    unsigned nhidden;
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

/* core/host.c */
int host_paging_pages(uint64_t limit, bool use_1g);
void host_paging_build(uint64_t *tables, uint64_t limit, bool use_1g);
void host_idt_build(uint64_t *idt);
void host_gdt_build(struct percpu *pc);

#endif
