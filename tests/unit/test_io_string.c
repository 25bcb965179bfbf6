/* Unit tests for core/io_string.c: INS/OUTS emulation (SDM 2 INS, OUTS, REP;
 * SDM 1 3.3.7; SDM 3A 6.3, 3.4.5.1, 5.7). Guest memory is a byte array; 4-level
 * page tables are built in it where paging matters. The port is a fake device:
 * IN returns a counter-derived value (different every access), OUT records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

#include <cmocka.h>

#include "core/io_string.h"

/* ------------------------------------------------------------ fake machine */

#define MEM_SIZE (4u << 20)
static uint8_t mem[MEM_SIZE];
static uint64_t next_table;

#define NPORT 4096
static unsigned nin, nout;
static uint32_t out_log[NPORT];
static unsigned out_size[NPORT];

static int fake_read(void *opaque, uint64_t gpa, void *buf, size_t len)
{
    (void)opaque;
    if (gpa >= MEM_SIZE || len > MEM_SIZE - gpa)
        return -1;
    memcpy(buf, mem + gpa, len);
    return 0;
}

static int fake_write(void *opaque, uint64_t gpa, const void *buf, size_t len)
{
    assert_ptr_equal(opaque, mem);
    if (gpa >= MEM_SIZE || len > MEM_SIZE - gpa)
        return -1;
    memcpy(mem + gpa, buf, len);
    return 0;
}

/* The n-th IN (from 0) returns in_value(n), truncated to the access size. */
static uint32_t in_value(unsigned n) { return 0xa1b2c300u + n * 0x01010101u + 0x10u; }

static void fake_port(void *opaque, uint16_t port, unsigned size, bool in, uint32_t *value)
{
    assert_ptr_equal(opaque, mem);
    assert_int_equal(port, 0x70);
    assert_true(size == 1 || size == 2 || size == 4);
    if (in) {
        uint32_t v = in_value(nin++);
        *value = size == 4 ? v : v & ((1u << (8 * size)) - 1);
    } else {
        assert_true(nout < NPORT);
        out_size[nout] = size;
        out_log[nout++] = *value;
    }
}

/* Segment access rights (VMCS format): data RW accessed, code exec/read. */
#define AR_DATA   0x93u
#define AR_CODE   0x9bu
#define AR_G      (1u << 15)
#define AR_DB     IOS_AR_DB
#define AR_L      (1u << 13)

static int setup(void **state)
{
    (void)state;
    memset(mem, 0, sizeof(mem));
    next_table = 0x300000;
    nin = nout = 0;
    memset(out_log, 0, sizeof(out_log));
    return 0;
}

/* Common base state: port 0x70, up to 4096 elements, the fake callbacks. */
static void base_state(struct ios_state *s)
{
    memset(s, 0, sizeof(*s));
    s->port = 0x70;
    s->op_size = 1;
    s->seg = IOS_DS;
    s->walk.read_phys = fake_read;
    s->walk.opaque = mem;
    s->write_phys = fake_write;
    s->port_io = fake_port;
    s->opaque = mem;
    s->max_elems = 4096;
}

/* Protected mode, flat 4 GiB 32-bit segments, no paging. */
static void flat32(struct ios_state *s)
{
    base_state(s);
    s->pe = true;
    s->addr_size = 32;
    s->walk.cr0 = 1;
    for (int i = 0; i < IOS_NSEG; i++)
        s->segs[i] = (struct ios_seg){ 0, 0xffffffffu, AR_DATA | AR_DB | AR_G };
    s->segs[IOS_CS].ar = AR_CODE | AR_DB | AR_G;
}

/* Real mode: 64 KiB segments at selector * 16. */
static void real16(struct ios_state *s)
{
    base_state(s);
    s->addr_size = 16;
    for (int i = 0; i < IOS_NSEG; i++)
        s->segs[i] = (struct ios_seg){ (uint64_t)(0x1000 + 0x100 * i) << 4, 0xffff, AR_DATA };
}

/* 64-bit mode, 4-level paging; nothing mapped until map4k. */
#define PTE_P  1ull
#define PTE_W  2ull
#define PTE_U  4ull
static uint64_t alloc_table(void)
{
    uint64_t p = next_table;
    next_table += 4096;
    assert_true(next_table <= MEM_SIZE);
    return p;
}
static uint64_t get64(uint64_t a) { uint64_t v; memcpy(&v, mem + a, 8); return v; }
static void put64(uint64_t a, uint64_t v) { memcpy(mem + a, &v, 8); }

