/* lamina-install's operations: see ops.h. */
#define _GNU_SOURCE
#include "tools/lamina-install/ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "efi/config.h"
#include "efi/sha256.h"
#include "tools/lamina-install/efiboot.h"
#include "tools/lamina-install/plan.h"

#define ORDER_MAX   1024        /* BootOrder entries handled */
#define OPTION_MAX  8192        /* bytes of one Boot#### */
#define LAMINA_MAX  16          /* Lamina options on one ESP (normally 1) */
#define CONF_MAX    (64 * 1024) /* lamina.conf, as the loader reads it */
#define IMAGE_MAX   (256u * 1024 * 1024)

#define CONF_NEW_SUFFIX ".new"
#define OP_KEPT_BAD 100     /* complain(): refused, but lamina.conf.new was written */

static void say(const struct install_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(const struct install_ctx *c, const char *fmt, ...)
{
    va_list ap;

    fputs("lamina-install: ", c->out);
    if (c->dry_run)
        fputs("dry run: ", c->out);
    va_start(ap, fmt);
    vfprintf(c->out, fmt, ap);
    va_end(ap);
    fputc('\n', c->out);
    fflush(c->out);
}

static int complain(const struct install_ctx *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int complain(const struct install_ctx *c, int status, const char *fmt, ...)
{
    int ret = status == OP_KEPT_BAD ? OP_REFUSED : status;

    va_list ap;

    fflush(c->out);
    fputs("lamina-install: error: ", c->err);
    va_start(ap, fmt);
    vfprintf(c->err, fmt, ap);
    va_end(ap);
    fputc('\n', c->err);
    if (status == OP_REFUSED)
        fputs("lamina-install: nothing was changed\n", c->err);
    else if (status == OP_KEPT_BAD)
        fprintf(c->err, "lamina-install: nothing else was changed\n");
    fflush(c->err);
    return ret;
}

/* ------------------------------------------------------------ variables */

/* A UINT16 variable (BootCurrent, BootNext): 0 read, 1 absent, -1 bad. */
static int get_u16(const struct install_ctx *c, const char *name, uint16_t *v)
{
    uint8_t buf[16];
    uint32_t attrs;
    size_t len;
    int rc = efivars_get(c->vars, name, &attrs, buf, sizeof(buf), &len);

    if (rc == -ENOENT)
        return 1;
    if (rc != 0 || len != 2)
        return -1;
    *v = (uint16_t)(buf[0] | buf[1] << 8);
    return 0;
}

/* BootOrder: 0 (absent counts as empty) or -1. */
static int get_order(const struct install_ctx *c, uint16_t *order, size_t *count)
{
    uint8_t buf[2 * ORDER_MAX];
    uint32_t attrs;
    size_t len;
    int rc = efivars_get(c->vars, "BootOrder", &attrs, buf, sizeof(buf), &len), n;

    *count = 0;
    if (rc == -ENOENT)
        return 0;
    if (rc != 0 || (n = boot_order_parse(buf, len, order, ORDER_MAX)) < 0)
        return -1;
    *count = (size_t)n;
    return 0;
}

static int set_order(const struct install_ctx *c, const uint16_t *order, size_t count)
{
    uint8_t buf[2 * ORDER_MAX];
    size_t len = boot_order_bytes(order, count, buf, sizeof(buf));

    return efivars_set(c->vars, "BootOrder", EFI_BOOT_VAR_ATTRS, buf, len);
}

/* Boot#### read and parsed; raw holds its bytes (lo points into it).
 * 0, 1 absent, -1 unreadable or malformed (reason in why). */
static int get_option(const struct install_ctx *c, uint16_t num, uint8_t *raw, size_t *rawlen,
                      struct load_option *lo, char *why, size_t whylen)
{
    char name[9];
    uint32_t attrs;
    int rc;

    boot_var_name(num, name);
    rc = efivars_get(c->vars, name, &attrs, raw, OPTION_MAX, rawlen);
    if (rc == -ENOENT)
        return 1;
    if (rc != 0) {
        snprintf(why, whylen, "cannot read %s: %s", name, strerror(-rc));
        return -1;
    }
    return load_option_parse(raw, *rawlen, lo, why, whylen) == 0 ? 0 : -1;
}

static bool is_lamina_option(const struct load_option *lo, const struct part_id *esp)
{
    return lo->kind == DP_KIND_FILE_ON_PARTITION && hd_matches(&lo->hd, esp) &&
           efi_path_equal(lo->file, LAMINA_EFI_PATH);
}

/* Lamina's boot options on this ESP, ascending; *used gets every Boot####
 * number in use. Returns how many, or -1 if the variables cannot be listed. */
static int find_lamina(const struct install_ctx *c, uint16_t *lam, uint8_t used[8192])
{
    static uint16_t nums[65536];
    static uint8_t raw[OPTION_MAX];
    struct load_option lo;
    size_t count, rawlen;
    char why[160];
    int n = 0;

    if (efivars_list_boot(c->vars, used, nums, 65536, &count) != 0)
        return -1;
    for (size_t i = 0; i < count && i < 65536; i++) {
        if (get_option(c, nums[i], raw, &rawlen, &lo, why, sizeof(why)) == 0 &&
            is_lamina_option(&lo, &c->esp_part) && n < LAMINA_MAX)
            lam[n++] = nums[i];
    }
    return n;
}

static const char *describe(const struct install_ctx *c, uint16_t num, char *out, size_t cap)
{
    static uint8_t raw[OPTION_MAX];
    struct load_option lo;
    size_t rawlen;
    char why[160];
    int rc = get_option(c, num, raw, &rawlen, &lo, why, sizeof(why));

    if (rc == 0)
        snprintf(out, cap, "Boot%04X \"%s\"", num, lo.description);
    else
        snprintf(out, cap, "Boot%04X (%s)", num, rc > 0 ? "no such variable" : "unreadable");
    return out;
}

/* ---------------------------------------------------------------- files */

static int read_file(const char *path, uint8_t **data, size_t *len, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    uint8_t *buf;
    size_t have = 0;

    *data = NULL;
    *len = 0;
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
        int e = !S_ISREG(st.st_mode) ? EISDIR : EFBIG;
        close(fd);
        return -e;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return -ENOMEM;
    }
    while (have < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + have, (size_t)st.st_size - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            free(buf);
            close(fd);
            return -e;
        }
        have += (size_t)n;
    }
    close(fd);
    buf[have] = 0;
    *data = buf;
    *len = have;
    return 0;
}

