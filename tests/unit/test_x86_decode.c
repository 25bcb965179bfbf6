/* Unit tests for core/x86_decode.c: MMIO store decoding (SDM 2 chapter 2, MOV, XCHG).
 * Byte sequences come from GNU as + objdump (shown in the comments) or are hand-encoded
 * where the assembler would choose another form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/x86_decode.h"

#define RAX 0
#define RCX 1
#define RDX 2
#define RBX 3
#define RSP 4
#define RBP 5
#define RSI 6
#define RDI 7

struct good {
    const char *what;
    unsigned mode;
    uint8_t bytes[16];
    uint8_t n;            /* bytes in the instruction */
    uint8_t width;
    bool from_reg;
    uint8_t reg;
    bool high_byte;
    uint64_t imm;
    bool is_xchg;
};

#define REG(w, r)        .width = (w), .from_reg = true, .reg = (r)
#define HIGH(r)          .width = 1, .from_reg = true, .reg = (r), .high_byte = true
#define IMM(w, v)        .width = (w), .from_reg = false, .imm = (v)
#define XCHG(w, r)       .width = (w), .from_reg = true, .reg = (r), .is_xchg = true
#define B(...)           .bytes = { __VA_ARGS__ }, .n = sizeof((uint8_t[]){ __VA_ARGS__ })

