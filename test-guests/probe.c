/* probe.efi: does the guest see a hypervisor where it should, and nothing of
 * VMX or of the monitor's memory where it should not?
 *
 * Run by Lamina's loader as the guest (or natively, where the checks that
 * also hold on a CPU without VMX still run and the rest are SKIPped).
 * Prints one line per check over ConOut and COM1, then "probe: done" and
 * "N passed, N failed". Returns EFI_SUCCESS, or EFI_ABORTED if a check failed.
 */
#include "test-guests/lib/tg.h"
#include "core/lamina_hypercall.h"

/* The 12 bytes CPUID 0x40000000 returns in EBX, ECX, EDX. */
#define LAMINA_SIGNATURE "LaminaLamina"
/* The 16 bytes at offset 0 of the monitor image's first page. */
#define LAMINA_MONITOR_MARKER "LAMINA-MONITOR!!"

#define CPUID1_ECX_VMX        (1u << 5)
#define CPUID1_ECX_XSAVE      (1u << 26)
#define CPUID1_ECX_OSXSAVE    (1u << 27)
#define CPUID1_ECX_HYPERVISOR (1u << 31)
#define CR4_VMXE              (1ull << 13)
#define CR4_OSXSAVE           (1ull << 18)
#define MSR_FEATURE_CONTROL   0x3a
#define FEATURE_CONTROL_VMX_OUTSIDE_SMX (1ull << 2)
#define MSR_VMX_BASIC         0x480

#define PAGE_SIZE 4096ull
#define MAX_CPUS  64

static bool hv_present;

/* The 12 signature bytes of leaf 0x40000000 as a printable string. */
static void signature_of(const struct tg_cpuid *r, char out[13])
{
    uint32_t w[3] = { r->ebx, r->ecx, r->edx };
    for (int i = 0; i < 12; i++) {
        char c = (char)(w[i / 4] >> (8 * (i % 4)));
        out[i] = (c >= 0x20 && c < 0x7f) ? c : '.';
    }
    out[12] = '\0';
}

static bool signature_ok(const struct tg_cpuid *r)
{
    uint32_t w[3] = { r->ebx, r->ecx, r->edx };
    return r->eax >= 0x40000001u && tg_mem_eq(w, LAMINA_SIGNATURE, 12);
}

/* --------------------------------------------------- 1. hypervisor present */

static void check_hypervisor(void)
{
    if (!hv_present) {
        tg_skip("hypervisor-bit", "no hypervisor present");
        tg_skip("hypervisor-signature", "no hypervisor present");
        return;
    }
    tg_pass("hypervisor-bit");
    struct tg_cpuid r = tg_cpuid(0x40000000u, 0);
    char sig[13];
    signature_of(&r, sig);
    if (signature_ok(&r))
        tg_passf("hypervisor-signature", "'%s' max leaf 0x%x", sig, r.eax);
    else
        tg_fail("hypervisor-signature", "saw '%s' max leaf 0x%x, want '%s' and >= 0x40000001",
                sig, r.eax, LAMINA_SIGNATURE);
}

/* ------------------------------------------------------ 2. VMX is hidden */

static void check_vmx_hidden(void)
{
    struct tg_cpuid r = tg_cpuid(1, 0);
    if (r.ecx & CPUID1_ECX_VMX)
        tg_fail("vmx-hidden", "CPUID.1:ECX = 0x%08x has VMX (bit 5)", r.ecx);
    else
        tg_pass("vmx-hidden");

    uint64_t cr4 = tg_read_cr4();
    if (cr4 & CR4_VMXE)
        tg_fail("cr4-vmxe-hidden", "CR4 = 0x%llx has VMXE (bit 13)", (unsigned long long)cr4);
    else
        tg_pass("cr4-vmxe-hidden");
}

/* ------------------------------------------- 3. VMX instructions raise #UD */

