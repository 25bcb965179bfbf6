/* tg_trampoline: a one-page AP start-up trampoline for test guests that
 * restart application processors themselves with INIT-SIPI-SIPI (smp.c).
 *
 * The page is copied to a 4 KiB aligned address T below 1 MiB; the SIPI
 * vector is T >> 12. The AP starts in real mode at T (CS = T >> 4, IP = 0;
 * SDM 3A 9.4.4.2; 11.6.1, delivery mode Start-Up), and goes real mode -> 32-bit
 * protected mode (flat GDT in the page) -> PAE, CR3, EFER.LME -> paging ->
 * 64-bit mode, loads the stack the BSP chose, records what it sees in the
 * mailbox, sets the done word and halts (cli; hlt) until the next INIT.
 *
 * Once, after copying the page, the BSP fills in what depends on T:
 * the GDTR base, both far-jump targets and an IDT whose 32 exception
 * gates record the fault in the mailbox (instead of a triple fault), plus
 * the parameters (CR3, CR4, EFER bits, stack, sequence number). The code
 * itself never needs patching: real-mode and 32-bit code address the page
 * through CS << 4, 64-bit code RIP-relative.
 *
 * This file is included by the assembler source too: offsets only, unless
 * __ASSEMBLER__ is undefined.
 *
 * The code lives in the library only because the Makefile links
 * test-guests/lib/ *.S into every guest; only smp.c uses it (and does the
 * BSP's part: copying, patching, arming, INIT-SIPI-SIPI).
 */
#ifndef TG_TRAMPOLINE_H
#define TG_TRAMPOLINE_H

#define TR_SIZE          4096

/* Parameters, written by the BSP. */
#define TR_PARAMS        0x400
#define TR_CR3           (TR_PARAMS + 0x00)  /* u64, must be below 4 GiB */
#define TR_STACK         (TR_PARAMS + 0x08)  /* u64 top of the stack, below 4 GiB */
#define TR_CR4           (TR_PARAMS + 0x10)  /* u32 CR4 to load before paging */
#define TR_EFER          (TR_PARAMS + 0x14)  /* u32 bits to OR into EFER (LME, NXE) */
#define TR_SEQ           (TR_PARAMS + 0x18)  /* u64 echoed into the mailbox */

/* Mailbox, written by the AP (cleared by the BSP before each start). */
#define TR_MAILBOX       0x440
#define MB_DONE          0x00    /* u32: 0, TR_DONE_MAGIC or TR_FAULT_MAGIC */
#define MB_APIC_ID       0x04    /* u32 CPUID.1:EBX[31:24] */
#define MB_X2APIC_ID     0x08    /* u32 CPUID.0xB:EDX, 0xffffffff without leaf 0xB */
#define MB_LEAF1_ECX     0x0c    /* u32 CPUID.1:ECX */
#define MB_HV_EAX        0x10    /* u32 x4: CPUID.0x40000000 EAX EBX ECX EDX */
#define MB_EFER          0x20    /* u64 IA32_EFER read in 64-bit mode */
#define MB_RSP           0x28    /* u64 RSP inside a CALL (proves the stack) */
#define MB_SEQ           0x30    /* u64 copy of TR_SEQ */
#define MB_CR0           0x38    /* u64 */
#define MB_CS            0x40    /* u64 CS selector in 64-bit mode */
#define MB_FAULT_VEC     0x48    /* u64 exception vector (TR_FAULT_MAGIC) */
#define MB_FAULT_ERR     0x50    /* u64 error code or 0 */
#define MB_FAULT_RIP     0x58    /* u64 */
#define MB_FAULT_CR2     0x60    /* u64 */
#define MB_SIZE          0x68

#define TR_DONE_MAGIC    0x454e4f44  /* "DONE" */
#define TR_FAULT_MAGIC   0x544c4146  /* "FALT" */

/* Descriptor tables and far pointers (the BSP fills in all but the GDT). */
#define TR_GDT           0x500   /* 4 descriptors, static in the image */
#define TR_GDTR          0x520   /* u16 limit, u32 base */
#define TR_FAR32         0x528   /* m16:32 -> 32-bit code */
#define TR_FAR64         0x530   /* m16:32 -> 64-bit code */
#define TR_IDTR          0x540   /* u16 limit, u64 base */
#define TR_IDT           0x600   /* 32 gates x 16 bytes */
#define TR_IDT_VECTORS   32

#define TR_SEL_CODE32    0x08
#define TR_SEL_DATA      0x10
#define TR_SEL_CODE64    0x18

/* Offsets of code the BSP points descriptors at. */
#define TR_STUB_SIZE     16      /* exception stub n is at tr_stubs + 16 * n */

#ifndef __ASSEMBLER__
#include <stdint.h>

/* The image, tg_tramp_end - tg_tramp_start == TR_SIZE bytes. */
extern const uint8_t tg_tramp_start[], tg_tramp_end[];
/* Offsets within the image of the 32-bit entry, the 64-bit entry and the
 * first exception stub (constants the assembler computed). */
extern const uint32_t tg_tramp_off_pm32, tg_tramp_off_lm64, tg_tramp_off_stubs;

struct tg_tramp_params {
    uint64_t cr3;
    uint64_t stack_top;
    uint32_t cr4;
    uint32_t efer_or;
    uint64_t seq;
};

/* The mailbox as the AP leaves it. */
struct tg_tramp_mailbox {
    uint32_t done;
    uint32_t apic_id;
    uint32_t x2apic_id;
    uint32_t leaf1_ecx;
    uint32_t hv[4];
    uint64_t efer;
    uint64_t rsp;
    uint64_t seq;
    uint64_t cr0;
    uint64_t cs;
    uint64_t fault_vec;
    uint64_t fault_err;
    uint64_t fault_rip;
    uint64_t fault_cr2;
};
_Static_assert(sizeof(struct tg_tramp_mailbox) == MB_SIZE, "mailbox layout");

/* The mailbox of a page holding the image (volatile: the AP writes it). */
static inline volatile struct tg_tramp_mailbox *tg_tramp_mailbox(uint64_t page)
{
    return (volatile struct tg_tramp_mailbox *)(uintptr_t)(page + TR_MAILBOX);
}
#endif

#endif
