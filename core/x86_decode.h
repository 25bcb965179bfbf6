/* Decoding the memory-writing instructions a guest uses for MMIO stores, enough to
 * emulate a store that trapped: the monitor knows the address (from the exit), this
 * gives the value's source, the width and the instruction length.
 *
 * Contract: Intel SDM Vol. 2 chapter 2 (2.1 instruction format, 2.1.5 ModR/M and SIB,
 * tables 2-1 and 2-2; 2.2.1 REX) and the MOV / XCHG / LOCK instruction pages.
 *
 * Supported (anything else returns -1):
 *   88 /r      MOV r/m8, r8             89 /r      MOV r/m16/32/64, r16/32/64
 *   C6 /0 ib   MOV r/m8, imm8           C7 /0 iw/id MOV r/m16/32/64, imm16/32
 *   86 /r      XCHG r/m8, r8            87 /r      XCHG r/m16/32/64, r16/32/64
 * with a memory destination only (ModRM.mod != 11b), and the prefixes
 *   66 (operand size), 67 (address size: changes only ModRM/SIB/displacement decoding),
 *   26 2E 36 3E 64 65 (segment; accepted and ignored, the address comes from the exit),
 *   F0 (LOCK: XCHG only; LOCK MOV is #UD, SDM 2 "LOCK", so it never reaches a store),
 *   REX 40-4F in 64-bit mode, effective only immediately before the opcode (a REX
 *   followed by another prefix is ignored, SDM 2 2.2.1).
 * Not supported: F2/F3 (incl. XRELEASE), moffs forms (A2/A3), string stores, 0F-escaped
 * opcodes (MOVNTI, MOVBE, SSE/AVX stores), VEX/EVEX.
 * Instructions longer than 15 bytes (#GP on hardware) or running past `avail` fail. */
#ifndef LAMINA_X86_DECODE_H
#define LAMINA_X86_DECODE_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

#define X86_MAX_INSN_LEN 15     /* SDM 2 2.3.11 */

struct x86_store {
    uint8_t len;          /* instruction length */
    uint8_t width;        /* 1, 2, 4 or 8 bytes */
    bool from_reg;        /* value in a GPR (number 0-15 in `reg`, or AH..BH for byte
                             regs 4-7 without REX: set `high_byte`) */
    uint8_t reg;          /* GPR holding the value: 0 RAX .. 15 R15. For AH, CH, DH, BH
                             (encodings 4-7 without REX) reg is 0-3 (RAX..RBX) and
                             high_byte is set: the value is bits 15:8 of that GPR. */
    bool high_byte;
    uint64_t imm;         /* when !from_reg: the value to store, `width` bytes (an imm32
                             with REX.W is sign-extended to 64 bits) */
    bool is_xchg;         /* XCHG r/m, r: also loads the old memory value into reg (a
                             32-bit load zero-extends into the 64-bit GPR) */
};

/* mode: 16, 32 or 64 (from CS.L/CS.D); returns 0, or -1 if not a supported store.
   *out is zeroed first, whatever the result. */
int x86_decode_store(const uint8_t *code, size_t avail, unsigned mode, struct x86_store *out);

#endif