static void check_vmx_instructions(void)
{
    struct tg_fault f;
    int v = tg_try_vmxon(&f);
    if (v == TG_VEC_UD)
        tg_pass("vmxon-ud");
    else
        tg_fail("vmxon-ud", "VMXON raised %s (vector %d, error 0x%llx)",
                tg_vector_name(v), v, (unsigned long long)f.error_code);

    uint64_t rax = 0;
    v = tg_try_vmcall(0, 0, 0, 0, &rax, &f);
    if (v == TG_VEC_UD)
        tg_pass("vmcall-ud");
    else if (v < 0)
        tg_fail("vmcall-ud", "VMCALL returned, RAX = 0x%llx", (unsigned long long)rax);
    else
        tg_fail("vmcall-ud", "VMCALL raised %s (vector %d, error 0x%llx)",
                tg_vector_name(v), v, (unsigned long long)f.error_code);
}

/* ---------------------------------------------------------- 4. VMX MSRs */

static void check_msrs(void)
{
    struct tg_fault f;
    uint64_t val = 0;
    int v = tg_try_rdmsr(MSR_VMX_BASIC, &val, &f);
    if (v == TG_VEC_GP)
        tg_pass("rdmsr-vmx-basic-gp");
    else if (v < 0 && val == 0 && !hv_present)
        /* Not architectural (a CPU without VMX raises #GP), but QEMU TCG
         * reads every MSR it does not know as 0 without a fault. */
        tg_skip("rdmsr-vmx-basic-gp", "no hypervisor, and RDMSR 0x480 returned 0 instead "
                "of #GP (an emulator that reads unknown MSRs as 0)");
    else if (v < 0)
        tg_fail("rdmsr-vmx-basic-gp", "RDMSR 0x480 returned 0x%016llx",
                (unsigned long long)val);
    else
        tg_fail("rdmsr-vmx-basic-gp", "RDMSR 0x480 raised %s (vector %d)",
                tg_vector_name(v), v);

    val = 0;
    v = tg_try_rdmsr(MSR_FEATURE_CONTROL, &val, &f);
    if (v == TG_VEC_GP)
        tg_passf("feature-control", "RDMSR 0x3a raised #GP");
    else if (v < 0 && !(val & FEATURE_CONTROL_VMX_OUTSIDE_SMX))
        tg_passf("feature-control", "RDMSR 0x3a = 0x%llx, VMX outside SMX clear",
                 (unsigned long long)val);
    else if (v < 0)
        tg_fail("feature-control", "RDMSR 0x3a = 0x%llx has VMX outside SMX (bit 2)",
                (unsigned long long)val);
    else
        tg_fail("feature-control", "RDMSR 0x3a raised %s (vector %d)",
                tg_vector_name(v), v);
}

/* ------------------------------------------------ 5. monitor memory hidden */

#define MAX_REGIONS 64

/* Does a page show monitor data: the marker anywhere, or an ELF64
 * little-endian header ("\x7f" "ELF", class 2, data 1, version 1) at a
 * 16-byte boundary? */
static const char *page_shows_monitor(const uint8_t *page)
{
    static const uint8_t elf[7] = { 0x7f, 'E', 'L', 'F', 2, 1, 1 };
    const size_t mlen = sizeof(LAMINA_MONITOR_MARKER) - 1;
    for (size_t i = 0; i + mlen <= PAGE_SIZE; i++)
        if (page[i] == 'L' && tg_mem_eq(page + i, LAMINA_MONITOR_MARKER, mlen))
            return "monitor marker";
    for (size_t i = 0; i + sizeof elf <= PAGE_SIZE; i += 16)
        if (tg_mem_eq(page + i, elf, sizeof elf))
            return "ELF header";
    return NULL;
}

static uint8_t page_buf[PAGE_SIZE] __attribute__((aligned(16)));

/* The pages read in a region: first, last and up to 6 spread in between. */
static int sample_pages(const struct tg_region *r, uint64_t *idx)
{
    int n = 0;
    idx[n++] = 0;
    if (r->pages > 1) {
        uint64_t inner = r->pages - 2;
        int k = inner < 6 ? (int)inner : 6;
        for (int i = 1; i <= k; i++)
            idx[n++] = (inner * (uint64_t)i) / (uint64_t)(k + 1) + 1;
        idx[n++] = r->pages - 1;
    }
    return n;
}

