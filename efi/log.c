/* The loader's log: the same "lamina: <level>: " lines as the monitor's, on the
 * UEFI console and on the serial port (polled 16550, set to 115200 8N1). */
#include "efi/console.h"
#include "efi/loader.h"

static UINT16 serial_port;
static int log_level = L_INFO;
static const char *const level_names[] = { "error", "warn", "info", "debug" };

/* Where console lines go besides the serial port (efi/console.c). */
#define MAX_CONSOLES 8
static SIMPLE_TEXT_OUTPUT_INTERFACE *consoles[MAX_CONSOLES];
static UINTN nconsoles;

static inline void out8(UINT16 port, UINT8 v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline UINT8 in8(UINT16 port) { UINT8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }

void log_setup(UINT16 port, int level)
{
    serial_port = port;
    log_level = level;
    if (port) {
        nconsoles = console_outputs_without_serial(consoles, MAX_CONSOLES);
    } else {
        consoles[0] = ST->ConOut;
        nconsoles = 1;
        return;
    }
    out8(port + 1, 0x00);       /* no interrupts */
    out8(port + 3, 0x80);       /* DLAB */
    out8(port + 0, 0x01);       /* divisor 1: 115200 baud */
    out8(port + 1, 0x00);
    out8(port + 3, 0x03);       /* 8N1 */
    out8(port + 2, 0xc7);       /* FIFO on, cleared */
    out8(port + 4, 0x03);       /* DTR, RTS */
}

/* serial-exclusive: once the loader runs as the guest, the UART is the
 * monitor's (the guest's accesses are dropped): console lines only. */
void log_release_serial(void)
{
    if (serial_port)
        nconsoles = console_outputs_without_serial(consoles, MAX_CONSOLES);
    serial_port = 0;
}

static void serial_putc(char c)
{
    if (!serial_port)
        return;
    for (int i = 0; i < 100000 && !(in8(serial_port + 5) & 0x20); i++)
        __asm__ volatile("pause");
    out8(serial_port, (UINT8)c);
}

void log_ascii_line(int level, const char *text)
{
    if (level > log_level)
        return;
    CHAR16 wide[320];
    UINTN n = 0;
    const char *prefix[] = { "lamina: ", level_names[level], ": " };
    for (int p = 0; p < 3; p++)
        for (const char *s = prefix[p]; *s && n < 300; s++)
            wide[n++] = (CHAR16)*s;
    for (const char *s = text; *s && n < 316; s++)
        wide[n++] = (CHAR16)(UINT8)*s;
    wide[n++] = L'\r';
    wide[n++] = L'\n';
    wide[n] = 0;
    for (UINTN i = 0; i < n; i++)
        serial_putc((char)wide[i]);
    for (UINTN i = 0; i < nconsoles; i++)
        uefi_call_wrapper(consoles[i]->OutputString, 2, consoles[i], wide);
}

void lprint(int level, const CHAR16 *fmt, ...)
{
    CHAR16 buf[256];
    char ascii[256];
    va_list ap;
    va_start(ap, fmt);
    UnicodeVSPrint(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    UINTN i;
    for (i = 0; buf[i] && i < sizeof(ascii) - 1; i++)
        ascii[i] = buf[i] < 0x80 ? (char)buf[i] : '?';
    ascii[i] = 0;
    log_ascii_line(level, ascii);
}