static void map4k(struct ios_state *s, uint64_t la, uint64_t pa, uint64_t flags)
{
    uint64_t table = s->walk.cr3;
    for (int l = 4; l > 1; l--) {
        uint64_t a = table + ((la >> (12 + 9 * (l - 1))) & 511) * 8;
        if (!(get64(a) & PTE_P))
            put64(a, alloc_table() | PTE_P | PTE_W | PTE_U);
        table = get64(a) & 0x000ffffffffff000ull;
    }
    put64(table + ((la >> 12) & 511) * 8, pa | flags);
}

static void long64(struct ios_state *s)
{
    base_state(s);
    s->long64 = true;
    s->pe = true;
    s->addr_size = 64;
    s->walk.cr0 = GW_CR0_PG | GW_CR0_WP | 1;
    s->walk.cr4 = GW_CR4_PAE;
    s->walk.efer = GW_EFER_LMA | (1ull << 8);
    s->walk.cr3 = alloc_table();
    for (int i = 0; i < IOS_NSEG; i++)
        s->segs[i] = (struct ios_seg){ 0, 0xffffffffu, AR_DATA | AR_G };
    s->segs[IOS_CS].ar = AR_CODE | AR_L | AR_G;
}

static void fill_pattern(uint64_t pa, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        mem[pa + i] = (uint8_t)(seed + i * 7);
}

static uint32_t mem_elem(uint64_t pa, unsigned size)
{
    uint32_t v = 0;
    memcpy(&v, mem + pa, size);
    return v;
}

/* ------------------------------------------------ sizes, DF, REP counts */

enum mode { REAL16, FLAT32, LONG64 };

struct size_case {
    const char *name;
    enum mode mode;
    uint8_t addr_size, op_size;
    bool df, rep;
    uint64_t count;      /* RCX before */
    uint64_t ptr;        /* RSI (OUTS) / RDI (INS) before */
    uint64_t phys;       /* physical address of the first element */
    uint64_t ptr_after, rcx_after;
    unsigned elems;      /* elements transferred */
};

static const struct size_case size_cases[] = {
    /* real mode, DS/ES bases from real16(): ES 0x10000, DS 0x13000 */
    { "real16 rep byte up", REAL16, 16, 1, false, true, 5, 0x0100, 0x10100, 0x0105, 0, 5 },
    { "real16 rep word down", REAL16, 16, 2, true, true, 3, 0x0200, 0x10200, 0x01fa, 0, 3 },
    { "real16 addr32 dword", REAL16, 32, 4, false, true, 2, 0x0300, 0x10300, 0x0308, 0, 2 },
    { "real16 no rep word", REAL16, 16, 2, false, false, 77, 0x0400, 0x10400, 0x0402, 77, 1 },
    { "real16 rep count 0", REAL16, 16, 1, false, true, 0, 0x0500, 0x10500, 0x0500, 0, 0 },
    { "real16 rep count 1", REAL16, 16, 4, true, true, 1, 0x0600, 0x10600, 0x05fc, 0, 1 },
    { "flat32 rep dword up", FLAT32, 32, 4, false, true, 9, 0x20000, 0x20000, 0x20024, 0, 9 },
    { "flat32 rep byte down", FLAT32, 32, 1, true, true, 6, 0x21000, 0x21000, 0x20ffa, 0, 6 },
    { "flat32 addr16 word", FLAT32, 16, 2, false, true, 4, 0x2000, 0x2000, 0x2008, 0, 4 },
    { "long64 rep word up", LONG64, 64, 2, false, true, 8, 0x7000100100, 0x50100, 0x7000100110, 0, 8 },
    { "long64 rep dword down", LONG64, 64, 4, true, true, 4, 0x7000100800, 0x50800, 0x70001007f0, 0, 4 },
    { "long64 addr32 byte", LONG64, 32, 1, false, true, 3, 0x00100900, 0x60900, 0x00100903, 0, 3 },
    { "long64 no rep dword", LONG64, 64, 4, true, false, 5, 0x7000100a00, 0x50a00, 0x70001009fc, 5, 1 },
};

static void prepare(struct ios_state *s, const struct size_case *c, bool in)
{
    if (c->mode == REAL16)
        real16(s);
    else if (c->mode == FLAT32)
        flat32(s);
    else {
        long64(s);
        map4k(s, 0x7000100000, 0x50000, PTE_P | PTE_W);
        map4k(s, 0x00100000, 0x60000, PTE_P | PTE_W);
    }
    s->in = in;
    s->addr_size = c->addr_size;
    s->op_size = c->op_size;
    s->df = c->df;
    s->rep = c->rep;
    s->rcx = c->count;
    if (c->mode == REAL16 && !in)
        s->seg = IOS_ES;        /* same base as ES, so phys is the same for both */
    if (in)
        s->rdi = c->ptr;
    else
        s->rsi = c->ptr;
}