static void check_monitor_memory(void)
{
    static struct tg_region regions[MAX_REGIONS];
    uint64_t ram_end = 0;
    int nreg = tg_reserved_regions(regions, MAX_REGIONS, &ram_end);

    if (nreg < 0) {
        if (hv_present) {
            tg_fail("monitor-memory-hidden", "could not read the UEFI memory map");
            tg_fail("monitor-memory-write", "could not read the UEFI memory map");
        } else {
            tg_skip("monitor-memory-hidden", "no hypervisor present");
            tg_skip("monitor-memory-write", "no hypervisor present");
        }
        return;
    }

    /* Read: also natively, where it only reports what it saw. */
    int pages_read = 0, faults = 0, hits = 0;
    for (int i = 0; i < nreg; i++) {
        uint64_t idx[8];
        int n = sample_pages(&regions[i], idx);
        tg_note("reserved region 0x%llx, %llu pages",
                (unsigned long long)regions[i].base, (unsigned long long)regions[i].pages);
        for (int j = 0; j < n; j++) {
            uint64_t pa = regions[i].base + idx[j] * PAGE_SIZE;
            struct tg_fault f;
            int v = tg_try_read(pa, page_buf, PAGE_SIZE, &f);
            if (v >= 0) {
                faults++;
                tg_note("  read 0x%llx raised %s (error 0x%llx, CR2 0x%llx)",
                        (unsigned long long)pa, tg_vector_name(v),
                        (unsigned long long)f.error_code, (unsigned long long)f.cr2);
                continue;
            }
            pages_read++;
            const char *what = page_shows_monitor(page_buf);
            if (what != NULL) {
                hits++;
                tg_note("  page 0x%llx shows a %s", (unsigned long long)pa, what);
            }
        }
    }

    if (!hv_present) {
        tg_skip("monitor-memory-hidden",
                "no hypervisor present (%d reserved regions below 0x%llx, %d pages read, "
                "%d faults, %d showing monitor data)",
                nreg, (unsigned long long)ram_end, pages_read, faults, hits);
        tg_skip("monitor-memory-write", "no hypervisor present");
        return;
    }
    if (nreg == 0) {
        tg_passf("monitor-memory-hidden", "no reserved region");
        tg_passf("monitor-memory-write", "no reserved region");
        return;
    }
    if (hits == 0)
        tg_passf("monitor-memory-hidden", "%d regions, %d pages read, %d faults",
                 nreg, pages_read, faults);
    else
        tg_fail("monitor-memory-hidden", "%d of %d pages read show monitor data",
                hits, pages_read);

    /* Write a pattern over the first 64 bytes of each region, read it back,
     * then put back what was read before (firmware's reserved pages are in
     * the list too). Interrupts are held off meanwhile (TPL_HIGH_LEVEL), so
     * no firmware handler sees the pattern; the notes are printed after. */
    static const char pattern[] = "probe-wrote-this";
    uint8_t pat[64], saved[64], back[MAX_REGIONS][16];
    int vr[MAX_REGIONS], vw[MAX_REGIONS], vb[MAX_REGIONS], vs[MAX_REGIONS];
    for (int i = 0; i < 64; i++)
        pat[i] = (uint8_t)pattern[i % 16];

    EFI_TPL old = uefi_call_wrapper(BS->RaiseTPL, 1, TPL_HIGH_LEVEL);
    for (int i = 0; i < nreg; i++) {
        uint64_t pa = regions[i].base;
        __builtin_memset(back[i], 0, sizeof back[i]);
        vw[i] = vb[i] = vs[i] = -1;
        vr[i] = tg_try_read(pa, saved, sizeof saved, NULL);
        vw[i] = tg_try_write(pa, pat, sizeof pat, NULL);
        vb[i] = tg_try_read(pa, back[i], sizeof back[i], NULL);
        if (vr[i] < 0)
            vs[i] = tg_try_write(pa, saved, sizeof saved, NULL);
    }
    uefi_call_wrapper(BS->RestoreTPL, 1, old);

    int bad = 0;
    for (int i = 0; i < nreg; i++) {
        char hex[40], asc[17];
        for (int k = 0; k < 16; k++) {
            tg_snprintf(hex + 2 * k, 3, "%02x", back[i][k]);
            asc[k] = (back[i][k] >= 0x20 && back[i][k] < 0x7f) ? (char)back[i][k] : '.';
        }
        asc[16] = '\0';
        bool marker = tg_mem_eq(back[i], LAMINA_MONITOR_MARKER, 16) ||
                      tg_mem_eq(back[i], "\x7f" "ELF", 4);
        if (marker)
            bad++;
        tg_note("  write 0x%llx: read %s, write %s, reads back %s '%s'%s, restore %s",
                (unsigned long long)regions[i].base, tg_vector_name(vr[i]),
                tg_vector_name(vw[i]), vb[i] < 0 ? hex : tg_vector_name(vb[i]),
                vb[i] < 0 ? asc : "", marker ? " (MONITOR DATA)" : "",
                vr[i] < 0 ? tg_vector_name(vs[i]) : "skipped");
    }
    struct tg_cpuid r = tg_cpuid(0x40000000u, 0);
    char sig[13];
    signature_of(&r, sig);
    if (!signature_ok(&r))
        tg_fail("monitor-memory-write", "after the writes CPUID 0x40000000 gives '%s' "
                "max leaf 0x%x", sig, r.eax);
    else if (bad > 0)
        tg_fail("monitor-memory-write", "%d regions read back monitor data", bad);
    else
        tg_passf("monitor-memory-write", "%d regions written, signature '%s' intact",
                 nreg, sig);
}

