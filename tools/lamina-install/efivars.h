/* UEFI variables through Linux's efivarfs (Documentation/filesystems/
 * efivarfs.rst): one file per variable, named Name-GUID, holding the 4-byte
 * attribute word and then the data.
 *
 * Writing: one write() of attributes + data (the kernel calls SetVariable
 * with exactly that); deleting: unlink(). The kernel marks most variables
 * immutable (chattr +i), so the immutable flag is cleared first, through
 * FS_IOC_GETFLAGS/FS_IOC_SETFLAGS, as chattr -i would.
 *
 * The same code works on a plain directory of such files (the unit tests
 * use one): there a rewrite truncates the file first, which efivarfs needs
 * not and may not support. Only variables of EFI_GLOBAL_VARIABLE are used. */
#ifndef LAMINA_TOOLS_EFIVARS_H
#define LAMINA_TOOLS_EFIVARS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EFIVARFS_DEFAULT_DIR "/sys/firmware/efi/efivars"
#define EFIVARFS_MAGIC 0xde5e81e4u      /* linux/magic.h */
#define EFIVAR_DATA_MAX 65536           /* bytes of data read from a variable */

struct efivars {
    char dir[256];
    bool plain;         /* a plain directory, not efivarfs */
};

/* Use the efivarfs (or plain directory) at dir. Returns 0, or -errno if it
 * is not a directory. Sets v->plain from the file system's magic. */
int efivars_open(struct efivars *v, const char *dir);
/* Is dir an efivarfs mount? */
bool efivars_is_efivarfs(const char *dir);

/* Read variable name (of EFI_GLOBAL_VARIABLE). Returns 0 with its
 * attributes and data (*len bytes), -ENOENT if it does not exist, -E2BIG if
 * the data exceeds cap, another -errno on failure. */
int efivars_get(const struct efivars *v, const char *name, uint32_t *attrs, uint8_t *buf,
                size_t cap, size_t *len);
/* Create or replace it. Returns 0 or -errno (EINVAL: the kernel rejected
 * the contents, e.g. a malformed Boot#### load option). */
int efivars_set(const struct efivars *v, const char *name, uint32_t attrs, const uint8_t *data,
                size_t len);
/* Delete it. Returns 0, -ENOENT if it did not exist, or -errno. */
int efivars_del(const struct efivars *v, const char *name);
/* The Boot#### variables that exist: bit n of used[] set for each (8192
 * bytes, all 65536 numbers), and the numbers in ascending order in nums
 * (at most cap; *count is the total). Returns 0 or -errno. */
int efivars_list_boot(const struct efivars *v, uint8_t used[8192], uint16_t *nums, size_t cap,
                      size_t *count);

#endif /* LAMINA_TOOLS_EFIVARS_H */
