/* Per-CPU state of the monitor. One struct percpu per processor, inside the
 * monitor's reserved data region; in VMX root GS.base points at it.
 * Vendor-neutral: the backend keeps its own state in `backend`. */
#ifndef LAMINA_PERCPU_H
#define LAMINA_PERCPU_H

#include <stdint.h>
#include <stdbool.h>
#include "core/bootinfo.h"
#include "core/lamina_hypercall.h"
#include "core/policy.h"
#include "core/tsc.h"

#define HOST_STACK_SIZE   (16 * 4096)
#define HOST_IST_SIZE     (4 * 4096)
#define MAX_REDIRECTS     8
#define PERCPU_BACKEND_WORDS 16

/* Guest general-purpose registers as vmx_exit_entry pushes them. */
struct guest_regs {
    uint64_t rax, rcx, rdx, rbx, rsp_unused, rbp, rsi, rdi;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
};

struct __attribute__((packed)) tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
};

#define HOST_SEL_CODE 0x08
#define HOST_SEL_DATA 0x10
#define HOST_SEL_TSS  0x18

struct percpu {
    struct percpu *self;        /* %gs:0 in VMX root */
    uint32_t index;
    uint32_t apic_id;
    uint8_t *stack;             /* HOST_STACK_SIZE */
    uint8_t *ist_stack;         /* HOST_IST_SIZE: NMI, #DF, #MC */
    uint64_t gdt[6];            /* null, code, data, tss (2 slots), spare */
    struct tss64 tss;
    bool nmi_pending;           /* an NMI for the guest, to deliver */
    bool stopped;
    bool waiting_for_sipi;      /* guest in the INIT state, wait-for-SIPI */
    volatile bool init_request; /* another CPU sent this one an INIT IPI */
    uint32_t nredirect;
    uint64_t redirect_gpa[MAX_REDIRECTS];   /* hidden pages lent the sink for one step */
    uint64_t exits[LAMINA_EXIT_KINDS];      /* by exit kind (core/lamina_hypercall.h) */
    uint64_t ticks[LAMINA_EXIT_KINDS];      /* TSC ticks spent handling them */
    uint32_t lock_written;                  /* bit i: lock_msr[i] written once here */
    uint64_t lock_value[POLICY_MAX_LOCKS];  /* the value that first write set */
    struct tsc_virt tsc;        /* the guest's TSC offset and IA32_TSC_ADJUST */
    uint32_t trace_budget;      /* exits still to trace at log level debug */
    /* The backend's own per-CPU state (vmx/: struct vmx_cpu), opaque here. */
    uint64_t backend[PERCPU_BACKEND_WORDS] __attribute__((aligned(16)));
};

struct percpu *percpu_of(uint32_t index);

#ifdef LAMINA_UNIT_TEST
struct percpu *this_cpu(void);      /* tests/unit/fake_hw.c */
#else
static inline struct percpu *this_cpu(void)
{
    struct percpu *p;
    __asm__ volatile("mov %%gs:0, %0" : "=r"(p));
    return p;
}
#endif

#endif
