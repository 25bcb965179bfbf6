/* Fuzz what lamina-install reads from the firmware and the disk
 * (tools/lamina-install/efiboot.c, disk.c): the input is a Boot#### load
 * option, and the same bytes are a disk image whose partition table is
 * looked up.
 *
 * Whatever the bytes, nothing may fault (ASan/UBSan), and:
 *  - a parsed option's strings are terminated inside their arrays, its
 *    optional data lies inside the input;
 *  - options text that is accepted is printable ASCII without '#', within
 *    the maximum;
 *  - an option for a file on a partition, rebuilt with load_option_build,
 *    parses back to the same partition and file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "tools/lamina-install/disk.h"
#include "tools/lamina-install/efiboot.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

struct img {
    const uint8_t *b;
    size_t n;
};

static int rd(void *ctx, uint64_t off, void *buf, size_t len)
{
    const struct img *d = ctx;
    if (off > d->n || len > d->n - off)
        return -1;
    memcpy(buf, d->b + off, len);
    return 0;
}

static int printable(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s >= 0x7f)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct load_option lo, back;
    char err[256], text[512], why[160];
    uint8_t built[4096];

    if (load_option_parse(data, size, &lo, err, sizeof(err)) == 0) {
        CHECK(memchr(lo.description, 0, sizeof(lo.description)) != NULL);
        CHECK(memchr(lo.file, 0, sizeof(lo.file)) != NULL);
        CHECK(memchr(lo.dp_text, 0, sizeof(lo.dp_text)) != NULL);
        CHECK(lo.optional >= data && lo.optional + lo.optional_len == data + size);
        if (load_option_options_text(lo.optional, lo.optional_len, text, 100, why,
                                     sizeof(why)) == 0) {
            CHECK(strlen(text) <= 100 && printable(text) && strchr(text, '#') == NULL);
        }
        if (lo.kind == DP_KIND_FILE_ON_PARTITION && lo.file_ascii && lo.file[0] == '\\' &&
            printable(lo.description) && printable(lo.file)) {
            size_t n = load_option_build(built, sizeof(built), lo.attributes, lo.description,
                                         &lo.hd, lo.file);
            if (n > 0) {
                CHECK(load_option_parse(built, n, &back, err, sizeof(err)) == 0);
                CHECK(back.kind == DP_KIND_FILE_ON_PARTITION);
                CHECK(memcmp(&back.hd, &lo.hd, sizeof(lo.hd)) == 0);
                CHECK(strcmp(back.file, lo.file) == 0);
                CHECK(strcmp(back.description, lo.description) == 0);
                CHECK(back.optional_len == 0);
            }
        }
    } else {
        CHECK(err[0] != '\0');
    }

    uint16_t order[64];
    int n = boot_order_parse(data, size, order, 64);
    CHECK(n == -1 || (size_t)n * 2 == size);

    struct img d = { data, size };
    struct part_id p;
    uint32_t number = size ? (uint32_t)(data[size - 1] % 6) : 1;
    if (disk_identify(rd, &d, 512, number, size > 1 ? data[size - 2] : 0, &p, err,
                      sizeof(err)) == 0)
        CHECK(p.number == number);
    return 0;
}
