/* hostile.efi: a guest that tries to escape from Lamina or tamper with it.
 *
 * Each attack prints "hostile: BLOCKED <name> <what was seen>" or
 * "hostile: ESCAPED <name> <what was seen>", decided from what the guest can
 * observe (a fault and its vector, a value read back, a status code, the
 * monitor still answering), then "hostile: done" and "N passed, N failed"
 * (BLOCKED counts as passed). Many attacks end by checking that the monitor
 * still answers CPUID leaf 0x40000000 and the VERSION hypercall; the last
 * line of checks does that once more.
 *
 * The lamina.conf it expects (tests/system/run.sh, scenario bochs-hostile):
 *   io  deny 0x70-0x71 write    CMOS: REP INSB from 0x71 into monitor memory
 *   io  deny 0x3ff write        COM1 scratch: denied writes leave it as it was
 *   io  log  0x80 write         POST port: event values show what OUTS read
 *   msr lock 0xc0000082         IA32_LSTAR
 *   msr deny 0x1d9 write        IA32_DEBUGCTL
 *   hypercall-user no
 * LoadOptions "triple-fault": skip the attacks, load a zero-limit IDT and
 * fault (the monitor must log the triple fault and, by default, reset the
 * machine: M6). LoadOptions "kbc-reset": skip the attacks and reset the
 * machine through the 8042 (command 0xfe on port 0x64), as Linux reboot=k.
 */
#include "test-guests/lib/tg.h"
#include "core/lamina_hypercall.h"

#define LAMINA_SIGNATURE      "LaminaLamina"
#define LAMINA_MONITOR_MARKER "LAMINA-MONITOR!!"
#define PAGE                  4096ull

#define CR0_NE        (1ull << 5)
#define CR0_PG        (1ull << 31)
#define CR4_VMXE      (1ull << 13)
#define CR4_LA57      (1ull << 12)

#define MSR_TSC              0x10
#define MSR_APIC_BASE        0x1b
#define MSR_FEATURE_CONTROL  0x3a
#define MSR_BIOS_UPDT_TRIG   0x79
#define MSR_BIOS_SIGN_ID     0x8b
#define MSR_MTRRCAP          0xfe
#define MSR_SMRR_PHYSBASE    0x1f2
#define MSR_SMRR_PHYSMASK    0x1f3
#define MSR_DEBUGCTL         0x1d9
#define MSR_MTRR_PHYSBASE(n) (0x200 + 2 * (n))
#define MSR_MTRR_PHYSMASK(n) (0x201 + 2 * (n))
#define MSR_MTRR_FIX64K      0x250
#define MSR_PAT              0x277
#define MSR_MTRR_DEFTYPE     0x2ff
#define MSR_VMX_FIRST        0x480
#define MSR_VMX_LAST         0x491
#define MSR_X2APIC_ICR       0x830
#define MSR_LSTAR            0xc0000082
#define MSR_KERNEL_GS_BASE   0xc0000102
#define APIC_BASE_EN         (1ull << 11)
#define APIC_BASE_EXTD       (1ull << 10)

/* The ports and MSRs of the expected lamina.conf. */
#define PORT_CMOS_DATA   0x71
#define PORT_DENIED      0x3ff
#define PORT_LOGGED      0x80

/* Our own page tables: the firmware's PML4 entries plus one slot of ours
 * (UBASE) with the mappings below. Firmware maps everything supervisor-only;
 * ours are user-accessible where CPL 3 needs them. */
#define PTE_P    (1ull << 0)
#define PTE_RW   (1ull << 1)
#define PTE_US   (1ull << 2)
#define PTE_PWT  (1ull << 3)
#define PTE_PCD  (1ull << 4)
#define PTE_PS   (1ull << 7)
#define PT_USER_CODE   0    /* and 1: the page(s) of tg_user_vmcall */
#define PT_USER_STACK  2
#define PT_MON_ALIAS   3    /* the monitor's first page, read/write */
#define PT_BUF         4    /* a page of ours; 5 is not present */
#define PT_HOLE        5
#define PT_READONLY    6    /* a page of ours, read-only */
#define PT_MON_UC      7    /* the monitor's first page, PCD|PWT */

static uint64_t ubase;              /* VA of our PML4 slot */
static uint64_t my_cr3, fw_cr3;
static uint64_t *pml4, *pdpt, *pd, *pt;
static uint8_t *buf_page, *ro_page, *stack_page;
static bool have_1g;

static bool hv_present;
static struct tg_region hidden[16]; /* reserved regions that do not keep what is written */
static int nhidden;
static uint64_t mon_pa;             /* the first of them: where the marker would be */

static uint8_t page_buf[PAGE] __attribute__((aligned(16)));

/* ------------------------------------------------------------ helpers */

static bool has_marker(const uint8_t *p, size_t len)
{
    const size_t m = sizeof(LAMINA_MONITOR_MARKER) - 1;
    for (size_t i = 0; i + m <= len; i++)
        if (p[i] == 'L' && tg_mem_eq(p + i, LAMINA_MONITOR_MARKER, m))
            return true;
    return false;
}

static void verdict(const char *name, bool blocked, const char *fmt, ...) TG_PRINTF(3, 4);
static void verdict(const char *name, bool blocked, const char *fmt, ...)
{
    char b[400];
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    tg_vsnprintf(b, sizeof b, fmt, ap);
    __builtin_va_end(ap);
    if (blocked)
        tg_passf(name, "%s", b);
    else
        tg_fail(name, "%s", b);
}

struct hcall {
    uint64_t rax, rbx, rdi, rsi, rdx;
};

static void op_hcall(void *p)
{
    struct hcall *h = p;
    __asm__ volatile("vmcall"
                     : "+a"(h->rax), "+D"(h->rdi), "+S"(h->rsi), "+d"(h->rdx)
                     : "b"(h->rbx)
                     : "memory", "cc");
}

/* A hypercall under tg_try: returns the vector raised or -1; h holds the
 * registers afterwards. */
static int hcall(uint64_t fn, uint64_t rdi, uint64_t rsi, uint64_t rdx, struct hcall *h)
{
    *h = (struct hcall){ fn, LAMINA_HC_MAGIC, rdi, rsi, rdx };
    return tg_try(op_hcall, h, NULL);
}

static const char *status_name(int64_t s)
{
    switch (s) {
    case LAMINA_OK:       return "OK";
    case LAMINA_E_NOFUNC: return "E_NOFUNC";
    case LAMINA_E_PERM:   return "E_PERM";
    case LAMINA_E_INVAL:  return "E_INVAL";
    case LAMINA_E_FAULT:  return "E_FAULT";
    case LAMINA_E_RANGE:  return "E_RANGE";
    default:              return "unknown";
    }
}

/* The monitor still answers: its CPUID leaf and the VERSION hypercall. */
static bool monitor_ok(char *why, size_t n)
{
    struct tg_cpuid r = tg_cpuid(0x40000000u, 0);
    uint32_t w[3] = { r.ebx, r.ecx, r.edx };
    if (!tg_mem_eq(w, LAMINA_SIGNATURE, 12)) {
        tg_snprintf(why, n, "CPUID 0x40000000 no longer gives the signature (eax 0x%x)", r.eax);
        return false;
    }
    struct hcall h;
    int v = hcall(LAMINA_HC_VERSION, 0, 0, 0, &h);
    if (v >= 0) {
        tg_snprintf(why, n, "VERSION hypercall raised %s", tg_vector_name(v));
        return false;
    }
    if ((int64_t)h.rax != LAMINA_OK || (uint32_t)h.rdi != LAMINA_HC_ABI_VERSION) {
        tg_snprintf(why, n, "VERSION hypercall: status %lld abi 0x%llx", (long long)h.rax,
                    (unsigned long long)h.rdi);
        return false;
    }
    tg_snprintf(why, n, "monitor answers");
    return true;
}

/* verdict() where BLOCKED also needs the monitor to be intact afterwards. */
static void verdict_alive(const char *name, bool blocked, const char *detail)
{
    char why[120];
    bool ok = monitor_ok(why, sizeof why);
    verdict(name, blocked && ok, "%s; %s", detail, why);
}

