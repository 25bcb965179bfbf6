/* Unit tests for the lamina.conf parser (efi/config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/bootinfo.h"
#include "efi/config.h"

#define ERRLEN 256

static char err[ERRLEN];
static struct lamina_config cfg;

/* Parse n bytes (a heap copy, so ASan sees any read past the end). */
static int parse_n(const char *text, size_t n)
{
    char *copy = malloc(n ? n : 1);
    int rc;

    assert_non_null(copy);
    memcpy(copy, text, n);
    memset(err, 'X', sizeof(err));
    memset(&cfg, 0xa5, sizeof(cfg));
    rc = config_parse(copy, n, &cfg, err, sizeof(err));
    free(copy);
    return rc;
}

/* Every byte zero but event_level, which is info. */
static void assert_policy_defaults(const struct lamina_policy *pol)
{
    struct lamina_policy want;

    memset(&want, 0, sizeof(want));
    want.event_level = 2;
    assert_int_equal(pol->nrules, 0);
    assert_int_equal(pol->nlocks, 0);
    assert_int_equal(pol->stealth, 0);
    assert_int_equal(pol->serial_exclusive, 0);
    assert_int_equal(pol->hypercall_user, 0);
    assert_int_equal(pol->event_level, 2);
    assert_memory_equal(pol, &want, sizeof(want));
}

static void assert_defaults(const struct lamina_config *c)
{
    size_t i;

    for (i = 0; i < sizeof(c->guest); i++)
        assert_int_equal(c->guest[i], 0);
    for (i = 0; i < sizeof(c->options); i++)
        assert_int_equal(c->options[i], 0);
    assert_int_equal(c->serial_port, 0x3f8);
    assert_int_equal(c->on_error, ON_ERROR_BOOT);
    assert_int_equal(c->log_level, CONFIG_LOG_INFO);
    assert_false(c->has_options);
    assert_false(c->has_guest_sha256);
    for (i = 0; i < sizeof(c->guest_sha256); i++)
        assert_int_equal(c->guest_sha256[i], 0);
    assert_int_equal(c->dma_protection, LAMINA_DMA_AUTO);
    assert_policy_defaults(&c->policy);
}

static void ok_n(const char *text, size_t n)
{
    int rc = parse_n(text, n);

    if (rc != 0)
        fail_msg("unexpected error: %s", err);
    assert_string_equal(err, "");
}

static void ok(const char *text)
{
    ok_n(text, strlen(text));
}

/* The parse must fail with exactly msg and leave the defaults behind. */
static void bad_n(const char *text, size_t n, const char *msg)
{
    assert_int_equal(parse_n(text, n), -1);
    assert_string_equal(err, msg);
    assert_defaults(&cfg);
}

static void bad(const char *text, const char *msg)
{
    bad_n(text, strlen(text), msg);
}

/* "key " followed by n copies of ch, NUL-terminated, into buf. */
static char *make_value_line(char *buf, const char *key, const char *prefix,
                             char ch, size_t n)
{
    size_t k = strlen(key), p = strlen(prefix);

    memcpy(buf, key, k);
    buf[k] = ' ';
    memcpy(buf + k + 1, prefix, p);
    memset(buf + k + 1 + p, ch, n);
    buf[k + 1 + p + n] = '\0';
    return buf;
}

/* ------------------------------------------------------------ defaults */

static void test_defaults(void **state)
{
    (void)state;
    memset(&cfg, 0x5a, sizeof(cfg));
    config_defaults(&cfg);
    assert_defaults(&cfg);
}

static void test_guest_only_gives_defaults(void **state)
{
    (void)state;
    ok("guest \\EFI\\debian\\grubx64.efi\n");
    assert_string_equal(cfg.guest, "\\EFI\\debian\\grubx64.efi");
    assert_string_equal(cfg.options, "");
    assert_false(cfg.has_options);
    assert_int_equal(cfg.serial_port, 0x3f8);
    assert_int_equal(cfg.on_error, ON_ERROR_BOOT);
    assert_int_equal(cfg.log_level, CONFIG_LOG_INFO);
    assert_false(cfg.has_guest_sha256);
}

static void test_all_keys(void **state)
{
    (void)state;
    ok("guest    \\EFI\\debian\\grubx64.efi     # path on the same volume, required\n"
       "options  console=ttyS0               # LoadOptions handed to the guest\n"
       "serial   0x2f8                       # monitor log port\n"
       "on-error halt                        # boot | halt\n"
       "log-level debug                      # error | warn | info | debug\n");
    assert_string_equal(cfg.guest, "\\EFI\\debian\\grubx64.efi");
    assert_string_equal(cfg.options, "console=ttyS0");
    assert_true(cfg.has_options);
    assert_int_equal(cfg.serial_port, 0x2f8);
    assert_int_equal(cfg.on_error, ON_ERROR_HALT);
    assert_int_equal(cfg.log_level, CONFIG_LOG_DEBUG);
}

static void test_key_order_free(void **state)
{
    (void)state;
    ok("log-level warn\non-error boot\nserial none\noptions x\nguest \\a.efi\n");
    assert_string_equal(cfg.guest, "\\a.efi");
    assert_string_equal(cfg.options, "x");
    assert_int_equal(cfg.serial_port, 0);
    assert_int_equal(cfg.on_error, ON_ERROR_BOOT);
    assert_int_equal(cfg.log_level, CONFIG_LOG_WARN);
}

