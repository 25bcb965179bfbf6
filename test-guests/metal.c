/* metal.efi: the differential guest (M6). It prints what the processor does
 * around the instructions Lamina emulates or refuses, one observation per
 * line ("metal: obs ..."), the same program run natively and under Lamina;
 * the system scenario bochs-metal compares the two logs line by line, with
 * an allow-list for what Lamina shows on purpose (the hypervisor bit and its
 * signature leaf). It also checks each observation against the SDM
 * ("metal: PASS/FAIL ...") so that a native run says what hardware gives.
 *
 * Covered (M6 item 4): the single-step #DB over CPUID, IN, OUT, RDMSR,
 * WRMSR, XSETBV, REP OUTSB and over CPUID in a MOV SS shadow (vector, DR6, RIP delta);
 * an I/O breakpoint (DR7, CR4.DE) over a port access; a data breakpoint over
 * REP INSB's stores and over a store to the xAPIC page (which Lamina
 * performs itself with two CPUs); RF in the frame of the #GP from a bad CR4 write.
 * The ports and MSRs used (0x80, IA32_SYSENTER_CS) are trapped under Lamina
 * by the scenario's `io log` and `msr log` rules, so the monitor emulates
 * each access; natively they are plain.
 *
 * With two CPUs, AP 1 makes every observation too ("ap1-" names).
 *
 * Interrupts are off during each observation; the #DB and #GP handlers are
 * ours, in a copy of the firmware's IDT (the rest of it unchanged). */
#include "test-guests/lib/tg.h"

#define HIDDEN __attribute__((visibility("hidden")))
#define TF      (1ull << 8)
#define RF      (1ull << 16)
#define DR6_BS  (1ull << 14)
#define DR6_SEEN 0xe00full              /* BD BS BT and B0-B3: what a #DB reports */
#define CR4_DE  (1ull << 3)
#define CR4_OSXSAVE (1ull << 18)
#define CR4_VMXE (1ull << 13)
#define PORT    0x80
#define MSR_SYSENTER_CS 0x174

/* What the handlers saw (tg's fault catcher knows no #DB). */
HIDDEN volatile uint64_t metal_db_count, metal_db_dr6, metal_db_rip, metal_db_rflags,
    metal_db_rcx;
HIDDEN volatile uint64_t metal_gp_count, metal_gp_err, metal_gp_rip, metal_gp_rflags,
    metal_gp_resume;
HIDDEN volatile uint64_t metal_mark;    /* the address an observation measures RIP from */

/* #DB: note it, clear TF in the frame (one trap per observation), DR6 back
 * to its initial value, return. #GP: note it, resume at metal_gp_resume. */
__asm__(".text\n"
        ".globl metal_db_stub\n.hidden metal_db_stub\n"
        "metal_db_stub:\n"
        "  push %rax\n"
        "  mov %dr6, %rax\n"
        "  mov %rax, metal_db_dr6(%rip)\n"
        "  mov 8(%rsp), %rax\n"
        "  mov %rax, metal_db_rip(%rip)\n"
        "  mov 24(%rsp), %rax\n"
        "  mov %rax, metal_db_rflags(%rip)\n"
        "  mov %rcx, metal_db_rcx(%rip)\n"
        "  andq $-257, 24(%rsp)\n"
        "  incq metal_db_count(%rip)\n"
        "  mov $0xffff0ff0, %eax\n"
        "  mov %rax, %dr6\n"
        "  pop %rax\n"
        "  iretq\n"
        ".globl metal_gp_stub\n.hidden metal_gp_stub\n"
        "metal_gp_stub:\n"
        "  push %rax\n"
        "  mov 8(%rsp), %rax\n"
        "  mov %rax, metal_gp_err(%rip)\n"
        "  mov 16(%rsp), %rax\n"
        "  mov %rax, metal_gp_rip(%rip)\n"
        "  mov 32(%rsp), %rax\n"
        "  mov %rax, metal_gp_rflags(%rip)\n"
        "  mov metal_gp_resume(%rip), %rax\n"
        "  mov %rax, 16(%rsp)\n"
        "  incq metal_gp_count(%rip)\n"
        "  pop %rax\n"
        "  add $8, %rsp\n"
        "  iretq\n");
