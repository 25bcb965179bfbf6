/* The monitor ELF, embedded in the loader (read-only data). */
    .section .rodata
    .align 64
    .globl monitor_elf_start, monitor_elf_end
monitor_elf_start:
    .incbin MONITOR_ELF
monitor_elf_end:

    .section .note.GNU-stack, "", @progbits