static void test_outs_sizes(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(size_cases) / sizeof(size_cases[0]); k++) {
        const struct size_case *c = &size_cases[k];
        setup(NULL);
        struct ios_state s;
        prepare(&s, c, false);
        fill_pattern(c->phys - 64, 128, (uint8_t)(k * 13 + 1));
        struct ios_fault f;
        assert_int_equal(ios_emulate(&s, &f), IOS_DONE);
        assert_int_equal(s.done, c->elems);
        assert_int_equal(nout, c->elems);
        assert_int_equal(nin, 0);
        for (unsigned i = 0; i < c->elems; i++) {
            uint64_t pa = c->df ? c->phys - i * c->op_size : c->phys + i * c->op_size;
            assert_int_equal(out_size[i], c->op_size);
            assert_int_equal(out_log[i], mem_elem(pa, c->op_size));
        }
        assert_int_equal(s.rsi, c->ptr_after);
        assert_int_equal(s.rcx, c->rcx_after);
        assert_int_equal(s.rdi, 0);
    }
}

static void test_ins_sizes(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(size_cases) / sizeof(size_cases[0]); k++) {
        const struct size_case *c = &size_cases[k];
        setup(NULL);
        struct ios_state s;
        prepare(&s, c, true);
        struct ios_fault f;
        assert_int_equal(ios_emulate(&s, &f), IOS_DONE);
        assert_int_equal(s.done, c->elems);
        assert_int_equal(nin, c->elems);
        assert_int_equal(nout, 0);
        uint32_t mask = c->op_size == 4 ? ~0u : (1u << (8 * c->op_size)) - 1;
        for (unsigned i = 0; i < c->elems; i++) {
            uint64_t pa = c->df ? c->phys - i * c->op_size : c->phys + i * c->op_size;
            assert_int_equal(mem_elem(pa, c->op_size), in_value(i) & mask);
        }
        /* nothing outside the elements was written */
        uint64_t lo = c->df ? c->phys - (c->elems ? c->elems - 1 : 0) * c->op_size : c->phys;
        uint64_t hi = lo + c->elems * c->op_size;
        for (uint64_t a = lo - 16; a < hi + 16; a++)
            if (a < lo || a >= hi)
                assert_int_equal(mem[a], 0);
        assert_int_equal(s.rdi, c->ptr_after);
        assert_int_equal(s.rcx, c->rcx_after);
        assert_int_equal(s.rsi, 0);
    }
}

/* ------------------------------------------- register widths and wrap */

static void test_register_widths(void **state)
{
    (void)state;
    struct ios_state s;
    struct ios_fault f;
    /* 16-bit: bits 63:16 of RSI and RCX are kept. */
    real16(&s);
    s.rep = true;
    s.rsi = 0xdeadbeefcafe0010ull;
    s.rcx = 0x1234567800000002ull;
    assert_int_equal(ios_emulate(&s, &f), IOS_DONE);
    assert_int_equal(s.rsi, 0xdeadbeefcafe0012ull);
    assert_int_equal(s.rcx, 0x1234567800000000ull);
    /* 16-bit count is CX only: 0x10000 in RCX is a zero count. */
    setup(NULL);
    real16(&s);
    s.rep = true;
    s.rcx = 0x10000;
    assert_int_equal(ios_emulate(&s, &f), IOS_DONE);
    assert_int_equal(nout, 0);
    assert_int_equal(s.rcx, 0x10000);
    /* 32-bit address size in 64-bit mode: EDI is used, the update zero-extends. */
    setup(NULL);
    long64(&s);
    map4k(&s, 0x1000, 0x40000, PTE_P | PTE_W);
    s.in = true;
    s.rep = true;
    s.addr_size = 32;
    s.rdi = 0xffffffff00001000ull;
    s.rcx = 0x5555555500000002ull;
    assert_int_equal(ios_emulate(&s, &f), IOS_DONE);
    assert_int_equal(mem[0x40000], in_value(0) & 0xff);
    assert_int_equal(mem[0x40001], in_value(1) & 0xff);
    assert_int_equal(s.rdi, 0x1002);
    assert_int_equal(s.rcx, 0);
}

/* SI wraps within 16 bits in both directions, and the next element uses the
   wrapped offset. */
