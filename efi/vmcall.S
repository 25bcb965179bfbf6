/* UINT64 loader_vmcall(UINT64 function, UINT64 secret): the loader's private
 * hypercalls (core/bootinfo.h). RAX = function, RBX = secret; result in RAX. */
    .text
    .globl loader_vmcall
loader_vmcall:
    pushq %rbx
    movq %rdi, %rax
    movq %rsi, %rbx
    vmcall
    popq %rbx
    ret

    .section .note.GNU-stack, "", @progbits
