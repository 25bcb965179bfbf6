/* Port I/O the monitor traps (vendor-neutral: vmx/ decodes the exit and calls
 * io_access once per element). Trapped are: the ports of the policy's io
 * rules (core/policy.h), the log port's UART under serial-exclusive, and the
 * ports that end the guest (ACPI PM1 control, the reset ports), to print the
 * final exit summary before the machine powers off or resets.
 * A denied access, and any access to the monitor's own UART, is a floating
 * bus: reads return all ones of the access width, writes are dropped. Any
 * other access reaches the hardware unchanged; under a log rule it is also
 * recorded in the event log. */
#ifndef LAMINA_IO_H
#define LAMINA_IO_H

#include <stdbool.h>
#include <stdint.h>
#include "core/percpu.h"

#include "core/shutdown.h"

void io_bitmap_init(uint8_t *bitmap_a, uint8_t *bitmap_b);
/* One IN or OUT of 1, 2 or 4 bytes at port, as the policy allows; *value in/out. */
void io_access(struct percpu *pc, uint16_t port, unsigned size, bool in, uint32_t *value);

/* vmx/stats.c: exits by reason, all CPUs. */
void stats_log_exits(void);

#endif