static void sha256_hex_of(const uint8_t *data, size_t len, char hex[SHA256_HEX_LEN + 1])
{
    uint8_t d[SHA256_DIGEST_LEN];

    sha256_digest(data, len, d);
    sha256_to_hex(d, hex);
}

static int fsync_dir_of(const char *path)
{
    char dir[1024];
    char *slash;
    int fd, rc = 0;

    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash == NULL)
        return 0;
    *slash = '\0';
    fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fsync(fd) != 0 && errno != EINVAL)
        rc = -errno;
    close(fd);
    return rc;
}

/* path.tmp written and flushed, then renamed over path, then read back. */
static int write_file_atomic(const char *path, const uint8_t *data, size_t len)
{
    char tmp[1024];
    uint8_t *back;
    size_t blen;
    int fd, rc = 0;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return -ENAMETOOLONG;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            break;
        }
        done += (size_t)n;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0) {
        unlink(tmp);
        return rc;
    }
    if ((rc = fsync_dir_of(path)) != 0)
        return rc;
    /* What the firmware will read is what was meant. */
    if ((rc = read_file(path, &back, &blen, IMAGE_MAX)) != 0)
        return rc;
    rc = blen == len && memcmp(back, data, len) == 0 ? 0 : -EIO;
    free(back);
    return rc;
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0;
    return -errno;
}

static bool file_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ------------------------------------------------------ the kept config */

/* Is the lamina.conf text (len bytes) one the loader would start its guest
 * with? 0, or -1 with the reason. g gets its guest and options if it parses. */
