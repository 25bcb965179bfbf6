/* Lamina's UEFI entry: read lamina.conf, load the guest, virtualize every
 * processor (all or nothing), chainload the guest. */
#include "efi/loader.h"
#include "efi/mp.h"

#define CONF_MAX_BYTES (64 * 1024)

static struct lamina_report report;     /* loader memory: readable from the guest side */

/* report.err from the loader's side (gnu-efi format: %a ASCII string, %r status). */
static void set_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    AsciiVSPrint((CHAR8 *)report.err, LAMINA_ERR_LEN, (const CHAR8 *)fmt, ap);
    va_end(ap);
}

static inline UINT64 read_tsc(void)
{
    UINT32 lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((UINT64)hi << 32) | lo;
}

static void __attribute__((noreturn)) halt_here(void)
{
    for (;;)
        __asm__ volatile("hlt");
}

/* The directory lamina.efi was started from, as "\EFI\BOOT\" (always ends in '\'). */
static void own_directory(EFI_LOADED_IMAGE *me, CHAR16 *dir, UINTN cap)
{
    UINTN n = 0;
    for (EFI_DEVICE_PATH *dp = me->FilePath; dp && !IsDevicePathEnd(dp); dp = NextDevicePathNode(dp)) {
        if (DevicePathType(dp) != MEDIA_DEVICE_PATH || DevicePathSubType(dp) != MEDIA_FILEPATH_DP)
            continue;
        const CHAR16 *s = ((FILEPATH_DEVICE_PATH *)dp)->PathName;
        if (n > 0 && dir[n - 1] != L'\\' && s[0] != L'\\' && n + 1 < cap)
            dir[n++] = L'\\';
        for (; *s && n + 1 < cap; s++)
            dir[n++] = *s;
    }
    while (n > 0 && dir[n - 1] != L'\\')
        n--;
    if (n == 0)
        dir[n++] = L'\\';
    dir[n] = 0;
}

static EFI_STATUS read_config(EFI_LOADED_IMAGE *me, CHAR16 *conf_path, char **text, UINTN *len)
{
    EFI_FILE_HANDLE root = LibOpenRoot(me->DeviceHandle), f = NULL;
    if (!root)
        return EFI_NOT_FOUND;
    EFI_STATUS st = uefi_call_wrapper(root->Open, 5, root, &f, conf_path, EFI_FILE_MODE_READ, 0);
    if (EFI_ERROR(st)) {
        uefi_call_wrapper(root->Close, 1, root);
        return st;
    }
    char *buf = AllocatePool(CONF_MAX_BYTES + 1);
    UINTN n = CONF_MAX_BYTES + 1;
    st = buf ? uefi_call_wrapper(f->Read, 3, f, &n, buf) : EFI_OUT_OF_RESOURCES;
    uefi_call_wrapper(f->Close, 1, f);
    uefi_call_wrapper(root->Close, 1, root);
    if (!EFI_ERROR(st) && n > CONF_MAX_BYTES)
        st = EFI_BAD_BUFFER_SIZE;
    if (EFI_ERROR(st)) {
        if (buf)
            FreePool(buf);
        return st;
    }
    *text = buf;
    *len = n;
    return EFI_SUCCESS;
}

/* EPT and the host map cover every address in the memory map, and at least 4 GiB
 * (the MMIO below 4 GiB is not always described), rounded up to 1 GiB. */
static EFI_STATUS collect_memory_map(struct lamina_bootinfo *bi)
{
    UINTN entries = 0, key, desc_size;
    UINT32 desc_ver;
    EFI_MEMORY_DESCRIPTOR *map = LibMemoryMap(&entries, &key, &desc_size, &desc_ver);
    if (!map)
        return EFI_OUT_OF_RESOURCES;
    UINT64 limit = 4ull << 30;
    bi->nmemmap = 0;
    for (UINTN i = 0; i < entries; i++) {
        EFI_MEMORY_DESCRIPTOR *d = (EFI_MEMORY_DESCRIPTOR *)((UINT8 *)map + i * desc_size);
        UINT64 end = d->PhysicalStart + d->NumberOfPages * EFI_PAGE_SIZE;
        if (end > limit)
            limit = end;
        if (bi->nmemmap < LAMINA_MAX_MEMMAP) {
            struct lamina_memrange *m = &bi->memmap[bi->nmemmap++];
            m->base = d->PhysicalStart;
            m->pages = d->NumberOfPages;
            m->type = d->Type;
        }
    }
    FreePool(map);
    bi->phys_limit = (limit + (1ull << 30) - 1) & ~((1ull << 30) - 1);
    return EFI_SUCCESS;
}

