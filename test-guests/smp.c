/* smp.efi: can the guest restart its application processors itself, with
 * INIT-SIPI-SIPI, as an OS does at boot, CPU hotplug and resume?
 *
 * Finds the APs through EFI_MP_SERVICES_PROTOCOL, parks a trampoline
 * (test-guests/lib/tg_trampoline.S) in a page below 1 MiB and starts each AP
 * there ROUNDS times with INIT, SIPI, SIPI sent through the local APIC (x2APIC
 * ICR MSR or xAPIC MMIO ICR, whichever mode the APIC is in). The AP goes from
 * real mode to 64-bit mode on the BSP's page tables, records its APIC ID and
 * what CPUID says about the hypervisor and VMX, and halts. Each start is one
 * check "smp: PASS ap<N>-round<R>"; then SIPI, SIPI without INIT must leave
 * the halted AP alone ("ap<N>-sipi-without-init"). Afterwards the firmware
 * must still be able to use the APs (it wakes them with INIT-SIPI-SIPI
 * itself): check "firmware-ap-after". Ends with "smp: done" and
 * "N passed, N failed".
 *
 * Runs natively (QEMU + OVMF) as well as under Lamina: the AP is compared
 * with the BSP, whatever the BSP sees.
 */
#include "test-guests/lib/tg.h"
#include "test-guests/lib/tg_trampoline.h"

#define ROUNDS   4
#define MAX_CPUS 64

#define CPUID1_ECX_VMX        (1u << 5)
#define CPUID1_ECX_HYPERVISOR (1u << 31)
#define CR4_PAE               (1ull << 5)
#define CR4_LA57              (1ull << 12)
#define MSR_EFER              0xc0000080u
#define EFER_LME              (1ull << 8)
#define EFER_LMA              (1ull << 10)
#define EFER_NXE              (1ull << 11)
#define RFLAGS_IF             (1ull << 9)

/* SDM 3A 11.4.4: IA32_APIC_BASE. */
#define MSR_APIC_BASE         0x1b
#define APIC_BASE_EXTD        (1ull << 10)  /* x2APIC mode */
#define APIC_BASE_EN          (1ull << 11)
/* SDM 3A 11.6.1 Figure 11-12: interrupt command register. */
#define ICR_MODE_INIT         (5u << 8)
#define ICR_MODE_STARTUP      (6u << 8)
#define ICR_DELIVERY_PENDING  (1u << 12)    /* xAPIC only */
#define ICR_LEVEL_ASSERT      (1u << 14)
#define XAPIC_ICR_LOW         0x300
#define XAPIC_ICR_HIGH        0x310
#define MSR_X2APIC_ICR        0x830         /* SDM 3A 11.12.9: one 64-bit write */

/* SDM 3A 9.4.4.1 (MP initialization example): INIT, 10 ms, SIPI, 200 us, SIPI. */
#define INIT_DELAY_US         10000
#define SIPI_DELAY_US         200
#define ANSWER_TIMEOUT_US     1000000
#define SIPI_ALONE_WAIT_US    100000

struct ap {
    UINTN    index;          /* MP services processor number */
    uint32_t apic_id;        /* ProcessorId */
    uint64_t stack;          /* one page below 4 GiB */
};

static struct ap aps[MAX_CPUS];
static unsigned int naps;
static TG_MP_SERVICES *mp;

/* What the BSP sees; the APs must see the same. */
static struct tg_cpuid bsp_leaf1, bsp_hv;

struct apic {
    bool     x2;
    uint64_t mmio;           /* xAPIC register page */
};

/* ------------------------------------------------------------ helpers */

static uint64_t read_cr3(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr3, %0" : "=r"(v));
    return v;
}

static uint64_t irq_save(void)
{
    uint64_t flags;
    __asm__ volatile("pushfq; popq %0; cli" : "=r"(flags) : : "memory");
    return flags;
}

static void irq_restore(uint64_t flags)
{
    if (flags & RFLAGS_IF)
        __asm__ volatile("sti" : : : "memory");
}

