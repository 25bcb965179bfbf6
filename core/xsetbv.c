/* XSETBV checks: SDM 2 XSETBV "Protected Mode Exceptions", SDM 1 13.3. */
#include "core/xsetbv.h"

/* #GP(0) conditions on the value written to XCR0 (SDM 1 13.3). */
static bool xcr0_valid(uint64_t v, uint64_t supported)
{
    if (v & XCR0_RESERVED_BIT63)
        return false;
    if (v & ~supported)                     /* bit reserved for this processor */
        return false;
    if (!(v & XFEATURE_X87))                /* x87 state cannot be disabled */
        return false;
    if ((v & XFEATURE_YMM) && !(v & XFEATURE_SSE))
        return false;                       /* XCR0[2:1] = 10b */
    if ((v & XFEATURE_MPX) && (v & XFEATURE_MPX) != XFEATURE_MPX)
        return false;                       /* XCR0[4:3] neither 00b nor 11b */
    if (v & XFEATURE_AVX512) {
        if ((v & XFEATURE_AVX512) != XFEATURE_AVX512)
            return false;                   /* XCR0[7:5] neither 000b nor 111b */
        if (!(v & XFEATURE_YMM))
            return false;                   /* AVX-512 needs XCR0[2:1] = 11b */
    }
    if ((v & XFEATURE_AMX) && (v & XFEATURE_AMX) != XFEATURE_AMX)
        return false;                       /* XCR0[18:17] neither 00b nor 11b */
    return true;
}

enum xsetbv_result xsetbv_check(uint32_t ecx, uint64_t value, uint64_t xcr0_supported,
                                bool cr4_osxsave, unsigned cpl)
{
    if (!cr4_osxsave)
        return XSETBV_UD;
    if (cpl != 0)
        return XSETBV_GP;
    if (ecx != 0)                           /* only XCR0 exists for XSETBV */
        return XSETBV_GP;
    if (!xcr0_valid(value, xcr0_supported))
        return XSETBV_GP;
    return XSETBV_OK;
}
