/* Unit tests for lamina-install's decisions (tools/lamina-install/plan.c)
 * and for its operations run whole (ops.c) on a directory of variable files
 * in efivarfs format and a directory standing in for the mounted ESP:
 * install arms a trial (BootNext only), a boot through the firmware entry
 * is needed to commit, commit puts Lamina first, remove restores the old
 * order, an update keeps the user's lamina.conf, and every refusal changes
 * nothing. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "efi/config.h"
#include "efi/sha256.h"
#include "tools/lamina-install/disk.h"
#include "tools/lamina-install/efiboot.h"
#include "tools/lamina-install/efivars.h"
#include "tools/lamina-install/ops.h"
#include "tools/lamina-install/plan.h"

static const char *ESP_GUID = "4c414d49-4e41-4553-5000-000000000001";
static const char *OTHER_GUID = "4c414d49-4e41-4553-5000-000000000002";
static const char *KERNEL_OPTIONS = "console=ttyS0 initrd=\\EFI\\linux\\initrd.img";
static char msg[2048];

/* ============================================================ decisions */

static struct facts good_facts(void)
{
    struct facts f;
    memset(&f, 0, sizeof(f));
    f.root = f.efi = f.efivarfs = f.vtx = true;
    f.secure_boot = 0;
    f.lamina_signed = 0;
    f.efi_src = "/usr/lib/lamina/lamina.efi";
    f.esp = "/boot/efi";
    f.esp_mounted = true;
    strcpy(f.esp_fstype, "vfat");
    f.esp_part_ok = true;
    return f;
}

static void expect_refusal(const struct facts *f, enum lamina_op op, bool allow, const char *what)
{
    assert_int_equal(check_refusals(f, op, allow, msg, sizeof(msg)), -1);
    if (strstr(msg, what) == NULL)
        fail_msg("refusal '%s' does not say '%s'", msg, what);
}

static void test_refusals(void **state)
{
    (void)state;
    struct facts f = good_facts();

    assert_int_equal(check_refusals(&f, OP_INSTALL, false, msg, sizeof(msg)), 0);
    f.root = false;
    expect_refusal(&f, OP_INSTALL, false, "must run as root");
    expect_refusal(&f, OP_REMOVE, false, "must run as root");
    f = good_facts();
    f.efi = false;
    expect_refusal(&f, OP_INSTALL, false, "not started through UEFI");
    f = good_facts();
    f.efivarfs = false;
    expect_refusal(&f, OP_COMMIT, false, "mount -t efivarfs");
    f = good_facts();
    f.esp_mounted = false;
    expect_refusal(&f, OP_INSTALL, false, "/efi, /boot/efi or /boot");
    f.esp_given = true;
    f.esp = "/mnt";
    expect_refusal(&f, OP_INSTALL, false, "--esp /mnt: nothing is mounted there");
    f = good_facts();
    strcpy(f.esp_fstype, "ext4");
    expect_refusal(&f, OP_INSTALL, false, "is a ext4 file system, not FAT");
    f = good_facts();
    f.esp_part_ok = false;
    strcpy(f.esp_part_err, "md0 is a whole device");
    expect_refusal(&f, OP_REMOVE, false, "cannot tell which disk partition /boot/efi is: md0");

    /* No VT-x: install only, and --allow-no-vtx overrides. */
    f = good_facts();
    f.vtx = false;
    expect_refusal(&f, OP_INSTALL, false, "no VT-x");
    assert_int_equal(check_refusals(&f, OP_INSTALL, true, msg, sizeof(msg)), 0);
    assert_int_equal(check_refusals(&f, OP_COMMIT, false, msg, sizeof(msg)), 0);
    assert_int_equal(check_refusals(&f, OP_REMOVE, false, msg, sizeof(msg)), 0);

    /* Secure Boot: an unsigned image would not start; a signed one may. */
    f = good_facts();
    f.secure_boot = 1;
    expect_refusal(&f, OP_INSTALL, false, "Secure Boot is on");
    expect_refusal(&f, OP_INSTALL, true, "sign it");
    f.lamina_signed = -1;
    expect_refusal(&f, OP_INSTALL, false, "Secure Boot is on");
    f.lamina_signed = 1;
    assert_int_equal(check_refusals(&f, OP_INSTALL, false, msg, sizeof(msg)), 0);
    f.lamina_signed = 0;
    assert_int_equal(check_refusals(&f, OP_REMOVE, false, msg, sizeof(msg)), 0);
    f.secure_boot = -1;     /* no SecureBoot variable: firmware without it */
    assert_int_equal(check_refusals(&f, OP_INSTALL, false, msg, sizeof(msg)), 0);
}

static struct part_id esp_part(void)
{
    struct part_id p;
    memset(&p, 0, sizeof(p));
    p.scheme = DP_HD_MBR_TYPE_GPT;
    p.number = 1;
    p.start = 0x800;
    p.size = 0x1f000;
    guid_parse(ESP_GUID, p.guid);
    guid_parse(ESP_TYPE_GUID_TEXT, p.type_guid);
    return p;
}

