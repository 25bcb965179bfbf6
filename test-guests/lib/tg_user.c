/* tg_user: CPL 3 for a moment (see tg.h, tg_user_call; the assembler part
 * is tg_user.S). */
#include "test-guests/lib/tg.h"

struct __attribute__((packed)) tg_dtr {
    uint16_t limit;
    uint64_t base;
};

/* 64-bit TSS (SDM 3A 8.7, Figure 8-11): only RSP0 matters here. */
struct __attribute__((packed)) tg_tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap;
};
_Static_assert(sizeof(struct tg_tss64) == 104, "TSS layout");

int tg_user_enter(struct tg_user_ctx *c);
extern const char tg_user_stubs[];

#define GDT_MAX       512               /* bytes of the firmware's GDT we copy */
#define RETURN_VECTOR 0xf0

static uint64_t gdt[GDT_MAX / 8 + 4] __attribute__((aligned(16)));
static uint8_t idt[256 * 16] __attribute__((aligned(16)));
static struct tg_tss64 tss __attribute__((aligned(16)));
static uint8_t kstack[16384] __attribute__((aligned(16)));
static uint16_t left_tr;                /* our TSS selector, left in TR by an earlier call */

/* An interrupt gate (SDM 3A 7.14.1, Figure 6-8). */
static void gate(unsigned vec, uint64_t handler, uint16_t cs, unsigned dpl)
{
    uint8_t *g = idt + 16 * vec;
    uint64_t lo = (handler & 0xffff) | ((uint64_t)cs << 16) |
                  ((uint64_t)(0x8e | (dpl << 5)) << 40) | ((handler >> 16 & 0xffff) << 48);
    uint64_t hi = handler >> 32;
    __builtin_memcpy(g, &lo, 8);
    __builtin_memcpy(g + 8, &hi, 8);
}

int tg_user_call(struct tg_user_ctx *c)
{
    struct tg_dtr old_gdtr, old_idtr, new_gdtr, new_idtr;
    uint16_t cs, ds, es, fs, gs, tr;
    uint64_t flags;

    __asm__ volatile("pushfq; pop %0; cli" : "=r"(flags) :: "memory");
    __asm__ volatile("sgdt %0; sidt %1; str %2" : "=m"(old_gdtr), "=m"(old_idtr), "=r"(tr));
    __asm__ volatile("mov %%cs, %0; mov %%ds, %1; mov %%es, %2; mov %%fs, %3; mov %%gs, %4"
                     : "=r"(cs), "=r"(ds), "=r"(es), "=r"(fs), "=r"(gs));
    size_t n = (size_t)old_gdtr.limit + 1;
    if (n > GDT_MAX || (n & 7)) {
        __asm__ volatile("push %0; popfq" :: "r"(flags) : "memory", "cc");
        return -2;
    }
    __builtin_memcpy(gdt, (const void *)old_gdtr.base, n);
    unsigned i = (unsigned)(n / 8);
    /* Data DPL 3 writable; code DPL 3 64-bit (L = 1, D = 0); 64-bit TSS
     * available (type 9), limit 103 (SDM 3A 3.4.5, 8.2.3). */
    gdt[i] = 0x00cff2000000ffffull;
    gdt[i + 1] = 0x00affa000000ffffull;
    uint64_t tb = (uint64_t)&tss;
    gdt[i + 2] = (sizeof tss - 1) | ((tb & 0xffffff) << 16) | (0x89ull << 40) |
                 ((tb >> 24 & 0xff) << 56);
    gdt[i + 3] = tb >> 32;
    c->ss = (8 * i) | 3;
    c->cs = (8 * (i + 1)) | 3;
    uint16_t tss_sel = (uint16_t)(8 * (i + 2));

    __builtin_memset(&tss, 0, sizeof tss);
    tss.rsp[0] = (uint64_t)(kstack + sizeof kstack);
    tss.iomap = sizeof tss;             /* no I/O bitmap: CPL 3 port I/O faults */

    __builtin_memset(idt, 0, sizeof idt);
    for (unsigned v = 0; v < 32; v++)
        gate(v, (uint64_t)tg_user_stubs + 16 * v, cs, 0);
    gate(RETURN_VECTOR, (uint64_t)tg_user_stubs + 16 * 32, cs, 3);

    new_gdtr.limit = (uint16_t)(8 * (i + 4) - 1);
    new_gdtr.base = (uint64_t)gdt;
    new_idtr.limit = sizeof idt - 1;
    new_idtr.base = (uint64_t)idt;
    __asm__ volatile("lgdt %0; lidt %1; ltr %2" :: "m"(new_gdtr), "m"(new_idtr), "r"(tss_sel)
                     : "memory");

    int vec = tg_user_enter(c);

    /* IRET to CPL 3 nulled the data segment registers (SDM 3A 7.14.3). */
    __asm__ volatile("mov %0, %%ds; mov %1, %%es; mov %2, %%fs; mov %3, %%gs"
                     :: "r"(ds), "r"(es), "r"(fs), "r"(gs) : "memory");
    __asm__ volatile("lgdt %0; lidt %1" :: "m"(old_gdtr), "m"(old_idtr) : "memory");
    if (tr != 0 && tr != left_tr) {
        /* LTR needs the old descriptor marked available again (type 9, not 11). */
        uint8_t *d = (uint8_t *)old_gdtr.base + (tr & ~7u);
        d[5] &= (uint8_t)~0x02;
        __asm__ volatile("ltr %0" :: "r"(tr) : "memory");
    }
    else
        left_tr = tss_sel;
    /* Without a previous TR (or with the one an earlier call left) ours
     * stays loaded: the TSS is static, and null cannot be loaded into TR. */
    __asm__ volatile("push %0; popfq" :: "r"(flags) : "memory", "cc");
    return vec;
}
