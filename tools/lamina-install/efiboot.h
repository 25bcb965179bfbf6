/* The UEFI boot-manager data lamina-install reads and writes, as pure C on
 * byte buffers (no I/O), so that every decision is unit-tested on the host
 * (tests/unit/test_efiboot.c):
 *
 *  - EFI_LOAD_OPTION, the contents of a Boot#### variable (UEFI 2.10,
 *    section 3.1.3): attributes, description, device path, optional data;
 *  - the device path inside it (UEFI 2.10, section 10.3): the Hard Drive
 *    media node (10.3.5.1) that names a partition and the File Path media
 *    nodes (10.3.5.4) that name a file on it;
 *  - BootOrder / BootNext (section 3.3: arrays of UINT16 option numbers);
 *  - the efivarfs file format (Linux: a 4-byte attribute word, then the data).
 *
 * Strings: the firmware stores CHAR16 (UCS-2, little endian). lamina.conf
 * and lamina.efi's loader take printable ASCII only, so paths and options
 * are converted to ASCII and anything else is reported, never guessed.
 */
#ifndef LAMINA_TOOLS_EFIBOOT_H
#define LAMINA_TOOLS_EFIBOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* EFI_GLOBAL_VARIABLE (UEFI 2.10, section 3.3), as efivarfs spells it. */
#define EFI_GLOBAL_GUID_TEXT "8be4df61-93ca-11d2-aa0d-00e098032b8c"

/* Variable attributes (UEFI 2.10, section 8.2, SetVariable). */
#define EFI_VARIABLE_NON_VOLATILE       0x1u
#define EFI_VARIABLE_BOOTSERVICE_ACCESS 0x2u
#define EFI_VARIABLE_RUNTIME_ACCESS     0x4u
/* What Boot####, BootOrder and BootNext carry (section 3.3, table 3-1). */
#define EFI_BOOT_VAR_ATTRS \
    (EFI_VARIABLE_NON_VOLATILE | EFI_VARIABLE_BOOTSERVICE_ACCESS | EFI_VARIABLE_RUNTIME_ACCESS)

/* EFI_LOAD_OPTION.Attributes (section 3.1.3). */
#define LOAD_OPTION_ACTIVE          0x00000001u
#define LOAD_OPTION_FORCE_RECONNECT 0x00000002u
#define LOAD_OPTION_HIDDEN          0x00000008u
#define LOAD_OPTION_CATEGORY_MASK   0x00001f00u
#define LOAD_OPTION_CATEGORY_BOOT   0x00000000u
#define LOAD_OPTION_CATEGORY_APP    0x00000100u

/* Device path node types and subtypes used here (section 10.3.1). */
#define DP_TYPE_HARDWARE  0x01
#define DP_TYPE_ACPI      0x02
#define DP_TYPE_MESSAGING 0x03
#define DP_TYPE_MEDIA     0x04
#define DP_TYPE_END       0x7f
#define DP_SUB_END_ENTIRE   0xff
#define DP_SUB_END_INSTANCE 0x01
#define DP_SUB_HW_PCI       0x01
#define DP_SUB_ACPI_ACPI    0x01
#define DP_SUB_MEDIA_HD     0x01
#define DP_SUB_MEDIA_FILE   0x04
#define DP_SUB_MEDIA_FVFILE 0x06
#define DP_SUB_MEDIA_FV     0x07

#define DP_HD_NODE_LEN 42           /* section 10.3.5.1, table 10-52 */
#define DP_HD_MBR_TYPE_MBR 0x01     /* PC-AT legacy partition table */
#define DP_HD_MBR_TYPE_GPT 0x02     /* GUID partition table */
#define DP_HD_SIG_NONE 0x00
#define DP_HD_SIG_MBR  0x01         /* 32-bit MBR disk signature at offset 0x1b8 */
#define DP_HD_SIG_GUID 0x02         /* the GPT entry's UniquePartitionGUID */

#define EFIBOOT_DESC_MAX 255        /* bytes of a description shown (UTF-8 cut) */
#define EFIBOOT_PATH_MAX 511        /* bytes of a file path (ASCII) */
#define EFIBOOT_DP_TEXT_MAX 1023    /* bytes of a device path as text */

/* A Hard Drive media device path node (section 10.3.5.1). The partition
 * start and size are in logical blocks of the disk. */
struct hd_node {
    uint32_t part_number;       /* 1-based; GPT: the entry's index + 1 */
    uint64_t part_start;
    uint64_t part_size;
    uint8_t signature[16];      /* GUID (GPT) or the MBR signature in bytes 0-3 */
    uint8_t mbr_type;           /* DP_HD_MBR_TYPE_* */
    uint8_t sig_type;           /* DP_HD_SIG_* */
};

/* What a boot option's device path points at, as far as lamina-install is
 * concerned. */
enum dp_kind {
    DP_KIND_FILE_ON_PARTITION,  /* an HD node followed by File nodes: a loader file */
    DP_KIND_PARTITION,          /* an HD node and no file: the removable-media path
                                   \EFI\BOOT\BOOTX64.EFI of that partition */
    DP_KIND_DEVICE,             /* neither: a whole device the firmware searches itself */
    DP_KIND_FILE_ONLY,          /* File nodes with no HD before them: a volume unknown */
    DP_KIND_FIRMWARE,           /* a firmware volume file (FvFile), e.g. a built-in shell */
};

