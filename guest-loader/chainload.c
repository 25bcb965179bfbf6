/* Chainloading the OS loader named in lamina.conf: a file on the volume
 * Lamina itself was started from, started through LoadImage/StartImage with
 * the configured LoadOptions (UEFI spec 7.4). */
#include "efi/loader.h"

static void widen(CHAR16 *dst, UINTN cap, const char *src)
{
    UINTN i;
    for (i = 0; src[i] && i + 1 < cap; i++)
        dst[i] = (CHAR16)(UINT8)src[i];
    dst[i] = 0;
}

EFI_STATUS guest_load(EFI_HANDLE self, const char *path, const char *options, EFI_HANDLE *guest)
{
    EFI_LOADED_IMAGE *me = NULL;
    EFI_STATUS st = uefi_call_wrapper(BS->HandleProtocol, 3, self, &LoadedImageProtocol, (void **)&me);
    if (EFI_ERROR(st))
        return st;

    CHAR16 wpath[CONFIG_GUEST_MAX_WIDE];
    widen(wpath, CONFIG_GUEST_MAX_WIDE, path);
    EFI_DEVICE_PATH *dp = FileDevicePath(me->DeviceHandle, wpath);
    if (!dp)
        return EFI_OUT_OF_RESOURCES;
    st = uefi_call_wrapper(BS->LoadImage, 6, FALSE, self, dp, NULL, 0, guest);
    FreePool(dp);
    if (EFI_ERROR(st))
        return st;

    if (options && options[0]) {
        EFI_LOADED_IMAGE *li = NULL;
        st = uefi_call_wrapper(BS->HandleProtocol, 3, *guest, &LoadedImageProtocol, (void **)&li);
        if (EFI_ERROR(st))
            return st;
        UINTN n = 0;
        while (options[n])
            n++;
        /* Pool memory of the loaded image's kind: it must outlive Lamina's loader. */
        CHAR16 *w = AllocatePool((n + 1) * sizeof(CHAR16));
        if (!w)
            return EFI_OUT_OF_RESOURCES;
        widen(w, n + 1, options);
        li->LoadOptions = w;
        li->LoadOptionsSize = (UINT32)((n + 1) * sizeof(CHAR16));
    }
    return EFI_SUCCESS;
}

EFI_STATUS guest_start(EFI_HANDLE guest)
{
    UINTN exit_size = 0;
    CHAR16 *exit_data = NULL;
    return uefi_call_wrapper(BS->StartImage, 3, guest, &exit_size, &exit_data);
}
