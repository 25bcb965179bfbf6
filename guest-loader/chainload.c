/* Chainloading the OS loader named in lamina.conf: a file on the volume
 * Lamina itself was started from.
 *
 * The file is read into memory once, measured there (SHA-256, always logged,
 * checked against guest-sha256 when lamina.conf sets it) and handed to
 * LoadImage from that same buffer (SourceBuffer, UEFI spec 7.4), so the
 * bytes that were hashed are the bytes that run: nothing reads the file
 * again between the check and the load. LoadImage still gets the file's
 * device path, so the loaded image's DeviceHandle and FilePath name the
 * volume and the file (the Linux EFI stub finds initrd= through them).
 * The image is started later with the configured LoadOptions. */
#include "efi/loader.h"
#include "efi/sha256.h"

/* The file is read in pieces of this size: one read of many megabytes is
 * the kind of request some firmware file system drivers get wrong. */
#define READ_CHUNK (1024 * 1024)

/* Room for EFI_FILE_INFO with a name of 255 CHAR16 and its NUL (the FAT
 * limit). UEFI spec 13.5, EFI_FILE_PROTOCOL.GetInfo. */
#define FILE_INFO_BYTES (SIZE_OF_EFI_FILE_INFO + 256 * sizeof(CHAR16))

static void widen(CHAR16 *dst, UINTN cap, const char *src)
{
    UINTN i;
    for (i = 0; src[i] && i + 1 < cap; i++)
        dst[i] = (CHAR16)(UINT8)src[i];
    dst[i] = 0;
}

/* A guest file read into EfiLoaderData pages. */
struct guest_file {
    EFI_PHYSICAL_ADDRESS base;  /* 0: nothing allocated */
    UINTN pages;
    UINTN size;                 /* bytes of the file, > 0 */
};

static void guest_file_free(struct guest_file *gf)
{
    if (gf->base)
        uefi_call_wrapper(BS->FreePages, 2, gf->base, gf->pages);
    gf->base = 0;
    gf->pages = 0;
    gf->size = 0;
}

/* The size of the open file f. A directory or an empty file cannot be a
 * guest: EFI_LOAD_ERROR, as LoadImage would say. */
static EFI_STATUS file_size(EFI_FILE_HANDLE f, UINTN *size)
{
    union {
        EFI_FILE_INFO info;
        UINT8 bytes[FILE_INFO_BYTES];
    } fi;
    UINTN n = sizeof(fi);
    EFI_STATUS st = uefi_call_wrapper(f->GetInfo, 4, f, &GenericFileInfo, &n, &fi);
    if (EFI_ERROR(st))
        return st;
    if ((fi.info.Attribute & EFI_FILE_DIRECTORY) || fi.info.FileSize == 0)
        return EFI_LOAD_ERROR;
    *size = (UINTN)fi.info.FileSize;
    return EFI_SUCCESS;
}

/* Read the whole file path (on the volume device) into fresh pages. On
 * error nothing stays allocated. */
static EFI_STATUS guest_file_read(EFI_HANDLE device, const CHAR16 *path, struct guest_file *gf)
{
    EFI_FILE_HANDLE root = LibOpenRoot(device), f = NULL;
    gf->base = 0;
    gf->pages = 0;
    gf->size = 0;
    if (!root)
        return EFI_NOT_FOUND;
    EFI_STATUS st = uefi_call_wrapper(root->Open, 5, root, &f, (CHAR16 *)path, EFI_FILE_MODE_READ, 0);
    uefi_call_wrapper(root->Close, 1, root);
    if (EFI_ERROR(st))
        return st;

    UINTN size = 0;
    st = file_size(f, &size);
    if (!EFI_ERROR(st)) {
        gf->pages = EFI_SIZE_TO_PAGES(size);
        st = uefi_call_wrapper(BS->AllocatePages, 4, AllocateAnyPages, EfiLoaderData,
                               gf->pages, &gf->base);
        if (EFI_ERROR(st)) {
            gf->base = 0;
            gf->pages = 0;
        }
    }
    UINT8 *data = (UINT8 *)(UINTN)gf->base;
    UINTN done = 0;
    while (!EFI_ERROR(st) && done < size) {
        UINTN n = size - done < READ_CHUNK ? size - done : READ_CHUNK;
        st = uefi_call_wrapper(f->Read, 3, f, &n, data + done);
        if (!EFI_ERROR(st) && n == 0)
            st = EFI_END_OF_FILE;   /* shorter than GetInfo said */
        done += n;
    }
    uefi_call_wrapper(f->Close, 1, f);
    if (EFI_ERROR(st)) {
        guest_file_free(gf);
        return st;
    }
    gf->size = size;
    return EFI_SUCCESS;
}

