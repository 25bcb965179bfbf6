/* Partition tables: see disk.h. */
#include "tools/lamina-install/disk.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GPT_HEADER_MIN   92                 /* UEFI 2.10, table 5-5 */
#define GPT_ENTRY_MIN    128                /* 128 x 2^n */
#define GPT_ARRAY_MAX    (1024u * 1024u)    /* far beyond any real table */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

uint32_t crc32_ieee(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t crc = 0xffffffffu;

    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static int gpt_identify(disk_read_fn rd, void *ctx, uint32_t lbsize, const uint8_t *hdr,
                        uint32_t number, uint64_t start_lba, struct part_id *p, char *err,
                        size_t errlen)
{
    uint8_t copy[4096];
    uint32_t hsize = get32(hdr + 12), crc = get32(hdr + 16);
    uint64_t array_lba = get64(hdr + 72);
    uint32_t nent = get32(hdr + 80), esize = get32(hdr + 84), acrc = get32(hdr + 88);

    if (hsize < GPT_HEADER_MIN || hsize > lbsize) {
        set_err(err, errlen, "GPT header size %u is not in %d..%u", hsize, GPT_HEADER_MIN, lbsize);
        return -1;
    }
    memcpy(copy, hdr, hsize);
    memset(copy + 16, 0, 4);
    if (crc32_ieee(copy, hsize) != crc) {
        set_err(err, errlen, "GPT header CRC32 mismatch (the table is damaged)");
        return -1;
    }
    if (get64(hdr + 24) != 1) {
        set_err(err, errlen, "GPT header at LBA 1 says it is at LBA %llu",
                (unsigned long long)get64(hdr + 24));
        return -1;
    }
    if (esize < GPT_ENTRY_MIN || esize % 8 != 0 || nent == 0 ||
        (uint64_t)nent * esize > GPT_ARRAY_MAX) {
        set_err(err, errlen, "GPT entry array of %u entries of %u bytes is not plausible", nent,
                esize);
        return -1;
    }
    if (number == 0 || number > nent) {
        set_err(err, errlen, "partition %u is not in the GPT's %u entries", number, nent);
        return -1;
    }
    size_t asize = (size_t)nent * esize;
    uint8_t *array = malloc(asize);
    if (array == NULL) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    if (rd(ctx, array_lba * lbsize, array, asize) != 0) {
        free(array);
        set_err(err, errlen, "cannot read the GPT entry array at LBA %llu",
                (unsigned long long)array_lba);
        return -1;
    }
    if (crc32_ieee(array, asize) != acrc) {
        free(array);
        set_err(err, errlen, "GPT entry array CRC32 mismatch (the table is damaged)");
        return -1;
    }
    const uint8_t *e = array + (size_t)(number - 1) * esize;
    static const uint8_t zero[16];
    if (memcmp(e, zero, 16) == 0) {
        free(array);
        set_err(err, errlen, "GPT entry %u is unused", number);
        return -1;
    }
    memset(p, 0, sizeof(*p));
    p->scheme = DP_HD_MBR_TYPE_GPT;
    p->number = number;
    memcpy(p->type_guid, e, 16);
    memcpy(p->guid, e + 16, 16);
    p->start = get64(e + 32);
    uint64_t end = get64(e + 40);
    free(array);
    if (end < p->start) {
        set_err(err, errlen, "GPT entry %u ends (LBA %llu) before it starts (LBA %llu)", number,
                (unsigned long long)end, (unsigned long long)p->start);
        return -1;
    }
    p->size = end - p->start + 1;
    if (start_lba != p->start) {
        set_err(err, errlen,
                "GPT entry %u starts at LBA %llu but the kernel has the partition at LBA %llu "
                "(table changed since boot? run partprobe)",
                number, (unsigned long long)p->start, (unsigned long long)start_lba);
        return -1;
    }
    return 0;
}

int disk_identify(disk_read_fn rd, void *ctx, uint32_t lbsize, uint32_t number,
                  uint64_t start_lba, struct part_id *p, char *err, size_t errlen)
{
    uint8_t sec[4096];

    memset(p, 0, sizeof(*p));
    if (lbsize < 512 || lbsize > sizeof(sec) || (lbsize & (lbsize - 1)) != 0) {
        set_err(err, errlen, "logical block size %u is not supported", lbsize);
        return -1;
    }
    if (rd(ctx, lbsize, sec, lbsize) != 0) {
        set_err(err, errlen, "cannot read LBA 1 of the disk");
        return -1;
    }
    if (memcmp(sec, "EFI PART", 8) == 0)
        return gpt_identify(rd, ctx, lbsize, sec, number, start_lba, p, err, errlen);

    /* No GPT: the MBR's primary slots (UEFI 2.10, section 5.2.1, table 5-1). */
    if (rd(ctx, 0, sec, 512) != 0) {
        set_err(err, errlen, "cannot read the MBR");
        return -1;
    }
    if (sec[510] != 0x55 || sec[511] != 0xaa) {
        set_err(err, errlen, "the disk has neither a GPT nor an MBR");
        return -1;
    }
    if (number < 1 || number > 4) {
        set_err(err, errlen, "MBR partition %u is not a primary partition (only 1-4 are supported)",
                number);
        return -1;
    }
    const uint8_t *e = sec + 446 + 16 * (number - 1);
    if (e[4] == 0xee) {
        set_err(err, errlen, "protective MBR without a valid GPT header at LBA 1");
        return -1;
    }
    if (e[4] == 0) {
        set_err(err, errlen, "MBR slot %u is empty", number);
        return -1;
    }
    p->scheme = DP_HD_MBR_TYPE_MBR;
    p->number = number;
    memcpy(p->guid, sec + 440, 4);
    p->mbr_type = e[4];
    p->start = get32(e + 8);
    p->size = get32(e + 12);
    if (start_lba != p->start) {
        set_err(err, errlen, "MBR slot %u starts at LBA %llu but the kernel has it at LBA %llu",
                number, (unsigned long long)p->start, (unsigned long long)start_lba);
        return -1;
    }
    return 0;
}

void part_to_hd(const struct part_id *p, struct hd_node *hd)
{
    memset(hd, 0, sizeof(*hd));
    hd->part_number = p->number;
    hd->part_start = p->start;
    hd->part_size = p->size;
    hd->mbr_type = p->scheme;
    if (p->scheme == DP_HD_MBR_TYPE_GPT) {
        hd->sig_type = DP_HD_SIG_GUID;
        memcpy(hd->signature, p->guid, 16);
    } else {
        hd->sig_type = DP_HD_SIG_MBR;
        memcpy(hd->signature, p->guid, 4);
    }
}

bool hd_matches(const struct hd_node *hd, const struct part_id *p)
{
    if (hd->mbr_type != p->scheme)
        return false;
    if (p->scheme == DP_HD_MBR_TYPE_GPT)
        return hd->sig_type == DP_HD_SIG_GUID && memcmp(hd->signature, p->guid, 16) == 0;
    return hd->sig_type == DP_HD_SIG_MBR && memcmp(hd->signature, p->guid, 4) == 0 &&
           hd->part_number == p->number && hd->part_start == p->start;
}

bool part_is_esp_type(const struct part_id *p)
{
    uint8_t esp[16];

    if (p->scheme == DP_HD_MBR_TYPE_MBR)
        return p->mbr_type == ESP_MBR_TYPE;
    guid_parse(ESP_TYPE_GUID_TEXT, esp);
    return memcmp(p->type_guid, esp, 16) == 0;
}

void part_text(const struct part_id *p, char *out, size_t cap)
{
    char g[37];

    if (p->scheme == DP_HD_MBR_TYPE_GPT) {
        guid_text(p->guid, g);
        snprintf(out, cap, "partition %u (GPT %s)", p->number, g);
    } else {
        snprintf(out, cap, "partition %u (MBR disk 0x%02x%02x%02x%02x)", p->number, p->guid[3],
                 p->guid[2], p->guid[1], p->guid[0]);
    }
}
