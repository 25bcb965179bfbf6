/* Unit tests for SHA-256 (efi/sha256.c): the FIPS 180-4 / NIST CAVP example
 * vectors, padding boundaries, chunk-size independence of the streaming API
 * and the hex form. Expected digests not from the standard were computed
 * with Python's hashlib. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "efi/sha256.h"

/* Hex of the digest of the len bytes at msg, one shot (from a heap copy, so
 * ASan sees any read past the end). */
static void hex_of(const void *msg, size_t len, char hex[SHA256_HEX_LEN + 1])
{
    uint8_t d[SHA256_DIGEST_LEN];
    uint8_t *copy = malloc(len ? len : 1);

    assert_non_null(copy);
    if (len)
        memcpy(copy, msg, len);
    sha256_digest(copy, len, d);
    free(copy);
    sha256_to_hex(d, hex);
}

static void assert_sha256(const char *msg, const char *expected)
{
    char hex[SHA256_HEX_LEN + 1];

    hex_of(msg, strlen(msg), hex);
    assert_string_equal(hex, expected);
}

/* xorshift32: reproducible "random" bytes (the top byte of each state). */
static void fill_random(uint8_t *buf, size_t len, uint32_t seed)
{
    uint32_t x = seed;
    size_t i;

    for (i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (uint8_t)(x >> 24);
    }
}

/* Digest of buf fed to sha256_update in pieces of chunk bytes (the last
 * piece shorter), each piece from its own heap copy. */
static void digest_chunked(const uint8_t *buf, size_t len, size_t chunk,
                           uint8_t d[SHA256_DIGEST_LEN])
{
    struct sha256_ctx c;
    size_t off;

    sha256_init(&c);
    for (off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        uint8_t *piece = malloc(n);

        assert_non_null(piece);
        memcpy(piece, buf + off, n);
        sha256_update(&c, piece, n);
        free(piece);
    }
    sha256_final(&c, d);
}

/* ------------------------------------------------- FIPS 180-4 vectors */

