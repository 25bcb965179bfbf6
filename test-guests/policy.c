/* policy.efi: does each policy action do what lamina.conf says, on real ports
 * and MSRs, and does the event log record it?
 *
 * Meant for the lamina.conf of tests/system/run.sh scenario bochs-policy:
 *   io   log   0x84                 allowed, recorded
 *   io   deny  0x85 write           the write is dropped
 *   io   deny  0x86 read            reads float high, at every width
 *   io   deny  0x88-0x8e write      a wide rule ...
 *   io   log   0x8c                 ... that a narrower one overrides
 *   msr  lock  0xc0000082           IA32_LSTAR: first write sets it for good
 *   msr  deny  0x1d9 write          IA32_DEBUGCTL
 *   msr  log   0x10                 IA32_TSC reads recorded
 *   msr  deny  0x8b read            IA32_BIOS_SIGN_ID
 *   msr  log   0x277                IA32_PAT (held in the VMCS)
 *   msr  log   0xc0000100           IA32_FS_BASE (held in the VMCS)
 *   stealth yes
 * The ports are Bochs's spare DMA page registers (0x80-0x8f): plain latches
 * that read back what was written and drive nothing.
 */
#include "test-guests/lib/tg.h"
#include "core/lamina_hypercall.h"

#define MSR_TSC      0x10
#define MSR_SIGN_ID  0x8b
#define MSR_DEBUGCTL 0x1d9
#define MSR_PAT      0x277
#define MSR_LSTAR    0xc0000082
#define MSR_FS_BASE  0xc0000100

static void check_io(void)
{
    tg_outb(0x84, 0x5a);
    uint8_t v = tg_inb(0x84);
    if (v == 0x5a)
        tg_pass("io-log-passes");
    else
        tg_fail("io-log-passes", "port 0x84 read back 0x%02x after writing 0x5a", v);

    uint8_t before = tg_inb(0x85);
    tg_outb(0x85, (uint8_t)~before);
    v = tg_inb(0x85);
    if (v == before)
        tg_passf("io-deny-write", "port 0x85 kept 0x%02x", v);
    else
        tg_fail("io-deny-write", "port 0x85 changed 0x%02x -> 0x%02x", before, v);

    tg_outb(0x86, 0x3c);        /* the rule denies reads only: this write lands */
    uint8_t b = tg_inb(0x86);
    uint16_t w = tg_inw(0x86);
    uint32_t l = tg_inl(0x84);  /* 0x84-0x87: includes the denied 0x86 */
    if (b == 0xff && w == 0xffff && l == 0xffffffffu)
        tg_pass("io-deny-read-widths");
    else
        tg_fail("io-deny-read-widths", "inb 0x%02x inw 0x%04x inl(0x84) 0x%08x", b, w, l);

    tg_outb(0x8c, 0x11);
    before = tg_inb(0x8d);
    tg_outb(0x8d, (uint8_t)~before);
    uint8_t c = tg_inb(0x8c), d = tg_inb(0x8d);
    if (c == 0x11 && d == before)
        tg_pass("io-most-specific-wins");
    else
        tg_fail("io-most-specific-wins", "port 0x8c 0x%02x (want 0x11), 0x8d 0x%02x (want 0x%02x)",
                c, d, before);
}

static void check_msr(void)
{
    struct tg_fault f;
    uint64_t lstar = tg_rdmsr(MSR_LSTAR), val = 0;
    int v1 = tg_try_wrmsr(MSR_LSTAR, lstar, &f);
    int v2 = tg_try_wrmsr(MSR_LSTAR, lstar, &f);
    int v3 = tg_try_wrmsr(MSR_LSTAR, lstar + 0x1000, &f);
    uint64_t after = tg_rdmsr(MSR_LSTAR);
    if (v1 < 0 && v2 < 0 && v3 == TG_VEC_GP && after == lstar)
        tg_pass("msr-lock");
    else
        tg_fail("msr-lock", "writes raised %s, %s, %s; LSTAR 0x%llx -> 0x%llx",
                tg_vector_name(v1), tg_vector_name(v2), tg_vector_name(v3),
                (unsigned long long)lstar, (unsigned long long)after);

    uint64_t dbg = 0;
    int r = tg_try_rdmsr(MSR_DEBUGCTL, &dbg, &f);
    int w = tg_try_wrmsr(MSR_DEBUGCTL, dbg ^ 1, &f);
    int r2 = tg_try_rdmsr(MSR_DEBUGCTL, &val, &f);
    /* Where RDMSR 0x1d9 itself faults, only the #GP of the write is checked. */
    if (w == TG_VEC_GP && (r >= 0 || (r2 < 0 && val == dbg)))
        tg_pass("msr-deny-write");
    else
        tg_fail("msr-deny-write", "WRMSR 0x1d9 raised %s; value 0x%llx -> 0x%llx",
                tg_vector_name(w), (unsigned long long)dbg, (unsigned long long)val);

    int t = tg_try_rdmsr(MSR_TSC, &val, &f);
    if (t < 0 && val != 0)
        tg_pass("msr-log-read");
    else
        tg_fail("msr-log-read", "RDMSR 0x10 raised %s, value 0x%llx", tg_vector_name(t),
                (unsigned long long)val);

    t = tg_try_rdmsr(MSR_SIGN_ID, &val, &f);
    if (t == TG_VEC_GP)
        tg_pass("msr-deny-read");
    else
        tg_fail("msr-deny-read", "RDMSR 0x8b raised %s", tg_vector_name(t));
}