void metal_db_stub(void);
void metal_gp_stub(void);

struct __attribute__((packed)) dtr { uint16_t limit; uint64_t base; };
struct gate { uint16_t off0, sel; uint8_t ist, type; uint16_t off1; uint32_t off2, zero; };

static struct gate idt[256] __attribute__((aligned(16)));
static struct dtr old_idtr;

static void set_gate(unsigned v, void (*fn)(void))
{
    uint64_t a = (uint64_t)(uintptr_t)fn;
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    idt[v] = (struct gate){ .off0 = (uint16_t)a, .sel = cs, .ist = 0, .type = 0x8e,
                            .off1 = (uint16_t)(a >> 16), .off2 = (uint32_t)(a >> 32) };
}

static uint64_t ours_on(void)
{
    uint64_t f;
    __asm__ volatile("pushfq; pop %0; cli" : "=r"(f) :: "memory");
    __asm__ volatile("sidt %0" : "=m"(old_idtr));
    size_t n = (size_t)old_idtr.limit + 1;
    if (n > sizeof(idt))
        n = sizeof(idt);
    __builtin_memcpy(idt, (void *)(uintptr_t)old_idtr.base, n);
    set_gate(1, metal_db_stub);
    set_gate(13, metal_gp_stub);
    struct dtr d = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };
    __asm__ volatile("lidt %0" :: "m"(d) : "memory");
    metal_db_count = metal_gp_count = 0;
    metal_db_dr6 = metal_db_rip = metal_db_rflags = metal_db_rcx = 0;
    metal_gp_err = metal_gp_rip = metal_gp_rflags = 0;
    return f;
}

static void ours_off(uint64_t f)
{
    __asm__ volatile("lidt %0" :: "m"(old_idtr) : "memory");
    if (f & (1u << 9))
        __asm__ volatile("sti" ::: "memory");
}

static void write_dr7(uint64_t v) { __asm__ volatile("mov %0, %%dr7" :: "r"(v)); }
static void write_dr(unsigned n, uint64_t v)
{
    switch (n) {
    case 0: __asm__ volatile("mov %0, %%dr0" :: "r"(v)); break;
    case 1: __asm__ volatile("mov %0, %%dr1" :: "r"(v)); break;
    }
}

/* ------------------------------------------------------ TF over one instruction
 * POPF sets TF (no trap after POPF itself, SDM 3A 18.3.1.4); the instruction
 * runs; the trap comes after it, at the label that follows it (metal_mark). */
#define STEP_OVER(insn, ...)                                                  \
    __asm__ volatile("lea 1f(%%rip), %%r8\n\tmov %%r8, metal_mark(%%rip)\n\t"  \
                     "pushfq\n\torq $0x100, (%%rsp)\n\tpopfq\n\t"             \
                     insn "\n"                                                \
                     "1:\tnop\n\tnop\n"                                       \
                     __VA_ARGS__)

static void step_cpuid(uint32_t leaf)
{
    uint64_t a = leaf, c = 0;
    STEP_OVER("cpuid", : "+a"(a), "+c"(c) : : "rbx", "rdx", "r8", "memory", "cc");
}

static void step_in(void)
{
    uint64_t a = 0;
    STEP_OVER("inb $0x80, %%al", : "+a"(a) : : "r8", "memory", "cc");
}

static void step_out(void)
{
    uint64_t a = 0x4d;
    STEP_OVER("outb %%al, $0x80", : "+a"(a) : : "r8", "memory", "cc");
}

static uint64_t sysenter_cs;

static void step_rdmsr(void)
{
    uint64_t a, c = MSR_SYSENTER_CS, d;
    STEP_OVER("rdmsr", : "=a"(a), "+c"(c), "=d"(d) : : "r8", "memory", "cc");
    sysenter_cs = (d << 32) | (uint32_t)a;
}