static void test_si_wrap_16(void **state)
{
    (void)state;
    struct ios_state s;
    struct ios_fault f;
    real16(&s);
    uint64_t ds = s.segs[IOS_DS].base;
    mem[ds + 0xffff] = 0x5a;
    mem[ds + 0x0000] = 0xa5;
    s.rep = true;
    s.rcx = 2;
    s.rsi = 0x77770000ffffull;
    assert_int_equal(ios_emulate(&s, &f), IOS_DONE);
    assert_int_equal(nout, 2);
    assert_int_equal(out_log[0], 0x5a);
    assert_int_equal(out_log[1], 0xa5);
    assert_int_equal(s.rsi, 0x777700000001ull);
    /* DF = 1 from 0: 0 -> 0xffff */
    setup(NULL);
    real16(&s);
    mem[ds + 0x0000] = 0x11;
    mem[ds + 0xffff] = 0x22;
    s.df = true;
    s.rep = true;
    s.rcx = 2;
    s.rsi = 0x0000;
    assert_int_equal(ios_emulate(&s, &f), IOS_DONE);
    assert_int_equal(out_log[0], 0x11);
    assert_int_equal(out_log[1], 0x22);
    assert_int_equal(s.rsi, 0xfffe);
}

/* -------------------------------------------------- per-call bound */

static void test_bound_and_resume(void **state)
{
    (void)state;
    struct ios_state s;
    struct ios_fault f;
    flat32(&s);
    s.in = true;
    s.rep = true;
    s.op_size = 2;
    s.rcx = 10;
    s.rdi = 0x30000;
    s.max_elems = 4;
    static const struct { enum ios_result r; unsigned done; uint64_t rcx, rdi; } steps[] = {
        { IOS_AGAIN, 4, 6, 0x30008 }, { IOS_AGAIN, 4, 2, 0x30010 }, { IOS_DONE, 2, 0, 0x30014 },
    };
    for (unsigned k = 0; k < 3; k++) {
        assert_int_equal(ios_emulate(&s, &f), steps[k].r);
        assert_int_equal(s.done, steps[k].done);
        assert_int_equal(s.rcx, steps[k].rcx);
        assert_int_equal(s.rdi, steps[k].rdi);
    }
    assert_int_equal(nin, 10);
    for (unsigned i = 0; i < 10; i++)
        assert_int_equal(mem_elem(0x30000 + 2 * i, 2), in_value(i) & 0xffff);
    /* A count equal to the bound completes in one call (no empty extra exit). */
    setup(NULL);
    flat32(&s);
    s.rep = true;
    s.rcx = 4;
    s.max_elems = 4;
    assert_int_equal(ios_emulate(&s, &f), IOS_DONE);
    assert_int_equal(nout, 4);
}

/* ------------------------------------------------------ segments */

static void test_segment_override(void **state)
{
    (void)state;
    struct ios_state s;
    struct ios_fault f;
    /* protected mode: FS base 0x40000, DS base 0 */
    flat32(&s);
    s.segs[IOS_FS].base = 0x40000;
    mem[0x40010] = 0x77;
    mem[0x00010] = 0x33;
    s.rsi = 0x10;
    s.seg = IOS_FS;
    assert_int_equal(ios_emulate(&s, &f), IOS_DONE);
    assert_int_equal(out_log[0], 0x77);
    s.rsi = 0x10;
    s.seg = IOS_DS;
    assert_int_equal(ios_emulate(&s, &f), IOS_DONE);
    assert_int_equal(out_log[1], 0x33);
    /* INS ignores the segment field: always ES */
    s.in = true;
    s.seg = IOS_FS;
    s.segs[IOS_ES].base = 0x50000;
    s.rdi = 0x20;
    assert_int_equal(ios_emulate(&s, &f), IOS_DONE);
    assert_int_equal(mem[0x50020], in_value(0) & 0xff);
    assert_int_equal(mem[0x40020], 0);
    /* 64-bit mode: GS base counts, a DS base does not */
    setup(NULL);
    long64(&s);
    map4k(&s, 0x200000, 0x70000, PTE_P | PTE_W);
    map4k(&s, 0x7fff00200000, 0x71000, PTE_P | PTE_W);
    mem[0x70008] = 0x44;
    mem[0x71008] = 0x55;
    s.segs[IOS_DS].base = 0x7fff00000000;
    s.segs[IOS_GS].base = 0x7fff00000000;
    s.rsi = 0x200008;
    assert_int_equal(ios_emulate(&s, &f), IOS_DONE);
    assert_int_equal(out_log[0], 0x44);
    s.rsi = 0x200008;
    s.seg = IOS_GS;
    assert_int_equal(ios_emulate(&s, &f), IOS_DONE);
    assert_int_equal(out_log[1], 0x55);
}

