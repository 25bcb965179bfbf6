/* bootentry.efi: the firmware boot entry of an OS loader, made the way an OS
 * installer makes it (efibootmgr -c), so that the system test of
 * lamina-install (qemu-install-trial) starts from a machine whose firmware
 * boots its OS through a Boot#### of its own.
 *
 * Started from the removable-media path of a fresh variable store, it reads
 * \EFI\BOOT\bootentry.txt on its own volume:
 *
 *     line 1  the entry's description
 *     line 2  the loader's path on this volume (\EFI\linux\vmlinuz)
 *     line 3  its options, handed to it as LoadOptions (may be empty)
 *
 * then creates Boot#### (the lowest free number) whose device path is this
 * volume's own (its device handle's path: PciRoot/.../HD(...)) followed by
 * a File node, with the options as UCS-2 optional data (UEFI 2.10, section
 * 3.1.3), puts it first in BootOrder and resets the machine: the firmware
 * then boots the loader through that entry, and BootCurrent names it.
 *
 * Lines: "bootentry: start", "bootentry: created Boot#### ...",
 * "bootentry: BootOrder ...", "bootentry: resetting"; a failure prints
 * "bootentry: FAIL <why>" and returns to the firmware. */
#include "test-guests/lib/tg.h"

#define CONF_PATH L"\\EFI\\BOOT\\bootentry.txt"
#define TEXT_MAX 1024
#define ORDER_MAX 256
#define ATTRS (EFI_VARIABLE_NON_VOLATILE | EFI_VARIABLE_BOOTSERVICE_ACCESS | \
               EFI_VARIABLE_RUNTIME_ACCESS)

static char text[TEXT_MAX + 1];

static EFI_STATUS read_conf(EFI_HANDLE device, UINTN *len)
{
    EFI_FILE_HANDLE root = LibOpenRoot(device), f = NULL;
    EFI_STATUS st;

    if (!root)
        return EFI_NOT_FOUND;
    st = uefi_call_wrapper(root->Open, 5, root, &f, CONF_PATH, EFI_FILE_MODE_READ, 0);
    uefi_call_wrapper(root->Close, 1, root);
    if (EFI_ERROR(st))
        return st;
    *len = TEXT_MAX;
    st = uefi_call_wrapper(f->Read, 3, f, len, text);
    uefi_call_wrapper(f->Close, 1, f);
    text[EFI_ERROR(st) ? 0 : *len] = '\0';
    return st;
}

/* The next line of text from *pos (CR LF or LF), NUL-terminated in place. */
static char *next_line(UINTN *pos, UINTN len)
{
    char *s = text + *pos;
    UINTN i = *pos;

    if (i >= len)
        return NULL;
    while (i < len && text[i] != '\n')
        i++;
    text[i] = '\0';
    if (i > *pos && text[i - 1] == '\r')
        text[i - 1] = '\0';
    *pos = i + 1;
    return s;
}

