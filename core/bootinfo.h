/* The contract between the loader (GNU-EFI, efi/) and the monitor (core/, vmx/, ept/).
 *
 * The loader copies the monitor ELF into EfiReservedMemoryType pages, applies its
 * R_X86_64_RELATIVE relocations and calls the ELF entry point, which returns the
 * monitor's API table. Everything the monitor needs afterwards is in struct
 * lamina_bootinfo, which lives inside monitor memory (the loader fills the copy
 * that api->bootinfo points at). Both sides are compiled by gcc with the SysV ABI.
 */
#ifndef LAMINA_BOOTINFO_H
#define LAMINA_BOOTINFO_H

#include <stdint.h>
#include "core/policy.h"

#define LAMINA_API_MAGIC      0x414e494d414cULL /* "LAMINA" */
#define LAMINA_API_VERSION    3
#define LAMINA_MAX_CPUS       64
#define LAMINA_MAX_MEMMAP     512
#define LAMINA_ERR_LEN        192

/* dma-protection in lamina.conf (iommu/iommu.c decides what follows). */
enum lamina_dma_mode {
    LAMINA_DMA_AUTO = 0,        /* on where a DMAR exists, a warning where none does */
    LAMINA_DMA_REQUIRED = 1,    /* no DMAR or a refused one: the hand-off fails */
    LAMINA_DMA_OFF = 2,
};

/* One UEFI memory map entry, reduced to what the monitor needs. */
struct lamina_memrange {
    uint64_t base;
    uint64_t pages;   /* 4 KiB pages */
    uint32_t type;    /* EFI_MEMORY_TYPE */
    uint32_t pad;
};

enum lamina_cpu_state {
    CPU_STATE_NONE = 0,
    CPU_STATE_CHECKED,      /* cpu_check passed */
    CPU_STATE_FAILED,       /* check or launch failed: see err */
    CPU_STATE_GUEST,        /* running in VMX non-root */
    CPU_STATE_STOPPED,      /* guest stopped (triple fault, fatal exit) */
    CPU_STATE_DEVIRT,       /* left VMX again after a rollback */
};

struct lamina_cpu_info {
    uint32_t apic_id;       /* from MP services */
    uint32_t state;         /* enum lamina_cpu_state, written by the monitor */
    char     err[LAMINA_ERR_LEN];
};

/* Summary figures of the hand-off. */
struct lamina_summary {
    uint32_t cpus_virtualized;
    uint32_t dma_units;         /* remapping units translating (0: no DMA protection) */
    uint64_t dma_table_pages;   /* their root, context, queue and map pages */
    uint64_t map_1g, map_2m, map_4k, map_tables;    /* guest-physical map (EPT) pages */
    uint64_t reserved_bytes;
    uint64_t handoff_ticks;
};

/* Results, in LOADER memory: once a CPU runs as the guest, monitor memory is
 * invisible to it (EPT), so the loader reads outcomes here. The monitor writes
 * it only until the hand-off is sealed. */
struct lamina_report {
    struct lamina_cpu_info cpu[LAMINA_MAX_CPUS];
    char err[LAMINA_ERR_LEN];          /* reason of the last failure of a global step */
    struct lamina_summary summary;     /* filled when sealed */
};

/* What a guest triple fault does (lamina.conf on-triple-fault). */
#define LAMINA_TRIPLE_FAULT_RESET 0     /* reset the machine, as a PC's chipset does */
#define LAMINA_TRIPLE_FAULT_STOP  1     /* stop that CPU with the guest state logged */

struct lamina_bootinfo {
    uint32_t version;
    uint32_t ncpus;
    uint16_t serial_port;       /* 0: no serial log */
    uint8_t  log_level;         /* enum log_level (core/log.h) */
    uint8_t  init_emulation;    /* lamina.conf init-emulation yes (core/ipi.c) */
    uint8_t  on_triple_fault;   /* LAMINA_TRIPLE_FAULT_*, lamina.conf on-triple-fault (M6) */
    uint8_t  s5_typ;            /* SLP_TYPa of \_S5 from the DSDT, | 0x80; 0: not found */
    uint16_t pm1a_evt;          /* ACPI PM1a event block (status at +0) from the FADT, 0: none */
    uint64_t image_base, image_size;   /* monitor image, reserved */
    uint64_t data_base, data_size;     /* monitor data (EPT, per-CPU), reserved */
    uint64_t phys_limit;        /* EPT and host map cover [0, phys_limit) */
    uint64_t tsc_start;         /* TSC when the loader began virtualizing: hand-off figure */
    uint64_t loader_secret;     /* VMCALL key for loader-only calls until sealed */
    uint16_t pm1a_cnt, pm1b_cnt;   /* ACPI PM1 control ports from the FADT (0: none) */
    uint16_t reset_port;           /* ACPI reset register, if in I/O space (0: none) */
    uint8_t  dma_mode;             /* enum lamina_dma_mode, from lamina.conf */
    uint8_t  reset_value;          /* the FADT's RESET_VALUE for reset_port (M6) */
    uint32_t dmar_len;             /* ACPI DMAR table, found by the loader (0: none) */
    uint32_t nmemmap;
    uint64_t dmar_base;
    struct lamina_report *report;      /* loader memory, see above */
    struct lamina_policy policy;       /* from lamina.conf (core/policy.h) */
    struct lamina_memrange memmap[LAMINA_MAX_MEMMAP];
};

struct lamina_monitor_api {
    uint64_t magic;
    uint32_t version;
    uint32_t pad;
    struct lamina_bootinfo *bootinfo;
    /* BSP, firmware context: how many bytes of data region setup() needs. */
    int (*plan)(uint64_t *data_bytes);
    /* BSP, firmware context: build EPT, host page tables, per-CPU areas. */
    int (*setup)(void);
    /* Any CPU: can this CPU run the monitor? Changes nothing. 0 or -1. */
    int (*cpu_check)(uint32_t cpu);
    /* Any CPU: enter VMX; the guest continues at guest_rip with guest_rsp and
     * every other register as the monitor left it, so the resume point must be
     * loader code (efi/launch.S) that restores what it needs from its stack.
     * Returns (natively) -1 on failure. Once a CPU is a guest it can no longer
     * call into (or even read) monitor memory: launch the APs before the BSP. */
    int (*cpu_launch)(uint32_t cpu, uint64_t guest_rip, uint64_t guest_rsp);
    /* BSP, firmware context, after setup() returned (either way) when the
     * hand-off fails: undo what setup changed outside monitor memory (the
     * remapping units' translation), before the loader frees the regions. */
    void (*rollback)(void);
};

/* The ELF entry point of the monitor. */
typedef struct lamina_monitor_api *(*lamina_monitor_entry_fn)(void);

/* Hypercalls the loader makes (VMCALL, RAX = function, RBX = loader_secret).
 * Accepted only until LAMINA_VMCALL_SEAL; afterwards they raise #UD like any
 * unknown VMCALL. */
#define LAMINA_VMCALL_DEVIRT  0x4c4d0001u  /* leave VMX on this CPU, continue natively */
#define LAMINA_VMCALL_SEAL    0x4c4d0002u  /* hand-off done: write the summary into the
                                              report, log it, refuse loader calls from now on */

#endif
