#include "core/arch.h"
#include "core/evlog.h"
#include "core/io.h"
#include "core/log.h"
#include "core/monitor.h"
#include "core/shutdown.h"

static volatile bool summary_done;

static void trap_port(uint8_t *a, uint8_t *b, uint16_t port, unsigned n)
{
    /* SDM 3C 25.6.4: bitmap A covers ports 0-0x7fff, B 0x8000-0xffff. */
    for (unsigned i = 0; i < n; i++) {
        uint16_t p = (uint16_t)(port + i);
        uint8_t *map = p < 0x8000 ? a : b;
        map[(p & 0x7fff) / 8] |= 1u << (p % 8);
    }
}

/* The log port's eight UART registers, when serial-exclusive gives them to the monitor. */
static bool monitor_port(uint16_t port)
{
    uint16_t com = mon.bi->serial_port;
    return mon.bi->policy.serial_exclusive && com && port >= com && port - com < 8;
}

void io_bitmap_init(uint8_t *bitmap_a, uint8_t *bitmap_b)
{
    const struct lamina_policy *p = &mon.bi->policy;
    for (uint32_t i = 0; i < p->nrules && i < POLICY_MAX_RULES; i++) {
        const struct policy_rule *r = &p->rule[i];
        if (r->space == POLICY_IO && r->first <= r->last && r->last <= 0xffff)
            trap_port(bitmap_a, bitmap_b, (uint16_t)r->first, r->last - r->first + 1);
    }
    if (p->serial_exclusive && mon.bi->serial_port)
        trap_port(bitmap_a, bitmap_b, mon.bi->serial_port, 8);
    for (int i = 0; i < 2; i++)
        if (mon.pm1_cnt[i])
            trap_port(bitmap_a, bitmap_b, mon.pm1_cnt[i], 2);
    if (mon.reset_port)
        trap_port(bitmap_a, bitmap_b, mon.reset_port, 1);
    trap_port(bitmap_a, bitmap_b, PORT_RESET_CONTROL, 1);
}

static void final_summary(struct percpu *pc, const char *what, uint16_t port, uint32_t value)
{
    if (__atomic_exchange_n(&summary_done, true, __ATOMIC_SEQ_CST))
        return;
    log_info("cpu %u: guest %s (port 0x%x, value 0x%x): final summary", pc->index, what, port,
             value);
    stats_log_exits();
}

static void before_out(struct percpu *pc, uint16_t port, unsigned size, uint32_t value)
{
    static const char *const what[] = {
        [SHUTDOWN_SLEEP] = "enters an ACPI sleep state",
        [SHUTDOWN_RESET] = "resets the machine",
        [SHUTDOWN_ACPI_RESET] = "resets the machine (ACPI reset register)",
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

/* Ports the guest may not touch: its own view is a floating bus (reads all
 * ones, writes lost), as for a port nothing decodes. */
static void deny(uint16_t port, unsigned size, bool in, uint32_t *value)
{
    if (in)
        *value = size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
    guest_event(in ? LAMINA_EV_IO_IN : LAMINA_EV_IO_OUT, LAMINA_ACT_DENIED, port, *value,
                (uint8_t)size);
}

void io_access(struct percpu *pc, uint16_t port, unsigned size, bool in, uint32_t *value)
{
    unsigned dir = in ? POLICY_READ : POLICY_WRITE;
    const struct policy_rule *rule = policy_lookup_io(&mon.bi->policy, port, size, dir);
    bool mine = false;
    for (unsigned i = 0; i < size; i++)
        mine |= monitor_port((uint16_t)(port + i));
    if (mine || (rule && rule->action == POLICY_DENY)) {
        deny(port, size, in, value);
        return;
    }
    io_perform(pc, port, size, in, value);
    if (rule)
        guest_event(in ? LAMINA_EV_IO_IN : LAMINA_EV_IO_OUT, LAMINA_ACT_LOGGED, port, *value,
                    (uint8_t)size);
}