static void op_read8(void *p)
{
    uint64_t *a = p;
    a[1] = *(volatile uint64_t *)a[0];
}

static void load_cr3(uint64_t v)
{
    __asm__ volatile("mov %0, %%cr3" :: "r"(v) : "memory");
}

/* tg_try with our page tables loaded. */
static int try_mine(void (*fn)(void *), void *arg, struct tg_fault *f)
{
    load_cr3(my_cr3);
    int v = tg_try(fn, arg, f);
    load_cr3(fw_cr3);
    return v;
}

/* ------------------------------------------------------ set-up */

static void *alloc_pages(UINTN n)
{
    EFI_PHYSICAL_ADDRESS a = 0;
    if (EFI_ERROR(uefi_call_wrapper(BS->AllocatePages, 4, AllocateAnyPages, EfiLoaderData, n, &a)))
        return NULL;
    __builtin_memset((void *)(uintptr_t)a, 0, n * PAGE);
    return (void *)(uintptr_t)a;
}

/* Reserved regions whose first page does not keep a value written to it:
 * the EPT hides them (monitor memory). The others (firmware's) get their
 * bytes back. Interrupts are held off while firmware memory holds ours. */
static void find_hidden(void)
{
    static struct tg_region r[64];
    uint64_t ram_end;
    int n = tg_reserved_regions(r, 64, &ram_end);
    static const uint8_t pat[8] = { 'h', 'o', 's', 't', 'i', 'l', 'e', '!' };
    for (int i = 0; i < n && nhidden < 16; i++) {
        uint8_t saved[8], back[8];
        EFI_TPL old = uefi_call_wrapper(BS->RaiseTPL, 1, TPL_HIGH_LEVEL);
        int v1 = tg_try_read(r[i].base, saved, 8, NULL);
        int v2 = tg_try_write(r[i].base, pat, 8, NULL);
        int v3 = tg_try_read(r[i].base, back, 8, NULL);
        bool kept = v1 < 0 && v2 < 0 && v3 < 0 && tg_mem_eq(back, pat, 8);
        if (kept)
            tg_try_write(r[i].base, saved, 8, NULL);
        uefi_call_wrapper(BS->RestoreTPL, 1, old);
        tg_note("reserved 0x%llx %llu pages: %s", (unsigned long long)r[i].base,
                (unsigned long long)r[i].pages, kept ? "ordinary (firmware)" : "hidden");
        if (!kept)
            hidden[nhidden++] = r[i];
    }
    mon_pa = nhidden > 0 ? hidden[0].base : 0;
}

static bool setup_paging(void)
{
    if (tg_read_cr4() & CR4_LA57)
        return false;
    __asm__ volatile("mov %%cr3, %0" : "=r"(fw_cr3));
    const uint64_t *fw = (const uint64_t *)(uintptr_t)(fw_cr3 & 0x000ffffffffff000ull);
    int slot = -1;
    for (int i = 255; i > 0; i--)
        if (!(fw[i] & PTE_P)) {
            slot = i;
            break;
        }
    uint64_t *mem = alloc_pages(7);
    if (slot < 0 || mem == NULL)
        return false;
    pml4 = mem;
    pdpt = mem + 512;
    pd = mem + 1024;
    pt = mem + 1536;
    buf_page = (uint8_t *)(mem + 2048);
    ro_page = (uint8_t *)(mem + 2560);
    stack_page = (uint8_t *)(mem + 3072);
    for (int i = 0; i < 512; i++)
        pml4[i] = fw[i];
    ubase = (uint64_t)slot << 39;
    const uint64_t up = PTE_P | PTE_RW | PTE_US;
    pml4[slot] = (uint64_t)pdpt | up;
    pdpt[0] = (uint64_t)pd | up;
    pd[0] = (uint64_t)pt | up;
    uint64_t code = (uint64_t)tg_user_vmcall & ~(PAGE - 1);
    pt[PT_USER_CODE] = code | PTE_P | PTE_US;
    pt[PT_USER_CODE + 1] = (code + PAGE) | PTE_P | PTE_US;
    pt[PT_USER_STACK] = (uint64_t)stack_page | up;
    pt[PT_BUF] = (uint64_t)buf_page | up;
    pt[PT_HOLE] = 0;
    pt[PT_READONLY] = (uint64_t)ro_page | PTE_P | PTE_US;
    if (mon_pa) {
        pt[PT_MON_ALIAS] = mon_pa | PTE_P | PTE_RW;
        pt[PT_MON_UC] = mon_pa | PTE_P | PTE_RW | PTE_PCD | PTE_PWT;
        /* ubase + 2 MiB: the monitor's first page used as a page table. */
        pd[1] = mon_pa | up;
        /* ubase + 4 MiB: a 2 MiB page over the monitor's first page. */
        pd[2] = (mon_pa & ~0x1fffffull) | PTE_P | PTE_RW | PTE_PS;
        /* ubase + 1 GiB: a 1 GiB page over it (SDM 3A 5.1.4: CPUID.80000001H:EDX[26]). */
        have_1g = (tg_cpuid(0x80000001u, 0).edx >> 26) & 1;
        if (have_1g)
            pdpt[1] = (mon_pa & ~0x3fffffffull) | PTE_P | PTE_RW | PTE_PS;
    }
    my_cr3 = (uint64_t)pml4 | (fw_cr3 & 0xfff);
    return true;
}

static uint64_t va(unsigned pt_index)
{
    return ubase + pt_index * PAGE;
}

/* ------------------------------------------------------- 0. policy */

/* First, so that their events are among the first the monitor prints
 * (after 64 it prints one in 1024; the system test looks for these). */
static void attacks_policy(void)
{
    char d[240];
    struct tg_fault f;
    int v;

    /* Locked MSR (msr lock 0xc0000082): the first write of the old value
     * passes, a different one then raises #GP and changes nothing. */
    uint64_t lstar = tg_rdmsr(MSR_LSTAR);
    int v1 = tg_try_wrmsr(MSR_LSTAR, lstar, NULL);
    int v2 = tg_try_wrmsr(MSR_LSTAR, lstar ^ 0x1000, &f);
    uint64_t after = tg_rdmsr(MSR_LSTAR);
    if (after != lstar)
        tg_try_wrmsr(MSR_LSTAR, lstar, NULL);
    tg_snprintf(d, sizeof d, "LSTAR 0x%llx: first write %s, second (0x%llx) %s, reads 0x%llx",
                (unsigned long long)lstar, v1 < 0 ? "passed" : tg_vector_name(v1),
                (unsigned long long)(lstar ^ 0x1000), v2 < 0 ? "passed" : tg_vector_name(v2),
                (unsigned long long)after);
    verdict_alive("msr-lock-rewrite", v1 < 0 && v2 == TG_VEC_GP && after == lstar, d);

    /* Denied MSR write (msr deny 0x1d9 write): refused, value unchanged. */
    uint64_t dbg = tg_rdmsr(MSR_DEBUGCTL);
    v = tg_try_wrmsr(MSR_DEBUGCTL, dbg | 1, &f);   /* LBR */
    uint64_t dbg2 = tg_rdmsr(MSR_DEBUGCTL);
    if (dbg2 != dbg)
        tg_try_wrmsr(MSR_DEBUGCTL, dbg, NULL);
    tg_snprintf(d, sizeof d, "WRMSR DEBUGCTL |= LBR: %s, 0x%llx -> 0x%llx",
                v < 0 ? "no fault" : tg_vector_name(v), (unsigned long long)dbg, (unsigned long long)dbg2);
    verdict_alive("msr-deny-write", v == TG_VEC_GP && dbg2 == dbg, d);

    /* A plain denied write. */
    uint8_t s0 = tg_inb(PORT_DENIED);
    tg_outb(PORT_DENIED, (uint8_t)~s0);
    uint8_t s1 = tg_inb(PORT_DENIED);
    verdict("io-denied-write", s0 == s1, "OUTB 0x%02x to port 0x%x: reads 0x%02x -> 0x%02x",
            (uint8_t)~s0, PORT_DENIED, s0, s1);

}

