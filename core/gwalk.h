/* Guest page walker: translating a guest linear address to a guest-physical address
 * the way the processor would for the guest's current paging mode, and reporting the
 * page fault it would raise. Pure: paging-structure memory is read through a callback.
 *
 * Contract: Intel SDM Vol. 3A chapter 4 (4.1.1 paging modes, 4.3 32-bit paging, 4.4 PAE
 * paging, 4.5 4-level and 5-level paging, 4.6 access rights, 4.7 page-fault error code).
 *
 * Accessed and dirty flags (SDM 3A 5.8): with set_bits, a successful translation sets
 * A in every paging-structure entry it used (not PAE PDPTEs, which have none) and, for
 * a write, D in the leaf, as the processor does when the monitor stands in for it
 * (M6); without set_bits the walker never writes guest memory.
 *
 * Not modelled (the caller must not rely on them):
 *   - Implicit supervisor-mode accesses (GDT/IDT/TSS reads at CPL 3, SDM 3A 5.6): cpl < 3
 *     always means an explicit supervisor-mode access, for which SMAP honours RFLAGS.AC.
 *   - Shadow-stack accesses (CET, error code bit 6), HLAT, SGX, linear-address masking.
 *   - Page-size support: 1-GByte pages and PSE-36 are assumed supported (every processor
 *     with VMX and EPT has them); pass maxphyaddr = 32 to turn the PSE-36 bits into
 *     reserved bits.
 *   - TLBs: the walk always uses the paging structures in memory (or the PDPTEs given).
 */
#ifndef LAMINA_GWALK_H
#define LAMINA_GWALK_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

/* Control-register and EFER bits the walker looks at (SDM 3A 2.5, 2.2.1). */
#define GW_CR0_WP    (1ull << 16)
#define GW_CR0_PG    (1ull << 31)
#define GW_CR4_PSE   (1ull << 4)
#define GW_CR4_PAE   (1ull << 5)
#define GW_CR4_LA57  (1ull << 12)
#define GW_CR4_SMEP  (1ull << 20)
#define GW_CR4_SMAP  (1ull << 21)
#define GW_CR4_PKE   (1ull << 22)
#define GW_CR4_PKS   (1ull << 24)
#define GW_EFER_LMA  (1ull << 10)
#define GW_EFER_NXE  (1ull << 11)

/* Page-fault error code, SDM 3A 5.7 (figure 4-12). */
#define GW_PF_VECTOR 14
#define GW_PFEC_P    (1u << 0)   /* 0: not present; 1: protection or reserved-bit violation */
#define GW_PFEC_W    (1u << 1)   /* the access was a write */
#define GW_PFEC_U    (1u << 2)   /* user-mode access (CPL 3) */
#define GW_PFEC_RSVD (1u << 3)   /* a reserved bit was set in a paging-structure entry */
#define GW_PFEC_ID   (1u << 4)   /* instruction fetch (only when SMEP or PAE+NXE, see 4.7) */
#define GW_PFEC_PK   (1u << 5)   /* protection-key violation */

struct gwalk_ctx {
    uint64_t cr0, cr3, cr4, efer;
    /* Read `len` bytes of guest-physical memory at `gpa`; return 0, or -1 if the
       address is not readable (e.g. not RAM). The monitor passes identity access. */
    int (*read_phys)(void *opaque, uint64_t gpa, void *buf, size_t len);
    void *opaque;
    /* CPUID.80000008H:EAX[7:0]. Bits at and above it in paging-structure entries are
       reserved (RSVD fault). 0 means 52 (no check below the architectural maximum);
       other values are clamped to 32..52. */
    uint8_t maxphyaddr;
    bool ac;            /* RFLAGS.AC: lets explicit supervisor accesses pass SMAP */
    uint32_t pkru;      /* PKRU, used when CR4.PKE = 1 (4-/5-level paging only) */
    uint32_t pkrs;      /* IA32_PKRS, used when CR4.PKS = 1 (4-/5-level paging only) */
    /* PAE paging only: the four PDPTEs the processor holds (under EPT, the VMCS guest
       PDPTE0..3 fields; SDM 3A 5.4.1, 3C 26.4.2). NULL: read them from CR3 bits 31:5. */
    const uint64_t *pdpte;
    /* M6: atomically OR `bits` into the `size`-byte (4 or 8) paging-structure entry at
       `gpa` (A and D flags). NULL: leave guest memory alone. */
    void (*set_bits)(void *opaque, uint64_t gpa, uint64_t bits, size_t size);
};

enum gwalk_access { GW_READ = 0, GW_WRITE = 1, GW_FETCH = 2 };

struct gwalk_fault { uint8_t vector; uint32_t error_code; uint64_t cr2; };   /* #PF: vector 14 */

/* Translate a linear address. cpl: 0-3 (user access if 3). Returns 0 and *gpa,
   -1 with *fault describing the #PF exactly as hardware would raise it (error code bits:
   P, W/R, U/S, RSVD, I/D, PK; SDM 3A 5.7), or -2 if a paging-structure read failed.
   Outside IA-32e mode (EFER.LMA = 0) the linear address is 32 bits: `la` is truncated,
   and so is fault->cr2. With CR0.PG = 0, gpa = la. Canonicality is not checked (see
   gwalk_canonical). A reserved bit in a PAE PDPTE is reported as an RSVD page fault
   (the processor would have refused to load it: #GP on MOV to CR3, or VM-entry failure). */
int gwalk_translate(const struct gwalk_ctx *c, uint64_t la, enum gwalk_access acc, unsigned cpl,
                    uint64_t *gpa, struct gwalk_fault *fault);

/* Copy `len` bytes from guest linear memory (may cross pages; each page translated in
   turn, so a fault on a later page reports that page's first byte in cr2, as a
   page-crossing access does). Returns 0, -1 (*fault filled), or -2 if a paging-structure
   or data read failed. On failure the contents of buf are unspecified. */
int gwalk_read(const struct gwalk_ctx *c, uint64_t la, void *buf, size_t len, enum gwalk_access acc,
               unsigned cpl, struct gwalk_fault *fault);

/* Whether `la` is canonical for the current mode: outside IA-32e mode always true;
   with 4-level paging bits 63:47 equal, with 5-level (CR4.LA57) bits 63:56 equal
   (SDM 3A 5.5). A non-canonical access is #GP (or #SS), the caller's to raise. */
bool gwalk_canonical(const struct gwalk_ctx *c, uint64_t la);

/* The four PDPTEs PAE paging loads from `cr3` (bits 31:5), checked as the
   processor checks them when a MOV to CR0/CR3/CR4 loads them (SDM 3A 5.4.1):
   0 and pdpte[] filled; -1 if a present one has a reserved bit set (the
   instruction is #GP, pdpte[] untouched); -2 if the memory could not be read. */
int gwalk_load_pdptes(const struct gwalk_ctx *c, uint64_t cr3, uint64_t pdpte[4]);

#endif
