/* The event log ring (core/evlog.h).
 *
 * Writers (any CPU, in an exit handler) never wait for each other:
 *   1. seq = fetch_add(head, 1): the event's place in the log;
 *   2. claim slot seq % EVLOG_SLOTS by moving its commit word from an even
 *      value below 2*seq+1 to 2*seq+1 ("being written") with a CAS;
 *   3. fill the slot, then store 2*seq+2 ("holds seq") with release order.
 * A writer that finds its slot odd (an older writer has stalled in step 3
 * for a whole lap of the ring) or already claimed by a newer seq drops its
 * event rather than wait or tear the record; a drop on an odd slot is noted
 * in the slot's `skipped` word so a reader does not wait for it forever.
 * Nobody ever changes an odd commit word but its owner, so two writers never
 * fill one slot at once.
 *
 * A reader copies a slot only when its commit word says 2*seq+2 before and
 * after the copy (seqlock): a record overwritten meanwhile is counted lost,
 * never returned torn. A slot still being written (or not yet claimed) by a
 * seq the reader wants ends the read there: the reader's cursor stays on it
 * and the next read continues, so nothing is skipped silently. */
#include <stdbool.h>
#include <string.h>
#include "core/evlog.h"

#include <stdio.h>

_Static_assert((EVLOG_SLOTS & (EVLOG_SLOTS - 1)) == 0, "EVLOG_SLOTS is a power of two");

struct evlog_slot {
    uint64_t commit;        /* 2*seq+1 while seq is written, 2*seq+2 once it is there */
    uint64_t skipped;       /* 1 + the newest seq dropped on this slot (0: none) */
    struct lamina_event ev;
};

static struct evlog_slot ring[EVLOG_SLOTS];
static uint64_t head;       /* next seq to hand out */
static uint64_t dropped;    /* writers that gave up their slot (see above) */

static void note_skip(struct evlog_slot *s, uint64_t seq)
{
    uint64_t old = __atomic_load_n(&s->skipped, __ATOMIC_RELAXED);
    while (old < seq + 1 &&
           !__atomic_compare_exchange_n(&s->skipped, &old, seq + 1, false, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED))
        ;
}

/* Steps 1 and 2: the slot for a new seq, or NULL when the event is dropped. */
static struct evlog_slot *claim(uint64_t *seqp)
{
    uint64_t seq = __atomic_fetch_add(&head, 1, __ATOMIC_RELAXED);
    struct evlog_slot *s = &ring[seq & (EVLOG_SLOTS - 1)];
    uint64_t mine = 2 * seq + 1;
    uint64_t c = __atomic_load_n(&s->commit, __ATOMIC_ACQUIRE);
    *seqp = seq;
    for (;;) {
        if (c >= mine || (c & 1)) {
            __atomic_fetch_add(&dropped, 1, __ATOMIC_RELAXED);
            if (c < mine)
                note_skip(s, seq);
            return NULL;
        }
        if (__atomic_compare_exchange_n(&s->commit, &c, mine, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_ACQUIRE))
            return s;
    }
}

/* Step 3. */
static void publish(struct evlog_slot *s, const struct lamina_event *e)
{
    /* The odd commit word is visible before any byte of the record changes. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(&s->ev, e, sizeof(*e));
    __atomic_store_n(&s->commit, 2 * e->seq + 2, __ATOMIC_RELEASE);
}

bool evlog_put(struct lamina_event *e)
{
    struct evlog_slot *s = claim(&e->seq);
    if (!s)
        return false;
    publish(s, e);
    return true;
}

enum slot_state { SLOT_OK, SLOT_LOST, SLOT_PENDING };

static enum slot_state read_slot(uint64_t seq, struct lamina_event *out)
{
    const struct evlog_slot *s = &ring[seq & (EVLOG_SLOTS - 1)];
    uint64_t want = 2 * seq + 2;
    uint64_t c = __atomic_load_n(&s->commit, __ATOMIC_ACQUIRE);
    if (c > want)
        return SLOT_LOST;               /* a newer event took the slot */
    if (c == want - 1)
        return SLOT_PENDING;            /* being written */
    if (c < want - 1)                   /* not claimed yet, or its writer dropped it */
        return __atomic_load_n(&s->skipped, __ATOMIC_ACQUIRE) > seq ? SLOT_LOST : SLOT_PENDING;
    memcpy(out, &s->ev, sizeof(*out));
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(&s->commit, __ATOMIC_RELAXED) == want ? SLOT_OK : SLOT_LOST;
}