/* ------------------------------------------------ 1. monitor memory */

struct rw_op {
    uint64_t addr;
    size_t len;
    uint8_t *buf;
    uint8_t fill;
};

static void op_read_page(void *p)
{
    struct rw_op *o = p;
    for (size_t i = 0; i < o->len; i += 8)
        *(uint64_t *)(o->buf + i) = *(volatile const uint64_t *)(o->addr + i);
}

static void op_fill_page(void *p)
{
    struct rw_op *o = p;
    uint64_t v = 0x0101010101010101ull * o->fill;
    for (size_t i = 0; i < o->len; i += 8)
        *(volatile uint64_t *)(o->addr + i) = v;
}

/* Read a page at addr (through our tables if mine): shows the marker? */
static void attack_read(const char *name, uint64_t addr, bool mine)
{
    struct rw_op o = { addr, PAGE, page_buf, 0 };
    struct tg_fault f;
    __builtin_memset(page_buf, 0, PAGE);
    int v = mine ? try_mine(op_read_page, &o, &f) : tg_try(op_read_page, &o, &f);
    bool marker = has_marker(page_buf, PAGE);
    verdict(name, !marker, "read 0x%llx (monitor page 0x%llx): %s, %s", (unsigned long long)addr,
            (unsigned long long)mon_pa, v < 0 ? "completed" : tg_vector_name(v),
            marker ? "MONITOR MARKER VISIBLE" : "no marker");
}

/* Fill a page at addr with 0xcc, read it back: a hidden page must not keep
 * it, and the monitor must still answer. */
static void attack_write(const char *name, uint64_t addr, bool mine)
{
    struct rw_op w = { addr, PAGE, NULL, 0xcc }, r = { addr, PAGE, page_buf, 0 };
    struct tg_fault f;
    int v = mine ? try_mine(op_fill_page, &w, &f) : tg_try(op_fill_page, &w, &f);
    int v2 = mine ? try_mine(op_read_page, &r, NULL) : tg_try(op_read_page, &r, NULL);
    size_t kept = 0;
    for (size_t i = 0; i < PAGE; i++)
        kept += page_buf[i] == 0xcc;
    char d[160];
    tg_snprintf(d, sizeof d, "wrote 0x%llx: %s, read back %s with %u of 4096 bytes 0xcc",
                (unsigned long long)addr, v < 0 ? "completed" : tg_vector_name(v),
                v2 < 0 ? "completed" : tg_vector_name(v2), (unsigned)kept);
    verdict_alive(name, kept == 0, d);
}

static void attacks_memory(void)
{
    if (!mon_pa) {
        verdict("monmem-located", false, "no reserved region hides what is written to it: "
                "monitor memory is ordinary guest memory, or the hypervisor is absent");
        return;
    }
    int shown = 0;
    for (int i = 0; i < nhidden; i++) {
        struct rw_op o = { hidden[i].base, PAGE, page_buf, 0 };
        for (int k = 0; k < 2; k++) {
            o.addr = hidden[i].base + (k ? (hidden[i].pages - 1) * PAGE : 0);
            if (tg_try(op_read_page, &o, NULL) < 0 && has_marker(page_buf, PAGE))
                shown++;
        }
    }
    verdict("monmem-read-identity", shown == 0, "%d hidden regions, first and last pages "
            "read through the identity map: %d show the marker", nhidden, shown);
    attack_write("monmem-write-identity", mon_pa, false);
    attack_write("monmem-write-identity-last",
                 hidden[nhidden - 1].base + (hidden[nhidden - 1].pages - 1) * PAGE, false);
    if (!my_cr3) {
        tg_skip("monmem-alias", "no page tables of our own (LA57 or no free PML4 slot)");
        return;
    }
    attack_read("monmem-read-alias-4k", va(PT_MON_ALIAS), true);
    attack_write("monmem-write-alias-4k", va(PT_MON_ALIAS), true);
    attack_read("monmem-read-alias-uc", va(PT_MON_UC), true);
    attack_write("monmem-write-alias-uc", va(PT_MON_UC), true);
    uint64_t a2m = ubase + (2ull << 20) * 2 + (mon_pa & 0x1fffff);
    attack_read("monmem-read-alias-2m", a2m, true);
    attack_write("monmem-write-alias-2m", a2m, true);
    if (have_1g) {
        uint64_t a1g = ubase + (1ull << 30) + (mon_pa & 0x3fffffff);
        attack_read("monmem-read-alias-1g", a1g, true);
        attack_write("monmem-write-alias-1g", a1g, true);
    } else {
        tg_skip("monmem-alias-1g", "no 1 GiB pages");
    }

    /* The monitor's first page as a page table: every one of its 512
     * entries must look not-present (the guest's walk must not read it). */
    int translated = 0, pf = 0, other = 0;
    uint64_t first_ok = 0;
    for (int i = 0; i < 512; i++) {
        uint64_t a[2] = { ubase + (2ull << 20) + (uint64_t)i * PAGE, 0 };
        struct tg_fault f;
        int v = try_mine(op_read8, a, &f);
        if (v == TG_VEC_PF && !(f.error_code & 1))
            pf++;
        else if (v < 0) {
            if (!translated)
                first_ok = a[0];
            translated++;
        } else
            other++;
    }
    verdict("monmem-as-page-table", pf == 512, "512 entries: %d not-present #PF, %d translated "
            "(first 0x%llx), %d other faults", pf, translated, (unsigned long long)first_ok, other);
}

/* ----------------------------------------------- 2. VMX instructions */

static uint64_t vmcs_page[512] __attribute__((aligned(4096)));

static void op_vmxoff(void *p) { (void)p; __asm__ volatile("vmxoff" ::: "cc", "memory"); }
static void op_vmclear(void *p) { __asm__ volatile("vmclear %0" :: "m"(*(uint64_t *)p) : "cc", "memory"); }
static void op_vmptrld(void *p) { __asm__ volatile("vmptrld %0" :: "m"(*(uint64_t *)p) : "cc", "memory"); }
static void op_vmptrst(void *p) { __asm__ volatile("vmptrst %0" : "=m"(*(uint64_t *)p) :: "cc"); }
static void op_vmread(void *p)
{
    uint64_t field = 0x6c00, v;   /* HOST_CR0 */
    __asm__ volatile("vmread %1, %0" : "=r"(v) : "r"(field) : "cc");
    *(uint64_t *)p = v;
}
static void op_vmwrite(void *p)
{
    uint64_t field = 0x6c16;      /* HOST_RIP */
    __asm__ volatile("vmwrite %0, %1" :: "r"(*(uint64_t *)p), "r"(field) : "cc");
}
static void op_vmlaunch(void *p) { (void)p; __asm__ volatile("vmlaunch" ::: "cc", "memory"); }
static void op_vmresume(void *p) { (void)p; __asm__ volatile("vmresume" ::: "cc", "memory"); }
static void op_invept(void *p)
{
    uint64_t desc[2] = { *(uint64_t *)p, 0 };
    __asm__ volatile("invept %0, %1" :: "m"(desc), "r"(2ull) : "cc", "memory");
}
static void op_invvpid(void *p)
{
    (void)p;
    uint64_t desc[2] = { 0, 0 };
    __asm__ volatile("invvpid %0, %1" :: "m"(desc), "r"(2ull) : "cc", "memory");
}
/* VMFUNC (0f 01 d4) EPTP switching, and GETSEC (0f 37) CAPABILITIES. */
static void op_vmfunc(void *p) { (void)p; __asm__ volatile(".byte 0x0f, 0x01, 0xd4" :: "a"(0), "c"(0) : "memory"); }
static void op_getsec(void *p) { (void)p; __asm__ volatile(".byte 0x0f, 0x37" :: "a"(0), "b"(0) : "memory", "rcx", "rdx"); }

static void expect_ud(const char *name, void (*fn)(void *), void *arg)
{
    struct tg_fault f;
    int v = tg_try(fn, arg, &f);
    verdict(name, v == TG_VEC_UD, "raised %s%s", tg_vector_name(v),
            v == TG_VEC_UD ? " as on a CPU without VMX" : "");
}