static void step_wrmsr(void)
{
    uint64_t a = (uint32_t)sysenter_cs, c = MSR_SYSENTER_CS, d = sysenter_cs >> 32;
    STEP_OVER("wrmsr", : "+a"(a), "+c"(c), "+d"(d) : : "r8", "memory", "cc");
}

/* XSETBV of XCR0's own value, with CR4.OSXSAVE set for it (the firmware
 * leaves it clear; it is the guest's bit, no exit under Lamina). */
static void step_xsetbv(void)
{
    uint64_t x = tg_xgetbv(0);
    uint64_t a = (uint32_t)x, c = 0, d = x >> 32;
    STEP_OVER("xsetbv", : "+a"(a), "+c"(c), "+d"(d) : : "r8", "memory", "cc");
}

/* MOV SS holds the trap it would take until after the next instruction
 * (SDM 3A 7.8.3): one #DB, after CPUID. */
static void step_movss_cpuid(void)
{
    uint64_t a = 0, c = 0;
    __asm__ volatile("lea 1f(%%rip), %%r8\n\tmov %%r8, metal_mark(%%rip)\n\t"
                     "mov %%ss, %%r9\n\t"
                     "pushfq\n\torq $0x100, (%%rsp)\n\tpopfq\n\t"
                     "mov %%r9, %%ss\n\t"
                     "cpuid\n"
                     "1:\tnop\n\tnop\n"
                     : "+a"(a), "+c"(c) : : "rbx", "rdx", "r8", "r9", "memory", "cc");
}

static const char *prefix = "";     /* "" on the BSP, "ap1-" on AP 1 */

static const char *named(const char *name)
{
    static char buf[64];
    tg_snprintf(buf, sizeof(buf), "%s%s", prefix, name);
    return buf;
}

/* REP OUTSB of 3 bytes under TF: the trap comes after the first iteration
 * (SDM 3A 18.3.1.4), RIP still on the REP, 2 left; our handler clears TF,
 * so the REP then completes untraced. metal_mark: the REP itself. */
static void step_rep_outsb(void)
{
    uint64_t c = 3, d = PORT;
    const void *si = "abc";
    __asm__ volatile("lea 1f(%%rip), %%r8\n\tmov %%r8, metal_mark(%%rip)\n\t"
                     "pushfq\n\torq $0x100, (%%rsp)\n\tpopfq\n"
                     "1:\trep outsb\n\tnop\n"
                     : "+c"(c), "+S"(si) : "d"(d) : "r8", "memory", "cc");
}

static void observe_db(const char *name, void (*fn)(void), uint64_t want_dr6)
{
    name = named(name);
    uint64_t f = ours_on();
    fn();
    ours_off(f);
    long delta = metal_db_count ? (long)(metal_db_rip - metal_mark) : 0;
    uint64_t dr6 = metal_db_dr6 & DR6_SEEN;
    /* RCX only where it is a REP count (elsewhere it can be CPUID output). */
    char rcx[32] = "";
    if (fn == step_rep_outsb)
        tg_snprintf(rcx, sizeof(rcx), " rcx %lu", (unsigned long)metal_db_rcx);
    tg_note("obs %s db-count %lu dr6 0x%lx rip-delta %ld%s rf %lu", name,
            (unsigned long)metal_db_count, (unsigned long)dr6, delta, rcx,
            (unsigned long)((metal_db_rflags & RF) != 0));
    if (metal_db_count == 1 && dr6 == want_dr6 && delta == 0)
        tg_pass(name);
    else
        tg_fail(name, "wanted one #DB, dr6 0x%lx, rip-delta 0", (unsigned long)want_dr6);
}

/* ------------------------------------------------------------ breakpoints */

/* An I/O breakpoint on port 0x80 (DR0, R/W 10, 1 byte, L0; CR4.DE): a trap
 * after the OUT with B0 (SDM 3A 18.2.4). */