struct seg_case {
    const char *name;
    bool real, in;
    uint8_t seg, op_size;
    uint32_t ar, limit;
    uint64_t off;
    int vector;          /* -1: allowed */
};

static const struct seg_case seg_cases[] = {
    { "real word at 0xffff", true, false, IOS_DS, 2, AR_DATA, 0xffff, 0xffff, IOS_VEC_GP },
    { "real byte at 0xffff", true, false, IOS_DS, 1, AR_DATA, 0xffff, 0xffff, -1 },
    { "real SS word at 0xffff", true, false, IOS_SS, 2, AR_DATA, 0xffff, 0xffff, IOS_VEC_SS },
    { "real INS dword past limit", true, true, IOS_ES, 4, AR_DATA, 0xffff, 0xfffd, IOS_VEC_GP },
    { "expand-up last byte", false, false, IOS_DS, 4, AR_DATA, 0x0fff, 0x0ffc, -1 },
    { "expand-up past limit", false, false, IOS_DS, 4, AR_DATA, 0x0fff, 0x0ffd, IOS_VEC_GP },
    { "expand-down at limit", false, false, IOS_DS, 1, AR_DATA | 4, 0x0fff, 0x0fff, IOS_VEC_GP },
    { "expand-down above limit", false, false, IOS_DS, 1, AR_DATA | 4, 0x0fff, 0x1000, -1 },
    { "expand-down B=0 top", false, false, IOS_DS, 2, AR_DATA | 4, 0x0fff, 0xfffe, -1 },
    { "expand-down B=0 past 64K", false, false, IOS_DS, 2, AR_DATA | 4, 0x0fff, 0xffff, IOS_VEC_GP },
    { "expand-down B=1 past 64K", false, false, IOS_DS, 2, AR_DATA | 4 | AR_DB, 0x0fff, 0xffff, -1 },
    { "expand-down SS", false, false, IOS_SS, 1, AR_DATA | 4, 0x0fff, 0x0010, IOS_VEC_SS },
    { "null DS", false, false, IOS_DS, 1, IOS_AR_UNUSABLE, 0xffff, 0, IOS_VEC_GP },
    { "INS null ES", false, true, IOS_ES, 1, IOS_AR_UNUSABLE, 0xffff, 0, IOS_VEC_GP },
    { "INS read-only ES", false, true, IOS_ES, 1, 0x91, 0xffff, 0, IOS_VEC_GP },
    { "INS code ES", false, true, IOS_ES, 1, AR_CODE, 0xffff, 0, IOS_VEC_GP },
    { "OUTS read-only DS", false, false, IOS_DS, 1, 0x91, 0xffff, 0, -1 },
    { "OUTS readable CS", false, false, IOS_CS, 1, AR_CODE, 0xffff, 0, -1 },
    { "OUTS execute-only CS", false, false, IOS_CS, 1, 0x99, 0xffff, 0, IOS_VEC_GP },
};

static void test_segment_checks(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(seg_cases) / sizeof(seg_cases[0]); k++) {
        const struct seg_case *c = &seg_cases[k];
        setup(NULL);
        struct ios_state s;
        if (c->real)
            real16(&s);
        else
            flat32(&s);
        s.addr_size = 32;
        s.in = c->in;
        s.seg = c->seg;
        s.op_size = c->op_size;
        s.segs[c->seg].base = 0x10000;
        s.segs[c->seg].ar = c->ar;
        s.segs[c->seg].limit = c->limit;
        s.rep = true;
        s.rcx = 3;
        if (c->in)
            s.rdi = c->off;
        else
            s.rsi = c->off;
        struct ios_fault f = { .vector = 0xff };
        enum ios_result r = ios_emulate(&s, &f);
        if (c->vector < 0) {
            /* the first element passes; later ones may hit the limit */
            assert_true(s.done >= 1);
            continue;
        }
        assert_int_equal(r, IOS_FAULT);
        assert_int_equal(f.vector, c->vector);
        assert_int_equal(f.error_code, 0);
        assert_int_equal(s.done, 0);
        assert_int_equal(s.rcx, 3);
        assert_int_equal(nin + nout, 0);
    }
}