static void op_write_cr(void *p)
{
    uint64_t *a = p;
    if (a[0] == 0)
        __asm__ volatile("mov %0, %%cr0" :: "r"(a[1]) : "memory");
    else
        __asm__ volatile("mov %0, %%cr4" :: "r"(a[1]) : "memory");
}

static void attacks_vmx(void)
{
    struct tg_fault f;
    int v = tg_try_vmxon(&f);
    verdict("vmxon", v == TG_VEC_UD, "raised %s", tg_vector_name(v));
    uint64_t pa = (uint64_t)vmcs_page, out = 0x1234;
    expect_ud("vmxoff", op_vmxoff, NULL);
    expect_ud("vmclear", op_vmclear, &pa);
    expect_ud("vmptrld", op_vmptrld, &pa);
    expect_ud("vmptrst", op_vmptrst, &out);
    expect_ud("vmread", op_vmread, &out);
    expect_ud("vmwrite", op_vmwrite, &pa);
    expect_ud("vmlaunch", op_vmlaunch, NULL);
    expect_ud("vmresume", op_vmresume, NULL);
    expect_ud("invept", op_invept, &pa);
    expect_ud("invvpid", op_invvpid, NULL);
    expect_ud("vmfunc", op_vmfunc, NULL);
    expect_ud("getsec", op_getsec, NULL);

    /* CR4.VMXE: reserved on a CPU without VMX, so #GP (SDM 2A MOV CR). */
    uint64_t cr4 = tg_read_cr4(), a[2] = { 4, cr4 | CR4_VMXE };
    v = tg_try(op_write_cr, a, &f);
    uint64_t after = tg_read_cr4();
    verdict("cr4-vmxe", v == TG_VEC_GP && after == cr4, "MOV CR4 |= VMXE raised %s, CR4 0x%llx -> 0x%llx",
            tg_vector_name(v), (unsigned long long)cr4, (unsigned long long)after);

    /* VMCALL as the loader: the devirtualize call with guessed secrets. */
    int ud = 0;
    /* (Not LAMINA_HC_MAGIC: with it this is a public hypercall, E_NOFUNC.) */
    static const uint64_t guesses[] = { 0, 1, ~0ull, 0x4c414d494e41ull };
    for (unsigned i = 0; i < sizeof guesses / sizeof guesses[0]; i++) {
        uint64_t rax = 0;
        if (tg_try_vmcall(0x4c4d0001u, guesses[i], 0, 0, &rax, NULL) == TG_VEC_UD)
            ud++;
    }
    bool still = (tg_cpuid(1, 0).ecx >> 31) & 1;
    verdict("vmcall-loader-devirt", ud == 4 && still, "%d of 4 guesses raised #UD, %s", ud,
            still ? "still virtualized" : "HYPERVISOR GONE");
}

/* ----------------------------------------------------------- 3. MSRs */

/* WRMSR must raise #GP and leave the MSR as it was (or unreadable); with
 * no_effect_ok a write that is dropped without #GP also counts as refused
 * (Bochs, ignore_bad_msrs, drops writes to MSRs it does not model). */
static void wrmsr_refused(const char *name, uint32_t msr, uint64_t value, bool no_effect_ok)
{
    uint64_t before = 0, after = 0;
    int rb = tg_try_rdmsr(msr, &before, NULL);
    struct tg_fault f;
    int v = tg_try_wrmsr(msr, value, &f);
    int ra = tg_try_rdmsr(msr, &after, NULL);
    bool same = rb == ra && (rb >= 0 || before == after);
    if (v < 0 && rb < 0)
        tg_try_wrmsr(msr, before, NULL);        /* it took: put it back */
    char d[200];
    tg_snprintf(d, sizeof d, "WRMSR 0x%x = 0x%llx raised %s; value 0x%llx -> 0x%llx", msr,
                (unsigned long long)value, tg_vector_name(v), (unsigned long long)before,
                (unsigned long long)after);
    verdict_alive(name, (v == TG_VEC_GP || (no_effect_ok && rb < 0 && ra < 0)) && same, d);
}

static void expect_wrmsr_gp(const char *name, uint32_t msr, uint64_t value)
{
    wrmsr_refused(name, msr, value, false);
}

static void attacks_msr(void)
{
    uint64_t fc = 0;
    tg_try_rdmsr(MSR_FEATURE_CONTROL, &fc, NULL);
    expect_wrmsr_gp("wrmsr-feature-control", MSR_FEATURE_CONTROL, fc | 0x5);

    int gp_r = 0, gp_w = 0;
    for (uint32_t m = MSR_VMX_FIRST; m <= MSR_VMX_LAST; m++) {
        uint64_t v = 0;
        if (tg_try_rdmsr(m, &v, NULL) == TG_VEC_GP)
            gp_r++;
        if (tg_try_wrmsr(m, ~0ull, NULL) == TG_VEC_GP)
            gp_w++;
    }
    int n = MSR_VMX_LAST - MSR_VMX_FIRST + 1;
    verdict("rdmsr-vmx-caps", gp_r == n, "%d of %d VMX capability MSRs raised #GP on RDMSR", gp_r, n);
    verdict("wrmsr-vmx-caps", gp_w == n, "%d of %d raised #GP on WRMSR", gp_w, n);

    /* MTRRs with values hardware refuses (SDM 3A 12.11.2.1, 12.11.2.3). */
    uint64_t def = tg_rdmsr(MSR_MTRR_DEFTYPE);
    expect_wrmsr_gp("mtrr-deftype-type2", MSR_MTRR_DEFTYPE, (def & ~0xffull) | 2);
    expect_wrmsr_gp("mtrr-deftype-type3", MSR_MTRR_DEFTYPE, (def & ~0xffull) | 3);
    expect_wrmsr_gp("mtrr-deftype-reserved", MSR_MTRR_DEFTYPE, def | (1ull << 20));
    unsigned vcnt = tg_rdmsr(MSR_MTRRCAP) & 0xff, free_idx = vcnt;
    for (unsigned i = 0; i < vcnt; i++)
        if (!(tg_rdmsr(MSR_MTRR_PHYSMASK(i)) & (1ull << 11))) {
            free_idx = i;
            break;
        }
    unsigned maxphy = tg_cpuid(0x80000008u, 0).eax & 0xff;
    if (free_idx < vcnt) {
        expect_wrmsr_gp("mtrr-physbase-above-maxphyaddr", MSR_MTRR_PHYSBASE(free_idx),
                        (1ull << maxphy) | 6);
        expect_wrmsr_gp("mtrr-physbase-bad-type", MSR_MTRR_PHYSBASE(free_idx), mon_pa | 2);
    } else {
        tg_skip("mtrr-physbase", "no free variable MTRR");
    }
    uint64_t fix = tg_rdmsr(MSR_MTRR_FIX64K);
    expect_wrmsr_gp("mtrr-fixed-bad-type", MSR_MTRR_FIX64K, (fix & ~0xffull) | 2);
    uint64_t pat = tg_rdmsr(MSR_PAT);
    expect_wrmsr_gp("pat-bad-type", MSR_PAT, (pat & ~0xffull) | 2);
    /* SMRR: writable in SMM only (SDM 3C, "System Management Mode": SMRR). */
    wrmsr_refused("smrr-physbase", MSR_SMRR_PHYSBASE, mon_pa | 6, true);
    wrmsr_refused("smrr-physmask", MSR_SMRR_PHYSMASK, 0xfffff800ull, true);
}

/* ----------------------------------------------------- 4. hypercalls */

static struct lamina_stats stats_buf;

