/* lamina-install's decisions: see plan.h. */
#include "tools/lamina-install/plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool fstype_is_fat(const char *t)
{
    return strcmp(t, "vfat") == 0 || strcmp(t, "msdos") == 0 || strcmp(t, "fat") == 0;
}

int check_refusals(const struct facts *f, enum lamina_op op, bool allow_no_vtx, char *msg,
                   size_t msglen)
{
    set_err(msg, msglen, "%s", "");
    if (!f->root) {
        set_err(msg, msglen,
                "must run as root: it reads the disk's partition table and writes firmware "
                "variables and the EFI system partition");
        return -1;
    }
    if (!f->efi) {
        set_err(msg, msglen,
                "this system was not started through UEFI (/sys/firmware/efi is missing): "
                "there is no firmware boot manager to give Lamina to");
        return -1;
    }
    if (!f->efivarfs) {
        set_err(msg, msglen,
                "no efivarfs at /sys/firmware/efi/efivars, so the firmware's boot variables "
                "cannot be read: mount it with 'mount -t efivarfs efivarfs "
                "/sys/firmware/efi/efivars'");
        return -1;
    }
    if (f->esp == NULL || !f->esp_mounted) {
        if (f->esp_given)
            set_err(msg, msglen,
                    "--esp %s: nothing is mounted there; mount the EFI system partition "
                    "first", f->esp ? f->esp : "");
        else
            set_err(msg, msglen,
                    "no EFI system partition is mounted at /efi, /boot/efi or /boot: mount it "
                    "there, or name its mount point with --esp PATH");
        return -1;
    }
    if (!fstype_is_fat(f->esp_fstype)) {
        set_err(msg, msglen,
                "%s is a %s file system, not FAT (vfat): the firmware reads only FAT, so this "
                "is not the EFI system partition; name the right mount point with --esp",
                f->esp, f->esp_fstype[0] ? f->esp_fstype : "unknown");
        return -1;
    }
    if (!f->esp_part_ok) {
        set_err(msg, msglen, "cannot tell which disk partition %s is: %s", f->esp,
                f->esp_part_err);
        return -1;
    }
    if (op != OP_INSTALL)
        return 0;
    if (!f->vtx && !allow_no_vtx) {
        set_err(msg, msglen,
                "this processor shows no VT-x (no 'vmx' flag in /proc/cpuinfo): it lacks it, "
                "or the firmware turned it off (look for \"Intel Virtualization Technology\" "
                "in its setup). Lamina would only ever start the loader without its monitor; "
                "--allow-no-vtx installs it all the same");
        return -1;
    }
    if (f->secure_boot == 1 && f->lamina_signed != 1) {
        set_err(msg, msglen,
                "Secure Boot is on and %s is not signed, so the firmware would refuse to start "
                "it (and Lamina has no build signed by a key the firmware trusts): sign it with "
                "a key enrolled in the firmware's db (sbsign), or turn Secure Boot off in the "
                "firmware setup",
                f->efi_src ? f->efi_src : "lamina.efi");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- the guest */

/* The characters lamina.conf's guest refuses (efi/config.h) besides control
 * characters, and ".." or empty components. */
static int check_guest_path(const char *p, char *err, size_t errlen)
{
    size_t n = strlen(p);

    if (n == 0 || (p[0] != '\\' && p[0] != '/')) {
        set_err(err, errlen, "'%s' is not an absolute path on the ESP (it must start with \\ or /)",
                p);
        return -1;
    }
    if (n > CONFIG_GUEST_MAX) {
        set_err(err, errlen, "the path is longer than the %d bytes lamina.conf takes",
                CONFIG_GUEST_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c >= 0x7f || strchr("\"*:<>?|#", c) != NULL) {
            set_err(err, errlen, "'%s' has a character lamina.conf cannot hold ('%c')", p,
                    c >= 0x20 && c < 0x7f ? c : '?');
            return -1;
        }
    }
    if (efi_path_equal(p, LAMINA_EFI_PATH)) {
        set_err(err, errlen, "%s is Lamina itself, not an OS loader", p);
        return -1;
    }
    return 0;
}

static void copy_path(char *dst, size_t cap, const char *src)
{
    size_t i;

    for (i = 0; src[i] && i + 1 < cap; i++)
        dst[i] = src[i] == '/' ? '\\' : src[i];
    dst[i] = '\0';
}

/* Trim surrounding blanks in place (lamina.conf's parser does the same). */
static void trim(char *s)
{
    size_t n = strlen(s), a = 0;

    while (n > 0 && s[n - 1] == ' ')
        s[--n] = '\0';
    while (s[a] == ' ')
        a++;
    memmove(s, s + a, n - a + 1);
}

int guest_from_option(uint16_t num, const struct load_option *lo, const struct part_id *esp,
                      const char *esp_mount, struct guest_choice *g, char *err, size_t errlen)
{
    char name[EFIBOOT_DESC_MAX + 32], why[160], espt[96], here[96];
    const char *path;

    memset(g, 0, sizeof(*g));
    snprintf(name, sizeof(name), "Boot%04X \"%s\"", num, lo->description);
    switch (lo->kind) {
    case DP_KIND_FIRMWARE:
        set_err(err, errlen,
                "this boot came from %s, a program inside the firmware (%s), not a loader "
                "on a disk: name the OS loader with --guest PATH", name, lo->dp_text);
        return -1;
    case DP_KIND_DEVICE:
        set_err(err, errlen,
                "this boot came from %s, which names a whole device (%s) and leaves the "
                "choice of loader to the firmware: name it with --guest PATH (often %s)",
                name, lo->dp_text, REMOVABLE_PATH);
        return -1;
    case DP_KIND_FILE_ONLY:
        set_err(err, errlen,
                "this boot came from %s, which names a file (%s) but not the partition it is "
                "on: name the loader with --guest PATH", name, lo->dp_text);
        return -1;
    case DP_KIND_PARTITION:
        path = REMOVABLE_PATH;
        break;
    case DP_KIND_FILE_ON_PARTITION:
    default:
        path = lo->file;
        break;
    }
    if (!hd_matches(&lo->hd, esp)) {
        part_text(esp, espt, sizeof(espt));
        struct part_id other = { 0 };
        other.scheme = lo->hd.mbr_type;
        other.number = lo->hd.part_number;
        memcpy(other.guid, lo->hd.signature, 16);
        part_text(&other, here, sizeof(here));
        set_err(err, errlen,
                "this boot came from %s, which starts %s on %s, but the ESP mounted at %s is "
                "%s: Lamina starts its guest from its own volume. Mount that partition and "
                "pass it with --esp, or copy the loader onto this ESP and name it with --guest",
                name, path, here, esp_mount, espt);
        return -1;
    }
    if (lo->kind == DP_KIND_FILE_ON_PARTITION && !lo->file_ascii) {
        set_err(err, errlen, "%s starts a file whose name is not ASCII (%s), which lamina.conf "
                "cannot hold: name a loader with --guest", name, lo->file);
        return -1;
    }
    if (check_guest_path(path, why, sizeof(why)) != 0) {
        set_err(err, errlen, "%s: %s", name, why);
        return -1;
    }
    if (load_option_options_text(lo->optional, lo->optional_len, g->options, CONFIG_OPTIONS_MAX,
                                 why, sizeof(why)) != 0) {
        set_err(err, errlen,
                "%s hands its loader %s, which lamina.conf's options cannot carry: name the "
                "loader with --guest (and its options with --options)", name, why);
        return -1;
    }
    trim(g->options);
    copy_path(g->path, sizeof(g->path), path);
    snprintf(g->origin, sizeof(g->origin), "%s%s", name,
             lo->kind == DP_KIND_PARTITION ? " (the removable-media default)" : "");
    return 0;
}

int guest_from_args(const char *path, const char *options, struct guest_choice *g, char *err,
                    size_t errlen)
{
    char why[160];

    memset(g, 0, sizeof(*g));
    if (check_guest_path(path, why, sizeof(why)) != 0) {
        set_err(err, errlen, "--guest: %s", why);
        return -1;
    }
    copy_path(g->path, sizeof(g->path), path);
    if (options) {
        size_t n = strlen(options);
        if (n > CONFIG_OPTIONS_MAX) {
            set_err(err, errlen, "--options: longer than the %d bytes lamina.conf takes",
                    CONFIG_OPTIONS_MAX);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)options[i];
            if (c < 0x20 || c >= 0x7f || c == '#') {
                set_err(err, errlen, "--options: only printable ASCII without '#' fits "
                        "lamina.conf");
                return -1;
            }
        }
        memcpy(g->options, options, n + 1);
        trim(g->options);
    }
    snprintf(g->origin, sizeof(g->origin), "--guest");
    return 0;
}

int conf_template(const struct guest_choice *g, const char *sha256_hex, char *out, size_t cap,
                  char *err, size_t errlen)
{
    char perr[CONFIG_ERR_SUGGESTED];
    struct lamina_config cfg;
    int n;

    n = snprintf(out, cap,
                 "# lamina.conf, written by lamina-install for the loader this machine\n"
                 "# booted: %s. The old boot entry stays as the fallback.\n"
                 "# Keys and the security policy: lamina.conf(5).\n"
                 "guest        %s\n"
                 "%s%s%s"
                 "guest-sha256 %s\n"
                 "on-error     boot\n",
                 g->origin, g->path, g->options[0] ? "options      " : "", g->options,
                 g->options[0] ? "\n" : "", sha256_hex);
    if (n < 0 || (size_t)n >= cap) {
        set_err(err, errlen, "lamina.conf template does not fit in %zu bytes", cap);
        return -1;
    }
    /* The loader's own parser must accept it, with the same values. */
    if (config_parse(out, (size_t)n, &cfg, perr, sizeof(perr)) != 0) {
        set_err(err, errlen, "the lamina.conf template is refused by Lamina's parser: %s", perr);
        return -1;
    }
    if (strcmp(cfg.guest, g->path) != 0 || strcmp(cfg.options, g->options) != 0 ||
        !cfg.has_guest_sha256 || cfg.on_error != ON_ERROR_BOOT) {
        set_err(err, errlen, "the lamina.conf template does not read back as written");
        return -1;
    }
    return 0;
}

/* The next setting line of text[*pos..len): its start and length, without
 * the comment and surrounding blanks (tab, space, CR). false at the end. */
static bool next_setting(const char *t, size_t len, size_t *pos, const char **s, size_t *n)
{
    while (*pos < len) {
        size_t a = *pos, e = a;
        while (e < len && t[e] != '\n')
            e++;
        *pos = e < len ? e + 1 : e;
        size_t c = a;
        while (c < e && t[c] != '#')
            c++;
        while (a < c && (t[a] == ' ' || t[a] == '\t'))
            a++;
        while (c > a && (t[c - 1] == ' ' || t[c - 1] == '\t' || t[c - 1] == '\r'))
            c--;
        if (c > a) {
            *s = t + a;
            *n = c - a;
            return true;
        }
    }
    return false;
}

bool conf_same_settings(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t pa = 0, pb = 0, na, nb;
    const char *sa, *sb;

    for (;;) {
        bool ha = next_setting(a, alen, &pa, &sa, &na);
        bool hb = next_setting(b, blen, &pb, &sb, &nb);
        if (!ha || !hb)
            return ha == hb;
        if (na != nb || memcmp(sa, sb, na) != 0)
            return false;
    }
}

int esp_file(const char *esp_mount, const char *efi_path, char *out, size_t cap)
{
    size_t n = strlen(esp_mount), i;

    while (n > 1 && esp_mount[n - 1] == '/')
        n--;
    if (n + strlen(efi_path) + 2 > cap)
        return -1;
    memcpy(out, esp_mount, n);
    if (efi_path[0] != '\\' && efi_path[0] != '/')
        out[n++] = '/';
    for (i = 0; efi_path[i]; i++)
        out[n + i] = efi_path[i] == '\\' ? '/' : efi_path[i];
    out[n + i] = '\0';
    return 0;
}

/* ----------------------------------------------------------- /proc */

/* Copy one space-separated field of mountinfo, decoding \ooo escapes. */
static const char *field(const char *p, char *out, size_t cap)
{
    size_t n = 0;

    while (*p == ' ')
        p++;
    while (*p && *p != ' ' && *p != '\n') {
        char c = *p++;
        if (c == '\\' && p[0] >= '0' && p[0] <= '3' && p[1] >= '0' && p[1] <= '7' &&
            p[2] >= '0' && p[2] <= '7') {
            c = (char)((p[0] - '0') << 6 | (p[1] - '0') << 3 | (p[2] - '0'));
            p += 3;
        }
        if (n + 1 < cap)
            out[n++] = c;
    }
    if (cap)
        out[n] = '\0';
    return p;
}

int mountinfo_find(const char *text, const char *mount_point, struct mount_entry *m)
{
    int found = -1;

    /* 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
     * (1)(2) (3)   (4)   (5)      (6)       (7)  (8) (9)   (10)     (11)           */
    for (const char *line = text; line && *line;) {
        const char *next = strchr(line, '\n');
        char f[4][256], mp[256], fs[32], src[256], tok[256];
        const char *p = line;
        unsigned maj, min;

        for (int i = 0; i < 4; i++)
            p = field(p, f[i], sizeof(f[i]));
        p = field(p, mp, sizeof(mp));
        /* Skip the options and optional fields up to the "-" separator. */
        for (;;) {
            const char *q = field(p, tok, sizeof(tok));
            if (q == p || tok[0] == '\0') {
                tok[0] = '\0';
                break;
            }
            p = q;
            if (strcmp(tok, "-") == 0)
                break;
            if (next && p >= next)
                break;
        }
        if (strcmp(tok, "-") == 0 && sscanf(f[2], "%u:%u", &maj, &min) == 2 &&
            strcmp(mp, mount_point) == 0) {
            p = field(p, fs, sizeof(fs));
            field(p, src, sizeof(src));
            m->major = maj;
            m->minor = min;
            snprintf(m->mount_point, sizeof(m->mount_point), "%s", mp);
            snprintf(m->fstype, sizeof(m->fstype), "%s", fs);
            snprintf(m->source, sizeof(m->source), "%s", src);
            found = 0;
        }
        line = next ? next + 1 : NULL;
    }
    return found;
}

bool cpuinfo_has_flag(const char *text, const char *flag)
{
    size_t fl = strlen(flag);

    for (const char *line = text; line && *line;) {
        const char *next = strchr(line, '\n');
        const char *end = next ? next : line + strlen(line);
        if (strncmp(line, "flags", 5) == 0) {
            const char *p = memchr(line, ':', (size_t)(end - line));
            if (p == NULL)
                return false;
            for (p++; p < end;) {
                while (p < end && (*p == ' ' || *p == '\t'))
                    p++;
                const char *w = p;
                while (p < end && *p != ' ' && *p != '\t')
                    p++;
                if ((size_t)(p - w) == fl && strncmp(w, flag, fl) == 0)
                    return true;
            }
            return false;   /* the first processor's flags only */
        }
        line = next ? next + 1 : NULL;
    }
    return false;
}