static int conf_check(const struct install_ctx *c, const char *text, size_t len,
                      struct guest_choice *g, char *why, size_t whylen)
{
    static struct lamina_config cfg;
    char perr[CONFIG_ERR_SUGGESTED], path[1024], hex[SHA256_HEX_LEN + 1];
    uint8_t *data;
    size_t dlen;

    memset(g, 0, sizeof(*g));
    if (config_parse(text, len, &cfg, perr, sizeof(perr)) != 0) {
        snprintf(why, whylen, "it does not parse: %s", perr);
        return -1;
    }
    snprintf(g->path, sizeof(g->path), "%s", cfg.guest);
    snprintf(g->options, sizeof(g->options), "%s", cfg.options);
    snprintf(g->origin, sizeof(g->origin), "the kept %s", LAMINA_CONF_PATH);
    if (esp_file(c->esp, cfg.guest, path, sizeof(path)) != 0 ||
        read_file(path, &data, &dlen, IMAGE_MAX) != 0) {
        snprintf(why, whylen, "its guest %s is not on the ESP", cfg.guest);
        return -1;
    }
    if (cfg.has_guest_sha256) {
        uint8_t d[SHA256_DIGEST_LEN];
        char want[SHA256_HEX_LEN + 1];
        sha256_digest(data, dlen, d);
        sha256_to_hex(d, hex);
        sha256_to_hex(cfg.guest_sha256, want);
        if (memcmp(d, cfg.guest_sha256, sizeof(d)) != 0) {
            free(data);
            snprintf(why, whylen,
                     "it pins guest-sha256 %s, but %s now has sha256 %s (the loader was "
                     "updated): Lamina would halt", want, cfg.guest, hex);
            return -1;
        }
    }
    free(data);
    return 0;
}

/* ---------------------------------------------------------------- install */

