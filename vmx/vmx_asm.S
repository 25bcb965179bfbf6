/* VM entry and exit paths. SDM 3C 28 (VM exits) and 27 (VM entries): on an
 * exit only RSP and RIP come from the VMCS host area; the general-purpose
 * registers still hold the guest's values and are saved here first. */

/* RSB_FILL: 32 CALLs whose return addresses are speculation traps, then the
 * stack put back: the return stack buffer holds only these, so no RET of the
 * monitor consumes a prediction the guest left (Intel, "Retpoline: A Branch
 * Target Injection Mitigation", RSB stuffing; Spectre v2 and RSB underflow).
 * Clobbers RAX and the flags; uses 256 bytes of stack. tests/gates.sh checks
 * that the exit path runs it before its first CALL into C. */
.macro RSB_FILL
    movl $16, %eax
.Lrsb_loop\@:
    call .Lrsb_a\@
.Lrsb_trap_a\@:
    pause
    lfence
    jmp .Lrsb_trap_a\@
.Lrsb_a\@:
    call .Lrsb_b\@
.Lrsb_trap_b\@:
    pause
    lfence
    jmp .Lrsb_trap_b\@
.Lrsb_b\@:
    decl %eax
    jnz .Lrsb_loop\@
    addq $(32 * 8), %rsp
    lfence
.endm

/* VERW_IF_NEEDED: VERW of a data selector clears the CPU's fill, store and
 * load buffers where CPUID says MD_CLEAR (Intel, "Microarchitectural Data
 * Sampling", "MMIO Stale Data"): the last thing before entry, after every
 * monitor access, when core/spec.h decided it (vmx_verw_on_entry). Changes
 * only RFLAGS.ZF, which the entry replaces with the guest's. */
.macro VERW_IF_NEEDED
    cmpb $0, vmx_verw_on_entry(%rip)
    je .Lno_verw\@
    verw vmx_verw_sel(%rip)
.Lno_verw\@:
.endm

    .section .rodata
    .balign 2
vmx_verw_sel:
    .word 0x10          /* HOST_SEL_DATA */
    .text

    .text
/* int vmx_launch(void): VMLAUNCH. On success the guest runs from the VMCS
 * guest RIP/RSP (the loader's resume point) and this never returns; on
 * failure: 1 for VMfailValid, 2 for VMfailInvalid (SDM 3C 31.2). */
    .globl vmx_launch
vmx_launch:
    VERW_IF_NEEDED
    vmlaunch
    movl $2, %eax
    jc 1f
    movl $1, %eax
1:  ret

/* HOST_RIP. HOST_RSP is 16-byte aligned; 16 pushes keep it so for the call. */
    .globl vmx_exit_entry
vmx_exit_entry:
    pushq %r15
    pushq %r14
    pushq %r13
    pushq %r12
    pushq %r11
    pushq %r10
    pushq %r9
    pushq %r8
    pushq %rdi
    pushq %rsi
    pushq %rbp
    pushq $0            /* guest RSP lives in the VMCS */
    pushq %rbx
    pushq %rdx
    pushq %rcx
    pushq %rax
    RSB_FILL
    movq %rsp, %rdi
    call vmx_exit_handler
    popq %rax
    popq %rcx
    popq %rdx
    popq %rbx
    addq $8, %rsp
    popq %rbp
    popq %rsi
    popq %rdi
    popq %r8
    popq %r9
    popq %r10
    popq %r11
    popq %r12
    popq %r13
    popq %r14
    popq %r15
    VERW_IF_NEEDED
    vmresume
    /* only reached if VMRESUME failed */
    setc %dil
    movzbl %dil, %edi
    call vmx_resume_failed
    ud2

/* void vmx_devirt_jump(struct devirt_ctx *ctx): leave VMX operation and
 * continue natively with the guest's state. Runs on the monitor's stack and
 * code, which the firmware's page tables identity-map too. */
    .globl vmx_devirt_jump
vmx_devirt_jump:
    vmxoff
    movq 48(%rdi), %rax
    movq %rax, %cr4
    lgdt 110(%rdi)
    lidt 126(%rdi)
    movq 40(%rdi), %rax
    movq %rax, %cr3
    movw 56(%rdi), %ds
    movw 64(%rdi), %es
    movw 72(%rdi), %fs
    movw 80(%rdi), %gs
    movl $0xc0000100, %ecx
    movl 88(%rdi), %eax
    movl 92(%rdi), %edx
    wrmsr
    movl $0xc0000101, %ecx
    movl 96(%rdi), %eax
    movl 100(%rdi), %edx
    wrmsr
    pushq 32(%rdi)      /* ss */
    pushq 24(%rdi)      /* rsp */
    pushq 16(%rdi)      /* rflags */
    pushq 8(%rdi)       /* cs */
    pushq 0(%rdi)       /* rip */
    leaq 136(%rdi), %rdi
    movq 0(%rdi), %rax
    movq 8(%rdi), %rcx
    movq 16(%rdi), %rdx
    movq 24(%rdi), %rbx
    movq 40(%rdi), %rbp
    movq 48(%rdi), %rsi
    movq 64(%rdi), %r8
    movq 72(%rdi), %r9
    movq 80(%rdi), %r10
    movq 88(%rdi), %r11
    movq 96(%rdi), %r12
    movq 104(%rdi), %r13
    movq 112(%rdi), %r14
    movq 120(%rdi), %r15
    movq 56(%rdi), %rdi
    iretq

    .section .note.GNU-stack, "", @progbits

/* void cpu_unblock_nmi(void): IRET to the next instruction, which ends any
 * NMI blocking on this processor (SDM 3A 7.7.1). */
    .text
    .globl cpu_unblock_nmi
cpu_unblock_nmi:
    movq %rsp, %rax
    pushq $0x10         /* HOST_SEL_DATA */
    pushq %rax
    pushfq
    pushq $0x08         /* HOST_SEL_CODE */
    leaq 1f(%rip), %rax
    pushq %rax
    iretq
1:  ret
    .section .note.GNU-stack, "", @progbits
