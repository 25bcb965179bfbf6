/* lamina-install: install, try, keep and remove Lamina on this machine's EFI
 * system partition, the way boot managers are installed, with a trial
 * first boot (BootNext) that falls back to the old boot order by itself.
 *
 *   lamina-install [--esp PATH] [--guest LOADER [--options TEXT]] [--efi FILE]
 *                  [--allow-no-vtx] [--dry-run]
 *   lamina-install --commit [--esp PATH] [--dry-run]
 *   lamina-install --remove [--esp PATH] [--dry-run]
 *   lamina-install --status [--esp PATH]
 *
 * The manual is lamina-install(8) (tools/man/lamina-install.8). */
#define _GNU_SOURCE
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/lamina-install/ops.h"
#include "tools/lamina-install/plan.h"
#include "tools/lamina-install/probe.h"

#ifndef LAMINA_VERSION
#define LAMINA_VERSION "unknown"
#endif

#define EXIT_USAGE 2

/* The lamina.efi to install when --efi is not given: beside this program
 * (a build tree: build/lamina-install, build/lamina.efi), else in
 * PREFIX/lib/lamina/ when this program is PREFIX/sbin/lamina-install (make
 * install, the Debian package), else /usr/lib/lamina/. */
static const char *default_efi(void)
{
    static char path[PATH_MAX + 32];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;

    if (n > 0) {
        exe[n] = '\0';
        slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(path, sizeof(path), "%s/lamina.efi", exe);
            if (access(path, R_OK) == 0)
                return path;
            slash = strrchr(exe, '/');
            if (slash && (strcmp(slash, "/sbin") == 0 || strcmp(slash, "/bin") == 0)) {
                *slash = '\0';
                snprintf(path, sizeof(path), "%s/lib/lamina/lamina.efi", exe);
                if (access(path, R_OK) == 0)
                    return path;
            }
        }
    }
    return "/usr/lib/lamina/lamina.efi";
}

static void usage(FILE *to)
{
    fputs("usage: lamina-install [--esp PATH] [--guest LOADER [--options TEXT]] [--efi FILE]\n"
          "                      [--allow-no-vtx] [--dry-run]\n"
          "       lamina-install --commit [--esp PATH] [--dry-run]\n"
          "       lamina-install --remove [--esp PATH] [--dry-run]\n"
          "       lamina-install --status [--esp PATH]\n"
          "       lamina-install --version | --help\n"
          "\n"
          "Installs Lamina on the EFI system partition for the OS loader this boot came\n"
          "from and arms one trial boot (BootNext); later boots keep the old order.\n"
          "After a good boot through Lamina, --commit puts it first in BootOrder;\n"
          "--remove takes it all away again. See lamina-install(8).\n", to);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "esp", required_argument, NULL, 'e' },
        { "guest", required_argument, NULL, 'g' },
        { "options", required_argument, NULL, 'o' },
        { "efi", required_argument, NULL, 'f' },
        { "allow-no-vtx", no_argument, NULL, 'x' },
        { "dry-run", no_argument, NULL, 'n' },
        { "commit", no_argument, NULL, 'c' },
        { "remove", no_argument, NULL, 'r' },
        { "status", no_argument, NULL, 's' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *esp = NULL, *guest = NULL, *options = NULL;
    const char *efi_src = NULL;
    bool allow_no_vtx = false, dry_run = false;
    enum lamina_op op = OP_INSTALL;
    int nops = 0, ch;

    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'e': esp = optarg; break;
        case 'g': guest = optarg; break;
        case 'o': options = optarg; break;
        case 'f': efi_src = optarg; break;
        case 'x': allow_no_vtx = true; break;
        case 'n': dry_run = true; break;
        case 'c': op = OP_COMMIT; nops++; break;
        case 'r': op = OP_REMOVE; nops++; break;
        case 's': op = OP_STATUS; nops++; break;
        case 'V':
            printf("lamina-install %s\n", LAMINA_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "lamina-install: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (nops > 1 || (op != OP_INSTALL && (guest || options || allow_no_vtx)) ||
        (options && !guest) || (op == OP_STATUS && dry_run)) {
        fprintf(stderr, "lamina-install: these options do not go together\n");
        usage(stderr);
        return EXIT_USAGE;
    }

    if (efi_src == NULL)
        efi_src = default_efi();

    struct facts f;
    struct part_id part;
    char dev[4200], msg[1024], note[300], parttext[96];
    probe_facts(&f, esp, efi_src, &part, dev, sizeof(dev));
    if (check_refusals(&f, op, allow_no_vtx, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "lamina-install: error: %s\nlamina-install: nothing was changed\n", msg);
        return OP_REFUSED;
    }
    part_text(&part, parttext, sizeof(parttext));
    printf("lamina-install: ESP %s: %s of %s%s\n", f.esp, parttext, dev,
           part_is_esp_type(&part) ? "" : " (warning: its type is not EFI System)");
    if (op == OP_INSTALL && !f.vtx)
        printf("lamina-install: warning: no VT-x on this processor (--allow-no-vtx): Lamina "
               "will start the loader without its monitor\n");
    fflush(stdout);

    struct efivars vars;
    if (efivars_open(&vars, EFIVARFS_DEFAULT_DIR) != 0) {
        fprintf(stderr, "lamina-install: error: cannot open %s\n", EFIVARFS_DEFAULT_DIR);
        return OP_REFUSED;
    }
    struct install_ctx c = {
        .vars = &vars,
        .esp = f.esp,
        .esp_part = part,
        .efi_src = efi_src,
        .guest_arg = guest,
        .options_arg = options,
        .dry_run = dry_run,
        .out = stdout,
        .err = stderr,
    };
    switch (op) {
    case OP_INSTALL:
        return op_install(&c);
    case OP_COMMIT:
        probe_monitor_note(note, sizeof(note));
        c.monitor_note = note;
        return op_commit(&c);
    case OP_REMOVE:
        return op_remove(&c);
    case OP_STATUS:
    default:
        return op_status(&c);
    }
}