int op_install(const struct install_ctx *c)
{
    static uint8_t cur_raw[OPTION_MAX], opt[OPTION_MAX], old_opt[OPTION_MAX];
    static uint16_t order[ORDER_MAX], new_order[ORDER_MAX];
    static uint8_t used[8192];
    static char tmpl[4096];
    char why[768], kept_why[768], name[9], ordtext[6 * 64];
    char guest_file[1024], dir_efi[1024], dir_lamina[1024], dst_efi[1024], dst_conf[1024];
    char dst_new[1024], guest_hex[SHA256_HEX_LEN + 1], efi_hex[SHA256_HEX_LEN + 1];
    uint16_t lam[LAMINA_MAX], cur = 0, num;
    struct guest_choice g;
    struct load_option lo;
    struct hd_node hd;
    uint8_t *guest_data = NULL, *efi_data = NULL, *kept = NULL;
    size_t cur_len, guest_len, efi_len, kept_len = 0, opt_len, old_len = 0, count, new_count;
    bool have_entry, entry_same = false, kept_ok = true;
    enum { CONF_CREATE, CONF_SAME, CONF_KEEP_NEW } conf_action;
    int nlam, has_cur, rc, status = OP_REFUSED;
    struct guest_choice kept_g;

    /* ---- decide */
    if ((nlam = find_lamina(c, lam, used)) < 0)
        return complain(c, OP_REFUSED, "cannot list the Boot#### variables in %s", c->vars->dir);
    if (nlam > 1)
        say(c, "warning: %d boot options start %s; using Boot%04X", nlam, LAMINA_EFI_PATH,
            lam[0]);
    has_cur = get_u16(c, "BootCurrent", &cur);
    if (has_cur < 0)
        return complain(c, OP_REFUSED, "BootCurrent is unreadable or not 2 bytes long");
    if (get_order(c, order, &count) != 0)
        return complain(c, OP_REFUSED, "BootOrder is unreadable or malformed");
    if (esp_file(c->esp, LAMINA_DIR_EFI, dir_lamina, sizeof(dir_lamina)) != 0 ||
        esp_file(c->esp, "\\EFI", dir_efi, sizeof(dir_efi)) != 0 ||
        esp_file(c->esp, LAMINA_EFI_PATH, dst_efi, sizeof(dst_efi)) != 0 ||
        esp_file(c->esp, LAMINA_CONF_PATH, dst_conf, sizeof(dst_conf)) != 0 ||
        (size_t)snprintf(dst_new, sizeof(dst_new), "%s%s", dst_conf, CONF_NEW_SUFFIX) >=
            sizeof(dst_new))
        return complain(c, OP_REFUSED, "the ESP path %s is too long", c->esp);

    /* The installed lamina.conf, if any. */
    if (file_exists(dst_conf)) {
        if ((rc = read_file(dst_conf, &kept, &kept_len, CONF_MAX)) != 0)
            return complain(c, OP_REFUSED, "cannot read %s: %s", dst_conf, strerror(-rc));
        kept_ok = conf_check(c, (const char *)kept, kept_len, &kept_g, kept_why,
                             sizeof(kept_why)) == 0;
    }

    /* The guest. */
    if (c->guest_arg) {
        if (guest_from_args(c->guest_arg, c->options_arg, &g, why, sizeof(why)) != 0)
            goto refuse;
    } else if (has_cur != 0) {
        snprintf(why, sizeof(why), "the firmware did not say which boot option started this "
                 "system (no BootCurrent): name the loader with --guest PATH");
        goto refuse;
    } else if (nlam > 0 && boot_order_contains(lam, (size_t)nlam, cur)) {
        /* This boot went through Lamina: its guest is the loader of today. */
        if (kept == NULL) {
            snprintf(why, sizeof(why), "this boot went through Lamina (Boot%04X) but %s is "
                     "missing: name the loader with --guest PATH", cur, LAMINA_CONF_PATH);
            goto refuse;
        }
        if (kept_g.path[0] == '\0') {
            snprintf(why, sizeof(why), "this boot went through Lamina (Boot%04X) and the kept "
                     "%s cannot name its guest (%.400s): name the loader with --guest PATH", cur,
                     LAMINA_CONF_PATH, kept_why);
            goto refuse;
        }
        g = kept_g;
        snprintf(g.origin, sizeof(g.origin), "the guest of the kept lamina.conf, which "
                 "this boot (Boot%04X, Lamina) started", cur);
    } else {
        rc = get_option(c, cur, cur_raw, &cur_len, &lo, why, sizeof(why));
        if (rc != 0) {
            char inner[300];
            snprintf(inner, sizeof(inner), "%.250s", rc > 0 ? "it does not exist" : why);
            snprintf(why, sizeof(why), "this boot came from Boot%04X, but %s: name the loader "
                     "with --guest PATH", cur, inner);
            goto refuse;
        }
        if (guest_from_option(cur, &lo, &c->esp_part, c->esp, &g, why, sizeof(why)) != 0)
            goto refuse;
    }
    if (esp_file(c->esp, g.path, guest_file, sizeof(guest_file)) != 0 ||
        (rc = read_file(guest_file, &guest_data, &guest_len, IMAGE_MAX)) != 0) {
        snprintf(why, sizeof(why), "the guest %s (from %s) is not a file on the ESP mounted "
                 "at %s", g.path, g.origin, c->esp);
        goto refuse;
    }
    sha256_hex_of(guest_data, guest_len, guest_hex);
    if (conf_template(&g, guest_hex, tmpl, sizeof(tmpl), why, sizeof(why)) != 0)
        goto refuse;

    /* lamina.efi itself. */
    if ((rc = read_file(c->efi_src, &efi_data, &efi_len, IMAGE_MAX)) != 0) {
        snprintf(why, sizeof(why), "cannot read %s: %s", c->efi_src, strerror(-rc));
        goto refuse;
    }
    if (pe_has_signature(efi_data, efi_len) < 0) {
        snprintf(why, sizeof(why), "%s is not a PE32+ UEFI image", c->efi_src);
        goto refuse;
    }
    sha256_hex_of(efi_data, efi_len, efi_hex);

    /* What becomes of lamina.conf. */
    if (kept == NULL)
        conf_action = CONF_CREATE;
    else if (conf_same_settings((const char *)kept, kept_len, tmpl, strlen(tmpl)))
        conf_action = CONF_SAME;
    else
        conf_action = CONF_KEEP_NEW;

    /* Lamina's boot option. */
    part_to_hd(&c->esp_part, &hd);
    opt_len = load_option_build(opt, sizeof(opt), LOAD_OPTION_ACTIVE, LAMINA_DESC, &hd,
                                LAMINA_EFI_PATH);
    if (opt_len == 0) {
        snprintf(why, sizeof(why), "cannot build the boot option");
        goto refuse;
    }
    have_entry = nlam > 0;
    if (have_entry) {
        num = lam[0];
        boot_var_name(num, name);
        uint32_t attrs;
        if (efivars_get(c->vars, name, &attrs, old_opt, sizeof(old_opt), &old_len) == 0)
            entry_same = old_len == opt_len && memcmp(old_opt, opt, opt_len) == 0 &&
                         attrs == EFI_BOOT_VAR_ATTRS;
    } else {
        int free_num = boot_number_free(used);
        if (free_num < 0) {
            snprintf(why, sizeof(why), "all 65536 Boot#### numbers are in use");
            goto refuse;
        }
        num = (uint16_t)free_num;
        boot_var_name(num, name);
    }
    memcpy(new_order, order, count * sizeof(order[0]));
    new_count = boot_order_remove(new_order, count, num);

    /* A kept configuration that would halt the trial: offer the fix only. */
    if (kept != NULL && !kept_ok) {
        say(c, "the kept %s would stop the boot: %s", LAMINA_CONF_PATH, kept_why);
        if (!c->dry_run &&
            (rc = write_file_atomic(dst_new, (const uint8_t *)tmpl, strlen(tmpl))) != 0) {
            status = complain(c, OP_FAILED, "cannot write %s: %s", dst_new, strerror(-rc));
            goto out;
        }
        say(c, "%s %s%s with guest %s (sha256 %s)", c->dry_run ? "would write" : "wrote",
            LAMINA_CONF_PATH, CONF_NEW_SUFFIX, g.path, guest_hex);
        status = complain(c, OP_KEPT_BAD,
                          "not arming a trial boot that would halt: compare %s with %s%s, "
                          "put the right one in place and run lamina-install again",
                          LAMINA_CONF_PATH, LAMINA_CONF_PATH, CONF_NEW_SUFFIX);
        goto out;
    }

    /* ---- act */
    say(c, "guest %s, from %s", g.path, g.origin);
    if (g.options[0])
        say(c, "options %s", g.options);
    say(c, "guest-sha256 %s", guest_hex);

    if (new_count != count) {
        /* Installed and committed before: the new version gets a trial too. */
        boot_order_text(order, count, ordtext, sizeof(ordtext));
        if (!c->dry_run && (rc = set_order(c, new_order, new_count)) != 0) {
            status = complain(c, OP_FAILED, "cannot write BootOrder: %s", strerror(-rc));
            goto out;
        }
        say(c, "%s Boot%04X from BootOrder until this version is committed (was %s)",
            c->dry_run ? "would take" : "took", num, ordtext);
    }
    if (!c->dry_run) {
        if ((rc = make_dir(dir_efi)) != 0 || (rc = make_dir(dir_lamina)) != 0) {
            status = complain(c, OP_FAILED, "cannot create %s: %s", dir_lamina, strerror(-rc));
            goto out;
        }
        if ((rc = write_file_atomic(dst_efi, efi_data, efi_len)) != 0) {
            status = complain(c, OP_FAILED, "cannot write %s: %s", dst_efi, strerror(-rc));
            goto out;
        }
    }
    say(c, "%s %s to %s (%zu bytes, sha256 %s)", c->dry_run ? "would copy" : "copied",
        c->efi_src, LAMINA_EFI_PATH, efi_len, efi_hex);
    switch (conf_action) {
    case CONF_CREATE:
        if (!c->dry_run &&
            (rc = write_file_atomic(dst_conf, (const uint8_t *)tmpl, strlen(tmpl))) != 0) {
            status = complain(c, OP_FAILED, "cannot write %s: %s", dst_conf, strerror(-rc));
            goto out;
        }
        say(c, "%s %s", c->dry_run ? "would write" : "wrote", LAMINA_CONF_PATH);
        break;
    case CONF_SAME:
        if (!c->dry_run)
            unlink(dst_new);    /* an older template, now the same as the kept file */
        say(c, "kept %s (it sets what this machine's template sets)", LAMINA_CONF_PATH);
        break;
    case CONF_KEEP_NEW:
        if (!c->dry_run &&
            (rc = write_file_atomic(dst_new, (const uint8_t *)tmpl, strlen(tmpl))) != 0) {
            status = complain(c, OP_FAILED, "cannot write %s: %s", dst_new, strerror(-rc));
            goto out;
        }
        say(c, "kept %s; this machine's template differs and %s %s%s beside it", LAMINA_CONF_PATH,
            c->dry_run ? "would go to" : "is in", LAMINA_CONF_PATH, CONF_NEW_SUFFIX);
        break;
    }
    if (!entry_same) {
        if (!c->dry_run && (rc = efivars_set(c->vars, name, EFI_BOOT_VAR_ATTRS, opt, opt_len))) {
            status = complain(c, OP_FAILED, "cannot write %s: %s", name, strerror(-rc));
            goto out;
        }
        struct load_option mine;
        char dummy[8];
        load_option_parse(opt, opt_len, &mine, dummy, sizeof(dummy));
        say(c, "%s %s \"%s\" %s",
            have_entry ? (c->dry_run ? "would update" : "updated")
                       : (c->dry_run ? "would create" : "created"),
            name, LAMINA_DESC, mine.dp_text);
    } else {
        say(c, "kept %s \"%s\"", name, LAMINA_DESC);
    }
    uint16_t old_next;
    if (get_u16(c, "BootNext", &old_next) == 0 && old_next != num)
        say(c, "BootNext was %04X: the trial of Lamina takes its place", old_next);
    uint8_t next[2] = { (uint8_t)num, (uint8_t)(num >> 8) };
    if (!c->dry_run &&
        (rc = efivars_set(c->vars, "BootNext", EFI_BOOT_VAR_ATTRS, next, sizeof(next))) != 0) {
        status = complain(c, OP_FAILED, "cannot write BootNext: %s", strerror(-rc));
        goto out;
    }
    boot_order_text(new_order, new_count, ordtext, sizeof(ordtext));
    say(c, "%s BootNext %04X: the next boot tries Lamina once; later boots follow BootOrder %s",
        c->dry_run ? "would set" : "set", num, ordtext);
    if (!c->dry_run)
        say(c, "after a good boot through Lamina, keep it with: lamina-install --commit");
    status = OP_OK;
    goto out;

refuse:
    status = complain(c, OP_REFUSED, "%s", why);
out:
    free(guest_data);
    free(efi_data);
    free(kept);
    return status;
}