struct canon_case { const char *name; uint8_t seg, op_size; uint64_t rsi, gs_base; int vector; };
static const struct canon_case canon_cases[] = {
    { "first non-canonical", IOS_DS, 1, 0x0000800000000000ull, 0, IOS_VEC_GP },
    { "SS non-canonical", IOS_SS, 1, 0x0000800000000000ull, 0, IOS_VEC_SS },
    { "word ends non-canonical", IOS_DS, 2, 0x00007fffffffffffull, 0, IOS_VEC_GP },
    { "high half canonical but unmapped", IOS_DS, 1, 0xffff800000000000ull, 0, 14 },
    { "GS base makes it non-canonical", IOS_GS, 1, 0x10, 0x00007ffffffffff8ull, IOS_VEC_GP },
};

static void test_canonical(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(canon_cases) / sizeof(canon_cases[0]); k++) {
        const struct canon_case *c = &canon_cases[k];
        setup(NULL);
        struct ios_state s;
        long64(&s);
        s.seg = c->seg;
        s.op_size = c->op_size;
        s.rsi = c->rsi;
        s.segs[IOS_GS].base = c->gs_base;
        struct ios_fault f = { .vector = 0xff };
        assert_int_equal(ios_emulate(&s, &f), IOS_FAULT);
        assert_int_equal(f.vector, c->vector);
        if (c->vector != 14)
            assert_int_equal(f.error_code, 0);
        assert_int_equal(s.rsi, c->rsi);
        assert_int_equal(nout, 0);
    }
    /* With LA57 the same address is canonical (and here mapped). */
    setup(NULL);
    struct ios_state s;
    long64(&s);
    s.walk.cr4 |= GW_CR4_LA57;
    s.walk.cr3 = alloc_table();
    /* 5-level: build the top level by hand on top of a 4-level tree */
    uint64_t pml4 = alloc_table();
    put64(s.walk.cr3 + ((0x0000800000000000ull >> 48) & 511) * 8, pml4 | PTE_P | PTE_W);
    uint64_t saved = s.walk.cr3;
    s.walk.cr3 = pml4;
    map4k(&s, 0x0000800000000000ull, 0x45000, PTE_P | PTE_W);
    s.walk.cr3 = saved;
    mem[0x45000] = 0x9c;
    s.rsi = 0x0000800000000000ull;
    struct ios_fault f;
    assert_int_equal(ios_emulate(&s, &f), IOS_DONE);
    assert_int_equal(out_log[0], 0x9c);
}

/* ------------------------------------------------------------ paging */

/* REP INSB into a buffer that runs into a not-present page: the elements before
   the page are written, the fault reports the first byte of the new page, RCX/RDI
   count exactly the completed elements, and the faulting element read no port. */
static void test_rep_insb_into_unmapped_page(void **state)
{
    (void)state;
    struct ios_state s;
    struct ios_fault f;
    long64(&s);
    map4k(&s, 0x400000, 0x80000, PTE_P | PTE_W);      /* 0x401000 is not mapped */
    s.in = true;
    s.rep = true;
    s.rcx = 8;
    s.rdi = 0x400ffd;
    assert_int_equal(ios_emulate(&s, &f), IOS_FAULT);
    assert_int_equal(f.vector, 14);
    assert_int_equal(f.cr2, 0x401000);
    assert_int_equal(f.error_code, GW_PFEC_W);
    assert_int_equal(s.done, 3);
    assert_int_equal(s.rcx, 5);
    assert_int_equal(s.rdi, 0x401000);
    assert_int_equal(nin, 3);
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(mem[0x80ffd + i], in_value(i) & 0xff);
    /* The guest maps the page and restarts: the rest arrives in order. */
    map4k(&s, 0x401000, 0x90000, PTE_P | PTE_W);
    assert_int_equal(ios_emulate(&s, &f), IOS_DONE);
    assert_int_equal(s.rcx, 0);
    assert_int_equal(s.rdi, 0x401005);
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(mem[0x90000 + i], in_value(3 + i) & 0xff);
    /* Same with REP OUTSB reading: error code is a read (0), DF = 1 going down into
       a not-present page below. */
    setup(NULL);
    long64(&s);
    map4k(&s, 0x401000, 0x90000, PTE_P | PTE_W);
    s.rep = true;
    s.df = true;
    s.rcx = 4;
    s.rsi = 0x401001;
    assert_int_equal(ios_emulate(&s, &f), IOS_FAULT);
    assert_int_equal(f.vector, 14);
    assert_int_equal(f.cr2, 0x400fff);
    assert_int_equal(f.error_code, 0);
    assert_int_equal(s.rcx, 2);
    assert_int_equal(s.rsi, 0x400fff);
    assert_int_equal(nout, 2);
}