static void io_breakpoint(void)
{
    uint64_t cr4 = tg_read_cr4(), a = 0x4e;
    tg_write_cr4(cr4 | CR4_DE);
    write_dr(0, PORT);
    write_dr7(0x400 | 1 | (2u << 16));
    __asm__ volatile("lea 1f(%%rip), %%r8\n\tmov %%r8, metal_mark(%%rip)\n\t"
                     "outb %%al, $0x80\n"
                     "1:\tnop\n"
                     : "+a"(a) : : "r8", "memory", "cc");
    write_dr7(0x400);
    tg_write_cr4(cr4);
}

/* A write breakpoint on buf[1] (DR1, R/W 01, 1 byte, L1) under REP INSB of
 * 4 bytes: the trap follows the element that stored there, RIP still on
 * the REP (2 elements left); the REP then completes. */
static uint8_t buf[16];

static void data_breakpoint(void)
{
    uint64_t c = 4, d = PORT;
    void *di = buf;
    write_dr(1, (uint64_t)(uintptr_t)&buf[1]);
    write_dr7(0x400 | (1u << 2) | (1u << 20));
    __asm__ volatile("lea 1f(%%rip), %%r8\n\tmov %%r8, metal_mark(%%rip)\n"
                     "1:\trep insb\n\tnop\n"
                     : "+c"(c), "+D"(di) : "d"(d) : "r8", "memory", "cc");
    write_dr7(0x400);
}

static void observe_data_breakpoint(void)
{
    uint64_t f = ours_on();
    data_breakpoint();
    ours_off(f);
    long delta = metal_db_count ? (long)(metal_db_rip - metal_mark) : 0;
    uint64_t dr6 = metal_db_dr6 & DR6_SEEN;
    const char *name = named("dr7-data-rep-insb");
    tg_note("obs %s db-count %lu dr6 0x%lx rip-delta %ld rcx %lu rf %lu", name,
            (unsigned long)metal_db_count, (unsigned long)dr6, delta,
            (unsigned long)metal_db_rcx, (unsigned long)((metal_db_rflags & RF) != 0));
    if (metal_db_count == 1 && dr6 == 2 && delta == 0 && metal_db_rcx == 2)
        tg_pass(name);
    else
        tg_fail(name, "wanted one #DB with B1 on the REP, 2 elements left");
}

/* A write breakpoint (DR0, R/W 01, 4 bytes) on the xAPIC TPR, stored with
 * its own value: with two CPUs Lamina traps the xAPIC page and performs the
 * store itself. A trap after the MOV with B0. */
static volatile uint32_t *tpr;

static void apic_breakpoint(void)
{
    uint32_t v = *tpr;
    write_dr(0, (uint64_t)(uintptr_t)tpr);
    write_dr7(0x400 | 1 | (1u << 16) | (3u << 18));
    __asm__ volatile("lea 1f(%%rip), %%r8\n\tmov %%r8, metal_mark(%%rip)\n\t"
                     "movl %1, (%0)\n"
                     "1:\tnop\n"
                     : : "r"(tpr), "r"(v) : "r8", "memory", "cc");
    write_dr7(0x400);
}

static void observe_apic_breakpoint(void)
{
    uint64_t base = tg_rdmsr(0x1b);
    if (base & (1u << 10)) {
        tg_note("obs %s not-run x2apic", named("dr7-data-xapic-tpr"));
        return;
    }
    tpr = (volatile uint32_t *)(uintptr_t)((base & 0xffffff000ull) + 0x80);
    observe_db("dr7-data-xapic-tpr", apic_breakpoint, 1);
}

/* ------------------------------------------------------------ RF in a #GP */

/* MOV to CR4 of a value with reserved bit 63 (and VMXE, so that under Lamina
 * the write exits and the monitor raises the #GP): a fault, RF = 1 in the
 * frame (SDM 3A 18.3.1.1), RIP on the MOV. */