/* ----------------------------------------------------------------- commit */

int op_commit(const struct install_ctx *c)
{
    static uint16_t order[ORDER_MAX], new_order[ORDER_MAX];
    static uint8_t used[8192];
    char ordtext[6 * 64], newtext[6 * 64], d1[EFIBOOT_DESC_MAX + 32];
    uint16_t lam[LAMINA_MAX], cur = 0, next = 0;
    size_t count, new_count;
    int nlam, rc;

    if ((nlam = find_lamina(c, lam, used)) < 0)
        return complain(c, OP_REFUSED, "cannot list the Boot#### variables in %s", c->vars->dir);
    if (nlam == 0)
        return complain(c, OP_REFUSED, "Lamina is not installed on the ESP at %s (no boot option "
                        "starts %s there): run lamina-install first", c->esp, LAMINA_EFI_PATH);
    if (get_u16(c, "BootCurrent", &cur) != 0)
        return complain(c, OP_REFUSED, "the firmware did not say which boot option started this "
                        "system (no BootCurrent), so a boot through Lamina cannot be confirmed");
    if (!boot_order_contains(lam, (size_t)nlam, cur)) {
        bool armed = get_u16(c, "BootNext", &next) == 0 && next == lam[0];
        return complain(c, OP_REFUSED,
                        "this boot did not go through Lamina: it came from %s, Lamina is "
                        "Boot%04X. %s", describe(c, cur, d1, sizeof(d1)), lam[0],
                        armed ? "A trial boot is armed (BootNext): reboot, check the system, "
                                "then commit"
                              : "Arm a trial boot with lamina-install, reboot, check the "
                                "system, then commit");
    }
    say(c, "this boot went through Lamina (Boot%04X)", cur);
    if (c->monitor_note)
        say(c, "monitor: %s", c->monitor_note);
    if (get_order(c, order, &count) != 0)
        return complain(c, OP_REFUSED, "BootOrder is unreadable or malformed");
    memcpy(new_order, order, count * sizeof(order[0]));
    new_count = boot_order_prepend(new_order, count, ORDER_MAX, cur);
    if (new_count == count && !boot_order_contains(order, count, cur))
        return complain(c, OP_REFUSED, "BootOrder is full");
    boot_order_text(order, count, ordtext, sizeof(ordtext));
    boot_order_text(new_order, new_count, newtext, sizeof(newtext));
    if (new_count == count && memcmp(order, new_order, count * sizeof(order[0])) == 0) {
        say(c, "already committed: BootOrder %s", ordtext);
        return OP_OK;
    }
    if (!c->dry_run && (rc = set_order(c, new_order, new_count)) != 0)
        return complain(c, OP_FAILED, "cannot write BootOrder: %s", strerror(-rc));
    if (get_u16(c, "BootNext", &next) == 0 && next == cur && !c->dry_run)
        efivars_del(c->vars, "BootNext");
    say(c, "%s BootOrder %s (was %s): Lamina starts first from now on",
        c->dry_run ? "would set" : "set", newtext, ordtext);
    return OP_OK;
}

