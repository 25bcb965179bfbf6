/* SHA-256 (FIPS 180-4, section 6.2).
 *
 * Pure C: no libc and no UEFI, so the same file is linked into the loader
 * (which measures the guest image before starting it) and host-compiled for
 * the unit tests (tests/unit/test_sha256.c).
 *
 * Streaming use:  sha256_init(&c); sha256_update(&c, p, n)...; sha256_final(&c, d);
 * One shot:       sha256_digest(p, n, d);
 */
#ifndef LAMINA_EFI_SHA256_H
#define LAMINA_EFI_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32    /* bytes */
#define SHA256_BLOCK_LEN  64    /* bytes per message block */
#define SHA256_HEX_LEN    64    /* hex digits of a digest, without the NUL */

struct sha256_ctx {
    uint32_t h[8];                      /* intermediate hash value H(i) */
    uint64_t total;                     /* message bytes so far */
    uint8_t block[SHA256_BLOCK_LEN];    /* a partial block waiting for more data */
    size_t fill;                        /* bytes in block, 0..63 */
};

void sha256_init(struct sha256_ctx *c);
/* Any number of calls, any lengths (0 included; data may be NULL if len is 0). */
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);
/* Pads, writes the digest and leaves c initialized for a new message. */
void sha256_final(struct sha256_ctx *c, uint8_t digest[SHA256_DIGEST_LEN]);

void sha256_digest(const void *data, size_t len, uint8_t digest[SHA256_DIGEST_LEN]);

/* Lower-case hex, NUL-terminated: hex must hold SHA256_HEX_LEN + 1 bytes. */
void sha256_to_hex(const uint8_t digest[SHA256_DIGEST_LEN], char hex[SHA256_HEX_LEN + 1]);

#endif /* LAMINA_EFI_SHA256_H */