static const struct good good[] = {
    /* ---- 64-bit mode */
    { "EDK2 MmioWrite32: mov %edx,(%rcx)", 64, B(0x89, 0x11), REG(4, RDX) },
    { "Linux native_apic_mem_write: mov %edi,(%rax)", 64, B(0x89, 0x38), REG(4, RDI) },
    { "mov %eax,0x300(%rdx) (disp32)", 64, B(0x89, 0x82, 0x00, 0x03, 0x00, 0x00), REG(4, RAX) },
    { "mov %rax,(%rcx) (REX.W)", 64, B(0x48, 0x89, 0x01), REG(8, RAX) },
    { "mov %r9,0x10(%r13) (REX.WRB, disp8)", 64, B(0x4d, 0x89, 0x4d, 0x10), REG(8, 9) },
    { "mov %r8d,(%r12) (REX.RB, SIB for r12)", 64, B(0x45, 0x89, 0x04, 0x24), REG(4, 8) },
    { "mov %ax,(%rcx) (66)", 64, B(0x66, 0x89, 0x01), REG(2, RAX) },
    { "mov %al,(%rcx)", 64, B(0x88, 0x01), REG(1, RAX) },
    { "mov %ah,(%rcx)", 64, B(0x88, 0x21), HIGH(RAX) },
    { "mov %bh,0x7f(%rsi)", 64, B(0x88, 0x7e, 0x7f), HIGH(RBX) },
    { "mov %spl,(%rcx) (REX 40)", 64, B(0x40, 0x88, 0x21), REG(1, RSP) },
    { "mov %dil,(%rcx) (REX 40)", 64, B(0x40, 0x88, 0x39), REG(1, RDI) },
    { "mov %r15b,(%rcx) (REX.R)", 64, B(0x44, 0x88, 0x39), REG(1, 15) },
    { "REX.W on a byte store is ignored: mov %sil,(%rcx)", 64, B(0x48, 0x88, 0x31), REG(1, RSI) },
    { "movb $0x5a,(%rcx)", 64, B(0xc6, 0x01, 0x5a), IMM(1, 0x5a) },
    { "movw $0x1234,(%rcx)", 64, B(0x66, 0xc7, 0x01, 0x34, 0x12), IMM(2, 0x1234) },
    { "movl $0xdeadbeef,(%rcx) (not sign-extended)", 64,
      B(0xc7, 0x01, 0xef, 0xbe, 0xad, 0xde), IMM(4, 0xdeadbeef) },
    { "movq $-2,(%rcx) (imm32 sign-extended)", 64,
      B(0x48, 0xc7, 0x01, 0xfe, 0xff, 0xff, 0xff), IMM(8, 0xfffffffffffffffeull) },
    { "movq $0x7fffffff,0x12345678(%rax,%rbx,8) (SIB, disp32, imm32)", 64,
      B(0x48, 0xc7, 0x84, 0xd8, 0x78, 0x56, 0x34, 0x12, 0xff, 0xff, 0xff, 0x7f),
      IMM(8, 0x7fffffff) },
    { "mov %ecx,0x1000(%rip)", 64, B(0x89, 0x0d, 0x00, 0x10, 0x00, 0x00), REG(4, RCX) },
    { "movl $0x11223344,0x1000(%rip) (imm after disp)", 64,
      B(0xc7, 0x05, 0x00, 0x10, 0x00, 0x00, 0x44, 0x33, 0x22, 0x11), IMM(4, 0x11223344) },
    { "REX.B does not change RIP-relative: mov %eax,0x12345678(%rip)", 64,
      B(0x41, 0x89, 0x05, 0x78, 0x56, 0x34, 0x12), REG(4, RAX) },
    { "mov %edx,0x8(%rsp) (SIB, disp8)", 64, B(0x89, 0x54, 0x24, 0x08), REG(4, RDX) },
    { "mov %edx,(%rax,%r11,4) (REX.X)", 64, B(0x42, 0x89, 0x14, 0x98), REG(4, RDX) },
    { "mov %r10,0(%r13) (r13 base needs disp8)", 64, B(0x4d, 0x89, 0x55, 0x00), REG(8, 10) },
    { "mov %eax,0(%rbp)", 64, B(0x89, 0x45, 0x00), REG(4, RAX) },
    { "mov %eax,0x12345678 (SIB no base, disp32)", 64,
      B(0x89, 0x04, 0x25, 0x78, 0x56, 0x34, 0x12), REG(4, RAX) },
    { "REX.B does not change SIB base 101: mov %eax,0x12345678", 64,
      B(0x41, 0x89, 0x04, 0x25, 0x78, 0x56, 0x34, 0x12), REG(4, RAX) },
    { "mov %eax,0(,%rcx,2) (index, no base)", 64,
      B(0x89, 0x04, 0x4d, 0x00, 0x00, 0x00, 0x00), REG(4, RAX) },
    { "mov %eax,(%r12,%r13,1)", 64, B(0x43, 0x89, 0x04, 0x2c), REG(4, RAX) },
    { "mov %eax,0(%rbp,%r12,1)", 64, B(0x42, 0x89, 0x44, 0x25, 0x00), REG(4, RAX) },
    { "xchg %eax,(%rcx)", 64, B(0x87, 0x01), XCHG(4, RAX) },
    { "xchg %r11,0x20(%rdx)", 64, B(0x4c, 0x87, 0x5a, 0x20), XCHG(8, 11) },
    { "xchg %bl,(%rdi)", 64, B(0x86, 0x1f), XCHG(1, RBX) },
    { "xchg %ch,(%rdi)", 64, B(0x86, 0x2f), .width = 1, .from_reg = true, .reg = RCX,
      .high_byte = true, .is_xchg = true },
    { "xchg %bpl,(%rdi)", 64, B(0x40, 0x86, 0x2f), XCHG(1, RBP) },
    { "lock xchg %eax,(%rcx)", 64, B(0xf0, 0x87, 0x01), XCHG(4, RAX) },
    { "xchg %ax,(%rcx) (66)", 64, B(0x66, 0x87, 0x01), XCHG(2, RAX) },
    { "mov %eax,%fs:(%rcx)", 64, B(0x64, 0x89, 0x01), REG(4, RAX) },
    { "mov %eax,%gs:0x10(%rcx)", 64, B(0x65, 0x89, 0x41, 0x10), REG(4, RAX) },
    { "every segment override", 64, B(0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x89, 0x01), REG(4, RAX) },
    { "mov %eax,(%ecx) (67)", 64, B(0x67, 0x89, 0x01), REG(4, RAX) },
    { "mov %eax,0x10(%esp) (67, SIB)", 64, B(0x67, 0x89, 0x44, 0x24, 0x10), REG(4, RAX) },
    { "mov %eax,0x40(%eip) (67, RIP-relative)", 64,
      B(0x67, 0x89, 0x05, 0x40, 0x00, 0x00, 0x00), REG(4, RAX) },
    { "67 in 64-bit mode never selects 16-bit forms: mod 00 rm 110 is (%esi)", 64,
      B(0x67, 0x89, 0x06), REG(4, RAX) },
    { "REX.W overrides 66: data16 mov %rax,(%rcx)", 64, B(0x66, 0x48, 0x89, 0x01), REG(8, RAX) },
    { "REX.W overrides 66 for C7: imm32, sign-extended", 64,
      B(0x66, 0x48, 0xc7, 0x01, 0x00, 0x00, 0x00, 0x80), IMM(8, 0xffffffff80000000ull) },
    { "REX then 66: the REX is ignored (mov %ax,(%rcx))", 64, B(0x48, 0x66, 0x89, 0x01), REG(2, RAX) },
    { "REX.R then 66: REX ignored, so reg is rax not r8", 64, B(0x44, 0x66, 0x89, 0x01), REG(2, RAX) },
    { "REX 40 then 66: REX ignored, mov %ah,(%rcx)", 64, B(0x40, 0x66, 0x88, 0x21), HIGH(RAX) },
    { "two REX: only the last counts (mov %r9d,(%rcx))", 64, B(0x48, 0x44, 0x89, 0x09), REG(4, 9) },
    { "15 bytes: cs fs addr32 movq $0x7fffffff,0x12345678(%eax,%ecx,4)", 64,
      B(0x2e, 0x64, 0x67, 0x48, 0xc7, 0x84, 0x88, 0x78, 0x56, 0x34, 0x12, 0xff, 0xff, 0xff, 0x7f),
      IMM(8, 0x7fffffff) },

    /* ---- 32-bit mode */
    { "32: mov %edx,(%ecx)", 32, B(0x89, 0x11), REG(4, RDX) },
    { "32: mov %ax,0x10(%ebx,%esi,4)", 32, B(0x66, 0x89, 0x44, 0xb3, 0x10), REG(2, RAX) },
    { "32: movb $0x80,-0x1(%ebp)", 32, B(0xc6, 0x45, 0xff, 0x80), IMM(1, 0x80) },
    { "32: movw $0xbeef,(%edi)", 32, B(0x66, 0xc7, 0x07, 0xef, 0xbe), IMM(2, 0xbeef) },
    { "32: movl $0xcafef00d,0x4(%esp)", 32,
      B(0xc7, 0x44, 0x24, 0x04, 0x0d, 0xf0, 0xfe, 0xca), IMM(4, 0xcafef00d) },
    { "32: mov %ah,(%eax)", 32, B(0x88, 0x20), HIGH(RAX) },
    { "32: mov %eax,0x12345678 (mod 00 rm 101: absolute disp32)", 32,
      B(0x89, 0x05, 0x78, 0x56, 0x34, 0x12), REG(4, RAX) },
    { "32: mov %eax,(%bx,%si) (67: 16-bit addressing)", 32, B(0x67, 0x89, 0x00), REG(4, RAX) },
    { "32: addr16 movl $0x11223344,0x1234", 32,
      B(0x67, 0xc7, 0x06, 0x34, 0x12, 0x44, 0x33, 0x22, 0x11), IMM(4, 0x11223344) },
    { "32: mov %dl,0x7f(%bp) (67)", 32, B(0x67, 0x88, 0x56, 0x7f), REG(1, RDX) },
    { "32: addr16 mov %eax,0x1234(%bx) (mod 10: disp16)", 32,
      B(0x67, 0x89, 0x87, 0x34, 0x12), REG(4, RAX) },
    { "32: xchg %edx,(%ecx)", 32, B(0x87, 0x11), XCHG(4, RDX) },
    { "32: lock xchg %dh,(%ecx)", 32, B(0xf0, 0x86, 0x31), .width = 1, .from_reg = true,
      .reg = RDX, .high_byte = true, .is_xchg = true },
    { "32: ds mov %ebx,(%esi)", 32, B(0x3e, 0x89, 0x1e), REG(4, RBX) },

    /* ---- 16-bit mode */
    { "16: mov %dx,(%bx,%si)", 16, B(0x89, 0x10), REG(2, RDX) },
    { "16: mov %ax,0x1234 (mod 00 rm 110: disp16)", 16, B(0x89, 0x06, 0x34, 0x12), REG(2, RAX) },
    { "16: mov %ax,0(%bp)", 16, B(0x89, 0x46, 0x00), REG(2, RAX) },
    { "16: mov %al,0x12(%bp,%di)", 16, B(0x88, 0x43, 0x12), REG(1, RAX) },
    { "16: mov %cx,0x1234(%si)", 16, B(0x89, 0x8c, 0x34, 0x12), REG(2, RCX) },
    { "16: movw $0xbeef,(%di)", 16, B(0xc7, 0x05, 0xef, 0xbe), IMM(2, 0xbeef) },
    { "16: movl $0xcafef00d,(%bx) (66)", 16,
      B(0x66, 0xc7, 0x07, 0x0d, 0xf0, 0xfe, 0xca), IMM(4, 0xcafef00d) },
    { "16: mov %eax,(%ecx) (67 66: 32-bit addressing)", 16, B(0x67, 0x66, 0x89, 0x01), REG(4, RAX) },
    { "16: mov %edx,0x12345678 (67 66, mod 00 rm 101: disp32)", 16,
      B(0x67, 0x66, 0x89, 0x15, 0x78, 0x56, 0x34, 0x12), REG(4, RDX) },
    { "16: mov %eax,0x8(%esp,%eax,2) (67 66, SIB)", 16,
      B(0x67, 0x66, 0x89, 0x44, 0x44, 0x08), REG(4, RAX) },
    { "16: movb $0x7,-2(%bx)", 16, B(0xc6, 0x47, 0xfe, 0x07), IMM(1, 0x07) },
    { "16: mov %bh,(%si)", 16, B(0x88, 0x3c), HIGH(RBX) },
    { "16: xchg %ax,(%bx)", 16, B(0x87, 0x07), XCHG(2, RAX) },
    { "16: es mov %si,(%di)", 16, B(0x26, 0x89, 0x35), REG(2, RSI) },
};