static struct load_option option_on(const char *guid, const char *file, const char *opts)
{
    struct load_option lo;
    memset(&lo, 0, sizeof(lo));
    strcpy(lo.description, "debian");
    lo.kind = file ? DP_KIND_FILE_ON_PARTITION : DP_KIND_PARTITION;
    lo.has_hd = true;
    lo.hd.part_number = 1;
    lo.hd.mbr_type = DP_HD_MBR_TYPE_GPT;
    lo.hd.sig_type = DP_HD_SIG_GUID;
    guid_parse(guid, lo.hd.signature);
    lo.has_file = file != NULL;
    lo.file_ascii = true;
    if (file)
        strcpy(lo.file, file);
    strcpy(lo.dp_text, "HD(...)");
    static uint8_t data[1024];
    size_t n = 0;
    for (const char *s = opts; s && *s; s++) {
        data[n++] = (uint8_t)*s;
        data[n++] = 0;
    }
    lo.optional = data;
    lo.optional_len = n;
    return lo;
}

static void test_guest_from_option(void **state)
{
    (void)state;
    struct part_id esp = esp_part();
    struct guest_choice g;
    struct load_option lo;

    lo = option_on(ESP_GUID, "\\EFI\\debian\\shimx64.efi", NULL);
    assert_int_equal(guest_from_option(3, &lo, &esp, "/boot/efi", &g, msg, sizeof(msg)), 0);
    assert_string_equal(g.path, "\\EFI\\debian\\shimx64.efi");
    assert_string_equal(g.options, "");
    assert_string_equal(g.origin, "Boot0003 \"debian\"");

    lo = option_on(ESP_GUID, "\\EFI\\linux\\vmlinuz", "  root=/dev/sda2 quiet ");
    assert_int_equal(guest_from_option(3, &lo, &esp, "/boot/efi", &g, msg, sizeof(msg)), 0);
    assert_string_equal(g.options, "root=/dev/sda2 quiet");

    /* A partition without a file: the removable-media default. */
    lo = option_on(ESP_GUID, NULL, NULL);
    assert_int_equal(guest_from_option(3, &lo, &esp, "/boot/efi", &g, msg, sizeof(msg)), 0);
    assert_string_equal(g.path, "\\EFI\\BOOT\\BOOTX64.EFI");

    /* Another volume: refused, saying how to fix it. */
    lo = option_on(OTHER_GUID, "\\EFI\\debian\\grubx64.efi", NULL);
    assert_int_equal(guest_from_option(3, &lo, &esp, "/boot/efi", &g, msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "4c414d49-4e41-4553-5000-000000000002"));
    assert_non_null(strstr(msg, "its own volume"));
    assert_non_null(strstr(msg, "--esp"));
    assert_non_null(strstr(msg, "--guest"));

    lo = option_on(ESP_GUID, "\\EFI\\debian\\grubx64.efi", NULL);
    lo.kind = DP_KIND_FIRMWARE;
    assert_int_equal(guest_from_option(0, &lo, &esp, "/boot/efi", &g, msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "inside the firmware"));
    lo.kind = DP_KIND_DEVICE;
    assert_int_equal(guest_from_option(1, &lo, &esp, "/boot/efi", &g, msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "whole device"));
    lo.kind = DP_KIND_FILE_ONLY;
    assert_int_equal(guest_from_option(1, &lo, &esp, "/boot/efi", &g, msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "not the partition"));

    /* Binary optional data cannot go into lamina.conf. */
    lo = option_on(ESP_GUID, "\\EFI\\Microsoft\\Boot\\bootmgfw.efi", NULL);
    static const uint8_t bin[] = { 'W', 'I', 'N', 'D', 'O', 'W', 'S', 0, 1, 0, 0 };
    lo.optional = bin;
    lo.optional_len = sizeof(bin);
    assert_int_equal(guest_from_option(0, &lo, &esp, "/boot/efi", &g, msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "binary"));

    /* Lamina itself, and a name lamina.conf cannot hold. */
    lo = option_on(ESP_GUID, "\\EFI\\LAMINA\\lamina.efi", NULL);
    assert_int_equal(guest_from_option(5, &lo, &esp, "/boot/efi", &g, msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "Lamina itself"));
    lo = option_on(ESP_GUID, "\\EFI\\a|b.efi", NULL);
    assert_int_equal(guest_from_option(5, &lo, &esp, "/boot/efi", &g, msg, sizeof(msg)), -1);
    lo = option_on(ESP_GUID, "\\EFI\\x.efi", NULL);
    lo.file_ascii = false;
    assert_int_equal(guest_from_option(5, &lo, &esp, "/boot/efi", &g, msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "not ASCII"));
}