static void expect_status(const char *name, uint64_t fn, uint64_t rdi, uint64_t rsi,
                          uint64_t rdx, int64_t want, int64_t also, const char *what)
{
    struct hcall h;
    int v = hcall(fn, rdi, rsi, rdx, &h);
    int64_t s = (int64_t)h.rax;
    bool ok = v < 0 && (s == want || s == also) && h.rdi == rdi && h.rsi == rsi && h.rdx == rdx;
    char d[240];
    if (v >= 0)
        tg_snprintf(d, sizeof d, "%s: raised %s", what, tg_vector_name(v));
    else
        tg_snprintf(d, sizeof d, "%s: status %lld (%s), want %s%s%s%s", what, (long long)s,
                    status_name(s), status_name(want), also != want ? " or " : "",
                    also != want ? status_name(also) : "",
                    (h.rdi != rdi || h.rsi != rsi || h.rdx != rdx) ? ", RESULT REGISTERS CHANGED" : "");
    verdict_alive(name, ok, d);
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return false;
    return true;
}

static void op_user_dummy(void *p) { (void)p; }

static void attacks_hypercall(void)
{
    struct hcall h;
    struct tg_fault f;
    char d[200];

    h = (struct hcall){ LAMINA_HC_VERSION, LAMINA_HC_MAGIC ^ 1, 0, 0, 0 };
    int v = tg_try(op_hcall, &h, &f);
    verdict("hc-wrong-magic", v == TG_VEC_UD, "VMCALL with RBX = magic ^ 1 raised %s",
            tg_vector_name(v));

    expect_status("hc-bad-function", 0x7fffffffu, 0, 0, 0, LAMINA_E_NOFUNC, LAMINA_E_NOFUNC,
                  "function 0x7fffffff");
    expect_status("hc-bad-function-high", 1ull << 63 | LAMINA_HC_STATS, LAMINA_ALL_CPUS,
                  (uint64_t)&stats_buf, sizeof stats_buf, LAMINA_E_NOFUNC, LAMINA_E_NOFUNC,
                  "function 2^63 + STATS");
    expect_status("hc-stats-bad-cpu", LAMINA_HC_STATS, 4096, (uint64_t)&stats_buf,
                  sizeof stats_buf, LAMINA_E_INVAL, LAMINA_E_INVAL, "STATS for cpu 4096");
    expect_status("hc-readlog-cursor-ahead", LAMINA_HC_READ_LOG, 1ull << 62, (uint64_t)&stats_buf,
                  sizeof stats_buf, LAMINA_E_INVAL, LAMINA_E_INVAL, "READ_LOG cursor 2^62");
    if (mon_pa) {
        expect_status("hc-buf-monitor-stats", LAMINA_HC_STATS, LAMINA_ALL_CPUS, mon_pa,
                      sizeof stats_buf, LAMINA_E_FAULT, LAMINA_E_FAULT, "STATS into monitor memory");
        expect_status("hc-buf-monitor-readlog", LAMINA_HC_READ_LOG, 0, mon_pa + PAGE - 64, 4096,
                      LAMINA_E_FAULT, LAMINA_E_FAULT, "READ_LOG into monitor memory");
    }

    /* MMIO: the local APIC page and the firmware flash; both must read the
     * same afterwards. */
    uint32_t apic[4], apic2[4];
    for (int i = 0; i < 4; i++)
        apic[i] = *(volatile uint32_t *)(uintptr_t)(0xfee00000u + 0x20 + 0x10 * i);
    expect_status("hc-buf-apic-mmio", LAMINA_HC_STATS, LAMINA_ALL_CPUS, 0xfee00000u,
                  sizeof stats_buf, LAMINA_E_FAULT, LAMINA_E_FAULT, "STATS into the xAPIC page");
    for (int i = 0; i < 4; i++)
        apic2[i] = *(volatile uint32_t *)(uintptr_t)(0xfee00000u + 0x20 + 0x10 * i);
    if (!tg_mem_eq(apic, apic2, sizeof apic))
        verdict("hc-buf-apic-mmio-regs", false, "APIC ID/version/TPR/APR changed");
    uint8_t flash[64], flash2[64];
    tg_try_read(0xffc00000u, flash, sizeof flash, NULL);
    expect_status("hc-buf-flash", LAMINA_HC_READ_LOG, 0, 0xffc00000u, 4096, LAMINA_E_FAULT,
                  LAMINA_E_FAULT, "READ_LOG into the flash at 0xffc00000");
    tg_try_read(0xffc00000u, flash2, sizeof flash2, NULL);
    if (!tg_mem_eq(flash, flash2, sizeof flash))
        verdict("hc-buf-flash-content", false, "flash content changed");

    /* Big, wrapping, too small. */
    expect_status("hc-buf-huge", LAMINA_HC_READ_LOG, 0, (uint64_t)page_buf, 1ull << 40,
                  LAMINA_E_RANGE, LAMINA_E_FAULT, "READ_LOG of 2^40 bytes");
    expect_status("hc-buf-over-max", LAMINA_HC_READ_LOG, 0, (uint64_t)page_buf,
                  LAMINA_HC_BUF_MAX + 1ull, LAMINA_E_RANGE, LAMINA_E_RANGE,
                  "READ_LOG of BUF_MAX + 1 bytes");
    expect_status("hc-buf-wrap", LAMINA_HC_STATS, LAMINA_ALL_CPUS, 0xfffffffffffff000ull,
                  sizeof stats_buf, LAMINA_E_FAULT, LAMINA_E_FAULT, "STATS at 2^64 - 4096 (wraps)");
    expect_status("hc-buf-noncanonical", LAMINA_HC_STATS, LAMINA_ALL_CPUS, 0x0000800000000000ull,
                  sizeof stats_buf, LAMINA_E_FAULT, LAMINA_E_FAULT, "STATS at 2^47");
    expect_status("hc-buf-too-small", LAMINA_HC_STATS, LAMINA_ALL_CPUS, (uint64_t)&stats_buf, 8,
                  LAMINA_E_RANGE, LAMINA_E_RANGE, "STATS into 8 bytes");

    if (!my_cr3) {
        tg_skip("hc-buf-paging", "no page tables of our own");
        return;
    }
    /* Across a page end into a page that is not mapped: nothing written. */
    __builtin_memset(buf_page, 0x5a, PAGE);
    load_cr3(my_cr3);
    v = hcall(LAMINA_HC_STATS, LAMINA_ALL_CPUS, va(PT_HOLE) - 64, sizeof stats_buf, &h);
    load_cr3(fw_cr3);
    bool clean = all_bytes(buf_page, PAGE, 0x5a);
    tg_snprintf(d, sizeof d, "STATS at 64 bytes before an unmapped page: %s %lld (%s), page %s",
                v < 0 ? "status" : tg_vector_name(v), (long long)h.rax, status_name((int64_t)h.rax),
                clean ? "untouched" : "WRITTEN");
    verdict_alive("hc-buf-cross-unmapped", v < 0 && (int64_t)h.rax == LAMINA_E_FAULT && clean, d);

    /* Read-only page (R/W = 0 in our tables): the buffer must be writable. */
    __builtin_memset(ro_page, 0x3c, PAGE);
    load_cr3(my_cr3);
    v = hcall(LAMINA_HC_STATS, LAMINA_ALL_CPUS, va(PT_READONLY), sizeof stats_buf, &h);
    load_cr3(fw_cr3);
    clean = all_bytes(ro_page, PAGE, 0x3c);
    tg_snprintf(d, sizeof d, "STATS into a read-only page: %s %lld (%s), page %s",
                v < 0 ? "status" : tg_vector_name(v), (long long)h.rax, status_name((int64_t)h.rax),
                clean ? "untouched" : "WRITTEN");
    verdict_alive("hc-buf-readonly", v < 0 && (int64_t)h.rax == LAMINA_E_FAULT && clean, d);

    /* Ring 3: without hypercall-user the call returns E_PERM and leaves the
     * result registers alone; a wrong magic still raises #UD. */
    (void)op_user_dummy;
    struct tg_user_ctx c;
    __builtin_memset(&c, 0, sizeof c);
    c.rip = va(PT_USER_CODE) + ((uint64_t)tg_user_vmcall & (PAGE - 1));
    c.rsp = va(PT_USER_STACK) + PAGE;
    c.rax = LAMINA_HC_VERSION;
    c.rbx = LAMINA_HC_MAGIC;
    c.rdi = 0x1111;
    c.rsi = 0x2222;
    c.rdx = 0x3333;
    load_cr3(my_cr3);
    v = tg_user_call(&c);
    load_cr3(fw_cr3);
    tg_snprintf(d, sizeof d, "VERSION from CPL 3: %s, RAX %lld (%s), RDI 0x%llx", v == -1 ? "returned" :
                tg_vector_name(v), (long long)c.rax, status_name((int64_t)c.rax),
                (unsigned long long)c.rdi);
    verdict_alive("hc-user", v == -1 && (int64_t)c.rax == LAMINA_E_PERM && c.rdi == 0x1111 &&
                  c.rsi == 0x2222 && c.rdx == 0x3333, d);

    __builtin_memset(&c, 0, sizeof c);
    c.rip = va(PT_USER_CODE) + ((uint64_t)tg_user_vmcall & (PAGE - 1));
    c.rsp = va(PT_USER_STACK) + PAGE;
    c.rax = LAMINA_HC_VERSION;
    c.rbx = 0;
    load_cr3(my_cr3);
    v = tg_user_call(&c);
    load_cr3(fw_cr3);
    verdict("hc-user-wrong-magic", v == TG_VEC_UD, "VMCALL from CPL 3 without the magic: %s%s",
            v == -1 ? "returned" : tg_vector_name(v),
            v == -1 ? "" : (v == TG_VEC_UD ? " at the VMCALL" : ""));
    (void)f;
}

