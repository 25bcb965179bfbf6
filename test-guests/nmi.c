/* nmi.efi: non-maskable interrupts as a guest sees them. The system test
 * (bochs-nmi in tests/system/run.sh) runs it natively and under Lamina in one
 * scenario and compares the two logs line by line, so nothing printed here
 * may depend on timing or addresses.
 *
 *   self-nmi     N NMIs sent one at a time to this CPU's own APIC ID, each
 *                handled and ended by IRET: the handler runs N times. (A
 *                monitor that re-injects an NMI without virtual-NMI blocking
 *                leaves the guest blocked by NMI after the first, since with
 *                NMI exiting the guest's IRET does not unblock it: SDM 3C,
 *                "Changes to Instruction Behavior in VMX Non-Root Operation".)
 *   halted-wake  An AP halts with IF=0; the BSP sends it K NMIs, one after the
 *                other: each wakes it from HLT and runs the handler there.
 *   mwait-wake   The same with the AP in MWAIT, as Linux's idle loop waits.
 *   nmi-movss    An AP sends M NMIs to the BSP while the BSP runs
 *                "mov %ss; cpuid" over and over: NMIs arrive under MOV-SS
 *                blocking and while the monitor emulates CPUID (SDM 3A,
 *                "Interrupt and Exception Handling": MOV SS blocks NMIs on the
 *                next boundary; an NMI held in VMX root comes back as soon as
 *                the guest may take it). Every NMI is taken once.
 *   nmi-sti      The same with "cli; sti; cpuid" (blocking by STI).
 *   nmi-all-but-self, nmi-logical
 *                Every AP halts; K NMIs go to all of them at once, by the
 *                all-excluding-self shorthand and by a flat logical mask (as
 *                Linux's nmi_backtrace sends them): each AP takes each one.
 *
 * The NMI handler counts per APIC ID and returns with IRET. It is installed
 * in a private copy of the IDT that every CPU taking part loads for the time
 * of the test (OVMF's own vector-2 handler reports an exception and hangs).
 */
#include "test-guests/lib/tg.h"

#define SELF_NMIS      64
#define HALT_NMIS      16
#define LOOP_NMIS      64
#define MAX_ID         8                   /* APIC IDs counted: 0..7 */

#define MSR_APIC_BASE  0x1b
#define APIC_BASE_EN   (1ull << 11)
#define APIC_BASE_EXTD (1ull << 10)
#define MSR_X2APIC_ICR 0x830
#define XAPIC_ICR_LOW  0x300
#define XAPIC_ICR_HIGH 0x310
#define ICR_MODE_NMI   (4u << 8)           /* SDM 3A 11.6.1 */
#define ICR_PENDING    (1u << 12)
#define ICR_ASSERT     (1u << 14)

/* Spins (each a PAUSE) before a wait gives up: far above what an NMI needs
 * under Bochs (a few thousand instructions), small enough to end a hang. */
#define SPIN_LIMIT     20000000u

struct __attribute__((packed)) dtr {
    uint16_t limit;
    uint64_t base;
};

__attribute__((visibility("hidden"))) volatile uint32_t nmi_counts[MAX_ID];

/* The handler: count on this CPU's initial APIC ID (CPUID.1:EBX[31:24]),
 * then IRET. CPUID runs in the handler on purpose: under Lamina it exits
 * while the guest is blocked by NMI. */
extern char nmi_entry[];
__asm__(".text\n"
        ".globl nmi_entry\n"
        ".hidden nmi_entry\n"
        "nmi_entry:\n"
        "  push %rax\n  push %rbx\n  push %rcx\n  push %rdx\n"
        "  mov $1, %eax\n  xor %ecx, %ecx\n  cpuid\n"
        "  shr $24, %ebx\n  and $7, %ebx\n"
        "  lea nmi_counts(%rip), %rax\n"
        "  lock incl (%rax,%rbx,4)\n"
        "  pop %rdx\n  pop %rcx\n  pop %rbx\n  pop %rax\n"
        "  iretq\n");

