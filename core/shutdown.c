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

int acpi_sleep_type(const uint8_t *aml, uint32_t len, unsigned n, uint8_t *typ)
{
    for (uint32_t i = 0; i + 8 <= len; i++) {
        if (aml[i] != '_' || aml[i + 1] != 'S' || aml[i + 2] != (uint8_t)('0' + n) ||
            aml[i + 3] != '_' || aml[i + 4] != 0x12)
            continue;
        uint32_t p = i + 5;
        p += 1 + (aml[p] >> 6);                 /* PkgLength: bits 7:6 = bytes that follow */
        if (p + 2 >= len)
            return -1;
        p++;                                    /* NumElements */
        if (aml[p] == 0x00 || aml[p] == 0x01) { /* ZeroOp, OneOp */
            *typ = aml[p];
            return 0;
        }
        if (aml[p] == 0x0a) {                   /* BytePrefix */
            *typ = aml[p + 1] & 7;
            return 0;
        }
        return -1;
    }
    return -1;
}
