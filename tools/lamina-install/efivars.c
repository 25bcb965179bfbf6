/* UEFI variables through efivarfs: see efivars.h. */
#define _GNU_SOURCE
#include "tools/lamina-install/efivars.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "tools/lamina-install/efiboot.h"

static int var_path(const struct efivars *v, const char *name, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s-%s", v->dir, name, EFI_GLOBAL_GUID_TEXT);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

bool efivars_is_efivarfs(const char *dir)
{
    struct statfs s;

    return statfs(dir, &s) == 0 && (uint32_t)s.f_type == EFIVARFS_MAGIC;
}

int efivars_open(struct efivars *v, const char *dir)
{
    struct stat st;
    int n;

    if (stat(dir, &st) != 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    n = snprintf(v->dir, sizeof(v->dir), "%s", dir);
    if (n < 0 || (size_t)n >= sizeof(v->dir))
        return -ENAMETOOLONG;
    v->plain = !efivars_is_efivarfs(dir);
    return 0;
}

int efivars_get(const struct efivars *v, const char *name, uint32_t *attrs, uint8_t *buf,
                size_t cap, size_t *len)
{
    char path[512];
    uint8_t *file;
    size_t have = 0, room = cap + 4 + 1;   /* one byte more: detect "too big" */
    int fd, rc;

    *len = 0;
    if ((rc = var_path(v, name, path, sizeof(path))) != 0)
        return rc;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    file = malloc(room);
    if (file == NULL) {
        close(fd);
        return -ENOMEM;
    }
    for (;;) {
        ssize_t n = read(fd, file + have, room - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            goto out;
        }
        if (n == 0)
            break;
        have += (size_t)n;
        if (have == room) {
            rc = -E2BIG;
            goto out;
        }
    }
    const uint8_t *data;
    size_t dlen;
    /* efivarfs shows a variable deleted behind its back as an empty file. */
    if (efivarfs_decode(file, have, attrs, &data, &dlen) != 0) {
        rc = -ENOENT;
        goto out;
    }
    memcpy(buf, data, dlen);
    *len = dlen;
    rc = 0;
out:
    free(file);
    close(fd);
    return rc;
}

/* chattr -i: efivarfs makes variables immutable unless the kernel knows them
 * to be safe to change. File systems without the flags ioctl have nothing
 * to clear. */
static int clear_immutable(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), flags, rc = 0;

    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) {
        rc = (errno == ENOTTY || errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL)
                 ? 0 : -errno;
    } else if (flags & FS_IMMUTABLE_FL) {
        flags &= ~FS_IMMUTABLE_FL;
        if (ioctl(fd, FS_IOC_SETFLAGS, &flags) != 0)
            rc = -errno;
    }
    close(fd);
    return rc;
}

int efivars_set(const struct efivars *v, const char *name, uint32_t attrs, const uint8_t *data,
                size_t len)
{
    char path[512];
    uint8_t *file;
    size_t flen;
    int fd, rc;

    if ((rc = var_path(v, name, path, sizeof(path))) != 0)
        return rc;
    if ((rc = clear_immutable(path)) != 0)
        return rc;
    file = malloc(len + 4);
    if (file == NULL)
        return -ENOMEM;
    flen = efivarfs_encode(file, len + 4, attrs, data, len);
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (v->plain ? O_TRUNC : 0), 0644);
    if (fd < 0) {
        rc = -errno;
        free(file);
        return rc;
    }
    /* One write: efivarfs turns each write() into one SetVariable. */
    ssize_t n = write(fd, file, flen);
    rc = n < 0 ? -errno : (size_t)n != flen ? -EIO : 0;
    free(file);
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    return rc;
}

int efivars_del(const struct efivars *v, const char *name)
{
    char path[512];
    int rc;

    if ((rc = var_path(v, name, path, sizeof(path))) != 0)
        return rc;
    if (access(path, F_OK) != 0)
        return -errno;
    if ((rc = clear_immutable(path)) != 0)
        return rc;
    return unlink(path) == 0 ? 0 : -errno;
}

int efivars_list_boot(const struct efivars *v, uint8_t used[8192], uint16_t *nums, size_t cap,
                      size_t *count)
{
    static const char suffix[] = "-" EFI_GLOBAL_GUID_TEXT;
    DIR *d = opendir(v->dir);
    struct dirent *e;

    memset(used, 0, 8192);
    *count = 0;
    if (d == NULL)
        return -errno;
    while ((e = readdir(d)) != NULL) {
        char name[16];
        uint16_t num;
        size_t n = strlen(e->d_name);
        if (n != 8 + sizeof(suffix) - 1 || strcmp(e->d_name + 8, suffix) != 0)
            continue;
        memcpy(name, e->d_name, 8);
        name[8] = '\0';
        if (boot_var_parse(name, &num))
            used[num >> 3] |= (uint8_t)(1u << (num & 7));
    }
    closedir(d);
    for (unsigned n = 0; n <= 0xffff; n++) {
        if (used[n >> 3] & (1u << (n & 7))) {
            if (*count < cap)
                nums[*count] = (uint16_t)n;
            (*count)++;
        }
    }
    return 0;
}