static void test_guest_from_args(void **state)
{
    (void)state;
    struct guest_choice g;

    assert_int_equal(guest_from_args("/EFI/debian/grubx64.efi", NULL, &g, msg, sizeof(msg)), 0);
    assert_string_equal(g.path, "\\EFI\\debian\\grubx64.efi");
    assert_string_equal(g.options, "");
    assert_int_equal(guest_from_args("\\EFI\\x.efi", " a b ", &g, msg, sizeof(msg)), 0);
    assert_string_equal(g.options, "a b");
    assert_int_equal(guest_from_args("EFI\\x.efi", NULL, &g, msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "absolute"));
    assert_int_equal(guest_from_args("\\EFI\\x.efi", "a # b", &g, msg, sizeof(msg)), -1);
    assert_int_equal(guest_from_args("\\EFI\\lamina\\lamina.efi", NULL, &g, msg, sizeof(msg)), -1);
}

static void test_conf_template(void **state)
{
    (void)state;
    struct guest_choice g;
    char t[4096];
    static struct lamina_config cfg;
    const char *hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    assert_int_equal(guest_from_args("\\EFI\\linux\\vmlinuz", KERNEL_OPTIONS, &g, msg,
                                     sizeof(msg)), 0);
    assert_int_equal(conf_template(&g, hex, t, sizeof(t), msg, sizeof(msg)), 0);
    assert_int_equal(config_parse(t, strlen(t), &cfg, msg, sizeof(msg)), 0);
    assert_string_equal(cfg.guest, "\\EFI\\linux\\vmlinuz");
    assert_string_equal(cfg.options, KERNEL_OPTIONS);
    assert_true(cfg.has_guest_sha256);
    assert_int_equal(cfg.guest_sha256[31], 0xff);
    assert_int_equal(cfg.on_error, ON_ERROR_BOOT);
    assert_non_null(strstr(t, "guest-sha256 " "00112233"));

    /* No options line without options. */
    assert_int_equal(guest_from_args("\\EFI\\x.efi", NULL, &g, msg, sizeof(msg)), 0);
    assert_int_equal(conf_template(&g, hex, t, sizeof(t), msg, sizeof(msg)), 0);
    assert_null(strstr(t, "options"));

    /* The loader's parser is the judge: a bad hash is refused. */
    assert_int_equal(conf_template(&g, "xyz", t, sizeof(t), msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "refused by Lamina's parser"));
    assert_int_equal(conf_template(&g, hex, t, 64, msg, sizeof(msg)), -1);
}

static void test_conf_same_settings(void **state)
{
    (void)state;
    const char *a = "# one comment\nguest  \\EFI\\x.efi\non-error boot  # why\n";
    const char *b = "\n# another comment\r\n  guest  \\EFI\\x.efi\t\r\n\non-error boot\n";
    const char *c = "guest  \\EFI\\x.efi\non-error halt\n";
    const char *d = "guest  \\EFI\\x.efi\non-error boot\nlog-level debug\n";

    assert_true(conf_same_settings(a, strlen(a), b, strlen(b)));
    assert_false(conf_same_settings(a, strlen(a), c, strlen(c)));
    assert_false(conf_same_settings(a, strlen(a), d, strlen(d)));
    assert_false(conf_same_settings(d, strlen(d), a, strlen(a)));
    assert_true(conf_same_settings("", 0, "# x\n\n", 5));
    /* Inner blanks count: a value is compared as written. */
    assert_false(conf_same_settings("options a b", 11, "options a  b", 12));
}

static void test_mountinfo(void **state)
{
    (void)state;
    const char *text =
        "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n"
        "30 22 0:25 / /sys rw,nosuid shared:7 - sysfs sysfs rw\n"
        "41 22 259:1 / /boot/efi rw,relatime shared:30 - vfat /dev/nvme0n1p1 rw,fmask=0077\n"
        "42 22 8:17 / /media/my\\040disk rw - vfat /dev/sdb1 rw\n"
        "43 41 0:40 / /boot/efi rw - tmpfs tmpfs rw\n";
    struct mount_entry m;

    assert_int_equal(mountinfo_find(text, "/sys", &m), 0);
    assert_string_equal(m.fstype, "sysfs");
    assert_int_equal(mountinfo_find(text, "/media/my disk", &m), 0);
    assert_int_equal(m.major, 8);
    assert_int_equal(m.minor, 17);
    assert_string_equal(m.source, "/dev/sdb1");
    /* Mounted over: the last line is the one in use. */
    assert_int_equal(mountinfo_find(text, "/boot/efi", &m), 0);
    assert_string_equal(m.fstype, "tmpfs");
    assert_int_equal(mountinfo_find(text, "/boot", &m), -1);
    assert_int_equal(mountinfo_find(text, "/boot/ef", &m), -1);
    assert_int_equal(mountinfo_find("", "/", &m), -1);
    /* No optional fields at all. */
    assert_int_equal(mountinfo_find("1 0 1:2 / /efi rw - vfat /dev/x rw", "/efi", &m), 0);
    assert_int_equal(m.major, 1);
}

static void test_cpuinfo(void **state)
{
    (void)state;
    const char *intel = "processor\t: 0\nflags\t\t: fpu vme vmx smx est\nprocessor\t: 1\n";
    const char *none = "processor\t: 0\nflags\t\t: fpu vmxx svm\n\nprocessor\t: 1\nflags : vmx\n";

    assert_true(cpuinfo_has_flag(intel, "vmx"));
    assert_true(cpuinfo_has_flag(intel, "fpu"));
    assert_false(cpuinfo_has_flag(intel, "vm"));
    assert_false(cpuinfo_has_flag(none, "vmx"));    /* a longer flag, and CPU 1 does not count */
    assert_false(cpuinfo_has_flag("", "vmx"));
}

