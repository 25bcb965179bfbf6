/* What the monitor owns in VMX root: its page tables, GDT/TSS and IDT.
 * Nothing the firmware owns is used once a VM exit has happened. */
#include <string.h>
#include "core/monitor.h"
#include "core/arch.h"

#define PTE_P   (1ull << 0)
#define PTE_W   (1ull << 1)
#define PTE_PS  (1ull << 7)
#define GIB     (1ull << 30)

/* Pages needed for an identity map of [0, limit) with 1 GiB or 2 MiB leaves. */
int host_paging_pages(uint64_t limit, bool use_1g)
{
    uint64_t gibs = (limit + GIB - 1) / GIB;
    uint64_t pdpts = (gibs + 511) / 512;
    return (int)(1 + pdpts + (use_1g ? 0 : gibs));
}

/* tables: host_paging_pages() zeroed pages; tables[0..511] becomes the PML4. */
void host_paging_build(uint64_t *tables, uint64_t limit, bool use_1g)
{
    uint64_t gibs = (limit + GIB - 1) / GIB;
    uint64_t pdpts = (gibs + 511) / 512;
    uint64_t *pml4 = tables;
    uint64_t *pdpt = tables + 512;
    uint64_t *pd = pdpt + 512 * pdpts;

    for (uint64_t i = 0; i < pdpts; i++)
        pml4[i] = (uint64_t)(uintptr_t)(pdpt + 512 * i) | PTE_P | PTE_W;
    for (uint64_t g = 0; g < gibs; g++) {
        if (use_1g) {
            pdpt[g] = (g * GIB) | PTE_P | PTE_W | PTE_PS;
            continue;
        }
        uint64_t *dir = pd + 512 * g;
        pdpt[g] = (uint64_t)(uintptr_t)dir | PTE_P | PTE_W;
        for (uint64_t m = 0; m < 512; m++)
            dir[m] = (g * GIB + (m << 21)) | PTE_P | PTE_W | PTE_PS;
    }
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
