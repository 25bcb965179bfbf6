/* The processors, through the MP Services protocol. Without it (or with one
 * CPU) Lamina virtualizes the BSP alone. */
#include "efi/loader.h"
#include "efi/mp.h"

static EFI_GUID mp_guid = LAMINA_MP_SERVICES_GUID;

EFI_STATUS mp_init(struct mp *mp, struct lamina_report *rep)
{
    EFI_MP_SERVICES_PROTOCOL *p = NULL;
    mp->proto = NULL;
    mp->ncpus = 1;
    mp->bsp = 0;
    EFI_STATUS st = uefi_call_wrapper(BS->LocateProtocol, 3, &mp_guid, NULL, (void **)&p);
    if (EFI_ERROR(st) || !p) {
        lprint(L_WARN, L"no MP services protocol (%r): virtualizing the boot processor only", st);
        return EFI_SUCCESS;
    }
    UINTN total = 0, enabled = 0;
    st = uefi_call_wrapper(p->GetNumberOfProcessors, 3, p, &total, &enabled);
    if (EFI_ERROR(st))
        return st;
    if (total > LAMINA_MAX_CPUS) {
        lprint(L_ERROR, L"%lu processors; Lamina supports at most %d", total, LAMINA_MAX_CPUS);
        return EFI_UNSUPPORTED;
    }
    if (enabled != total) {
        /* A disabled processor would stay outside the monitor: refuse rather
         * than leave a CPU the guest could use unwatched later. */
        lprint(L_ERROR, L"%lu of %lu processors are disabled; all must be enabled", total - enabled, total);
        return EFI_UNSUPPORTED;
    }
    mp->proto = p;
    mp->ncpus = total;
    uefi_call_wrapper(p->WhoAmI, 2, p, &mp->bsp);
    for (UINTN i = 0; i < total; i++) {
        EFI_PROCESSOR_INFORMATION info;
        if (!EFI_ERROR(uefi_call_wrapper(p->GetProcessorInfo, 3, p, i, &info)))
            rep->cpu[i].apic_id = (UINT32)info.ProcessorId;
    }
    return EFI_SUCCESS;
}

struct ap_call {
    EFI_MP_SERVICES_PROTOCOL *p;
    void (*fn)(UINTN cpu, void *arg);
    void *arg;
};

static VOID EFIAPI ap_trampoline(VOID *arg)
{
    struct ap_call *c = arg;
    UINTN me = 0;
    uefi_call_wrapper(c->p->WhoAmI, 2, c->p, &me);
    c->fn(me, c->arg);
}

EFI_STATUS mp_run_aps(struct mp *mp, void (*fn)(UINTN cpu, void *arg), void *arg)
{
    if (!mp->proto || mp->ncpus < 2)
        return EFI_SUCCESS;
    EFI_MP_SERVICES_PROTOCOL *p = mp->proto;
    struct ap_call c = { p, fn, arg };
    /* Blocking, all APs at once, 10 s timeout per the PI spec semantics. */
    return uefi_call_wrapper(p->StartupAllAPs, 7, p, ap_trampoline, FALSE, NULL,
                             10000000, &c, NULL);
}
