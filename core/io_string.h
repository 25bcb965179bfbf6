/* Emulation of INS and OUTS (with or without REP) on a port the monitor traps.
 * Pure: the caller fills struct ios_state from the VM exit; guest memory is reached
 * through the gwalk callbacks plus write_phys, the port through port_io.
 *
 * Contract: SDM Vol. 2 "INS/INSB/INSW/INSD", "OUTS/OUTSB/OUTSW/OUTSD", "REP/REPE/...";
 * Vol. 1 3.3.7 (address size: SI/DI/CX, ESI/EDI/ECX or RSI/RDI/RCX); Vol. 3A 6.3
 * (limit checking, expand-down segments), 5.4.1 / 3.4.5.1 (segment types), 3.3.7.1
 * (canonical addresses: #SS(0) for SS-relative accesses, else #GP(0)), 4.7 (#PF).
 *
 * Per element, in hardware order:
 *   - segment checks outside 64-bit mode (real, virtual-8086 and protected mode): the
 *     limit (expand-up and expand-down, with the B bit giving the upper bound), and in
 *     protected mode that the segment is usable and readable (OUTS) / a writable data
 *     segment (INS); a violation is #GP(0), or #SS(0) for SS;
 *   - in 64-bit mode the canonical check of the element's first and last byte;
 *   - paging (both pages of an element that straddles a page boundary) -> #PF;
 *   - INS: the destination is translated for writing BEFORE the port is read, so an
 *     element that faults does not consume port data and the restarted instruction
 *     reads it again (Bochs 2.7 cpu/io.cc INS*_Y*DX: "trigger any segment or page
 *     faults before reading from IO port"; SDM 2 REP: a faulting iteration leaves the
 *     registers as they were before it, so the instruction can be restarted);
 *   - OUTS: the source is read, then written to the port.
 * SI/DI/CX are updated per element: with a 16-bit address size only bits 15:0 change
 * (bits 63:16 are kept), with 32 bits the result is zero-extended to 64 bits, with 64
 * all bits. With REP and a count of 0 nothing happens and no register changes.
 *
 * At most max_elems elements per call: then IOS_AGAIN with RCX/RSI/RDI updated; the
 * caller leaves RIP on the instruction so the guest re-executes it (with an interrupt
 * window in between, as hardware gives between REP iterations).
 *
 * Not modelled: alignment checking (#AC), I/O permission (IOPL / TSS bitmap; hardware
 * checks it before the VM exit, SDM 3C 26.1.1), debug breakpoints on the data, and
 * accessed/dirty flags in guest paging structures (see core/gwalk.h). */
#ifndef LAMINA_IO_STRING_H
#define LAMINA_IO_STRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/gwalk.h"

/* Segment registers in the encoding of the VM-exit instruction-information field
 * (SDM 3C 28.2.5) and of the VMCS guest segment fields (ES first). */
enum ios_sreg { IOS_ES = 0, IOS_CS, IOS_SS, IOS_DS, IOS_FS, IOS_GS, IOS_NSEG };

/* A segment as the VMCS holds it: the limit in bytes (granularity applied) and the
 * access rights (SDM 3C 25.4.1 table 25-2: type 3:0, S 4, DPL 6:5, P 7, L 13, D/B 14,
 * G 15, unusable 16). */
struct ios_seg { uint64_t base; uint32_t limit; uint32_t ar; };

#define IOS_AR_UNUSABLE (1u << 16)
#define IOS_AR_DB       (1u << 14)

struct ios_state {
    /* the instruction */
    bool in;                /* INS (port -> memory); else OUTS */
    bool rep;
    uint8_t op_size;        /* 1, 2 or 4 */
    uint8_t addr_size;      /* 16, 32 or 64 */
    uint8_t seg;            /* OUTS source segment (enum ios_sreg); INS always uses ES */
    uint16_t port;          /* DX */
    /* the processor */
    bool long64;            /* 64-bit mode (EFER.LMA and CS.L) */
    bool pe;                /* CR0.PE */
    bool v86;               /* RFLAGS.VM */
    bool df;                /* RFLAGS.DF */
    unsigned cpl;
    struct ios_seg segs[IOS_NSEG];
    struct gwalk_ctx walk;  /* paging state and read_phys; walk.ac = RFLAGS.AC */
    /* registers: updated as elements complete */
    uint64_t rcx, rsi, rdi;
    /* callbacks */
    int (*write_phys)(void *opaque, uint64_t gpa, const void *buf, size_t len); /* 0 / -1 */
    /* One port access (IN: fills *value). Called exactly once per element. */
    void (*port_io)(void *opaque, uint16_t port, unsigned size, bool in, uint32_t *value);
    /* Optional: an element's memory access done (INS: a write, OUTS: a read),
     * at its linear address (the data breakpoints, core/debug.c). */
    void (*mem_access)(void *opaque, uint64_t la, unsigned size, bool write);
    void *opaque;           /* passed to write_phys, port_io and mem_access */
    unsigned max_elems;     /* bound per call, >= 1 */
    /* out */
    unsigned done;          /* elements completed in this call */
};

enum ios_result {
    IOS_DONE,       /* the instruction completed: advance RIP */
    IOS_AGAIN,      /* REP stopped at max_elems: leave RIP, the guest re-executes */
    IOS_FAULT,      /* inject *fault; RIP stays (faults are restartable) */
    IOS_MEM_ERROR,  /* a guest-physical read or write failed (not RAM) */
};

struct ios_fault {
    uint8_t vector;         /* 12 #SS, 13 #GP, 14 #PF; all with an error code */
    uint32_t error_code;
    uint64_t cr2;           /* #PF only */
};

#define IOS_VEC_SS 12
#define IOS_VEC_GP 13

/* Run the instruction (up to max_elems elements). */
enum ios_result ios_emulate(struct ios_state *s, struct ios_fault *fault);

/* Decoding INS/OUTS from its bytes, for processors that do not report the VM-exit
 * instruction-information field for them (IA32_VMX_BASIC bit 54 clear, SDM 3C A.1).
 * SDM 2 2.1.1 prefixes: 66 (operand size), 67 (address size), 26 2E 36 3E 64 65
 * (segment; the last one counts), F2/F3 (REP), and in 64-bit mode REX (ignored by
 * INS/OUTS; REX.W does not make them 64-bit). Opcodes 6C INSB, 6D INSW/D, 6E OUTSB,
 * 6F OUTSW/D. mode: 16, 32 or 64 (from CS.L/CS.D). Returns 0, or -1 (other opcode,
 * LOCK, more than 15 bytes, or bytes running past avail). */
struct ios_decoded {
    uint8_t len;            /* instruction length */
    uint8_t op_size;        /* 1, 2 or 4 */
    uint8_t addr_size;      /* 16, 32 or 64 */
    uint8_t seg;            /* enum ios_sreg: DS unless overridden */
    bool in, rep;
};
int ios_decode(const uint8_t *code, size_t avail, unsigned mode, struct ios_decoded *out);

#endif
