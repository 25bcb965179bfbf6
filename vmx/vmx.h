/* The VT-x backend's own state and the helpers its files share. Only vmx/
 * includes this (`make gates` checks it); the core sees core/backend.h. */
#ifndef LAMINA_VMX_H
#define LAMINA_VMX_H

#include <stdbool.h>
#include <stdint.h>
#include "core/backend.h"
#include "core/percpu.h"
#include "ept/ept.h"
#include "vmx/caps.h"
#include "vmx/vmcs.h"

/* Monitor-wide VT-x state, built at setup. */
struct vmx_state {
    struct vmx_caps caps;
    struct vmx_controls ctl;
    bool has_mtf;                   /* the monitor trap flag may be set */
    bool wait_for_sipi;             /* the wait-for-SIPI activity state exists */
    bool ept_1g;                    /* EPT may map 1 GiB pages */
    uint64_t cr0_mask, cr4_mask;    /* CR0/CR4 guest/host masks: host-owned bits */
    uint64_t eptp;
    uint64_t ept_root;
    struct ept_stats ept_stats;
    struct ept_pool ept_reserve;    /* table pages for splits after MTRR writes */
    volatile uint64_t ept_generation;   /* bumped at each EPT retype: CPUs INVEPT */
    uint8_t *msr_bitmap;            /* 4 KiB, SDM 3C 25.6.9 */
    uint8_t *io_bitmap_a;           /* ports 0x0000-0x7fff, SDM 3C 25.6.4 */
    uint8_t *io_bitmap_b;           /* ports 0x8000-0xffff */
};
extern struct vmx_state vmx;

/* An entry of the VM-exit/VM-entry MSR lists (SDM 3C 25.7.2). */
struct vmx_msr_entry {
    uint32_t index;
    uint32_t reserved;
    uint64_t value;
};
#define VMX_MSR_AREA_HOST 2048      /* the host list's offset in a CPU's MSR page */

/* Per-CPU VT-x state, kept in struct percpu's backend words. */
struct vmx_cpu {
    uint8_t *vmxon_region;          /* 4 KiB */
    uint8_t *vmcs;                  /* 4 KiB */
    uint8_t *msr_area;              /* 4 KiB: the MSR lists (vmx/msr_list.c) */
    uint64_t ept_generation;        /* vmx.ept_generation last flushed for */
    uint32_t vpid;
    bool in_vmx;                    /* VMXON done on this CPU */
    bool stepping;                  /* single-stepping with RFLAGS.TF (no MTF) */
    bool guest_tf;                  /* the guest's own RFLAGS.TF when stepping began */
    bool nmi_window;                /* NMI-window exiting is on: an NMI waits */
    volatile bool timer_zeroed;     /* an NMI in VMX root set the preemption timer to 0 */
    uint8_t msr_store;              /* MSR lists (vmx/msr_list.c): guest entries stored at exit */
    uint8_t msr_entry_load;         /* guest entries loaded at entry */
    uint8_t msr_exit_load;          /* host entries loaded at exit */
    struct vmx_msr_entry *msr_guest, *msr_host;
};
_Static_assert(sizeof(struct vmx_cpu) <= sizeof(((struct percpu *)0)->backend),
               "struct vmx_cpu fits in struct percpu's backend words");

static inline struct vmx_cpu *vmx_cpu(struct percpu *pc)
{
    return (struct vmx_cpu *)(void *)pc->backend;
}

#define INTR_INFO_VALID       INTR_INFO_VALID_MASK
#define INTR_INFO_DELIVER_ERR INTR_INFO_DELIVER_CODE_MASK
#define INTR_TYPE_NMI         INTR_TYPE_NMI_INTR
#define INTR_TYPE_HW_EXC      INTR_TYPE_HARD_EXCEPTION
#define ACTIVITY_ACTIVE        0
#define ACTIVITY_WAIT_FOR_SIPI 3
#define INTERRUPTIBILITY_STI_MOVSS 3u
#define INTERRUPTIBILITY_MOVSS 2u
#define INTERRUPTIBILITY_NMI   (1u << 3)
/* The VMX-preemption timer's value between NMIs: about 2^32 << rate TSC
 * ticks, minutes on any CPU (SDM 3C 26.5.1); 0 makes the next entry exit. */
#define PREEMPTION_TIMER_IDLE  0xffffffffu

/* vmx/ept_exit.c: INVEPT of the monitor's EPT on this CPU. */
void vmx_flush_ept(void);
/* vmx/guest.c: INVVPID of this CPU's guest linear translations. */
void vmx_flush_vpid(struct percpu *pc);
/* VMWRITE of a guest-state field, dropping what the view cached of it. Every
 * write of a field the view reads (core/backend.h, enum gv_field) goes
 * through here or through guest_set. */
void vmx_guest_write(struct vcpu *v, uint64_t field, uint64_t value);
#ifdef LAMINA_UNIT_TEST
/* tests/unit/fake_vmcs.c: fails the test if a field the view cached no
 * longer matches the VMCS (checked after every exit). */
void fake_view_check(struct vcpu *v);
#endif

/* vmx/exit.c: one handler per basic exit reason. */
void vmx_handle_cr_access(struct vcpu *v);         /* vmx/cr.c */
void vmx_handle_exception_nmi(struct vcpu *v);     /* vmx/init.c */
void vmx_handle_init(struct vcpu *v);
void vmx_handle_sipi(struct vcpu *v);
void vmx_handle_ept_violation(struct vcpu *v);     /* vmx/ept_exit.c */
void vmx_handle_ept_misconfig(struct vcpu *v);
void vmx_handle_mtf(struct vcpu *v);
void vmx_handle_step_db(struct vcpu *v);
void vmx_handle_io(struct vcpu *v);                /* vmx/guest.c */
void vmx_handle_nmi_window(struct vcpu *v);        /* vmx/exit.c */
void vmx_handle_timer(struct vcpu *v);
void vmx_handle_task_switch(struct vcpu *v);

/* vmx/vmx.c and vmx/setup.c */
int vmx_check_cpu(uint32_t cpu, struct vmx_caps *caps, struct vmx_controls *ctl);
void vmx_cpu_error(uint32_t cpu, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* vmx/vmx_asm.S */
/* vmx/msr_list.c: the MSR lists of one CPU in its page `area`. */
struct spec_plan;
struct vmx_msr_plan {
    const struct spec_plan *spec;
    uint64_t guest_spec_ctrl;       /* the guest's first IA32_SPEC_CTRL: the firmware's */
    bool perf_global_ctrl;          /* IA32_PERF_GLOBAL_CTRL exists: 0 in VMX root */
    uint64_t guest_perf_global_ctrl;
};
void vmx_msr_lists_build(struct vmx_cpu *vc, uint8_t *area, const struct vmx_msr_plan *p);
/* VERW right before every VM entry (vmx/vmx_asm.S; core/spec.h says when). */
extern uint8_t vmx_verw_on_entry;
int vmx_launch(void);                 /* returns only on failure: 1 VMfailValid, 2 VMfailInvalid */
void vmx_exit_entry(void);            /* HOST_RIP */
void cpu_unblock_nmi(void);           /* IRET to itself: NMIs unblocked in VMX root */

/* State to resume natively at after VMXOFF (vmx/guest.c fills it). The layout is
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

#endif
