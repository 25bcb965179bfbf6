/* Loading the monitor: the ELF embedded in lamina.efi is copied into
 * EfiReservedMemoryType pages (the OS never reuses them, UEFI spec 7.2,
 * table "Memory Type Usage after ExitBootServices") and relocated there. */
#include <elf.h>
#include "efi/loader.h"

extern const UINT8 monitor_elf_start[], monitor_elf_end[];

static EFI_STATUS bad_image(const CHAR16 *why)
{
    lprint(L_ERROR, L"embedded monitor image is unusable: %s", why);
    return EFI_LOAD_ERROR;
}

EFI_STATUS monitor_load(EFI_PHYSICAL_ADDRESS *base_out, UINT64 *size_out,
                        struct lamina_monitor_api **api_out)
{
    const UINT8 *img = monitor_elf_start;
    UINTN img_len = (UINTN)(monitor_elf_end - monitor_elf_start);
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;

    if (img_len < sizeof(*eh) || eh->e_ident[EI_MAG0] != ELFMAG0 || eh->e_ident[EI_MAG1] != ELFMAG1 ||
        eh->e_ident[EI_MAG2] != ELFMAG2 || eh->e_ident[EI_MAG3] != ELFMAG3 ||
        eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_machine != EM_X86_64 || eh->e_type != ET_DYN)
        return bad_image(L"not an x86-64 ELF PIE");
    if (eh->e_phoff + (UINT64)eh->e_phnum * sizeof(Elf64_Phdr) > img_len)
        return bad_image(L"program headers out of bounds");

    const Elf64_Phdr *ph = (const Elf64_Phdr *)(img + eh->e_phoff);
    UINT64 memsz = 0;
    const Elf64_Phdr *dyn = NULL;
    for (UINTN i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD) {
            if (ph[i].p_offset + ph[i].p_filesz > img_len || ph[i].p_filesz > ph[i].p_memsz)
                return bad_image(L"segment out of bounds");
            if (ph[i].p_vaddr + ph[i].p_memsz > memsz)
                memsz = ph[i].p_vaddr + ph[i].p_memsz;
        } else if (ph[i].p_type == PT_DYNAMIC) {
            dyn = &ph[i];
        }
    }
    if (memsz == 0 || memsz > (64ull << 20))
        return bad_image(L"no loadable segment, or larger than 64 MiB");

    UINTN pages = EFI_SIZE_TO_PAGES(memsz);
    EFI_PHYSICAL_ADDRESS base = 0;
    EFI_STATUS st = uefi_call_wrapper(BS->AllocatePages, 4, AllocateAnyPages,
                                      EfiReservedMemoryType, pages, &base);
    if (EFI_ERROR(st)) {
        lprint(L_ERROR, L"cannot reserve %lu KiB for the monitor image: %r", pages * 4, st);
        return st;
    }
    UINT8 *dst = (UINT8 *)(UINTN)base;
    SetMem(dst, pages * EFI_PAGE_SIZE, 0);
    for (UINTN i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD)
            CopyMem(dst + ph[i].p_vaddr, img + ph[i].p_offset, ph[i].p_filesz);

    /* R_X86_64_RELATIVE only (tools/check-monitor-relocs.sh enforces it at build time). */
    if (dyn) {
        const Elf64_Dyn *d = (const Elf64_Dyn *)(dst + dyn->p_vaddr);
        UINT64 rela = 0, relasz = 0, relaent = sizeof(Elf64_Rela);
        for (; d->d_tag != DT_NULL; d++) {
            if (d->d_tag == DT_RELA) rela = d->d_un.d_ptr;
            else if (d->d_tag == DT_RELASZ) relasz = d->d_un.d_val;
            else if (d->d_tag == DT_RELAENT) relaent = d->d_un.d_val;
        }
        if (rela + relasz > memsz || relaent != sizeof(Elf64_Rela))
            goto bad_relocs;
        for (UINT64 off = 0; off < relasz; off += relaent) {
            const Elf64_Rela *r = (const Elf64_Rela *)(dst + rela + off);
            if (ELF64_R_TYPE(r->r_info) != R_X86_64_RELATIVE || r->r_offset + 8 > memsz)
                goto bad_relocs;
            *(UINT64 *)(dst + r->r_offset) = base + r->r_addend;
        }
    }

    lamina_monitor_entry_fn entry = (lamina_monitor_entry_fn)(UINTN)(base + eh->e_entry);
    struct lamina_monitor_api *api = entry();
    if (!api || api->magic != LAMINA_API_MAGIC || api->version != LAMINA_API_VERSION) {
        uefi_call_wrapper(BS->FreePages, 2, base, pages);
        return bad_image(L"API table magic or version mismatch");
    }
    *base_out = base;
    *size_out = pages * EFI_PAGE_SIZE;
    *api_out = api;
    return EFI_SUCCESS;

bad_relocs:
    uefi_call_wrapper(BS->FreePages, 2, base, pages);
    return bad_image(L"bad relocation table");
}