/* Decode from a heap copy of exactly `n` bytes, so that ASan catches any read past
   `avail` (the bytes after an instruction at the end of a page are not readable). */
static int decode_exact(const uint8_t *bytes, size_t n, unsigned mode, struct x86_store *s)
{
    uint8_t *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, bytes, n);
    int r = x86_decode_store(copy, n, mode, s);
    free(copy);
    return r;
}

static void check_good(const struct good *g, size_t avail)
{
    struct x86_store s;
    memset(&s, 0xa5, sizeof(s));
    int r = avail <= sizeof(g->bytes) ? decode_exact(g->bytes, avail, g->mode, &s)
                                      : x86_decode_store(g->bytes, avail, g->mode, &s);
    if (r != 0)
        fail_msg("%s: rejected", g->what);
    if (s.len != g->n || s.width != g->width || s.from_reg != g->from_reg ||
        s.reg != g->reg || s.high_byte != g->high_byte || s.imm != g->imm ||
        s.is_xchg != g->is_xchg)
        fail_msg("%s: got len %u width %u from_reg %d reg %u high %d imm %#llx xchg %d; "
                 "want len %u width %u from_reg %d reg %u high %d imm %#llx xchg %d",
                 g->what, s.len, s.width, s.from_reg, s.reg, s.high_byte,
                 (unsigned long long)s.imm, s.is_xchg, g->n, g->width, g->from_reg, g->reg,
                 g->high_byte, (unsigned long long)g->imm, g->is_xchg);
}

