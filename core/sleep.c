/* Sleep states under the monitor (`sleep refuse`, the only mode built).
 *
 * In S1-S4 the processor loses VMX operation, or the firmware resumes the OS
 * at its own waking vector with VMX off, no EPT and the monitor's memory
 * readable (ACPI 6.5 16.1, 16.3): the guest would wake unmonitored. So a
 * write of SLP_EN to a PM1 control register is refused unless its SLP_TYP is
 * S5's (power-off, from the DSDT's \_S5 package, efi/acpi.c): the write is
 * dropped, an event recorded, and the guest sees an immediate wake: WAK_STS
 * reads set in PM1a_STS until the guest clears it (write 1), which is what
 * an OS waits for after SLP_EN (ACPI 6.5 7.4.2.x, 4.8.3.1.1); Linux then
 * takes its "sleep did not happen" path and resumes its devices.
 * Where the DSDT has no \_S5 the states cannot be told apart and every write
 * passes, as the hand-off warned. */
#include "core/log.h"
#include "core/monitor.h"
#include "core/shutdown.h"
#include "core/vcpu.h"

static volatile bool wake_pending;

/* True if this OUT is a sleep request the monitor refuses (nothing done yet). */
bool sleep_refused(uint16_t port, unsigned size, uint32_t value, unsigned *typ)
{
    if (!(mon.s5_typ & 0x80))
        return false;
    const struct shutdown_ports ports = { .pm1_cnt = { mon.pm1_cnt[0], mon.pm1_cnt[1] } };
    if (shutdown_write_kind(&ports, port, size, value) != SHUTDOWN_SLEEP)
        return false;
    for (int i = 0; i < 2; i++) {
        uint16_t reg = mon.pm1_cnt[i];
        if (!reg || (uint32_t)port + size <= reg || port >= (uint32_t)reg + 2)
            continue;
        int shift = ((int)port - (int)reg) * 8;
        uint32_t bits = shift >= 0 ? value << shift : value >> -shift;
        *typ = PM1_CNT_SLP_TYP(bits);
        if (*typ != (mon.s5_typ & 7u)) {
            wake_pending = true;
            return true;
        }
    }
    return false;
}

/* After an IN from, or before an OUT to, the PM1a status register. */
void sleep_status_in(uint16_t port, unsigned size, uint32_t *value)
{
    uint16_t sts = mon.pm1a_evt;
    if (!sts || !wake_pending || (uint32_t)port + size <= (uint32_t)sts + 1 || port > sts + 1)
        return;
    *value |= PM1_STS_WAK >> ((port - sts) * 8);
}

void sleep_status_out(uint16_t port, unsigned size, uint32_t value)
{
    uint16_t sts = mon.pm1a_evt;
    if (!sts || (uint32_t)port + size <= (uint32_t)sts + 1 || port > sts + 1)
        return;
    if ((value << ((port - sts) * 8)) & PM1_STS_WAK)
        wake_pending = false;           /* write-1-to-clear */
}
