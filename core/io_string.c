/* INS/OUTS emulation; see core/io_string.h for the contract. */
#include <string.h>
#include "core/io_string.h"

static uint64_t addr_mask(unsigned addr_size)
{
    return addr_size == 16 ? 0xffffull : addr_size == 32 ? 0xffffffffull : ~0ull;
}

/* SDM 1 3.3.7 / 3.4.1.1: a 16-bit register write keeps bits 63:16, a 32-bit write
 * zero-extends to 64 bits. */
static uint64_t reg_update(uint64_t old, uint64_t v, unsigned addr_size)
{
    if (addr_size == 16)
        return (old & ~0xffffull) | (v & 0xffff);
    if (addr_size == 32)
        return v & 0xffffffffull;
    return v;
}

static void set_fault(struct ios_fault *f, uint8_t vector, uint32_t ec, uint64_t cr2)
{
    f->vector = vector;
    f->error_code = ec;
    f->cr2 = cr2;
}

/* Segment checks outside 64-bit mode (SDM 3A 6.3, 6.4.1; INS/OUTS "Protected Mode
 * Exceptions", "Real-Address Mode Exceptions"). Returns true if the access of `size`
 * bytes at offset `off` is allowed. */
static bool seg_ok(const struct ios_state *s, const struct ios_seg *sg, uint64_t off,
                   unsigned size, bool write)
{
    unsigned type = sg->ar & 0xf;
    bool code = type & 8;
    if (s->pe && !s->v86) {
        if (sg->ar & IOS_AR_UNUSABLE)
            return false;               /* null selector */
        if (write && (code || !(type & 2)))
            return false;               /* not a writable data segment */
        if (!write && code && !(type & 2))
            return false;               /* execute-only code segment */
    }
    uint64_t last = off + size - 1;
    /* Expand-down data segment: valid offsets are limit+1 .. 0xffff (B=0) or
       0xffffffff (B=1). Real and virtual-8086 mode use the cached descriptor as is. */
    if (!code && (type & 4)) {
        uint64_t upper = (sg->ar & IOS_AR_DB) ? 0xffffffffull : 0xffffull;
        return off > sg->limit && last <= upper;
    }
    return last <= sg->limit;
}

/* Linear address of the element at offset `off`, or false with *fault set. */
static bool element_la(const struct ios_state *s, unsigned sreg, uint64_t off, bool write,
                       uint64_t *la, struct ios_fault *fault)
{
    const struct ios_seg *sg = &s->segs[sreg];
    uint8_t vec = sreg == IOS_SS ? IOS_VEC_SS : IOS_VEC_GP;
    unsigned size = s->op_size;
    if (s->long64) {
        /* SDM 3A 3.4.4: in 64-bit mode only FS and GS have a base. */
        uint64_t base = (sreg == IOS_FS || sreg == IOS_GS) ? sg->base : 0;
        *la = base + off;
        if (!gwalk_canonical(&s->walk, *la) || !gwalk_canonical(&s->walk, *la + size - 1)) {
            set_fault(fault, vec, 0, 0);
            return false;
        }
        return true;
    }
    if (!seg_ok(s, sg, off, size, write)) {
        set_fault(fault, vec, 0, 0);
        return false;
    }
    *la = (sg->base + off) & 0xffffffffull;
    return true;
}

/* The linear address following the page of `la` (wrapping at 4 GiB outside IA-32e). */
static uint64_t next_page(const struct ios_state *s, uint64_t la)
{
    uint64_t n = (la | 0xfff) + 1;
    return s->long64 ? n : n & 0xffffffffull;
}

/* Translate the destination for writing, both pages if the element straddles. */
static int translate_dst(const struct ios_state *s, uint64_t la, uint64_t gpa[2], size_t *first,
                         struct ios_fault *fault)
{
    struct gwalk_fault f;
    size_t in_page = 4096 - (size_t)(la & 0xfff);
    *first = in_page < s->op_size ? in_page : s->op_size;
    int r = gwalk_translate(&s->walk, la, GW_WRITE, s->cpl, &gpa[0], &f);
    if (r == 0 && *first < s->op_size)
        r = gwalk_translate(&s->walk, next_page(s, la), GW_WRITE, s->cpl, &gpa[1], &f);
    if (r == -1)
        set_fault(fault, f.vector, f.error_code, f.cr2);
    return r;
}