static uint8_t idt[4096] __attribute__((aligned(16)));
static struct dtr idt_ptr;

struct apic {
    bool     x2;
    uint64_t mmio;
};
static struct apic apic;
static TG_MP_SERVICES *mp;

static void sidt(struct dtr *d) { __asm__ volatile("sidt %0" : "=m"(*d)); }
static void lidt(const struct dtr *d) { __asm__ volatile("lidt %0" : : "m"(*d) : "memory"); }
static void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }

static uint32_t count_of(uint32_t id)
{
    return __atomic_load_n(&nmi_counts[id & (MAX_ID - 1)], __ATOMIC_ACQUIRE);
}

/* Our IDT: the firmware's vectors, with vector 2 an interrupt gate to
 * nmi_entry in the current code segment (SDM 3A, "IDT Descriptors"). */
static bool idt_build(void)
{
    struct dtr fw;
    sidt(&fw);
    size_t size = (size_t)fw.limit + 1;
    if (size > sizeof idt || size < 3 * 16)
        return false;
    CopyMem(idt, (void *)(uintptr_t)fw.base, size);
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    uint64_t h = (uint64_t)(uintptr_t)nmi_entry;
    uint8_t *g = idt + 2 * 16;
    uint32_t w[4] = {
        (uint32_t)(h & 0xffff) | ((uint32_t)cs << 16),
        (uint32_t)(h & 0xffff0000u) | 0x8e00u,      /* P, DPL 0, 64-bit interrupt gate */
        (uint32_t)(h >> 32),
        0,
    };
    CopyMem(g, w, sizeof w);
    idt_ptr.limit = fw.limit;
    idt_ptr.base = (uint64_t)(uintptr_t)idt;
    return true;
}

/* Send an NMI: to APIC ID dest (physical destination, no shorthand), or
 * with extra ICR bits (a shorthand, or logical destination dest). */
static bool send_nmi_icr(uint32_t dest, uint32_t extra)
{
    uint32_t low = ICR_MODE_NMI | ICR_ASSERT | extra;
    if (apic.x2) {
        tg_wrmsr(MSR_X2APIC_ICR, ((uint64_t)dest << 32) | low);
        return true;
    }
    volatile uint32_t *lo = (volatile uint32_t *)(uintptr_t)(apic.mmio + XAPIC_ICR_LOW);
    volatile uint32_t *hi = (volatile uint32_t *)(uintptr_t)(apic.mmio + XAPIC_ICR_HIGH);
    for (uint32_t n = 0; *lo & ICR_PENDING; n++) {
        if (n == SPIN_LIMIT)
            return false;
        cpu_relax();
    }
    *hi = dest << 24;
    *lo = low;
    return true;
}

static bool send_nmi(uint32_t dest) { return send_nmi_icr(dest, 0); }

/* Wait until APIC ID id has taken at least want NMIs. */
static bool wait_count(uint32_t id, uint32_t want)
{
    for (uint32_t n = 0; n < SPIN_LIMIT; n++) {
        if (count_of(id) >= want)
            return true;
        cpu_relax();
    }
    return count_of(id) >= want;
}

/* ------------------------------------------------------------ self-nmi */

static void check_self(void)
{
    uint32_t me = tg_apic_id(), base = count_of(me);
    for (uint32_t i = 1; i <= SELF_NMIS; i++) {
        if (!send_nmi(me)) {
            tg_fail("self-nmi", "NMI %u: the ICR stays busy", i);
            return;
        }
        if (!wait_count(me, base + i)) {
            tg_fail("self-nmi", "sent %u NMIs, the handler ran %u times", i, count_of(me) - base);
            return;
        }
    }
    uefi_call_wrapper(BS->Stall, 1, 10000);     /* nothing more may come */
    uint32_t got = count_of(me) - base;
    if (got != SELF_NMIS)
        tg_fail("self-nmi", "sent %u NMIs, the handler ran %u times", SELF_NMIS, got);
    else
        tg_passf("self-nmi", "%u NMIs to this CPU, %u handled, each ended by IRET", SELF_NMIS,
                 got);
}