/* ========================================================== operations */

struct fixture {
    char root[64], vars_dir[96], esp[96], efi_src[128];
    struct efivars vars;
    struct install_ctx c;
    char *out, *err;
    size_t out_len, err_len;
    FILE *out_f, *err_f;
};

static void path_in(const struct fixture *fx, const char *rel, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", fx->esp, rel);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static bool same_file(const char *a, const char *b)
{
    static uint8_t x[4096], y[4096];
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    assert_non_null(fa);
    assert_non_null(fb);
    size_t na = fread(x, 1, sizeof(x), fa), nb = fread(y, 1, sizeof(y), fb);
    fclose(fa);
    fclose(fb);
    return na == nb && memcmp(x, y, na) == 0;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void set_u16s(struct fixture *fx, const char *name, const uint16_t *v, size_t n)
{
    uint8_t b[64];
    for (size_t i = 0; i < n; i++) {
        b[2 * i] = (uint8_t)v[i];
        b[2 * i + 1] = (uint8_t)(v[i] >> 8);
    }
    assert_int_equal(efivars_set(&fx->vars, name, EFI_BOOT_VAR_ATTRS, b, 2 * n), 0);
}

/* The variable as "0002,0001", "none" if absent. */
static const char *u16s(struct fixture *fx, const char *name)
{
    static char text[128];
    uint8_t b[64];
    uint16_t o[32];
    uint32_t attrs;
    size_t len;
    if (efivars_get(&fx->vars, name, &attrs, b, sizeof(b), &len) != 0)
        return "none";
    int n = boot_order_parse(b, len, o, 32);
    assert_true(n >= 0);
    boot_order_text(o, (size_t)n, text, sizeof(text));
    return text;
}

static bool var_exists(struct fixture *fx, const char *name)
{
    uint8_t b[4096];
    uint32_t attrs;
    size_t len;
    return efivars_get(&fx->vars, name, &attrs, b, sizeof(b), &len) == 0;
}

/* A Boot#### for file on the partition with GUID guid, with options. */
static void add_option(struct fixture *fx, uint16_t num, const char *desc, const char *guid,
                       const char *file, const char *opts)
{
    uint8_t b[1024];
    struct hd_node hd = { .part_number = 1, .part_start = 0x800, .part_size = 0x1f000,
                          .mbr_type = DP_HD_MBR_TYPE_GPT, .sig_type = DP_HD_SIG_GUID };
    guid_parse(guid, hd.signature);
    size_t n = load_option_build(b, sizeof(b), LOAD_OPTION_ACTIVE, desc, &hd, file);
    assert_true(n > 0);
    for (const char *s = opts; s && *s; s++) {
        b[n++] = (uint8_t)*s;
        b[n++] = 0;
    }
    char name[9];
    boot_var_name(num, name);
    assert_int_equal(efivars_set(&fx->vars, name, EFI_BOOT_VAR_ATTRS, b, n), 0);
}

/* A PE32+ image small enough to be a fake lamina.efi. */
static void write_fake_efi(const char *path, uint8_t tag)
{
    uint8_t img[512];
    memset(img, 0, sizeof(img));
    img[0] = 'M';
    img[1] = 'Z';
    img[0x3c] = 0x80;
    memcpy(img + 0x80, "PE\0\0", 4);
    img[0x80 + 24] = 0x0b;
    img[0x80 + 25] = 0x02;
    img[0x80 + 24 + 108] = 16;
    img[500] = tag;
    write_file(path, img, sizeof(img));
}

static int rm_entry(const char *p, const struct stat *s, int flag, struct FTW *f)
{
    (void)s;
    (void)flag;
    (void)f;
    return remove(p);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    char p[256];

    strcpy(fx->root, "/tmp/lamina-unit-install.XXXXXX");
    assert_non_null(mkdtemp(fx->root));
    snprintf(fx->vars_dir, sizeof(fx->vars_dir), "%s/vars", fx->root);
    snprintf(fx->esp, sizeof(fx->esp), "%s/esp", fx->root);
    snprintf(fx->efi_src, sizeof(fx->efi_src), "%s/lamina.efi", fx->root);
    mkdir(fx->vars_dir, 0755);
    mkdir(fx->esp, 0755);
    path_in(fx, "EFI", p, sizeof(p));
    mkdir(p, 0755);
    path_in(fx, "EFI/linux", p, sizeof(p));
    mkdir(p, 0755);
    path_in(fx, "EFI/linux/vmlinuz", p, sizeof(p));
    write_file(p, "kernel v1", 9);
    write_fake_efi(fx->efi_src, 1);
    assert_int_equal(efivars_open(&fx->vars, fx->vars_dir), 0);
    assert_true(fx->vars.plain);

    /* The machine: UiApp, the Linux entry it boots, a loader on another disk. */
    uint8_t fv[] = { 1, 0, 0, 0, 24, 0, 'U', 0, 0, 0, 4, 6, 20, 0, 1, 2, 3, 4, 5, 6, 7, 8,
                     9, 10, 11, 12, 13, 14, 15, 16, 0x7f, 0xff, 4, 0 };
    assert_int_equal(efivars_set(&fx->vars, "Boot0000", EFI_BOOT_VAR_ATTRS, fv, sizeof(fv)), 0);
    add_option(fx, 1, "Linux", ESP_GUID, "\\EFI\\linux\\vmlinuz", KERNEL_OPTIONS);
    add_option(fx, 3, "other disk", OTHER_GUID, "\\EFI\\debian\\grubx64.efi", NULL);
    set_u16s(fx, "BootOrder", (uint16_t[]){ 1, 0, 3 }, 3);
    set_u16s(fx, "BootCurrent", (uint16_t[]){ 1 }, 1);

    fx->c.vars = &fx->vars;
    fx->c.esp = fx->esp;
    fx->c.esp_part = esp_part();
    fx->c.efi_src = fx->efi_src;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    nftw(fx->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx->out);
    free(fx->err);
    free(fx);
    return 0;
}

/* Run op with fresh output buffers. */
static int run(struct fixture *fx, int (*op)(const struct install_ctx *))
{
    free(fx->out);
    free(fx->err);
    fx->out = fx->err = NULL;
    fx->out_f = open_memstream(&fx->out, &fx->out_len);
    fx->err_f = open_memstream(&fx->err, &fx->err_len);
    fx->c.out = fx->out_f;
    fx->c.err = fx->err_f;
    int rc = op(&fx->c);
    fclose(fx->out_f);
    fclose(fx->err_f);
    return rc;
}

static void expect_out(struct fixture *fx, const char *what)
{
    if (!fx->out || strstr(fx->out, what) == NULL)
        fail_msg("output does not say '%s':\n%s%s", what, fx->out ? fx->out : "",
                 fx->err ? fx->err : "");
}
static void expect_err(struct fixture *fx, const char *what)
{
    if (!fx->err || strstr(fx->err, what) == NULL)
        fail_msg("errors do not say '%s':\n%s%s", what, fx->out ? fx->out : "",
                 fx->err ? fx->err : "");
}

/* Every file under the fixture (variables and ESP) with its contents' hash. */
static char snap[65536];
static size_t snap_len;
static int snap_entry(const char *p, const struct stat *s, int flag, struct FTW *f)
{
    (void)f;
    char hex[SHA256_HEX_LEN + 1] = "dir";
    if (flag == FTW_F) {
        FILE *in = fopen(p, "rb");
        static uint8_t buf[65536];
        size_t n = fread(buf, 1, sizeof(buf), in);
        fclose(in);
        uint8_t d[SHA256_DIGEST_LEN];
        sha256_digest(buf, n, d);
        sha256_to_hex(d, hex);
    }
    snap_len += (size_t)snprintf(snap + snap_len, sizeof(snap) - snap_len, "%s %ld %s\n", p,
                                 (long)s->st_size, hex);
    return 0;
}
static char *snapshot(struct fixture *fx)
{
    snap_len = 0;
    snap[0] = '\0';
    nftw(fx->root, snap_entry, 16, FTW_PHYS);
    return strdup(snap);
}

static void expect_unchanged(struct fixture *fx, char *before)
{
    char *after = snapshot(fx);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

/* The trial boot: the firmware takes BootNext away and boots it. */
static void firmware_boots_next(struct fixture *fx)
{
    uint8_t b[4];
    uint32_t attrs;
    size_t len;
    assert_int_equal(efivars_get(&fx->vars, "BootNext", &attrs, b, sizeof(b), &len), 0);
    assert_int_equal(efivars_del(&fx->vars, "BootNext"), 0);
    assert_int_equal(efivars_set(&fx->vars, "BootCurrent", 6, b, 2), 0);
}

static void test_install_arms_a_trial(void **state)
{
    struct fixture *fx = *state;
    char p[256];

    assert_int_equal(run(fx, op_install), OP_OK);
    expect_out(fx, "guest \\EFI\\linux\\vmlinuz, from Boot0001 \"Linux\"");
    expect_out(fx, "created Boot0002 \"Lamina\" HD(1,GPT," "4c414d49-4e41-4553-5000-000000000001");
    expect_out(fx, "set BootNext 0002");
    /* BootNext only: the order the firmware falls back to is untouched. */
    assert_string_equal(u16s(fx, "BootNext"), "0002");
    assert_string_equal(u16s(fx, "BootOrder"), "0001,0000,0003");

    /* The entry, as the firmware will read it. */
    uint8_t raw[1024];
    uint32_t attrs;
    size_t len;
    struct load_option lo;
    assert_int_equal(efivars_get(&fx->vars, "Boot0002", &attrs, raw, sizeof(raw), &len), 0);
    assert_int_equal(attrs, EFI_BOOT_VAR_ATTRS);
    assert_int_equal(load_option_parse(raw, len, &lo, msg, sizeof(msg)), 0);
    assert_string_equal(lo.description, "Lamina");
    assert_string_equal(lo.file, "\\EFI\\lamina\\lamina.efi");
    assert_true(lo.attributes & LOAD_OPTION_ACTIVE);
    struct part_id esp = esp_part();
    assert_true(hd_matches(&lo.hd, &esp));
    assert_int_equal(lo.hd.part_start, 0x800);
    assert_int_equal(lo.hd.part_size, 0x1f000);

    /* The files: lamina.efi as given, lamina.conf for the booted loader. */
    path_in(fx, "EFI/lamina/lamina.efi", p, sizeof(p));
    assert_true(same_file(p, fx->efi_src));
    path_in(fx, "EFI/lamina/lamina.conf", p, sizeof(p));
    char *conf = read_text(p);
    static struct lamina_config cfg;
    assert_int_equal(config_parse(conf, strlen(conf), &cfg, msg, sizeof(msg)), 0);
    assert_string_equal(cfg.guest, "\\EFI\\linux\\vmlinuz");
    assert_string_equal(cfg.options, KERNEL_OPTIONS);
    uint8_t d[SHA256_DIGEST_LEN];
    sha256_digest("kernel v1", 9, d);
    assert_memory_equal(cfg.guest_sha256, d, sizeof(d));
    assert_int_equal(cfg.on_error, ON_ERROR_BOOT);
    path_in(fx, "EFI/lamina/lamina.conf.new", p, sizeof(p));
    assert_false(exists(p));
}

static void test_dry_run_changes_nothing(void **state)
{
    struct fixture *fx = *state;

    fx->c.dry_run = true;
    char *before = snapshot(fx);
    assert_int_equal(run(fx, op_install), OP_OK);
    expect_out(fx, "dry run: would create Boot0002");
    expect_out(fx, "dry run: would set BootNext 0002");
    expect_unchanged(fx, before);
    fx->c.dry_run = false;
    assert_int_equal(run(fx, op_install), OP_OK);
    firmware_boots_next(fx);
    fx->c.dry_run = true;
    before = snapshot(fx);
    assert_int_equal(run(fx, op_commit), OP_OK);
    expect_out(fx, "would set BootOrder 0002,0001,0000,0003");
    assert_int_equal(run(fx, op_remove), OP_OK);
    expect_out(fx, "would delete Boot0002");
    expect_unchanged(fx, before);
}

static void test_commit_needs_a_boot_through_lamina(void **state)
{
    struct fixture *fx = *state;

    /* Not installed. */
    char *before = snapshot(fx);
    assert_int_equal(run(fx, op_commit), OP_REFUSED);
    expect_err(fx, "not installed");
    expect_err(fx, "nothing was changed");
    expect_unchanged(fx, before);

    /* Installed, but this boot came from the old entry. */
    assert_int_equal(run(fx, op_install), OP_OK);
    before = snapshot(fx);
    assert_int_equal(run(fx, op_commit), OP_REFUSED);
    expect_err(fx, "did not go through Lamina: it came from Boot0001 \"Linux\", Lamina is Boot0002");
    expect_err(fx, "A trial boot is armed");
    expect_unchanged(fx, before);

    /* After the trial boot. */
    firmware_boots_next(fx);
    fx->c.monitor_note = "running (test)";
    assert_int_equal(run(fx, op_commit), OP_OK);
    expect_out(fx, "this boot went through Lamina (Boot0002)");
    expect_out(fx, "monitor: running (test)");
    assert_string_equal(u16s(fx, "BootOrder"), "0002,0001,0000,0003");
    assert_int_equal(run(fx, op_commit), OP_OK);
    expect_out(fx, "already committed");
    assert_string_equal(u16s(fx, "BootOrder"), "0002,0001,0000,0003");
}

static void test_update_keeps_lamina_conf(void **state)
{
    struct fixture *fx = *state;
    char conf[256], news[256];

    path_in(fx, "EFI/lamina/lamina.conf", conf, sizeof(conf));
    path_in(fx, "EFI/lamina/lamina.conf.new", news, sizeof(news));
    assert_int_equal(run(fx, op_install), OP_OK);
    char *first = strdup(read_text(conf));

    /* The same machine again: same entry, same file, nothing beside it. */
    write_fake_efi(fx->efi_src, 2);     /* a new lamina.efi */
    assert_int_equal(run(fx, op_install), OP_OK);
    expect_out(fx, "kept \\EFI\\lamina\\lamina.conf (it sets what this machine's template sets)");
    expect_out(fx, "kept Boot0002 \"Lamina\"");
    assert_string_equal(read_text(conf), first);
    assert_false(exists(news));
    char p[256];
    path_in(fx, "EFI/lamina/lamina.efi", p, sizeof(p));
    assert_true(same_file(p, fx->efi_src));

    /* The user's own edit is kept; the template goes beside it. */
    FILE *f = fopen(conf, "a");
    fputs("log-level debug\n", f);
    fclose(f);
    char *edited = strdup(read_text(conf));
    assert_int_equal(run(fx, op_install), OP_OK);
    expect_out(fx, "kept \\EFI\\lamina\\lamina.conf; this machine's template differs");
    assert_string_equal(read_text(conf), edited);
    assert_string_equal(read_text(news), first);
    assert_string_equal(u16s(fx, "BootNext"), "0002");

    /* Back to the template: the stale .new goes. */
    write_file(conf, first, strlen(first));
    assert_int_equal(run(fx, op_install), OP_OK);
    assert_false(exists(news));
    free(first);
    free(edited);
}

static void test_update_after_commit_is_a_new_trial(void **state)
{
    struct fixture *fx = *state;

    assert_int_equal(run(fx, op_install), OP_OK);
    firmware_boots_next(fx);
    assert_int_equal(run(fx, op_commit), OP_OK);
    /* Booted through Lamina (first in BootOrder); a new version: */
    write_fake_efi(fx->efi_src, 3);
    assert_int_equal(run(fx, op_install), OP_OK);
    /* The guest now comes from the kept lamina.conf: BootCurrent is Lamina.
     * The template's comment names another origin; that is no change. */
    expect_out(fx, "guest \\EFI\\linux\\vmlinuz, from the guest of the kept lamina.conf");
    expect_out(fx, "kept \\EFI\\lamina\\lamina.conf (it sets what");
    char news[256];
    path_in(fx, "EFI/lamina/lamina.conf.new", news, sizeof(news));
    assert_false(exists(news));
    expect_out(fx, "took Boot0002 from BootOrder until this version is committed");
    assert_string_equal(u16s(fx, "BootOrder"), "0001,0000,0003");
    assert_string_equal(u16s(fx, "BootNext"), "0002");
}

static void test_remove_restores_everything(void **state)
{
    struct fixture *fx = *state;
    char p[256];

    assert_int_equal(run(fx, op_install), OP_OK);
    firmware_boots_next(fx);
    assert_int_equal(run(fx, op_commit), OP_OK);
    /* A leftover BootNext for Lamina goes too. */
    set_u16s(fx, "BootNext", (uint16_t[]){ 2 }, 1);
    assert_int_equal(run(fx, op_remove), OP_OK);
    expect_out(fx, "set BootOrder 0001,0000,0003 (was 0002,0001,0000,0003)");
    expect_out(fx, "deleted Boot0002 \"Lamina\"");
    expect_out(fx, "deleted \\EFI\\lamina\\lamina.efi");
    assert_string_equal(u16s(fx, "BootOrder"), "0001,0000,0003");
    assert_string_equal(u16s(fx, "BootNext"), "none");
    assert_false(var_exists(fx, "Boot0002"));
    path_in(fx, "EFI/lamina", p, sizeof(p));
    assert_false(exists(p));
    /* The others' entries are untouched. */
    assert_true(var_exists(fx, "Boot0001"));
    assert_true(var_exists(fx, "Boot0003"));

    char *before = snapshot(fx);
    assert_int_equal(run(fx, op_remove), OP_OK);
    expect_out(fx, "nothing to remove");
    expect_unchanged(fx, before);

    /* This boot was Lamina's, whose entry is gone: install needs the old one. */
    assert_int_equal(run(fx, op_install), OP_REFUSED);
    expect_err(fx, "this boot came from Boot0002, but it does not exist");
    /* A file of the user's in \EFI\lamina is left there, with the directory. */
    set_u16s(fx, "BootCurrent", (uint16_t[]){ 1 }, 1);
    assert_int_equal(run(fx, op_install), OP_OK);
    path_in(fx, "EFI/lamina/notes.txt", p, sizeof(p));
    write_file(p, "mine", 4);
    assert_int_equal(run(fx, op_remove), OP_OK);
    expect_out(fx, "kept \\EFI\\lamina: it holds files");
    assert_true(exists(p));
}

static void test_refusals_change_nothing(void **state)
{
    struct fixture *fx = *state;
    char *before;

    /* The firmware booted a loader on another disk. */
    set_u16s(fx, "BootCurrent", (uint16_t[]){ 3 }, 1);
    before = snapshot(fx);
    assert_int_equal(run(fx, op_install), OP_REFUSED);
    expect_err(fx, "Boot0003 \"other disk\", which starts \\EFI\\debian\\grubx64.efi on partition 1 "
               "(GPT 4c414d49-4e41-4553-5000-000000000002)");
    expect_err(fx, "nothing was changed");
    expect_unchanged(fx, before);

    /* ... from a firmware application. */
    set_u16s(fx, "BootCurrent", (uint16_t[]){ 0 }, 1);
    before = snapshot(fx);
    assert_int_equal(run(fx, op_install), OP_REFUSED);
    expect_err(fx, "inside the firmware");
    expect_unchanged(fx, before);

    /* ... from an entry that is gone. */
    set_u16s(fx, "BootCurrent", (uint16_t[]){ 9 }, 1);
    before = snapshot(fx);
    assert_int_equal(run(fx, op_install), OP_REFUSED);
    expect_err(fx, "Boot0009, but it does not exist");
    expect_unchanged(fx, before);

    /* No BootCurrent: only --guest can say. */
    assert_int_equal(efivars_del(&fx->vars, "BootCurrent"), 0);
    before = snapshot(fx);
    assert_int_equal(run(fx, op_install), OP_REFUSED);
    expect_err(fx, "no BootCurrent");
    expect_unchanged(fx, before);

    /* --guest naming a file that is not there. */
    before = snapshot(fx);
    fx->c.guest_arg = "\\EFI\\debian\\grubx64.efi";
    assert_int_equal(run(fx, op_install), OP_REFUSED);
    expect_err(fx, "is not a file on the ESP");
    expect_unchanged(fx, before);

    /* lamina.efi missing, or not a PE image. */
    fx->c.guest_arg = "\\EFI\\linux\\vmlinuz";
    fx->c.efi_src = "/nonexistent/lamina.efi";
    before = snapshot(fx);
    assert_int_equal(run(fx, op_install), OP_REFUSED);
    expect_err(fx, "cannot read /nonexistent/lamina.efi");
    expect_unchanged(fx, before);
    write_file(fx->efi_src, "not a PE", 8);
    fx->c.efi_src = fx->efi_src;
    before = snapshot(fx);
    assert_int_equal(run(fx, op_install), OP_REFUSED);
    expect_err(fx, "not a PE32+ UEFI image");
    expect_unchanged(fx, before);

    /* With --guest (and BootCurrent absent) it installs. */
    write_fake_efi(fx->efi_src, 1);
    fx->c.options_arg = "quiet";
    assert_int_equal(run(fx, op_install), OP_OK);
    expect_out(fx, "guest \\EFI\\linux\\vmlinuz, from --guest");
    expect_out(fx, "options quiet");
}

static void test_kept_conf_that_would_halt(void **state)
{
    struct fixture *fx = *state;
    char p[256], conf[256], news[256];

    path_in(fx, "EFI/lamina/lamina.conf", conf, sizeof(conf));
    path_in(fx, "EFI/lamina/lamina.conf.new", news, sizeof(news));
    assert_int_equal(run(fx, op_install), OP_OK);
    firmware_boots_next(fx);
    assert_int_equal(run(fx, op_commit), OP_OK);
    char *old = strdup(read_text(conf));

    /* The loader is updated: the pinned guest-sha256 no longer matches. */
    path_in(fx, "EFI/linux/vmlinuz", p, sizeof(p));
    write_file(p, "kernel v2", 9);
    write_file(news, "stale", 5);
    char *before = snapshot(fx);
    assert_int_equal(run(fx, op_install), OP_REFUSED);
    expect_out(fx, "the kept \\EFI\\lamina\\lamina.conf would stop the boot: it pins guest-sha256");
    expect_err(fx, "not arming a trial boot that would halt");
    expect_err(fx, "nothing else was changed");
    /* Only the template changed: lamina.conf, variables, BootOrder as they were. */
    assert_string_equal(read_text(conf), old);
    char hex[SHA256_HEX_LEN + 1];
    uint8_t d[SHA256_DIGEST_LEN];
    sha256_digest("kernel v2", 9, d);
    sha256_to_hex(d, hex);
    assert_non_null(strstr(read_text(news), hex));
    write_file(news, "stale", 5);
    expect_unchanged(fx, before);
    assert_string_equal(u16s(fx, "BootOrder"), "0002,0001,0000,0003");
    free(old);

    /* A kept file that does not parse at all. */
    write_file(conf, "frobnicate 1\n", 13);
    assert_int_equal(run(fx, op_install), OP_REFUSED);
    expect_err(fx, "cannot name its guest (it does not parse: lamina.conf:1: unknown key "
               "'frobnicate')");
}

static void test_status(void **state)
{
    struct fixture *fx = *state;

    assert_int_equal(run(fx, op_status), OP_OK);
    expect_out(fx, "this boot: Boot0001 \"Linux\"");
    expect_out(fx, "not installed");
    assert_int_equal(run(fx, op_install), OP_OK);
    assert_int_equal(run(fx, op_status), OP_OK);
    expect_out(fx, "Boot0002 \"Lamina\" starts \\EFI\\lamina\\lamina.efi: trial armed (BootNext)");
    expect_out(fx, "lamina.conf: guest \\EFI\\linux\\vmlinuz, ready");
    firmware_boots_next(fx);
    assert_int_equal(run(fx, op_commit), OP_OK);
    assert_int_equal(run(fx, op_status), OP_OK);
    expect_out(fx, "committed (first in BootOrder); this boot went through it");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_guest_from_option),
        cmocka_unit_test(test_guest_from_args),
        cmocka_unit_test(test_conf_template),
        cmocka_unit_test(test_conf_same_settings),
        cmocka_unit_test(test_mountinfo),
        cmocka_unit_test(test_cpuinfo),
        cmocka_unit_test_setup_teardown(test_install_arms_a_trial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_needs_a_boot_through_lamina, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_keeps_lamina_conf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_after_commit_is_a_new_trial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_restores_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals_change_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kept_conf_that_would_halt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status, setup, teardown),
    };
    return cmocka_run_group_tests_name("install", tests, NULL, NULL);
}
