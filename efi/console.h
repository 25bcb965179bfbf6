/* Console outputs that do not also reach a serial port (shared by the loader
 * and the test guests, which write the serial port themselves). */
#ifndef LAMINA_EFI_CONSOLE_H
#define LAMINA_EFI_CONSOLE_H

#include <efi.h>

/* Fills out[] with the text outputs whose device path has no UART, so a line
 * written both to them and to the serial port appears once everywhere. If no
 * output has a device path, returns the firmware's console (ST->ConOut). */
UINTN console_outputs_without_serial(SIMPLE_TEXT_OUTPUT_INTERFACE **out, UINTN max);

#endif
