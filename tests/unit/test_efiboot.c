/* Unit tests for lamina-install's firmware and disk formats
 * (tools/lamina-install/efiboot.c, disk.c): EFI_LOAD_OPTION and device
 * paths (UEFI 2.10, sections 3.1.3 and 10.3), BootOrder edits, efivarfs
 * files, GUID text, the PE signature check, and GPT/MBR partition lookup
 * (section 5) on disk images built here in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tools/lamina-install/disk.h"
#include "tools/lamina-install/efiboot.h"

static char err[512];

/* ------------------------------------------------ building load options */

struct buf {
    uint8_t b[4096];
    size_t n;
};

static void put8(struct buf *b, uint8_t v) { b->b[b->n++] = v; }
static void put16(struct buf *b, uint16_t v) { put8(b, (uint8_t)v); put8(b, (uint8_t)(v >> 8)); }
static void put32(struct buf *b, uint32_t v) { put16(b, (uint16_t)v); put16(b, (uint16_t)(v >> 16)); }
static void put64(struct buf *b, uint64_t v) { put32(b, (uint32_t)v); put32(b, (uint32_t)(v >> 32)); }
static void put_wide(struct buf *b, const char *s) /* UCS-2 with its NUL */
{
    do
        put16(b, (uint16_t)(uint8_t)*s);
    while (*s++);
}

static const char *ESP_GUID = "4c414d49-4e41-4553-5000-000000000001";

static void node_pciroot(struct buf *b) { put8(b, 2); put8(b, 1); put16(b, 12); put32(b, 0x0a0341d0); put32(b, 0); }
static void node_pci(struct buf *b, uint8_t dev, uint8_t fn) { put8(b, 1); put8(b, 1); put16(b, 6); put8(b, fn); put8(b, dev); }
static void node_nvme(struct buf *b) { put8(b, 3); put8(b, 0x17); put16(b, 16); put32(b, 1); put64(b, 0); }
static void node_hd(struct buf *b, uint32_t part, const char *guid)
{
    uint8_t g[16];
    assert_int_equal(guid_parse(guid, g), 0);
    put8(b, 4); put8(b, 1); put16(b, 42);
    put32(b, part); put64(b, 0x800); put64(b, 0x1f000);
    for (int i = 0; i < 16; i++)
        put8(b, g[i]);
    put8(b, 2); put8(b, 2);
}
static void node_file(struct buf *b, const char *path)
{
    put8(b, 4); put8(b, 4); put16(b, (uint16_t)(4 + 2 * (strlen(path) + 1)));
    put_wide(b, path);
}
static void node_fvfile(struct buf *b) { put8(b, 4); put8(b, 6); put16(b, 20); for (int i = 0; i < 16; i++) put8(b, (uint8_t)i); }
static void node_end(struct buf *b) { put8(b, 0x7f); put8(b, 0xff); put16(b, 4); }

/* Attributes, FilePathListLength (patched by finish), description. */
static size_t begin(struct buf *b, const char *desc)
{
    b->n = 0;
    put32(b, LOAD_OPTION_ACTIVE);
    put16(b, 0);
    put_wide(b, desc);
    return b->n;
}
static void finish_path(struct buf *b, size_t dp_start)
{
    size_t len = b->n - dp_start;
    b->b[4] = (uint8_t)len;
    b->b[5] = (uint8_t)(len >> 8);
}

/* Parse from a heap copy of exactly n bytes (ASan catches over-reads). */
static int parse(const struct buf *b, struct load_option *lo)
{
    uint8_t *copy = malloc(b->n);
    static uint8_t keep[4096];
    int rc;

    memcpy(copy, b->b, b->n);
    memset(err, 'X', sizeof(err));
    rc = load_option_parse(copy, b->n, lo, err, sizeof(err));
    /* lo->optional points into the copy: move it somewhere that stays. */
    if (rc == 0 && lo->optional_len) {
        memcpy(keep, lo->optional, lo->optional_len);
        lo->optional = keep;
    }
    free(copy);
    return rc;
}

/* ---------------------------------------------------------- load options */

