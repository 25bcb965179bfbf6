/* The ACPI DMA Remapping Reporting table (DMAR), parsed and checked.
 *
 * Contract: Intel VT-d specification (rev. 4.1), chapter 8 "BIOS
 * Considerations": 8.1 the DMAR header, 8.3 DRHD, 8.3.1 device scope, 8.4
 * RMRR, 8.5 ATSR, 8.6 RHSA, 8.7 ANDD, 8.8 SATC.
 *
 * A pure parser: no libc, no hardware. The same file is linked into the
 * monitor (iommu/iommu.c), the test EFI program test-guests/dma.c, the unit
 * tests and a libFuzzer target, since it reads firmware input. It checks
 * everything the monitor relies on and refuses the whole table at the first
 * fault, with one line naming the table, the entry and the field:
 *
 *   DMAR: length 40 is below the 48-byte header
 *   DMAR entry 2 (RMRR at offset 0x78): limit 0x7fffe is not the end of a 4 KiB page
 *   DMAR entry 1 (DRHD at offset 0x50): register base 0xfed90000 overlaps entry 0
 */
#ifndef LAMINA_IOMMU_DMAR_H
#define LAMINA_IOMMU_DMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DMAR_MAX_UNITS      16     /* DRHDs kept; more is refused */
#define DMAR_MAX_RMRRS      32     /* RMRRs kept; more is refused */
#define DMAR_MAX_SCOPES     8      /* device scopes kept per DRHD or RMRR (all are checked) */
#define DMAR_ERR_LEN        160    /* enough for any message */

#define DMAR_HEADER_LEN     48     /* ACPI header (36) + HAW, flags, 10 reserved */

/* Remapping structure types (8.2). */
enum dmar_type {
    DMAR_TYPE_DRHD = 0, DMAR_TYPE_RMRR = 1, DMAR_TYPE_ATSR = 2, DMAR_TYPE_RHSA = 3,
    DMAR_TYPE_ANDD = 4, DMAR_TYPE_SATC = 5, DMAR_TYPE_SIDP = 6,
};

/* Device scope types (8.3.1, table 8-4). */
enum dmar_scope_type {
    DMAR_SCOPE_ENDPOINT = 1, DMAR_SCOPE_BRIDGE = 2, DMAR_SCOPE_IOAPIC = 3,
    DMAR_SCOPE_HPET = 4, DMAR_SCOPE_ACPI = 5,
};

#define DMAR_FLAG_INTR_REMAP        (1u << 0)   /* table flags (8.1) */
#define DMAR_FLAG_X2APIC_OPT_OUT    (1u << 1)
#define DMAR_DRHD_INCLUDE_PCI_ALL   (1u << 0)   /* DRHD flags (8.3) */

/* One device scope: a start bus and the device:function path from it. Only
 * the first and last path elements are kept (the last names the device once
 * the bridges on the way are walked). */
struct dmar_scope {
    uint8_t type;           /* enum dmar_scope_type */
    uint8_t enum_id;        /* IOAPIC/HPET id, ACPI device number */
    uint8_t bus;            /* start bus */
    uint8_t npath;          /* path elements */
    uint8_t dev, fn;        /* the first path element: on the start bus */
    uint8_t last_dev, last_fn;
};

/* A DMA remapping hardware unit (DRHD). */
struct dmar_unit {
    uint64_t reg_base;      /* 4 KiB aligned */
    uint64_t reg_size;      /* bytes: 4 KiB << size field */
    uint16_t segment;
    uint8_t flags;          /* DMAR_DRHD_* */
    uint8_t nscopes;        /* scopes in the table (scope[] keeps DMAR_MAX_SCOPES) */
    uint16_t entry;         /* index of the remapping structure in the table */
    uint16_t offset;        /* its byte offset in the table */
    struct dmar_scope scope[DMAR_MAX_SCOPES];
};

/* A reserved memory region (RMRR): DMA the firmware set up for the devices
 * in its scope (USB legacy emulation, integrated graphics), which must stay
 * mapped. */
struct dmar_rmrr {
    uint64_t base;          /* 4 KiB aligned */
    uint64_t end;           /* exclusive: limit + 1, 4 KiB aligned */
    uint16_t segment;
    uint8_t nscopes;
    uint8_t pad;
    uint16_t entry;
    uint16_t offset;
    struct dmar_scope scope[DMAR_MAX_SCOPES];
};

struct dmar_info {
    uint8_t haw;            /* host address width in bits (the field + 1) */
    uint8_t flags;          /* DMAR_FLAG_* */
    uint8_t nunits, nrmrrs;
    uint16_t nentries;      /* remapping structures, every type counted */
    uint16_t natsr, nother; /* ATSR; RHSA, ANDD, SATC and unknown types (checked, unused) */
    bool include_all_seg0;  /* a DRHD on segment 0 covers every device not listed elsewhere */
    struct dmar_unit unit[DMAR_MAX_UNITS];
    struct dmar_rmrr rmrr[DMAR_MAX_RMRRS];
};

/* Parse the `len` bytes at `table` (the whole table as the firmware gave it;
 * the header's length must not exceed len). Returns 0 and fills *out, or -1
 * with the reason in err (always NUL-terminated when errlen > 0). Checks:
 * signature, length (header, and every structure inside it, exactly filling
 * it), checksum, host address width (32 to 64 bits), DRHD register bases (4 KiB aligned,
 * non-zero, their ranges within the address width and not overlapping each
 * other), at most one INCLUDE_PCI_ALL unit per segment and it comes last,
 * RMRR base/limit (4 KiB aligned, base <= limit, within the address width,
 * not overlapping another RMRR), device scopes (length 6 + 2n, known type,
 * at least one path element, INCLUDE_PCI_ALL units list only IOAPIC, HPET and
 * ACPI devices, RMRRs only PCI endpoints and bridges), and the limits above. */
int dmar_parse(const void *table, size_t len, struct dmar_info *out, char *err, size_t errlen);

/* Hide the DMAR from an OS (M8): remove from an ACPI root table (the XSDT
 * with entry_size 8, the RSDT with 4; ACPI 6.5 5.2.7-5.2.8) every entry that
 * points at a table signed "DMAR", close the gap, and fix the root's length
 * and checksum; each such table is renamed "LDMR" (its checksum still
 * right), so that no root table rebuilt later lists a DMAR. Entries are physical addresses, reached identity mapped; a
 * zero entry is kept. Returns the number of entries removed (0: nothing
 * changed), or -1 if the root is not a sane table (length below its header). */
int dmar_unlink(void *root, unsigned entry_size);

/* The name of a structure type ("DRHD", ..., "SIDP", else "unknown type"). */
const char *dmar_type_name(unsigned type);

#endif
