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