/* Elements straddling a page boundary go to two unrelated physical pages; if the
   second page faults, nothing is written and no port is touched. */
static void test_word_straddles_page(void **state)
{
    (void)state;
    struct ios_state s;
    struct ios_fault f;
    long64(&s);
    map4k(&s, 0x500000, 0xa0000, PTE_P | PTE_W);
    map4k(&s, 0x501000, 0xc0000, PTE_P | PTE_W);
    s.in = true;
    s.op_size = 2;
    s.rdi = 0x500fff;
    assert_int_equal(ios_emulate(&s, &f), IOS_DONE);
    assert_int_equal(mem[0xa0fff], in_value(0) & 0xff);
    assert_int_equal(mem[0xc0000], (in_value(0) >> 8) & 0xff);
    assert_int_equal(mem[0xa1000], 0);
    /* OUTSD at 0x500ffe: 2 bytes from each page */
    mem[0xa0ffe] = 0x01; mem[0xa0fff] = 0x02; mem[0xc0000] = 0x03; mem[0xc0001] = 0x04;
    s.in = false;
    s.op_size = 4;
    s.rsi = 0x500ffe;
    assert_int_equal(ios_emulate(&s, &f), IOS_DONE);
    assert_int_equal(out_log[0], 0x04030201);
    /* second page not present */
    setup(NULL);
    long64(&s);
    map4k(&s, 0x500000, 0xa0000, PTE_P | PTE_W);
    s.in = true;
    s.op_size = 4;
    s.rep = true;
    s.rcx = 1;
    s.rdi = 0x500ffd;
    assert_int_equal(ios_emulate(&s, &f), IOS_FAULT);
    assert_int_equal(f.cr2, 0x501000);
    assert_int_equal(f.error_code, GW_PFEC_W);
    assert_int_equal(nin, 0);
    assert_int_equal(mem[0xa0ffd], 0);
    assert_int_equal(s.rcx, 1);
    assert_int_equal(s.rdi, 0x500ffd);
    /* 32-bit linear wrap (protected mode, no paging): ES base + EDI passes 4 GiB */
    setup(NULL);
    flat32(&s);
    s.in = true;
    s.segs[IOS_ES].base = 0xfffff000;
    s.rdi = 0x1010;
    assert_int_equal(ios_emulate(&s, &f), IOS_DONE);
    assert_int_equal(mem[0x10], in_value(0) & 0xff);
}

struct priv_case { const char *name; bool in; unsigned cpl; uint64_t flags; bool wp; int ec; };
static const struct priv_case priv_cases[] = {
    { "CPL3 OUTS from supervisor page", false, 3, PTE_P | PTE_W, true, GW_PFEC_P | GW_PFEC_U },
    { "CPL3 INS to supervisor page", true, 3, PTE_P | PTE_W, true,
      GW_PFEC_P | GW_PFEC_W | GW_PFEC_U },
    { "CPL3 INS to read-only user page", true, 3, PTE_P | PTE_U, true,
      GW_PFEC_P | GW_PFEC_W | GW_PFEC_U },
    { "CPL3 OUTS from user page", false, 3, PTE_P | PTE_U, true, -1 },
    { "CPL0 INS to read-only page, WP=1", true, 0, PTE_P, true, GW_PFEC_P | GW_PFEC_W },
    { "CPL0 INS to read-only page, WP=0", true, 0, PTE_P, false, -1 },
};

static void test_privilege(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(priv_cases) / sizeof(priv_cases[0]); k++) {
        const struct priv_case *c = &priv_cases[k];
        setup(NULL);
        struct ios_state s;
        long64(&s);
        if (!c->wp)
            s.walk.cr0 &= ~GW_CR0_WP;
        map4k(&s, 0x600000, 0xb0000, c->flags);
        s.in = c->in;
        s.cpl = c->cpl;
        s.rdi = s.rsi = 0x600123;
        struct ios_fault f = { .vector = 0xff };
        enum ios_result r = ios_emulate(&s, &f);
        if (c->ec < 0) {
            assert_int_equal(r, IOS_DONE);
            assert_int_equal(nin + nout, 1);
            continue;
        }
        assert_int_equal(r, IOS_FAULT);
        assert_int_equal(f.vector, 14);
        assert_int_equal(f.error_code, (uint32_t)c->ec);
        assert_int_equal(f.cr2, 0x600123);
        assert_int_equal(nin + nout, 0);
    }
}