/* ---------------------------------------------------------- 6. XSETBV */

static void op_set_cr4(void *arg)
{
    tg_write_cr4(*(const uint64_t *)arg);
}

static void xsetbv_checks(void)
{
    struct tg_fault f;
    uint64_t xcr0 = 0;
    int v = tg_try_xgetbv(0, &xcr0, &f);
    if (v >= 0) {
        tg_fail("xsetbv-valid", "XGETBV(0) raised %s", tg_vector_name(v));
        tg_skip("xsetbv-invalid-gp", "XGETBV(0) faulted");
        tg_skip("xsetbv-bad-ecx-gp", "XGETBV(0) faulted");
        return;
    }
    v = tg_try_xsetbv(0, xcr0, &f);
    uint64_t after = 0;
    int v2 = tg_try_xgetbv(0, &after, NULL);
    if (v >= 0)
        tg_fail("xsetbv-valid", "XSETBV(0, 0x%llx) raised %s (error 0x%llx)",
                (unsigned long long)xcr0, tg_vector_name(v), (unsigned long long)f.error_code);
    else if (v2 >= 0 || after != xcr0)
        tg_fail("xsetbv-valid", "XCR0 was 0x%llx, reads 0x%llx after XSETBV",
                (unsigned long long)xcr0, (unsigned long long)after);
    else
        tg_passf("xsetbv-valid", "XCR0 = 0x%llx", (unsigned long long)xcr0);

    /* XCR0 bit 0 (x87) must be 1: SDM 2B XSETBV, "#GP(0) If ... EDX:EAX sets
     * bit 0 of XCR0 to 0". */
    uint64_t bad = xcr0 & ~1ull;
    v = tg_try_xsetbv(0, bad, &f);
    if (v == TG_VEC_GP)
        tg_pass("xsetbv-invalid-gp");
    else
        tg_fail("xsetbv-invalid-gp", "XSETBV(0, 0x%llx) raised %s", (unsigned long long)bad,
                tg_vector_name(v));
    if (v < 0)                          /* it took: put XCR0 back */
        tg_try_xsetbv(0, xcr0, NULL);

    /* Only XCR0 can be written: SDM 2B XSETBV, "#GP(0) If an invalid XCR is
     * specified in ECX". */
    v = tg_try_xsetbv(1, xcr0, &f);
    if (v == TG_VEC_GP)
        tg_pass("xsetbv-bad-ecx-gp");
    else
        tg_fail("xsetbv-bad-ecx-gp", "XSETBV(1, 0x%llx) raised %s", (unsigned long long)xcr0,
                tg_vector_name(v));
}

