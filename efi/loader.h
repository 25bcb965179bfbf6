/* Loader-internal interfaces (GNU-EFI side). */
#ifndef LAMINA_LOADER_H
#define LAMINA_LOADER_H

#include <efi.h>
#include <efilib.h>
#include "core/bootinfo.h"
#include "efi/config.h"

#define CONFIG_GUEST_MAX_WIDE (CONFIG_GUEST_MAX + 1)

enum { L_ERROR, L_WARN, L_INFO, L_DEBUG };

/* efi/log.c: "lamina: <level>: ..." on the console and the serial port. */
void log_setup(UINT16 port, int level);
/* From now on the log port is the monitor's alone (serial-exclusive). */
void log_release_serial(void);
void lprint(int level, const CHAR16 *fmt, ...);
void log_ascii_line(int level, const char *text);

/* efi/image.c: copy the embedded monitor ELF into reserved pages. */
EFI_STATUS monitor_load(EFI_PHYSICAL_ADDRESS *base, UINT64 *size,
                        struct lamina_monitor_api **api);

/* efi/acpi.c: PM1 control and reset ports from the FADT, into bi. */
void acpi_find_power_ports(struct lamina_bootinfo *bi);
/* M8: the ACPI DMAR into bi->dmar_base/len (0 when there is none); and,
 * once the monitor protects DMA, out of the XSDT and RSDT. */
void acpi_find_dmar(struct lamina_bootinfo *bi);
void acpi_hide_dmar(void);

/* efi/mp.c: MP Services, or one CPU without them. */
struct mp {
    void *proto;            /* EFI_MP_SERVICES_PROTOCOL, NULL if absent */
    UINTN ncpus;
    UINTN bsp;
};
EFI_STATUS mp_init(struct mp *mp, struct lamina_report *rep);
/* Run fn(cpu index, arg) on every AP (not the BSP), all at once; waits. */
EFI_STATUS mp_run_aps(struct mp *mp, void (*fn)(UINTN cpu, void *arg), void *arg);

/* efi/launch.S */
int loader_launch(int (*launch)(uint32_t cpu, uint64_t rip, uint64_t rsp), uint32_t cpu);

/* efi/vmcall.S */
UINT64 loader_vmcall(UINT64 function, UINT64 secret);

/* guest-loader/chainload.c: read cfg->guest from Lamina's own volume into
 * memory, log its SHA-256, and LoadImage it from that buffer with
 * cfg->options. With cfg->has_guest_sha256 and a different digest it logs
 * the mismatch, loads nothing, sets *refused and returns
 * EFI_SECURITY_VIOLATION: the caller must not start any guest then. */
EFI_STATUS guest_load(EFI_HANDLE self, const struct lamina_config *cfg, EFI_HANDLE *guest,
                      BOOLEAN *refused);
EFI_STATUS guest_start(EFI_HANDLE guest);

#endif
