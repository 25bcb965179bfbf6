/* Port I/O the monitor traps: the ports of the policy's io rules
 * (core/policy.h), the log port's UART under serial-exclusive, and the ports
 * that end the guest (ACPI PM1 control, the reset ports), to print the final
 * exit summary before the machine powers off or resets.
 * A denied access, and any access to the monitor's own UART, is a floating
 * bus: reads return all ones of the access width, writes are dropped. Any
 * other access reaches the hardware unchanged; under a log rule it is also
 * recorded in the event log. INS/OUTS run element by element through
 * core/io_string.c. */
#include <string.h>
#include "core/arch.h"
#include "core/evlog.h"
#include "core/io_string.h"
#include "core/log.h"
#include "core/monitor.h"
#include "core/shutdown.h"
#include "core/vcpu.h"

static volatile bool summary_done;

_Static_assert(SREG_ES == (int)IOS_ES && SREG_CS == (int)IOS_CS && SREG_SS == (int)IOS_SS &&
               SREG_DS == (int)IOS_DS && SREG_FS == (int)IOS_FS && SREG_GS == (int)IOS_GS,
               "segment numbering of core/backend.h and core/io_string.h");

/* The log port's eight UART registers, when serial-exclusive gives them to the monitor. */
static bool monitor_port(uint16_t port)
{
    uint16_t com = mon.bi->serial_port;
    return mon.bi->policy.serial_exclusive && com && port >= com && port - com < 8;
}

void io_intercepts_init(void)
{
    const struct lamina_policy *p = &mon.bi->policy;
    for (uint32_t i = 0; i < p->nrules && i < POLICY_MAX_RULES; i++) {
        const struct policy_rule *r = &p->rule[i];
        if (r->space == POLICY_IO && r->first <= r->last && r->last <= 0xffff)
            be_intercept_io((uint16_t)r->first, r->last - r->first + 1, true);
    }
    if (p->serial_exclusive && mon.bi->serial_port)
        be_intercept_io(mon.bi->serial_port, 8, true);
    for (int i = 0; i < 2; i++)
        if (mon.pm1_cnt[i])
            be_intercept_io(mon.pm1_cnt[i], 2, true);
    if (mon.reset_port)
        be_intercept_io(mon.reset_port, 1, true);
    if (mon.pm1a_evt && (mon.s5_typ & 0x80))
        be_intercept_io(mon.pm1a_evt, 2, true);     /* WAK_STS after a refused sleep */
    be_intercept_io(PORT_RESET_CONTROL, 1, true);
    /* M6: the 8042's reset, for the summary (its status reads exit too). */
    be_intercept_io(PORT_KBC_COMMAND, 1, true);
}

#ifdef LAMINA_UNIT_TEST
/* A new machine for the next test. */
void io_summary_reset(void)
{
    summary_done = false;
}
#endif

static void final_summary(struct percpu *pc, const char *what, uint16_t port, uint32_t value)
{
    if (__atomic_exchange_n(&summary_done, true, __ATOMIC_SEQ_CST))
        return;
    if (what)
        log_info("cpu %u: guest %s (port 0x%x, value 0x%x): final summary", pc->index, what, port,
                 value);
    else
        log_info("cpu %u: final summary", pc->index);
    stats_log_exits();
}

/* Reset the machine the way the guest's OS would (Linux reboot=a, p, k in
 * turn), for a guest event that resets a PC natively but would only stop a
 * CPU under the monitor: a triple fault, an INIT of the BSP. The values are
 * the monitor's own: the plain port writes are safe. Logged first, with the
 * final summary; if nothing resets, this CPU stops. */
void vcpu_reset_machine(struct vcpu *v, const char *why)
{
    struct percpu *pc = v->pc;
    log_info("cpu %u: %s: resetting the machine", pc->index, why);
    final_summary(pc, NULL, 0, 0);
    if (mon.reset_port && mon.reset_value)          /* ACPI 6.5 4.8.3.6 */
        outb(mon.reset_port, mon.reset_value);
    for (int i = 0; i < 100000; i++)
        cpu_relax();
    outb(PORT_RESET_CONTROL, CF9_SYS_RST);          /* Linux: prepare, then fire */
    outb(PORT_RESET_CONTROL, CF9_SYS_RST | CF9_RST_CPU);
    for (int i = 0; i < 100000; i++)
        cpu_relax();
    outb(PORT_KBC_COMMAND, 0xfe);
    for (int i = 0; i < 100000; i++)
        cpu_relax();
    vcpu_stop(v, "the machine did not reset");
}