/* ---------------------------------------------------- 5. event log */

static struct lamina_event events[64];

/* The cursor after the newest event (READ_LOG until nothing is left). */
static bool log_end(uint64_t *cursor)
{
    uint64_t cur = 0;
    for (int i = 0; i < 100; i++) {
        struct hcall h;
        if (hcall(LAMINA_HC_READ_LOG, cur, (uint64_t)events, sizeof events, &h) >= 0 ||
            (int64_t)h.rax != LAMINA_OK)
            return false;
        cur = h.rdi;
        if (h.rsi == 0) {
            *cursor = cur;
            return true;
        }
    }
    return false;
}

/* Events from *cursor on (up to 64); returns the count or -1. */
static long log_read(uint64_t *cursor, uint64_t *lost)
{
    struct hcall h;
    if (hcall(LAMINA_HC_READ_LOG, *cursor, (uint64_t)events, sizeof events, &h) >= 0 ||
        (int64_t)h.rax != LAMINA_OK)
        return -1;
    *cursor = h.rdi;
    if (lost)
        *lost = h.rdx;
    return (long)h.rsi;
}

/* ------------------------------------------------------ 6. port I/O */

struct outs_op {
    uint64_t src;
    uint64_t count;
    uint16_t port;
};

static void op_rep_outsb(void *p)
{
    struct outs_op *o = p;
    uint64_t s = o->src, c = o->count;
    __asm__ volatile("cld; rep outsb" : "+S"(s), "+c"(c) : "d"(o->port) : "memory");
}

static void op_rep_insb(void *p)
{
    struct outs_op *o = p;
    uint64_t d = o->src, c = o->count;
    __asm__ volatile("cld; rep insb" : "+D"(d), "+c"(c) : "d"(o->port) : "memory");
}

static void attacks_io(void)
{
    char d[240];
    struct tg_fault f;

    /* REP OUTSB to the denied port from 5 bytes before an unmapped page:
     * #PF at the page with RCX = 5 left (SDM 2B OUTS: the repeat count is
     * updated per iteration, a fault leaves it at the remaining count), and
     * the port keeps its value. */
    if (my_cr3) {
        uint8_t s0 = tg_inb(PORT_DENIED);
        __builtin_memset(buf_page, (uint8_t)~s0, PAGE);
        struct outs_op o = { va(PT_HOLE) - 5, 10, PORT_DENIED };
        int v = try_mine(op_rep_outsb, &o, &f);
        uint8_t s1 = tg_inb(PORT_DENIED);
        bool exact = v == TG_VEC_PF && f.cr2 == va(PT_HOLE) && f.rcx == 5 &&
                     f.rsi == va(PT_HOLE) && (f.error_code & 0x7) == 0;
        tg_snprintf(d, sizeof d, "REP OUTSB x10 to port 0x%x: %s CR2 0x%llx RCX %llu RSI 0x%llx "
                    "error 0x%llx (want #PF at 0x%llx, RCX 5); port 0x%02x -> 0x%02x",
                    PORT_DENIED, tg_vector_name(v), (unsigned long long)f.cr2,
                    (unsigned long long)f.rcx, (unsigned long long)f.rsi,
                    (unsigned long long)f.error_code, (unsigned long long)va(PT_HOLE), s0, s1);
        verdict_alive("io-rep-outs-denied-cross", exact && s0 == s1, d);
    } else {
        tg_skip("io-rep-outs-denied-cross", "no page tables of our own");
    }

    if (!mon_pa)
        return;
    /* REP OUTSB from monitor memory to a logged port: the event log records
     * each value written; none may be the monitor's bytes. */
    uint64_t cur;
    if (!log_end(&cur)) {
        verdict("io-rep-outs-from-monitor", false, "READ_LOG does not work");
    } else {
        struct outs_op o = { mon_pa, 16, PORT_LOGGED };
        int v = tg_try(op_rep_outsb, &o, &f);
        long n = log_read(&cur, NULL);
        int seen = 0, leaked = 0;
        for (long i = 0; i < n; i++)
            if (events[i].kind == LAMINA_EV_IO_OUT && events[i].index == PORT_LOGGED) {
                if (seen < 16 && (uint8_t)events[i].value == (uint8_t)LAMINA_MONITOR_MARKER[seen] &&
                    events[i].value != 0)
                    leaked++;
                seen++;
            }
        tg_snprintf(d, sizeof d, "REP OUTSB x16 from 0x%llx to port 0x%x: %s, %d events logged, "
                    "%d carry the monitor's bytes", (unsigned long long)mon_pa, PORT_LOGGED,
                    v < 0 ? "completed" : tg_vector_name(v), seen, leaked);
        verdict_alive("io-rep-outs-from-monitor", leaked == 0 && n >= 0, d);
    }

    /* REP INSB from a trapped port into monitor memory: the monitor writes
     * the guest's buffer itself and must not write its own pages. */
    struct outs_op o = { mon_pa, PAGE, PORT_CMOS_DATA };
    int v = tg_try(op_rep_insb, &o, &f);
    tg_snprintf(d, sizeof d, "REP INSB x4096 from port 0x%x to 0x%llx: %s", PORT_CMOS_DATA,
                (unsigned long long)mon_pa, v < 0 ? "completed" : tg_vector_name(v));
    verdict_alive("io-rep-ins-into-monitor", true, d);
}

/* Flood the log: 100000 denied port writes. The monitor must keep up, say
 * how many events the ring lost, and rate-limit its serial lines (the
 * system test counts them). */
static void attack_flood(void)
{
    enum { N = 100000 };
    uint64_t cur = 0, lost = 0;
    bool have = log_end(&cur);
    uint64_t start = cur;
    for (int i = 0; i < N; i++)
        tg_outb(PORT_DENIED, (uint8_t)i);
    long n = have ? log_read(&cur, &lost) : -1;
    char d[200];
    tg_snprintf(d, sizeof d, "%d denied OUTBs: READ_LOG from seq %llu gave %ld events, %llu lost",
                N, (unsigned long long)start, n, (unsigned long long)lost);
    /* Ring of 1024 (core/evlog.h): at least N - 1024 are lost to a reader
     * that was not reading. */
    verdict_alive("log-flood", n > 0 && lost >= N - 1024 && lost <= N, d);
}

/* ----------------------------------------- 7. MSRs the monitor relies on */

struct msr_swap {
    uint32_t msr;
    uint64_t value, old, seen;
    int vec_w;
};

/* With interrupts off: write, read back, put back at once. Nothing in
 * between exits to the monitor, so nothing runs on a moved APIC. */
static void op_msr_swap(void *p)
{
    struct msr_swap *s = p;
    s->old = tg_rdmsr(s->msr);
    s->vec_w = 0;
    tg_wrmsr(s->msr, s->value);
    s->vec_w = -1;
    s->seen = tg_rdmsr(s->msr);
    tg_wrmsr(s->msr, s->old);
}

