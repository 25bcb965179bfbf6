/* Firmware often mirrors its console onto a serial terminal (OVMF does). A
 * program that writes the serial port itself would then print every line
 * twice; it writes to the other text outputs only. */
#include <efi.h>
#include <efilib.h>
#include "efi/console.h"

static BOOLEAN path_has_uart(EFI_DEVICE_PATH *dp)
{
    for (; !IsDevicePathEnd(dp); dp = NextDevicePathNode(dp))
        if (DevicePathType(dp) == MESSAGING_DEVICE_PATH && DevicePathSubType(dp) == MSG_UART_DP)
            return TRUE;
    return FALSE;
}

UINTN console_outputs_without_serial(SIMPLE_TEXT_OUTPUT_INTERFACE **out, UINTN max)
{
    EFI_HANDLE *handles = NULL;
    UINTN n = 0, count = 0;
    BOOLEAN any_path = FALSE;

    if (max == 0)
        return 0;
    if (!EFI_ERROR(LibLocateHandle(ByProtocol, &TextOutProtocol, NULL, &n, &handles))) {
        for (UINTN i = 0; i < n && count < max; i++) {
            EFI_DEVICE_PATH *dp = DevicePathFromHandle(handles[i]);
            SIMPLE_TEXT_OUTPUT_INTERFACE *o = NULL;
            if (!dp)
                continue;       /* the console splitter: it feeds the serial terminal too */
            any_path = TRUE;
            if (path_has_uart(dp))
                continue;
            if (!EFI_ERROR(uefi_call_wrapper(BS->HandleProtocol, 3, handles[i], &TextOutProtocol,
                                             (void **)&o)))
                out[count++] = o;
        }
        FreePool(handles);
    }
    if (!any_path) {
        out[0] = ST->ConOut;
        count = 1;
    }
    return count;
}
