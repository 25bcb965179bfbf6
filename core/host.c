/* What the monitor owns in VMX root: its page tables, GDT/TSS and IDT.
 * Nothing the firmware owns is used once a VM exit has happened. */
#include <string.h>
#include "core/monitor.h"
#include "core/arch.h"

#define PTE_P   (1ull << 0)
#define PTE_W   (1ull << 1)
#define PTE_PS  (1ull << 7)
#define GIB     (1ull << 30)

#define MIB2    (1ull << 21)

/* One memory type over [base, base + size)? (No MTRRs: one.) */
static bool uniform(const struct mtrr_state *m, uint64_t base, uint64_t size)
{
    return !m || mtrr_type_of_range(m, base, size) != MT_MIXED;
}

/* The identity map of [0, limit): PML4, then the PDPTs, then PDs and PTs as
 * needed. A large page may not span memory of different MTRR types (SDM 3A
 * 12.11.9: the processor's behaviour is undefined): a GiB that is not of one
 * type gets a PD, a 2 MiB range that is not gets a PT (M6). Returns the pages
 * used; with tables NULL it only counts. The MTRRs are the ones read at
 * hand-off; the guest's later MTRR writes retype the EPT, not this map. */
static uint64_t host_map(uint64_t *tables, uint64_t limit, bool use_1g, const struct mtrr_state *m)
{
    uint64_t gibs = (limit + GIB - 1) / GIB;
    uint64_t pdpts = (gibs + 511) / 512;
    uint64_t next = 1 + pdpts;      /* the next free page */
    uint64_t *pdpt = tables ? tables + 512 : NULL;

    for (uint64_t i = 0; tables && i < pdpts; i++)
        tables[i] = (uint64_t)(uintptr_t)(pdpt + 512 * i) | PTE_P | PTE_W;
    for (uint64_t g = 0; g < gibs; g++) {
        uint64_t a = g * GIB;
        if (use_1g && uniform(m, a, GIB)) {
            if (tables)
                pdpt[g] = a | PTE_P | PTE_W | PTE_PS;
            continue;
        }
        uint64_t *dir = tables ? tables + 512 * next : NULL;
        next++;
        if (tables)
            pdpt[g] = (uint64_t)(uintptr_t)dir | PTE_P | PTE_W;
        for (uint64_t i = 0; i < 512; i++) {
            uint64_t b = a + i * MIB2;
            if (uniform(m, b, MIB2)) {
                if (tables)
                    dir[i] = b | PTE_P | PTE_W | PTE_PS;
                continue;
            }
            uint64_t *pt = tables ? tables + 512 * next : NULL;
            next++;
            if (!tables)
                continue;
            dir[i] = (uint64_t)(uintptr_t)pt | PTE_P | PTE_W;
            for (uint64_t k = 0; k < 512; k++)
                pt[k] = (b + k * 4096) | PTE_P | PTE_W;
        }
    }
    return next;
}

/* Pages needed for the identity map of [0, limit) (mtrr: the types to keep apart). */
int host_paging_pages(uint64_t limit, bool use_1g, const struct mtrr_state *mtrr)
{
    return (int)host_map(NULL, limit, use_1g, mtrr);
}

/* tables: host_paging_pages() zeroed pages; tables[0..511] becomes the PML4. */
void host_paging_build(uint64_t *tables, uint64_t limit, bool use_1g, const struct mtrr_state *mtrr)
{
    host_map(tables, limit, use_1g, mtrr);
}

extern const uint64_t exception_stubs[32];

/* 64-bit interrupt gate, SDM 3A 7.14.1. Vectors 2 (NMI), 8 (#DF) and 18 (#MC)
 * run on IST1 so a broken stack still gives a readable dump. */
void host_idt_build(uint64_t *idt)
{
    memset(idt, 0, 4096);
    for (int v = 0; v < 32; v++) {
        uint64_t h = exception_stubs[v];
        uint64_t ist = (v == 2 || v == 8 || v == 18) ? 1 : 0;
        idt[2 * v] = (h & 0xffff) | ((uint64_t)HOST_SEL_CODE << 16) | (ist << 32) |
                     (0x8eull << 40) | ((h >> 16) & 0xffff) << 48;
        idt[2 * v + 1] = h >> 32;
    }
}

void host_gdt_build(struct percpu *pc)
{
    uint64_t tss = (uint64_t)(uintptr_t)&pc->tss;
    uint64_t limit = sizeof(pc->tss) - 1;

    memset(&pc->tss, 0, sizeof(pc->tss));
    pc->tss.ist[0] = (uint64_t)(uintptr_t)(pc->ist_stack + HOST_IST_SIZE);
    pc->tss.iomap_base = sizeof(pc->tss);

    pc->gdt[0] = 0;
    pc->gdt[1] = 0x00af9b000000ffffull;      /* 64-bit code, DPL 0 */
    pc->gdt[2] = 0x00cf93000000ffffull;      /* data, DPL 0 */
    /* 64-bit TSS descriptor (available, type 9), SDM 3A 8.2.3 */
    pc->gdt[3] = (limit & 0xffff) | ((tss & 0xffffff) << 16) | (0x89ull << 40) |
                 ((limit >> 16) & 0xf) << 48 | ((tss >> 24) & 0xff) << 56;
    pc->gdt[4] = tss >> 32;
    pc->gdt[5] = 0;
}
