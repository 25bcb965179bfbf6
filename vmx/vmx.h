#ifndef LAMINA_VMX_H
#define LAMINA_VMX_H

#include <stdint.h>
#include "core/percpu.h"

/* vmx/vmx.c */
int vmx_probe_bsp(void);
int vmx_cpu_check(uint32_t cpu);
int vmx_cpu_launch(uint32_t cpu, uint64_t guest_rip, uint64_t guest_rsp);
void vmx_msr_bitmap_init(uint8_t *bitmap);

/* vmx/vmx_asm.S */
int vmx_launch(void);                 /* returns only on failure: 1 VMfailValid, 2 VMfailInvalid */
void vmx_exit_entry(void);            /* HOST_RIP */
void cpu_unblock_nmi(void);

/* State to resume natively at after VMXOFF (vmx/exit.c fills it). The layout is
 * used by vmx_devirt_jump in vmx_asm.S: keep the offsets in step. */
struct devirt_ctx {
    uint64_t rip, cs, rflags, rsp, ss;  /* 0, 8, 16, 24, 32 */
    uint64_t cr3, cr4;                  /* 40, 48 */
    uint64_t ds, es, fs, gs;            /* 56, 64, 72, 80 */
    uint64_t fs_base, gs_base;          /* 88, 96 */
    uint16_t gdtr_pad[3], gdtr_limit;   /* 104: lgdt operand at 110 */
    uint64_t gdtr_base;                 /* 112 */
    uint16_t idtr_pad[3], idtr_limit;   /* 120: lidt operand at 126 */
    uint64_t idtr_base;                 /* 128 */
    struct guest_regs regs;             /* 136 */
};
void vmx_devirt_jump(struct devirt_ctx *ctx) __attribute__((noreturn));

/* core/entry.c */
void report_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void monitor_seal(void);

#endif