/* ------------------------------------------------------- AP procedures */

struct ap_job {
    uint32_t target;                /* APIC ID the sender aims at */
    uint32_t base;                  /* the target's count before */
    uint32_t nmis;
    bool     logical;               /* halt_proc: put this AP in flat logical mode */
    bool     mwait;                 /* halt_proc: wait with MONITOR/MWAIT, not HLT */
    volatile uint32_t ready, stop, done, failed_at;    /* ready, done: APs counted */
    volatile uint32_t last[MAX_ID]; /* halt_proc: with stop, the count to reach */
};

/* xAPIC logical destination (SDM 3A 11.6.2.2): flat model, one bit per APIC
 * ID 0..7 in the LDR. */
#define XAPIC_LDR        0x0d0
#define XAPIC_DFR        0x0e0
#define ICR_DEST_LOGICAL (1u << 11)
#define ICR_ALL_BUT_SELF (3u << 18)

/* On the AP: load our IDT, halt with IF=0 until told to stop. Only NMIs
 * (and SMIs, INITs) end a HLT with IF=0. */
static VOID EFIAPI halt_proc(VOID *arg)
{
    struct ap_job *j = arg;
    struct dtr saved;
    uint64_t flags;
    uint32_t ldr = 0, dfr = 0;
    volatile uint32_t *lreg = (volatile uint32_t *)(uintptr_t)(apic.mmio + XAPIC_LDR);
    volatile uint32_t *dreg = (volatile uint32_t *)(uintptr_t)(apic.mmio + XAPIC_DFR);
    if (j->logical) {
        ldr = *lreg;
        dfr = *dreg;
        *dreg = 0xffffffffu;
        *lreg = 1u << (24 + (tg_apic_id() & 7));
    }
    sidt(&saved);
    __asm__ volatile("pushfq; pop %0; cli" : "=r"(flags) : : "memory");
    lidt(&idt_ptr);
    __atomic_add_fetch(&j->ready, 1, __ATOMIC_RELEASE);
    /* Leave only once the last NMI is handled here: an AP that left on
     * seeing stop alone could take that NMI on the firmware's IDT. */
    uint32_t me = tg_apic_id() & (MAX_ID - 1);
    while (!__atomic_load_n(&j->stop, __ATOMIC_ACQUIRE) || count_of(me) < j->last[me]) {
        if (!j->mwait) {
            __asm__ volatile("hlt" ::: "memory");
            continue;
        }
        /* As Linux's idle loop waits (SDM 2, MWAIT: an NMI ends it even
         * with IF=0). The monitored line is one nobody writes. */
        __asm__ volatile("monitor" : : "a"(&j->failed_at), "c"(0), "d"(0) : "memory");
        __asm__ volatile("mwait" : : "a"(0), "c"(0) : "memory");
    }
    lidt(&saved);
    __asm__ volatile("push %0; popfq" : : "r"(flags) : "memory", "cc");
    if (j->logical) {
        *lreg = ldr;
        *dreg = dfr;
    }
    __atomic_add_fetch(&j->done, 1, __ATOMIC_RELEASE);
}

/* On the AP: send j->nmis NMIs to j->target, each once the last is taken. */
static VOID EFIAPI send_proc(VOID *arg)
{
    struct ap_job *j = arg;
    __atomic_store_n(&j->ready, 1, __ATOMIC_RELEASE);
    for (uint32_t i = 1; i <= j->nmis; i++) {
        if (!send_nmi(j->target) || !wait_count(j->target, j->base + i)) {
            j->failed_at = i;
            break;
        }
    }
    __atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
}