static void attacks_monitor_msrs(void)
{
    char d[240];
    struct tg_fault f;

    /* IA32_APIC_BASE over monitor memory: on this CPU the monitor's own
     * accesses to that page would reach the APIC (SDM 3A 11.4.5). */
    uint64_t apic = tg_rdmsr(MSR_APIC_BASE);
    if (mon_pa && (apic & APIC_BASE_EN)) {
        struct msr_swap s = { MSR_APIC_BASE, (mon_pa & ~0xfffull) | (apic & 0xfff), 0, 0, 0 };
        uint64_t fl;
        __asm__ volatile("pushfq; pop %0; cli" : "=r"(fl) :: "memory");
        int v = tg_try(op_msr_swap, &s, &f);
        __asm__ volatile("push %0; popfq" :: "r"(fl) : "memory", "cc");
        bool moved = v < 0 && (s.seen & ~0xfffull) == (mon_pa & ~0xfffull);
        tg_snprintf(d, sizeof d, "WRMSR APIC_BASE 0x%llx -> 0x%llx: %s, read back 0x%llx",
                    (unsigned long long)apic, (unsigned long long)s.value,
                    v < 0 ? "accepted" : tg_vector_name(v), (unsigned long long)s.seen);
        verdict_alive("wrmsr-apic-base-over-monitor", !moved && tg_rdmsr(MSR_APIC_BASE) == apic, d);
    } else {
        tg_skip("wrmsr-apic-base-over-monitor", "APIC disabled or monitor not located");
    }

    /* x2APIC ICR while the APIC is in xAPIC mode: #GP on hardware. */
    if ((apic & APIC_BASE_EN) && !(apic & APIC_BASE_EXTD)) {
        /* INIT, level assert, physical, to APIC ID 0xfe (nobody). */
        int v = tg_try_wrmsr(MSR_X2APIC_ICR, (0xfeull << 32) | 0x4500, &f);
        tg_snprintf(d, sizeof d, "WRMSR 0x830 (INIT to APIC 0xfe) in xAPIC mode raised %s",
                    tg_vector_name(v));
        verdict_alive("wrmsr-x2apic-icr-in-xapic-mode", v == TG_VEC_GP, d);
    }

    int v;

    /* Microcode update from a "patch" in monitor memory: dropped. */
    if (mon_pa) {
        tg_wrmsr(MSR_BIOS_SIGN_ID, 0);
        (void)tg_cpuid(1, 0);
        uint32_t rev = (uint32_t)(tg_rdmsr(MSR_BIOS_SIGN_ID) >> 32);
        v = tg_try_wrmsr(MSR_BIOS_UPDT_TRIG, mon_pa, &f);
        tg_wrmsr(MSR_BIOS_SIGN_ID, 0);
        (void)tg_cpuid(1, 0);
        uint32_t rev2 = (uint32_t)(tg_rdmsr(MSR_BIOS_SIGN_ID) >> 32);
        tg_snprintf(d, sizeof d, "WRMSR BIOS_UPDT_TRIG = 0x%llx: %s, revision 0x%x -> 0x%x",
                    (unsigned long long)mon_pa, v < 0 ? "no fault" : tg_vector_name(v), rev, rev2);
        verdict_alive("wrmsr-microcode-from-monitor", rev == rev2, d);
    }

    /* IA32_KERNEL_GS_BASE: SWAPGS state the monitor does not use; the
     * monitor must not care. Put back afterwards. */
    uint64_t kgs = tg_rdmsr(MSR_KERNEL_GS_BASE);
    v = tg_try_wrmsr(MSR_KERNEL_GS_BASE, mon_pa ? mon_pa : 0x1000, &f);
    char why[120];
    bool ok = monitor_ok(why, sizeof why);
    tg_try_wrmsr(MSR_KERNEL_GS_BASE, kgs, NULL);
    verdict("wrmsr-kernel-gs-base", ok, "WRMSR KERNEL_GS_BASE = monitor address: %s; while set: %s",
            v < 0 ? "accepted" : tg_vector_name(v), why);

    /* IA32_PAT all UC while the monitor runs: the host PAT is loaded at
     * every VM exit (vmx/vmx.c), so the monitor keeps working. */
    uint64_t pat = tg_rdmsr(MSR_PAT);
    v = tg_try_wrmsr(MSR_PAT, 0, &f);
    ok = monitor_ok(why, sizeof why);
    tg_try_wrmsr(MSR_PAT, pat, NULL);
    verdict("wrmsr-pat-all-uc", ok, "WRMSR PAT = 0 (all UC): %s; while set: %s",
            v < 0 ? "accepted" : tg_vector_name(v), why);

    /* IA32_TSC moved back: the monitor's event timestamps must not follow
     * the guest's writes (else the guest reorders the record of what it did). */
    uint64_t cur;
    if (!log_end(&cur)) {
        verdict("wrmsr-tsc-backwards", false, "READ_LOG does not work");
    } else {
        uint64_t fl;
        __asm__ volatile("pushfq; pop %0; cli" : "=r"(fl) :: "memory");
        tg_outb(PORT_DENIED, 1);
        uint32_t lo, hi;
        __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
        uint64_t t = ((uint64_t)hi << 32) | lo;
        int vw = tg_try_wrmsr(MSR_TSC, t / 2, NULL);
        __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
        uint64_t seen = ((uint64_t)hi << 32) | lo;     /* the guest's own view moved */
        tg_outb(PORT_DENIED, 2);
        if (vw < 0)
            tg_try_wrmsr(MSR_TSC, t + 100000, NULL);
        __asm__ volatile("push %0; popfq" :: "r"(fl) : "memory", "cc");
        long n = log_read(&cur, NULL);
        uint64_t t1 = 0, t2 = 0;
        int found = 0;
        for (long i = 0; i < n; i++)
            if (events[i].kind == LAMINA_EV_IO_OUT && events[i].index == PORT_DENIED) {
                if (found == 0)
                    t1 = events[i].tsc;
                else if (found == 1)
                    t2 = events[i].tsc;
                found++;
            }
        tg_snprintf(d, sizeof d, "WRMSR TSC 0x%llx -> 0x%llx (%s) between two events: "
                    "%d found, tsc 0x%llx then 0x%llx; guest read 0x%llx", (unsigned long long)t,
                    (unsigned long long)(t / 2), vw < 0 ? "accepted" : tg_vector_name(vw), found,
                    (unsigned long long)t1, (unsigned long long)t2, (unsigned long long)seen);
        verdict_alive("wrmsr-tsc-backwards", found == 2 && t2 > t1 && vw < 0 && seen < t, d);
    }
}

/* Every architectural MSR index under tg_try: no crash, no hang. */
static void attack_rdmsr_sweep(void)
{
    static const struct { uint32_t first, last; } ranges[] = {
        { 0, 0x1fff }, { 0xc0000000u, 0xc0001fffu },
    };
    unsigned gp = 0, read = 0, other = 0;
    for (unsigned r = 0; r < 2; r++)
        for (uint32_t m = ranges[r].first; m <= ranges[r].last; m++) {
            uint64_t val;
            int v = tg_try_rdmsr(m, &val, NULL);
            if (v == TG_VEC_GP)
                gp++;
            else if (v < 0)
                read++;
            else
                other++;
        }
    char d[160];
    tg_snprintf(d, sizeof d, "16384 RDMSRs: %u read, %u #GP, %u other faults", read, gp, other);
    verdict_alive("rdmsr-sweep", other == 0, d);
}

/* ------------------------------------------------------- 8. CR0 */

