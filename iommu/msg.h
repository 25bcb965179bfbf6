/* A bounded message builder for iommu/: no libc, so the parser and the unit
 * code can be linked into the monitor, the loader, a test EFI program and
 * host tests alike. Characters that do not fit are dropped; the buffer
 * stays NUL-terminated. */
#ifndef LAMINA_IOMMU_MSG_H
#define LAMINA_IOMMU_MSG_H

#include <stddef.h>
#include <stdint.h>

struct msg {
    char *buf;
    size_t cap;
    size_t len;
};

void msg_init(struct msg *m, char *buf, size_t cap);   /* empty string */
void msg_str(struct msg *m, const char *s);
void msg_dec(struct msg *m, uint64_t v);
void msg_hex(struct msg *m, uint64_t v);                /* 0x-hex, lower case */

#endif