static bool start_ap(UINTN cpu, TG_AP_PROCEDURE proc, struct ap_job *j, EFI_EVENT *ev)
{
    EFI_STATUS st = uefi_call_wrapper(BS->CreateEvent, 5, 0, TPL_CALLBACK, NULL, NULL, ev);
    if (EFI_ERROR(st))
        return false;
    st = uefi_call_wrapper(mp->StartupThisAP, 7, mp, proc, cpu, *ev, (UINTN)0, j, NULL);
    if (EFI_ERROR(st)) {
        uefi_call_wrapper(BS->CloseEvent, 1, *ev);
        return false;
    }
    return true;
}

/* Wait (on the BSP, with Stall) for flag, up to ms milliseconds. */
static bool wait_flag(volatile uint32_t *flag, unsigned ms)
{
    for (unsigned i = 0; i < ms; i++) {
        if (__atomic_load_n(flag, __ATOMIC_ACQUIRE))
            return true;
        uefi_call_wrapper(BS->Stall, 1, 1000);
    }
    return __atomic_load_n(flag, __ATOMIC_ACQUIRE) != 0;
}

static void finish_ap(EFI_EVENT ev)
{
    UINTN idx;
    uefi_call_wrapper(BS->WaitForEvent, 3, 1, &ev, &idx);
    uefi_call_wrapper(BS->CloseEvent, 1, ev);
}

/* --------------------------------------------------------- halted-wake */

static void check_halted(const char *name, UINTN cpu, uint32_t id, bool mwait)
{
    struct ap_job j = { .target = id, .mwait = mwait };
    EFI_EVENT ev;
    if (!start_ap(cpu, halt_proc, &j, &ev)) {
        tg_fail(name, "StartupThisAP failed");
        return;
    }
    if (!wait_flag(&j.ready, 5000)) {
        tg_fail(name, "the AP did not start the procedure");
        return;                                 /* it may still: leave it */
    }
    uint32_t base = count_of(id), i;
    for (i = 1; i <= HALT_NMIS; i++) {
        uefi_call_wrapper(BS->Stall, 1, 2000);  /* let it reach HLT again */
        if (!send_nmi(id) || !wait_count(id, base + i))
            break;
    }
    uint32_t got = count_of(id) - base;
    if (i <= HALT_NMIS)
        tg_fail(name, "NMI %u of %u did not wake the halted AP (handled %u)", i,
                HALT_NMIS, got);
    /* The last wake: the AP leaves once it has handled it. */
    j.last[id & (MAX_ID - 1)] = count_of(id) + 1;
    __atomic_store_n(&j.stop, 1, __ATOMIC_RELEASE);
    uefi_call_wrapper(BS->Stall, 1, 2000);
    send_nmi(id);
    if (!wait_flag(&j.done, 5000)) {
        tg_fail(name, "the AP did not leave HLT for its last NMI (handled %u)",
                count_of(id) - base);
        return;
    }
    finish_ap(ev);
    if (i > HALT_NMIS)
        tg_passf(name, "%u NMIs from the BSP each woke the AP (APIC ID 0x%x) from %s",
                 HALT_NMIS, id, mwait ? "MWAIT" : "HLT");
}

/* --------------------------------------------- NMIs under MOV SS / STI */

static void loop_movss(void)
{
    __asm__ volatile("xor %%eax, %%eax\n\t"
                     "mov %%ss, %%edx\n\t"
                     "mov %%edx, %%ss\n\t"       /* blocks NMIs up to after... */
                     "cpuid\n\t"                 /* ...this instruction, which exits */
                     : : : "rax", "rbx", "rcx", "rdx", "memory");
}

static void loop_sti(void)
{
    __asm__ volatile("xor %%eax, %%eax\n\t"
                     "cli\n\t"
                     "sti\n\t"                   /* IF was 0: blocking by STI */
                     "cpuid\n\t"
                     : : : "rax", "rbx", "rcx", "rdx", "memory", "cc");
}

