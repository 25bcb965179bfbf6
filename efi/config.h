/* lamina.conf parser.
 *
 * lamina.conf sits next to lamina.efi. The loader reads the whole file into a
 * buffer and hands it to config_parse(). The parser is pure C: no libc, no UEFI
 * types, so the same file is linked into the loader and host-compiled for the
 * unit tests (tests/unit/test_config.c).
 *
 * File format (ASCII or UTF-8; a UTF-8 byte order mark is skipped, a UTF-16
 * file is rejected; LF or CRLF line ends; tabs count as spaces):
 *
 *   guest     \EFI\debian\grubx64.efi   # required: path on the same volume
 *   options   console=ttyS0             # optional: guest LoadOptions
 *   serial    0x3f8                     # optional: log port, or "none"
 *   on-error  boot                      # boot | halt (VT-x unusable)
 *   log-level info                      # error | warn | info | debug
 *   guest-sha256 <64 hex digits>        # optional: refuse any other guest
 *   dma-protection auto                 # auto | required | off (VT-d, M8)
 *   on-triple-fault reset               # reset | stop (M6)
 *
 * Security policy (struct lamina_policy, core/policy.h; all optional):
 *
 *   io   <action> <first>[-<last>] [read|write|rw]   # repeats
 *   msr  <action> <first>[-<last>] [read|write|rw]   # repeats
 *   stealth yes|no                      # default no
 *   serial-exclusive yes|no             # default no
 *   hypercall-user yes|no               # default no
 *   log-events none|error|warn|info|debug   # default info
 *
 * - '#' starts a comment anywhere on a line; blank lines are ignored.
 * - A line is "key <blanks> value"; the value runs to the '#' or the end of
 *   the line, with surrounding blanks trimmed and inner blanks kept (tabs
 *   inside a value become spaces). A value therefore cannot contain '#'.
 * - Keys are case-sensitive. A key may appear once, unless its descriptor
 *   in config.c says it repeats.
 * - A line is at most CONFIG_LINE_MAX bytes (line end excluded, comment
 *   included). NUL bytes and other control characters except tab are
 *   rejected anywhere in the file.
 * - guest: printable ASCII, '/' is accepted and converted to '\'; it must
 *   start with '\', must not contain empty or ".." components nor any of
 *   " * : < > ? |, and is at most CONFIG_GUEST_MAX bytes.
 * - options: printable ASCII, at most CONFIG_OPTIONS_MAX bytes. The loader
 *   can widen both strings to CHAR16 one byte per character.
 * - serial: "none", decimal or 0x-hex, 1..CONFIG_SERIAL_MAX (the UART uses
 *   port..port+7).
 * - guest-sha256: the SHA-256 of the guest file, exactly 64 hex digits
 *   (either case), as sha256sum prints it. The loader measures the guest
 *   always and, with this key, starts it only if the digests are equal.
 * - io/msr rules: action log | deny | lock; numbers decimal or 0x-hex,
 *   ranges inclusive; direction defaults to rw, lock takes write only (and
 *   is the default). At most POLICY_MAX_RULES rules. Refused at load:
 *   ports above 0xffff; MSRs the VMX MSR bitmap does not cover
 *   (policy_msr_coverable); io lock; more than POLICY_MAX_LOCKS locked MSRs
 *   (each counted once); two rules of one space with different actions that
 *   overlap in range and direction and that the most-specific-wins order of
 *   core/policy.c cannot tell apart (same width, both rw or both one
 *   direction). The locked MSRs go to policy.lock_msr in rule order.
 * - dma-protection: the enum lamina_dma_mode of core/bootinfo.h (auto 0,
 *   required 1, off 2).
 * - log-events: the core/log.h level of event lines, none = POLICY_EVENTS_NONE.
 * - serial-exclusive yes: the log port's 8 ports are the monitor's alone, so
 *   it needs a serial port and no io rule may cover any of them. These two
 *   checks run after the whole file is read.
 */
#ifndef LAMINA_EFI_CONFIG_H
#define LAMINA_EFI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/policy.h"

#define CONFIG_FILE_NAME       "lamina.conf"
#define CONFIG_LINE_MAX        1023    /* bytes per line, line end excluded */
#define CONFIG_GUEST_MAX       255     /* bytes, without the NUL */
#define CONFIG_OPTIONS_MAX     511     /* bytes, without the NUL */
#define CONFIG_SERIAL_DEFAULT  0x3f8   /* COM1, 115200 8N1 */
#define CONFIG_SERIAL_MAX      0xfff8  /* the UART spans port..port+7 */
#define CONFIG_ERR_SUGGESTED   128     /* a good size for the err buffer */
#define CONFIG_SHA256_LEN      32      /* bytes of a guest-sha256 digest */

enum on_error {
    ON_ERROR_BOOT,      /* VT-x unusable: chainload the guest without Lamina */
    ON_ERROR_HALT,      /* VT-x unusable: stop */
};

/* Values of lamina_config.log_level (same order as core/log.h). */
enum config_log_level {
    CONFIG_LOG_ERROR = 0,
    CONFIG_LOG_WARN  = 1,
    CONFIG_LOG_INFO  = 2,
    CONFIG_LOG_DEBUG = 3,
};

struct lamina_config {
    char guest[CONFIG_GUEST_MAX + 1];       /* path, backslashes, NUL-terminated */
    char options[CONFIG_OPTIONS_MAX + 1];   /* may be empty, NUL-terminated */
    uint16_t serial_port; /* 0 = none */
    uint8_t on_error;     /* enum on_error */
    uint8_t log_level;    /* 0 error, 1 warn, 2 info, 3 debug */
    bool has_options;     /* an options line was present */
    bool has_guest_sha256;                  /* a guest-sha256 line was present */
    uint8_t dma_protection;                 /* enum lamina_dma_mode: auto, required, off */
    bool init_emulation;                    /* init-emulation yes: INIT IPIs emulated */
    uint8_t on_triple_fault;                /* LAMINA_TRIPLE_FAULT_* (core/bootinfo.h) */
    uint8_t guest_sha256[CONFIG_SHA256_LEN];    /* its digest; zeros without one */
    struct lamina_policy policy;            /* io/msr rules, stealth, serial-exclusive,
                                               hypercall-user, log-events */
};

/* Fill *c with the defaults: no guest, no options, serial 0x3f8, on-error
 * boot, log-level info, no guest-sha256, dma-protection auto, init-emulation no;
 * policy: no rules, stealth,
 * serial-exclusive and hypercall-user no, log-events info. */
void config_defaults(struct lamina_config *c);

/* Parse the len bytes at text (need not be NUL-terminated; NULL means empty)
 * into *c. config_parse() starts from config_defaults() itself.
 *
 * Returns 0 on success (err is set to ""), or -1 at the first error: then
 * *c is reset to the defaults and err holds one line such as
 *     lamina.conf:3: unknown key 'foo'
 *     lamina.conf: missing required key 'guest'
 * err is always NUL-terminated and truncated to errlen bytes (nothing is
 * written if err is NULL or errlen is 0). */
int config_parse(const char *text, size_t len, struct lamina_config *c,
                 char *err, size_t errlen);

#endif /* LAMINA_EFI_CONFIG_H */