/* Every supported form, given exactly its own bytes. */
static void test_forms_exact(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        check_good(&good[i], good[i].n);
}

/* Following bytes (the rest of the guest's code) do not change the result. */
static void test_forms_with_trailing_bytes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct good g = good[i];
        memset(g.bytes + g.n, 0x90, sizeof(g.bytes) - g.n);
        check_good(&g, sizeof(g.bytes));
        check_good(&g, 4096);               /* avail larger than any instruction */
    }
}

/* Every proper prefix of a supported form is truncated and must be rejected. */
static void test_truncated(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        for (size_t n = 0; n < good[i].n; n++) {
            struct x86_store s;
            if (decode_exact(good[i].bytes, n, good[i].mode, &s) != -1)
                fail_msg("%s: accepted with only %zu of %u bytes", good[i].what, n, good[i].n);
        }
    }
}

static int dec(unsigned mode, const uint8_t *b, size_t n)
{
    struct x86_store s;
    return x86_decode_store(b, n, mode, &s);
}
#define REJECT(mode, ...) do { \
        static const uint8_t b_[] = { __VA_ARGS__ }; \
        assert_int_equal(dec(mode, b_, sizeof(b_)), -1); \
    } while (0)
#define ACCEPT(mode, ...) do { \
        static const uint8_t b_[] = { __VA_ARGS__ }; \
        assert_int_equal(dec(mode, b_, sizeof(b_)), 0); \
    } while (0)

