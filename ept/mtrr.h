/* MTRR state and memory-type lookup (Intel SDM Vol. 3A 12.11).
 *
 * The monitor reads the firmware's MTRR configuration once (mtrr_read, through an
 * rdmsr seam) and uses it to give every EPT leaf the memory type that the host
 * MTRRs would have given that physical address, so that the guest sees the same
 * caching behaviour it saw before virtualization (SDM 3C 29.3.7.2: with EPT the
 * MTRRs are not consulted for guest-physical accesses; the EPT memory type takes
 * their place and is combined with the guest PAT).
 *
 * Pure computation: no MSR access except through the rdmsr pointer.
 */
#ifndef LAMINA_EPT_MTRR_H
#define LAMINA_EPT_MTRR_H

#include <stdbool.h>
#include <stdint.h>

/* Memory type encodings (SDM 3A 12.11.2 Table 12-8; same values as the EPT
 * memory type field, SDM 3C 29.3.7). MT_MIXED is not a hardware encoding: it is
 * returned by mtrr_type_of_range for a region whose pages do not all share one type. */
enum mem_type { MT_UC = 0, MT_WC = 1, MT_WT = 4, MT_WP = 5, MT_WB = 6, MT_MIXED = 0xff };

/* MSR numbers (SDM 3A 12.11.1, 12.11.2; SDM 4 Table 2-2). */
#define MSR_IA32_MTRRCAP            0x0FEu
#define MSR_IA32_MTRR_DEF_TYPE      0x2FFu
#define MSR_IA32_MTRR_PHYSBASE(n)   (0x200u + 2u * (n))
#define MSR_IA32_MTRR_PHYSMASK(n)   (0x201u + 2u * (n))
#define MSR_IA32_MTRR_FIX64K_00000  0x250u
#define MSR_IA32_MTRR_FIX16K_80000  0x258u
#define MSR_IA32_MTRR_FIX16K_A0000  0x259u
#define MSR_IA32_MTRR_FIX4K_C0000   0x268u   /* ... 0x26F = FIX4K_F8000 */

/* Field bits (SDM 3A 12.11.1 Figure 12-5, 12.11.2.1 Figure 12-6, 12.11.2.3 Figure 12-7). */
#define MTRRCAP_VCNT_MASK           0xFFull
#define MTRRCAP_FIX                 (1ull << 8)
#define MTRRCAP_WC                  (1ull << 10)
#define MTRR_DEF_TYPE_TYPE_MASK     0xFFull
#define MTRR_DEF_TYPE_FE            (1ull << 10)
#define MTRR_DEF_TYPE_E             (1ull << 11)
#define MTRR_PHYSBASE_TYPE_MASK     0xFFull
#define MTRR_PHYSMASK_VALID         (1ull << 11)

#define MTRR_MAX_VAR   32
#define MTRR_NFIXED    88
#define MTRR_FIXED_END 0x100000ull   /* fixed ranges cover [0, 1 MiB) */

struct mtrr_state {
    bool enabled;          /* IA32_MTRR_DEF_TYPE.E */
    bool fixed_enabled;    /* .FE, and fixed supported in MTRRCAP (and .E) */
    uint8_t def_type;
    uint8_t fixed[MTRR_NFIXED]; /* one type per fixed range, in address order 0..0xFFFFF:
                              [0..7] 64 KiB each from 0, [8..23] 16 KiB each from 0x80000,
                              [24..87] 4 KiB each from 0xC0000 */
    unsigned nvar;
    /* base: the IA32_MTRR_PHYSBASEn value (type in bits 7:0, base address in bits
     *       MAXPHYADDR-1:12);
     * mask: the IA32_MTRR_PHYSMASKn value (mask in bits MAXPHYADDR-1:12; bit 11 V);
     * valid: PHYSMASKn.V. Bits outside those fields are ignored by the lookups. */
    struct { uint64_t base, mask; bool valid; } var[MTRR_MAX_VAR];
    uint64_t phys_mask;    /* (1 << MAXPHYADDR) - 1 */
    /* Number of type fields with a reserved encoding (2, 3, 7..255) that mtrr_read
     * found (hardware refuses to load them with #GP, so nonzero means a broken seam
     * or emulator). They are stored as MT_UC; the lookups also treat any reserved
     * encoding they meet as UC. The caller should log a warning when nonzero. */
    unsigned invalid_types;
};

/* Read all MTRR MSRs through the seam. maxphyaddr from CPUID 0x80000008 (EAX[7:0]);
 * 0 (leaf unsupported) means 36, values are clamped to [36, 52] (SDM 3A 12.11.2.3).
 * Fixed-range MSRs are read only if MTRRCAP.FIX is set; variable pairs only for
 * n < min(MTRRCAP.VCNT, MTRR_MAX_VAR). The caller must have checked that the CPU
 * has MTRRs (CPUID.01H:EDX.MTRR[12]); every VT-x capable CPU does. */
void mtrr_read(struct mtrr_state *s, uint64_t (*rdmsr)(uint32_t msr), unsigned maxphyaddr);

/* Effective type of one 4 KiB page (addr's low 12 bits are ignored). */
uint8_t mtrr_type_of_page(const struct mtrr_state *s, uint64_t addr);

/* Type of a naturally aligned power-of-two region [base, base+size) (size >= 4 KiB),
 * or MT_MIXED if its pages do not all have the same effective type. Exact (agrees
 * with mtrr_type_of_page on every page) and O(nvar) per region for the usual
 * contiguous masks; fixed ranges apply below 1 MiB only when fixed_enabled.
 * A size that is not a power of two or below 4 KiB, a misaligned base, or a region
 * wrapping past 2^64 returns MT_MIXED (so a caller falls back to smaller pages). */
uint8_t mtrr_type_of_range(const struct mtrr_state *s, uint64_t base, uint64_t size);

/* A range of physical memory, 4 KiB aligned (the monitor's hidden ranges). */
struct mem_range { uint64_t base, size; };

/* Whether msr is an MTRR the guest may write (IA32_MTRR_DEF_TYPE, the variable
 * pairs, the fixed ranges); IA32_MTRRCAP is read-only. */
bool mtrr_is_msr(uint32_t msr);

/* Whether WRMSR of `value` to the MTRR `msr` succeeds on hardware with this
 * IA32_MTRRCAP and MAXPHYADDR: valid type encodings (WC only if MTRRCAP.WC),
 * reserved bits clear (SDM 3A 12.11.2.1-12.11.2.3); false is #GP. */
bool mtrr_value_valid(uint32_t msr, uint64_t value, uint64_t mtrrcap, unsigned maxphyaddr);

/* The slot of an MTRR (mtrr_is_msr) in a table of MTRR_NSLOTS values. */
#define MTRR_NSLOTS (1 + MTRR_MAX_VAR + 11)
unsigned mtrr_slot(uint32_t msr);

#endif
