/* lamina-install's decisions, as pure functions of what it found on the
 * machine (tests/unit/test_install.c):
 *
 *  - whether to refuse, and with which message (struct facts);
 *  - which loader becomes lamina.conf's guest, from the boot option the
 *    firmware booted (BootCurrent) or from --guest;
 *  - the lamina.conf template, checked with the loader's own parser
 *    (efi/config.c);
 *  - the parsing of /proc/self/mountinfo and /proc/cpuinfo.
 */
#ifndef LAMINA_TOOLS_PLAN_H
#define LAMINA_TOOLS_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "efi/config.h"
#include "tools/lamina-install/disk.h"
#include "tools/lamina-install/efiboot.h"

/* Where Lamina lives on the ESP, and the name of its boot option. */
#define LAMINA_DIR_EFI   "\\EFI\\lamina"
#define LAMINA_EFI_PATH  "\\EFI\\lamina\\lamina.efi"
#define LAMINA_CONF_PATH "\\EFI\\lamina\\lamina.conf"
#define LAMINA_DESC      "Lamina"
/* The removable-media default a partition-only boot option starts
 * (UEFI 2.10, section 3.5.1.1, x64). */
#define REMOVABLE_PATH   "\\EFI\\BOOT\\BOOTX64.EFI"

enum lamina_op { OP_INSTALL, OP_COMMIT, OP_REMOVE, OP_STATUS };

/* What lamina-install found out about the machine before changing anything. */
struct facts {
    bool root;              /* effective uid 0 */
    bool efi;               /* /sys/firmware/efi exists: booted through UEFI */
    bool efivarfs;          /* efivarfs mounted at /sys/firmware/efi/efivars */
    bool vtx;               /* 'vmx' among /proc/cpuinfo's flags */
    int secure_boot;        /* SecureBoot variable: 1 on, 0 off, -1 absent */
    int lamina_signed;      /* lamina.efi: 1 signed, 0 not, -1 not readable as PE */
    const char *efi_src;    /* the lamina.efi to install */
    /* The ESP. */
    const char *esp;        /* the path used: --esp, or the candidate that matched */
    bool esp_given;         /* from --esp */
    bool esp_mounted;       /* a mount point */
    char esp_fstype[32];    /* its file system type (mountinfo) */
    bool esp_part_ok;       /* esp_part below is known */
    char esp_part_err[256]; /* why not */
};

/* 0 to go on, or -1 with the refusal in msg (one or two sentences, saying
 * how to fix it). Install checks everything; commit, remove and status skip
 * the VT-x and Secure Boot checks (removing must always be possible). */
int check_refusals(const struct facts *f, enum lamina_op op, bool allow_no_vtx, char *msg,
                   size_t msglen);

/* lamina.conf's guest and options, and where they came from. */
struct guest_choice {
    char path[CONFIG_GUEST_MAX + 1];        /* \EFI\...: backslashes, ASCII */
    char options[CONFIG_OPTIONS_MAX + 1];   /* "" for none */
    char origin[EFIBOOT_DESC_MAX + 64];     /* Boot0003 "debian", --guest, ... */
};

/* The guest from boot option num (lo, parsed), which the firmware booted:
 * it must name a file (or the removable-media default) on the partition
 * esp, with optional data lamina.conf can carry, and must not be Lamina
 * itself. Returns 0, or -1 with the refusal in err (saying how to fix it). */
int guest_from_option(uint16_t num, const struct load_option *lo, const struct part_id *esp,
                      const char *esp_mount, struct guest_choice *g, char *err, size_t errlen);

/* The guest from --guest (a path on the ESP, '/' or '\') and --options.
 * Returns 0, or -1 with the reason. */
int guest_from_args(const char *path, const char *options, struct guest_choice *g, char *err,
                    size_t errlen);

/* The lamina.conf lamina-install writes: guest, options (if any),
 * guest-sha256 (64 lower-case hex digits) and on-error boot, under a
 * comment naming its origin. Parsed back with config_parse(), which must
 * yield the same guest and options. Returns 0, or -1 with the reason. */
int conf_template(const struct guest_choice *g, const char *sha256_hex, char *out, size_t cap,
                  char *err, size_t errlen);

/* Do two lamina.conf texts set the same things: the same lines once
 * comments, surrounding blanks and blank lines are left out? (A template
 * that differs from the kept file only in its comment is not a change.) */
bool conf_same_settings(const char *a, size_t alen, const char *b, size_t blen);

/* The Linux path of UEFI path efi_path (backslashes) under the mount point
 * esp_mount. Returns 0, -1 if it does not fit. */
int esp_file(const char *esp_mount, const char *efi_path, char *out, size_t cap);

/* ----------------------------------------------------------- /proc */

struct mount_entry {
    unsigned major, minor;      /* the device (st_dev) */
    char mount_point[256];      /* unescaped */
    char fstype[32];
    char source[256];
};

/* The mount at exactly mount_point in the text of /proc/self/mountinfo
 * (proc(5)): the last such line (the one on top). Octal escapes (\040)
 * are decoded. Returns 0, or -1 if nothing is mounted there. */
int mountinfo_find(const char *text, const char *mount_point, struct mount_entry *m);

/* Is flag among the "flags" of the first processor in /proc/cpuinfo text? */
bool cpuinfo_has_flag(const char *text, const char *flag);

#endif /* LAMINA_TOOLS_PLAN_H */