long evlog_read(uint64_t *cursor, struct lamina_event *out, size_t max, uint64_t *lost)
{
    uint64_t h = __atomic_load_n(&head, __ATOMIC_ACQUIRE);
    uint64_t cur = *cursor;
    *lost = 0;
    if (cur > h)
        return -1;
    /* Everything a whole lap behind the head has been (or is being) overwritten. */
    if (h - cur > EVLOG_SLOTS) {
        *lost = h - EVLOG_SLOTS - cur;
        cur = h - EVLOG_SLOTS;
    }
    size_t n = 0;
    while (cur < h && n < max) {
        enum slot_state st = read_slot(cur, &out[n]);
        if (st == SLOT_PENDING)
            break;
        if (st == SLOT_OK)
            n++;
        else
            (*lost)++;
        cur++;
    }
    *cursor = cur;
    return (long)n;
}

void evlog_counts(uint64_t *recorded, uint64_t *overwritten)
{
    uint64_t h = __atomic_load_n(&head, __ATOMIC_ACQUIRE);
    uint64_t o = (h > EVLOG_SLOTS ? h - EVLOG_SLOTS : 0) +
                 __atomic_load_n(&dropped, __ATOMIC_RELAXED);
    *recorded = h;
    *overwritten = o < h ? o : h;
}

#ifdef LAMINA_UNIT_TEST
void evlog_reset(void)
{
    memset(ring, 0, sizeof(ring));
    head = 0;
    dropped = 0;
}

/* A writer stalled between claiming its slot and publishing the record. */
void *evlog_test_claim(uint64_t *seq)
{
    return claim(seq);
}

void evlog_test_publish(void *slot, struct lamina_event *e, uint64_t seq)
{
    e->seq = seq;
    publish(slot, e);
}
#endif

/* ---------------------------------------------------------- text form */

int evlog_format(const struct lamina_event *e, char *buf, size_t size)
{
    int n = sniprintf(buf, size, "event %lu cpu %u %s", (unsigned long)e->seq, e->cpu,
                      lamina_event_kind_name(e->kind));
    if (n < 0 || (size_t)n >= size)
        return n;
    char *p = buf + n;
    size_t left = size - n;
    int m;
    switch (e->kind) {
    case LAMINA_EV_IO_IN:
    case LAMINA_EV_IO_OUT:
    case LAMINA_EV_MSR_READ:
    case LAMINA_EV_MSR_WRITE:
        m = sniprintf(p, left, " 0x%x value 0x%lx width %u", e->index, (unsigned long)e->value,
                      e->width);
        break;
    case LAMINA_EV_MONITOR_MEM:
        m = sniprintf(p, left, " gpa 0x%lx", (unsigned long)e->value);
        break;
    case LAMINA_EV_VIRT_INSN:
        m = sniprintf(p, left, " %s", lamina_insn_name(e->index));
        break;
    case LAMINA_EV_DMA_FAULT:   /* M8: DMA blocked by a remapping unit */
        m = sniprintf(p, left, " %02x:%02x.%u %s addr 0x%lx reason 0x%x unit %u",
                      LAMINA_EV_DMA_SID(e->index) >> 8, (LAMINA_EV_DMA_SID(e->index) >> 3) & 31,
                      LAMINA_EV_DMA_SID(e->index) & 7, LAMINA_EV_DMA_READ(e->index) ? "read" : "write",
                      (unsigned long)e->value, e->width, LAMINA_EV_DMA_UNIT(e->index));
        break;
    default:
        m = sniprintf(p, left, " index 0x%x value 0x%lx", e->index, (unsigned long)e->value);
        break;
    }
    if (m < 0 || (size_t)m >= left)
        return m < 0 ? m : n + m;
    n += m;
    m = sniprintf(buf + n, size - n, " rip 0x%lx cr3 0x%lx %s", (unsigned long)e->rip,
                  (unsigned long)e->cr3, lamina_event_action_name(e->action));
    return m < 0 ? m : n + m;
}
