/* What lamina-install reads from the running Linux system (procfs, sysfs,
 * efivarfs, the disk) to fill struct facts. The decisions on it are in
 * plan.c; this file only gathers. */
#ifndef LAMINA_TOOLS_PROBE_H
#define LAMINA_TOOLS_PROBE_H

#include <stddef.h>
#include "tools/lamina-install/disk.h"
#include "tools/lamina-install/plan.h"

/* Where an ESP is looked for without --esp, in this order (the places
 * systemd-boot, GRUB and the Debian installer use). */
#define ESP_CANDIDATES { "/efi", "/boot/efi", "/boot" }

/* Fill f (and part, dev: the disk's device node, for messages) for
 * esp_arg (NULL: the candidates above) and the lamina.efi at efi_src. */
void probe_facts(struct facts *f, const char *esp_arg, const char *efi_src,
                 struct part_id *part, char *dev, size_t devlen);

/* What CPUID shows of a hypervisor, for --commit's report. */
void probe_monitor_note(char *out, size_t cap);

#endif /* LAMINA_TOOLS_PROBE_H */
