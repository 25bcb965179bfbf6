/* Port I/O the monitor traps (vendor-neutral: vmx/ decodes the exit and calls
 * io_access). For now only the ports that end the guest: the ACPI PM1 control
 * registers and the reset ports, to print the final exit summary before the
 * machine powers off or resets. Every trapped access still reaches the
 * hardware unchanged, so the guest sees what it would see without Lamina. */
#ifndef LAMINA_IO_H
#define LAMINA_IO_H

#include <stdbool.h>
#include <stdint.h>
#include "core/percpu.h"

#include "core/shutdown.h"

void io_bitmap_init(uint8_t *bitmap_a, uint8_t *bitmap_b);
/* One IN or OUT of 1, 2 or 4 bytes at port; *value in/out. */
void io_access(struct percpu *pc, uint16_t port, unsigned size, bool in, uint32_t *value);

/* vmx/stats.c: exits by reason, all CPUs. */
void stats_log_exits(void);

#endif