static void test_parse_full_path_with_options(void **state)
{
    (void)state;
    struct buf b;
    struct load_option lo;
    size_t dp = begin(&b, "Linux (test)");
    node_pciroot(&b);
    node_pci(&b, 2, 0);
    node_nvme(&b);
    node_hd(&b, 1, ESP_GUID);
    node_file(&b, "\\EFI\\linux\\vmlinuz");
    node_end(&b);
    finish_path(&b, dp);
    put_wide(&b, "console=ttyS0 initrd=\\EFI\\linux\\initrd.img");

    assert_int_equal(parse(&b, &lo), 0);
    assert_string_equal(lo.description, "Linux (test)");
    assert_int_equal(lo.kind, DP_KIND_FILE_ON_PARTITION);
    assert_true(lo.has_hd && lo.has_file && lo.file_ascii);
    assert_string_equal(lo.file, "\\EFI\\linux\\vmlinuz");
    assert_int_equal(lo.hd.part_number, 1);
    assert_int_equal(lo.hd.part_start, 0x800);
    assert_int_equal(lo.hd.part_size, 0x1f000);
    assert_int_equal(lo.hd.sig_type, DP_HD_SIG_GUID);
    assert_string_equal(lo.dp_text, "PciRoot(0x0)/Pci(0x2,0x0)/NVMe(0x1)/HD(1,GPT,"
                        "4c414d49-4e41-4553-5000-000000000001,0x800,0x1f000)/\\EFI\\linux\\vmlinuz");

    char text[512], why[160];
    assert_int_equal(load_option_options_text(lo.optional, lo.optional_len, text, 511, why,
                                              sizeof(why)), 0);
    assert_string_equal(text, "console=ttyS0 initrd=\\EFI\\linux\\initrd.img");
}

static void test_build_roundtrip(void **state)
{
    (void)state;
    uint8_t out[512];
    struct hd_node hd = { .part_number = 2, .part_start = 4096, .part_size = 1 << 20,
                          .mbr_type = DP_HD_MBR_TYPE_GPT, .sig_type = DP_HD_SIG_GUID };
    assert_int_equal(guid_parse(ESP_GUID, hd.signature), 0);
    size_t n = load_option_build(out, sizeof(out), LOAD_OPTION_ACTIVE, "Lamina", &hd,
                                 "\\EFI\\lamina\\lamina.efi");
    /* 6 + "Lamina\0" (14) + HD 42 + File (4 + 2 * 23) + End 4 */
    assert_int_equal(n, 6 + 14 + 42 + 50 + 4);
    struct buf b;
    memcpy(b.b, out, n);
    b.n = n;
    struct load_option lo;
    assert_int_equal(parse(&b, &lo), 0);
    assert_int_equal(lo.attributes, LOAD_OPTION_ACTIVE);
    assert_string_equal(lo.description, "Lamina");
    assert_int_equal(lo.kind, DP_KIND_FILE_ON_PARTITION);
    assert_string_equal(lo.file, "\\EFI\\lamina\\lamina.efi");
    assert_memory_equal(&lo.hd, &hd, sizeof(hd));
    assert_int_equal(lo.optional_len, 0);
    /* Too small a buffer, a relative path, a control character. */
    assert_int_equal(load_option_build(out, n - 1, LOAD_OPTION_ACTIVE, "Lamina", &hd,
                                       "\\EFI\\lamina\\lamina.efi"), 0);
    assert_int_equal(load_option_build(out, sizeof(out), 1, "Lamina", &hd, "EFI\\x.efi"), 0);
    assert_int_equal(load_option_build(out, sizeof(out), 1, "La\tmina", &hd, "\\x.efi"), 0);
    assert_int_equal(load_option_build(out, 20, 1, "Lamina", &hd, "\\x.efi"), 0);
}