/* IA32_PAT and IA32_FS_BASE live in the VMCS while the guest runs: a logged
 * access must reach the guest's value, with WRMSR's own checks. */
static void check_vmcs_msrs(void)
{
    struct tg_fault f;
    uint64_t pat = tg_rdmsr(MSR_PAT), val = 0;
    uint64_t wc = (pat & ~(0xffull << 56)) | (0x01ull << 56);     /* entry 7: WC */
    int w1 = tg_try_wrmsr(MSR_PAT, wc, &f);
    int r1 = tg_try_rdmsr(MSR_PAT, &val, &f);
    int w2 = tg_try_wrmsr(MSR_PAT, (pat & ~0xffull) | 0x02, &f);   /* type 2 is reserved */
    uint64_t now = tg_rdmsr(MSR_PAT);
    tg_wrmsr(MSR_PAT, pat);
    if (w1 < 0 && r1 < 0 && val == wc && w2 == TG_VEC_GP && now == wc)
        tg_pass("msr-pat-guest-value");
    else
        tg_fail("msr-pat-guest-value", "wrote 0x%llx (%s), read 0x%llx; reserved type %s",
                (unsigned long long)wc, tg_vector_name(w1), (unsigned long long)val,
                tg_vector_name(w2));

    uint64_t fs = tg_rdmsr(MSR_FS_BASE);
    int a = tg_try_wrmsr(MSR_FS_BASE, 0x12345000, &f);
    uint64_t got = tg_rdmsr(MSR_FS_BASE);
    int b = tg_try_wrmsr(MSR_FS_BASE, 0x8000000000000000ull, &f);
    uint64_t kept = tg_rdmsr(MSR_FS_BASE);
    tg_wrmsr(MSR_FS_BASE, fs);
    if (a < 0 && got == 0x12345000 && b == TG_VEC_GP && kept == 0x12345000)
        tg_pass("msr-fs-base-guest-value");
    else
        tg_fail("msr-fs-base-guest-value", "read 0x%llx (%s); non-canonical %s, then 0x%llx",
                (unsigned long long)got, tg_vector_name(a), tg_vector_name(b),
                (unsigned long long)kept);
}

static void check_stealth(void)
{
    struct tg_cpuid one = tg_cpuid(1, 0), hv = tg_cpuid(0x40000000, 0);
    bool sig = hv.ebx == 0x696d614cu && hv.ecx == 0x614c616eu && hv.edx == 0x616e696du;
    if (!(one.ecx & (1u << 31)) && !sig)
        tg_pass("stealth-cpuid");
    else
        tg_fail("stealth-cpuid", "leaf 1 ECX 0x%08x, leaf 0x40000000 %08x %08x %08x", one.ecx,
                hv.ebx, hv.ecx, hv.edx);
}

/* ------------------------------------------------------- the event log */

static struct lamina_event events[128] __attribute__((aligned(64)));

static bool has_event(unsigned n, uint8_t kind, uint32_t index, uint8_t action, bool check_value,
                      uint64_t value)
{
    for (unsigned i = 0; i < n; i++) {
        const struct lamina_event *e = &events[i];
        if (e->kind == kind && e->index == index && e->action == action &&
            (!check_value || e->value == value))
            return true;
    }
    return false;
}

