/* Which port writes end the guest (vendor-neutral, pure: unit-tested). */
#ifndef LAMINA_SHUTDOWN_H
#define LAMINA_SHUTDOWN_H

#include <stdint.h>

#define PORT_RESET_CONTROL 0xcf9        /* PCI reset control register (byte) */
#define PM1_CNT_SLP_EN     (1u << 13)   /* ACPI 6.5 4.8.3.2.1 */
#define CF9_RST_CPU        (1u << 2)
#define CF9_SYS_RST        (1u << 1)    /* with RST_CPU: a hard reset, without: INIT */
#define PORT_KBC_COMMAND   0x64         /* 8042 keyboard controller command port */
/* 8042 commands 0xf0-0xff pulse the output-port lines whose bit is 0 for
 * about 6 us; output-port bit 0 is the CPU reset line (IBM PC/AT technical
 * reference, 8042 commands). 0xfe pulses the reset line alone. */
#define KBC_PULSE_MASK     0xf0u
#define KBC_PULSE_RESET    (1u << 0)

struct shutdown_ports {
    uint16_t pm1_cnt[2];    /* ACPI PM1a/PM1b control registers (16 bits), 0: none */
    uint16_t reset_port;    /* ACPI reset register in I/O space, 0: none */
};

enum shutdown_kind {
    SHUTDOWN_NONE = 0,
    SHUTDOWN_SLEEP,         /* SLP_EN written to a PM1 control register */
    SHUTDOWN_RESET,         /* RST_CPU written to port 0xcf9 */
    SHUTDOWN_ACPI_RESET,    /* the FADT's reset register written */
    SHUTDOWN_KBC_RESET,     /* the 8042 told to pulse the reset line */
};

/* What an OUT of `size` bytes (1, 2 or 4) of `value` at `port` does. */
enum shutdown_kind shutdown_write_kind(const struct shutdown_ports *p, uint16_t port,
                                       unsigned size, uint32_t value);

/* SLP_TYPa of the sleep state Sn (n 0-5) from the package \_Sn_ in AML (a
 * DSDT or SSDT body; ACPI 6.5 7.4.2): Name(_Sn_, Package(){a, b, ...}),
 * found by its bytes "_Sn_" followed by PackageOp (0x12), PkgLength,
 * NumElements and the first element (ZeroOp, OneOp or BytePrefix). Returns
 * 0 and *typ, or -1 if not found in that form. */
int acpi_sleep_type(const uint8_t *aml, uint32_t len, unsigned n, uint8_t *typ);

/* SLP_TYP of a PM1 control value (bits 12:10). */
#define PM1_CNT_SLP_TYP(v) (((v) >> 10) & 7u)
#define PM1_STS_WAK        (1u << 15)   /* ACPI 6.5 4.8.3.1.1 WAK_STS */

#endif