static void test_kinds(void **state)
{
    (void)state;
    struct buf b;
    struct load_option lo;
    size_t dp;

    /* A firmware application (the UEFI shell, UiApp). */
    dp = begin(&b, "EFI Internal Shell");
    node_fvfile(&b);
    node_end(&b);
    finish_path(&b, dp);
    assert_int_equal(parse(&b, &lo), 0);
    assert_int_equal(lo.kind, DP_KIND_FIRMWARE);

    /* A whole device: the firmware looks for the removable path itself. */
    dp = begin(&b, "UEFI QEMU NVMe");
    node_pciroot(&b);
    node_pci(&b, 2, 0);
    node_nvme(&b);
    node_end(&b);
    finish_path(&b, dp);
    assert_int_equal(parse(&b, &lo), 0);
    assert_int_equal(lo.kind, DP_KIND_DEVICE);
    assert_false(lo.has_hd);

    /* A partition and no file. */
    dp = begin(&b, "disk");
    node_hd(&b, 1, ESP_GUID);
    node_end(&b);
    finish_path(&b, dp);
    assert_int_equal(parse(&b, &lo), 0);
    assert_int_equal(lo.kind, DP_KIND_PARTITION);

    /* A file with no partition. */
    dp = begin(&b, "file");
    node_file(&b, "\\EFI\\x.efi");
    node_end(&b);
    finish_path(&b, dp);
    assert_int_equal(parse(&b, &lo), 0);
    assert_int_equal(lo.kind, DP_KIND_FILE_ONLY);

    /* A path split over File nodes is joined; a File before the HD does
     * not belong to the partition's path. */
    dp = begin(&b, "split");
    node_file(&b, "\\stale");
    node_hd(&b, 1, ESP_GUID);
    node_file(&b, "\\EFI");
    node_file(&b, "debian");
    node_file(&b, "\\shimx64.efi");
    node_end(&b);
    finish_path(&b, dp);
    assert_int_equal(parse(&b, &lo), 0);
    assert_int_equal(lo.kind, DP_KIND_FILE_ON_PARTITION);
    assert_string_equal(lo.file, "\\EFI\\debian\\shimx64.efi");

    /* Only the first instance counts (section 3.1.3: later ones are data). */
    dp = begin(&b, "two instances");
    node_hd(&b, 1, ESP_GUID);
    node_file(&b, "\\a.efi");
    put8(&b, 0x7f); put8(&b, 0x01); put16(&b, 4);
    node_file(&b, "\\b.efi");
    node_end(&b);
    finish_path(&b, dp);
    assert_int_equal(parse(&b, &lo), 0);
    assert_string_equal(lo.file, "\\a.efi");

    /* Non-ASCII in the file name is flagged. */
    dp = begin(&b, "utf");
    node_hd(&b, 1, ESP_GUID);
    put8(&b, 4); put8(&b, 4); put16(&b, 4 + 8);
    put16(&b, '\\'); put16(&b, 0x00e9); put16(&b, 'x'); put16(&b, 0);
    node_end(&b);
    finish_path(&b, dp);
    assert_int_equal(parse(&b, &lo), 0);
    assert_false(lo.file_ascii);
    assert_string_equal(lo.file, "\\?x");
}

static void expect_malformed(struct buf *b, const char *what)
{
    struct load_option lo;
    assert_int_equal(parse(b, &lo), -1);
    if (strstr(err, what) == NULL)
        fail_msg("error '%s' does not mention '%s'", err, what);
}

static void test_malformed(void **state)
{
    (void)state;
    struct buf b;
    size_t dp;

    b.n = 5;
    memset(b.b, 0, 5);
    expect_malformed(&b, "shorter than");

    b.n = 0;
    put32(&b, 1);
    put16(&b, 0);
    put16(&b, 'A');     /* no NUL */
    expect_malformed(&b, "no terminating NUL");

    dp = begin(&b, "x");
    node_end(&b);
    b.b[4] = 200;       /* FilePathListLength past the end */
    (void)dp;
    expect_malformed(&b, "runs past the end");

    dp = begin(&b, "x");
    put8(&b, 4); put8(&b, 4); put16(&b, 2);     /* node length below 4 */
    node_end(&b);
    finish_path(&b, dp);
    expect_malformed(&b, "is below 4");

    dp = begin(&b, "x");
    node_file(&b, "\\a");
    finish_path(&b, dp);
    b.b[dp + 2] = 40;   /* the node claims more than the list holds */
    expect_malformed(&b, "runs past FilePathListLength");

    dp = begin(&b, "x");
    node_file(&b, "\\a");
    finish_path(&b, dp);    /* no End node */
    expect_malformed(&b, "no End node");

    dp = begin(&b, "x");
    put8(&b, 4); put8(&b, 1); put16(&b, 40);   /* HD of 40 bytes */
    for (int i = 0; i < 36; i++)
        put8(&b, 0);
    node_end(&b);
    finish_path(&b, dp);
    expect_malformed(&b, "HD node of 40 bytes");

    dp = begin(&b, "x");
    put8(&b, 4); put8(&b, 4); put16(&b, 8);
    put16(&b, 'a'); put16(&b, 'b');             /* no NUL in the node */
    node_end(&b);
    finish_path(&b, dp);
    expect_malformed(&b, "without a terminating NUL");

    dp = begin(&b, "x");
    node_end(&b);
    finish_path(&b, dp);
    b.n -= 2;           /* the End node cut short */
    b.b[4] = 2;
    expect_malformed(&b, "cut short");
}

