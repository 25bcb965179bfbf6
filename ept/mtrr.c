/* MTRR state and memory-type lookup. Contract: Intel SDM Vol. 3A 12.11. */
#include "ept/mtrr.h"

#include <stddef.h>
#include <string.h>

#define PAGE_SIZE_4K 0x1000ull
#define PAGE_MASK_4K (~(PAGE_SIZE_4K - 1))

/* SDM 3A 12.11.2 Table 12-8: only 0, 1, 4, 5, 6 are defined; 2, 3 and 7..255 are
 * reserved (loading them into an MTRR raises #GP). We treat them as UC, the safe
 * choice: UC never makes a device register or MMIO page cacheable by mistake. */
static bool type_is_valid(uint64_t t)
{
    return t == MT_UC || t == MT_WC || t == MT_WT || t == MT_WP || t == MT_WB;
}

static uint8_t type_sanitize(uint64_t t)
{
    return type_is_valid(t) ? (uint8_t)t : (uint8_t)MT_UC;
}

/* ------------------------------------------------------------------ read */

static uint8_t read_type(uint64_t raw, unsigned *invalid)
{
    if (!type_is_valid(raw)) {
        (*invalid)++;
        return MT_UC;
    }
    return (uint8_t)raw;
}

void mtrr_read(struct mtrr_state *s, uint64_t (*rdmsr)(uint32_t msr), unsigned maxphyaddr)
{
    memset(s, 0, sizeof(*s));

    /* SDM 3A 12.11.2.3: without CPUID 0x80000008 MAXPHYADDR is 36; the
     * architectural maximum is 52. */
    if (maxphyaddr < 36)
        maxphyaddr = 36;
    if (maxphyaddr > 52)
        maxphyaddr = 52;
    s->phys_mask = (1ull << maxphyaddr) - 1;

    uint64_t cap = rdmsr(MSR_IA32_MTRRCAP);        /* SDM 3A 12.11.1 */
    uint64_t def = rdmsr(MSR_IA32_MTRR_DEF_TYPE);  /* SDM 3A 12.11.2.1 */

    s->enabled = (def & MTRR_DEF_TYPE_E) != 0;
    s->def_type = read_type(def & MTRR_DEF_TYPE_TYPE_MASK, &s->invalid_types);

    bool has_fixed = (cap & MTRRCAP_FIX) != 0;
    /* SDM 3A 12.11.2.1: FE enables the fixed ranges; clearing E disables all MTRRs,
     * fixed ones included, whatever FE says. Fixed MSRs exist only if MTRRCAP.FIX. */
    s->fixed_enabled = s->enabled && (def & MTRR_DEF_TYPE_FE) && has_fixed;

    if (has_fixed) {
        /* SDM 3A 12.11.2.2: each fixed-range MSR holds 8 types, byte k (bits
         * 8k+7:8k) for the k-th sub-range in ascending address order. */
        static const uint32_t fixed_msrs[11] = {
            MSR_IA32_MTRR_FIX64K_00000, MSR_IA32_MTRR_FIX16K_80000,
            MSR_IA32_MTRR_FIX16K_A0000,
            MSR_IA32_MTRR_FIX4K_C0000 + 0, MSR_IA32_MTRR_FIX4K_C0000 + 1,
            MSR_IA32_MTRR_FIX4K_C0000 + 2, MSR_IA32_MTRR_FIX4K_C0000 + 3,
            MSR_IA32_MTRR_FIX4K_C0000 + 4, MSR_IA32_MTRR_FIX4K_C0000 + 5,
            MSR_IA32_MTRR_FIX4K_C0000 + 6, MSR_IA32_MTRR_FIX4K_C0000 + 7,
        };
        for (unsigned m = 0; m < 11; m++) {
            uint64_t v = rdmsr(fixed_msrs[m]);
            for (unsigned k = 0; k < 8; k++)
                s->fixed[m * 8 + k] = read_type((v >> (8 * k)) & 0xFF, &s->invalid_types);
        }
    }

    unsigned vcnt = (unsigned)(cap & MTRRCAP_VCNT_MASK);
    s->nvar = vcnt > MTRR_MAX_VAR ? MTRR_MAX_VAR : vcnt;
    for (unsigned i = 0; i < s->nvar; i++) {
        uint64_t base = rdmsr(MSR_IA32_MTRR_PHYSBASE(i));  /* SDM 3A 12.11.2.3 */
        uint64_t mask = rdmsr(MSR_IA32_MTRR_PHYSMASK(i));
        s->var[i].valid = (mask & MTRR_PHYSMASK_VALID) != 0;
        if (s->var[i].valid && !type_is_valid(base & MTRR_PHYSBASE_TYPE_MASK)) {
            s->invalid_types++;
            base = (base & ~MTRR_PHYSBASE_TYPE_MASK) | MT_UC;
        }
        s->var[i].base = base;
        s->var[i].mask = mask;
    }
}