/* ----------------------------------------------------------------- remove */

int op_remove(const struct install_ctx *c)
{
    static uint16_t order[ORDER_MAX], new_order[ORDER_MAX];
    static uint8_t used[8192];
    static const char *const files[] = {
        LAMINA_EFI_PATH, LAMINA_CONF_PATH, LAMINA_CONF_PATH CONF_NEW_SUFFIX,
        LAMINA_EFI_PATH ".tmp", LAMINA_CONF_PATH ".tmp", LAMINA_CONF_PATH CONF_NEW_SUFFIX ".tmp",
    };
    char ordtext[6 * 64], newtext[6 * 64], name[9], path[1024], dir[1024];
    uint16_t lam[LAMINA_MAX], next = 0;
    size_t count, new_count;
    int nlam, rc, found_files = 0;

    if ((nlam = find_lamina(c, lam, used)) < 0)
        return complain(c, OP_REFUSED, "cannot list the Boot#### variables in %s", c->vars->dir);
    if (get_order(c, order, &count) != 0)
        return complain(c, OP_REFUSED, "BootOrder is unreadable or malformed");
    if (esp_file(c->esp, LAMINA_DIR_EFI, dir, sizeof(dir)) != 0)
        return complain(c, OP_REFUSED, "the ESP path %s is too long", c->esp);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        esp_file(c->esp, files[i], path, sizeof(path));
        found_files += file_exists(path);
    }
    if (nlam == 0 && found_files == 0) {
        say(c, "Lamina is not installed on the ESP at %s: nothing to remove", c->esp);
        return OP_OK;
    }

    memcpy(new_order, order, count * sizeof(order[0]));
    new_count = count;
    for (int i = 0; i < nlam; i++)
        new_count = boot_order_remove(new_order, new_count, lam[i]);
    boot_order_text(order, count, ordtext, sizeof(ordtext));
    boot_order_text(new_order, new_count, newtext, sizeof(newtext));
    if (new_count != count) {
        if (!c->dry_run && (rc = set_order(c, new_order, new_count)) != 0)
            return complain(c, OP_FAILED, "cannot write BootOrder: %s", strerror(-rc));
        say(c, "%s BootOrder %s (was %s)", c->dry_run ? "would set" : "set", newtext, ordtext);
    }
    if (get_u16(c, "BootNext", &next) == 0 && boot_order_contains(lam, (size_t)nlam, next)) {
        if (!c->dry_run && (rc = efivars_del(c->vars, "BootNext")) != 0 && rc != -ENOENT)
            return complain(c, OP_FAILED, "cannot delete BootNext: %s", strerror(-rc));
        say(c, "%s BootNext (it was Lamina's %04X)", c->dry_run ? "would delete" : "deleted",
            next);
    }
    for (int i = 0; i < nlam; i++) {
        boot_var_name(lam[i], name);
        if (!c->dry_run && (rc = efivars_del(c->vars, name)) != 0 && rc != -ENOENT)
            return complain(c, OP_FAILED, "cannot delete %s: %s", name, strerror(-rc));
        say(c, "%s %s \"%s\"", c->dry_run ? "would delete" : "deleted", name, LAMINA_DESC);
    }
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        esp_file(c->esp, files[i], path, sizeof(path));
        if (!file_exists(path))
            continue;
        if (!c->dry_run && unlink(path) != 0)
            return complain(c, OP_FAILED, "cannot delete %s: %s", path, strerror(errno));
        say(c, "%s %s", c->dry_run ? "would delete" : "deleted", files[i]);
    }
    if (!c->dry_run) {
        if (rmdir(dir) == 0) {
            say(c, "deleted %s", LAMINA_DIR_EFI);
            fsync_dir_of(dir);
        } else if (errno == ENOTEMPTY || errno == EEXIST) {
            say(c, "kept %s: it holds files lamina-install did not put there", LAMINA_DIR_EFI);
        }
    }
    return OP_OK;
}

