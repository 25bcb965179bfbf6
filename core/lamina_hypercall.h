/* Lamina hypercall ABI: the one public header. Guest programs (lamina-ctl,
 * test guests) include it; it depends on nothing but <stdint.h>.
 *
 * Calling convention (VMCALL, any CPU mode the guest runs in):
 *   RAX  function (LAMINA_HC_*)
 *   RBX  LAMINA_HC_MAGIC        without it VMCALL raises #UD, as on a machine
 *                               without Lamina
 *   RDI, RSI, RDX               arguments 1-3
 * Results:
 *   RAX  status: LAMINA_OK (0) or a negative LAMINA_E_* code
 *   RDI, RSI, RDX               results 1-3 (left unchanged on an error)
 *   RIP  advanced past VMCALL; every other register is preserved.
 * A 16- or 32-bit caller (compatibility mode included) passes 32-bit values:
 * the upper halves of RAX, RDI, RSI and RDX are ignored.
 *
 * Buffers are guest-VIRTUAL (linear) addresses, translated through the
 * caller's own page tables with the caller's privilege, as its own store
 * would be (CPL 3 needs user pages, the pages must be writable, SMAP applies
 * to CPL 0-2 unless RFLAGS.AC). Every byte must lie in ordinary RAM of the
 * firmware memory map (loader, boot-services and runtime code/data,
 * conventional memory, ACPI reclaim): never monitor memory, reserved, ACPI
 * NVS, MMIO, persistent or unusable ranges, the local APIC page, or an
 * unmapped page. The whole buffer is checked before the first byte is
 * written: a bad buffer (or one whose address wraps or is not canonical)
 * returns LAMINA_E_FAULT and changes nothing. Buffers are at most
 * LAMINA_HC_BUF_MAX bytes. The monitor never pages anything in: a Linux
 * program must have its buffer present and writable (touched or mlock'ed)
 * before the call.
 *
 * Ring 3: with `hypercall-user no` (the default) a VMCALL from CPL 3 returns
 * LAMINA_E_PERM; with `hypercall-user yes` it may use every function below
 * (all of them only read monitor state).
 */
#ifndef LAMINA_HYPERCALL_H
#define LAMINA_HYPERCALL_H

#include <stdint.h>

#define LAMINA_HC_MAGIC        0x434848414e494d41ull   /* "AMINAHHC" little-endian */
/* Major version: changes that break a caller (a layout, a meaning); minor: additions
 * an older caller can ignore. A caller checks the major it speaks (VERSION, RDI). */
#define LAMINA_HC_ABI_VERSION  0x00020001u             /* major 2, minor 1 */
#define LAMINA_HC_BUF_MAX      (1u << 20)              /* bytes */

/* Functions (RAX). */
#define LAMINA_HC_VERSION   0u  /* -> RDI ABI version, RSI features, RDX ncpus */
#define LAMINA_HC_STATS     1u  /* RDI cpu or LAMINA_ALL_CPUS, RSI buffer, RDX size
                                   -> struct lamina_stats at the buffer; RDI bytes written */
#define LAMINA_HC_READ_LOG  2u  /* RDI cursor, RSI buffer, RDX size
                                   -> events with seq >= cursor, oldest first;
                                   RDI next cursor, RSI events written, RDX events
                                   lost (overwritten before this read reached them).
                                   Fewer events than fit (even 0) does not mean the
                                   end: an event still being written ends a read;
                                   call again with the new cursor. */

/* Status codes (RAX, as a signed 64-bit value). */
#define LAMINA_OK          0
#define LAMINA_E_NOFUNC   (-1)  /* unknown function */
#define LAMINA_E_PERM     (-2)  /* ring 3 without hypercall-user */
#define LAMINA_E_INVAL    (-3)  /* bad argument (cpu index, cursor ahead of the log) */
#define LAMINA_E_FAULT    (-4)  /* buffer not writable RAM of the guest */
#define LAMINA_E_RANGE    (-5)  /* buffer too small for one record, or above LAMINA_HC_BUF_MAX */

/* Feature bits (LAMINA_HC_VERSION, RSI). */
#define LAMINA_FEAT_STATS      (1u << 0)
#define LAMINA_FEAT_EVENT_LOG  (1u << 1)
#define LAMINA_FEAT_USER       (1u << 2)   /* hypercall-user yes */
#define LAMINA_FEAT_STEALTH    (1u << 3)   /* stealth yes */
#define LAMINA_FEAT_SERIAL_EXCLUSIVE (1u << 4)

#define LAMINA_ALL_CPUS     0xffffffffu

/* Exit kinds: why the monitor ran, whatever the processor's virtualization
 * extension calls it (struct lamina_stats counts exits and ticks per kind). */