/* ---------------------------------------------------------------- combine */

/* A set of memory types as a bit mask: bit t for type t (t <= 6 after sanitizing). */
#define TBIT(t) (1u << (t))

/* SDM 3A 12.11.4.1 (MTRR precedences), for the variable ranges that match:
 *  - none: the default type;
 *  - one type (one range, or several of the same type): that type;
 *  - any UC: UC;
 *  - exactly WT and WB: WT;
 *  - anything else (e.g. WC with WB): the SDM says the behaviour is undefined. We
 *    choose UC: it is never less strict than what the hardware might do, so a
 *    device region can not become cacheable through EPT. */
static uint8_t combine(unsigned set, uint8_t def_type)
{
    if (set == 0)
        return def_type;
    if (set & TBIT(MT_UC))
        return MT_UC;
    if ((set & (set - 1)) == 0) {
        uint8_t t = 0;
        while (!(set & 1u)) {
            set >>= 1;
            t++;
        }
        return t;
    }
    if (set == (TBIT(MT_WT) | TBIT(MT_WB)))
        return MT_WT;
    return MT_UC;
}

/* ------------------------------------------------------------ fixed ranges */

/* Index into fixed[] for addr < 1 MiB, and the end of that fixed range
 * (SDM 3A 12.11.2.2 Table 12-9). */
static unsigned fixed_index(uint64_t addr, uint64_t *end)
{
    if (addr < 0x80000) {
        *end = (addr & ~0xFFFFull) + 0x10000;
        return (unsigned)(addr >> 16);
    }
    if (addr < 0xC0000) {
        *end = (addr & ~0x3FFFull) + 0x4000;
        return 8 + (unsigned)((addr - 0x80000) >> 14);
    }
    *end = (addr & ~0xFFFull) + 0x1000;
    return 24 + (unsigned)((addr - 0xC0000) >> 12);
}

/* Uniform type of [base, end) with end <= 1 MiB, from the fixed ranges. */
static uint8_t fixed_range_type(const struct mtrr_state *s, uint64_t base, uint64_t end)
{
    uint8_t type = MT_MIXED;
    for (uint64_t a = base; a < end;) {
        uint64_t next;
        uint8_t t = type_sanitize(s->fixed[fixed_index(a, &next)]);
        if (type == MT_MIXED)
            type = t;
        else if (t != type)
            return MT_MIXED;
        a = next;
    }
    return type;
}

/* --------------------------------------------------------- variable ranges */

/* SDM 3A 12.11.2.3 / 12.11.3: an address A is in variable range n iff
 * (A & PhysMask) == (PhysBase & PhysMask), the fields taken as bits MAXPHYADDR-1:12. */
static uint64_t var_mask(const struct mtrr_state *s, unsigned i)
{
    return s->var[i].mask & s->phys_mask & PAGE_MASK_4K;
}

static uint64_t var_base(const struct mtrr_state *s, unsigned i)
{
    return s->var[i].base & s->phys_mask & PAGE_MASK_4K;
}

static uint8_t var_type(const struct mtrr_state *s, unsigned i)
{
    return type_sanitize(s->var[i].base & MTRR_PHYSBASE_TYPE_MASK);
}