static void check_xsetbv(void)
{
    struct tg_cpuid r = tg_cpuid(1, 0);
    if (!(r.ecx & CPUID1_ECX_XSAVE)) {
        const char *why = "no XSAVE (CPUID.1:ECX bit 26 clear)";
        tg_skip("xsetbv-valid", "%s", why);
        tg_skip("xsetbv-invalid-gp", "%s", why);
        tg_skip("xsetbv-bad-ecx-gp", "%s", why);
        return;
    }
    if (r.ecx & CPUID1_ECX_OSXSAVE) {
        xsetbv_checks();
        return;
    }

    /* OVMF leaves CR4.OSXSAVE clear, and XGETBV/XSETBV raise #UD then (SDM 2B
     * XSETBV). Set it for the checks and put CR4 back afterwards; CPUID.1:
     * ECX.OSXSAVE must follow CR4 (SDM 2A CPUID, "OSXSAVE"). */
    uint64_t cr4 = tg_read_cr4(), set = cr4 | CR4_OSXSAVE;
    struct tg_fault f;
    int v = tg_try(op_set_cr4, &set, &f);
    if (v >= 0) {
        const char *why = "XSAVE not enabled and setting CR4.OSXSAVE faulted";
        tg_note("setting CR4.OSXSAVE raised %s", tg_vector_name(v));
        tg_skip("xsetbv-valid", "%s", why);
        tg_skip("xsetbv-invalid-gp", "%s", why);
        tg_skip("xsetbv-bad-ecx-gp", "%s", why);
        return;
    }
    bool follows = (tg_cpuid(1, 0).ecx & CPUID1_ECX_OSXSAVE) != 0;
    tg_note("CR4.OSXSAVE was clear: set for the XSETBV checks (CPUID.1:ECX.OSXSAVE %s)",
            follows ? "follows" : "STILL CLEAR");
    xsetbv_checks();
    tg_write_cr4(cr4);
}

/* --------------------------------------------------------- 7. AP CPUID */

struct ap_result {
    volatile uint32_t done;
    uint32_t apic_id;
    struct tg_cpuid leaf1;
    struct tg_cpuid hv;
    int vmxon_vec;
};

static struct ap_result ap_results[MAX_CPUS];
static TG_MP_SERVICES *mp;

/* Runs on each AP: no UEFI services but WhoAmI (MP-safe), no output. */
static VOID EFIAPI ap_procedure(VOID *arg)
{
    struct ap_result *res = arg;
    UINTN me = 0;
    if (EFI_ERROR(uefi_call_wrapper(mp->WhoAmI, 2, mp, &me)) || me >= MAX_CPUS)
        return;
    res[me].apic_id = tg_apic_id();
    res[me].leaf1 = tg_cpuid(1, 0);
    res[me].hv = tg_cpuid(0x40000000u, 0);
    res[me].vmxon_vec = tg_try_vmxon(NULL);     /* tg_try on an AP */
    __atomic_store_n(&res[me].done, 1u, __ATOMIC_RELEASE);
}