static UINT64 make_secret(void)
{
    UINT32 r[4];
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(1), "c"(0));
    UINT64 v = read_tsc() * 0x9e3779b97f4a7c15ull;
    if (r[2] & (1u << 30)) {      /* RDRAND */
        UINT64 x;
        unsigned char ok;
        for (int i = 0; i < 10; i++) {
            __asm__ volatile("rdrand %0; setc %1" : "=r"(x), "=qm"(ok));
            if (ok) {
                v ^= x;
                break;
            }
        }
    }
    return v | 1;
}

struct launch {
    struct lamina_monitor_api api;      /* copied: monitor memory vanishes for guests */
    UINT64 secret;
};

static void ap_check(UINTN cpu, void *arg)
{
    struct launch *l = arg;
    l->api.cpu_check((uint32_t)cpu);
}

static void ap_launch(UINTN cpu, void *arg)
{
    struct launch *l = arg;
    if (report.cpu[cpu].state == CPU_STATE_CHECKED)
        loader_launch(l->api.cpu_launch, (uint32_t)cpu);
}

static void ap_devirt(UINTN cpu, void *arg)
{
    struct launch *l = arg;
    if (report.cpu[cpu].state == CPU_STATE_GUEST)
        loader_vmcall(LAMINA_VMCALL_DEVIRT, l->secret);
}

static int first_failure(UINTN ncpus)
{
    for (UINTN i = 0; i < ncpus; i++)
        if (report.cpu[i].state != CPU_STATE_CHECKED && report.cpu[i].state != CPU_STATE_GUEST)
            return (int)i;
    return -1;
}

static void set_reason_from_cpu(UINTN cpu)
{
    if (report.cpu[cpu].err[0])
        CopyMem(report.err, report.cpu[cpu].err, LAMINA_ERR_LEN);
    else
        set_err("cpu %d did not answer", (int)cpu);
}

/* All or nothing: returns 0 with every CPU running as the guest, or -1 with
 * report.err set and every CPU native again. */
static int virtualize(struct lamina_config *cfg)
{
    UINT64 tsc0 = read_tsc();
    EFI_PHYSICAL_ADDRESS img_base, data_base = 0;
    UINT64 img_size, data_size = 0;
    struct lamina_monitor_api *api;
    struct launch l;
    struct mp mp;
    EFI_STATUS st;

    SetMem(&report, sizeof(report), 0);
    st = mp_init(&mp, &report);
    if (EFI_ERROR(st)) {
        set_err("cannot enumerate the processors");
        return -1;
    }
    if (mp.bsp != 0) {
        set_err("the boot processor is number %d, not 0", (int)mp.bsp);
        return -1;
    }
    st = monitor_load(&img_base, &img_size, &api);
    if (EFI_ERROR(st)) {
        set_err("cannot load the monitor (%r)", st);
        return -1;
    }
    struct lamina_bootinfo *bi = api->bootinfo;
    bi->version = LAMINA_API_VERSION;
    bi->ncpus = (uint32_t)mp.ncpus;
    bi->serial_port = cfg->serial_port;
    bi->log_level = cfg->log_level;
    bi->init_emulation = cfg->init_emulation;
    bi->on_triple_fault = cfg->on_triple_fault;
    bi->policy = cfg->policy;
    bi->image_base = img_base;
    bi->image_size = img_size;
    bi->tsc_start = tsc0;      /* the hand-off figure: Lamina's own work, not file loading */
    bi->loader_secret = make_secret();
    bi->report = &report;
    l.api = *api;
    l.secret = bi->loader_secret;
    acpi_find_power_ports(bi);
    bi->dma_mode = cfg->dma_protection;     /* M8: the monitor decides what follows */
    if (cfg->dma_protection != LAMINA_DMA_OFF)
        acpi_find_dmar(bi);
    if (EFI_ERROR(collect_memory_map(bi))) {
        set_err("cannot read the memory map");
        goto free_image;
    }
    if (l.api.plan(&data_size) != 0)
        goto free_image;
    st = uefi_call_wrapper(BS->AllocatePages, 4, AllocateAnyPages, EfiReservedMemoryType,
                           EFI_SIZE_TO_PAGES(data_size), &data_base);
    if (EFI_ERROR(st)) {
        set_err("out of memory: cannot reserve %ld KiB for the monitor",
                    (long)(data_size / 1024));
        goto free_image;
    }
    bi->data_base = data_base;
    bi->data_size = EFI_SIZE_TO_PAGES(data_size) * EFI_PAGE_SIZE;
    if (l.api.setup() != 0)
        goto free_all;

    /* Every CPU passes the checks before any CPU changes. */
    mp_run_aps(&mp, ap_check, &l);
    int bad = first_failure(mp.ncpus);
    if (bad >= 0) {
        set_reason_from_cpu((UINTN)bad);
        goto free_all;
    }
    /* APs first: once the BSP is a guest it cannot reach monitor code. */
    mp_run_aps(&mp, ap_launch, &l);
    bad = first_failure(mp.ncpus);
    if (bad < 0 && loader_launch(l.api.cpu_launch, 0) != 0)
        bad = 0;
    if (bad >= 0) {
        set_reason_from_cpu((UINTN)bad);
        int launched = 0;
        for (UINTN i = 0; i < mp.ncpus; i++)
            launched += report.cpu[i].state == CPU_STATE_GUEST;
        if (launched == 0)
            goto free_all;
        mp_run_aps(&mp, ap_devirt, &l);
        l.api.rollback();
        /* The TSS of a CPU that left VMX again stays in TR: keep the memory. */
        lprint(L_WARN, L"rolled back %d CPUs; monitor memory stays reserved", launched);
        return -1;
    }
    if (cfg->policy.serial_exclusive)
        log_release_serial();
    loader_vmcall(LAMINA_VMCALL_SEAL, l.secret);
    if (report.summary.dma_units)
        acpi_hide_dmar();
    return 0;

free_all:
    l.api.rollback();       /* the remapping units stop reading the tables first */
    uefi_call_wrapper(BS->FreePages, 2, data_base, EFI_SIZE_TO_PAGES(data_size));
free_image:
    uefi_call_wrapper(BS->FreePages, 2, img_base, EFI_SIZE_TO_PAGES(img_size));
    return -1;
}