static void test_options_text(void **state)
{
    (void)state;
    char out[600], why[200];
    struct buf b;

    assert_int_equal(load_option_options_text(NULL, 0, out, 511, why, sizeof(why)), 0);
    assert_string_equal(out, "");

    /* Without the NUL, and with zero padding after it. */
    b.n = 0;
    put16(&b, 'a'); put16(&b, '='); put16(&b, '1');
    assert_int_equal(load_option_options_text(b.b, b.n, out, 511, why, sizeof(why)), 0);
    assert_string_equal(out, "a=1");
    put16(&b, 0); put16(&b, 0);
    assert_int_equal(load_option_options_text(b.b, b.n, out, 511, why, sizeof(why)), 0);
    assert_string_equal(out, "a=1");

    /* Something after the NUL: not plain text. */
    put16(&b, 'x');
    assert_int_equal(load_option_options_text(b.b, b.n, out, 511, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "more after"));

    /* Odd length: binary (Windows' "WINDOWS" + BCD object is one such). */
    uint8_t odd[5] = { 'W', 0, 'I', 0, 'N' };
    assert_int_equal(load_option_options_text(odd, 5, out, 511, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "binary"));

    /* Non-ASCII and control characters. */
    b.n = 0;
    put16(&b, 'a'); put16(&b, 0x00e9);
    assert_int_equal(load_option_options_text(b.b, b.n, out, 511, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "0x00e9"));
    b.n = 0;
    put16(&b, 'a'); put16(&b, '\t');
    assert_int_equal(load_option_options_text(b.b, b.n, out, 511, why, sizeof(why)), -1);

    /* '#' starts a comment in lamina.conf. */
    b.n = 0;
    put16(&b, 'a'); put16(&b, '#'); put16(&b, 'b');
    assert_int_equal(load_option_options_text(b.b, b.n, out, 511, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "'#'"));

    /* Exactly max fits, one more does not. */
    b.n = 0;
    for (int i = 0; i < 8; i++)
        put16(&b, 'x');
    assert_int_equal(load_option_options_text(b.b, b.n, out, 8, why, sizeof(why)), 0);
    assert_int_equal(strlen(out), 8);
    assert_int_equal(load_option_options_text(b.b, b.n, out, 7, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "longer than"));
}

/* ------------------------------------------------------------ BootOrder */