static void check_aps(void)
{
    mp = tg_mp_services();
    if (mp == NULL) {
        tg_skip("ap-cpuid", "no MP services protocol");
        tg_skip("ap-vmxon-ud", "no MP services protocol");
        return;
    }
    UINTN count = 0, enabled = 0, bsp = 0;
    EFI_STATUS st = uefi_call_wrapper(mp->GetNumberOfProcessors, 3, mp, &count, &enabled);
    if (EFI_ERROR(st)) {
        tg_fail("ap-cpuid", "GetNumberOfProcessors: status 0x%llx", (unsigned long long)st);
        tg_skip("ap-vmxon-ud", "GetNumberOfProcessors failed");
        return;
    }
    uefi_call_wrapper(mp->WhoAmI, 2, mp, &bsp);
    tg_note("%llu processors, %llu enabled, BSP is number %llu", (unsigned long long)count,
            (unsigned long long)enabled, (unsigned long long)bsp);
    if (enabled <= 1) {
        tg_skip("ap-cpuid", "single cpu");
        tg_skip("ap-vmxon-ud", "single cpu");
        return;
    }

    __builtin_memset(ap_results, 0, sizeof ap_results);
    st = uefi_call_wrapper(mp->StartupAllAPs, 7, mp, ap_procedure, FALSE, NULL,
                           (UINTN)5000000, ap_results, NULL);
    if (st == EFI_NOT_STARTED) {
        tg_skip("ap-cpuid", "single cpu");
        tg_skip("ap-vmxon-ud", "single cpu");
        return;
    }
    if (EFI_ERROR(st)) {
        tg_fail("ap-cpuid", "StartupAllAPs: status 0x%llx", (unsigned long long)st);
        tg_fail("ap-vmxon-ud", "StartupAllAPs: status 0x%llx", (unsigned long long)st);
        return;
    }

    struct tg_cpuid b1 = tg_cpuid(1, 0), bhv = tg_cpuid(0x40000000u, 0);
    const uint32_t mask = CPUID1_ECX_HYPERVISOR | CPUID1_ECX_VMX;
    int checked = 0, mismatched = 0, not_ud = 0;
    for (UINTN i = 0; i < count && i < MAX_CPUS; i++) {
        if (i == bsp || !ap_results[i].done)
            continue;
        struct ap_result *a = &ap_results[i];
        char sig[13], bsig[13];
        signature_of(&a->hv, sig);
        signature_of(&bhv, bsig);
        checked++;
        bool same = (a->leaf1.ecx & mask) == (b1.ecx & mask) &&
                    a->hv.ebx == bhv.ebx && a->hv.ecx == bhv.ecx && a->hv.edx == bhv.edx;
        if (!same) {
            mismatched++;
            tg_note("  AP %llu (APIC %u): CPUID.1:ECX 0x%08x sig '%s', BSP 0x%08x sig '%s'",
                    (unsigned long long)i, a->apic_id, a->leaf1.ecx, sig, b1.ecx, bsig);
        }
        if (a->vmxon_vec != TG_VEC_UD) {
            not_ud++;
            tg_note("  AP %llu (APIC %u): VMXON raised %s", (unsigned long long)i,
                    a->apic_id, tg_vector_name(a->vmxon_vec));
        }
    }
    int expected = (int)enabled - 1;
    if (checked < expected)
        tg_fail("ap-cpuid", "only %d of %d APs ran the procedure", checked, expected);
    else if (mismatched > 0)
        tg_fail("ap-cpuid", "%d of %d APs differ from the BSP", mismatched, checked);
    else
        tg_passf("ap-cpuid", "%d APs checked", checked);
    if (checked == 0)
        tg_fail("ap-vmxon-ud", "no AP ran the procedure");
    else if (not_ud > 0)
        tg_fail("ap-vmxon-ud", "VMXON did not raise #UD on %d of %d APs", not_ud, checked);
    else
        tg_passf("ap-vmxon-ud", "%d APs checked", checked);
}

/* ------------------------------------------------- 8. MTRRs and microcode */

#define MSR_MTRRCAP       0xfe
#define MSR_MTRR_PHYSBASE(n) (0x200 + 2 * (n))
#define MSR_MTRR_PHYSMASK(n) (0x201 + 2 * (n))
#define MTRR_MASK_VALID   (1ull << 11)
#define MSR_BIOS_UPDT_TRIG 0x79
#define MSR_BIOS_SIGN_ID   0x8b