#define LAMINA_EXIT_CPUID         0
#define LAMINA_EXIT_IO            1    /* port I/O, string I/O included */
#define LAMINA_EXIT_MSR_READ      2
#define LAMINA_EXIT_MSR_WRITE     3
#define LAMINA_EXIT_CR_ACCESS     4    /* a control-register write the monitor completes */
#define LAMINA_EXIT_XSETBV        5
#define LAMINA_EXIT_HYPERCALL     6    /* VMCALL, with or without the magic */
#define LAMINA_EXIT_VIRT_INSN     7    /* a virtualization or SMX instruction (#UD) */
#define LAMINA_EXIT_INVD          8
#define LAMINA_EXIT_MEMORY        9    /* a guest-physical access the monitor stopped */
#define LAMINA_EXIT_STEP          10   /* end of a one-instruction step */
#define LAMINA_EXIT_NMI           11
#define LAMINA_EXIT_EXCEPTION     12   /* another exception the monitor intercepts */
#define LAMINA_EXIT_INIT          13
#define LAMINA_EXIT_SIPI          14
#define LAMINA_EXIT_TRIPLE_FAULT  15
#define LAMINA_EXIT_OTHER         16   /* anything else (the monitor stops that CPU) */
#define LAMINA_EXIT_NMI_WINDOW    17   /* the guest may take a waiting NMI (ABI 2.1) */
#define LAMINA_EXIT_TIMER         18   /* the monitor's timer (ABI 2.1) */
#define LAMINA_EXIT_KINDS         32   /* slots in struct lamina_stats; room to grow */

static inline const char *lamina_exit_kind_name(unsigned kind)
{
    static const char *const names[] = {
        [LAMINA_EXIT_CPUID] = "cpuid", [LAMINA_EXIT_IO] = "io",
        [LAMINA_EXIT_MSR_READ] = "msr-read", [LAMINA_EXIT_MSR_WRITE] = "msr-write",
        [LAMINA_EXIT_CR_ACCESS] = "cr-access", [LAMINA_EXIT_XSETBV] = "xsetbv",
        [LAMINA_EXIT_HYPERCALL] = "hypercall", [LAMINA_EXIT_VIRT_INSN] = "virt-insn",
        [LAMINA_EXIT_INVD] = "invd", [LAMINA_EXIT_MEMORY] = "memory",
        [LAMINA_EXIT_STEP] = "step", [LAMINA_EXIT_NMI] = "nmi",
        [LAMINA_EXIT_EXCEPTION] = "exception", [LAMINA_EXIT_INIT] = "init",
        [LAMINA_EXIT_SIPI] = "sipi", [LAMINA_EXIT_TRIPLE_FAULT] = "triple-fault",
        [LAMINA_EXIT_OTHER] = "other", [LAMINA_EXIT_NMI_WINDOW] = "nmi-window",
        [LAMINA_EXIT_TIMER] = "timer",
    };
    return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : (const char *)0;
}

struct lamina_stats {
    uint32_t cpu;               /* index asked for, or LAMINA_ALL_CPUS (sums) */
    uint32_t ncpus;
    uint32_t nkinds;            /* LAMINA_EXIT_KINDS */
    uint32_t pad;
    uint64_t events_recorded;   /* events ever written to the log */
    uint64_t events_overwritten;/* of those, overwritten since (ring full), or
                                   dropped by a writer that found its slot busy */
    uint64_t exits[LAMINA_EXIT_KINDS];      /* per exit kind (LAMINA_EXIT_*) */
    uint64_t ticks[LAMINA_EXIT_KINDS];      /* TSC ticks spent in the monitor per kind */
};

/* Virtualization and SMX instructions a guest tried (LAMINA_EV_VIRT_INSN index). */
#define LAMINA_INSN_VMXON      1
#define LAMINA_INSN_VMXOFF     2
#define LAMINA_INSN_VMCLEAR    3
#define LAMINA_INSN_VMPTRLD    4
#define LAMINA_INSN_VMPTRST    5
#define LAMINA_INSN_VMREAD     6
#define LAMINA_INSN_VMWRITE    7
#define LAMINA_INSN_VMLAUNCH   8
#define LAMINA_INSN_VMRESUME   9
#define LAMINA_INSN_INVEPT     10
#define LAMINA_INSN_INVVPID    11
#define LAMINA_INSN_VMFUNC     12
#define LAMINA_INSN_GETSEC     13
#define LAMINA_INSN_SEAMCALL   14   /* TDX: exit unconditionally where they exist (M6) */
#define LAMINA_INSN_TDCALL     15