static void check_loop(const char *name, UINTN cpu, void (*body)(void))
{
    uint32_t me = tg_apic_id();
    struct ap_job j = { .target = me, .base = count_of(me), .nmis = LOOP_NMIS };
    EFI_EVENT ev;
    if (!start_ap(cpu, send_proc, &j, &ev)) {
        tg_fail(name, "StartupThisAP failed");
        return;
    }
    uint64_t flags;
    __asm__ volatile("pushfq; pop %0" : "=r"(flags));
    while (!__atomic_load_n(&j.done, __ATOMIC_ACQUIRE)) {
        for (int k = 0; k < 16; k++)
            body();
    }
    __asm__ volatile("push %0; popfq" : : "r"(flags) : "memory", "cc");
    finish_ap(ev);
    uefi_call_wrapper(BS->Stall, 1, 10000);
    uint32_t got = count_of(me) - j.base;
    if (j.failed_at)
        tg_fail(name, "NMI %u of %u from the AP was not taken (handled %u)", j.failed_at,
                LOOP_NMIS, got);
    else if (got != LOOP_NMIS)
        tg_fail(name, "the AP sent %u NMIs, the handler ran %u times", LOOP_NMIS, got);
    else
        tg_passf(name, "%u NMIs from an AP, each handled once", LOOP_NMIS);
}

/* ------------------------------------------ one NMI, several targets */

static uint32_t ap_ids[MAX_ID];
static unsigned nap;

/* Every AP halts; the BSP sends HALT_NMIS NMIs, each to all of them at once
 * (the all-excluding-self shorthand, or a flat logical mask as Linux's
 * nmi_backtrace sends on up to 8 CPUs): every AP takes each one. */
static void check_multi(const char *name, bool logical)
{
    struct ap_job j = { .logical = logical };
    uint32_t base[MAX_ID], mask = 0, extra;
    EFI_EVENT ev;
    if (apic.x2 && logical) {
        tg_skip(name, "x2APIC: no flat logical mode");
        return;
    }
    for (unsigned a = 0; a < nap; a++) {
        base[a] = count_of(ap_ids[a]);
        mask |= 1u << ap_ids[a];
    }
    extra = logical ? ICR_DEST_LOGICAL : ICR_ALL_BUT_SELF;
    if (EFI_ERROR(uefi_call_wrapper(BS->CreateEvent, 5, 0, TPL_CALLBACK, NULL, NULL, &ev)) ||
        EFI_ERROR(uefi_call_wrapper(mp->StartupAllAPs, 7, mp, halt_proc, FALSE, ev, (UINTN)0,
                                    &j, NULL))) {
        tg_fail(name, "StartupAllAPs failed");
        return;
    }
    for (unsigned ms = 0; ms < 5000 && __atomic_load_n(&j.ready, __ATOMIC_ACQUIRE) < nap; ms++)
        uefi_call_wrapper(BS->Stall, 1, 1000);
    if (j.ready < nap) {
        tg_fail(name, "%u of %u APs started the procedure", j.ready, nap);
        return;                                 /* they may still: leave them */
    }
    uint32_t i, short_ap = 0;
    bool ok = true;
    for (i = 1; i <= HALT_NMIS && ok; i++) {
        uefi_call_wrapper(BS->Stall, 1, 2000);
        if (!send_nmi_icr(logical ? mask : 0, extra))
            break;
        for (unsigned a = 0; a < nap && ok; a++) {
            if (!wait_count(ap_ids[a], base[a] + i)) {
                ok = false;
                short_ap = a;
            }
        }
    }
    for (unsigned a = 0; a < nap; a++)          /* the last wake, as in check_halted */
        j.last[ap_ids[a]] = count_of(ap_ids[a]) + 1;
    __atomic_store_n(&j.stop, 1, __ATOMIC_RELEASE);
    uefi_call_wrapper(BS->Stall, 1, 2000);
    send_nmi_icr(logical ? mask : 0, extra);
    for (unsigned ms = 0; ms < 5000 && __atomic_load_n(&j.done, __ATOMIC_ACQUIRE) < nap; ms++)
        uefi_call_wrapper(BS->Stall, 1, 1000);
    if (j.done < nap) {
        tg_fail(name, "%u of %u APs left HLT for the last NMI", j.done, nap);
        return;
    }
    finish_ap(ev);
    if (!ok)
        tg_fail(name, "NMI %u of %u: AP APIC ID 0x%x took %u", i - 1, HALT_NMIS,
                ap_ids[short_ap], count_of(ap_ids[short_ap]) - base[short_ap]);
    else
        tg_passf(name, "%u NMIs, each taken by all %u halted APs", HALT_NMIS, nap);
}

