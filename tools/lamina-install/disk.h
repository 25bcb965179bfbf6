/* Which partition is the ESP, in the terms a boot option's Hard Drive node
 * uses (UEFI 2.10, section 10.3.5.1): read from the disk's own partition
 * table, GPT (section 5.3) or MBR (section 5.2.1), through a read callback,
 * so the parser is pure and unit-tested on images built in memory
 * (tests/unit/test_efiboot.c). No blkid, no udev: the table is the truth
 * the firmware itself reads. */
#ifndef LAMINA_TOOLS_DISK_H
#define LAMINA_TOOLS_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tools/lamina-install/efiboot.h"

/* The EFI System Partition type GUID (UEFI 2.10, section 5.3.3, table 5-7)
 * and its MBR OS type (section 5.2.2, table 5-2). */
#define ESP_TYPE_GUID_TEXT "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
#define ESP_MBR_TYPE 0xef

struct part_id {
    uint8_t scheme;         /* DP_HD_MBR_TYPE_GPT or DP_HD_MBR_TYPE_MBR */
    uint32_t number;        /* 1-based: GPT entry index + 1, MBR primary slot + 1 */
    uint64_t start, size;   /* logical blocks */
    uint8_t guid[16];       /* GPT: UniquePartitionGUID; MBR: disk signature in 0-3 */
    uint8_t type_guid[16];  /* GPT: PartitionTypeGUID */
    uint8_t mbr_type;       /* MBR: the OS type byte */
};

/* Read len bytes at byte offset off of the whole disk; 0 or -1. */
typedef int (*disk_read_fn)(void *ctx, uint64_t off, void *buf, size_t len);

/* Identify partition number (as Linux numbers it: /sys/.../partition) of a
 * disk with logical blocks of lbsize bytes (512 or 4096). start_lba is
 * where Linux says it starts, in logical blocks: the table must agree.
 * GPT: primary header at LBA 1, header and entry-array CRC32 checked.
 * MBR: the four primary slots (no extended partitions). Returns 0, or -1
 * with the reason in err. */
int disk_identify(disk_read_fn rd, void *ctx, uint32_t lbsize, uint32_t number,
                  uint64_t start_lba, struct part_id *p, char *err, size_t errlen);

/* The HD node a boot option needs to name this partition. */
void part_to_hd(const struct part_id *p, struct hd_node *hd);
/* Does the HD node name this partition? GPT: the same UniquePartitionGUID
 * (what firmware matches a short-form path on); MBR: the same disk
 * signature, partition number and start. */
bool hd_matches(const struct hd_node *hd, const struct part_id *p);
/* Is its type the EFI System Partition's? */
bool part_is_esp_type(const struct part_id *p);
/* "partition 1 (GPT a1b2...)" for messages. */
void part_text(const struct part_id *p, char *out, size_t cap);

/* CRC-32 as GPT uses it (ISO 3309 / ITU-T V.42, reflected, poly 0xedb88320). */
uint32_t crc32_ieee(const void *data, size_t len);

#endif /* LAMINA_TOOLS_DISK_H */