static void check_event_log(void)
{
    struct tg_hc ver = tg_hypercall(LAMINA_HC_VERSION, LAMINA_HC_MAGIC, 0, 0, 0);
    if (ver.rax == LAMINA_OK && ver.rdi == LAMINA_HC_ABI_VERSION &&
        (ver.rsi & LAMINA_FEAT_EVENT_LOG) && (ver.rsi & LAMINA_FEAT_STEALTH))
        tg_passf("hc-version", "ABI 0x%llx features 0x%llx cpus %llu",
                 (unsigned long long)ver.rdi, (unsigned long long)ver.rsi,
                 (unsigned long long)ver.rdx);
    else
        tg_fail("hc-version", "status %lld ABI 0x%llx features 0x%llx", (long long)ver.rax,
                (unsigned long long)ver.rdi, (unsigned long long)ver.rsi);

    struct tg_hc rd = tg_hypercall(LAMINA_HC_READ_LOG, LAMINA_HC_MAGIC, 0,
                                   (uint64_t)(uintptr_t)events, sizeof(events));
    unsigned n = rd.rax == LAMINA_OK ? (unsigned)rd.rsi : 0;
    tg_note("read %u events, next cursor %llu, lost %llu", n, (unsigned long long)rd.rdi,
            (unsigned long long)rd.rdx);
    struct {
        const char *name;
        uint8_t kind, action;
        uint32_t index;
        bool check_value;
        uint64_t value;
    } want[] = {
        { "ev-io-log", LAMINA_EV_IO_OUT, LAMINA_ACT_LOGGED, 0x84, true, 0x5a },
        { "ev-io-deny-write", LAMINA_EV_IO_OUT, LAMINA_ACT_DENIED, 0x85, false, 0 },
        { "ev-io-deny-read", LAMINA_EV_IO_IN, LAMINA_ACT_DENIED, 0x86, true, 0xff },
        { "ev-msr-locked", LAMINA_EV_MSR_WRITE, LAMINA_ACT_LOCKED, MSR_LSTAR, false, 0 },
        { "ev-msr-deny-write", LAMINA_EV_MSR_WRITE, LAMINA_ACT_DENIED, MSR_DEBUGCTL, false, 0 },
        { "ev-msr-log-read", LAMINA_EV_MSR_READ, LAMINA_ACT_LOGGED, MSR_TSC, false, 0 },
        { "ev-msr-deny-read", LAMINA_EV_MSR_READ, LAMINA_ACT_DENIED, MSR_SIGN_ID, false, 0 },
    };
    for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (has_event(n, want[i].kind, want[i].index, want[i].action, want[i].check_value,
                      want[i].value))
            tg_pass(want[i].name);
        else
            tg_fail(want[i].name, "no event kind %u index 0x%x action %u among %u", want[i].kind,
                    want[i].index, want[i].action, n);
    }
    uint64_t cr3;
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    bool ordered = n > 0;
    for (unsigned i = 0; i < n; i++)
        if (events[i].seq != i || events[i].cpu != 0 || events[i].cr3 != cr3 || !events[i].rip ||
            (i && events[i].tsc < events[i - 1].tsc))
            ordered = false;
    if (ordered && rd.rdi == n && rd.rdx == 0)
        tg_pass("ev-fields");
    else
        tg_fail("ev-fields", "seq/cpu/cr3/rip/tsc of %u events or cursor %llu wrong", n,
                (unsigned long long)rd.rdi);

    /* The cursor: nothing read twice; a new event is the only one read next. */
    tg_outb(0x84, 0x77);
    struct tg_hc again = tg_hypercall(LAMINA_HC_READ_LOG, LAMINA_HC_MAGIC, rd.rdi,
                                      (uint64_t)(uintptr_t)events, sizeof(events));
    if (again.rax == LAMINA_OK && again.rsi == 1 && events[0].seq == rd.rdi &&
        events[0].index == 0x84 && events[0].value == 0x77 && again.rdi == rd.rdi + 1)
        tg_pass("ev-cursor");
    else
        tg_fail("ev-cursor", "status %lld, %llu events, first seq %llu index 0x%x",
                (long long)again.rax, (unsigned long long)again.rsi,
                (unsigned long long)events[0].seq, events[0].index);
}

/* With `serial 0x2f8` and `serial-exclusive yes` (LoadOptions com2-owned):
 * COM2 is the monitor's alone. Its scratch register would read back what was
 * written; for the guest every register floats high and writes vanish. */