/* ----------------------------------------------------------------- status */

int op_status(const struct install_ctx *c)
{
    static uint16_t order[ORDER_MAX];
    static uint8_t used[8192];
    char ordtext[6 * 64], d1[EFIBOOT_DESC_MAX + 32], why[768], path[1024];
    uint16_t lam[LAMINA_MAX], cur = 0, next = 0;
    size_t count;
    int nlam, has_next, has_cur;

    if ((nlam = find_lamina(c, lam, used)) < 0)
        return complain(c, OP_REFUSED, "cannot list the Boot#### variables in %s", c->vars->dir);
    get_order(c, order, &count);
    has_cur = get_u16(c, "BootCurrent", &cur) == 0;
    has_next = get_u16(c, "BootNext", &next) == 0;
    boot_order_text(order, count, ordtext, sizeof(ordtext));
    say(c, "this boot: %s", has_cur ? describe(c, cur, d1, sizeof(d1)) : "unknown (no BootCurrent)");
    say(c, "BootOrder %s, BootNext %s", ordtext, has_next ? (snprintf(d1, sizeof(d1), "%04X",
        next), d1) : "none");
    if (nlam == 0) {
        say(c, "not installed: no boot option starts %s on the ESP at %s", LAMINA_EFI_PATH,
            c->esp);
        return OP_OK;
    }
    for (int i = 0; i < nlam; i++) {
        const char *state = count > 0 && order[0] == lam[i] ? "committed (first in BootOrder)"
                          : boot_order_contains(order, count, lam[i]) ? "in BootOrder, not first"
                          : has_next && next == lam[i] ? "trial armed (BootNext)"
                          : "installed, not in BootOrder, no trial armed";
        say(c, "Boot%04X \"%s\" starts %s: %s%s", lam[i], LAMINA_DESC, LAMINA_EFI_PATH, state,
            has_cur && cur == lam[i] ? "; this boot went through it" : "");
    }
    esp_file(c->esp, LAMINA_CONF_PATH, path, sizeof(path));
    uint8_t *text;
    size_t len;
    struct guest_choice g;
    if (read_file(path, &text, &len, CONF_MAX) != 0) {
        say(c, "%s is missing", LAMINA_CONF_PATH);
    } else {
        if (conf_check(c, (const char *)text, len, &g, why, sizeof(why)) == 0)
            say(c, "%s: guest %s, ready", LAMINA_CONF_PATH, g.path);
        else
            say(c, "%s would stop the boot: %s", LAMINA_CONF_PATH, why);
        free(text);
    }
    return OP_OK;
}
