/* Policy lookup: see core/policy.h. Pure C, no libc. */
#include "core/policy.h"

/* Narrower range first; at equal width a one-direction rule before rw. */
static bool more_specific(const struct policy_rule *a, const struct policy_rule *b)
{
    uint32_t wa = a->last - a->first, wb = b->last - b->first;
    if (wa != wb)
        return wa < wb;
    return a->dir != POLICY_RW && b->dir == POLICY_RW;
}

const struct policy_rule *policy_lookup(const struct lamina_policy *p, enum policy_space space,
                                        uint32_t index, unsigned dir)
{
    const struct policy_rule *best = 0;
    for (uint32_t i = 0; i < p->nrules && i < POLICY_MAX_RULES; i++) {
        const struct policy_rule *r = &p->rule[i];
        if (r->space != space || index < r->first || index > r->last || !(r->dir & dir))
            continue;
        if (!best || more_specific(r, best))
            best = r;
    }
    return best;
}

const struct policy_rule *policy_lookup_io(const struct lamina_policy *p, uint16_t port,
                                           unsigned size, unsigned dir)
{
    const struct policy_rule *worst = 0;
    for (uint32_t i = 0; i < size && port + i <= 0xffff; i++) {
        const struct policy_rule *r = policy_lookup(p, POLICY_IO, port + i, dir);
        if (r && (!worst || r->action > worst->action))
            worst = r;
    }
    return worst;
}

bool policy_msr_coverable(uint32_t msr)
{
    return msr <= 0x1fff || (msr >= 0xc0000000u && msr <= 0xc0001fffu);
}

int policy_lock_slot(const struct lamina_policy *p, uint32_t msr)
{
    for (uint32_t i = 0; i < p->nlocks && i < POLICY_MAX_LOCKS; i++)
        if (p->lock_msr[i] == msr)
            return (int)i;
    return -1;
}

/* See core/policy.h. Intel PT's state (XSS bit 8, 0x560-0x587) is not here:
 * PT is hidden, RTIT_CTL writes raise #GP and IA32_XSS writes with bit 8 too
 * (core/msr.c), so XRSTORS cannot load it. */
static const struct { uint32_t first, last; const char *why; } bypassed[] = {
    { 0x6a0, 0x6a0, "XRSTORS loads it (CET user state, IA32_XSS bit 11)" },
    { 0x6a4, 0x6a6, "XRSTORS loads it (CET supervisor state, IA32_XSS bit 12)" },
    { 0x6a7, 0x6a7, "XRSTORS loads it (CET user state, IA32_XSS bit 11)" },
    { 0x774, 0x774, "XRSTORS loads it (HWP state, IA32_XSS bit 16)" },
    { 0x985, 0x98a, "XRSTORS loads it (user interrupt state, IA32_XSS bit 14)" },
    { 0xd93, 0xd93, "XRSTORS loads it (PASID state, IA32_XSS bit 10)" },
    { 0xdb0, 0xdb0, "XRSTORS loads it (HDC state, IA32_XSS bit 13)" },
    { 0x1200, 0x121f, "XRSTORS loads it (architectural LBR state, IA32_XSS bit 15)" },
    { 0x14ce, 0x14cf, "XRSTORS loads it (architectural LBR state, IA32_XSS bit 15)" },
    { 0x1500, 0x151f, "XRSTORS loads it (architectural LBR state, IA32_XSS bit 15)" },
    { 0x1600, 0x161f, "XRSTORS loads it (architectural LBR state, IA32_XSS bit 15)" },
    { 0xc0000100, 0xc0000100, "WRFSBASE writes it without an exit" },
    { 0xc0000101, 0xc0000101, "WRGSBASE and SWAPGS write it without an exit" },
    { 0xc0000102, 0xc0000102, "SWAPGS writes it without an exit" },
};

const char *policy_msr_bypassed(uint32_t first, uint32_t last, uint32_t *msr)
{
    for (unsigned i = 0; i < sizeof(bypassed) / sizeof(bypassed[0]); i++)
        if (first <= bypassed[i].last && last >= bypassed[i].first) {
            *msr = first > bypassed[i].first ? first : bypassed[i].first;
            return bypassed[i].why;
        }
    return 0;
}