static UINTN ascii_len(const char *s)
{
    UINTN n = 0;
    while (s[n])
        n++;
    return n;
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
    EFI_LOADED_IMAGE *li = NULL;
    EFI_STATUS st;
    UINTN len = 0, pos = 0;

    tg_init(image, systab, "bootentry");
    st = uefi_call_wrapper(BS->HandleProtocol, 3, image, &LoadedImageProtocol, (void **)&li);
    if (EFI_ERROR(st) || (st = read_conf(li->DeviceHandle, &len)) != EFI_SUCCESS) {
        tg_note("FAIL cannot read \\EFI\\BOOT\\bootentry.txt (status 0x%lx)", (unsigned long)st);
        return EFI_SUCCESS;
    }
    char *desc = next_line(&pos, len), *path = next_line(&pos, len), *opts = next_line(&pos, len);
    if (!desc || !path || !*path) {
        tg_note("FAIL bootentry.txt needs a description and a path");
        return EFI_SUCCESS;
    }
    if (!opts)
        opts = "";

    /* The loader's device path: this volume's own, then File(path). */
    CHAR16 wpath[TEXT_MAX];
    UINTN i, plen = ascii_len(path), dlen = ascii_len(desc), olen = ascii_len(opts);
    for (i = 0; i <= plen; i++)
        wpath[i] = (CHAR16)(UINT8)path[i];
    EFI_DEVICE_PATH *dp = FileDevicePath(li->DeviceHandle, wpath);
    if (!dp) {
        tg_note("FAIL no device path for this volume");
        return EFI_SUCCESS;
    }
    UINTN dpsize = DevicePathSize(dp);

    /* EFI_LOAD_OPTION: Attributes, FilePathListLength, Description,
     * FilePathList, OptionalData (the options as UCS-2 with their NUL,
     * as efibootmgr -u writes them). */
    UINTN size = 4 + 2 + 2 * (dlen + 1) + dpsize + (olen ? 2 * (olen + 1) : 0);
    UINT8 *opt = AllocateZeroPool(size), *p = opt;
    if (!opt) {
        tg_note("FAIL out of memory");
        return EFI_SUCCESS;
    }
    *(UINT32 *)p = LOAD_OPTION_ACTIVE;
    *(UINT16 *)(p + 4) = (UINT16)dpsize;
    p += 6;
    for (i = 0; i <= dlen; i++, p += 2)
        *(CHAR16 *)p = (CHAR16)(UINT8)desc[i];
    CopyMem(p, dp, dpsize);
    p += dpsize;
    for (i = 0; olen && i <= olen; i++, p += 2)
        *(CHAR16 *)p = (CHAR16)(UINT8)opts[i];

    /* The lowest free Boot#### and the current BootOrder. */
    CHAR16 name[16];
    UINTN num, vsize;
    for (num = 0; num <= 0xffff; num++) {
        static const CHAR16 hex[] = L"0123456789ABCDEF";
        StrCpy(name, L"Boot");
        for (i = 0; i < 4; i++)
            name[4 + i] = hex[(num >> (12 - 4 * i)) & 0xf];
        name[8] = 0;
        void *v = LibGetVariableAndSize(name, &EfiGlobalVariable, &vsize);
        if (!v)
            break;
        FreePool(v);
    }
    UINT16 order[ORDER_MAX + 1];
    UINTN count = 0;
    UINT16 *old = LibGetVariableAndSize(L"BootOrder", &EfiGlobalVariable, &vsize);
    order[count++] = (UINT16)num;
    for (i = 0; old && i < vsize / 2 && count <= ORDER_MAX; i++)
        order[count++] = old[i];
    if (old)
        FreePool(old);

    st = uefi_call_wrapper(RT->SetVariable, 5, name, &EfiGlobalVariable, ATTRS, size, opt);
    if (EFI_ERROR(st)) {
        tg_note("FAIL SetVariable Boot%04lX: status 0x%lx", (unsigned long)num, (unsigned long)st);
        return EFI_SUCCESS;
    }
    st = uefi_call_wrapper(RT->SetVariable, 5, L"BootOrder", &EfiGlobalVariable, ATTRS,
                           count * 2, order);
    if (EFI_ERROR(st)) {
        tg_note("FAIL SetVariable BootOrder: status 0x%lx", (unsigned long)st);
        return EFI_SUCCESS;
    }
    tg_note("created Boot%04lX \"%s\" %s options '%s'", (unsigned long)num, desc, path, opts);
    char ordtext[6 * (ORDER_MAX + 1)];
    UINTN n = 0;
    for (i = 0; i < count; i++)
        n += (UINTN)tg_snprintf(ordtext + n, sizeof(ordtext) - n, "%s%04X", i ? "," : "",
                                (unsigned)order[i]);
    tg_note("BootOrder %s", ordtext);
    tg_note("resetting");
    uefi_call_wrapper(RT->ResetSystem, 4, EfiResetCold, EFI_SUCCESS, 0, NULL);
    return EFI_SUCCESS;
}