static void test_reject_register_destination(void **state)
{
    (void)state;
    REJECT(64, 0x89, 0xd1);                 /* mov %edx,%ecx */
    REJECT(64, 0x48, 0x89, 0xc8);           /* mov %rcx,%rax */
    REJECT(64, 0x88, 0xe0);                 /* mov %ah,%al */
    REJECT(64, 0xc6, 0xc0, 0x01);           /* mov $1,%al */
    REJECT(64, 0xc7, 0xc0, 0x01, 0x00, 0x00, 0x00);     /* mov $1,%eax */
    REJECT(64, 0x87, 0xd1);                 /* xchg %edx,%ecx */
    REJECT(64, 0x86, 0xc4);                 /* xchg %al,%ah */
    REJECT(32, 0x89, 0xd1);
    REJECT(16, 0x89, 0xd1);
    REJECT(64, 0xf0, 0x87, 0xd1);           /* lock xchg reg,reg: #UD */
}

static void test_reject_opcodes(void **state)
{
    (void)state;
    REJECT(64, 0x8b, 0x01);                 /* mov (%rcx),%eax: a load */
    REJECT(64, 0x8a, 0x01);                 /* mov (%rcx),%al */
    REJECT(64, 0xa3, 0x78, 0x56, 0x34, 0x12, 0x00, 0x00, 0x00, 0x00);   /* moffs store */
    REJECT(32, 0xa3, 0x78, 0x56, 0x34, 0x12);
    REJECT(64, 0xa2, 0x78, 0x56, 0x34, 0x12, 0x00, 0x00, 0x00, 0x00);
    REJECT(64, 0xab);                       /* stos */
    REJECT(64, 0xf3, 0xab);                 /* rep stos */
    REJECT(64, 0x0f, 0xc3, 0x01);           /* movnti %eax,(%rcx) */
    REJECT(64, 0x0f, 0x38, 0xf1, 0x01);     /* movbe %eax,(%rcx) */
    REJECT(64, 0x01, 0x01);                 /* add %eax,(%rcx) */
    REJECT(64, 0x90);                       /* nop */
    REJECT(64, 0xc5, 0xf9, 0x7f, 0x01);     /* vmovdqa %xmm0,(%rcx) (VEX) */
    REJECT(64, 0xc7, 0x09, 0, 0, 0, 0);     /* C7 /1: not MOV */
    REJECT(64, 0xc6, 0x39, 0x00);           /* C6 /7 */
    REJECT(64, 0xc7, 0xf8, 0, 0, 0, 0);     /* xbegin (C7 /7, mod 11) */
    REJECT(64, 0xc6, 0xf8, 0x00);           /* xabort */
    /* F2 / F3 (including XRELEASE mov) are not supported */
    REJECT(64, 0xf3, 0x89, 0x01);
    REJECT(64, 0xf2, 0x89, 0x01);
    /* 40-4F are INC/DEC outside 64-bit mode, never REX */
    REJECT(32, 0x48, 0x89, 0x01);
    REJECT(16, 0x41, 0x89, 0x01);
    ACCEPT(64, 0x48, 0x89, 0x01);           /* the same bytes are fine in 64-bit mode */
    /* LOCK is valid only with XCHG here: LOCK MOV is #UD */
    REJECT(64, 0xf0, 0x89, 0x01);
    REJECT(64, 0xf0, 0x88, 0x01);
    REJECT(64, 0xf0, 0xc7, 0x01, 0, 0, 0, 0);
    REJECT(64, 0xf0, 0xc6, 0x01, 0);
    ACCEPT(64, 0xf0, 0x87, 0x01);
    ACCEPT(64, 0xf0, 0x86, 0x01);
    /* a REX ends the prefixes: a REX in front of a non-store opcode is still rejected */
    REJECT(64, 0x48, 0x8b, 0x01);
    REJECT(64, 0x48);                       /* REX alone */
    REJECT(64, 0x66, 0x67, 0x2e);           /* prefixes only */
}

