/* lamina-install's four operations, over a variable store (efivars.h) and
 * an ESP mounted at a directory, so that the unit tests run them whole on a
 * directory of variable files and a temporary "ESP" (tests/unit/
 * test_install.c):
 *
 *   install  copy lamina.efi to \EFI\lamina\, write lamina.conf for the
 *            loader this boot came from, create (or update) Lamina's
 *            Boot#### and arm a trial: BootNext only, BootOrder untouched
 *            (an installed Lamina that was first in BootOrder leaves it
 *            until the new version is committed);
 *   commit   after a boot through Lamina's option (BootCurrent): Lamina
 *            first in BootOrder;
 *   remove   Lamina's options deleted, BootOrder and BootNext without
 *            them, its files deleted;
 *   status   what is installed and armed.
 *
 * Every decision is made before the first change: a refusal changes
 * nothing. The one exception is documented at op_install. */
#ifndef LAMINA_TOOLS_OPS_H
#define LAMINA_TOOLS_OPS_H

#include <stdbool.h>
#include <stdio.h>
#include "tools/lamina-install/disk.h"
#include "tools/lamina-install/efivars.h"

struct install_ctx {
    const struct efivars *vars;
    const char *esp;                /* mount point of the ESP */
    struct part_id esp_part;        /* which partition it is */
    const char *efi_src;            /* install: the lamina.efi to copy */
    const char *guest_arg;          /* install: --guest, or NULL */
    const char *options_arg;        /* install: --options, or NULL */
    const char *monitor_note;       /* commit: what this OS sees of the monitor, or NULL */
    bool dry_run;                   /* say what would be done, change nothing */
    FILE *out;                      /* progress ("lamina-install: ...") */
    FILE *err;                      /* refusals and failures ("lamina-install: error: ...") */
};

/* Exit statuses. */
#define OP_OK      0
#define OP_REFUSED 1    /* nothing changed (install: see below) */
#define OP_FAILED  3    /* a change failed part-way; the message says what was done */

/* When an installed lamina.conf is kept but would stop the boot (it does
 * not parse, its guest is missing, or its guest-sha256 no longer matches
 * the file), install writes lamina.conf.new beside it, changes nothing
 * else and returns OP_REFUSED: a trial of that configuration would halt. */
int op_install(const struct install_ctx *c);
int op_commit(const struct install_ctx *c);
int op_remove(const struct install_ctx *c);
int op_status(const struct install_ctx *c);

#endif /* LAMINA_TOOLS_OPS_H */
