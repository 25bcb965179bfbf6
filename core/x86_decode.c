/* Store-instruction decoder: SDM 2 chapter 2. See x86_decode.h for the supported set. */
#include "core/x86_decode.h"

#include <string.h>

#define REX_W 0x8
#define REX_R 0x4

/* Bytes of SIB and displacement that follow a memory-form ModRM byte (mod != 11b).
   SDM 2 table 2-1 (16-bit addressing) and tables 2-2/2-3 (32/64-bit addressing);
   REX.B does not change the special encodings rm = 100b (SIB) and mod = 00b with
   rm = 101b or SIB.base = 101b (disp32), SDM 2 2.2.1.2 table 2-5. */
static size_t modrm_tail_len(const uint8_t *p, size_t avail, unsigned addr_size, size_t *need)
{
    uint8_t modrm = p[0];
    unsigned mod = modrm >> 6, rm = modrm & 7;

    if (addr_size == 16) {
        if (mod == 0)
            return rm == 6 ? 2 : 0;                 /* [disp16] */
        return mod == 1 ? 1 : 2;
    }

    size_t n = 0;
    if (rm == 4) {                                  /* SIB follows */
        n = 1;
        if (avail < 2) {
            *need = 2;                              /* the SIB byte is missing */
            return 0;
        }
        if (mod == 0 && (p[1] & 7) == 5)
            return n + 4;                           /* no base, disp32 */
    } else if (mod == 0 && rm == 5) {
        return 4;                                   /* disp32, or RIP + disp32 in 64-bit mode */
    }
    if (mod == 1)
        return n + 1;
    if (mod == 2)
        return n + 4;
    return n;
}

int x86_decode_store(const uint8_t *code, size_t avail, unsigned mode, struct x86_store *out)
{
    memset(out, 0, sizeof(*out));
    if (code == NULL || (mode != 16 && mode != 32 && mode != 64))
        return -1;
    if (avail > X86_MAX_INSN_LEN)
        avail = X86_MAX_INSN_LEN;                   /* longer is #GP anyway */

    bool opsize = false, addrsize = false, lock = false;
    uint8_t rex = 0;
    size_t i = 0;

    /* Legacy prefixes (SDM 2 2.1.1), then at most one effective REX. */
    for (;; i++) {
        if (i >= avail)
            return -1;
        uint8_t b = code[i];
        if (b == 0x66) {
            opsize = true;
        } else if (b == 0x67) {
            addrsize = true;
        } else if (b == 0xf0) {
            lock = true;
        } else if (b == 0x26 || b == 0x2e || b == 0x36 || b == 0x3e || b == 0x64 || b == 0x65) {
            /* segment override: the exit already gives the address */
        } else if (mode == 64 && (b & 0xf0) == 0x40) {
            rex = b;
            continue;                               /* keeps rex: it may precede the opcode */
        } else {
            break;
        }
        rex = 0;                                    /* a REX not right before the opcode is ignored */
    }

    uint8_t op = code[i++];
    bool byte_op;
    switch (op) {
    case 0x88: case 0x86: case 0xc6:
        byte_op = true;
        break;
    case 0x89: case 0x87: case 0xc7:
        byte_op = false;
        break;
    default:
        return -1;
    }
    bool is_xchg = op == 0x86 || op == 0x87;
    bool is_imm = op == 0xc6 || op == 0xc7;
    if (lock && !is_xchg)
        return -1;                                  /* LOCK MOV: #UD (SDM 2 "LOCK") */

    unsigned op_size, addr_size;
    if (mode == 64) {
        op_size = (rex & REX_W) ? 64 : opsize ? 16 : 32;   /* REX.W overrides 66 */
        addr_size = addrsize ? 32 : 64;
    } else if (mode == 32) {
        op_size = opsize ? 16 : 32;
        addr_size = addrsize ? 16 : 32;
    } else {
        op_size = opsize ? 32 : 16;
        addr_size = addrsize ? 32 : 16;
    }

    if (i >= avail)
        return -1;
    uint8_t modrm = code[i];
    unsigned mod = modrm >> 6, reg = (modrm >> 3) & 7;
    if (mod == 3)
        return -1;                                  /* register destination: not MMIO */
    if (is_imm && reg != 0)
        return -1;                                  /* C6/C7 /1../7: other instructions or #UD */

    size_t need = 0;
    size_t tail = modrm_tail_len(&code[i], avail - i, addr_size, &need);
    if (need)
        return -1;
    i += 1 + tail;

    uint8_t width = byte_op ? 1 : (uint8_t)(op_size / 8);
    size_t imm_len = 0;
    if (is_imm)
        imm_len = width == 8 ? 4 : width;           /* imm32 for 64-bit operands */
    if (i + imm_len > avail)
        return -1;

    out->width = width;
    out->is_xchg = is_xchg;
    if (is_imm) {
        uint64_t v = 0;
        for (size_t k = 0; k < imm_len; k++)
            v |= (uint64_t)code[i + k] << (8 * k);
        if (width == 8)
            v = (uint64_t)(int64_t)(int32_t)(uint32_t)v;   /* sign-extended imm32 */
        out->imm = v;
        out->from_reg = false;
    } else {
        unsigned r = reg | ((rex & REX_R) ? 8 : 0);
        out->from_reg = true;
        if (byte_op && rex == 0 && r >= 4) {
            out->reg = (uint8_t)(r - 4);             /* AH, CH, DH, BH */
            out->high_byte = true;
        } else {
            out->reg = (uint8_t)r;                   /* with any REX: SPL, BPL, SIL, DIL */
        }
    }
    out->len = (uint8_t)(i + imm_len);
    return 0;
}