static void test_parse_starts_from_defaults(void **state)
{
    (void)state;
    ok("guest \\a.efi\noptions quiet\nserial none\non-error halt\nlog-level error\n"
       "guest-sha256 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n");
    assert_true(cfg.has_guest_sha256);
    /* Same struct again: nothing from the first file may survive. */
    assert_int_equal(config_parse("guest \\b.efi\n", 13, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg.guest, "\\b.efi");
    assert_string_equal(cfg.options, "");
    assert_false(cfg.has_options);
    assert_int_equal(cfg.serial_port, 0x3f8);
    assert_int_equal(cfg.on_error, ON_ERROR_BOOT);
    assert_int_equal(cfg.log_level, CONFIG_LOG_INFO);
    assert_false(cfg.has_guest_sha256);
    assert_int_equal(cfg.guest_sha256[0], 0);
    assert_int_equal(cfg.guest_sha256[31], 0);
}

/* ----------------------------------------------------------- each key */

static void test_options_keeps_inner_spaces(void **state)
{
    (void)state;
    ok("guest \\a.efi\noptions   root=/dev/sda1  ro   quiet   # comment\n");
    assert_string_equal(cfg.options, "root=/dev/sda1  ro   quiet");
    assert_true(cfg.has_options);

    ok("guest \\a.efi\noptions a=\"b c\" 'd'\n");
    assert_string_equal(cfg.options, "a=\"b c\" 'd'");
}

static void test_serial_values(void **state)
{
    static const struct { const char *v; uint16_t port; } cases[] = {
        { "0x3f8", 0x3f8 }, { "0X2F8", 0x2f8 }, { "0x3E8", 0x3e8 },
        { "1016", 0x3f8 }, { "1", 1 }, { "0x1", 1 }, { "0x0001", 1 },
        { "0xFFF8", 0xfff8 }, { "0xfff8", 0xfff8 }, { "65528", 0xfff8 },
        { "00760", 760 }, { "none", 0 },
    };
    char line[64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(line, sizeof(line), "guest \\a.efi\nserial %s\n", cases[i].v);
        ok(line);
        assert_int_equal(cfg.serial_port, cases[i].port);
    }
}

static void test_serial_errors(void **state)
{
    (void)state;
    bad("guest \\a.efi\nserial 0xFFF9\n",
        "lamina.conf:2: serial port '0xFFF9' out of range (1..0xfff8, or none)");
    bad("guest \\a.efi\nserial 65529\n",
        "lamina.conf:2: serial port '65529' out of range (1..0xfff8, or none)");
    bad("guest \\a.efi\nserial 0x10000\n",
        "lamina.conf:2: serial port '0x10000' out of range (1..0xfff8, or none)");
    bad("guest \\a.efi\nserial 65536\n",
        "lamina.conf:2: serial port '65536' out of range (1..0xfff8, or none)");
    bad("guest \\a.efi\nserial 99999999999999999999\n",
        "lamina.conf:2: serial port '99999999999999999999' out of range (1..0xfff8, or none)");
    /* 2^32 + 0x3f8 and 2^64 + 0x3f8 must not wrap around to a valid port. */
    bad("guest \\a.efi\nserial 0x1000003f8\n",
        "lamina.conf:2: serial port '0x1000003f8' out of range (1..0xfff8, or none)");
    bad("guest \\a.efi\nserial 0x100000000000003f8\n",
        "lamina.conf:2: serial port '0x100000000000003f8' out of range (1..0xfff8, or none)");
    bad("guest \\a.efi\nserial 4294968312\n",
        "lamina.conf:2: serial port '4294968312' out of range (1..0xfff8, or none)");
    bad("guest \\a.efi\nserial 0\n",
        "lamina.conf:2: serial port '0' out of range (1..0xfff8, or none)");
    bad("guest \\a.efi\nserial 0x0\n",
        "lamina.conf:2: serial port '0x0' out of range (1..0xfff8, or none)");

    bad("guest \\a.efi\nserial 0x\n",
        "lamina.conf:2: bad serial port '0x' (expected 0x-hex, decimal or none)");
    bad("guest \\a.efi\nserial 3f8\n",
        "lamina.conf:2: bad serial port '3f8' (expected 0x-hex, decimal or none)");
    bad("guest \\a.efi\nserial 0x3g8\n",
        "lamina.conf:2: bad serial port '0x3g8' (expected 0x-hex, decimal or none)");
    bad("guest \\a.efi\nserial -1\n",
        "lamina.conf:2: bad serial port '-1' (expected 0x-hex, decimal or none)");
    bad("guest \\a.efi\nserial +1016\n",
        "lamina.conf:2: bad serial port '+1016' (expected 0x-hex, decimal or none)");
    bad("guest \\a.efi\nserial com1\n",
        "lamina.conf:2: bad serial port 'com1' (expected 0x-hex, decimal or none)");
    bad("guest \\a.efi\nserial None\n",
        "lamina.conf:2: bad serial port 'None' (expected 0x-hex, decimal or none)");
    bad("guest \\a.efi\nserial 0x3f8 0x2f8\n",
        "lamina.conf:2: bad serial port '0x3f8 0x2f8' (expected 0x-hex, decimal or none)");
    /* Bad syntax wins over range, even past the saturation point. */
    bad("guest \\a.efi\nserial 99999999999999999999z\n",
        "lamina.conf:2: bad serial port '99999999999999999999z' (expected 0x-hex, decimal or none)");
}

static void test_on_error(void **state)
{
    (void)state;
    ok("guest \\a.efi\non-error halt\n");
    assert_int_equal(cfg.on_error, ON_ERROR_HALT);
    ok("guest \\a.efi\non-error boot\n");
    assert_int_equal(cfg.on_error, ON_ERROR_BOOT);

    bad("guest \\a.efi\non-error reboot\n",
        "lamina.conf:2: bad value 'reboot' for 'on-error' (expected boot or halt)");
    bad("guest \\a.efi\non-error Halt\n",
        "lamina.conf:2: bad value 'Halt' for 'on-error' (expected boot or halt)");
    bad("guest \\a.efi\non-error halt now\n",
        "lamina.conf:2: bad value 'halt now' for 'on-error' (expected boot or halt)");
    bad("guest \\a.efi\non-error hal\n",
        "lamina.conf:2: bad value 'hal' for 'on-error' (expected boot or halt)");
    bad("guest \\a.efi\non-error halted\n",
        "lamina.conf:2: bad value 'halted' for 'on-error' (expected boot or halt)");
}

/* M8: dma-protection auto | required | off, stored as enum lamina_dma_mode. */
static void test_dma_protection(void **state)
{
    (void)state;
    ok("guest \\a.efi\n");
    assert_int_equal(cfg.dma_protection, LAMINA_DMA_AUTO);
    ok("guest \\a.efi\ndma-protection required\n");
    assert_int_equal(cfg.dma_protection, LAMINA_DMA_REQUIRED);
    ok("guest \\a.efi\ndma-protection off   # the OS keeps its IOMMU\n");
    assert_int_equal(cfg.dma_protection, LAMINA_DMA_OFF);
    ok("dma-protection auto\nguest \\a.efi\n");
    assert_int_equal(cfg.dma_protection, LAMINA_DMA_AUTO);

    bad("guest \\a.efi\ndma-protection on\n",
        "lamina.conf:2: bad value 'on' for 'dma-protection' (expected auto, required or off)");
    bad("guest \\a.efi\ndma-protection Required\n",
        "lamina.conf:2: bad value 'Required' for 'dma-protection' (expected auto, required or off)");
    bad("guest \\a.efi\ndma-protection\n", "lamina.conf:2: missing value for 'dma-protection'");
    bad("guest \\a.efi\ndma-protection off\ndma-protection auto\n",
        "lamina.conf:3: duplicate key 'dma-protection' (first set on line 2)");
}

static void test_log_level(void **state)
{
    static const char *names[] = { "error", "warn", "info", "debug" };
    char line[64];
    size_t i;

    (void)state;
    for (i = 0; i < 4; i++) {
        snprintf(line, sizeof(line), "guest \\a.efi\nlog-level %s\n", names[i]);
        ok(line);
        assert_int_equal(cfg.log_level, i);
    }
    bad("guest \\a.efi\nlog-level verbose\n",
        "lamina.conf:2: bad value 'verbose' for 'log-level' (expected error, warn, info or debug)");
    bad("guest \\a.efi\nlog-level 3\n",
        "lamina.conf:2: bad value '3' for 'log-level' (expected error, warn, info or debug)");
}

/* --------------------------------------------------------- guest path */

static void test_guest_slashes(void **state)
{
    (void)state;
    ok("guest /EFI/debian/grubx64.efi\n");
    assert_string_equal(cfg.guest, "\\EFI\\debian\\grubx64.efi");
    ok("guest /EFI\\Boot/bootx64.efi\n");
    assert_string_equal(cfg.guest, "\\EFI\\Boot\\bootx64.efi");
    ok("guest \\x.efi\n");
    assert_string_equal(cfg.guest, "\\x.efi");
    /* Long names may hold spaces and dots; only ".." itself is refused. */
    ok("guest \\EFI\\My Loader\\...\\..x\\x..\\.\\a.b.efi\n");
    assert_string_equal(cfg.guest, "\\EFI\\My Loader\\...\\..x\\x..\\.\\a.b.efi");
}

static void test_guest_errors(void **state)
{
    (void)state;
    bad("guest EFI\\debian\\grubx64.efi\n",
        "lamina.conf:1: guest path must start with '\\'");
    bad("guest fs0:\\EFI\\grubx64.efi\n",
        "lamina.conf:1: guest path must start with '\\'");
    bad("guest ..\\x.efi\n", "lamina.conf:1: guest path must start with '\\'");
    bad("guest \\EFI\\..\\x.efi\n", "lamina.conf:1: guest path must not contain '..'");
    bad("guest /EFI/../x.efi\n", "lamina.conf:1: guest path must not contain '..'");
    bad("guest \\..\\x.efi\n", "lamina.conf:1: guest path must not contain '..'");
    bad("guest \\EFI\\..\n", "lamina.conf:1: guest path must not contain '..'");
    bad("guest \\EFI\\\\x.efi\n", "lamina.conf:1: guest path has an empty component");
    bad("guest //x.efi\n", "lamina.conf:1: guest path has an empty component");
    bad("guest \\EFI\\\n", "lamina.conf:1: guest path has an empty component");
    bad("guest \\\n", "lamina.conf:1: guest path names no file");
    bad("guest /\n", "lamina.conf:1: guest path names no file");
    bad("guest \\EFI\\a:b.efi\n", "lamina.conf:1: invalid character ':' in guest path");
    bad("guest \\EFI\\*.efi\n", "lamina.conf:1: invalid character '*' in guest path");
    bad("guest \\EFI\\a?.efi\n", "lamina.conf:1: invalid character '?' in guest path");
    bad("guest \\EFI\\\xc3\xa9.efi\n", "lamina.conf:1: guest path must be ASCII");
}

/* ------------------------------------------------------- guest-sha256 */

/* SHA-256("abc"), FIPS 180-4 example. */
#define ABC_HEX "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
static const uint8_t abc_digest[32] = {
    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde,
    0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
    0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
};

static void test_guest_sha256_valid(void **state)
{
    static const uint8_t ramp[32] = {
        0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67,
        0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
        0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
    };
    static const uint8_t zeros[32] = { 0 };
    uint8_t ff[32];

    (void)state;
    ok("guest \\a.efi\nguest-sha256 " ABC_HEX "\n");
    assert_true(cfg.has_guest_sha256);
    assert_memory_equal(cfg.guest_sha256, abc_digest, 32);
    assert_string_equal(cfg.guest, "\\a.efi");

    /* Upper case, a comment, tabs, CRLF, before the guest line. */
    ok("guest-sha256\tBA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD\t# sha256sum\r\n"
       "guest \\a.efi\r\n");
    assert_true(cfg.has_guest_sha256);
    assert_memory_equal(cfg.guest_sha256, abc_digest, 32);

    /* Mixed case; every hex digit in both cases. */
    ok("guest \\a.efi\nguest-sha256 0123456789abcdef0123456789ABCDEF0123456789aBcDeF0123456789AbCdEf\n");
    assert_memory_equal(cfg.guest_sha256, ramp, 32);

    /* The extremes. */
    ok("guest \\a.efi\nguest-sha256 0000000000000000000000000000000000000000000000000000000000000000\n");
    assert_true(cfg.has_guest_sha256);
    assert_memory_equal(cfg.guest_sha256, zeros, 32);
    memset(ff, 0xff, sizeof(ff));
    ok("guest \\a.efi\nguest-sha256 ffffffffffffffffffffffffffffffffFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF");
    assert_memory_equal(cfg.guest_sha256, ff, 32);

    /* Without the key: no digest. */
    ok("guest \\a.efi\n# guest-sha256 " ABC_HEX "\n");
    assert_false(cfg.has_guest_sha256);
    assert_memory_equal(cfg.guest_sha256, zeros, 32);
}

static void test_guest_sha256_length(void **state)
{
    char line[200];
    char text[300];

    (void)state;
    /* 63 and 65 digits. */
    bad("guest \\a.efi\nguest-sha256 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a\n",
        "lamina.conf:2: guest-sha256 has 63 hex digits (expected 64)");
    bad("guest \\a.efi\nguest-sha256 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0\n",
        "lamina.conf:2: guest-sha256 has 65 hex digits (expected 64)");
    /* A SHA-1 and a SHA-512 sized value. */
    bad("guest-sha256 a9993e364706816aba3e25717850c26c9cd0d89d\nguest \\a.efi\n",
        "lamina.conf:1: guest-sha256 has 40 hex digits (expected 64)");
    snprintf(text, sizeof(text), "guest \\a.efi\n%s\n",
             make_value_line(line, "guest-sha256", "", 'a', 128));
    bad(text, "lamina.conf:2: guest-sha256 has 128 hex digits (expected 64)");
    bad("guest \\a.efi\nguest-sha256 0\n",
        "lamina.conf:2: guest-sha256 has 1 hex digits (expected 64)");
    bad("guest \\a.efi\nguest-sha256\n", "lamina.conf:2: missing value for 'guest-sha256'");
    bad("guest \\a.efi\nguest-sha256   # none\n",
        "lamina.conf:2: missing value for 'guest-sha256'");
}

static void test_guest_sha256_not_hex(void **state)
{
    (void)state;
    /* 'g' in 64 characters. */
    bad("guest \\a.efi\nguest-sha256 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ag\n",
        "lamina.conf:2: invalid character 'g' in guest-sha256 (expected 64 hex digits)");
    /* sha256sum's whole line pasted: the blank is named. */
    bad("guest \\a.efi\nguest-sha256 " ABC_HEX "  probe.efi\n",
        "lamina.conf:2: invalid character ' ' in guest-sha256 (expected 64 hex digits)");
    bad("guest \\a.efi\nguest-sha256 " ABC_HEX "\t*probe.efi\n",
        "lamina.conf:2: invalid character ' ' in guest-sha256 (expected 64 hex digits)");
    /* Prefixes are not accepted. */
    bad("guest \\a.efi\nguest-sha256 0xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n",
        "lamina.conf:2: invalid character 'x' in guest-sha256 (expected 64 hex digits)");
    bad("guest \\a.efi\nguest-sha256 sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f200\n",
        "lamina.conf:2: invalid character 's' in guest-sha256 (expected 64 hex digits)");
    /* Separators between bytes. */
    bad("guest \\a.efi\nguest-sha256 ba:78:16:bf:8f:01:cf:ea:41:41:40:de:5d:ae:22:23\n",
        "lamina.conf:2: invalid character ':' in guest-sha256 (expected 64 hex digits)");
    /* Non-ASCII is shown as '?'. */
    bad("guest \\a.efi\nguest-sha256 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015\xc3\xa9\n",
        "lamina.conf:2: invalid character '?' in guest-sha256 (expected 64 hex digits)");
    /* Not hex though short: the character is reported first. */
    bad("guest \\a.efi\nguest-sha256 none\n",
        "lamina.conf:2: invalid character 'n' in guest-sha256 (expected 64 hex digits)");
    /* The key is case-sensitive like the others. */
    bad("guest \\a.efi\nGUEST-SHA256 " ABC_HEX "\n", "lamina.conf:2: unknown key 'GUEST-SHA256'");
    bad("guest \\a.efi\nguest-sha-256 " ABC_HEX "\n", "lamina.conf:2: unknown key 'guest-sha-256'");
    bad("guest \\a.efi\nsha256 " ABC_HEX "\n", "lamina.conf:2: unknown key 'sha256'");
}

static void test_guest_sha256_duplicate(void **state)
{
    (void)state;
    bad("guest \\a.efi\nguest-sha256 " ABC_HEX "\n# again\nguest-sha256 " ABC_HEX "\n",
        "lamina.conf:4: duplicate key 'guest-sha256' (first set on line 2)");
    bad("guest-sha256 " ABC_HEX "\nguest \\a.efi\n"
        "guest-sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n",
        "lamina.conf:3: duplicate key 'guest-sha256' (first set on line 1)");
    /* A bad first line is reported as itself, not as a duplicate later. */
    bad("guest \\a.efi\nguest-sha256 xyz\nguest-sha256 " ABC_HEX "\n",
        "lamina.conf:2: invalid character 'x' in guest-sha256 (expected 64 hex digits)");
}

/* ------------------------------------------------------------ lengths */

static void test_guest_length(void **state)
{
    char line[400];

    (void)state;
    ok(make_value_line(line, "guest", "\\", 'a', 254));    /* 255 bytes */
    assert_int_equal(strlen(cfg.guest), 255);
    assert_int_equal(cfg.guest[0], '\\');
    assert_int_equal(cfg.guest[254], 'a');
    bad(make_value_line(line, "guest", "\\", 'a', 255),    /* 256 bytes */
        "lamina.conf:1: guest path too long (256 bytes, max 255)");
}

static void test_options_length(void **state)
{
    char line[700];
    char text[800];

    (void)state;
    snprintf(text, sizeof(text), "guest \\a.efi\n%s\n",
             make_value_line(line, "options", "", 'o', 511));
    ok(text);
    assert_int_equal(strlen(cfg.options), 511);
    assert_int_equal(cfg.options[510], 'o');

    snprintf(text, sizeof(text), "guest \\a.efi\n%s\n",
             make_value_line(line, "options", "", 'o', 512));
    bad(text, "lamina.conf:2: options too long (512 bytes, max 511)");
}

static void test_line_length(void **state)
{
    char text[1200];
    size_t n;

    (void)state;
    /* "guest \a.efi #" + padding: the comment counts toward the limit. */
    n = (size_t)sprintf(text, "guest \\a.efi #");
    memset(text + n, 'c', 1023 - n);
    strcpy(text + 1023, "\n");
    ok(text);
    assert_string_equal(cfg.guest, "\\a.efi");

    /* The same with CRLF: the line end is not part of the line. */
    strcpy(text + 1023, "\r\n");
    ok(text);

    /* Without a final newline. */
    text[1023] = '\0';
    ok(text);

    /* One byte more. */
    text[1023] = 'c';
    strcpy(text + 1024, "\n");
    bad(text, "lamina.conf:1: line too long (1024 bytes, max 1023)");

    /* A long comment-only line on line 2. */
    n = (size_t)sprintf(text, "guest \\a.efi\n");
    memset(text + n, '#', 1100);
    text[n + 1100] = '\0';
    bad(text, "lamina.conf:2: line too long (1100 bytes, max 1023)");
}

/* ------------------------------------------- comments, CRLF, tabs, EOF */

static void test_comments_everywhere(void **state)
{
    (void)state;
    ok("# lamina.conf\n"
       "#guest \\wrong.efi\n"
       "\n"
       "   # indented comment\n"
       "\t\t#tabbed comment\n"
       "   \t  \n"
       "guest \\EFI\\x.efi# glued comment\n"
       "options a b #c # d\n"
       "serial 0x2f8 #\n"
       "on-error halt## two\n"
       "log-level warn\t# tab before\n"
       "# caf\xc3\xa9: UTF-8 in a comment is fine\n"
       "#");
    assert_string_equal(cfg.guest, "\\EFI\\x.efi");
    assert_string_equal(cfg.options, "a b");
    assert_int_equal(cfg.serial_port, 0x2f8);
    assert_int_equal(cfg.on_error, ON_ERROR_HALT);
    assert_int_equal(cfg.log_level, CONFIG_LOG_WARN);
}

static void test_crlf(void **state)
{
    (void)state;
    ok("# comment\r\n"
       "guest \\EFI\\x.efi\r\n"
       "\r\n"
       "options quiet splash\r\n"
       "serial 760 # c\r\n"
       "on-error halt\r\n"
       "log-level error\r\n");
    assert_string_equal(cfg.guest, "\\EFI\\x.efi");
    assert_string_equal(cfg.options, "quiet splash");
    assert_int_equal(cfg.serial_port, 760);
    assert_int_equal(cfg.on_error, ON_ERROR_HALT);
    assert_int_equal(cfg.log_level, CONFIG_LOG_ERROR);

    /* Mixed line ends, and CR before end of file. */
    ok("guest \\x.efi\r\noptions a\r");
    assert_string_equal(cfg.guest, "\\x.efi");
    assert_string_equal(cfg.options, "a");

    /* Line numbers count CRLF lines. */
    bad("\r\n# c\r\nguest \\x.efi\r\nbogus 1\r\n",
        "lamina.conf:4: unknown key 'bogus'");
}

static void test_tabs(void **state)
{
    (void)state;
    ok("\tguest\t\t\\EFI\\x.efi\t\n"
       "options\tconsole=ttyS0\tquiet \t\n"
       "serial\t\t0x3f8\n"
       "\ton-error\thalt\t# c\n"
       "log-level\tdebug\n");
    assert_string_equal(cfg.guest, "\\EFI\\x.efi");
    assert_string_equal(cfg.options, "console=ttyS0 quiet");
    assert_int_equal(cfg.serial_port, 0x3f8);
    assert_int_equal(cfg.on_error, ON_ERROR_HALT);
    assert_int_equal(cfg.log_level, CONFIG_LOG_DEBUG);
}

static void test_no_final_newline(void **state)
{
    (void)state;
    ok("guest \\x.efi");
    assert_string_equal(cfg.guest, "\\x.efi");
    ok("guest \\x.efi\noptions a b");
    assert_string_equal(cfg.options, "a b");
    ok("guest \\x.efi\non-error halt # c");
    assert_int_equal(cfg.on_error, ON_ERROR_HALT);
    bad("guest \\x.efi\nfoo", "lamina.conf:2: unknown key 'foo'");
}

/* -------------------------------------------------------------- errors */

static void test_unknown_key(void **state)
{
    (void)state;
    bad("guest \\a.efi\n# c\nfoo bar\n", "lamina.conf:3: unknown key 'foo'");
    bad("foo\nguest \\a.efi\n", "lamina.conf:1: unknown key 'foo'");
    bad("Guest \\a.efi\n", "lamina.conf:1: unknown key 'Guest'");
    bad("guest=\\a.efi\n", "lamina.conf:1: unknown key 'guest=\\a.efi'");
    bad("guest \\a.efi\nport 0x80\n", "lamina.conf:2: unknown key 'port'");
    bad("guest \\a.efi\nIO deny 0x80\n", "lamina.conf:2: unknown key 'IO'");
    bad("guest \\a.efi\nguest2 x\n", "lamina.conf:2: unknown key 'guest2'");
    bad("guest \\a.efi\nguests x\n", "lamina.conf:2: unknown key 'guests'");
    bad("gues \\a.efi\n", "lamina.conf:1: unknown key 'gues'");
    bad("caf\xc3\xa9 1\n", "lamina.conf:1: unknown key 'caf?" "?'");
    /* A long key is cut in the message. */
    bad("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa x\n",
        "lamina.conf:1: unknown key 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'");
}

static void test_duplicate_key(void **state)
{
    (void)state;
    bad("guest \\a.efi\nguest \\b.efi\n",
        "lamina.conf:2: duplicate key 'guest' (first set on line 1)");
    bad("guest \\a.efi\n\noptions a\n# c\noptions a\n",
        "lamina.conf:5: duplicate key 'options' (first set on line 3)");
    bad("guest \\a.efi\nserial none\nserial none\n",
        "lamina.conf:3: duplicate key 'serial' (first set on line 2)");
    bad("on-error boot\nguest \\a.efi\non-error halt\n",
        "lamina.conf:3: duplicate key 'on-error' (first set on line 1)");
    bad("guest \\a.efi\nlog-level info\nlog-level info\n",
        "lamina.conf:3: duplicate key 'log-level' (first set on line 2)");
}

static void test_missing_value(void **state)
{
    (void)state;
    bad("guest\n", "lamina.conf:1: missing value for 'guest'");
    bad("guest   \t \n", "lamina.conf:1: missing value for 'guest'");
    bad("guest # no value\n", "lamina.conf:1: missing value for 'guest'");
    bad("guest#\n", "lamina.conf:1: missing value for 'guest'");
    bad("guest \\a.efi\noptions\n", "lamina.conf:2: missing value for 'options'");
    bad("guest \\a.efi\noptions  # c\n", "lamina.conf:2: missing value for 'options'");
    bad("guest \\a.efi\nserial\r\n", "lamina.conf:2: missing value for 'serial'");
    bad("guest \\a.efi\non-error", "lamina.conf:2: missing value for 'on-error'");
    bad("guest \\a.efi\nlog-level\t\n", "lamina.conf:2: missing value for 'log-level'");
}

static void test_missing_guest(void **state)
{
    (void)state;
    bad("", "lamina.conf: missing required key 'guest'");
    bad("\n\n\n", "lamina.conf: missing required key 'guest'");
    bad("# only a comment\n", "lamina.conf: missing required key 'guest'");
    bad("options quiet\nserial none\n", "lamina.conf: missing required key 'guest'");
    bad("\xef\xbb\xbf", "lamina.conf: missing required key 'guest'");

    memset(err, 'X', sizeof(err));
    assert_int_equal(config_parse(NULL, 0, &cfg, err, sizeof(err)), -1);
    assert_string_equal(err, "lamina.conf: missing required key 'guest'");
    assert_defaults(&cfg);
}

static void test_nul_byte(void **state)
{
    static const char in_value[] = "guest \\a.efi\noptions a\0b\n";
    static const char in_comment[] = "guest \\a.efi\n\n# x\0y\n";
    static const char at_end[] = "guest \\a.efi\n\0";
    static const char utf16le[] = "g\0u\0e\0s\0t\0 \0\\\0a\0\n\0";

    (void)state;
    bad_n(in_value, sizeof(in_value) - 1,
          "lamina.conf:2: NUL byte in file (UTF-16? save it as ASCII or UTF-8)");
    bad_n(in_comment, sizeof(in_comment) - 1,
          "lamina.conf:3: NUL byte in file (UTF-16? save it as ASCII or UTF-8)");
    bad_n(at_end, sizeof(at_end) - 1,
          "lamina.conf:2: NUL byte in file (UTF-16? save it as ASCII or UTF-8)");
    bad_n(utf16le, sizeof(utf16le) - 1,
          "lamina.conf:1: NUL byte in file (UTF-16? save it as ASCII or UTF-8)");
    /* The NUL check comes before the length check. */
    {
        char text[1100];

        memset(text, 'a', sizeof(text));
        text[1050] = '\0';
        bad_n(text, sizeof(text),
              "lamina.conf:1: NUL byte in file (UTF-16? save it as ASCII or UTF-8)");
    }
}

static void test_byte_order_marks(void **state)
{
    static const char le[] = "\xff\xfeg\0u\0e\0s\0t\0";
    static const char be[] = "\xfe\xff\0g\0u\0e\0s\0t";

    (void)state;
    bad_n(le, sizeof(le) - 1,
          "lamina.conf: file is UTF-16 (byte order mark); save it as ASCII or UTF-8");
    bad_n(be, sizeof(be) - 1,
          "lamina.conf: file is UTF-16 (byte order mark); save it as ASCII or UTF-8");
    /* A UTF-8 BOM is skipped. */
    ok("\xef\xbb\xbfguest \\a.efi\n");
    assert_string_equal(cfg.guest, "\\a.efi");
    /* ... only at the very start. */
    bad("guest \\a.efi\n\xef\xbb\xbfserial none\n",
        "lamina.conf:2: unknown key '???serial'");
}

static void test_control_characters(void **state)
{
    (void)state;
    bad("guest \\a.efi\noptions a\vb\n", "lamina.conf:2: control character 0x0b");
    bad("guest \\a.efi\roptions a\n", "lamina.conf:1: control character 0x0d");
    bad("guest \\a.efi\r\r\n", "lamina.conf:1: control character 0x0d");
    bad("guest \\a.efi # \x1b[31m\n", "lamina.conf:1: control character 0x1b");
    bad("guest \\a.efi\n\x7f\n", "lamina.conf:2: control character 0x7f");
}

static void test_non_ascii_options(void **state)
{
    (void)state;
    bad("guest \\a.efi\noptions caf\xc3\xa9\n", "lamina.conf:2: options must be ASCII");
}

static void test_first_error_wins(void **state)
{
    (void)state;
    /* Line 2 is wrong, line 3 too: only line 2 is reported, and the good
     * values parsed before it are not left in the struct. */
    bad("options quiet\nserial 0x10000\nfoo\n",
        "lamina.conf:2: serial port '0x10000' out of range (1..0xfff8, or none)");
    bad("guest \\a.efi\non-error halt\nlog-level loud\nguest \\b.efi\n",
        "lamina.conf:3: bad value 'loud' for 'log-level' (expected error, warn, info or debug)");
}

/* --------------------------------------------------------------- policy */

#define G "guest \\a.efi\n"

static void assert_rule(const struct policy_rule *r, unsigned space, unsigned action,
                        uint32_t first, uint32_t last, unsigned dir, uint32_t line)
{
    assert_int_equal(r->space, space);
    assert_int_equal(r->action, action);
    assert_int_equal(r->first, first);
    assert_int_equal(r->last, last);
    assert_int_equal(r->dir, dir);
    assert_int_equal(r->line, line);
}

static void test_policy_defaults(void **state)
{
    (void)state;
    ok(G);
    assert_policy_defaults(&cfg.policy);
    assert_int_equal(cfg.policy.event_level, 2);    /* LOG_INFO in core/log.h */
}

static void test_init_emulation(void **state)
{
    (void)state;
    ok(G);
    assert_false(cfg.init_emulation);       /* the INIT exit is used by default */
    ok(G "init-emulation yes\n");
    assert_true(cfg.init_emulation);
    ok(G "init-emulation no\n");
    assert_false(cfg.init_emulation);
    bad(G "init-emulation maybe\n",
        "lamina.conf:2: bad value 'maybe' for 'init-emulation' (expected yes or no)");
    bad(G "init-emulation yes\ninit-emulation no\n",
        "lamina.conf:3: duplicate key 'init-emulation' (first set on line 2)");
}

/* M6: a guest triple fault resets the machine unless told to stop. */
static void test_on_triple_fault(void **state)
{
    (void)state;
    ok(G);
    assert_int_equal(cfg.on_triple_fault, LAMINA_TRIPLE_FAULT_RESET);
    ok(G "on-triple-fault stop\n");
    assert_int_equal(cfg.on_triple_fault, LAMINA_TRIPLE_FAULT_STOP);
    ok(G "on-triple-fault reset\n");
    assert_int_equal(cfg.on_triple_fault, LAMINA_TRIPLE_FAULT_RESET);
    bad(G "on-triple-fault halt\n",
        "lamina.conf:2: bad value 'halt' for 'on-triple-fault' (expected reset or stop)");
}

static void test_policy_flags(void **state)
{
    (void)state;
    ok(G "stealth yes\nserial-exclusive yes\nhypercall-user yes\n");
    assert_int_equal(cfg.policy.stealth, 1);
    assert_int_equal(cfg.policy.serial_exclusive, 1);
    assert_int_equal(cfg.policy.hypercall_user, 1);

    ok(G "stealth no\nserial-exclusive no\nhypercall-user no\n");
    assert_int_equal(cfg.policy.stealth, 0);
    assert_int_equal(cfg.policy.serial_exclusive, 0);
    assert_int_equal(cfg.policy.hypercall_user, 0);

    /* Each flag on its own sets only itself. */
    ok(G "stealth yes\n");
    assert_int_equal(cfg.policy.stealth, 1);
    assert_int_equal(cfg.policy.serial_exclusive, 0);
    assert_int_equal(cfg.policy.hypercall_user, 0);
    ok(G "hypercall-user yes\n");
    assert_int_equal(cfg.policy.stealth, 0);
    assert_int_equal(cfg.policy.hypercall_user, 1);

    bad(G "stealth on\n", "lamina.conf:2: bad value 'on' for 'stealth' (expected yes or no)");
    bad(G "serial-exclusive 1\n",
        "lamina.conf:2: bad value '1' for 'serial-exclusive' (expected yes or no)");
    bad(G "hypercall-user Yes\n",
        "lamina.conf:2: bad value 'Yes' for 'hypercall-user' (expected no, yes or full)");
    ok(G "hypercall-user full\n");
    assert_int_equal(cfg.policy.hypercall_user, POLICY_HCUSER_FULL);
    ok(G "hypercall-user yes\n");
    assert_int_equal(cfg.policy.hypercall_user, POLICY_HCUSER_YES);
    ok(G "hypercall-user no\n");
    assert_int_equal(cfg.policy.hypercall_user, POLICY_HCUSER_NO);
    bad(G "stealth\n", "lamina.conf:2: missing value for 'stealth'");
    bad(G "stealth yes\nstealth no\n",
        "lamina.conf:3: duplicate key 'stealth' (first set on line 2)");
    bad(G "hypercall-user no\nhypercall-user no\n",
        "lamina.conf:3: duplicate key 'hypercall-user' (first set on line 2)");
    bad(G "serial-exclusive no\nserial-exclusive no\n",
        "lamina.conf:3: duplicate key 'serial-exclusive' (first set on line 2)");
}

static void test_log_events(void **state)
{
    static const struct { const char *v; uint8_t level; } cases[] = {
        { "none", POLICY_EVENTS_NONE }, { "error", 0 }, { "warn", 1 },
        { "info", 2 }, { "debug", 3 },
    };
    char line[64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(line, sizeof(line), G "log-events %s\n", cases[i].v);
        ok(line);
        assert_int_equal(cfg.policy.event_level, cases[i].level);
    }
    bad(G "log-events all\n", "lamina.conf:2: bad value 'all' for 'log-events' "
        "(expected none, error, warn, info or debug)");
    bad(G "log-events none\nlog-events info\n",
        "lamina.conf:3: duplicate key 'log-events' (first set on line 2)");
}

static void test_io_rules(void **state)
{
    (void)state;
    ok(G "io deny 0x80\n"
       "io   log\t0x60-0x64   read   # keyboard controller\n"
       "io log 1016-1023 write\n"
       "io deny 0X70-0x71 rw\n"
       "io log 0-0xffff write\n"
       "io deny 0xCF8-0xcff\n");
    assert_int_equal(cfg.policy.nrules, 6);
    assert_int_equal(cfg.policy.nlocks, 0);
    assert_rule(&cfg.policy.rule[0], POLICY_IO, POLICY_DENY, 0x80, 0x80, POLICY_RW, 2);
    assert_rule(&cfg.policy.rule[1], POLICY_IO, POLICY_LOG, 0x60, 0x64, POLICY_READ, 3);
    assert_rule(&cfg.policy.rule[2], POLICY_IO, POLICY_LOG, 0x3f8, 0x3ff, POLICY_WRITE, 4);
    assert_rule(&cfg.policy.rule[3], POLICY_IO, POLICY_DENY, 0x70, 0x71, POLICY_RW, 5);
    assert_rule(&cfg.policy.rule[4], POLICY_IO, POLICY_LOG, 0, 0xffff, POLICY_WRITE, 6);
    assert_rule(&cfg.policy.rule[5], POLICY_IO, POLICY_DENY, 0xcf8, 0xcff, POLICY_RW, 7);
    /* The lookup sees them: the narrow deny beats the 0-0xffff log. */
    assert_int_equal(policy_lookup_io(&cfg.policy, 0x80, 1, POLICY_WRITE)->action,
                     POLICY_DENY);
    assert_int_equal(policy_lookup_io(&cfg.policy, 0x81, 1, POLICY_WRITE)->action,
                     POLICY_LOG);
    assert_null(policy_lookup_io(&cfg.policy, 0x81, 1, POLICY_READ));
}

static void test_msr_rules(void **state)
{
    (void)state;
    ok(G "msr lock 0x3a\n"
       "msr deny 0xc0000080 write\n"
       "msr log 0-0x1fff read\n"
       "msr log 0xc0000000-0xc0001fff\n"
       "msr lock 0x1fff write\n"
       "msr deny 0xc0001fff read\n"
       "msr deny 16\n");
    assert_int_equal(cfg.policy.nrules, 7);
    assert_rule(&cfg.policy.rule[0], POLICY_MSR, POLICY_LOCK, 0x3a, 0x3a, POLICY_WRITE, 2);
    assert_rule(&cfg.policy.rule[1], POLICY_MSR, POLICY_DENY, 0xc0000080, 0xc0000080,
                POLICY_WRITE, 3);
    assert_rule(&cfg.policy.rule[2], POLICY_MSR, POLICY_LOG, 0, 0x1fff, POLICY_READ, 4);
    assert_rule(&cfg.policy.rule[3], POLICY_MSR, POLICY_LOG, 0xc0000000, 0xc0001fff,
                POLICY_RW, 5);
    assert_rule(&cfg.policy.rule[4], POLICY_MSR, POLICY_LOCK, 0x1fff, 0x1fff, POLICY_WRITE, 6);
    assert_rule(&cfg.policy.rule[5], POLICY_MSR, POLICY_DENY, 0xc0001fff, 0xc0001fff,
                POLICY_READ, 7);
    assert_rule(&cfg.policy.rule[6], POLICY_MSR, POLICY_DENY, 16, 16, POLICY_RW, 8);
    assert_int_equal(cfg.policy.nlocks, 2);
    assert_int_equal(cfg.policy.lock_msr[0], 0x3a);
    assert_int_equal(cfg.policy.lock_msr[1], 0x1fff);
}

/* M7: MSRs other instructions write without an exit (WRFSBASE, WRGSBASE,
 * SWAPGS, XRSTORS) take log rules only: deny and lock are refused at load. */
static void test_msr_rules_on_bypassed_msrs(void **state)
{
    (void)state;
    bad(G "msr lock 0xc0000100\n",
        "lamina.conf:2: lock cannot be kept for MSR 0xc0000100: WRFSBASE writes it without "
        "an exit (only log rules may name it)");
    bad(G "msr deny 0xc0000101 write\n",
        "lamina.conf:2: deny cannot be kept for MSR 0xc0000101: WRGSBASE and SWAPGS write it "
        "without an exit (only log rules may name it)");
    bad(G "msr deny 0xc0000080-0xc0000102\n",
        "lamina.conf:2: deny cannot be kept for MSR 0xc0000100: WRFSBASE writes it without "
        "an exit (only log rules may name it)");
    bad(G "msr lock 0xc0000102\n",
        "lamina.conf:2: lock cannot be kept for MSR 0xc0000102: SWAPGS writes it without an "
        "exit (only log rules may name it)");
    bad(G "msr deny 0x6a0-0x6a7 write\n",
        "lamina.conf:2: deny cannot be kept for MSR 0x6a0: XRSTORS loads it (CET user state, "
        "IA32_XSS bit 11) (only log rules may name it)");
    bad(G "msr deny 0x1000-0x1fff\n",
        "lamina.conf:2: deny cannot be kept for MSR 0x1200: XRSTORS loads it (architectural "
        "LBR state, IA32_XSS bit 15) (only log rules may name it)");
    bad(G "msr lock 0xd93\n",
        "lamina.conf:2: lock cannot be kept for MSR 0xd93: XRSTORS loads it (PASID state, "
        "IA32_XSS bit 10) (only log rules may name it)");
    /* Log rules record the instructions; around the MSRs, deny and lock stand. */
    ok(G "msr log 0xc0000100-0xc0000102\nmsr log 0x6a0-0x6a7\nmsr deny 0xc0000103\n"
       "msr lock 0x6a1\nmsr deny 0xda0 write\n");
    assert_int_equal(cfg.policy.nrules, 5);
}

/* M7: sleep refuse is the default and the only mode built. */
static void test_sleep_key(void **state)
{
    (void)state;
    ok(G "sleep refuse\n");
    bad(G "sleep resume\n",
        "lamina.conf:2: sleep resume is not built in this version (only refuse: S1-S4 "
        "requests are refused and the OS sees an immediate wake)");
    bad(G "sleep allow\n",
        "lamina.conf:2: bad value 'allow' for 'sleep' (expected refuse or resume)");
}

static void test_lock_slots(void **state)
{
    char text[4096];
    size_t len, i;

    (void)state;
    /* Rule order, each MSR once; a later rule's new MSRs go after. */
    ok(G "msr lock 0x10-0x12\nmsr lock 0x11-0x13\nmsr lock 0x5\nmsr lock 0x12\n");
    assert_int_equal(cfg.policy.nrules, 4);
    assert_int_equal(cfg.policy.nlocks, 5);
    assert_int_equal(cfg.policy.lock_msr[0], 0x10);
    assert_int_equal(cfg.policy.lock_msr[1], 0x11);
    assert_int_equal(cfg.policy.lock_msr[2], 0x12);
    assert_int_equal(cfg.policy.lock_msr[3], 0x13);
    assert_int_equal(cfg.policy.lock_msr[4], 0x5);
    assert_int_equal(policy_lock_slot(&cfg.policy, 0x5), 4);

    /* 32 is the limit, counted over all rules. */
    ok(G "msr lock 0xc0000200-0xc000021f\n");
    assert_int_equal(cfg.policy.nlocks, 32);
    assert_int_equal(cfg.policy.lock_msr[31], 0xc000021f);
    ok(G "msr lock 0x100-0x10f\nmsr lock 0x108-0x11f\n");
    assert_int_equal(cfg.policy.nlocks, 32);
    bad(G "msr lock 0x100-0x120\n",
        "lamina.conf:2: too many locked MSRs (max 32 in all lock rules)");
    bad(G "msr lock 0x100-0x10f\nmsr lock 0x108-0x11f\nmsr lock 0x10\n",
        "lamina.conf:4: too many locked MSRs (max 32 in all lock rules)");
    bad(G "msr lock 0-0x5ff\n",
        "lamina.conf:2: too many locked MSRs (max 32 in all lock rules)");

    /* 33 single-MSR lock rules: the 33rd fails. */
    len = (size_t)snprintf(text, sizeof(text), G);
    for (i = 0; i < 33; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, "msr lock %zu\n", i);
    bad(text, "lamina.conf:34: too many locked MSRs (max 32 in all lock rules)");
}

static void test_rule_count(void **state)
{
    char text[4096];
    size_t len = 0, i;

    (void)state;
    len = (size_t)snprintf(text, sizeof(text), G);
    for (i = 0; i < 64; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, "io deny %zu\n", 0x100 + i);
    ok(text);
    assert_int_equal(cfg.policy.nrules, 64);
    assert_rule(&cfg.policy.rule[63], POLICY_IO, POLICY_DENY, 0x13f, 0x13f, POLICY_RW, 65);
    snprintf(text + len, sizeof(text) - len, "msr log 0x10\n");
    bad(text, "lamina.conf:66: too many io/msr rules (max 64)");
}

static void test_rule_syntax_errors(void **state)
{
    (void)state;
    bad(G "io\n", "lamina.conf:2: missing value for 'io'");
    bad(G "msr  # c\n", "lamina.conf:2: missing value for 'msr'");
    bad(G "io block 0x80\n",
        "lamina.conf:2: unknown action 'block' (expected log, deny or lock)");
    bad(G "msr 0x10\n",
        "lamina.conf:2: unknown action '0x10' (expected log, deny or lock)");
    bad(G "io deny\n",
        "lamina.conf:2: missing range (expected io <action> <first>[-<last>] [read|write|rw])");
    bad(G "msr log   \t# c\n",
        "lamina.conf:2: missing range (expected msr <action> <first>[-<last>] [read|write|rw])");
    bad(G "io deny 0x8g\n",
        "lamina.conf:2: bad range '0x8g' (expected <first>[-<last>], decimal or 0x-hex)");
    bad(G "io deny 0x\n",
        "lamina.conf:2: bad range '0x' (expected <first>[-<last>], decimal or 0x-hex)");
    bad(G "io deny 0x80-\n",
        "lamina.conf:2: bad range '0x80-' (expected <first>[-<last>], decimal or 0x-hex)");
    bad(G "io deny -0x80\n",
        "lamina.conf:2: bad range '-0x80' (expected <first>[-<last>], decimal or 0x-hex)");
    bad(G "io deny 1-2-3\n",
        "lamina.conf:2: bad range '1-2-3' (expected <first>[-<last>], decimal or 0x-hex)");
    bad(G "msr deny 0x10..0x20\n",
        "lamina.conf:2: bad range '0x10..0x20' (expected <first>[-<last>], decimal or 0x-hex)");
    bad(G "io deny +5\n",
        "lamina.conf:2: bad range '+5' (expected <first>[-<last>], decimal or 0x-hex)");
    bad(G "io deny 0x80 - 0x90\n",
        "lamina.conf:2: unknown direction '-' (expected read, write or rw)");
    bad(G "io deny 0x71-0x70\n", "lamina.conf:2: bad range '0x71-0x70': first is above last");
    bad(G "msr log 0xc0000001-0xc0000000\n",
        "lamina.conf:2: bad range '0xc0000001-0xc0000000': first is above last");
    bad(G "io deny 0x80 wr\n",
        "lamina.conf:2: unknown direction 'wr' (expected read, write or rw)");
    bad(G "io deny 0x80 READ\n",
        "lamina.conf:2: unknown direction 'READ' (expected read, write or rw)");
    bad(G "io deny 0x80 read write\n",
        "lamina.conf:2: unexpected 'write' after the direction");
}

static void test_rule_range_errors(void **state)
{
    (void)state;
    bad(G "io deny 0x10000\n", "lamina.conf:2: port range '0x10000' goes above 0xffff");
    bad(G "io deny 0xfff0-0x10000\n",
        "lamina.conf:2: port range '0xfff0-0x10000' goes above 0xffff");
    bad(G "io log 65536\n", "lamina.conf:2: port range '65536' goes above 0xffff");
    /* Huge numbers saturate rather than wrap into range. */
    bad(G "io log 0x10000000000000080\n",
        "lamina.conf:2: port range '0x10000000000000080' goes above 0xffff");
    bad(G "msr log 0x2000\n", "lamina.conf:2: MSR range '0x2000' is not covered by the "
        "MSR bitmap (0-0x1fff, 0xc0000000-0xc0001fff)");
    bad(G "msr log 0x1f00-0x2000\n", "lamina.conf:2: MSR range '0x1f00-0x2000' is not "
        "covered by the MSR bitmap (0-0x1fff, 0xc0000000-0xc0001fff)");
    bad(G "msr log 0xbfffffff\n", "lamina.conf:2: MSR range '0xbfffffff' is not covered by "
        "the MSR bitmap (0-0x1fff, 0xc0000000-0xc0001fff)");
    bad(G "msr log 0xbfffffff-0xc0000010\n", "lamina.conf:2: MSR range "
        "'0xbfffffff-0xc0000010' is not covered by the MSR bitmap "
        "(0-0x1fff, 0xc0000000-0xc0001fff)");
    bad(G "msr deny 0xc0002000\n", "lamina.conf:2: MSR range '0xc0002000' is not covered "
        "by the MSR bitmap (0-0x1fff, 0xc0000000-0xc0001fff)");
    /* Both ends coverable, the gap between the windows is not. */
    bad(G "msr log 0x10-0xc0000010\n", "lamina.conf:2: MSR range '0x10-0xc0000010' is not "
        "covered by the MSR bitmap (0-0x1fff, 0xc0000000-0xc0001fff)");
    bad(G "msr log 0x1c0000080\n", "lamina.conf:2: MSR range '0x1c0000080' is not covered "
        "by the MSR bitmap (0-0x1fff, 0xc0000000-0xc0001fff)");
    bad(G "msr log 0x4000000000\n", "lamina.conf:2: MSR range '0x4000000000' is not covered "
        "by the MSR bitmap (0-0x1fff, 0xc0000000-0xc0001fff)");
}

static void test_lock_errors(void **state)
{
    (void)state;
    bad(G "io lock 0x80\n", "lamina.conf:2: lock applies to MSRs only (io takes log or deny)");
    bad(G "io lock 0x80 write\n",
        "lamina.conf:2: lock applies to MSRs only (io takes log or deny)");
    bad(G "msr lock 0x3a read\n",
        "lamina.conf:2: lock takes only the write direction, not 'read'");
    bad(G "msr lock 0x3a rw\n", "lamina.conf:2: lock takes only the write direction, not 'rw'");
    ok(G "msr lock 0x3a write\n");
    assert_rule(&cfg.policy.rule[0], POLICY_MSR, POLICY_LOCK, 0x3a, 0x3a, POLICY_WRITE, 2);
}

static void test_contradictions(void **state)
{
    (void)state;
    /* Same range, both rw. */
    bad(G "io deny 0x80\nio log 0x80\n",
        "lamina.conf:3: io rule contradicts line 2: log vs deny for port 0x80, equally specific");
    /* Same width, overlapping, both rw: port 0x81 is ambiguous. */
    bad(G "io deny 0x80-0x81\n# c\nio log 0x81-0x82 rw\n",
        "lamina.conf:4: io rule contradicts line 2: log vs deny for port 0x81, equally specific");
    /* Both one-direction, the same one. */
    bad(G "msr log 0x10 write\nmsr deny 0x10 write\n",
        "lamina.conf:3: msr rule contradicts line 2: deny vs log for MSR 0x10, equally specific");
    bad(G "msr lock 0x10\nmsr deny 0x10 write\n",
        "lamina.conf:3: msr rule contradicts line 2: deny vs lock for MSR 0x10, equally specific");
    bad(G "msr deny 0xc0000080-0xc0000081 read\nmsr log 0xc0000081-0xc0000082 read\n",
        "lamina.conf:3: msr rule contradicts line 2: log vs deny for MSR 0xc0000081, "
        "equally specific");
    /* Reported at the later line, whatever lies between. */
    bad(G "io deny 0x80\nio log 0x90\nstealth yes\nio log 0x80\n",
        "lamina.conf:5: io rule contradicts line 2: log vs deny for port 0x80, equally specific");

    /* Not contradictions: */
    ok(G "io deny 0x80\nio deny 0x80\n");                   /* same action */
    ok(G "io deny 0x80 read\nio log 0x80 write\n");         /* directions apart */
    ok(G "io deny 0x80\nio log 0x80 write\n");              /* one-direction beats rw */
    ok(G "io deny 0x80-0x81\nio log 0x81\n");               /* narrower wins */
    ok(G "io deny 0x80-0x81\nio log 0x82-0x83\n");          /* ranges apart */
    ok(G "io deny 0x80\nmsr log 0x80\n");                   /* spaces apart */
    ok(G "msr lock 0x10\nmsr deny 0x10\n");                 /* lock is write-only */
    ok(G "msr lock 0x10\nmsr deny 0x10 read\n");
    assert_int_equal(cfg.policy.nrules, 2);
}

static void test_serial_exclusive_checks(void **state)
{
    (void)state;
    /* Needs a port, whatever the order of the keys. */
    bad(G "serial none\nserial-exclusive yes\n",
        "lamina.conf:3: serial-exclusive yes needs a serial port (serial is none on line 2)");
    bad("serial-exclusive yes\n" G "serial none\n",
        "lamina.conf:1: serial-exclusive yes needs a serial port (serial is none on line 3)");
    ok(G "serial none\nserial-exclusive no\n");
    ok(G "serial-exclusive yes\n");
    assert_int_equal(cfg.serial_port, 0x3f8);

    /* No io rule on any of port..port+7, rule before or after the keys. */
    bad(G "serial-exclusive yes\nio log 0x3f8\n", "lamina.conf:3: io rule covers the "
        "exclusive serial port 0x3f8-0x3ff (the monitor owns it)");
    bad("io deny 0x3ff write\n" G "serial-exclusive yes\n", "lamina.conf:1: io rule covers "
        "the exclusive serial port 0x3f8-0x3ff (the monitor owns it)");
    bad(G "io log 0x80\nio log 0-0xffff read\nserial-exclusive yes\n", "lamina.conf:3: io "
        "rule covers the exclusive serial port 0x3f8-0x3ff (the monitor owns it)");
    bad(G "io deny 0x2f0-0x2f8\nserial 0x2f8\nserial-exclusive yes\n", "lamina.conf:2: io "
        "rule covers the exclusive serial port 0x2f8-0x2ff (the monitor owns it)");
    bad(G "serial-exclusive yes\nserial 0xfff8\nio log 0xffff\n", "lamina.conf:4: io "
        "rule covers the exclusive serial port 0xfff8-0xffff (the monitor owns it)");
    /* Next to the port, an MSR with the same numbers, or not exclusive: fine. */
    ok(G "serial-exclusive yes\nio log 0x3f7\nio log 0x400\nmsr deny 0x3f8\n");
    ok(G "serial-exclusive yes\nserial 0x2f8\nio log 0x3f8-0x3ff\n");
    ok(G "io log 0x3f8-0x3ff\n");
    assert_int_equal(cfg.policy.nrules, 1);
}

static void test_policy_reset_between_parses(void **state)
{
    (void)state;
    ok(G "msr lock 0x3a\nio deny 0x80\nstealth yes\nserial-exclusive yes\n"
       "hypercall-user yes\nlog-events none\n");
    assert_int_equal(cfg.policy.nrules, 2);
    assert_int_equal(config_parse(G, strlen(G), &cfg, err, sizeof(err)), 0);
    assert_policy_defaults(&cfg.policy);
    /* An error after good policy lines leaves the defaults too. */
    bad(G "msr lock 0x3a\nio deny 0x80\nstealth yes\nio deny 0x80 sideways\n",
        "lamina.conf:5: unknown direction 'sideways' (expected read, write or rw)");
}

/* ------------------------------------------------------- error buffer */

static void test_error_buffer(void **state)
{
    char small[10];
    char one[1];
    char untouched[4] = "abc";

    (void)state;
    /* Truncated, still NUL-terminated. */
    memset(small, 'X', sizeof(small));
    assert_int_equal(config_parse("foo 1\n", 6, &cfg, small, sizeof(small)), -1);
    assert_string_equal(small, "lamina.co");

    one[0] = 'X';
    assert_int_equal(config_parse("foo 1\n", 6, &cfg, one, sizeof(one)), -1);
    assert_int_equal(one[0], '\0');

    assert_int_equal(config_parse("foo 1\n", 6, &cfg, untouched, 0), -1);
    assert_string_equal(untouched, "abc");

    assert_int_equal(config_parse("foo 1\n", 6, &cfg, NULL, 100), -1);
    assert_int_equal(config_parse("guest \\a.efi", 12, &cfg, NULL, 0), 0);
    assert_string_equal(cfg.guest, "\\a.efi");

    /* Success clears a stale message. */
    strcpy(err, "stale");
    assert_int_equal(config_parse("guest \\a.efi", 12, &cfg, err, sizeof(err)), 0);
    assert_string_equal(err, "");

    /* No config structure. */
    assert_int_equal(config_parse("guest \\a.efi", 12, NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "lamina.conf: no config structure");
}

/* The length argument, not a NUL, ends the text. */
static void test_length_bounds_text(void **state)
{
    (void)state;
    assert_int_equal(config_parse("guest \\a.efi\nfoo 1\n", 13, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg.guest, "\\a.efi");
    assert_int_equal(config_parse("guest \\a.efi\nfoo 1\n", 8, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg.guest, "\\a");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_guest_only_gives_defaults),
        cmocka_unit_test(test_all_keys),
        cmocka_unit_test(test_key_order_free),
        cmocka_unit_test(test_parse_starts_from_defaults),
        cmocka_unit_test(test_options_keeps_inner_spaces),
        cmocka_unit_test(test_serial_values),
        cmocka_unit_test(test_serial_errors),
        cmocka_unit_test(test_on_error),
        cmocka_unit_test(test_log_level),
        cmocka_unit_test(test_dma_protection),
        cmocka_unit_test(test_guest_slashes),
        cmocka_unit_test(test_guest_errors),
        cmocka_unit_test(test_guest_sha256_valid),
        cmocka_unit_test(test_guest_sha256_length),
        cmocka_unit_test(test_guest_sha256_not_hex),
        cmocka_unit_test(test_guest_sha256_duplicate),
        cmocka_unit_test(test_guest_length),
        cmocka_unit_test(test_options_length),
        cmocka_unit_test(test_line_length),
        cmocka_unit_test(test_comments_everywhere),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_tabs),
        cmocka_unit_test(test_no_final_newline),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_missing_value),
        cmocka_unit_test(test_missing_guest),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_byte_order_marks),
        cmocka_unit_test(test_control_characters),
        cmocka_unit_test(test_non_ascii_options),
        cmocka_unit_test(test_first_error_wins),
        cmocka_unit_test(test_error_buffer),
        cmocka_unit_test(test_length_bounds_text),
        cmocka_unit_test(test_policy_defaults),
        cmocka_unit_test(test_policy_flags),
        cmocka_unit_test(test_init_emulation),
        cmocka_unit_test(test_on_triple_fault),
        cmocka_unit_test(test_log_events),
        cmocka_unit_test(test_io_rules),
        cmocka_unit_test(test_msr_rules),
        cmocka_unit_test(test_msr_rules_on_bypassed_msrs),
        cmocka_unit_test(test_sleep_key),
        cmocka_unit_test(test_lock_slots),
        cmocka_unit_test(test_rule_count),
        cmocka_unit_test(test_rule_syntax_errors),
        cmocka_unit_test(test_rule_range_errors),
        cmocka_unit_test(test_lock_errors),
        cmocka_unit_test(test_contradictions),
        cmocka_unit_test(test_serial_exclusive_checks),
        cmocka_unit_test(test_policy_reset_between_parses),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
