#include "core/shutdown.h"

/* The bits of the 16-bit register at `reg` that an access of `size` bytes at
 * `port` writes, in register position (0 if it does not touch it). */
static uint32_t bits_written(uint16_t reg, uint16_t port, unsigned size, uint32_t value)
{
    if ((uint32_t)port + size <= reg || port >= (uint32_t)reg + 2)
        return 0;
    int shift = ((int)port - (int)reg) * 8;
    return shift >= 0 ? value << shift : value >> -shift;
}

enum shutdown_kind shutdown_write_kind(const struct shutdown_ports *p, uint16_t port,
                                       unsigned size, uint32_t value)
{
    for (int i = 0; i < 2; i++)
        if (p->pm1_cnt[i] && (bits_written(p->pm1_cnt[i], port, size, value) & PM1_CNT_SLP_EN))
            return SHUTDOWN_SLEEP;
    /* 0xcf9 is a byte register; a wider access at 0xcf8 is CONFIG_ADDRESS. */
    if (port == PORT_RESET_CONTROL && size == 1 && (value & CF9_RST_CPU))
        return SHUTDOWN_RESET;
    if (p->reset_port && port == p->reset_port)
        return SHUTDOWN_ACPI_RESET;
    if (port == PORT_KBC_COMMAND && size == 1 && (value & KBC_PULSE_MASK) == KBC_PULSE_MASK &&
        !(value & KBC_PULSE_RESET))
        return SHUTDOWN_KBC_RESET;
    return SHUTDOWN_NONE;
}
