/* strio.efi: string I/O (INS/OUTS, with and without REP) on the CMOS ports
 * 0x70/0x71, which Lamina traps under an `io log 0x70-0x71` rule and then
 * emulates element by element. Every check also holds natively: the results
 * are compared with single IN/OUT on the same ports and with the SDM rules
 * (register updates, DF, faults restartable with RCX/RDI at the faulting
 * element). CMOS: index written to 0x70, data at 0x71; the bytes used here
 * (0x40-0x4f, general-purpose NVRAM) are saved and restored.
 *
 * Prints "strio: PASS <name>" / "strio: FAIL <name> ..." and the summary. */
#include "test-guests/lib/tg.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA  0x71
#define NV_FIRST   0x40
#define NV_COUNT   16
#define PAGE       ((uint64_t)4096)

static uint8_t saved_nv[NV_COUNT];

static uint8_t cmos_read(uint8_t idx) { tg_outb(CMOS_INDEX, idx); return tg_inb(CMOS_DATA); }
static void cmos_write(uint8_t idx, uint8_t v) { tg_outb(CMOS_INDEX, idx); tg_outb(CMOS_DATA, v); }

static inline uint64_t irq_save(void)
{
    uint64_t f;
    __asm__ volatile("pushfq; pop %0; cli" : "=r"(f) :: "memory");
    return f;
}
static inline void irq_restore(uint64_t f)
{
    if (f & (1u << 9))
        __asm__ volatile("sti" ::: "memory");
}

/* ------------------------------------------------- the instructions */

enum op {
    OP_OUTSB, OP_REP_OUTSB, OP_REP_OUTSB_DF, OP_REP_INSB, OP_REP_INSB_DF, OP_REP_INSW,
    OP_REP_INSD, OP_REP_OUTSW, OP_ADDR32_REP_INSB, OP_GS_REP_OUTSB, OP_INSW,
};

struct strop {
    enum op op;
    uint16_t port;
    uint64_t rcx, rsi, rdi;
};

static void run_op(void *arg)
{
    struct strop *o = arg;
    uint64_t c = o->rcx, s = o->rsi, d = o->rdi;
    switch (o->op) {
    case OP_OUTSB:
        __asm__ volatile("outsb" : "+S"(s) : "d"(o->port) : "memory");
        break;
    case OP_REP_OUTSB:
        __asm__ volatile("rep outsb" : "+c"(c), "+S"(s) : "d"(o->port) : "memory");
        break;
    case OP_REP_OUTSB_DF:
        __asm__ volatile("std; rep outsb; cld" : "+c"(c), "+S"(s) : "d"(o->port) : "memory");
        break;
    case OP_REP_INSB:
        __asm__ volatile("rep insb" : "+c"(c), "+D"(d) : "d"(o->port) : "memory");
        break;
    case OP_REP_INSB_DF:
        __asm__ volatile("std; rep insb; cld" : "+c"(c), "+D"(d) : "d"(o->port) : "memory");
        break;
    case OP_REP_INSW:
        __asm__ volatile("rep insw" : "+c"(c), "+D"(d) : "d"(o->port) : "memory");
        break;
    case OP_INSW:
        __asm__ volatile("insw" : "+D"(d) : "d"(o->port) : "memory");
        break;
    case OP_REP_INSD:
        __asm__ volatile("rep insl" : "+c"(c), "+D"(d) : "d"(o->port) : "memory");
        break;
    case OP_REP_OUTSW:
        __asm__ volatile("rep outsw" : "+c"(c), "+S"(s) : "d"(o->port) : "memory");
        break;
    case OP_ADDR32_REP_INSB:     /* 67 F3 6C: ECX/EDI, results zero-extended */
        __asm__ volatile(".byte 0x67, 0xf3, 0x6c" : "+c"(c), "+D"(d) : "d"(o->port) : "memory");
        break;
    case OP_GS_REP_OUTSB:        /* 65 F3 6E: source GS:RSI */
        __asm__ volatile(".byte 0x65, 0xf3, 0x6e" : "+c"(c), "+S"(s) : "d"(o->port) : "memory");
        break;
    }
    o->rcx = c;
    o->rsi = s;
    o->rdi = d;
}