static unsigned nvar_of(const struct mtrr_state *s)
{
    return s->nvar > MTRR_MAX_VAR ? MTRR_MAX_VAR : s->nvar;
}

static uint8_t var_type_of_page(const struct mtrr_state *s, uint64_t addr)
{
    unsigned set = 0;
    unsigned n = nvar_of(s);
    for (unsigned i = 0; i < n; i++) {
        if (!s->var[i].valid)
            continue;
        uint64_t m = var_mask(s, i);
        if ((addr & m) == (var_base(s, i) & m))
            set |= TBIT(var_type(s, i));
    }
    return combine(set, type_sanitize(s->def_type));
}

/* Type of the naturally aligned power-of-two region [base, base+size) from the
 * variable ranges and the default type only.
 *
 * For a range with mask M, split M at log2(size): the high bits are the same for
 * every address of the region, so if base disagrees with the range there, the range
 * misses the whole region; if M has no bits below log2(size), it covers the whole
 * region; otherwise it covers only part of it ("partial").
 *
 * Without partial ranges the region is uniform: combine(full ones). With partial
 * ones, if every subset of the partial ranges' types combined with the full ones
 * gives the same result, the region is uniform too (this handles e.g. a UC range
 * covering everything, or a WB range partly overlapping a WB default). Otherwise
 * the region is split in halves. For the contiguous masks that firmware programs
 * (SDM 3A 12.11.3), a range is partial only in the one sub-region that contains
 * it, so the work is O(nvar * log2(size/4K)) at most and O(nvar) in the usual
 * case; the split also stops at the first disagreement. */
static uint8_t var_type_of_range(const struct mtrr_state *s, uint64_t base, uint64_t size)
{
    unsigned full = 0, partial = 0;
    unsigned n = nvar_of(s);
    uint64_t low = size - 1;
    for (unsigned i = 0; i < n; i++) {
        if (!s->var[i].valid)
            continue;
        uint64_t m = var_mask(s, i);
        if ((base & m & ~low) != (var_base(s, i) & m & ~low))
            continue;                       /* misses the region */
        if ((m & low) == 0)
            full |= TBIT(var_type(s, i));   /* covers all of it */
        else
            partial |= TBIT(var_type(s, i));
    }
    uint8_t def = type_sanitize(s->def_type);
    uint8_t t = combine(full, def);
    if (partial == 0 || (full & TBIT(MT_UC)))
        return t;

    /* Every non-empty subset of the partial type set; sub == 0 is the full-only
     * result t computed above. */
    bool uniform = true;
    for (unsigned sub = partial; sub != 0; sub = (sub - 1) & partial) {
        if (combine(full | sub, def) != t) {
            uniform = false;
            break;
        }
    }
    if (uniform)
        return t;
    if (size <= PAGE_SIZE_4K)   /* not reachable: masks have no bits below 12 */
        return t;

    uint64_t half = size >> 1;
    uint8_t t1 = var_type_of_range(s, base, half);
    if (t1 == MT_MIXED)
        return MT_MIXED;
    uint8_t t2 = var_type_of_range(s, base + half, half);
    return t1 == t2 ? t1 : MT_MIXED;
}

/* ------------------------------------------------------------------ public */

uint8_t mtrr_type_of_page(const struct mtrr_state *s, uint64_t addr)
{
    /* SDM 3A 12.11.2.1: E clear => all of physical memory is UC. */
    if (!s->enabled)
        return MT_UC;
    addr &= PAGE_MASK_4K;
    /* SDM 3A 12.11.4.1: below 1 MiB, enabled fixed ranges take precedence. */
    if (s->fixed_enabled && addr < MTRR_FIXED_END) {
        uint64_t end;
        return type_sanitize(s->fixed[fixed_index(addr, &end)]);
    }
    return var_type_of_page(s, addr);
}

