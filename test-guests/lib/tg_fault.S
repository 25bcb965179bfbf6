/* tg fault catching: the exception stubs and the arm/call/resume part of tg_try.
 *
 * tg_try (tg.c) loads a private IDT whose fault vectors point at the stubs
 * below, then calls tg_try_raw. tg_try_raw keeps a small context on its own
 * stack and publishes it in tg_try_slots[initial APIC ID]. When a stub sees
 * an armed context for its CPU it records vector, error code, RIP and CR2 and
 * irets to tg_try_resume with RSP pointing at the context again: fn's frames
 * are dropped and tg_try_raw returns the vector. Without an armed context
 * the fault goes on to the handler of the IDT that was loaded before
 * (tg_fw_idt[APIC ID]), with the stack exactly as the CPU left it.
 *
 * The stubs run at CPL 0 on the interrupted stack (IST 0); in 64-bit mode
 * the CPU always pushes SS:RSP, RFLAGS, CS:RIP and, for some vectors, an
 * error code (SDM 3A 7.14.2 "64-Bit Mode Stack Frame"), and IRETQ pops
 * SS:RSP too, which is what lets the stub pick the resume RSP.
 */

/* Context on tg_try_raw's stack. */
#define CTX_PREV     0   /* the slot's previous value (nesting) */
#define CTX_RSP      8   /* RSP to resume with (= the context itself) */
#define CTX_VECTOR  16
#define CTX_ERROR   24
#define CTX_RIP     32
#define CTX_CR2     40
#define CTX_OUT     48   /* struct tg_fault *, may be 0 */
#define CTX_SLOT    56   /* &tg_try_slots[apic] */
#define CTX_RCX     64   /* RCX, RSI, RDI at the fault (string instructions) */
#define CTX_RSI     72
#define CTX_RDI     80
#define CTX_SIZE   104   /* 88 + 16: RSP stays 16-byte aligned at the call */

/* Vectors that push an error code: 8, 10-14, 17, 21 (SDM 3A Table 6-1). */
#define ERRCODE_MASK 0x227d00

    .text

/* int tg_try_raw(void (*fn)(void *), void *arg, struct tg_fault *out) */
    .globl tg_try_raw
    .hidden tg_try_raw
    .type tg_try_raw, @function
tg_try_raw:
    push    %rbp
    mov     %rsp, %rbp
    push    %rbx
    push    %r12
    push    %r13
    push    %r14
    push    %r15
    sub     $CTX_SIZE, %rsp
    mov     %rdi, %r12
    mov     %rsi, %r13
    mov     %rdx, CTX_OUT(%rsp)
    movq    $-1, CTX_VECTOR(%rsp)
    movq    $0, CTX_ERROR(%rsp)
    movq    $0, CTX_RIP(%rsp)
    movq    $0, CTX_CR2(%rsp)
    movq    $0, CTX_RCX(%rsp)
    movq    $0, CTX_RSI(%rsp)
    movq    $0, CTX_RDI(%rsp)
    mov     $1, %eax
    xor     %ecx, %ecx
    cpuid
    shr     $24, %ebx                   /* initial APIC ID */
    lea     tg_try_slots(%rip), %rax
    lea     (%rax,%rbx,8), %rax
    mov     %rax, CTX_SLOT(%rsp)
    mov     (%rax), %rcx
    mov     %rcx, CTX_PREV(%rsp)
    mov     %rsp, CTX_RSP(%rsp)
    mov     %rsp, (%rax)                /* armed */
    mov     %r13, %rdi
    call    *%r12
    jmp     1f

    .globl tg_try_resume
    .hidden tg_try_resume
tg_try_resume:                          /* from a stub, RSP = context */
    cld
1:  mov     CTX_SLOT(%rsp), %rax
    mov     CTX_PREV(%rsp), %rcx
    mov     %rcx, (%rax)                /* disarmed */
    mov     CTX_OUT(%rsp), %rdx
    test    %rdx, %rdx
    jz      2f
    mov     CTX_VECTOR(%rsp), %rcx
    movl    %ecx, 0(%rdx)
    movl    $0, 4(%rdx)
    mov     CTX_ERROR(%rsp), %rcx
    mov     %rcx, 8(%rdx)
    mov     CTX_RIP(%rsp), %rcx
    mov     %rcx, 16(%rdx)
    mov     CTX_CR2(%rsp), %rcx
    mov     %rcx, 24(%rdx)
    mov     CTX_RCX(%rsp), %rcx
    mov     %rcx, 32(%rdx)
    mov     CTX_RSI(%rsp), %rcx
    mov     %rcx, 40(%rdx)
    mov     CTX_RDI(%rsp), %rcx
    mov     %rcx, 48(%rdx)
