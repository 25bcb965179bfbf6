/* MSR accesses that may fault. The host #GP handler looks the faulting RIP up
 * in the fixup table and resumes at the paired address with RAX = -1. */
    .text
    .globl rdmsr_safe
/* int rdmsr_safe(uint32_t msr, uint64_t *v) */
rdmsr_safe:
    movl %edi, %ecx
    xorl %eax, %eax
1:  rdmsr
    shlq $32, %rdx
    orq %rdx, %rax
    movq %rax, (%rsi)
    xorl %eax, %eax
    ret
2:  movl $-1, %eax
    ret

    .globl wrmsr_safe
/* int wrmsr_safe(uint32_t msr, uint64_t v) */
wrmsr_safe:
    movl %edi, %ecx
    movl %esi, %eax
    movq %rsi, %rdx
    shrq $32, %rdx
3:  wrmsr
    xorl %eax, %eax
    ret
4:  movl $-1, %eax
    ret

    .section .fixup_table, "aw"
    .align 8
    .quad 1b, 2b
    .quad 3b, 4b

    .section .note.GNU-stack, "", @progbits