uint8_t mtrr_type_of_range(const struct mtrr_state *s, uint64_t base, uint64_t size)
{
    if (size < PAGE_SIZE_4K || (size & (size - 1)) != 0 || (base & (size - 1)) != 0)
        return MT_MIXED;
    if (base + (size - 1) < base)
        return MT_MIXED;
    if (!s->enabled)
        return MT_UC;

    if (s->fixed_enabled && base < MTRR_FIXED_END) {
        /* Natural alignment: either the region lies inside [0, 1 MiB), or it starts
         * at 0 and is at least 2 MiB. */
        if (base + size <= MTRR_FIXED_END)
            return fixed_range_type(s, base, base + size);
        uint8_t t = fixed_range_type(s, 0, MTRR_FIXED_END);
        if (t == MT_MIXED)
            return MT_MIXED;
        /* [1 MiB, size) is the union of the aligned blocks [2^j, 2^(j+1)). */
        for (uint64_t p = MTRR_FIXED_END; p < size; p <<= 1) {
            if (var_type_of_range(s, p, p) != t)
                return MT_MIXED;
        }
        return t;
    }
    return var_type_of_range(s, base, size);
}

bool mtrr_is_msr(uint32_t msr)
{
    return msr == MSR_IA32_MTRR_DEF_TYPE ||
           (msr >= MSR_IA32_MTRR_PHYSBASE(0) && msr <= MSR_IA32_MTRR_PHYSMASK(MTRR_MAX_VAR / 2 - 1)) ||
           msr == MSR_IA32_MTRR_FIX64K_00000 || msr == MSR_IA32_MTRR_FIX16K_80000 ||
           msr == MSR_IA32_MTRR_FIX16K_A0000 ||
           (msr >= MSR_IA32_MTRR_FIX4K_C0000 && msr <= MSR_IA32_MTRR_FIX4K_C0000 + 7);
}

static bool type_valid(uint64_t t, uint64_t cap)
{
    return t == MT_UC || t == MT_WT || t == MT_WP || t == MT_WB ||
           (t == MT_WC && (cap & MTRRCAP_WC));
}

bool mtrr_value_valid(uint32_t msr, uint64_t value, uint64_t cap, unsigned maxphyaddr)
{
    if (maxphyaddr < 36)
        maxphyaddr = 36;
    if (maxphyaddr > 52)
        maxphyaddr = 52;
    uint64_t above = ~((1ull << maxphyaddr) - 1);
    if (msr == MSR_IA32_MTRR_DEF_TYPE)          /* bits 9:8 and 63:12 reserved */
        return !(value & ~(MTRR_DEF_TYPE_TYPE_MASK | MTRR_DEF_TYPE_FE | MTRR_DEF_TYPE_E)) &&
               type_valid(value & 0xff, cap);
    if (msr >= MSR_IA32_MTRR_PHYSBASE(0) && msr <= MSR_IA32_MTRR_PHYSMASK(MTRR_MAX_VAR / 2 - 1)) {
        if (!(msr & 1))                         /* PHYSBASE: bits 11:8 reserved */
            return !(value & (0xf00ull | above)) && type_valid(value & 0xff, cap);
        return !(value & (0x7ffull | above));   /* PHYSMASK: bits 10:0 reserved */
    }
    for (unsigned k = 0; k < 8; k++)            /* fixed: eight types */
        if (!type_valid((value >> (8 * k)) & 0xff, cap))
            return false;
    return true;
}

unsigned mtrr_slot(uint32_t msr)
{
    if (msr == MSR_IA32_MTRR_DEF_TYPE)
        return 0;
    if (msr >= MSR_IA32_MTRR_PHYSBASE(0) && msr < MSR_IA32_MTRR_PHYSBASE(0) + MTRR_MAX_VAR)
        return 1 + (msr - MSR_IA32_MTRR_PHYSBASE(0));
    if (msr == MSR_IA32_MTRR_FIX64K_00000)
        return 1 + MTRR_MAX_VAR;
    if (msr == MSR_IA32_MTRR_FIX16K_80000 || msr == MSR_IA32_MTRR_FIX16K_A0000)
        return 1 + MTRR_MAX_VAR + 1 + (msr - MSR_IA32_MTRR_FIX16K_80000);
    return 1 + MTRR_MAX_VAR + 3 + (msr - MSR_IA32_MTRR_FIX4K_C0000);
}
