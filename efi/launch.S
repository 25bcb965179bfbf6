/* int loader_launch(int (*launch)(uint32_t cpu, uint64_t rip, uint64_t rsp), uint32_t cpu)
 *
 * Calls the monitor's cpu_launch with a resume point in loader code. On
 * success the CPU continues at 1: as the guest, with RSP as saved below and
 * the other registers as the monitor left them: only RSP is trusted there.
 * Returns 0 as the guest, or the monitor's -1 (still native). */
    .text
    .globl loader_launch
loader_launch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rdi, %rax
    movl %esi, %edi
    leaq 1f(%rip), %rsi
    movq %rsp, %rdx
    subq $8, %rsp           /* 16-byte alignment for the call */
    call *%rax
    addq $8, %rsp
    jmp 2f
1:  xorl %eax, %eax
2:  popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret

    .section .note.GNU-stack, "", @progbits