static void test_reject_bad_args(void **state)
{
    (void)state;
    static const uint8_t b[] = { 0x89, 0x11 };
    struct x86_store s;
    assert_int_equal(x86_decode_store(b, sizeof(b), 64, &s), 0);
    assert_int_equal(x86_decode_store(b, sizeof(b), 8, &s), -1);
    assert_int_equal(x86_decode_store(b, sizeof(b), 0, &s), -1);
    assert_int_equal(x86_decode_store(b, sizeof(b), 63, &s), -1);
    assert_int_equal(x86_decode_store(NULL, 2, 64, &s), -1);
    assert_int_equal(x86_decode_store(b, 0, 64, &s), -1);
    /* the output is zeroed even on failure */
    memset(&s, 0xff, sizeof(s));
    assert_int_equal(x86_decode_store(b, 1, 64, &s), -1);
    assert_int_equal(s.len, 0);
    assert_int_equal(s.width, 0);
    assert_false(s.from_reg);
}

/* SDM 2 2.3.11: an instruction longer than 15 bytes is #GP; reject it even with the
   bytes available. Redundant prefixes are the only way to get there. */
static void test_length_limit(void **state)
{
    (void)state;
    /* 16 bytes: cs ds es ss fs gs data16 addr32 lock xchg %ax,0x12345678(%eax,%ecx,4) */
    static const uint8_t x16[] = { 0x2e, 0x3e, 0x26, 0x36, 0x64, 0x65, 0x66, 0x67, 0xf0,
                                   0x87, 0x84, 0x88, 0x78, 0x56, 0x34, 0x12 };
    struct x86_store s;
    assert_int_equal(x86_decode_store(x16, sizeof(x16), 64, &s), -1);
    assert_int_equal(x86_decode_store(x16, 64, 64, &s), -1);   /* "more" available */
    /* dropping one prefix gives 15 bytes: accepted */
    assert_int_equal(x86_decode_store(x16 + 1, sizeof(x16) - 1, 64, &s), 0);
    assert_int_equal(s.len, 15);
    assert_int_equal(s.width, 2);
    assert_true(s.is_xchg);

    /* 15 prefixes then the opcode */
    uint8_t p[32];
    memset(p, 0x3e, sizeof(p));
    p[14] = 0x89; p[15] = 0x01;
    assert_int_equal(x86_decode_store(p, sizeof(p), 64, &s), -1);     /* 16 bytes */
    p[13] = 0x89; p[14] = 0x01;
    assert_int_equal(x86_decode_store(p, sizeof(p), 64, &s), 0);      /* 15 bytes */
    assert_int_equal(s.len, 15);
    /* 16 bytes where the immediate crosses the limit */
    static const uint8_t imm16[] = { 0x2e, 0x2e, 0x64, 0x67, 0x48, 0xc7, 0x84, 0x88,
                                     0x78, 0x56, 0x34, 0x12, 0xff, 0xff, 0xff, 0x7f };
    assert_int_equal(x86_decode_store(imm16, sizeof(imm16), 64, &s), -1);
    assert_int_equal(x86_decode_store(imm16 + 1, sizeof(imm16) - 1, 64, &s), 0);
    assert_int_equal(s.len, 15);
    assert_int_equal(s.imm, 0x7fffffff);
}