/* Program a free variable MTRR as UC over a 2 MiB block of the probe's own
 * memory, check both MSRs read back, use the memory, and free the range
 * again. Under Lamina each write retypes the EPT (the monitor logs it; the
 * system test checks that line): the guest itself cannot see memory types. */
static void check_mtrr_write(void)
{
    uint64_t cap = tg_rdmsr(MSR_MTRRCAP);
    unsigned vcnt = cap & 0xff, free_idx = vcnt;
    for (unsigned i = 0; i < vcnt; i++)
        if (!(tg_rdmsr(MSR_MTRR_PHYSMASK(i)) & MTRR_MASK_VALID)) {
            free_idx = i;
            break;
        }
    if (free_idx == vcnt) {
        tg_skip("mtrr-write", "no free variable MTRR (%u in use)", vcnt);
        return;
    }
    EFI_PHYSICAL_ADDRESS mem = 0;
    const UINTN pages = 2 * 512;
    if (EFI_ERROR(uefi_call_wrapper(BS->AllocatePages, 4, AllocateAnyPages, EfiLoaderData,
                                    pages, &mem))) {
        tg_skip("mtrr-write", "cannot allocate 4 MiB");
        return;
    }
    uint64_t block = (mem + 0x1fffff) & ~0x1fffffull;
    unsigned maxphy = tg_cpuid(0x80000008, 0).eax & 0xff;
    uint64_t physmask = ((1ull << maxphy) - 1) & ~0xfffull;
    uint64_t base = block | 0 /* UC */, mask = (~0x1fffffull & physmask) | MTRR_MASK_VALID;
    uint64_t old_base = tg_rdmsr(MSR_MTRR_PHYSBASE(free_idx));
    tg_wrmsr(MSR_MTRR_PHYSBASE(free_idx), base);
    tg_wrmsr(MSR_MTRR_PHYSMASK(free_idx), mask);
    uint64_t rb = tg_rdmsr(MSR_MTRR_PHYSBASE(free_idx)), rm = tg_rdmsr(MSR_MTRR_PHYSMASK(free_idx));
    volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)block;
    p[0] = 0x4c414d494e41ull;
    p[0x1fffff / 8] = p[0];
    bool used_ok = p[0x1fffff / 8] == 0x4c414d494e41ull;
    tg_wrmsr(MSR_MTRR_PHYSMASK(free_idx), 0);
    tg_wrmsr(MSR_MTRR_PHYSBASE(free_idx), old_base);
    uefi_call_wrapper(BS->FreePages, 2, mem, pages);
    if (rb == base && rm == mask && used_ok)
        tg_passf("mtrr-write", "variable MTRR %u = UC at 0x%llx (2 MiB), read back, freed",
                 free_idx, (unsigned long long)block);
    else
        tg_fail("mtrr-write", "MTRR %u read back base 0x%llx mask 0x%llx (wrote 0x%llx 0x%llx), "
                "memory %s", free_idx, (unsigned long long)rb, (unsigned long long)rm,
                (unsigned long long)base, (unsigned long long)mask, used_ok ? "ok" : "wrong");
}

static uint32_t microcode_revision(void)
{
    /* SDM 3A 9.11.7.1: write 0, execute CPUID.1, read the revision in 63:32. */
    tg_wrmsr(MSR_BIOS_SIGN_ID, 0);
    (void)tg_cpuid(1, 0);
    return (uint32_t)(tg_rdmsr(MSR_BIOS_SIGN_ID) >> 32);
}

/* A microcode update attempt under Lamina is dropped: no fault, and the
 * revision stays. Natively it would hand garbage to the processor: skipped. */
static void check_microcode(void)
{
    if (!hv_present) {
        tg_skip("microcode-refused", "no hypervisor present");
        return;
    }
    static uint8_t bogus[4096] __attribute__((aligned(16)));
    struct tg_fault f;
    uint32_t before = microcode_revision();
    int v = tg_try_wrmsr(MSR_BIOS_UPDT_TRIG, (uint64_t)(uintptr_t)bogus, &f);
    uint32_t after = microcode_revision();
    if (v < 0 && before == after)
        tg_passf("microcode-refused", "revision 0x%x unchanged", after);
    else if (v >= 0)
        tg_fail("microcode-refused", "WRMSR 0x79 raised %s", tg_vector_name(v));
    else
        tg_fail("microcode-refused", "revision changed from 0x%x to 0x%x", before, after);
}

