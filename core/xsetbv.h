/* Validating a guest's XSETBV before the monitor executes it on the guest's behalf
 * (XSETBV exits unconditionally, SDM 3C 26.1.2). Rules: SDM 2 XSETBV, SDM 1 13.3. */
#ifndef LAMINA_XSETBV_H
#define LAMINA_XSETBV_H

#include <stdint.h>
#include <stdbool.h>

/* XCR0 state components, SDM 1 13.1 */
#define XFEATURE_X87          (1ull << 0)
#define XFEATURE_SSE          (1ull << 1)
#define XFEATURE_YMM          (1ull << 2)      /* AVX */
#define XFEATURE_BNDREGS      (1ull << 3)      /* MPX */
#define XFEATURE_BNDCSR       (1ull << 4)      /* MPX */
#define XFEATURE_OPMASK       (1ull << 5)      /* AVX-512 */
#define XFEATURE_ZMM_HI256    (1ull << 6)      /* AVX-512 */
#define XFEATURE_HI16_ZMM     (1ull << 7)      /* AVX-512 */
#define XFEATURE_PKRU         (1ull << 9)
#define XFEATURE_XTILECFG     (1ull << 17)     /* AMX */
#define XFEATURE_XTILEDATA    (1ull << 18)     /* AMX */
#define XFEATURE_MPX          (XFEATURE_BNDREGS | XFEATURE_BNDCSR)
#define XFEATURE_AVX512       (XFEATURE_OPMASK | XFEATURE_ZMM_HI256 | XFEATURE_HI16_ZMM)
#define XFEATURE_AMX          (XFEATURE_XTILECFG | XFEATURE_XTILEDATA)
#define XCR0_RESERVED_BIT63   (1ull << 63)     /* reserved for XCR bit-vector expansion */

enum xsetbv_result {
    XSETBV_OK = 0,      /* execute it: XCR[ecx] = value */
    XSETBV_GP,          /* inject #GP(0) */
    XSETBV_UD,          /* inject #UD */
};

/* Decide what the guest's XSETBV does.
 *   ecx            the guest's ECX (RCX bits 63:32 are ignored by the instruction)
 *   value          EDX:EAX
 *   xcr0_supported CPUID.(EAX=0DH,ECX=0):EDX:EAX, the XCR0 bits that may be 1
 *   cr4_osxsave    the guest's CR4.OSXSAVE (0 also covers CPUID.1:ECX.XSAVE = 0,
 *                  since CR4.OSXSAVE cannot be set without XSAVE)
 *   cpl            the guest's CPL (SS.DPL; 0 in real mode, 3 in virtual-8086 mode)
 * Checks, in the processor's priority order: #UD (CR4.OSXSAVE = 0) before the #GP(0)
 * cases: CPL != 0; ECX != 0 (only XCR0 is writable); bit 63 or any bit not in
 * xcr0_supported; bit 0 (x87) clear; bit 2 (AVX) set with bit 1 (SSE) clear; bits 4:3
 * (MPX) unequal; bits 7:5 (AVX-512) neither 000b nor 111b, or nonzero without bits 2:1
 * = 11b; bits 18:17 (AMX) unequal. */
enum xsetbv_result xsetbv_check(uint32_t ecx, uint64_t value, uint64_t xcr0_supported,
                                bool cr4_osxsave, unsigned cpl);

#endif