static void test_boot_order(void **state)
{
    (void)state;
    uint16_t o[8];
    uint8_t bytes[] = { 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x04, 0x00 };
    char text[64];

    assert_int_equal(boot_order_parse(bytes, 8, o, 8), 4);
    assert_int_equal(o[0], 4);
    assert_int_equal(boot_order_parse(bytes, 7, o, 8), -1);    /* odd */
    assert_int_equal(boot_order_parse(bytes, 8, o, 3), -1);    /* more than cap */
    assert_int_equal(boot_order_parse(bytes, 0, o, 8), 0);

    boot_order_parse(bytes, 8, o, 8);
    /* Remove takes every occurrence. */
    size_t n = boot_order_remove(o, 4, 4);
    assert_int_equal(n, 2);
    assert_int_equal(o[0], 0);
    assert_int_equal(o[1], 1);
    /* Prepend moves an existing number to the front, no duplicate. */
    n = boot_order_prepend(o, n, 8, 1);
    assert_int_equal(n, 2);
    assert_int_equal(o[0], 1);
    assert_int_equal(o[1], 0);
    n = boot_order_prepend(o, n, 8, 0x1234);
    assert_int_equal(n, 3);
    boot_order_text(o, n, text, sizeof(text));
    assert_string_equal(text, "1234,0001,0000");
    /* Full: a new number does not fit, an existing one still moves. */
    assert_int_equal(boot_order_prepend(o, 3, 3, 7), 3);
    assert_int_equal(o[0], 0x1234);
    assert_int_equal(boot_order_prepend(o, 3, 3, 0), 3);
    assert_int_equal(o[0], 0);
    assert_true(boot_order_contains(o, 3, 0x1234));
    assert_false(boot_order_contains(o, 3, 7));

    uint8_t out[6];
    assert_int_equal(boot_order_bytes(o, 3, out, sizeof(out)), 6);
    /* 0000,1234,0001 as little-endian UINT16s */
    static const uint8_t want[6] = { 0x00, 0x00, 0x34, 0x12, 0x01, 0x00 };
    assert_memory_equal(out, want, 6);
    assert_int_equal(boot_order_bytes(o, 3, out, 5), 0);
    boot_order_text(o, 0, text, sizeof(text));
    assert_string_equal(text, "(empty)");
}

static void test_names(void **state)
{
    (void)state;
    char name[9];
    uint16_t n;

    boot_var_name(0xab1, name);
    assert_string_equal(name, "Boot0AB1");
    assert_true(boot_var_parse("Boot0AB1", &n));
    assert_int_equal(n, 0xab1);
    assert_false(boot_var_parse("Boot0ab1", &n));   /* upper-case only (section 3.1.1) */
    assert_false(boot_var_parse("Boot12345", &n));
    assert_false(boot_var_parse("Boot123", &n));
    assert_false(boot_var_parse("BootOrder", &n));
    assert_false(boot_var_parse("Driver0001", &n));

    uint8_t used[8192];
    memset(used, 0, sizeof(used));
    assert_int_equal(boot_number_free(used), 0);
    used[0] = 0x0f;
    assert_int_equal(boot_number_free(used), 4);
    memset(used, 0xff, sizeof(used));
    assert_int_equal(boot_number_free(used), -1);
    used[8191] = 0x7f;
    assert_int_equal(boot_number_free(used), 0xffff);
}

static void test_efivarfs_format(void **state)
{
    (void)state;
    uint8_t file[16], data[] = { 0x05, 0x00 };
    const uint8_t *d;
    size_t dlen;
    uint32_t attrs;

    assert_int_equal(efivarfs_encode(file, sizeof(file), 7, data, 2), 6);
    assert_int_equal(file[0], 7);
    assert_int_equal(file[3], 0);
    assert_int_equal(file[4], 5);
    assert_int_equal(efivarfs_decode(file, 6, &attrs, &d, &dlen), 0);
    assert_int_equal(attrs, 7);
    assert_int_equal(dlen, 2);
    assert_int_equal(d[0], 5);
    assert_int_equal(efivarfs_decode(file, 3, &attrs, &d, &dlen), -1);
    assert_int_equal(efivarfs_encode(file, 5, 7, data, 2), 0);
}

static void test_guid(void **state)
{
    (void)state;
    uint8_t g[16];
    char t[37];
    /* The ESP type GUID as it sits on disk (UEFI 2.10, table 5-7; the first
     * three fields little endian). */
    static const uint8_t esp[16] = { 0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11,
                                     0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b };

    assert_int_equal(guid_parse("C12A7328-F81F-11D2-BA4B-00A0C93EC93B", g), 0);
    assert_memory_equal(g, esp, 16);
    guid_text(esp, t);
    assert_string_equal(t, ESP_TYPE_GUID_TEXT);
    assert_int_equal(guid_parse("c12a7328-f81f-11d2-ba4b-00a0c93ec93", g), -1);
    assert_int_equal(guid_parse("c12a7328-f81f-11d2-ba4b-00a0c93ec93bb", g), -1);
    assert_int_equal(guid_parse("c12a7328+f81f-11d2-ba4b-00a0c93ec93b", g), -1);
    assert_int_equal(guid_parse("g12a7328-f81f-11d2-ba4b-00a0c93ec93b", g), -1);
}