static void attack_cr0(void)
{
    /* Clearing CR0.PG in 64-bit mode raises #GP (SDM 2A MOV CR). Clearing
     * NE with it makes the write exit to the monitor, which must check the
     * same as hardware rather than leave IA-32e mode under the guest's feet. */
    uint64_t cr0 = tg_read_cr0(), a[2] = { 0, cr0 & ~(CR0_PG | CR0_NE) };
    struct tg_fault f;
    int v = tg_try(op_write_cr, a, &f);
    uint64_t after = tg_read_cr0();
    char d[160];
    tg_snprintf(d, sizeof d, "MOV CR0 = 0x%llx (PG and NE clear) in 64-bit mode raised %s, CR0 "
                "0x%llx -> 0x%llx", (unsigned long long)a[1], tg_vector_name(v),
                (unsigned long long)cr0, (unsigned long long)after);
    verdict_alive("cr0-pg-off-64bit", v == TG_VEC_GP && after == cr0, d);
}

/* ------------------------------------------------- 9. side doors (M7) */

#define MSR_XSS 0xda0

/* Intel PT through XSAVES: IA32_XSS bit 8 lets XRSTORS load a PT state
 * (TraceEn, an output base in host-physical monitor memory) without the
 * trapped RTIT_CTL write. The monitor must refuse the bit as a CPU without PT
 * does (#GP), and CPUID.(0DH,1)/(0DH,8) must not list it. */
static void attack_xss_pt(void)
{
    struct tg_cpuid d1 = tg_cpuid(0xd, 1), d8 = tg_cpuid(0xd, 8);
    if (!((tg_cpuid(1, 0).ecx >> 26) & 1) || !(d1.eax & (1u << 3))) {
        tg_skip("xss-pt-state", "no XSAVES");
        return;
    }
    uint64_t old = 0, now = 0;
    tg_try_rdmsr(MSR_XSS, &old, NULL);
    struct tg_fault f;
    int v = tg_try_wrmsr(MSR_XSS, old | (1ull << 8), &f);
    tg_try_rdmsr(MSR_XSS, &now, NULL);
    if (v < 0)
        tg_try_wrmsr(MSR_XSS, old, NULL);
    char d[200];
    tg_snprintf(d, sizeof d, "WRMSR IA32_XSS |= bit 8 (PT state): %s, read back 0x%llx; "
                "CPUID.(0DH,1).ECX 0x%x, (0DH,8).EAX 0x%x", v < 0 ? "accepted" : tg_vector_name(v),
                (unsigned long long)now, d1.ecx, d8.eax);
    verdict_alive("xss-pt-state", v == TG_VEC_GP && !(now & (1ull << 8)) &&
                  !(d1.ecx & (1u << 8)) && (d8.eax | d8.ebx | d8.ecx | d8.edx) == 0, d);
}


/* The debug store: BTS and PEBS records are written by the processor itself
 * into the buffers IA32_DS_AREA describes (SDM 3B 18.6.8); aimed at monitor
 * memory, and counting in VMX root, they would write it. The monitor hides
 * DS (CPUID.1:EDX[21]) and refuses both MSRs as a CPU without DS does. */
static void attack_debug_store(void)
{
    uint64_t target = mon_pa ? mon_pa : 0x1000;
    struct tg_fault f;
    char d[200];
    uint32_t msrs[2] = { 0x600, 0x3f1 };
    const char *names[2] = { "ds-area-over-monitor", "pebs-enable" };
    uint64_t vals[2] = { target, 1 };
    for (int i = 0; i < 2; i++) {
        uint64_t old = 0, now = 0;
        int r = tg_try_rdmsr(msrs[i], &old, NULL);
        int v = tg_try_wrmsr(msrs[i], vals[i], &f);
        tg_try_rdmsr(msrs[i], &now, NULL);
        if (v < 0 && r < 0)
            tg_try_wrmsr(msrs[i], old, NULL);
        tg_snprintf(d, sizeof d, "WRMSR 0x%x = 0x%llx: %s; CPUID.1:EDX.DS %u",
                    msrs[i], (unsigned long long)vals[i], v < 0 ? "accepted" : tg_vector_name(v),
                    (tg_cpuid(1, 0).edx >> 21) & 1);
        verdict_alive(names[i], v == TG_VEC_GP && !((tg_cpuid(1, 0).edx >> 21) & 1), d);
    }
}

static void outw_port(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

/* The FADT's PM1a control and event ports (ACPI 6.5 table 5.9, legacy
 * fields at 64 and 56), 0 where there is no FADT. */
static void pm1a_ports(uint16_t *cnt, uint16_t *evt)
{
    const uint8_t *t = tg_acpi_table("FACP", false);
    *cnt = t ? (uint16_t)*(const uint32_t *)(t + 64) : 0;
    *evt = t ? (uint16_t)*(const uint32_t *)(t + 56) : 0;
}

/* S3 through PM1a_CNT: the processor would leave VMX and the firmware wake
 * the OS without the monitor (Bochs models S3 as a reset into the firmware:
 * on the old code this run ended here). SLP_TYP 1 is S3 in the DSDT of
 * upstream Bochs + OVMF (its \_S3 package, and Bochs's ACPI device). The
 * monitor must refuse it and show an immediate wake (WAK_STS). Last: on a
 * monitor that lets it through, nothing runs after it. */
static void attack_sleep_s3(void)
{
    uint16_t cnt, evt;
    pm1a_ports(&cnt, &evt);
    if (!cnt || !evt) {
        tg_skip("sleep-s3", "no FADT PM1a ports");
        return;
    }
    uint16_t c = tg_inw(cnt);
    uint64_t fl;
    __asm__ volatile("pushfq; pop %0; cli" : "=r"(fl) :: "memory");
    outw_port(cnt, (uint16_t)((c & ~(7u << 10)) | (1u << 10) | (1u << 13)));
    uint16_t sts = tg_inw(evt);
    outw_port(evt, 0x8000);                     /* clear WAK_STS */
    uint16_t after = tg_inw(evt);
    __asm__ volatile("push %0; popfq" :: "r"(fl) : "memory", "cc");
    char d[200];
    tg_snprintf(d, sizeof d, "OUT PM1a_CNT 0x%x = S3|SLP_EN: still running, PM1a_STS 0x%x "
                "(WAK_STS %u), after clearing 0x%x", cnt, sts, (sts >> 15) & 1, after);
    verdict_alive("sleep-s3", (sts & 0x8000) && !(after & 0x8000), d);
}

static void attacks_sidedoors(void)
{
    attack_xss_pt();
    attack_debug_store();
    attack_sleep_s3();
}

/* ------------------------------------------------------------ main */

static void __attribute__((noreturn)) triple_fault(void)
{
    struct __attribute__((packed)) { uint16_t limit; uint64_t base; } idtr = { 0, 0 };
    tg_note("loading a zero-limit IDT and raising #UD: triple fault next");
    __asm__ volatile("cli; lidt %0; ud2" :: "m"(idtr) : "memory");
    for (;;)
        __asm__ volatile("hlt");
}

static void __attribute__((noreturn)) kbc_reset(void)
{
    tg_note("8042 command 0xfe: reset next");
    /* Wait for the controller's input buffer to be empty (status bit 1). */
    for (int i = 0; i < 100000 && (tg_inb(0x64) & 2); i++)
        ;
    tg_outb(0x64, 0xfe);
    for (;;)
        __asm__ volatile("hlt");
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
    tg_init(image, systab, "hostile");
    tg_set_words("BLOCKED", "ESCAPED");
    hv_present = (tg_cpuid(1, 0).ecx >> 31) & 1;
    if (tg_option_given(image, L"triple-fault"))
        triple_fault();
    if (tg_option_given(image, L"kbc-reset"))
        kbc_reset();
    if (!hv_present)
        tg_note("no hypervisor present: every attack will look like an escape");

    find_hidden();
    if (!setup_paging())
        tg_note("no page tables of our own: alias and paging attacks skipped");

    attacks_policy();
    attacks_memory();
    attacks_vmx();
    attacks_msr();
    attacks_hypercall();
    attacks_io();
    attacks_monitor_msrs();
    attack_rdmsr_sweep();
    attack_flood();
    attack_cr0();
    attacks_sidedoors();

    char why[120];
    verdict("final-monitor-intact", monitor_ok(why, sizeof why), "%s", why);
    unsigned failed = tg_summary();
    return failed ? EFI_ABORTED : EFI_SUCCESS;
}
