/* Checks for guest writes of VMCS-held MSRs: see core/guest_msr.h. */
#include "core/guest_msr.h"

#define EFER_SCE (1ull << 0)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

enum guest_msr guest_msr_kind(uint32_t msr)
{
    switch (msr) {
    case 0x174: return GMSR_SYSENTER_CS;
    case 0x175: return GMSR_SYSENTER_ESP;
    case 0x176: return GMSR_SYSENTER_EIP;
    case 0x1d9: return GMSR_DEBUGCTL;
    case 0x277: return GMSR_PAT;
    case 0xc0000080: return GMSR_EFER;
    case 0xc0000081: return GMSR_STAR;
    case 0xc0000082: return GMSR_LSTAR;
    case 0xc0000083: return GMSR_CSTAR;
    case 0xc0000084: return GMSR_SFMASK;
    case 0xc0000100: return GMSR_FS_BASE;
    case 0xc0000101: return GMSR_GS_BASE;
    case 0xc0000102: return GMSR_KERNEL_GS_BASE;
    default: return GMSR_NONE;
    }
}

static bool canonical(uint64_t v, bool la57)
{
    unsigned bits = la57 ? 57 : 48;
    int64_t s = (int64_t)(v << (64 - bits)) >> (64 - bits);
    return (uint64_t)s == v;
}

/* SDM 3A 12.12.2: types 0 (UC), 1 (WC), 4 (WT), 5 (WP), 6 (WB), 7 (UC-);
 * 2, 3 and bits 7:3 of each entry are reserved. */
static bool pat_valid(uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        uint8_t t = (uint8_t)(v >> (8 * i));
        if (t > 7 || t == 2 || t == 3)
            return false;
    }
    return true;
}

int guest_msr_write_value(enum guest_msr kind, uint64_t v, const struct guest_msr_env *env,
                          uint64_t *store)
{
    switch (kind) {
    case GMSR_SYSENTER_CS:
        *store = (uint32_t)v;
        return 0;
    case GMSR_SYSENTER_ESP:
    case GMSR_SYSENTER_EIP:
    case GMSR_FS_BASE:
    case GMSR_GS_BASE:
    case GMSR_KERNEL_GS_BASE:
    case GMSR_LSTAR:
    case GMSR_CSTAR:
        if (!canonical(v, env->la57))
            return -1;
        *store = v;
        return 0;
    case GMSR_PAT:
        if (!pat_valid(v))
            return -1;
        *store = v;
        return 0;
    case GMSR_EFER: {
        uint64_t allowed = EFER_SCE | EFER_LME | EFER_LMA | (env->nx ? EFER_NXE : 0);
        if (v & ~allowed)
            return -1;
        if (env->paging && ((v ^ env->efer) & EFER_LME))
            return -1;
        *store = (v & ~EFER_LMA) | (env->efer & EFER_LMA);
        return 0;
    }
    case GMSR_STAR:
    case GMSR_DEBUGCTL:
        *store = v;
        return 0;
    case GMSR_SFMASK:
        if (v >> 32)
            return -1;
        *store = v;
        return 0;
    default:
        return -1;
    }
}