static void stall(UINTN us)
{
    uefi_call_wrapper(BS->Stall, 1, us);
}

static void put16(uint64_t addr, uint16_t v)
{
    *(volatile uint16_t *)(uintptr_t)addr = v;
}

static void put32(uint64_t addr, uint32_t v)
{
    *(volatile uint32_t *)(uintptr_t)addr = v;
}

static void put64(uint64_t addr, uint64_t v)
{
    put32(addr, (uint32_t)v);
    put32(addr + 4, (uint32_t)(v >> 32));
}

static void signature_of(const uint32_t regs[3], char out[13])
{
    for (int i = 0; i < 12; i++) {
        char c = (char)(regs[i / 4] >> (8 * (i % 4)));
        out[i] = (c >= 0x20 && c < 0x7f) ? c : '.';
    }
    out[12] = '\0';
}

/* --------------------------------------------------------- trampoline */

/* Copy the trampoline to page and fill in its absolute addresses: GDTR base,
 * the two far pointers, the IDT (64-bit interrupt gates, SDM 3A 7.14.1). */
static void tramp_install(uint64_t page)
{
    CopyMem((void *)(uintptr_t)page, (void *)tg_tramp_start, TR_SIZE);
    put32(page + TR_GDTR + 2, (uint32_t)(page + TR_GDT));
    put32(page + TR_FAR32, (uint32_t)(page + tg_tramp_off_pm32));
    put32(page + TR_FAR64, (uint32_t)(page + tg_tramp_off_lm64));
    put64(page + TR_IDTR + 2, page + TR_IDT);
    for (unsigned v = 0; v < TR_IDT_VECTORS; v++) {
        uint64_t gate = page + TR_IDT + 16 * v;
        uint64_t handler = page + tg_tramp_off_stubs + TR_STUB_SIZE * v;
        put16(gate + 0, (uint16_t)handler);
        put16(gate + 2, TR_SEL_CODE64);
        put16(gate + 4, 0x8e00);            /* IST 0; present, DPL 0, type 0xE */
        put16(gate + 6, (uint16_t)(handler >> 16));
        put32(gate + 8, (uint32_t)(handler >> 32));
        put32(gate + 12, 0);
    }
}