static void bad_cr4(void)
{
    uint64_t v = tg_read_cr4() | CR4_VMXE | (1ull << 63);
    __asm__ volatile("lea 2f(%%rip), %%r8\n\tmov %%r8, metal_gp_resume(%%rip)\n\t"
                     "lea 1f(%%rip), %%r8\n\tmov %%r8, metal_mark(%%rip)\n"
                     "1:\tmov %0, %%cr4\n"
                     "2:\tnop\n"
                     : : "r"(v) : "r8", "memory", "cc");
}

static void observe_gp(void)
{
    uint64_t f = ours_on();
    bad_cr4();
    ours_off(f);
    long delta = (long)(metal_gp_rip - metal_mark);
    const char *name = named("gp-bad-cr4");
    tg_note("obs %s gp-count %lu err 0x%lx rip-delta %ld rf %lu", name,
            (unsigned long)metal_gp_count, (unsigned long)metal_gp_err, delta,
            (unsigned long)((metal_gp_rflags & RF) != 0));
    if (metal_gp_count == 1 && delta == 0 && (metal_gp_rflags & RF))
        tg_pass(name);
    else
        tg_fail(name, "wanted one #GP on the MOV with RF set in its frame");
}

static void observe_io_breakpoint(void)
{
    observe_db("dr7-io-out", io_breakpoint, 1);
}

/* ------------------------------------------------------- above RAM (M6 item 1)
 * Reads and writes of guest-physical addresses above RAM up to
 * MAXPHYADDR-1, through a 1 GiB page of our own in a free PML4 slot (UC).
 * Natively they reach whatever decodes there (nothing: all ones); under a
 * monitor whose EPT ends at RAM they stopped the CPU (before M6 item 1, which
 * maps what lies above RAM on first touch). */
#define METAL_ABOVE_RAM 1

static uint64_t *high_pdpt;     /* allocated on the BSP, shared by the AP */
static unsigned high_slot;      /* PML4 index; 0: none */

static void above_ram_prepare(void)
{
    if (!METAL_ABOVE_RAM)
        return;
    EFI_PHYSICAL_ADDRESS pa = 0xffffffff;
    if (!(tg_cpuid(0x80000001, 0).edx & (1u << 26)) || (tg_read_cr4() & (1ull << 12)) ||
        EFI_ERROR(uefi_call_wrapper(BS->AllocatePages, 4, AllocateMaxAddress,
                                    EfiBootServicesData, (UINTN)1, &pa)))
        return;
    high_pdpt = (uint64_t *)(uintptr_t)pa;
    __builtin_memset(high_pdpt, 0, 4096);
    uint64_t cr3;
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    uint64_t *pml4 = (uint64_t *)(uintptr_t)(cr3 & 0x000ffffffffff000ull);
    for (unsigned i = 255; i > 1 && !high_slot; i--)
        if (!(pml4[i] & 1))
            high_slot = i;
}

static void observe_above_ram(void)
{
    if (!METAL_ABOVE_RAM) {
        tg_note("obs %s off", named("above-ram"));
        return;
    }
    if (!high_slot) {
        tg_note("obs %s not-run", named("above-ram"));
        return;
    }
    unsigned maxphy = tg_cpuid(0x80000008, 0).eax & 0xff;
    uint64_t top = 1ull << maxphy, cr3, cr0;
    /* 1 GiB pages (PS) at 4 GiB, at 64 GiB (if below the top) and the last
     * GiB below MAXPHYADDR, UC (PCD PWT). */
    uint64_t where[3] = { 1ull << 32, 1ull << 36, top - (1ull << 30) };
    for (unsigned i = 0; i < 3; i++)
        high_pdpt[i] = where[i] < top ? where[i] | 0x9b : 0;
    __asm__ volatile("mov %%cr3, %0; mov %%cr0, %1" : "=r"(cr3), "=r"(cr0));
    uint64_t *pml4 = (uint64_t *)(uintptr_t)(cr3 & 0x000ffffffffff000ull);
    __asm__ volatile("mov %0, %%cr0" :: "r"(cr0 & ~(1ull << 16)) : "memory");   /* WP off */
    pml4[high_slot] = (uint64_t)(uintptr_t)high_pdpt | 3;
    __asm__ volatile("mov %0, %%cr3; mov %1, %%cr0" :: "r"(cr3), "r"(cr0) : "memory");
    for (unsigned i = 0; i < 3; i++) {
        if (!high_pdpt[i])
            continue;
        volatile uint32_t *p = (volatile uint32_t *)(uintptr_t)
            (((uint64_t)high_slot << 39) + ((uint64_t)i << 30) + (1ull << 30) - 4);
        uint32_t before = *p;
        *p = 0x5a5a5a5a;
        uint32_t after = *p;
        tg_note("obs %s gpa 0x%llx read 0x%x after-write 0x%x", named("above-ram"),
                (unsigned long long)(where[i] + (1ull << 30) - 4), before, after);
    }
    __asm__ volatile("mov %0, %%cr0" :: "r"(cr0 & ~(1ull << 16)) : "memory");
    pml4[high_slot] = 0;
    __asm__ volatile("mov %0, %%cr3; mov %1, %%cr0" :: "r"(cr3), "r"(cr0) : "memory");
}

