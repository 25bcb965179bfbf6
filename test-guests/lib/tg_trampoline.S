/* tg_trampoline: AP start-up page, real mode -> 64-bit mode. Layout and the
 * BSP's part: tg_trampoline.h.
 *
 * The image is position independent: it is copied to a page T below 1 MiB.
 * Real-mode code runs with CS base T and sets DS = CS; 32-bit code keeps T in
 * EBX (flat segments); 64-bit code addresses the page RIP-relative. Only the
 * GDTR base, the two far pointers and the IDT hold absolute addresses, and
 * the BSP writes those after copying.
 *
 * The mode switch follows SDM 3A 10.9.1 (switching to protected mode) and
 * 10.8.5 (initializing IA-32e mode): PE with a GDT, then CR4.PAE, CR3,
 * EFER.LME, then CR0.PG, then a far jump to a 64-bit code segment.
 */
#include "test-guests/lib/tg_trampoline.h"

#define CR0_PE          0x00000001
#define CR0_NW          0x20000000
#define CR0_CD          0x40000000
#define CR0_PG          0x80000000
#define MSR_EFER        0xc0000080
/* Vectors that push an error code: 8, 10-14, 17, 21, 29, 30 (SDM 3A Table 6-1). */
#define ERRCODE_MASK    0x60227d00

    /* A section of its own: .org below counts from its start. */
    .section .text.tg_tramp, "ax", @progbits
    .globl tg_tramp_start, tg_tramp_end
    .balign 16
tg_tramp_start:
.Ltr_base:

/* ------------------------------------------------------------ real mode */
    .code16
    /* After INIT + SIPI: CS = vector << 8 (base T), IP = 0, CR0 = 0x60000010
     * (SDM 3A 10.1.1 Table 10-1). Interrupts stay off until the next INIT. */
    cli
    cld
    mov     %cs, %ax
    mov     %ax, %ds
    xor     %ebx, %ebx
    mov     %ax, %bx
    shl     $4, %ebx                    /* EBX = T */
    lgdtl   TR_GDTR                     /* 32-bit base (operand-size 32) */
    mov     %cr0, %eax
    and     $~(CR0_CD | CR0_NW), %eax   /* caches on */
    or      $CR0_PE, %eax
    mov     %eax, %cr0
    /* SDM 3A 10.9.1 step 4: a far JMP right after MOV CR0 */
    ljmpl   *TR_FAR32

/* ---------------------------------------------------- 32-bit protected */
    .code32
    .balign 16
tr_pm32:
    mov     $TR_SEL_DATA, %ax
    mov     %ax, %ds
    mov     %ax, %es
    mov     %ax, %ss
    mov     %ax, %fs
    mov     %ax, %gs
    mov     TR_STACK(%ebx), %esp
    mov     TR_CR4(%ebx), %eax          /* PAE (and LA57 if the BSP uses it) */
    mov     %eax, %cr4
    mov     TR_CR3(%ebx), %eax
    mov     %eax, %cr3
    mov     $MSR_EFER, %ecx
    rdmsr
    or      TR_EFER(%ebx), %eax         /* LME, NXE if the BSP has it */
    wrmsr
    lidt    TR_IDTR(%ebx)               /* 64-bit gates: used once IA-32e is on */
    mov     %cr0, %eax
    or      $(CR0_PG | CR0_PE), %eax    /* IA-32e mode becomes active */
    mov     %eax, %cr0
    ljmpl   *TR_FAR64(%ebx)

/* -------------------------------------------------------------- 64-bit */
    .code64
    .balign 16
tr_lm64:
    lea     .Ltr_base(%rip), %r9   /* R9 = T for the rest */
    mov     $TR_SEL_DATA, %ax
    mov     %ax, %ds
    mov     %ax, %es
    mov     %ax, %ss
    mov     TR_STACK(%r9), %rsp         /* the full 64 bits this time */
    lea     TR_MAILBOX(%r9), %rdi
    call    tr_record                   /* uses the stack */
    movl    $TR_DONE_MAGIC, MB_DONE(%rdi)
tr_halt:
    cli
    hlt
    jmp     tr_halt