static void test_paths(void **state)
{
    (void)state;
    assert_true(efi_path_equal("\\EFI\\Lamina\\LAMINA.EFI", "\\efi\\lamina\\lamina.efi"));
    assert_true(efi_path_equal("/EFI/lamina/lamina.efi", "\\EFI\\lamina\\lamina.efi"));
    assert_false(efi_path_equal("\\EFI\\lamina\\lamina.efi", "\\EFI\\lamina\\lamina.ef"));
    assert_false(efi_path_equal("\\EFI\\lamina\\lamina.efi", "\\EFI\\lamina\\lamina.efi2"));
}

/* A PE32+ header with the Certificate Table entry set or not. */
static void test_pe_signature(void **state)
{
    (void)state;
    uint8_t img[512];
    memset(img, 0, sizeof(img));
    img[0] = 'M';
    img[1] = 'Z';
    img[0x3c] = 0x80;
    memcpy(img + 0x80, "PE\0\0", 4);
    size_t opt = 0x80 + 24;
    img[opt] = 0x0b;
    img[opt + 1] = 0x02;            /* PE32+ */
    img[opt + 108] = 16;            /* NumberOfRvaAndSizes */
    assert_int_equal(pe_has_signature(img, sizeof(img)), 0);
    img[opt + 112 + 4 * 8 + 4] = 0x10;  /* Certificate Table size */
    assert_int_equal(pe_has_signature(img, sizeof(img)), 1);
    img[opt + 108] = 4;             /* no entry 4 at all */
    assert_int_equal(pe_has_signature(img, sizeof(img)), 0);
    assert_int_equal(pe_has_signature(img, opt + 100), -1);  /* cut short */
    img[opt] = 0x07;                /* not a PE32/PE32+ magic */
    assert_int_equal(pe_has_signature(img, sizeof(img)), -1);
    img[0] = 'X';
    assert_int_equal(pe_has_signature(img, sizeof(img)), -1);
}

/* ------------------------------------------------------------ disks */

struct disk {
    uint8_t *b;
    size_t n;
};

static int disk_read(void *ctx, uint64_t off, void *out, size_t len)
{
    struct disk *d = ctx;
    if (off > d->n || len > d->n - off)
        return -1;
    memcpy(out, d->b + off, len);
    return 0;
}

static void w32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> 8 * i); }
static void w64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> 8 * i); }

/* A GPT disk of 256 blocks of bs bytes: 128 entries of 128 bytes at LBA 2,
 * partition 2 (entry 1) the ESP at LBA 40..199. */
static void make_gpt(struct disk *d, uint32_t bs)
{
    d->n = 256 * (size_t)bs;
    d->b = calloc(1, d->n);
    uint8_t *h = d->b + bs, *e = d->b + 2 * bs + 128;
    memcpy(h, "EFI PART", 8);
    w32(h + 8, 0x00010000);
    w32(h + 12, 92);
    w64(h + 24, 1);
    w64(h + 32, 255);
    w64(h + 72, 2);
    w32(h + 80, 128);
    w32(h + 84, 128);
    guid_parse(ESP_TYPE_GUID_TEXT, e);
    guid_parse(ESP_GUID, e + 16);
    w64(e + 32, 40);
    w64(e + 40, 199);
    w32(h + 88, crc32_ieee(d->b + 2 * bs, 128 * 128));
    w32(h + 16, crc32_ieee(h, 92));
}

static void test_crc32(void **state)
{
    (void)state;
    assert_int_equal(crc32_ieee("123456789", 9), 0xcbf43926u);  /* the check value */
    assert_int_equal(crc32_ieee("", 0), 0);
}