/* --------------------------------------------------------------- setup */

/* The first enabled AP: its MP-services number and APIC ID; every AP's APIC
 * ID in ap_ids[]. */
static bool first_ap(UINTN *cpu, uint32_t *id)
{
    UINTN count = 0, enabled = 0;
    if (EFI_ERROR(uefi_call_wrapper(mp->GetNumberOfProcessors, 3, mp, &count, &enabled)))
        return false;
    for (UINTN i = 0; i < count; i++) {
        TG_PROCESSOR_INFORMATION info;
        SetMem(&info, sizeof info, 0);
        if (EFI_ERROR(uefi_call_wrapper(mp->GetProcessorInfo, 3, mp, i, &info)))
            continue;
        if ((info.StatusFlag & 3) != 2)         /* enabled, not the BSP */
            continue;
        if (info.ProcessorId >= MAX_ID)
            return false;
        if (nap == 0) {
            *cpu = i;
            *id = (uint32_t)info.ProcessorId;
        }
        ap_ids[nap++] = (uint32_t)info.ProcessorId;
    }
    return nap > 0;
}

static void run(void)
{
    uint64_t base = tg_rdmsr(MSR_APIC_BASE);
    unsigned maxphy = tg_cpuid(0x80000008u, 0).eax & 0xff;
    if (!(base & APIC_BASE_EN)) {
        tg_fail("setup", "local APIC disabled");
        return;
    }
    apic.x2 = (base & APIC_BASE_EXTD) != 0;
    apic.mmio = base & ((1ull << maxphy) - 1) & ~0xfffull;
    tg_note("APIC in %s mode", apic.x2 ? "x2APIC" : "xAPIC");
    if (tg_apic_id() >= MAX_ID || !idt_build()) {
        tg_fail("setup", "APIC ID above %u or IDT larger than a page", MAX_ID - 1);
        return;
    }

    struct dtr saved;
    sidt(&saved);
    lidt(&idt_ptr);
    check_self();

    mp = tg_mp_services();
    UINTN cpu = 0;
    uint32_t id = 0;
    if (mp == NULL || !first_ap(&cpu, &id)) {
        tg_skip("halted-wake", "no AP");
        tg_skip("mwait-wake", "no AP");
        tg_skip("nmi-movss", "no AP");
        tg_skip("nmi-sti", "no AP");
        tg_skip("nmi-all-but-self", "no AP");
        tg_skip("nmi-logical", "no AP");
    } else {
        check_halted("halted-wake", cpu, id, false);
        if (tg_cpuid(1, 0).ecx & (1u << 3))        /* MONITOR/MWAIT */
            check_halted("mwait-wake", cpu, id, true);
        else
            tg_skip("mwait-wake", "no MONITOR/MWAIT");
        check_multi("nmi-all-but-self", false);
        check_multi("nmi-logical", true);
        check_loop("nmi-movss", cpu, loop_movss);
        check_loop("nmi-sti", cpu, loop_sti);
    }
    lidt(&saved);
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
    tg_init(image, systab, "nmi");
    run();
    return tg_summary() != 0 ? EFI_ABORTED : EFI_SUCCESS;
}
