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

#endif