/* ----------------------------------------------------------------- bench */

/* Path lengths of round trips through the monitor. Under Bochs with clock
 * sync=none the TSC counts emulated instructions, so the figures repeat from
 * run to run; `make bench` collects them (its lamina.conf denies writes of
 * port 0x85 and logs those of 0x84, with log-events none). Not checks. */
/* LoadOptions "bench-policy": the bench config's rules are in place. */
static bool bench_policy;

static uint64_t tsc_now(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

enum bench_op { BENCH_CPUID, BENCH_OUT_DENIED, BENCH_OUT_LOGGED, BENCH_HYPERCALL };

/* Ticks per round trip: the best of BATCHES batches of ROUNDS, each with
 * interrupts off, so that a firmware timer tick landing in one batch (its
 * handler costs thousands of ticks) does not count: under Bochs the emulated
 * TSC counts instructions, and the figure is the path length alone. */
static void bench_one(const char *name, enum bench_op op)
{
    enum { ROUNDS = 200, BATCHES = 5 };
    uint64_t best = ~0ull;
    for (int b = 0; b < BATCHES; b++) {
        uint64_t flags;
        __asm__ volatile("pushfq; popq %0; cli" : "=r"(flags) :: "memory");
        uint64_t t0 = tsc_now();
        for (int i = 0; i < ROUNDS; i++) {
            switch (op) {
            case BENCH_CPUID: (void)tg_cpuid(0, 0); break;
            case BENCH_OUT_DENIED: tg_outb(0x85, (uint8_t)i); break;
            case BENCH_OUT_LOGGED: tg_outb(0x84, (uint8_t)i); break;
            case BENCH_HYPERCALL: (void)tg_hypercall(0, LAMINA_HC_MAGIC, 0, 0, 0); break;
            }
        }
        uint64_t t = (tsc_now() - t0) / ROUNDS;
        __asm__ volatile("pushq %0; popfq" :: "r"(flags) : "memory", "cc");
        if (t < best)
            best = t;
    }
    tg_note("BENCH %s %llu", name, (unsigned long long)best);
}

static void bench(void)
{
    bench_one("cpuid-round-trip", BENCH_CPUID);
    if (!hv_present || !bench_policy)
        return;
    bench_one("port-write-denied", BENCH_OUT_DENIED);
    bench_one("port-write-logged", BENCH_OUT_LOGGED);
    bench_one("hypercall-version", BENCH_HYPERCALL);
}

/* ------------------------------------------------------------------ main */

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
    tg_init(image, systab, "probe");

    hv_present = (tg_cpuid(1, 0).ecx & CPUID1_ECX_HYPERVISOR) != 0;
    if (!hv_present)
        tg_note("no hypervisor present");

    check_hypervisor();
    check_vmx_hidden();
    check_vmx_instructions();
    check_msrs();
    check_monitor_memory();
    check_xsetbv();
    check_aps();
    check_mtrr_write();
    check_microcode();
    bench_policy = tg_option_given(image, L"bench-policy");
    bench();

    int failed = tg_summary();
    if (tg_option_given(image, L"reset-at-end")) {
        /* For the system test of the monitor's final summary: reset through
         * the PCI reset control register (hard reset: SYS_RST | RST_CPU). */
        tg_note("resetting the machine through port 0xcf9");
        __asm__ volatile("outb %0, %1" :: "a"((uint8_t)0x02), "Nd"((uint16_t)0xcf9));
        __asm__ volatile("outb %0, %1" :: "a"((uint8_t)0x06), "Nd"((uint16_t)0xcf9));
    }
    return failed != 0 ? EFI_ABORTED : EFI_SUCCESS;
}
