/* Gathering facts from Linux: see probe.h. */
#define _GNU_SOURCE
#include "tools/lamina-install/probe.h"

#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/lamina-install/efiboot.h"
#include "tools/lamina-install/efivars.h"

/* The whole of a small (proc/sys) file, NUL-terminated; NULL on failure. */
static char *slurp(const char *path, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t have = 0;
    char *buf;

    if (fd < 0)
        return NULL;
    buf = malloc(max + 1);
    while (buf && have < max) {
        ssize_t n = read(fd, buf + have, max - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    close(fd);
    if (buf)
        buf[have] = '\0';
    return buf;
}

static int read_u64(const char *path, unsigned long long *v)
{
    char *s = slurp(path, 64);
    int rc = s && sscanf(s, "%llu", v) == 1 ? 0 : -1;

    free(s);
    return rc;
}

static int pread_all(void *ctx, uint64_t off, void *buf, size_t len)
{
    int fd = *(int *)ctx;
    size_t done = 0;

    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

/* Which partition of which disk the block device maj:min is, from sysfs and
 * the disk's partition table. */
static void probe_partition(struct facts *f, unsigned maj, unsigned min, struct part_id *part,
                            char *dev, size_t devlen)
{
    char link[64], real[PATH_MAX], path[PATH_MAX + 64], disk[PATH_MAX];
    unsigned long long partno, start, lbsize;
    char *slash, *devnum;
    int fd;

    snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", maj, min);
    if (realpath(link, real) == NULL) {
        snprintf(f->esp_part_err, sizeof(f->esp_part_err), "no %s in sysfs", link);
        return;
    }
    snprintf(path, sizeof(path), "%s/partition", real);
    if (read_u64(path, &partno) != 0) {
        snprintf(f->esp_part_err, sizeof(f->esp_part_err),
                 "%s is a whole device, not a partition of a disk (RAID, LVM and other "
                 "volumes cannot be named in a boot entry)", strrchr(real, '/') + 1);
        return;
    }
    snprintf(path, sizeof(path), "%s/start", real);
    if (read_u64(path, &start) != 0) {
        snprintf(f->esp_part_err, sizeof(f->esp_part_err), "cannot read %.200s", path);
        return;
    }
    /* The disk is the partition's parent in sysfs. */
    snprintf(disk, sizeof(disk), "%s", real);
    slash = strrchr(disk, '/');
    *slash = '\0';
    snprintf(path, sizeof(path), "%s/queue/logical_block_size", disk);
    if (read_u64(path, &lbsize) != 0 || lbsize < 512) {
        snprintf(f->esp_part_err, sizeof(f->esp_part_err), "cannot read %.200s", path);
        return;
    }
    snprintf(dev, devlen, "/dev/%s", strrchr(disk, '/') + 1);
    fd = open(dev, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        /* No /dev/<disk> (no devtmpfs?): udev's /dev/block/<maj:min>. */
        snprintf(path, sizeof(path), "%s/dev", disk);
        devnum = slurp(path, 32);
        if (devnum) {
            devnum[strcspn(devnum, "\n")] = '\0';
            snprintf(dev, devlen, "/dev/block/%s", devnum);
            free(devnum);
            fd = open(dev, O_RDONLY | O_CLOEXEC);
        }
    }
    if (fd < 0) {
        snprintf(f->esp_part_err, sizeof(f->esp_part_err), "cannot open the disk %s: %s", dev,
                 strerror(errno));
        return;
    }
    /* sysfs counts the start in 512-byte sectors whatever the block size. */
    if (disk_identify(pread_all, &fd, (uint32_t)lbsize, (uint32_t)partno, start * 512 / lbsize,
                      part, f->esp_part_err, sizeof(f->esp_part_err)) == 0)
        f->esp_part_ok = true;
    close(fd);
}

void probe_facts(struct facts *f, const char *esp_arg, const char *efi_src,
                 struct part_id *part, char *dev, size_t devlen)
{
    static const char *const candidates[] = ESP_CANDIDATES;
    struct mount_entry m;
    char *mountinfo, *cpuinfo;
    bool found = false;

    memset(f, 0, sizeof(*f));
    memset(part, 0, sizeof(*part));
    dev[0] = '\0';
    f->root = geteuid() == 0;
    f->efi = access("/sys/firmware/efi", F_OK) == 0;
    f->efivarfs = efivars_is_efivarfs(EFIVARFS_DEFAULT_DIR);
    f->efi_src = efi_src;
    f->secure_boot = -1;
    f->lamina_signed = -1;

    cpuinfo = slurp("/proc/cpuinfo", 1 << 20);
    f->vtx = cpuinfo && cpuinfo_has_flag(cpuinfo, "vmx");
    free(cpuinfo);

    if (f->efivarfs) {
        struct efivars v;
        uint8_t b[8];
        uint32_t attrs;
        size_t len;
        if (efivars_open(&v, EFIVARFS_DEFAULT_DIR) == 0 &&
            efivars_get(&v, "SecureBoot", &attrs, b, sizeof(b), &len) == 0 && len == 1)
            f->secure_boot = b[0] == 1;
    }
    uint8_t *img = NULL;
    int fd = open(efi_src, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
            st.st_size < (64 << 20) && (img = malloc((size_t)st.st_size)) != NULL &&
            read(fd, img, (size_t)st.st_size) == st.st_size)
            f->lamina_signed = pe_has_signature(img, (size_t)st.st_size);
        free(img);
        close(fd);
    }

    mountinfo = slurp("/proc/self/mountinfo", 4 << 20);
    if (esp_arg) {
        char real[PATH_MAX];
        f->esp_given = true;
        f->esp = esp_arg;
        /* Mount points are absolute and resolved in mountinfo. */
        if (realpath(esp_arg, real) != NULL && mountinfo && mountinfo_find(mountinfo, real, &m) == 0)
            found = true;
    } else {
        for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]) && mountinfo; i++) {
            if (mountinfo_find(mountinfo, candidates[i], &m) == 0 &&
                strcmp(m.fstype, "vfat") == 0) {
                f->esp = candidates[i];
                found = true;
                break;
            }
        }
    }
    free(mountinfo);
    if (!found)
        return;
    f->esp_mounted = true;
    snprintf(f->esp_fstype, sizeof(f->esp_fstype), "%s", m.fstype);
    if (strcmp(m.fstype, "vfat") == 0 || strcmp(m.fstype, "msdos") == 0)
        probe_partition(f, m.major, m.minor, part, dev, devlen);
}

void probe_monitor_note(char *out, size_t cap)
{
    unsigned a, b, c, d;
    char sig[13];

    __cpuid(1, a, b, c, d);
    if (!(c & (1u << 31))) {
        snprintf(out, cap, "not visible to this OS (no hypervisor in CPUID): Lamina started "
                 "the loader without its monitor (VT-x unavailable and on-error boot), or hides "
                 "it (stealth yes); Lamina's serial log says which");
        return;
    }
    __cpuid(0x40000000, a, b, c, d);
    memcpy(sig, &b, 4);
    memcpy(sig + 4, &c, 4);
    memcpy(sig + 8, &d, 4);
    sig[12] = '\0';
    for (int i = 0; i < 12; i++)
        if (sig[i] && (sig[i] < 0x20 || sig[i] >= 0x7f))
            sig[i] = '?';
    if (strcmp(sig, "LaminaLamina") == 0)
        snprintf(out, cap, "running (CPUID 0x40000000 says LaminaLamina); lamina-ctl status "
                 "shows more");
    else
        snprintf(out, cap, "not visible; CPUID names another hypervisor, '%s'", sig);
}