enum ios_result ios_emulate(struct ios_state *s, struct ios_fault *fault)
{
    uint64_t amask = addr_mask(s->addr_size);
    uint64_t step = s->op_size;
    s->done = 0;
    for (;;) {
        if (s->rep && (s->rcx & amask) == 0)
            return IOS_DONE;
        if (s->rep && s->done >= s->max_elems)
            return IOS_AGAIN;
        uint64_t la;
        uint32_t value = 0;
        if (s->in) {
            /* SDM 2 INS: ES:(E/R)DI, no segment override possible. */
            if (!element_la(s, IOS_ES, s->rdi & amask, true, &la, fault))
                return IOS_FAULT;
            uint64_t gpa[2];
            size_t first;
            int r = translate_dst(s, la, gpa, &first, fault);
            if (r == -1)
                return IOS_FAULT;
            if (r != 0)
                return IOS_MEM_ERROR;
            s->port_io(s->opaque, s->port, s->op_size, true, &value);
            uint8_t buf[4];
            memcpy(buf, &value, sizeof(buf));       /* little-endian, as in memory */
            if (s->write_phys(s->opaque, gpa[0], buf, first) != 0 ||
                (first < s->op_size &&
                 s->write_phys(s->opaque, gpa[1], buf + first, s->op_size - first) != 0))
                return IOS_MEM_ERROR;
            if (s->mem_access)
                s->mem_access(s->opaque, la, s->op_size, true);
            uint64_t di = s->df ? s->rdi - step : s->rdi + step;
            s->rdi = reg_update(s->rdi, di, s->addr_size);
        } else {
            if (!element_la(s, s->seg, s->rsi & amask, false, &la, fault))
                return IOS_FAULT;
            struct gwalk_fault f;
            int r = gwalk_read(&s->walk, la, &value, s->op_size, GW_READ, s->cpl, &f);
            if (r == -1) {
                set_fault(fault, f.vector, f.error_code, f.cr2);
                return IOS_FAULT;
            }
            if (r != 0)
                return IOS_MEM_ERROR;
            if (s->mem_access)
                s->mem_access(s->opaque, la, s->op_size, false);
            s->port_io(s->opaque, s->port, s->op_size, false, &value);
            uint64_t si = s->df ? s->rsi - step : s->rsi + step;
            s->rsi = reg_update(s->rsi, si, s->addr_size);
        }
        s->done++;
        if (!s->rep)
            return IOS_DONE;
        s->rcx = reg_update(s->rcx, (s->rcx & amask) - 1, s->addr_size);
    }
}

int ios_decode(const uint8_t *code, size_t avail, unsigned mode, struct ios_decoded *out)
{
    memset(out, 0, sizeof(*out));
    if (code == NULL || (mode != 16 && mode != 32 && mode != 64))
        return -1;
    if (avail > 15)
        avail = 15;                 /* longer is #GP (SDM 2 2.3.11) */
    bool opsize = false, addrsize = false;
    uint8_t seg = IOS_DS;
    size_t i;
    for (i = 0; i < avail; i++) {
        uint8_t b = code[i];
        switch (b) {
        case 0x66: opsize = true; continue;
        case 0x67: addrsize = true; continue;
        case 0xf2: case 0xf3: out->rep = true; continue;
        case 0x26: seg = IOS_ES; continue;
        case 0x2e: seg = IOS_CS; continue;
        case 0x36: seg = IOS_SS; continue;
        case 0x3e: seg = IOS_DS; continue;
        case 0x64: seg = IOS_FS; continue;
        case 0x65: seg = IOS_GS; continue;
        default: break;
        }
        if (mode == 64 && (b & 0xf0) == 0x40)
            continue;               /* REX: no field of it applies to INS/OUTS */
        break;
    }
    if (i >= avail || code[i] < 0x6c || code[i] > 0x6f)
        return -1;
    uint8_t op = code[i];
    out->len = (uint8_t)(i + 1);
    out->in = op <= 0x6d;
    /* SDM 2 INS/OUTS: the byte forms are 6C/6E; 6D/6F are 16 or 32 bits (also in 64-bit
       mode, where the default operand size is 32). */
    unsigned dflt_op = mode == 16 ? 2 : 4;
    out->op_size = (op & 1) ? (uint8_t)(opsize ? 6 - dflt_op : dflt_op) : 1;
    /* SDM 1 3.6 / 3.3.7: 67 toggles 16 <-> 32, and 64 -> 32 in 64-bit mode. */
    out->addr_size = (uint8_t)(mode == 64 ? (addrsize ? 32 : 64)
                                          : (addrsize ? 48 - mode : mode));
    out->seg = seg;
    return 0;
}