static void tramp_arm(uint64_t page, const struct tg_tramp_params *p)
{
    put64(page + TR_CR3, p->cr3);
    put64(page + TR_STACK, p->stack_top);
    put32(page + TR_CR4, p->cr4);
    put32(page + TR_EFER, p->efer_or);
    put64(page + TR_SEQ, p->seq);
    for (unsigned i = 0; i < MB_SIZE; i += 4)
        put32(page + TR_MAILBOX + i, 0);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* --------------------------------------------------------------- IPIs */

static bool xapic_idle(const struct apic *a)
{
    volatile uint32_t *lo = (volatile uint32_t *)(uintptr_t)(a->mmio + XAPIC_ICR_LOW);
    for (unsigned i = 0; i < 10000; i++) {      /* up to about 100 ms */
        if (!(*lo & ICR_DELIVERY_PENDING))
            return true;
        stall(10);
    }
    return false;
}

/* Send one IPI, physical destination, no shorthand, edge. */
static bool send_ipi(const struct apic *a, uint32_t dest, uint32_t low)
{
    if (a->x2) {
        uint64_t f = irq_save();
        tg_wrmsr(MSR_X2APIC_ICR, ((uint64_t)dest << 32) | low);
        irq_restore(f);
        return true;
    }
    if (!xapic_idle(a))
        return false;
    uint64_t f = irq_save();
    /* SDM 3A 11.6.1: the IPI is sent by the write to the low half. */
    put32(a->mmio + XAPIC_ICR_HIGH, dest << 24);
    put32(a->mmio + XAPIC_ICR_LOW, low);
    irq_restore(f);
    return xapic_idle(a);
}

/* -------------------------------------------------------------- rounds */

/* Poll the done word every 10 us up to limit_us; returns the time waited. */
static unsigned wait_answer(volatile struct tg_tramp_mailbox *mb, unsigned limit_us)
{
    unsigned us = 0;
    while (mb->done == 0 && us < limit_us) {
        stall(10);
        us += 10;
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return us;
}

static const char *mode_name(const struct apic *a)
{
    return a->x2 ? "x2APIC" : "xAPIC";
}

static void run_round(const struct apic *a, uint64_t page, const struct tg_tramp_params *base,
                      const struct ap *ap, unsigned round)
{
    char name[32];
    tg_snprintf(name, sizeof name, "ap%u-round%u", (unsigned)ap->index, round);

    struct tg_tramp_params p = *base;
    p.stack_top = ap->stack + 4096;
    p.seq = 0x534d500000000000ull | ((uint64_t)ap->index << 16) | round;
    tramp_arm(page, &p);

    uint8_t vector = (uint8_t)(page >> 12);
    if (!send_ipi(a, ap->apic_id, ICR_MODE_INIT | ICR_LEVEL_ASSERT)) {
        tg_fail(name, "INIT: xAPIC ICR delivery status stays pending");
        return;
    }
    stall(INIT_DELAY_US);
    volatile struct tg_tramp_mailbox *mb = tg_tramp_mailbox(page);
    bool sent = send_ipi(a, ap->apic_id, ICR_MODE_STARTUP | ICR_LEVEL_ASSERT | vector);
    stall(SIPI_DELAY_US);
    bool first = mb->done != 0;         /* the 2nd SIPI then finds it halted */
    sent = send_ipi(a, ap->apic_id, ICR_MODE_STARTUP | ICR_LEVEL_ASSERT | vector) && sent;
    if (!sent) {
        tg_fail(name, "SIPI: xAPIC ICR delivery status stays pending");
        return;
    }

    unsigned us = wait_answer(mb, ANSWER_TIMEOUT_US);
    char when[48];
    if (first)
        tg_snprintf(when, sizeof when, "within %u us of the 1st SIPI", SIPI_DELAY_US);
    else
        tg_snprintf(when, sizeof when, "%u us after the 2nd SIPI", us);
    uint32_t done = mb->done;
    if (done == 0) {
        tg_fail(name, "no answer %u ms after INIT-SIPI-SIPI to APIC ID 0x%x (%s ICR, "
                "vector 0x%02x)", us / 1000, ap->apic_id, mode_name(a), vector);
        return;
    }
    if (done == TR_FAULT_MAGIC) {
        tg_fail(name, "AP took %s (vector %llu) error 0x%llx at rip 0x%llx cr2 0x%llx",
                tg_vector_name((int)mb->fault_vec), (unsigned long long)mb->fault_vec,
                (unsigned long long)mb->fault_err, (unsigned long long)mb->fault_rip,
                (unsigned long long)mb->fault_cr2);
        return;
    }
    if (done != TR_DONE_MAGIC) {
        tg_fail(name, "mailbox done word 0x%x", done);
        return;
    }
    if (mb->seq != p.seq) {
        tg_fail(name, "stale mailbox: sequence 0x%llx, want 0x%llx",
                (unsigned long long)mb->seq, (unsigned long long)p.seq);
        return;
    }
    if (!(mb->efer & EFER_LMA) || mb->cs != TR_SEL_CODE64) {
        tg_fail(name, "not in 64-bit mode: EFER 0x%llx CS 0x%llx",
                (unsigned long long)mb->efer, (unsigned long long)mb->cs);
        return;
    }
    if (mb->rsp < ap->stack || mb->rsp >= ap->stack + 4096) {
        tg_fail(name, "RSP 0x%llx outside its stack 0x%llx-0x%llx",
                (unsigned long long)mb->rsp, (unsigned long long)ap->stack,
                (unsigned long long)ap->stack + 4096);
        return;
    }
    uint32_t x2id = mb->x2apic_id;
    if (mb->apic_id != (ap->apic_id & 0xff) || (x2id != 0xffffffffu && x2id != ap->apic_id)) {
        tg_fail(name, "APIC ID: CPUID.1 0x%x, CPUID.0xB 0x%x, MP services says 0x%x",
                mb->apic_id, x2id, ap->apic_id);
        return;
    }
    const uint32_t mask = CPUID1_ECX_HYPERVISOR | CPUID1_ECX_VMX;
    uint32_t ecx = mb->leaf1_ecx;
    uint32_t sig[3] = { mb->hv[1], mb->hv[2], mb->hv[3] };
    uint32_t bsig[3] = { bsp_hv.ebx, bsp_hv.ecx, bsp_hv.edx };
    char s[13], bs[13];
    signature_of(sig, s);
    signature_of(bsig, bs);
    if ((ecx & mask) != (bsp_leaf1.ecx & mask) || sig[0] != bsig[0] || sig[1] != bsig[1] ||
        sig[2] != bsig[2]) {
        tg_fail(name, "AP sees hypervisor %u vmx %u sig '%s', BSP hypervisor %u vmx %u sig '%s'",
                ecx >> 31, (ecx >> 5) & 1, s, bsp_leaf1.ecx >> 31, (bsp_leaf1.ecx >> 5) & 1, bs);
        return;
    }
    tg_passf(name, "APIC ID 0x%x in 64-bit mode %s (%s ICR), hypervisor %u vmx %u "
             "sig '%s' as on the BSP", ap->apic_id, when, mode_name(a), ecx >> 31,
             (ecx >> 5) & 1, s);
}

/* A SIPI reaches only a processor waiting for one (after INIT, SDM 3A
 * 9.4.4.1/11.6.1): the halted AP must ignore SIPI, SIPI without INIT. This
 * also shows that the rounds above cannot pass without the AP restarting. */
static void check_sipi_alone(const struct apic *a, uint64_t page,
                             const struct tg_tramp_params *base, const struct ap *ap)
{
    char name[40];
    tg_snprintf(name, sizeof name, "ap%u-sipi-without-init", (unsigned)ap->index);

    struct tg_tramp_params p = *base;
    p.stack_top = ap->stack + 4096;
    p.seq = 0x534d500000000000ull | ((uint64_t)ap->index << 16) | 0xffff;
    tramp_arm(page, &p);
    uint8_t vector = (uint8_t)(page >> 12);
    bool sent = send_ipi(a, ap->apic_id, ICR_MODE_STARTUP | ICR_LEVEL_ASSERT | vector);
    stall(SIPI_DELAY_US);
    sent = send_ipi(a, ap->apic_id, ICR_MODE_STARTUP | ICR_LEVEL_ASSERT | vector) && sent;
    if (!sent) {
        tg_fail(name, "SIPI: xAPIC ICR delivery status stays pending");
        return;
    }
    volatile struct tg_tramp_mailbox *mb = tg_tramp_mailbox(page);
    wait_answer(mb, SIPI_ALONE_WAIT_US);
    uint32_t done = mb->done;
    if (done != 0)
        tg_fail(name, "the halted AP ran the trampoline again (done word 0x%x, sequence "
                "0x%llx)", done, (unsigned long long)mb->seq);
    else
        tg_passf(name, "AP stayed halted %u ms after SIPI, SIPI", SIPI_ALONE_WAIT_US / 1000);
}

/* ------------------------------------------------ firmware afterwards */

static volatile uint32_t fw_seen[MAX_CPUS];

/* Runs on each AP under the firmware: records the APIC ID it runs on. */
static VOID EFIAPI fw_procedure(VOID *arg)
{
    TG_MP_SERVICES *m = arg;
    UINTN me = 0;
    if (EFI_ERROR(uefi_call_wrapper(m->WhoAmI, 2, m, &me)) || me >= MAX_CPUS)
        return;
    __atomic_store_n(&fw_seen[me], 0x80000000u | tg_apic_id(), __ATOMIC_RELEASE);
}

static bool check_firmware_after(void)
{
    for (unsigned i = 0; i < MAX_CPUS; i++)
        fw_seen[i] = 0;
    /* The firmware wakes its APs with INIT-SIPI-SIPI (broadcast in OVMF) and
     * may wait for them without a time limit: say so first, in case it hangs. */
    tg_note("StartupAllAPs: the firmware takes the APs back");
    EFI_STATUS st = uefi_call_wrapper(mp->StartupAllAPs, 7, mp, fw_procedure, FALSE, NULL,
                                      (UINTN)10000000, mp, NULL);
    if (EFI_ERROR(st)) {
        tg_fail("firmware-ap-after", "StartupAllAPs: status 0x%llx", (unsigned long long)st);
        return false;
    }
    unsigned ok = 0;
    for (unsigned i = 0; i < naps; i++) {
        uint32_t v = __atomic_load_n(&fw_seen[aps[i].index], __ATOMIC_ACQUIRE);
        if (v == (0x80000000u | (aps[i].apic_id & 0xff)))
            ok++;
        else
            tg_note("  AP %u (APIC ID 0x%x) did not run the procedure (saw 0x%x)",
                    (unsigned)aps[i].index, aps[i].apic_id, v);
    }
    if (ok != naps) {
        tg_fail("firmware-ap-after", "%u of %u APs ran a StartupAllAPs procedure", ok, naps);
        return false;
    }
    tg_passf("firmware-ap-after", "%u APs ran a StartupAllAPs procedure", ok);
    return true;
}

/* --------------------------------------------------------------- setup */

/* Fill aps[] from MP services; false (with a line saying why) to stop. */
static bool find_aps(void)
{
    UINTN count = 0, enabled = 0;
    EFI_STATUS st = uefi_call_wrapper(mp->GetNumberOfProcessors, 3, mp, &count, &enabled);
    if (EFI_ERROR(st)) {
        tg_fail("find-aps", "GetNumberOfProcessors: status 0x%llx", (unsigned long long)st);
        return false;
    }
    if (count < 2) {
        tg_skip("aps", "single cpu");
        return false;
    }
    for (UINTN i = 0; i < count && naps < MAX_CPUS; i++) {
        TG_PROCESSOR_INFORMATION info;
        SetMem(&info, sizeof info, 0);
        st = uefi_call_wrapper(mp->GetProcessorInfo, 3, mp, i, &info);
        if (EFI_ERROR(st)) {
            tg_fail("find-aps", "GetProcessorInfo(%u): status 0x%llx", (unsigned)i,
                    (unsigned long long)st);
            continue;
        }
        if (info.StatusFlag & 1)                /* PROCESSOR_AS_BSP_BIT */
            continue;
        if (!(info.StatusFlag & 2)) {           /* PROCESSOR_ENABLED_BIT */
            char name[16];
            tg_snprintf(name, sizeof name, "ap%u", (unsigned)i);
            tg_skip(name, "disabled in MP services");
            continue;
        }
        aps[naps].index = i;
        aps[naps].apic_id = (uint32_t)info.ProcessorId;
        naps++;
    }
    tg_note("%u processors, %u enabled, %u APs to restart", (unsigned)count,
            (unsigned)enabled, naps);
    return naps > 0;
}

static bool alloc_pages(EFI_MEMORY_TYPE type, uint64_t max, uint64_t *out)
{
    EFI_PHYSICAL_ADDRESS a = max;
    if (EFI_ERROR(uefi_call_wrapper(BS->AllocatePages, 4, AllocateMaxAddress, type, 1, &a)))
        return false;
    *out = a;
    return true;
}

static void free_page(uint64_t a)
{
    uefi_call_wrapper(BS->FreePages, 2, (EFI_PHYSICAL_ADDRESS)a, 1);
}

static void run(void)
{
    mp = tg_mp_services();
    if (mp == NULL) {
        tg_fail("find-aps", "no EFI_MP_SERVICES_PROTOCOL");
        return;
    }
    if (!find_aps())
        return;

    bsp_leaf1 = tg_cpuid(1, 0);
    bsp_hv = tg_cpuid(0x40000000u, 0);

    /* The AP loads CR3 in 32-bit mode: the BSP's top-level table must be
     * below 4 GiB (a MOV to CR3 outside 64-bit mode writes 32 bits). */
    uint64_t cr3 = read_cr3(), cr4 = tg_read_cr4(), efer = tg_rdmsr(MSR_EFER);
    if (cr3 >> 32) {
        tg_fail("setup", "the BSP's CR3 0x%llx is above 4 GiB", (unsigned long long)cr3);
        return;
    }
    struct tg_tramp_params base = {
        .cr3 = cr3 & 0xfffff018ull,             /* address, PWT, PCD (no PCID here) */
        .cr4 = (uint32_t)(CR4_PAE | (cr4 & CR4_LA57)),
        .efer_or = (uint32_t)(EFER_LME | (efer & EFER_NXE)),
    };

    uint64_t apic_base = tg_rdmsr(MSR_APIC_BASE);
    unsigned maxphy = tg_cpuid(0x80000008u, 0).eax & 0xff;
    struct apic a = {
        .x2 = (apic_base & APIC_BASE_EXTD) != 0,
        .mmio = apic_base & ((1ull << maxphy) - 1) & ~0xfffull,
    };
    if (!(apic_base & APIC_BASE_EN)) {
        tg_fail("setup", "local APIC disabled (IA32_APIC_BASE 0x%llx)",
                (unsigned long long)apic_base);
        return;
    }
    if (a.x2)
        tg_note("APIC in x2APIC mode (IA32_APIC_BASE 0x%llx): ICR is MSR 0x830",
                (unsigned long long)apic_base);
    else
        tg_note("APIC in xAPIC mode (IA32_APIC_BASE 0x%llx): ICR at MMIO 0x%llx",
                (unsigned long long)apic_base, (unsigned long long)a.mmio + XAPIC_ICR_LOW);

    if ((uint64_t)(tg_tramp_end - tg_tramp_start) != TR_SIZE) {
        tg_fail("setup", "trampoline image is %llu bytes, not %u",
                (unsigned long long)(tg_tramp_end - tg_tramp_start), TR_SIZE);
        return;
    }
    /* Below 640 KiB, 4 KiB aligned: the SIPI vector is the page number
     * (SDM 3A 9.4.4.1). EfiLoaderCode: executable under the firmware's NX
     * policy, unlike the data types. */
    uint64_t page;
    if (!alloc_pages(EfiLoaderCode, 0x9ffff, &page) || page == 0 || page > 0x9f000) {
        tg_fail("setup", "cannot allocate a page below 640 KiB for the trampoline");
        return;
    }
    tramp_install(page);
    tg_note("trampoline at 0x%llx (SIPI vector 0x%02x), CR3 0x%llx, CR4 0x%x, EFER |= 0x%x",
            (unsigned long long)page, (unsigned)(page >> 12), (unsigned long long)base.cr3,
            base.cr4, base.efer_or);

    for (unsigned i = 0; i < naps; i++) {
        if (!alloc_pages(EfiBootServicesData, 0xffffffffull, &aps[i].stack)) {
            tg_fail("setup", "cannot allocate a stack page below 4 GiB");
            return;                              /* leaks: the APs may be out */
        }
    }

    for (unsigned i = 0; i < naps; i++) {
        for (unsigned r = 1; r <= ROUNDS; r++)
            run_round(&a, page, &base, &aps[i], r);
        check_sipi_alone(&a, page, &base, &aps[i]);
    }

    /* The APs now sit in cli; hlt on the trampoline's page and stacks. Free
     * them only once the firmware has taken the APs back. */
    if (check_firmware_after()) {
        for (unsigned i = 0; i < naps; i++)
            free_page(aps[i].stack);
        free_page(page);
    }
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
    tg_init(image, systab, "smp");
    run();
    return tg_summary() != 0 ? EFI_ABORTED : EFI_SUCCESS;
}