EFI_STATUS efi_main(EFI_HANDLE self, EFI_SYSTEM_TABLE *systab)
{
    InitializeLib(self, systab);

    struct lamina_config cfg;
    config_defaults(&cfg);
    EFI_LOADED_IMAGE *me = NULL;
    EFI_STATUS st = uefi_call_wrapper(BS->HandleProtocol, 3, self, &LoadedImageProtocol, (void **)&me);
    if (EFI_ERROR(st)) {
        log_setup(cfg.serial_port, L_INFO);
        lprint(L_ERROR, L"cannot find my own loaded image: %r", st);
        return st;
    }
    CHAR16 conf_path[300];
    own_directory(me, conf_path, 280);
    StrCat(conf_path, L"lamina.conf");

    char *text = NULL;
    UINTN len = 0;
    st = read_config(me, conf_path, &text, &len);
    if (EFI_ERROR(st)) {
        log_setup(cfg.serial_port, L_INFO);
        lprint(L_ERROR, L"cannot read %s: %r; nothing to boot, returning to the firmware", conf_path, st);
        return st;
    }
    char err[CONFIG_ERR_SUGGESTED];
    int rc = config_parse(text, len, &cfg, err, sizeof(err));
    FreePool(text);
    log_setup(cfg.serial_port, cfg.log_level);
    if (rc != 0) {
        log_ascii_line(L_ERROR, err);
        lprint(L_ERROR, L"configuration rejected; nothing to boot, returning to the firmware");
        return EFI_INVALID_PARAMETER;
    }
    lprint(L_INFO, L"Lamina starting: config %s, guest %a", conf_path, cfg.guest);

    EFI_HANDLE guest = NULL;
    BOOLEAN refused = FALSE;
    st = guest_load(self, &cfg, &guest, &refused);
    if (refused) {
        /* A guest that fails its guest-sha256 check runs neither under
         * Lamina nor natively: on-error boot does not apply. */
        lprint(L_INFO, L"sha256 mismatch: halting, whatever on-error says");
        halt_here();
    }
    if (EFI_ERROR(st)) {
        lprint(L_ERROR, L"cannot load guest %a: %r", cfg.guest, st);
        if (cfg.on_error == ON_ERROR_HALT) {
            lprint(L_INFO, L"on-error halt: halting");
            halt_here();
        }
        return st;
    }

    if (virtualize(&cfg) != 0) {
        lprint(L_ERROR, L"vt-x unavailable: %a", report.err);
        if (cfg.on_error == ON_ERROR_HALT) {
            lprint(L_INFO, L"on-error halt: not starting the guest");
            uefi_call_wrapper(BS->UnloadImage, 1, guest);
            halt_here();
        }
        lprint(L_INFO, L"on-error boot: starting the guest without the monitor");
    }
    lprint(L_INFO, L"starting guest %a", cfg.guest);
    st = guest_start(guest);
    lprint(L_INFO, L"guest %a returned: %r", cfg.guest, st);
    return st;
}