static void before_out(struct percpu *pc, uint16_t port, unsigned size, uint32_t value)
{
    static const char *const what[] = {
        [SHUTDOWN_SLEEP] = "enters an ACPI sleep state",
        [SHUTDOWN_RESET] = "resets the machine",
        [SHUTDOWN_ACPI_RESET] = "resets the machine (ACPI reset register)",
        [SHUTDOWN_KBC_RESET] = "resets the machine (8042 reset line)",
    };
    const struct shutdown_ports ports = {
        .pm1_cnt = { mon.pm1_cnt[0], mon.pm1_cnt[1] }, .reset_port = mon.reset_port,
    };
    enum shutdown_kind k = shutdown_write_kind(&ports, port, size, value);
    if (k != SHUTDOWN_NONE)
        final_summary(pc, what[k], port, value);
}

static void io_perform(struct percpu *pc, uint16_t port, unsigned size, bool in, uint32_t *value)
{
    if (in) {
        if (size == 1)
            *value = inb(port);
        else if (size == 2)
            *value = inw(port);
        else
            *value = inl(port);
        return;
    }
    before_out(pc, port, size, *value);
    if (size == 1)
        outb(port, (uint8_t)*value);
    else if (size == 2)
        outw(port, (uint16_t)*value);
    else
        outl(port, *value);
}

void io_access(struct vcpu *v, uint16_t port, unsigned size, bool in, uint32_t *value)
{
    vcpu_debug_io(v, port, size);       /* the I/O breakpoints it hits, denied or not */
    unsigned dir = in ? POLICY_READ : POLICY_WRITE;
    uint8_t kind = in ? LAMINA_EV_IO_IN : LAMINA_EV_IO_OUT;
    const struct policy_rule *rule = policy_lookup_io(&mon.bi->policy, port, size, dir);
    bool mine = false;
    for (unsigned i = 0; i < size; i++)
        mine |= monitor_port((uint16_t)(port + i));
    if (mine || (rule && rule->action == POLICY_DENY)) {
        /* A floating bus: reads all ones, writes lost. */
        if (in)
            *value = size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
        vcpu_event(v, kind, LAMINA_ACT_DENIED, port, *value, (uint8_t)size);
        return;
    }
    unsigned typ;
    if (!in && sleep_refused(port, size, *value, &typ)) {
        static struct log_ratelimit rl = { .burst = 4 };
        uint32_t suppressed;
        if (log_ratelimit_pass(&rl, &suppressed))
            log_warn("cpu %u: ACPI sleep (SLP_TYP %u, port 0x%x = 0x%x) refused: the guest "
                     "would wake without the monitor; it sees an immediate wake",
                     v->pc->index, typ, port, *value);
        vcpu_event(v, kind, LAMINA_ACT_DENIED, port, *value, (uint8_t)size);
        return;
    }
    if (!in)
        sleep_status_out(port, size, *value);
    io_perform(v->pc, port, size, in, value);
    if (in)
        sleep_status_in(port, size, value);
    if (rule)
        vcpu_event(v, kind, LAMINA_ACT_LOGGED, port, *value, (uint8_t)size);
}

void vcpu_io(struct vcpu *v, uint16_t port, unsigned size, bool in)
{
    static const uint64_t mask[5] = { 0, 0xff, 0xffff, 0, 0xffffffff };
    uint32_t value = (uint32_t)(v->r->rax & mask[size]);
    io_access(v, port, size, in, &value);
    if (in) {
        /* IN to EAX zero-extends into RAX; to AL/AX it keeps the rest. */
        v->r->rax = size == 4 ? value : (v->r->rax & ~mask[size]) | value;
    }
    be_skip_instruction(v);
}

/* ------------------------------------------------ string I/O (INS/OUTS) */

/* Guest-physical access for string I/O. Monitor pages read as zeros and
 * writes to them are dropped: what the guest would get from the sink page
 * (core/memory.c) if the access had run natively. */
static struct log_ratelimit strio_rl = { .burst = 8 };

static int strio_read_phys(void *opaque, uint64_t gpa, void *buf, size_t len)
{
    (void)opaque;
    if (gpa + len > mon.bi->phys_limit)
        return -1;
    if (monitor_owns(gpa) || monitor_owns(gpa + len - 1)) {
        memset(buf, 0, len);
        return 0;
    }
    memcpy(buf, phys_ptr(gpa), len);
    return 0;
}

static int strio_write_phys(void *opaque, uint64_t gpa, const void *buf, size_t len)
{
    struct vcpu *v = opaque;
    if (gpa + len > mon.bi->phys_limit)
        return -1;
    /* The xAPIC page is read-only to the guest so that INIT IPIs can be
     * emulated: an INS there would reach the ICR behind the monitor's back.
     * Only MOV/XCHG stores to it are emulated; like any other form, this one
     * stops the guest. */
    if (memory_is_trapped_apic(gpa, len))
        return -1;
    if (monitor_owns(gpa) || monitor_owns(gpa + len - 1)) {
        uint32_t suppressed;
        if (log_ratelimit_pass(&strio_rl, &suppressed))
            log_warn("cpu %u: guest INS into monitor memory at gpa 0x%lx denied",
                     v->pc->index, gpa);
        return 0;
    }
    memcpy(phys_ptr(gpa), buf, len);
    return 0;
}