/* Run; returns the vector (-1 none). Interrupts off: nothing else may move
 * the CMOS index in between. */
static int do_op(struct strop *o, struct tg_fault *f)
{
    uint64_t fl = irq_save();
    int v = tg_try(run_op, o, f);
    irq_restore(fl);
    return v;
}

static void expect_regs(const char *name, int vec, const struct strop *o, uint64_t rcx,
                        uint64_t rsi, uint64_t rdi, bool *ok)
{
    if (vec != -1) {
        tg_fail(name, "unexpected %s", tg_vector_name(vec));
        *ok = false;
    } else if (o->rcx != rcx || o->rsi != rsi || o->rdi != rdi) {
        tg_fail(name, "rcx/rsi/rdi %lx/%lx/%lx, want %lx/%lx/%lx", o->rcx, o->rsi, o->rdi,
                rcx, rsi, rdi);
        *ok = false;
    }
}

/* ------------------------------------------------------------- checks */

static uint8_t *buf;        /* 4 pages below 4 GiB */

static void check_outsb(void)
{
    const char *name = "outsb";
    bool ok = true;
    buf[0] = 0x5a;
    tg_outb(CMOS_INDEX, NV_FIRST);
    struct strop o = { OP_OUTSB, CMOS_DATA, 7, (uint64_t)buf, 0 };
    expect_regs(name, do_op(&o, NULL), &o, 7, (uint64_t)buf + 1, 0, &ok);
    uint8_t got = cmos_read(NV_FIRST);
    if (ok && got != 0x5a)
        tg_fail(name, "CMOS 0x%x reads 0x%x, want 0x5a", NV_FIRST, got);
    else if (ok)
        tg_pass(name);
}

/* REP OUTSB to the data port: every element writes the same CMOS byte, so
   the byte ends with the last element sent (buf[15] going up, buf[0] down). */
static void check_rep_outsb(bool df)
{
    const char *name = df ? "rep-outsb-df" : "rep-outsb";
    bool ok = true;
    for (int i = 0; i < 16; i++)
        buf[i] = (uint8_t)(0x30 + i * 3 + df);
    tg_outb(CMOS_INDEX, NV_FIRST + 1);
    struct strop o = { df ? OP_REP_OUTSB_DF : OP_REP_OUTSB, CMOS_DATA, 16,
                       (uint64_t)(df ? buf + 15 : buf), 0 };
    expect_regs(name, do_op(&o, NULL), &o, 0, (uint64_t)(df ? buf - 1 : buf + 16), 0, &ok);
    uint8_t want = df ? buf[0] : buf[15], got = cmos_read(NV_FIRST + 1);
    if (ok && got != want)
        tg_fail(name, "CMOS reads 0x%x, want 0x%x", got, want);
    else if (ok)
        tg_pass(name);
}

/* REP OUTSB to the index port then a single IN of the data: each element is
   a separate port write, in order. */
static void check_rep_outsb_index(void)
{
    const char *name = "rep-outsb-index";
    cmos_write(NV_FIRST + 5, 0xc5);
    cmos_write(NV_FIRST + 6, 0xc6);
    buf[0] = NV_FIRST + 6;
    buf[1] = NV_FIRST + 5;
    struct strop o = { OP_REP_OUTSB, CMOS_INDEX, 2, (uint64_t)buf, 0 };
    bool ok = true;
    uint64_t fl = irq_save();
    int v = tg_try(run_op, &o, NULL);
    uint8_t got = tg_inb(CMOS_DATA);
    irq_restore(fl);
    expect_regs(name, v, &o, 0, (uint64_t)buf + 2, 0, &ok);
    if (ok && got != 0xc5)
        tg_fail(name, "data 0x%x, want 0xc5 (index of the last element)", got);
    else if (ok)
        tg_pass(name);
}

/* REP INSB of more elements than Lamina handles per exit (256): all equal
   to what a single IN reads; nothing past the end written. */
