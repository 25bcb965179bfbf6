/* dmar_unlink (iommu/dmar.h): the DMAR out of an ACPI root table. Apart
 * from the parser so the loader links only this. ACPI 6.5 5.2.7 (RSDT),
 * 5.2.8 (XSDT): a 36-byte header, then 4- or 8-byte table addresses. */
#include "iommu/dmar.h"

static uint64_t rd(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

int dmar_unlink(void *root, unsigned entry_size)
{
    uint8_t *r = root;
    uint32_t len = (uint32_t)rd(r + 4, 4);
    if (len < 36 || (entry_size != 4 && entry_size != 8))
        return -1;
    uint32_t n = (len - 36) / entry_size, kept = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *e = r + 36 + i * entry_size;
        uint64_t a = rd(e, entry_size);
        uint8_t *t = (uint8_t *)(uintptr_t)a;
        if (a && t[0] == 'D' && t[1] == 'M' && t[2] == 'A' && t[3] == 'R') {
            /* Renamed too, checksum kept: firmware that rebuilds the root
             * table from its own list (a later InstallAcpiTable) cannot
             * bring a "DMAR" back. */
            static const uint8_t hidden[4] = { 'L', 'D', 'M', 'R' };
            int delta = 0;
            for (unsigned k = 0; k < 4; k++) {
                delta += hidden[k] - t[k];
                t[k] = hidden[k];
            }
            t[9] = (uint8_t)(t[9] - delta);
            continue;
        }
        for (unsigned k = 0; k < entry_size; k++)
            r[36 + kept * entry_size + k] = e[k];
        kept++;
    }
    if (kept == n)
        return 0;
    for (uint32_t i = 36 + kept * entry_size; i < 36 + n * entry_size; i++)
        r[i] = 0;
    len -= (n - kept) * entry_size;
    r[4] = (uint8_t)len;
    r[5] = (uint8_t)(len >> 8);
    r[6] = (uint8_t)(len >> 16);
    r[7] = (uint8_t)(len >> 24);
    uint8_t sum = 0;
    r[9] = 0;
    for (uint32_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + r[i]);
    r[9] = (uint8_t)-sum;
    return (int)(n - kept);
}
