/* The ACPI ports that end the guest: PM1a/PM1b control (sleep, S5 power-off)
 * and the reset register, from the FADT (ACPI 6.5 5.2.9). The monitor traps
 * them to print its final summary; it does not change what they do. */
#include "efi/loader.h"
#include "core/shutdown.h"
#include "iommu/dmar.h"

struct __attribute__((packed)) sdt_header {
    char signature[4];
    UINT32 length;
    UINT8 revision, checksum;
    char oem_id[6], oem_table_id[8];
    UINT32 oem_revision, creator_id, creator_revision;
};

struct __attribute__((packed)) gas {          /* Generic Address Structure, 5.2.3.2 */
    UINT8 space_id, bit_width, bit_offset, access_size;
    UINT64 address;
};

#define GAS_SYSTEM_IO 1
/* FADT field offsets (ACPI 6.5 table 5.9) */
#define FADT_PM1A_CNT_BLK   64
#define FADT_PM1B_CNT_BLK   68
#define FADT_RESET_REG      116
#define FADT_RESET_VALUE    128     /* ACPI 6.5 table 5.9 */
#define FADT_X_PM1A_CNT_BLK 172
#define FADT_X_PM1B_CNT_BLK 184
#define FADT_PM1A_EVT_BLK   56
#define FADT_X_PM1A_EVT_BLK 148
#define FADT_DSDT           40
#define FADT_X_DSDT         140

static BOOLEAN checksum_ok(const void *p, UINT32 len)
{
    UINT8 sum = 0;
    for (UINT32 i = 0; i < len; i++)
        sum += ((const UINT8 *)p)[i];
    return sum == 0;
}

/* The root tables: the XSDT (ACPI 2.0+) and the RSDT; either may be NULL. */
static void find_roots(struct sdt_header **xsdt_out, struct sdt_header **rsdt_out)
{
    static EFI_GUID acpi20 = ACPI_20_TABLE_GUID;
    const UINT8 *rsdp = NULL;
    *xsdt_out = *rsdt_out = NULL;
    for (UINTN i = 0; i < ST->NumberOfTableEntries; i++) {
        EFI_CONFIGURATION_TABLE *t = &ST->ConfigurationTable[i];
        if (!CompareGuid(&t->VendorGuid, &acpi20))
            rsdp = t->VendorTable;
        else if (!rsdp && !CompareGuid(&t->VendorGuid, &AcpiTableGuid))
            rsdp = t->VendorTable;
    }
    if (!rsdp || CompareMem(rsdp, "RSD PTR ", 8) != 0 || !checksum_ok(rsdp, 20))
        return;
    UINT64 xsdt = rsdp[15] >= 2 ? *(const UINT64 *)(rsdp + 24) : 0;   /* revision, XsdtAddress */
    UINT32 rsdt = *(const UINT32 *)(rsdp + 16);
    struct sdt_header *x = (void *)(UINTN)xsdt, *r = (void *)(UINTN)rsdt;
    if (x && checksum_ok(x, x->length))
        *xsdt_out = x;
    if (r && checksum_ok(r, r->length))
        *rsdt_out = r;
}

static UINT64 root_entry(const struct sdt_header *root, unsigned size, UINTN i)
{
    const UINT8 *e = (const UINT8 *)(root + 1) + i * size;
    return size == 8 ? *(const UINT64 *)e : *(const UINT32 *)e;
}

/* The first table with this signature and a good checksum, through the
 * XSDT, or the RSDT where there is no XSDT. */
static const struct sdt_header *find_table(const char sig[4])
{
    struct sdt_header *xsdt, *rsdt;
    find_roots(&xsdt, &rsdt);
    const struct sdt_header *root = xsdt ? xsdt : rsdt;
    unsigned size = xsdt ? 8 : 4;
    if (!root)
        return NULL;
    UINTN n = (root->length - sizeof(*root)) / size;
    for (UINTN i = 0; i < n; i++) {
        const struct sdt_header *h = (const void *)(UINTN)root_entry(root, size, i);
        if (h && CompareMem(h->signature, sig, 4) == 0 && checksum_ok(h, h->length))
            return h;
    }
    return NULL;
}