/* A parsed EFI_LOAD_OPTION. The optional data points into the parsed buffer. */
struct load_option {
    uint32_t attributes;
    char description[EFIBOOT_DESC_MAX + 1];     /* UTF-8 */
    enum dp_kind kind;
    bool has_hd;
    struct hd_node hd;              /* the last HD node of the first instance */
    bool has_file;
    bool file_ascii;                /* file[] is exact (else non-ASCII became '?') */
    char file[EFIBOOT_PATH_MAX + 1];/* File nodes after the HD node, joined with '\' */
    char dp_text[EFIBOOT_DP_TEXT_MAX + 1]; /* the device path, shortened, for messages */
    const uint8_t *optional;
    size_t optional_len;
};

/* Parse the len bytes of a Boot#### variable (without the efivarfs attribute
 * word). Returns 0, or -1 with a one-line reason in err ("device path node
 * at byte 12 runs past FilePathListLength", ...). Checks: the description
 * is NUL-terminated inside the buffer, FilePathListLength fits, each node is
 * at least 4 bytes and inside the list, the first instance ends with an End
 * node, an HD node is exactly 42 bytes, File nodes hold NUL-terminated CHAR16. */
int load_option_parse(const uint8_t *buf, size_t len, struct load_option *lo,
                      char *err, size_t errlen);

/* Build an EFI_LOAD_OPTION with a short-form device path HD(hd)/File(file)/End
 * (section 3.1.2: the firmware expands a path that starts with an HD node)
 * and no optional data. file is printable ASCII starting with '\'.
 * Returns the size written, 0 if it does not fit in cap or an argument is bad. */
size_t load_option_build(uint8_t *buf, size_t cap, uint32_t attributes, const char *description,
                         const struct hd_node *hd, const char *file);

/* The optional data of a boot option as lamina.conf `options` text: empty
 * data gives "", UCS-2 text (one trailing NUL allowed, then only zero bytes)
 * of printable ASCII gives that text. Returns 0, or -1 with the reason in
 * why when the data is binary, not ASCII, holds '#' (a comment in
 * lamina.conf) or is longer than max bytes of text. */
int load_option_options_text(const uint8_t *data, size_t len, char *out, size_t max,
                             char *why, size_t whylen);

/* ------------------------------------------------------------ BootOrder */

/* A BootOrder or BootNext value: len must be even (BootNext: exactly 2).
 * Returns the number of entries (at most cap), or -1 if len is odd or the
 * list holds more than cap entries. */
int boot_order_parse(const uint8_t *data, size_t len, uint16_t *order, size_t cap);
/* order without any occurrence of num; returns the new count. */
size_t boot_order_remove(uint16_t *order, size_t count, uint16_t num);
/* num first, then order without it; returns the new count, or count
 * unchanged if there is no room (count == cap and num not in order). */
size_t boot_order_prepend(uint16_t *order, size_t count, size_t cap, uint16_t num);
bool boot_order_contains(const uint16_t *order, size_t count, uint16_t num);
/* Serialize to little-endian UINT16s; returns bytes written (2 * count). */
size_t boot_order_bytes(const uint16_t *order, size_t count, uint8_t *out, size_t cap);
/* "0004,0001,0000" (upper-case hex, as efibootmgr prints it), "(empty)" if none. */
void boot_order_text(const uint16_t *order, size_t count, char *out, size_t cap);

/* -------------------------------------------------------------- names */

/* "Boot%04X" (section 3.1.1: upper-case hex digits). */
void boot_var_name(uint16_t num, char out[9]);
/* Is name exactly "Boot" + 4 upper-case hex digits? Sets *num. */
bool boot_var_parse(const char *name, uint16_t *num);
/* Lowest number in 0..0xffff not marked in used (a bitmap of 8192 bytes);
 * -1 if all are used. */
int boot_number_free(const uint8_t used[8192]);

/* ---------------------------------------------------------- efivarfs */

/* An efivarfs file is the 4-byte attribute word (little endian) followed by
 * the variable's data. Returns 0 and the parts, or -1 if shorter than 4. */
int efivarfs_decode(const uint8_t *file, size_t len, uint32_t *attrs,
                    const uint8_t **data, size_t *dlen);
/* Returns bytes written (4 + dlen), 0 if it does not fit. */
size_t efivarfs_encode(uint8_t *out, size_t cap, uint32_t attrs, const uint8_t *data, size_t dlen);

/* ------------------------------------------------------------- GUIDs */

/* The EFI_GUID byte layout (first three fields little endian) as
 * "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", lower case. */
void guid_text(const uint8_t guid[16], char out[37]);
/* The reverse; either case. Returns 0, -1 if malformed. */
int guid_parse(const char *text, uint8_t guid[16]);

/* ---------------------------------------------------------------- paths */

/* Case-insensitive ASCII comparison of two UEFI paths, '/' counting as '\'
 * (FAT compares names without case). */
bool efi_path_equal(const char *a, const char *b);

/* PE/COFF image: does it carry an Authenticode signature (the Certificate
 * Table data directory, index 4, is non-empty)? -1 if not a PE32+ image. */
int pe_has_signature(const uint8_t *img, size_t len);

#endif /* LAMINA_TOOLS_EFIBOOT_H */