static void check_rep_insb(bool df, uint64_t n)
{
    char name[32];
    tg_snprintf(name, sizeof(name), "rep-insb%s-%lu", df ? "-df" : "", n);
    bool ok = true;
    cmos_write(NV_FIRST + 2, (uint8_t)(0x9d + n + df));
    uint8_t want = cmos_read(NV_FIRST + 2);
    for (uint64_t i = 0; i < n + 2; i++)
        buf[i] = 0;
    tg_outb(CMOS_INDEX, NV_FIRST + 2);
    uint8_t *start = df ? buf + n : buf + 1;
    struct strop o = { df ? OP_REP_INSB_DF : OP_REP_INSB, CMOS_DATA, n, 0, (uint64_t)start };
    expect_regs(name, do_op(&o, NULL), &o, 0, 0, df ? (uint64_t)buf : (uint64_t)(buf + n + 1),
                &ok);
    if (!ok)
        return;
    for (uint64_t i = 1; i <= n; i++)
        if (buf[i] != want) {
            tg_fail(name, "byte %lu is 0x%x, want 0x%x", i - 1, buf[i], want);
            return;
        }
    if (buf[0] != 0 || buf[n + 1] != 0)
        tg_fail(name, "wrote outside the buffer");
    else
        tg_passf(name, "0x%x", want);
}

/* Word and dword INS on the CMOS pair compare with single IN of that width
   (what a 16/32-bit access to these ports gives depends on the machine). */
static void check_ins_wide(unsigned size)
{
    const char *name = size == 2 ? "rep-insw" : "rep-insd";
    bool ok = true;
    tg_outb(CMOS_INDEX, NV_FIRST + 3);
    uint32_t single;
    if (size == 2) {
        uint16_t w;
        __asm__ volatile("inw %1, %0" : "=a"(w) : "Nd"((uint16_t)CMOS_INDEX));
        single = w;
    } else {
        __asm__ volatile("inl %1, %0" : "=a"(single) : "Nd"((uint16_t)CMOS_INDEX));
    }
    for (int i = 0; i < 64; i++)
        buf[i] = 0xee;
    struct strop o = { size == 2 ? OP_REP_INSW : OP_REP_INSD, CMOS_INDEX, 5, 0, (uint64_t)buf };
    expect_regs(name, do_op(&o, NULL), &o, 0, 0, (uint64_t)buf + 5 * size, &ok);
    if (!ok)
        return;
    for (unsigned i = 0; i < 5; i++) {
        uint32_t v = 0;
        for (unsigned b = 0; b < size; b++)
            v |= (uint32_t)buf[i * size + b] << (8 * b);
        if (v != single) {
            tg_fail(name, "element %u is 0x%x, single IN gave 0x%x", i, v, single);
            return;
        }
    }
    if (buf[5 * size] != 0xee)
        tg_fail(name, "wrote past the buffer");
    else
        tg_passf(name, "0x%x", single);
}

static void check_rep_outsw(void)
{
    const char *name = "rep-outsw";
    bool ok = true;
    struct strop o = { OP_REP_OUTSW, CMOS_INDEX, 3, (uint64_t)buf, 0 };
    for (int i = 0; i < 6; i++)
        buf[i] = NV_FIRST + 4;
    expect_regs(name, do_op(&o, NULL), &o, 0, (uint64_t)buf + 6, 0, &ok);
    if (ok)
        tg_pass(name);
}

/* 67h: ECX/EDI are used, and the result is zero-extended into RCX/RDI. */
static void check_addr32(void)
{
    const char *name = "addr32-rep-insb";
    bool ok = true;
    uint8_t want = cmos_read(NV_FIRST + 2);
    tg_outb(CMOS_INDEX, NV_FIRST + 2);
    buf[100] = buf[101] = buf[102] = 0;
    uint64_t junk = 0xabcd000000000000ull;
    struct strop o = { OP_ADDR32_REP_INSB, CMOS_DATA, junk | 2, 0, junk | (uint64_t)(buf + 100) };
    expect_regs(name, do_op(&o, NULL), &o, 0, 0, (uint64_t)(buf + 102), &ok);
    if (ok && (buf[100] != want || buf[101] != want || buf[102] != 0))
        tg_fail(name, "bytes %x %x %x, want %x %x 0", buf[100], buf[101], buf[102], want, want);
    else if (ok)
        tg_pass(name);
}

