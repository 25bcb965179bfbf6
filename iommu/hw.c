/* The VT-d seams for code that runs identity mapped (the monitor in VMX
 * root or in firmware context, the test EFI program): registers through
 * volatile loads and stores (the register pages are uncached through the
 * MTRRs, as MMIO below 4 GiB is), table pages written back with CLFLUSH. */
#include "iommu/hw.h"

static uint32_t rd32(void *ctx, uint64_t a)
{
    (void)ctx;
    return *(volatile uint32_t *)(uintptr_t)a;
}

static uint64_t rd64(void *ctx, uint64_t a)
{
    (void)ctx;
    return *(volatile uint64_t *)(uintptr_t)a;
}

static void wr32(void *ctx, uint64_t a, uint32_t v)
{
    (void)ctx;
    *(volatile uint32_t *)(uintptr_t)a = v;
}

static void wr64(void *ctx, uint64_t a, uint64_t v)
{
    (void)ctx;
    *(volatile uint64_t *)(uintptr_t)a = v;
}

/* SDM 2A CLFLUSH: 64-byte lines on every processor with VT-d; ordered
 * against later stores (the register write that makes the unit read the
 * tables) by MFENCE. */
static void flush(void *ctx, const void *p, size_t n)
{
    (void)ctx;
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)63, end = (uintptr_t)p + n;
    __asm__ volatile("mfence" ::: "memory");
    for (; a < end; a += 64)
        __asm__ volatile("clflush (%0)" :: "r"(a) : "memory");
    __asm__ volatile("mfence" ::: "memory");
}

const struct vtd_hw vtd_hw_direct = {
    .read32 = rd32, .read64 = rd64, .write32 = wr32, .write64 = wr64, .flush = flush,
    .spins = 1000000,   /* status polls: a second or so of MMIO reads */
};