static void strio_port(void *opaque, uint16_t port, unsigned size, bool in, uint32_t *value)
{
    io_access(opaque, port, size, in, value);
}

static void strio_mem_access(void *opaque, uint64_t la, unsigned size, bool write)
{
    vcpu_debug_data(opaque, la, size, write);
}

/* Address size and segment of the INS/OUTS that exited: from the backend
 * where the processor reports them, else decoded from the bytes. */
static int strio_insn(struct vcpu *v, struct ios_state *s, unsigned mode)
{
    unsigned as, seg;
    if (be_string_io_info(v, &as, &seg) == 0) {
        s->addr_size = (uint8_t)as;
        s->seg = (uint8_t)seg;
        return 0;
    }
    uint64_t rip = guest_get(v, GV_RIP);
    struct guest_seg cs;
    be_guest_seg(v, SREG_CS, &cs);
    uint64_t la = mode == 64 ? rip : (cs.base + rip) & 0xffffffffull;
    uint8_t code[15];
    struct gwalk_fault f;
    size_t len = be_insn_len(v);
    if (len == 0 || len > sizeof(code) ||
        gwalk_read(&s->walk, la, code, len, GW_FETCH, s->cpl, &f) != 0)
        return -1;
    struct ios_decoded d;
    if (ios_decode(code, len, mode, &d) != 0 || d.len != len)
        return -1;
    s->addr_size = d.addr_size;
    s->seg = d.seg;
    return 0;
}

/* Elements per exit: a 512-byte sector as words fits in one; longer strings
 * re-execute with RIP on the instruction, so interrupts get a window. */
#define STRIO_MAX_ELEMS 256
#define RFLAGS_DF (1ull << 10)
#define RFLAGS_VM (1ull << 17)

void vcpu_string_io(struct vcpu *v, uint16_t port, unsigned size, bool in, bool rep)
{
    struct ios_state s;
    memset(&s, 0, sizeof(s));
    uint64_t rflags = guest_get(v, GV_RFLAGS);
    unsigned mode = (unsigned)guest_get(v, GV_CODE_SIZE);
    s.long64 = mode == 64;
    s.in = in;
    s.rep = rep;
    s.op_size = (uint8_t)size;
    s.port = port;
    uint64_t pdpte[4];
    vcpu_walk_ctx(v, &s.walk, pdpte);
    s.walk.read_phys = strio_read_phys;
    s.pe = s.walk.cr0 & CR0_PE;
    s.v86 = rflags & RFLAGS_VM;
    s.df = rflags & RFLAGS_DF;
    s.cpl = (unsigned)guest_get(v, GV_CPL);
    for (unsigned i = 0; i < IOS_NSEG; i++) {
        struct guest_seg g;
        be_guest_seg(v, (enum guest_sreg)i, &g);
        s.segs[i] = (struct ios_seg){ .base = g.base, .limit = g.limit, .ar = g.ar };
    }
    s.rcx = v->r->rcx;
    s.rsi = v->r->rsi;
    s.rdi = v->r->rdi;
    s.write_phys = strio_write_phys;
    s.port_io = strio_port;
    s.opaque = v;
    /* Under TF the processor traps after every iteration (SDM 3A 18.3.1.4),
     * and after the iteration a breakpoint hits: one element per exit then. */
    s.max_elems = (rflags & RFLAGS_TF) || vcpu_debug_armed(v) ? 1 : STRIO_MAX_ELEMS;
    s.mem_access = strio_mem_access;
    if (strio_insn(v, &s, mode) != 0)
        vcpu_stop(v, "cannot decode the guest's string I/O instruction");

    struct ios_fault f;
    enum ios_result res = ios_emulate(&s, &f);
    v->r->rcx = s.rcx;
    v->r->rsi = s.rsi;
    v->r->rdi = s.rdi;
    switch (res) {
    case IOS_DONE:
        be_skip_instruction(v);         /* RF cleared, traps due: core/debug.c */
        break;
    case IOS_AGAIN:
        /* As for a REP interrupted between iterations: RF keeps an instruction
         * breakpoint on it from firing again (SDM 3A 18.3.1.1); the traps of
         * the iterations done are due now. */
        guest_set(v, GV_RFLAGS, rflags | RFLAGS_RF);
        vcpu_iteration_done(v);
        break;
    case IOS_FAULT:
        /* A fault: RF = 1 in its frame (core/debug.c). */
        if (f.vector == GW_PF_VECTOR)
            write_cr2(f.cr2);
        vcpu_inject_exception(v, f.vector, true, f.error_code);
        break;
    default:
        vcpu_stop(v, "string I/O to guest memory that is not RAM");
    }
}