/* GS override: the source is GS.base + RSI (IA32_GS_BASE set for the test). */
static void check_gs_override(void)
{
    const char *name = "gs-rep-outsb";
    bool ok = true;
    buf[200] = 0x11;
    buf[201] = 0x77;
    tg_outb(CMOS_INDEX, NV_FIRST + 7);
    struct strop o = { OP_GS_REP_OUTSB, CMOS_DATA, 2, 200, 0 };
    uint64_t fl = irq_save();
    uint64_t old = tg_rdmsr(0xc0000101);
    tg_wrmsr(0xc0000101, (uint64_t)buf);
    int v = tg_try(run_op, &o, NULL);
    tg_wrmsr(0xc0000101, old);
    irq_restore(fl);
    expect_regs(name, v, &o, 0, 202, 0, &ok);
    uint8_t got = cmos_read(NV_FIRST + 7);
    if (ok && got != 0x77)
        tg_fail(name, "CMOS reads 0x%x, want 0x77", got);
    else if (ok)
        tg_pass(name);
}

static void check_noncanonical(void)
{
    const char *name = "noncanonical-outsb";
    struct strop o = { OP_REP_OUTSB, CMOS_DATA, 3, 0x0000800000000000ull, 0 };
    struct tg_fault f;
    int v = do_op(&o, &f);
    if (v != TG_VEC_GP || f.error_code != 0 || f.rcx != 3 || f.rsi != o.rsi)
        tg_fail(name, "%s ec %lx rcx %lx rsi %lx, want #GP(0) rcx 3", tg_vector_name(v),
                f.error_code, f.rcx, f.rsi);
    else
        tg_pass(name);
}

/* ------------------------------------------ a page that is not present */

#define PTE_P 1ull
#define PTE_W 2ull
#define ADDR_MASK 0x000ffffffffff000ull