static void test_abc(void **state)
{
    (void)state;
    /* One block. */
    assert_sha256("abc",
                  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_empty(void **state)
{
    char hex[SHA256_HEX_LEN + 1];
    uint8_t d[SHA256_DIGEST_LEN];
    struct sha256_ctx c;

    (void)state;
    assert_sha256("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* NULL with length 0, and a context that never saw an update. */
    sha256_digest(NULL, 0, d);
    sha256_to_hex(d, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256_init(&c);
    sha256_update(&c, NULL, 0);
    sha256_final(&c, d);
    sha256_to_hex(d, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_448_bits(void **state)
{
    (void)state;
    /* 56 bytes: the padding's length field no longer fits, two blocks. */
    assert_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_896_bits(void **state)
{
    (void)state;
    assert_sha256("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
                  "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
                  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_million_a(void **state)
{
    static const char expected[] =
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    /* Odd sizes that straddle block boundaries in every way. */
    static const size_t sizes[] = { 1, 3, 7, 61, 64, 65, 127, 1000, 4099 };
    char hex[SHA256_HEX_LEN + 1];
    uint8_t d[SHA256_DIGEST_LEN];
    uint8_t *a = malloc(1000000);
    struct sha256_ctx c;
    size_t done = 0, k = 0;

    (void)state;
    assert_non_null(a);
    memset(a, 'a', 1000000);

    sha256_init(&c);
    while (done < 1000000) {
        size_t n = sizes[k++ % (sizeof(sizes) / sizeof(sizes[0]))];

        if (n > 1000000 - done)
            n = 1000000 - done;
        sha256_update(&c, a + done, n);
        done += n;
    }
    sha256_final(&c, d);
    sha256_to_hex(d, hex);
    assert_string_equal(hex, expected);

    /* The same in one call. */
    sha256_digest(a, 1000000, d);
    sha256_to_hex(d, hex);
    assert_string_equal(hex, expected);
    free(a);
}

/* ---------------------------------------------------------- structure */

/* Every length 0..200 (the padding cases: 55, 56, 63, 64, 119, 120, ...):
 * the digest of the 201 digests, concatenated. */
static void test_every_length_to_200(void **state)
{
    uint8_t pat[200];
    uint8_t all[201 * SHA256_DIGEST_LEN];
    char hex[SHA256_HEX_LEN + 1];
    size_t n;

    (void)state;
    for (n = 0; n < sizeof(pat); n++)
        pat[n] = (uint8_t)(n * 7 + 3);
    for (n = 0; n <= 200; n++) {
        uint8_t *copy = malloc(n ? n : 1);

        assert_non_null(copy);
        memcpy(copy, pat, n);
        sha256_digest(copy, n, all + n * SHA256_DIGEST_LEN);
        free(copy);
    }
    hex_of(all, sizeof(all), hex);
    assert_string_equal(hex, "3275febb4612d86d586eb9f11cd21e648a9fc7d95e0f6b8d362786e28c9c5b79");
}

static void test_chunk_size_independence(void **state)
{
    static const size_t chunks[] = { 1, 63, 64, 65, 4096, 100003 };
    const size_t len = 100003;
    uint8_t *buf = malloc(len);
    uint8_t one[SHA256_DIGEST_LEN], d[SHA256_DIGEST_LEN];
    char hex[SHA256_HEX_LEN + 1];
    size_t i;

    (void)state;
    assert_non_null(buf);
    fill_random(buf, len, 0x12345678);
    sha256_digest(buf, len, one);
    sha256_to_hex(one, hex);
    assert_string_equal(hex, "8049cebf1fbfd5a047fb75728e8338ab14775bcc08cce9bc7bbf931015e04e4f");

    for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        digest_chunked(buf, len, chunks[i], d);
        if (memcmp(d, one, sizeof(d)) != 0)
            fail_msg("chunks of %zu bytes give a different digest", chunks[i]);
    }

    /* Mixed sizes, zero-length updates in between. */
    {
        struct sha256_ctx c;
        size_t off = 0, k = 0;

        sha256_init(&c);
        while (off < len) {
            size_t n = (k++ * 37) % 200;

            if (n > len - off)
                n = len - off;
            sha256_update(&c, buf + off, n);
            off += n;
        }
        sha256_final(&c, d);
        assert_memory_equal(d, one, sizeof(d));
    }
    free(buf);
}

/* sha256_final leaves the context ready for the next message. */
static void test_context_reuse(void **state)
{
    struct sha256_ctx c;
    uint8_t d[SHA256_DIGEST_LEN];
    char hex[SHA256_HEX_LEN + 1];

    (void)state;
    sha256_init(&c);
    sha256_update(&c, "not this one", 12);
    sha256_final(&c, d);
    sha256_update(&c, "ab", 2);
    sha256_update(&c, "c", 1);
    sha256_final(&c, d);
    sha256_to_hex(d, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* Flipping any one bit of a message changes the digest: every bit of a
 * 130-byte message (three blocks once padded), checked against the
 * original; and one known value. */
static void test_one_bit_change(void **state)
{
    uint8_t msg[130];
    uint8_t orig[SHA256_DIGEST_LEN], d[SHA256_DIGEST_LEN];
    char hex[SHA256_HEX_LEN + 1];
    size_t bit;

    (void)state;
    fill_random(msg, sizeof(msg), 0xdeadbeef);
    sha256_digest(msg, sizeof(msg), orig);
    for (bit = 0; bit < 8 * sizeof(msg); bit++) {
        msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        sha256_digest(msg, sizeof(msg), d);
        msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (memcmp(d, orig, sizeof(d)) == 0)
            fail_msg("flipping bit %zu does not change the digest", bit);
    }
    /* Restored: the original digest again. */
    sha256_digest(msg, sizeof(msg), d);
    assert_memory_equal(d, orig, sizeof(d));

    /* "abc" with its last bit flipped is "abb". */
    assert_sha256("abb", "715edf8ba8729420cd4d1ce85ed61954a9f531f8c548df728c407effe839296d");
    /* A message and the same message one zero byte longer differ (the
     * length is part of the padding). */
    hex_of("abc\0", 4, hex);
    assert_string_not_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_to_hex(void **state)
{
    uint8_t d[SHA256_DIGEST_LEN];
    char hex[SHA256_HEX_LEN + 2];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(d); i++)
        d[i] = (uint8_t)(i * 0x11 + 0x0f);
    memset(hex, 'X', sizeof(hex));
    sha256_to_hex(d, hex);
    assert_string_equal(hex, "0f2031425364758697a8b9cadbecfd0e1f30415263748596a7b8c9daebfc0d1e");
    assert_int_equal(hex[SHA256_HEX_LEN + 1], 'X');     /* nothing past the NUL */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abc),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_448_bits),
        cmocka_unit_test(test_896_bits),
        cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_every_length_to_200),
        cmocka_unit_test(test_chunk_size_independence),
        cmocka_unit_test(test_context_reuse),
        cmocka_unit_test(test_one_bit_change),
        cmocka_unit_test(test_to_hex),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