/* The value fields of a store depend only on what they should. */
static void test_reg_numbering(void **state)
{
    (void)state;
    struct x86_store s;
    /* all 16 registers through REX.R, both widths, byte forms with and without REX */
    for (unsigned r = 0; r < 16; r++) {
        uint8_t b[3] = { (uint8_t)(0x48 | (r >> 3 << 2)), 0x89, (uint8_t)(((r & 7) << 3) | 1) };
        assert_int_equal(x86_decode_store(b, 3, 64, &s), 0);
        assert_int_equal(s.reg, r);
        assert_int_equal(s.width, 8);
        assert_false(s.high_byte);

        uint8_t c[3] = { (uint8_t)(0x40 | (r >> 3 << 2)), 0x88, (uint8_t)(((r & 7) << 3) | 1) };
        assert_int_equal(x86_decode_store(c, 3, 64, &s), 0);
        assert_int_equal(s.reg, r);                     /* AL..R15B, SPL..DIL with REX */
        assert_int_equal(s.width, 1);
        assert_false(s.high_byte);
    }
    for (unsigned r = 0; r < 8; r++) {
        uint8_t b[2] = { 0x88, (uint8_t)((r << 3) | 1) };
        for (unsigned mode = 16; mode <= 64; mode *= 2) {
            assert_int_equal(x86_decode_store(b, 2, mode, &s), 0);
            assert_int_equal(s.high_byte, r >= 4);
            assert_int_equal(s.reg, r >= 4 ? r - 4 : r);
        }
    }
}

/* Operand-size matrix for 89 and C7, SDM 2 2.2.1.2 table 2-4 and 1 table 3-4. */
static void test_operand_size(void **state)
{
    (void)state;
    struct {
        unsigned mode;
        uint8_t pre[2];
        uint8_t npre;
        uint8_t width;
    } t[] = {
        { 16, {0}, 0, 2 }, { 16, {0x66}, 1, 4 },
        { 32, {0}, 0, 4 }, { 32, {0x66}, 1, 2 },
        { 64, {0}, 0, 4 }, { 64, {0x66}, 1, 2 }, { 64, {0x48}, 1, 8 },
        { 64, {0x66, 0x48}, 2, 8 }, { 64, {0x48, 0x66}, 2, 2 },
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        uint8_t b[16];
        struct x86_store s;
        memcpy(b, t[i].pre, t[i].npre);
        /* 89 /r with a register-indirect operand valid in every addressing mode: rm 111
           is (%di)/(%bx) in 16-bit forms, (%edi)/(%rdi) otherwise: no displacement */
        b[t[i].npre] = 0x89;
        b[t[i].npre + 1] = 0x17;
        assert_int_equal(x86_decode_store(b, t[i].npre + 2u, t[i].mode, &s), 0);
        assert_int_equal(s.width, t[i].width);
        assert_int_equal(s.len, t[i].npre + 2);
        /* C7 /0 with the immediate of that size (imm32 for 64-bit) */
        unsigned imm_len = t[i].width == 8 ? 4 : t[i].width;
        b[t[i].npre] = 0xc7;
        b[t[i].npre + 1] = 0x07;
        memset(b + t[i].npre + 2, 0x81, imm_len);
        assert_int_equal(x86_decode_store(b, t[i].npre + 2u + imm_len, t[i].mode, &s), 0);
        assert_int_equal(s.width, t[i].width);
        assert_int_equal(s.len, t[i].npre + 2 + imm_len);
        uint64_t want = t[i].width == 2 ? 0x8181 : t[i].width == 4 ? 0x81818181
                      : 0xffffffff81818181ull;
        assert_int_equal(s.imm, want);
        /* one byte short of the immediate */
        assert_int_equal(x86_decode_store(b, t[i].npre + 1u + imm_len, t[i].mode, &s), -1);
    }
}