static BOOLEAN digests_equal(const UINT8 *a, const UINT8 *b)
{
    UINT8 diff = 0;
    for (UINTN i = 0; i < SHA256_DIGEST_LEN; i++)
        diff |= a[i] ^ b[i];
    return diff == 0;
}

EFI_STATUS guest_load(EFI_HANDLE self, const struct lamina_config *cfg, EFI_HANDLE *guest,
                      BOOLEAN *refused)
{
    EFI_LOADED_IMAGE *me = NULL;
    struct guest_file gf;

    *guest = NULL;
    *refused = FALSE;
    EFI_STATUS st = uefi_call_wrapper(BS->HandleProtocol, 3, self, &LoadedImageProtocol, (void **)&me);
    if (EFI_ERROR(st))
        return st;

    CHAR16 wpath[CONFIG_GUEST_MAX_WIDE];
    widen(wpath, CONFIG_GUEST_MAX_WIDE, cfg->guest);
    st = guest_file_read(me->DeviceHandle, wpath, &gf);
    if (EFI_ERROR(st))
        return st;

    /* The measurement: of the buffer LoadImage gets below. */
    UINT8 digest[SHA256_DIGEST_LEN];
    char got[SHA256_HEX_LEN + 1];
    sha256_digest((const void *)(UINTN)gf.base, gf.size, digest);
    sha256_to_hex(digest, got);
    lprint(L_INFO, L"guest %a sha256 %a", cfg->guest, got);
    if (cfg->has_guest_sha256) {
        if (!digests_equal(digest, cfg->guest_sha256)) {
            char want[SHA256_HEX_LEN + 1];
            sha256_to_hex(cfg->guest_sha256, want);
            lprint(L_ERROR, L"guest %a sha256 mismatch: expected %a, got %a; refusing to start it",
                   cfg->guest, want, got);
            guest_file_free(&gf);
            *refused = TRUE;
            return EFI_SECURITY_VIOLATION;
        }
        lprint(L_INFO, L"guest sha256 matches lamina.conf");
    }

    EFI_DEVICE_PATH *dp = FileDevicePath(me->DeviceHandle, wpath);
    if (!dp) {
        guest_file_free(&gf);
        return EFI_OUT_OF_RESOURCES;
    }
    /* UEFI spec 7.4 LoadImage: with SourceBuffer set, the image is loaded
     * from memory; DevicePath still becomes the image's file path. The
     * firmware copies the image into pages of its own: the buffer can go. */
    st = uefi_call_wrapper(BS->LoadImage, 6, FALSE, self, dp, (void *)(UINTN)gf.base, gf.size, guest);
    FreePool(dp);
    guest_file_free(&gf);
    if (EFI_ERROR(st)) {
        /* EFI_SECURITY_VIOLATION still creates a handle (UEFI spec 7.4). */
        if (st == EFI_SECURITY_VIOLATION && *guest)
            uefi_call_wrapper(BS->UnloadImage, 1, *guest);
        *guest = NULL;
        return st;
    }

    if (cfg->options[0]) {
        EFI_LOADED_IMAGE *li = NULL;
        const char *options = cfg->options;
        st = uefi_call_wrapper(BS->HandleProtocol, 3, *guest, &LoadedImageProtocol, (void **)&li);
        UINTN n = 0;
        while (options[n])
            n++;
        /* Pool memory of the loaded image's kind: it must outlive Lamina's loader. */
        CHAR16 *w = EFI_ERROR(st) ? NULL : AllocatePool((n + 1) * sizeof(CHAR16));
        if (!w) {
            uefi_call_wrapper(BS->UnloadImage, 1, *guest);
            *guest = NULL;
            return EFI_ERROR(st) ? st : EFI_OUT_OF_RESOURCES;
        }
        widen(w, n + 1, options);
        li->LoadOptions = w;
        li->LoadOptionsSize = (UINT32)((n + 1) * sizeof(CHAR16));
    }
    return EFI_SUCCESS;
}

EFI_STATUS guest_start(EFI_HANDLE guest)
{
    UINTN exit_size = 0;
    CHAR16 *exit_data = NULL;
    return uefi_call_wrapper(BS->StartImage, 3, guest, &exit_size, &exit_data);
}