2:  mov     CTX_VECTOR(%rsp), %rax
    add     $CTX_SIZE, %rsp
    pop     %r15
    pop     %r14
    pop     %r13
    pop     %r12
    pop     %rbx
    pop     %rbp
    ret
    .size tg_try_raw, . - tg_try_raw

/* Stubs: the stack gets the same shape for all, [vector][error][frame]. */
.macro STUB name, vec, has_err
    .globl \name
    .hidden \name
    .type \name, @function
\name:
    .if \has_err == 0
    pushq   $0
    .endif
    pushq   $\vec
    jmp     tg_isr_common
    .size \name, . - \name
.endm

    STUB tg_isr_de, 0, 0
    STUB tg_isr_ud, 6, 0
    STUB tg_isr_ss, 12, 1
    STUB tg_isr_gp, 13, 1
    STUB tg_isr_pf, 14, 1
    STUB tg_isr_ac, 17, 1

/* Frame offsets after the four pushes below. */
#define F_RCX      8
#define F_VEC     32
#define F_ERR     40
#define F_RIP     48
#define F_RSP     72

tg_isr_common:
    push    %rax
    push    %rbx
    push    %rcx
    push    %rdx
    mov     $1, %eax
    xor     %ecx, %ecx
    cpuid
    shr     $24, %ebx                   /* initial APIC ID */
    lea     tg_try_slots(%rip), %rax
    mov     (%rax,%rbx,8), %rax
    test    %rax, %rax
    jz      .Lchain
    mov     F_VEC(%rsp), %rcx
    mov     %rcx, CTX_VECTOR(%rax)
    mov     F_ERR(%rsp), %rcx
    mov     %rcx, CTX_ERROR(%rax)
    mov     F_RIP(%rsp), %rcx
    mov     %rcx, CTX_RIP(%rax)
    mov     %cr2, %rcx
    mov     %rcx, CTX_CR2(%rax)
    mov     F_RCX(%rsp), %rcx
    mov     %rcx, CTX_RCX(%rax)
    mov     %rsi, CTX_RSI(%rax)        /* the stub did not touch RSI, RDI */
    mov     %rdi, CTX_RDI(%rax)
    lea     tg_try_resume(%rip), %rcx
    mov     %rcx, F_RIP(%rsp)
    mov     CTX_RSP(%rax), %rcx
    mov     %rcx, F_RSP(%rsp)
    pop     %rdx
    pop     %rcx
    pop     %rbx
    pop     %rax
    add     $16, %rsp                   /* vector, error code */
    iretq                               /* RFLAGS (IF, DF...) as at the fault */

.Lchain:
    /* Decode the gate of the previous IDT (SDM 3A 7.14.1, Figure 6-8):
     * offset 15:0 at +0, 31:16 at +6, 63:32 at +8. */
    lea     tg_fw_idt(%rip), %rax
    mov     (%rax,%rbx,8), %rax
    test    %rax, %rax
    jz      .Lhang
    mov     F_VEC(%rsp), %rcx
    shl     $4, %rcx
    add     %rcx, %rax                  /* the gate */
    testb   $0x80, 5(%rax)              /* present? */
    jz      .Lhang
    movzwl  0(%rax), %ecx
    movzwl  6(%rax), %edx
    shl     $16, %edx
    or      %edx, %ecx
    mov     8(%rax), %edx
    shl     $32, %rdx
    or      %rdx, %rcx                  /* the previous handler */
    mov     F_VEC(%rsp), %rbx
    mov     $ERRCODE_MASK, %eax
    bt      %ebx, %eax
    jc      3f
    mov     %rcx, F_ERR(%rsp)           /* no error code: over our 0 */
    pop     %rdx
    pop     %rcx
    pop     %rbx
    pop     %rax
    add     $8, %rsp                    /* vector */
    ret                                 /* to the handler, frame untouched */
3:  mov     %rcx, F_VEC(%rsp)           /* over the vector */
    pop     %rdx
    pop     %rcx
    pop     %rbx
    pop     %rax
    ret                                 /* to the handler, [error][frame] */
.Lhang:
    cli
    hlt
    jmp     .Lhang

    .data
    .balign 8
/* Armed context per initial APIC ID (0 = none). */
    .globl tg_try_slots
    .hidden tg_try_slots
tg_try_slots:
    .fill 256, 8, 0
/* Base of the IDT loaded before tg_try's, per initial APIC ID. */
    .globl tg_fw_idt
    .hidden tg_fw_idt
tg_fw_idt:
    .fill 256, 8, 0

    .section .note.GNU-stack, "", @progbits
