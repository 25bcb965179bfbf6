/* dmarinj.efi: give a machine without an IOMMU (Bochs) an ACPI DMAR table,
 * then start Lamina, so the loader finds it through the XSDT and the monitor
 * has to judge it.
 *
 * Started as \EFI\BOOT\BOOTX64.EFI. Reads one word from \EFI\BOOT\dmarinj.txt,
 * installs the DMAR it names with the firmware's EFI_ACPI_TABLE_PROTOCOL
 * (UEFI 2.10 20.2, which also builds the RSDP and XSDT when there were none),
 * and starts \EFI\BOOT\lamina.efi (lamina.conf beside it):
 *
 *   no-unit    a well-formed DMAR whose one unit sits at 0xfed90000, where
 *              nothing answers: the monitor reads all ones and refuses it
 *   bad-rmrr   a DMAR whose RMRR limit is not the end of a page: the parser
 *              refuses it, naming entry 1 and the field
 */
#include "test-guests/lib/tg.h"

/* UEFI 2.10 20.2: EFI_ACPI_TABLE_PROTOCOL (gnu-efi lacks it). */
#define ACPI_TABLE_PROTOCOL_GUID \
    { 0xffe06bdd, 0x6107, 0x46a6, { 0x7b, 0xb2, 0x5a, 0x9c, 0x7e, 0xc5, 0x27, 0x5c } }
typedef struct _ACPI_TABLE_PROTOCOL ACPI_TABLE_PROTOCOL;
struct _ACPI_TABLE_PROTOCOL {
    EFI_STATUS (EFIAPI *InstallAcpiTable)(ACPI_TABLE_PROTOCOL *self, VOID *table, UINTN size,
                                          UINTN *key);
    EFI_STATUS (EFIAPI *UninstallAcpiTable)(ACPI_TABLE_PROTOCOL *self, UINTN key);
};

static uint8_t table[128];

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Header (VT-d 8.1): HAW 39 bits; a DRHD (8.3) at 0xfed90000 listing
 * 00:02.0; with bad_rmrr an RMRR (8.4) whose limit ends mid-page. */
static UINTN build(bool bad_rmrr)
{
    uint8_t *t = table;
    SetMem(t, sizeof(table), 0);
    CopyMem(t, "DMAR", 4);
    t[8] = 1;
    CopyMem(t + 10, "LAMINA", 6);
    CopyMem(t + 16, "DMARINJ ", 8);
    t[36] = 38;
    UINTN n = 48;
    uint8_t *d = t + n;
    d[0] = 0;                                   /* DRHD */
    d[2] = 24;
    put64(d + 8, 0xfed90000ull);
    d[16] = 1;                                  /* scope: PCI endpoint 00:02.0 */
    d[17] = 8;
    d[22] = 2;
    n += 24;
    if (bad_rmrr) {
        uint8_t *r = t + n;
        r[0] = 1;                               /* RMRR */
        r[2] = 32;
        put64(r + 8, 0x7f000000ull);
        put64(r + 16, 0x7f000ffeull);           /* not the end of a page */
        r[24] = 1;
        r[25] = 8;
        r[30] = 0x14;
        n += 32;
    }
    t[4] = (uint8_t)n;
    uint8_t s = 0;
    for (UINTN i = 0; i < n; i++)
        s = (uint8_t)(s + t[i]);
    t[9] = (uint8_t)-s;
    return n;
}

/* The first word of \EFI\BOOT\dmarinj.txt. */
static bool variant(EFI_LOADED_IMAGE *me, char *out, UINTN cap)
{
    EFI_FILE_HANDLE root = LibOpenRoot(me->DeviceHandle), f = NULL;
    if (!root || EFI_ERROR(uefi_call_wrapper(root->Open, 5, root, &f, L"\\EFI\\BOOT\\dmarinj.txt",
                                             EFI_FILE_MODE_READ, 0)))
        return false;
    UINTN n = cap - 1;
    EFI_STATUS st = uefi_call_wrapper(f->Read, 3, f, &n, out);
    uefi_call_wrapper(f->Close, 1, f);
    if (EFI_ERROR(st))
        return false;
    out[n] = 0;
    for (UINTN i = 0; i < n; i++)
        if (out[i] == '\n' || out[i] == '\r' || out[i] == ' ')
            out[i] = 0;
    return true;
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
    static EFI_GUID acpi_table_guid = ACPI_TABLE_PROTOCOL_GUID;
    tg_init(image, systab, "dmarinj");
    EFI_LOADED_IMAGE *me = NULL;
    uefi_call_wrapper(BS->HandleProtocol, 3, image, &LoadedImageProtocol, (void **)&me);
    char word[32];
    if (!me || !variant(me, word, sizeof(word))) {
        tg_fail("variant", "cannot read \\EFI\\BOOT\\dmarinj.txt");
        return tg_summary() ? EFI_ABORTED : EFI_SUCCESS;
    }
    bool bad_rmrr = tg_mem_eq(word, "bad-rmrr", 9);
    if (!bad_rmrr && !tg_mem_eq(word, "no-unit", 8)) {
        tg_fail("variant", "unknown variant '%s'", word);
        return tg_summary() ? EFI_ABORTED : EFI_SUCCESS;
    }
    ACPI_TABLE_PROTOCOL *acpi = NULL;
    UINTN key;
    EFI_STATUS st = uefi_call_wrapper(BS->LocateProtocol, 3, &acpi_table_guid, NULL, (void **)&acpi);
    if (!EFI_ERROR(st))
        st = uefi_call_wrapper(acpi->InstallAcpiTable, 4, acpi, table, build(bad_rmrr), &key);
    if (EFI_ERROR(st)) {
        tg_fail("install", "the firmware's ACPI table protocol: %d", (int)(st & 0xff));
        return tg_summary() ? EFI_ABORTED : EFI_SUCCESS;
    }
    tg_note("installed a DMAR (%s), starting \\EFI\\BOOT\\lamina.efi", word);
    EFI_DEVICE_PATH *path = FileDevicePath(me->DeviceHandle, L"\\EFI\\BOOT\\lamina.efi");
    EFI_HANDLE lamina = NULL;
    st = uefi_call_wrapper(BS->LoadImage, 6, FALSE, image, path, NULL, 0, &lamina);
    if (!EFI_ERROR(st))
        st = uefi_call_wrapper(BS->StartImage, 3, lamina, NULL, NULL);
    tg_note("lamina.efi returned %d", (int)(st & 0xff));
    return st;
}
