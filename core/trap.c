/* Exceptions taken in VMX root (or while the monitor runs setup code on its
 * own IDT). An NMI is remembered for the guest; a fault at a fixup site is
 * resumed; everything else prints a register dump and stops this CPU. */
#include <stdio.h>
#include "core/arch.h"
#include "core/log.h"
#include "core/backend.h"
#include "core/percpu.h"

struct trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rdi, rsi, rbp, rbx, rdx, rcx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};

struct fixup { uint64_t fault_rip, resume_rip; };
extern const struct fixup __fixup_start[], __fixup_end[];

static const char *const vector_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP",
    "#SS", "#GP", "#PF", "15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "22", "23",
    "24", "25", "26", "27", "#HV", "#VC", "#SX", "31",
};

void trap_handler(struct trap_frame *f)
{
    if (f->vector == 2) {
        struct percpu *pc = this_cpu();
        pc->nmi_pending = true;
        be_nmi_in_root(pc);
        return;
    }
    if (f->vector == 13 || f->vector == 14) {
        for (const struct fixup *x = __fixup_start; x < __fixup_end; x++) {
            if (x->fault_rip == f->rip) {
                f->rip = x->resume_rip;
                return;
            }
        }
    }

    char buf[160];
    log_msg(LOG_FATAL, "exception %s (vector %lu) in the monitor, error code 0x%lx",
            vector_names[f->vector & 31], f->vector, f->error);
    sniprintf(buf, sizeof(buf), "  rip %016lx cs %04lx rflags %016lx rsp %016lx ss %04lx\n",
             f->rip, f->cs, f->rflags, f->rsp, f->ss);
    log_raw(buf);
    const uint64_t gpr[16] = {
        f->rax, f->rcx, f->rdx, f->rbx, f->rsp, f->rbp, f->rsi, f->rdi,
        f->r8, f->r9, f->r10, f->r11, f->r12, f->r13, f->r14, f->r15,
    };
    log_dump_gprs(gpr);
    sniprintf(buf, sizeof(buf), "  cr0 %016lx cr2 %016lx cr3 %016lx cr4 %016lx\n",
             read_cr0(), read_cr2(), read_cr3(), read_cr4());
    log_raw(buf);
    panic("monitor stopped this CPU after an exception");
}
