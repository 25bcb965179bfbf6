/* See core/tsc.h. */
#include "core/tsc.h"

void tsc_virt_write_tsc(struct tsc_virt *t, uint64_t v, uint64_t now)
{
    uint64_t offset = v - now;
    t->adjust += offset - t->offset;
    t->offset = offset;
}

void tsc_virt_write_adjust(struct tsc_virt *t, uint64_t v)
{
    t->offset += v - t->adjust;
    t->adjust = v;
}