static void test_gpt(void **state)
{
    (void)state;
    uint32_t sizes[] = { 512, 4096 };
    for (int k = 0; k < 2; k++) {
        uint32_t bs = sizes[k];
        struct disk d;
        struct part_id p;
        make_gpt(&d, bs);
        assert_int_equal(disk_identify(disk_read, &d, bs, 2, 40, &p, err, sizeof(err)), 0);
        assert_int_equal(p.scheme, DP_HD_MBR_TYPE_GPT);
        assert_int_equal(p.number, 2);
        assert_int_equal(p.start, 40);
        assert_int_equal(p.size, 160);
        assert_true(part_is_esp_type(&p));
        char t[37];
        guid_text(p.guid, t);
        assert_string_equal(t, ESP_GUID);

        /* The HD node for it matches; one for another GUID does not. */
        struct hd_node hd;
        part_to_hd(&p, &hd);
        assert_int_equal(hd.sig_type, DP_HD_SIG_GUID);
        assert_int_equal(hd.mbr_type, DP_HD_MBR_TYPE_GPT);
        assert_true(hd_matches(&hd, &p));
        hd.signature[15] ^= 1;
        assert_false(hd_matches(&hd, &p));

        /* Linux disagrees on the start: refused. */
        assert_int_equal(disk_identify(disk_read, &d, bs, 2, 41, &p, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "starts at LBA 40"));
        /* An unused entry, a number beyond the table. */
        assert_int_equal(disk_identify(disk_read, &d, bs, 1, 40, &p, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "unused"));
        assert_int_equal(disk_identify(disk_read, &d, bs, 129, 40, &p, err, sizeof(err)), -1);
        /* A damaged entry array, then a damaged header. */
        d.b[2 * bs + 128 + 60] ^= 1;
        assert_int_equal(disk_identify(disk_read, &d, bs, 2, 40, &p, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "entry array CRC32"));
        d.b[2 * bs + 128 + 60] ^= 1;
        d.b[bs + 40] ^= 1;
        assert_int_equal(disk_identify(disk_read, &d, bs, 2, 40, &p, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "header CRC32"));
        free(d.b);
    }
}

static void test_mbr(void **state)
{
    (void)state;
    struct disk d = { calloc(1, 64 * 512), 64 * 512 };
    struct part_id p;
    uint8_t *e = d.b + 446 + 16;    /* slot 2 */

    d.b[510] = 0x55;
    d.b[511] = 0xaa;
    w32(d.b + 440, 0x12345678);
    e[4] = ESP_MBR_TYPE;
    w32(e + 8, 8);
    w32(e + 12, 40);
    assert_int_equal(disk_identify(disk_read, &d, 512, 2, 8, &p, err, sizeof(err)), 0);
    assert_int_equal(p.scheme, DP_HD_MBR_TYPE_MBR);
    assert_int_equal(p.start, 8);
    assert_int_equal(p.size, 40);
    assert_true(part_is_esp_type(&p));
    struct hd_node hd;
    part_to_hd(&p, &hd);
    assert_int_equal(hd.sig_type, DP_HD_SIG_MBR);
    assert_int_equal(hd.signature[0], 0x78);
    assert_true(hd_matches(&hd, &p));
    hd.part_number = 1;             /* same disk, another partition */
    assert_false(hd_matches(&hd, &p));

    assert_int_equal(disk_identify(disk_read, &d, 512, 1, 8, &p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "empty"));
    assert_int_equal(disk_identify(disk_read, &d, 512, 5, 8, &p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "primary"));
    e[4] = 0xee;                    /* protective MBR, but no GPT behind it */
    assert_int_equal(disk_identify(disk_read, &d, 512, 2, 8, &p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "protective"));
    d.b[511] = 0;
    assert_int_equal(disk_identify(disk_read, &d, 512, 2, 8, &p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "neither"));
    free(d.b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_full_path_with_options),
        cmocka_unit_test(test_build_roundtrip),
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_options_text),
        cmocka_unit_test(test_boot_order),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_efivarfs_format),
        cmocka_unit_test(test_guid),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_pe_signature),
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_gpt),
        cmocka_unit_test(test_mbr),
    };
    return cmocka_run_group_tests_name("efiboot", tests, NULL, NULL);
}
