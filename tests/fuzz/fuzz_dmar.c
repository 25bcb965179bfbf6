/* libFuzzer target: dmar_parse() on arbitrary bytes, since it reads what
 * the firmware wrote.
 *
 * Input: one mode byte, then the table. Mode bit 0 sets the header's length
 * to the input's, bit 1 fixes the checksum, so that most inputs get past
 * those two checks to the structures. Beyond the sanitizers' checks it
 * asserts what iommu/dma.c relies on: the result is 0 or -1, the message is
 * NUL-terminated and starts with "DMAR", a refused table leaves the result
 * zeroed, and an accepted one has 1..DMAR_MAX_UNITS units with aligned,
 * non-zero, non-overlapping register ranges inside the address width, at
 * most one INCLUDE_PCI_ALL unit per segment, and aligned, ordered,
 * non-overlapping RMRRs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iommu/dmar.h"

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "fuzz_dmar: %s:%d: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                 \
            abort();                                                        \
        }                                                                   \
    } while (0)

static int overlap(uint64_t a, uint64_t an, uint64_t b, uint64_t bn)
{
    return a < b + bn && b < a + an;
}

static void check(const struct dmar_info *d)
{
    CHECK(d->haw >= 32 && d->haw <= 64);
    CHECK(d->nunits >= 1 && d->nunits <= DMAR_MAX_UNITS);
    CHECK(d->nrmrrs <= DMAR_MAX_RMRRS);
    CHECK(d->nentries >= d->nunits + d->nrmrrs + d->natsr + d->nother);
    for (unsigned i = 0; i < d->nunits; i++) {
        const struct dmar_unit *u = &d->unit[i];
        CHECK(u->reg_base && !(u->reg_base & 0xfff) && u->reg_size >= 4096);
        CHECK(u->reg_base + u->reg_size > u->reg_base);
        CHECK(d->haw == 64 || ((u->reg_base + u->reg_size - 1) >> d->haw) == 0);
        for (unsigned j = 0; j < i; j++) {
            CHECK(!overlap(u->reg_base, u->reg_size, d->unit[j].reg_base, d->unit[j].reg_size));
            CHECK(!(d->unit[j].segment == u->segment && (d->unit[j].flags & DMAR_DRHD_INCLUDE_PCI_ALL)));
            CHECK(d->unit[j].entry < u->entry);
        }
        for (unsigned k = 0; k < u->nscopes && k < DMAR_MAX_SCOPES; k++) {
            CHECK(u->scope[k].type >= DMAR_SCOPE_ENDPOINT && u->scope[k].type <= DMAR_SCOPE_ACPI);
            CHECK(u->scope[k].npath >= 1 && u->scope[k].dev < 32 && u->scope[k].fn < 8);
            if (u->flags & DMAR_DRHD_INCLUDE_PCI_ALL)
                CHECK(u->scope[k].type >= DMAR_SCOPE_IOAPIC);
        }
    }
    for (unsigned i = 0; i < d->nrmrrs; i++) {
        const struct dmar_rmrr *r = &d->rmrr[i];
        CHECK(!(r->base & 0xfff) && !(r->end & 0xfff) && r->base < r->end);
        for (unsigned j = 0; j < i; j++)
            CHECK(!overlap(r->base, r->end - r->base, d->rmrr[j].base, d->rmrr[j].end - d->rmrr[j].base));
        for (unsigned k = 0; k < r->nscopes && k < DMAR_MAX_SCOPES; k++)
            CHECK(r->scope[k].type == DMAR_SCOPE_ENDPOINT || r->scope[k].type == DMAR_SCOPE_BRIDGE);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct dmar_info info, zero;
    static uint8_t table[70000];
    char err[DMAR_ERR_LEN];

    if (size < 1 || size - 1 > sizeof(table))
        return 0;
    uint8_t mode = data[0];
    size_t len = size - 1;
    memcpy(table, data + 1, len);
    if ((mode & 1) && len >= 8) {
        table[4] = (uint8_t)len;
        table[5] = (uint8_t)(len >> 8);
        table[6] = (uint8_t)(len >> 16);
        table[7] = 0;
    }
    if ((mode & 2) && len >= 10) {
        size_t n = len;
        uint32_t hdr = (uint32_t)table[4] | (uint32_t)table[5] << 8 | (uint32_t)table[6] << 16 |
                       (uint32_t)table[7] << 24;
        if (hdr < n)
            n = hdr;
        uint8_t s = 0;
        table[9] = 0;
        for (size_t i = 0; i < n; i++)
            s = (uint8_t)(s + table[i]);
        table[9] = (uint8_t)-s;
    }
    memset(&info, 0xa5, sizeof(info));
    memset(err, 'X', sizeof(err));
    int rc = dmar_parse(table, len, &info, err, sizeof(err));
    CHECK(rc == 0 || rc == -1);
    CHECK(memchr(err, '\0', sizeof(err)) != NULL);
    if (rc) {
        CHECK(strncmp(err, "DMAR", 4) == 0);
        CHECK(memcmp(&info, &zero, sizeof(info)) == 0);
        return 0;
    }
    CHECK(err[0] == '\0');
    check(&info);
    return 0;
}