static void test_not_ram(void **state)
{
    (void)state;
    struct ios_state s;
    struct ios_fault f;
    flat32(&s);
    s.in = true;
    s.rdi = MEM_SIZE + 0x1000;
    assert_int_equal(ios_emulate(&s, &f), IOS_MEM_ERROR);
    s.in = false;
    s.rsi = MEM_SIZE + 0x1000;
    assert_int_equal(ios_emulate(&s, &f), IOS_MEM_ERROR);
    assert_int_equal(nout, 0);
}

/* ------------------------------------------------------------ decoder */

struct dec_case {
    const char *name;
    uint8_t code[16];
    uint8_t n, mode;
    int ret;
    uint8_t len, op_size, addr_size, seg;
    bool in, rep;
};

static const struct dec_case dec_cases[] = {
    { "insb", { 0x6c }, 1, 64, 0, 1, 1, 64, IOS_DS, true, false },
    { "rep outsb", { 0xf3, 0x6e }, 2, 64, 0, 2, 1, 64, IOS_DS, false, true },
    { "rep outsw 64", { 0x66, 0xf3, 0x6f }, 3, 64, 0, 3, 2, 64, IOS_DS, false, true },
    { "rex.w outsd stays 32", { 0xf3, 0x48, 0x6f }, 3, 64, 0, 3, 4, 64, IOS_DS, false, true },
    { "addr32 in 64", { 0x67, 0x6d }, 2, 64, 0, 2, 4, 32, IOS_DS, true, false },
    { "fs outsb", { 0x64, 0xf3, 0x6e }, 3, 64, 0, 3, 1, 64, IOS_FS, false, true },
    { "last segment wins", { 0x26, 0x65, 0x6e }, 3, 32, 0, 3, 1, 32, IOS_GS, false, false },
    { "16-bit insw", { 0xf3, 0x6d }, 2, 16, 0, 2, 2, 16, IOS_DS, true, true },
    { "16-bit 66 67 insd", { 0x66, 0x67, 0x6d }, 3, 16, 0, 3, 4, 32, IOS_DS, true, false },
    { "32-bit 67 outsw", { 0x66, 0x67, 0x2e, 0x6f }, 4, 32, 0, 4, 2, 16, IOS_CS, false, false },
    { "repne counts as rep", { 0xf2, 0x6c }, 2, 32, 0, 2, 1, 32, IOS_DS, true, true },
    { "REX outside 64-bit is INC", { 0x48, 0x6c }, 2, 32, -1, 0, 0, 0, 0, false, false },
    { "lock", { 0xf0, 0x6c }, 2, 64, -1, 0, 0, 0, 0, false, false },
    { "not string I/O", { 0xec }, 1, 64, -1, 0, 0, 0, 0, false, false },
    { "truncated", { 0xf3, 0x66 }, 2, 64, -1, 0, 0, 0, 0, false, false },
    { "too long", { 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
                    0x66, 0x66, 0x66, 0x6c }, 16, 64, -1, 0, 0, 0, 0, false, false },
    { "15 bytes ok", { 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
                       0x66, 0x66, 0x66, 0x6d }, 15, 32, 0, 15, 2, 32, IOS_DS, true, false },
};

static void test_decode(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(dec_cases) / sizeof(dec_cases[0]); k++) {
        const struct dec_case *c = &dec_cases[k];
        struct ios_decoded d;
        int r = ios_decode(c->code, c->n, c->mode, &d);
        assert_int_equal(r, c->ret);
        if (r != 0)
            continue;
        assert_int_equal(d.len, c->len);
        assert_int_equal(d.op_size, c->op_size);
        assert_int_equal(d.addr_size, c->addr_size);
        assert_int_equal(d.seg, c->seg);
        assert_int_equal(d.in, c->in);
        assert_int_equal(d.rep, c->rep);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_outs_sizes, setup),
        cmocka_unit_test_setup(test_ins_sizes, setup),
        cmocka_unit_test_setup(test_register_widths, setup),
        cmocka_unit_test_setup(test_si_wrap_16, setup),
        cmocka_unit_test_setup(test_bound_and_resume, setup),
        cmocka_unit_test_setup(test_segment_override, setup),
        cmocka_unit_test_setup(test_segment_checks, setup),
        cmocka_unit_test_setup(test_canonical, setup),
        cmocka_unit_test_setup(test_rep_insb_into_unmapped_page, setup),
        cmocka_unit_test_setup(test_word_straddles_page, setup),
        cmocka_unit_test_setup(test_privilege, setup),
        cmocka_unit_test_setup(test_not_ram, setup),
        cmocka_unit_test(test_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