static const struct sdt_header *find_fadt(void)
{
    return find_table("FACP");
}

static UINT16 io_port_of(const struct sdt_header *fadt, unsigned x_off, unsigned legacy_off)
{
    const UINT8 *f = (const UINT8 *)fadt;
    if (fadt->length >= x_off + sizeof(struct gas)) {
        const struct gas *g = (const struct gas *)(f + x_off);
        if (g->address && g->space_id == GAS_SYSTEM_IO && g->address <= 0xffff)
            return (UINT16)g->address;
        if (g->address)
            return 0;       /* memory-mapped: nothing to trap as a port */
    }
    if (legacy_off && fadt->length >= legacy_off + 4) {
        UINT32 port = *(const UINT32 *)(f + legacy_off);
        return port <= 0xffff ? (UINT16)port : 0;
    }
    return 0;
}

void acpi_find_power_ports(struct lamina_bootinfo *bi)
{
    const struct sdt_header *fadt = find_fadt();
    if (!fadt) {
        lprint(L_WARN, L"no ACPI FADT: the final exit summary is printed only on reset port 0xcf9");
        return;
    }
    bi->pm1a_cnt = io_port_of(fadt, FADT_X_PM1A_CNT_BLK, FADT_PM1A_CNT_BLK);
    bi->pm1b_cnt = io_port_of(fadt, FADT_X_PM1B_CNT_BLK, FADT_PM1B_CNT_BLK);
    bi->reset_port = io_port_of(fadt, FADT_RESET_REG, 0);
    if (fadt->length > FADT_RESET_VALUE)
        bi->reset_value = ((const UINT8 *)fadt)[FADT_RESET_VALUE];
    bi->pm1a_evt = io_port_of(fadt, FADT_X_PM1A_EVT_BLK, FADT_PM1A_EVT_BLK);
    /* M7: S5 is the one sleep state the monitor lets through (core/sleep.c). */
    const UINT8 *f = (const UINT8 *)fadt;
    UINT64 dsdt = 0;
    if (fadt->length >= FADT_X_DSDT + 8)
        dsdt = *(const UINT64 *)(f + FADT_X_DSDT);
    if (!dsdt && fadt->length >= FADT_DSDT + 4)
        dsdt = *(const UINT32 *)(f + FADT_DSDT);
    const struct sdt_header *d = (const void *)(UINTN)dsdt;
    uint8_t typ;
    if (d && CompareMem(d->signature, "DSDT", 4) == 0 && d->length > sizeof(*d) &&
        acpi_sleep_type((const uint8_t *)(d + 1), d->length - sizeof(*d), 5, &typ) == 0)
        bi->s5_typ = 0x80 | typ;
    else
        lprint(L_WARN, L"no \\_S5 package in the DSDT: sleep states cannot be told from "
               L"power-off, every SLP_EN write passes");
    lprint(L_DEBUG, L"ACPI FADT: PM1a_CNT 0x%x, PM1b_CNT 0x%x, reset register 0x%x",
           bi->pm1a_cnt, bi->pm1b_cnt, bi->reset_port);
}

/* M8: the DMA remapping table (VT-d 8.1) for the monitor, which parses and
 * checks it; its length as the header gives it. */
void acpi_find_dmar(struct lamina_bootinfo *bi)
{
    const struct sdt_header *dmar = find_table("DMAR");
    bi->dmar_base = (UINT64)(UINTN)dmar;
    bi->dmar_len = dmar ? dmar->length : 0;
}

/* M8: the OS must not find the remapping units the monitor owns: the DMAR
 * leaves the XSDT and the RSDT (ACPI 6.5 5.2.7, 5.2.8), checksums fixed. */
void acpi_hide_dmar(void)
{
    struct sdt_header *xsdt, *rsdt;
    find_roots(&xsdt, &rsdt);
    int x = xsdt ? dmar_unlink(xsdt, 8) : 0, r = rsdt ? dmar_unlink(rsdt, 4) : 0;
    int n = (x > 0 ? x : 0) + (r > 0 ? r : 0);
    lprint(L_INFO, L"ACPI DMAR hidden from the guest (%d root table entries removed)", n);
}