/* Fill the mailbox at RDI. Clobbers RAX, RBX, RCX, RDX, R8. */
tr_record:
    mov     %rsp, MB_RSP(%rdi)
    mov     TR_SEQ(%r9), %rax
    mov     %rax, MB_SEQ(%rdi)
    xor     %eax, %eax
    xor     %ecx, %ecx
    cpuid
    mov     %eax, %r8d                  /* highest basic leaf */
    mov     $1, %eax
    xor     %ecx, %ecx
    cpuid
    shr     $24, %ebx
    mov     %ebx, MB_APIC_ID(%rdi)
    mov     %ecx, MB_LEAF1_ECX(%rdi)
    movl    $0xffffffff, MB_X2APIC_ID(%rdi)
    cmp     $0xb, %r8d
    jb      1f
    mov     $0xb, %eax
    xor     %ecx, %ecx
    cpuid
    mov     %edx, MB_X2APIC_ID(%rdi)
1:  mov     $0x40000000, %eax
    xor     %ecx, %ecx
    cpuid
    mov     %eax, MB_HV_EAX(%rdi)
    mov     %ebx, MB_HV_EAX + 4(%rdi)
    mov     %ecx, MB_HV_EAX + 8(%rdi)
    mov     %edx, MB_HV_EAX + 12(%rdi)
    mov     $MSR_EFER, %ecx
    rdmsr
    mov     %eax, MB_EFER(%rdi)
    mov     %edx, MB_EFER + 4(%rdi)
    mov     %cr0, %rax
    mov     %rax, MB_CR0(%rdi)
    xor     %eax, %eax
    mov     %cs, %ax
    mov     %rax, MB_CS(%rdi)
    ret

/* Exception stubs: one per vector 0-31, TR_STUB_SIZE bytes apart. Each
 * leaves [error code, vector] on the stack like the CPU would have with an
 * error code, then records the fault and halts. */
    .balign TR_STUB_SIZE
tr_stubs:
    .irp    v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .balign TR_STUB_SIZE
    .if     ((ERRCODE_MASK >> \v) & 1) == 0
    pushq   $0
    .endif
    pushq   $\v
    jmp     tr_fault
    .endr

    .balign TR_STUB_SIZE
tr_fault:
    lea     .Ltr_base(%rip), %r9
    lea     TR_MAILBOX(%r9), %rdi
    popq    MB_FAULT_VEC(%rdi)
    popq    MB_FAULT_ERR(%rdi)
    mov     (%rsp), %rax                /* RIP of the interrupt frame */
    mov     %rax, MB_FAULT_RIP(%rdi)
    mov     %cr2, %rax
    mov     %rax, MB_FAULT_CR2(%rdi)
    movl    $TR_FAULT_MAGIC, MB_DONE(%rdi)
    jmp     tr_halt

/* ----------------------------------------------------------------- data */
    .org    TR_PARAMS
    .fill   TR_MAILBOX - TR_PARAMS, 1, 0
    .org    TR_MAILBOX
    .fill   MB_SIZE, 1, 0

    .org    TR_GDT
    .quad   0                           /* null */
    .quad   0x00cf9a000000ffff          /* 0x08: 32-bit code, base 0, 4 GiB */
    .quad   0x00cf92000000ffff          /* 0x10: data, base 0, 4 GiB */
    .quad   0x00af9a000000ffff          /* 0x18: 64-bit code (L = 1, SDM 3A 3.4.5) */
    .org    TR_GDTR
    .word   4 * 8 - 1
    .long   0                           /* base: T + TR_GDT */
    .org    TR_FAR32
    .long   0                           /* T + tr_pm32 */
    .word   TR_SEL_CODE32
    .org    TR_FAR64
    .long   0                           /* T + tr_lm64 */
    .word   TR_SEL_CODE64
    .org    TR_IDTR
    .word   TR_IDT_VECTORS * 16 - 1
    .quad   0                           /* base: T + TR_IDT */
    .org    TR_IDT
    .fill   TR_IDT_VECTORS * 16, 1, 0
    .org    TR_SIZE
tg_tramp_end:

    .section .data
    .globl tg_tramp_off_pm32, tg_tramp_off_lm64, tg_tramp_off_stubs
    .balign 4
tg_tramp_off_pm32:  .long tr_pm32 - .Ltr_base
tg_tramp_off_lm64:  .long tr_lm64 - .Ltr_base
tg_tramp_off_stubs: .long tr_stubs - .Ltr_base

    .section .note.GNU-stack, "", @progbits