static inline const char *lamina_insn_name(unsigned insn)
{
    static const char *const names[] = {
        [LAMINA_INSN_VMXON] = "vmxon", [LAMINA_INSN_VMXOFF] = "vmxoff",
        [LAMINA_INSN_VMCLEAR] = "vmclear", [LAMINA_INSN_VMPTRLD] = "vmptrld",
        [LAMINA_INSN_VMPTRST] = "vmptrst", [LAMINA_INSN_VMREAD] = "vmread",
        [LAMINA_INSN_VMWRITE] = "vmwrite", [LAMINA_INSN_VMLAUNCH] = "vmlaunch",
        [LAMINA_INSN_VMRESUME] = "vmresume", [LAMINA_INSN_INVEPT] = "invept",
        [LAMINA_INSN_INVVPID] = "invvpid", [LAMINA_INSN_VMFUNC] = "vmfunc",
        [LAMINA_INSN_GETSEC] = "getsec", [LAMINA_INSN_SEAMCALL] = "seamcall",
        [LAMINA_INSN_TDCALL] = "tdcall",
    };
    return insn < sizeof(names) / sizeof(names[0]) && names[insn] ? names[insn] : "unknown";
}

/* Event kinds. */
#define LAMINA_EV_IO_IN        1
#define LAMINA_EV_IO_OUT       2
#define LAMINA_EV_MSR_READ     3
#define LAMINA_EV_MSR_WRITE    4
#define LAMINA_EV_MONITOR_MEM  5   /* guest touched monitor memory (index: page number) */
#define LAMINA_EV_VIRT_INSN    6   /* VMX/SMX instruction attempted (index: LAMINA_INSN_*) */
#define LAMINA_EV_TRIPLE_FAULT 7
#define LAMINA_EV_DMA_FAULT    8   /* a device's DMA blocked by a remapping unit: index
                                      LAMINA_EV_DMA_SID (bus << 8 | dev << 3 | fn), _UNIT
                                      and _READ; value the page address; width the
                                      VT-d fault reason; rip and cr3 0 (no instruction) */
#define LAMINA_EV_DMA_SID(index)   ((index) & 0xffffu)
#define LAMINA_EV_DMA_UNIT(index)  (((index) >> 16) & 0xffu)
#define LAMINA_EV_DMA_READ(index)  (((index) >> 24) & 1u)    /* else a write */

/* Actions. */
#define LAMINA_ACT_LOGGED      1   /* allowed and recorded */
#define LAMINA_ACT_DENIED      2   /* refused: read floats high / write dropped / #GP */
#define LAMINA_ACT_LOCKED      3   /* write to a locked MSR refused (#GP) */
#define LAMINA_ACT_STOPPED     4   /* the guest CPU was stopped */
#define LAMINA_ACT_RESET       5   /* the monitor reset the machine (M6) */

/* Names of the kinds and actions, as the monitor's event lines and
 * lamina-ctl print them ("unknown" for a value without one). */
static inline const char *lamina_event_kind_name(unsigned kind)
{
    static const char *const names[] = {
        [LAMINA_EV_IO_IN] = "io-in", [LAMINA_EV_IO_OUT] = "io-out",
        [LAMINA_EV_MSR_READ] = "msr-read", [LAMINA_EV_MSR_WRITE] = "msr-write",
        [LAMINA_EV_MONITOR_MEM] = "monitor-mem", [LAMINA_EV_VIRT_INSN] = "virt-insn",
        [LAMINA_EV_TRIPLE_FAULT] = "triple-fault", [LAMINA_EV_DMA_FAULT] = "dma-fault",
    };
    return kind < sizeof(names) / sizeof(names[0]) && names[kind] ? names[kind] : "unknown";
}

static inline const char *lamina_event_action_name(unsigned action)
{
    static const char *const names[] = {
        [LAMINA_ACT_LOGGED] = "logged", [LAMINA_ACT_DENIED] = "denied",
        [LAMINA_ACT_LOCKED] = "locked", [LAMINA_ACT_STOPPED] = "stopped",
        [LAMINA_ACT_RESET] = "reset",
    };
    return action < sizeof(names) / sizeof(names[0]) && names[action] ? names[action] : "unknown";
}

struct lamina_event {
    uint64_t seq;               /* 0, 1, 2, ...: position in the log */
    uint64_t tsc;
    uint64_t value;             /* port value or MSR value (read: what the guest got) */
    uint64_t rip;               /* guest RIP of the instruction */
    uint64_t cr3;               /* guest CR3 */
    uint32_t index;             /* port, MSR, page or instruction (see the kind) */
    uint16_t cpu;
    uint8_t kind;               /* LAMINA_EV_* */
    uint8_t width;              /* bytes: 1, 2, 4 (port), 8 (MSR) */
    uint8_t action;             /* LAMINA_ACT_* */
    uint8_t pad[15];
};
_Static_assert(sizeof(struct lamina_event) == 64, "event record is 64 bytes");

#endif