/* ------------------------------------------------- what Lamina shows on purpose */

static void identity(void)
{
    struct tg_cpuid c = tg_cpuid(1, 0);
    tg_note("obs cpuid-1 hypervisor-bit %u", (unsigned)(c.ecx >> 31));
    c = tg_cpuid(0x40000000, 0);
    tg_note("obs cpuid-40000000 %08x %08x %08x %08x", c.eax, c.ebx, c.ecx, c.edx);
}

static void step_cpuid_0(void) { step_cpuid(0); }
static void step_cpuid_hv(void) { step_cpuid(0x40000000); }

static void observe_all(void)
{
    observe_db("tf-cpuid-0", step_cpuid_0, DR6_BS);
    observe_db("tf-cpuid-40000000", step_cpuid_hv, DR6_BS);
    observe_db("tf-movss-cpuid", step_movss_cpuid, DR6_BS);
    observe_db("tf-in", step_in, DR6_BS);
    observe_db("tf-out", step_out, DR6_BS);
    observe_db("tf-rdmsr", step_rdmsr, DR6_BS);
    observe_db("tf-wrmsr", step_wrmsr, DR6_BS);
    observe_db("tf-rep-outsb", step_rep_outsb, DR6_BS);
    if (tg_cpuid(1, 0).ecx & (1u << 26)) {
        uint64_t cr4 = tg_read_cr4();
        tg_write_cr4(cr4 | CR4_OSXSAVE);
        observe_db("tf-xsetbv", step_xsetbv, DR6_BS);
        tg_write_cr4(cr4);
    } else {
        tg_note("obs %s not-run no-xsave", named("tf-xsetbv"));
    }
    observe_io_breakpoint();
    observe_data_breakpoint();
    observe_apic_breakpoint();
    observe_gp();
    observe_above_ram();
}

/* The same on AP 1 (an MP-services procedure: serial output only). */
static volatile bool ap_done;

static void EFIAPI ap_proc(void *arg)
{
    (void)arg;
    observe_all();
    ap_done = true;
}

static void observe_ap(void)
{
    TG_MP_SERVICES *mp = tg_mp_services();
    UINTN count = 0, enabled = 0;
    if (!mp || EFI_ERROR(uefi_call_wrapper(mp->GetNumberOfProcessors, 3, mp, &count, &enabled)) ||
        enabled < 2) {
        tg_note("obs ap1 none");
        return;
    }
    prefix = "ap1-";
    EFI_STATUS st = uefi_call_wrapper(mp->StartupThisAP, 7, mp, ap_proc, (UINTN)1, NULL,
                                      (UINTN)20000000, NULL, NULL);
    prefix = "";
    if (EFI_ERROR(st) || !ap_done)
        tg_fail("ap1", "StartupThisAP: status 0x%llx", (unsigned long long)st);
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
    tg_init(image, systab, "metal");
    identity();
    above_ram_prepare();
    observe_all();
    observe_ap();
    return tg_summary() ? EFI_ABORTED : EFI_SUCCESS;
}