static uint64_t read_cr3(void) { uint64_t v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static void write_cr3(uint64_t v) { __asm__ volatile("mov %0, %%cr3" :: "r"(v) : "memory"); }

/* A private copy of the PML4 whose slot `slot` maps a window: page 0 of the
   window is buf's page 2, page 1 is not present (or buf's page 3). */
static uint64_t *pml4, *pdpt, *pd, *pt;
static uint64_t win;        /* linear address of the window */

static bool build_window(void)
{
    uint64_t *cur = (uint64_t *)(read_cr3() & ADDR_MASK);
    if (tg_read_cr4() & (1ull << 12))
        return false;       /* LA57: not handled here */
    int slot = -1;
    for (int i = 255; i > 0; i--)
        if (!(cur[i] & PTE_P)) {
            slot = i;
            break;
        }
    if (slot < 0)
        return false;
    for (int i = 0; i < 512; i++) {
        pml4[i] = cur[i];
        pdpt[i] = pd[i] = pt[i] = 0;
    }
    pml4[slot] = (uint64_t)pdpt | PTE_P | PTE_W;
    pdpt[0] = (uint64_t)pd | PTE_P | PTE_W;
    pd[0] = (uint64_t)pt | PTE_P | PTE_W;
    pt[0] = (uint64_t)(buf + 2 * PAGE) | PTE_P | PTE_W;
    win = (uint64_t)slot << 39;
    return true;
}

static int op_in_window(struct strop *o, struct tg_fault *f)
{
    uint64_t fl = irq_save();
    uint64_t old = read_cr3();
    write_cr3((uint64_t)pml4 | (old & 0xfff));
    int v = tg_try(run_op, o, f);
    write_cr3(old);
    irq_restore(fl);
    return v;
}

static void check_page_fault(void)
{
    const char *name = "rep-insb-into-unmapped-page";
    uint8_t *p2 = buf + 2 * PAGE, *p3 = buf + 3 * PAGE;
    for (uint64_t i = 0; i < 2 * PAGE; i++)
        p2[i] = 0;
    pt[1] = 0;
    uint8_t want = cmos_read(NV_FIRST + 2);
    tg_outb(CMOS_INDEX, NV_FIRST + 2);
    struct strop o = { OP_REP_INSB, CMOS_DATA, 8, 0, win + PAGE - 3 };
    struct tg_fault f;
    int v = op_in_window(&o, &f);
    if (v != TG_VEC_PF || f.cr2 != win + PAGE || f.error_code != 2 || f.rcx != 5 ||
        f.rdi != win + PAGE) {
        tg_fail(name, "%s cr2 %lx ec %lx rcx %lx rdi %lx; want #PF cr2 %lx ec 2 rcx 5 rdi %lx",
                tg_vector_name(v), f.cr2, f.error_code, f.rcx, f.rdi, win + PAGE, win + PAGE);
        return;
    }
    if (p2[PAGE - 3] != want || p2[PAGE - 2] != want || p2[PAGE - 1] != want) {
        tg_fail(name, "the 3 bytes before the page are %x %x %x, want %x", p2[PAGE - 3],
                p2[PAGE - 2], p2[PAGE - 1], want);
        return;
    }
    tg_pass(name);

    /* The guest maps the page and resumes with the registers of the fault. */
    name = "rep-insb-resumed";
    pt[1] = (uint64_t)p3 | PTE_P | PTE_W;
    struct strop r = { OP_REP_INSB, CMOS_DATA, f.rcx, 0, f.rdi };
    tg_outb(CMOS_INDEX, NV_FIRST + 2);
    v = op_in_window(&r, &f);
    bool ok = true;
    expect_regs(name, v, &r, 0, 0, win + PAGE + 5, &ok);
    if (ok && (p3[0] != want || p3[4] != want || p3[5] != 0))
        tg_fail(name, "bytes %x..%x %x", p3[0], p3[4], p3[5]);
    else if (ok)
        tg_pass(name);

    /* A word straddling the boundary lands in both physical pages. */
    name = "insw-straddles-page";
    p2[PAGE - 1] = 0;
    p3[0] = 0;
    uint16_t single;
    tg_outb(CMOS_INDEX, NV_FIRST + 3);
    __asm__ volatile("inw %1, %0" : "=a"(single) : "Nd"((uint16_t)CMOS_INDEX));
    struct strop w = { OP_INSW, CMOS_INDEX, 0, 0, win + PAGE - 1 };
    v = op_in_window(&w, &f);
    ok = true;
    expect_regs(name, v, &w, 0, 0, win + PAGE + 1, &ok);
    uint16_t got = (uint16_t)(p2[PAGE - 1] | (p3[0] << 8));
    if (ok && got != single)
        tg_fail(name, "0x%x, single IN gave 0x%x", got, single);
    else if (ok)
        tg_passf(name, "0x%x", single);
}

/* ------------------------------------------------------------------ main */

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
    tg_init(image, systab, "strio");
    EFI_PHYSICAL_ADDRESS a = 0xffffffffull;
    if (uefi_call_wrapper(BS->AllocatePages, 4, AllocateMaxAddress, EfiLoaderData, 8, &a) !=
        EFI_SUCCESS) {
        tg_fail("alloc", "no memory below 4 GiB");
        tg_summary();
        return EFI_ABORTED;
    }
    buf = (uint8_t *)a;
    pml4 = (uint64_t *)(a + 4 * PAGE);
    pdpt = (uint64_t *)(a + 5 * PAGE);
    pd = (uint64_t *)(a + 6 * PAGE);
    pt = (uint64_t *)(a + 7 * PAGE);
    for (int i = 0; i < NV_COUNT; i++)
        saved_nv[i] = cmos_read((uint8_t)(NV_FIRST + i));

    check_outsb();
    check_rep_outsb(false);
    check_rep_outsb(true);
    check_rep_outsb_index();
    check_rep_insb(false, 1);
    check_rep_insb(false, 600);
    check_rep_insb(true, 300);
    check_ins_wide(2);
    check_ins_wide(4);
    check_rep_outsw();
    check_addr32();
    check_gs_override();
    check_noncanonical();
    if (build_window())
        check_page_fault();
    else
        tg_skip("rep-insb-into-unmapped-page", "no free PML4 slot or LA57");

    for (int i = 0; i < NV_COUNT; i++)
        cmos_write((uint8_t)(NV_FIRST + i), saved_nv[i]);
    uefi_call_wrapper(BS->FreePages, 2, a, 8);
    return tg_summary() ? EFI_ABORTED : EFI_SUCCESS;
}