static void check_serial_exclusive(void)
{
    tg_outb(0x2ff, 0x5a);
    uint8_t scratch = tg_inb(0x2ff), lsr = tg_inb(0x2fd), lcr = tg_inb(0x2fb);
    if (scratch == 0xff && lsr == 0xff && lcr == 0xff)
        tg_pass("serial-exclusive-hidden");
    else
        tg_fail("serial-exclusive-hidden", "COM2 scratch 0x%02x LSR 0x%02x LCR 0x%02x", scratch,
                lsr, lcr);
    struct tg_hc ver = tg_hypercall(LAMINA_HC_VERSION, LAMINA_HC_MAGIC, 0, 0, 0);
    if (ver.rax == LAMINA_OK && (ver.rsi & LAMINA_FEAT_SERIAL_EXCLUSIVE))
        tg_pass("serial-exclusive-feature");
    else
        tg_fail("serial-exclusive-feature", "status %lld features 0x%llx", (long long)ver.rax,
                (unsigned long long)ver.rsi);
}

/* Lock values are per CPU (LSTAR is a per-CPU register): after the BSP
 * locked its LSTAR, the AP's first write of another value still passes and
 * then holds on that CPU. Runs on processor 1 when there is one. */
struct ap_lock {
    uint64_t before, after;
    int first, second;
    volatile bool done;
};

static VOID EFIAPI ap_lock_proc(VOID *arg)
{
    struct ap_lock *a = arg;
    struct tg_fault f;
    a->before = tg_rdmsr(MSR_LSTAR);
    a->first = tg_try_wrmsr(MSR_LSTAR, a->before + 0x2000, &f);
    a->second = tg_try_wrmsr(MSR_LSTAR, a->before + 0x3000, &f);
    a->after = tg_rdmsr(MSR_LSTAR);
    a->done = true;
}

static void check_lock_per_cpu(void)
{
    TG_MP_SERVICES *mp = tg_mp_services();
    UINTN count = 0, enabled = 0;
    if (!mp || EFI_ERROR(uefi_call_wrapper(mp->GetNumberOfProcessors, 3, mp, &count, &enabled)) ||
        enabled < 2) {
        tg_skip("msr-lock-per-cpu", "one processor");
        return;
    }
    static struct ap_lock a;
    EFI_STATUS st = uefi_call_wrapper(mp->StartupThisAP, 7, mp, ap_lock_proc, (UINTN)1, NULL,
                                      (UINTN)5000000, &a, NULL);
    if (EFI_ERROR(st) || !a.done) {
        tg_fail("msr-lock-per-cpu", "StartupThisAP: status 0x%llx", (unsigned long long)st);
        return;
    }
    if (a.first < 0 && a.second == TG_VEC_GP && a.after == a.before + 0x2000)
        tg_pass("msr-lock-per-cpu");
    else
        tg_fail("msr-lock-per-cpu", "AP writes raised %s, %s; LSTAR 0x%llx -> 0x%llx",
                tg_vector_name(a.first), tg_vector_name(a.second), (unsigned long long)a.before,
                (unsigned long long)a.after);

    /* The refusal on the AP is its own event. */
    struct tg_hc rd = tg_hypercall(LAMINA_HC_READ_LOG, LAMINA_HC_MAGIC, 0,
                                   (uint64_t)(uintptr_t)events, sizeof(events));
    bool seen = false;
    for (uint64_t i = 0; rd.rax == LAMINA_OK && i < rd.rsi; i++)
        seen |= events[i].cpu == 1 && events[i].kind == LAMINA_EV_MSR_WRITE &&
                events[i].index == MSR_LSTAR && events[i].action == LAMINA_ACT_LOCKED;
    if (seen)
        tg_pass("ev-msr-locked-cpu1");
    else
        tg_fail("ev-msr-locked-cpu1", "no locked LSTAR event from cpu 1 among %llu",
                (unsigned long long)rd.rsi);
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
    tg_init(image, systab, "policy");
    if (tg_option_given(image, L"com2-owned")) {
        check_serial_exclusive();
        return tg_summary() ? EFI_ABORTED : EFI_SUCCESS;
    }
    check_io();
    check_msr();
    check_vmcs_msrs();
    check_stealth();
    check_event_log();
    check_lock_per_cpu();
    return tg_summary() ? EFI_ABORTED : EFI_SUCCESS;
}