/* ModRM/SIB/displacement lengths for every mod/rm (and SIB base) combination, against
   the tables in SDM 2 2.1.5, for the three address sizes. */
static void test_modrm_lengths(void **state)
{
    (void)state;
    for (unsigned mod = 0; mod < 3; mod++) {
        for (unsigned rm = 0; rm < 8; rm++) {
            for (unsigned base = 0; base < 8; base++) {
                uint8_t b[16] = { 0x89, (uint8_t)((mod << 6) | (2 << 3) | rm),
                                  (uint8_t)((1 << 6) | (3 << 3) | base) };
                struct x86_store s;
                /* 32/64-bit addressing */
                unsigned want = 2;
                if (rm == 4)
                    want += 1 + ((mod == 0 && base == 5) ? 4 : 0);
                if (mod == 0 && rm == 5)
                    want += 4;
                want += mod == 1 ? 1 : mod == 2 ? 4 : 0;
                assert_int_equal(x86_decode_store(b, sizeof(b), 32, &s), 0);
                assert_int_equal(s.len, want);
                assert_int_equal(x86_decode_store(b, sizeof(b), 64, &s), 0);
                assert_int_equal(s.len, want);
                assert_int_equal(x86_decode_store(b, want, 64, &s), 0);
                assert_int_equal(x86_decode_store(b, want - 1, 64, &s), -1);
                /* 16-bit addressing: no SIB */
                unsigned want16 = 2 + (mod == 1 ? 1 : mod == 2 ? 2 : (rm == 6 ? 2 : 0));
                assert_int_equal(x86_decode_store(b, sizeof(b), 16, &s), 0);
                assert_int_equal(s.len, want16);
                assert_int_equal(x86_decode_store(b, want16 - 1, 16, &s), -1);
                /* 67 swaps them: 16-bit addressing in 32-bit mode, 32-bit in 16-bit */
                uint8_t p[17] = { 0x67 };
                memcpy(p + 1, b, 16);
                assert_int_equal(x86_decode_store(p, sizeof(p), 32, &s), 0);
                assert_int_equal(s.len, want16 + 1);
                assert_int_equal(x86_decode_store(p, sizeof(p), 16, &s), 0);
                assert_int_equal(s.len, want + 1);
                assert_int_equal(x86_decode_store(p, sizeof(p), 64, &s), 0);
                assert_int_equal(s.len, want + 1);
                assert_int_equal(s.reg, RDX);
                assert_int_equal(s.width, 4);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms_exact),
        cmocka_unit_test(test_forms_with_trailing_bytes),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_reject_register_destination),
        cmocka_unit_test(test_reject_opcodes),
        cmocka_unit_test(test_reject_bad_args),
        cmocka_unit_test(test_length_limit),
        cmocka_unit_test(test_reg_numbering),
        cmocka_unit_test(test_operand_size),
        cmocka_unit_test(test_modrm_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
