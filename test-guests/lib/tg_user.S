/* tg_user: run a few instructions at CPL 3 and come back (tg_user.c sets up
 * the GDT, TSS and IDT; see tg.h, tg_user_call).
 *
 * tg_user_enter saves the callee-saved registers and RSP in the context,
 * loads the user registers and IRETQs to CPL 3 (SDM 3A 7.14.3: IRET to an
 * outer privilege level pops SS:RSP too). The way back is any vector of the
 * private IDT: the CPU switches to TSS.RSP0 (SDM 3A 7.14.4), the stub records
 * the vector and the user registers, reloads the kernel SS and RSP from the
 * context and returns from tg_user_enter. Interrupts stay off throughout
 * (RFLAGS.IF = 0 at CPL 3). */

#define U_RIP     0
#define U_RSP     8
#define U_CS     16
#define U_SS     24
#define U_RAX    32
#define U_RBX    40
#define U_RCX    48
#define U_RDX    56
#define U_RSI    64
#define U_RDI    72
#define U_VEC    80
#define U_ERR    88
#define U_FRIP   96
#define U_CR2   104
#define U_KRSP  112
#define U_KSS   120

#define RETURN_VECTOR 0xf0
/* Vectors that push an error code: 8, 10-14, 17, 21, 29, 30 (SDM 3A Table 6-1). */

    .text

/* int tg_user_enter(struct tg_user_ctx *c) */
    .globl tg_user_enter
    .hidden tg_user_enter
    .type tg_user_enter, @function
tg_user_enter:
    push    %rbp
    push    %rbx
    push    %r12
    push    %r13
    push    %r14
    push    %r15
    mov     %rdi, tg_user_cur(%rip)
    mov     %rsp, U_KRSP(%rdi)
    xor     %eax, %eax
    mov     %ss, %ax
    mov     %rax, U_KSS(%rdi)
    pushq   U_SS(%rdi)
    pushq   U_RSP(%rdi)
    pushq   $0x2                        /* RFLAGS: IF = 0, IOPL = 0 */
    pushq   U_CS(%rdi)
    pushq   U_RIP(%rdi)
    mov     U_RAX(%rdi), %rax
    mov     U_RBX(%rdi), %rbx
    mov     U_RCX(%rdi), %rcx
    mov     U_RDX(%rdi), %rdx
    mov     U_RSI(%rdi), %rsi
    mov     U_RDI(%rdi), %rdi
    iretq
    .size tg_user_enter, . - tg_user_enter

.macro USTUB vec, has_err
    .balign 16
    .if \has_err == 0
    pushq   $0
    .endif
    pushq   $\vec
    jmp     tg_user_back
.endm

/* 32 exception stubs, 16 bytes apart, then the return vector's. */
    .balign 16
    .globl tg_user_stubs
    .hidden tg_user_stubs
tg_user_stubs:
    USTUB 0, 0
    USTUB 1, 0
    USTUB 2, 0
    USTUB 3, 0
    USTUB 4, 0
    USTUB 5, 0
    USTUB 6, 0
    USTUB 7, 0
    USTUB 8, 1
    USTUB 9, 0
    USTUB 10, 1
    USTUB 11, 1
    USTUB 12, 1
    USTUB 13, 1
    USTUB 14, 1
    USTUB 15, 0
    USTUB 16, 0
    USTUB 17, 1
    USTUB 18, 0
    USTUB 19, 0
    USTUB 20, 0
    USTUB 21, 1
    USTUB 22, 0
    USTUB 23, 0
    USTUB 24, 0
    USTUB 25, 0
    USTUB 26, 0
    USTUB 27, 0
    USTUB 28, 0
    USTUB 29, 1
    USTUB 30, 1
    USTUB 31, 0
    USTUB RETURN_VECTOR, 0

/* Stack: [vector][error][RIP][CS][RFLAGS][RSP][SS], on TSS.RSP0. */
tg_user_back:
    push    %rax
    mov     tg_user_cur(%rip), %rax
    mov     %rbx, U_RBX(%rax)
    mov     %rcx, U_RCX(%rax)
    mov     %rdx, U_RDX(%rax)
    mov     %rsi, U_RSI(%rax)
    mov     %rdi, U_RDI(%rax)
    pop     %rcx
    mov     %rcx, U_RAX(%rax)
    mov     0(%rsp), %rcx
    cmp     $RETURN_VECTOR, %rcx
    jne     1f
    mov     $-1, %rcx
1:  mov     %rcx, U_VEC(%rax)
    mov     8(%rsp), %rcx
    mov     %rcx, U_ERR(%rax)
    mov     16(%rsp), %rcx
    mov     %rcx, U_FRIP(%rax)
    mov     %cr2, %rcx
    mov     %rcx, U_CR2(%rax)
    mov     U_KSS(%rax), %rcx
    mov     %cx, %ss
    mov     U_KRSP(%rax), %rsp
    mov     U_VEC(%rax), %rax
    pop     %r15
    pop     %r14
    pop     %r13
    pop     %r12
    pop     %rbx
    pop     %rbp
    ret

/* User code: the hypercall with the registers tg_user_call loaded, then back. */
    .balign 16
    .globl tg_user_vmcall
    .hidden tg_user_vmcall
tg_user_vmcall:
    vmcall
    int     $RETURN_VECTOR
    .globl tg_user_vmcall_end
    .hidden tg_user_vmcall_end
tg_user_vmcall_end:

    .data
    .balign 8
tg_user_cur:
    .quad 0

    .section .note.GNU-stack, "", @progbits
