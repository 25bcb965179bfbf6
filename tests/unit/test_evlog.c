/* The event log ring (core/evlog.c): cursor semantics, wraparound, lost
 * counts, a stalled writer, and several writers at once.
 *
 * Concurrent writers: each claims its seq with one atomic add, so seqs are
 * unique and dense; a slot is filled only by the writer that moved its commit
 * word to odd, and only that writer moves it on (to even), so no two writers
 * fill one slot at once and a reader that sees the same even word before and
 * after its copy holds one writer's record, untorn. test_concurrent checks the
 * consequences with real threads: every seq is either read exactly once or
 * counted lost, and every record read is one writer's, whole. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>
#include "core/evlog.h"

static int setup(void **unused)
{
    (void)unused;
    evlog_reset();
    return 0;
}

/* Records carry a value derived from a writer-side counter, and rip/cr3
 * derived from it, so a torn record shows. */
static void put(uint64_t v)
{
    struct lamina_event e;
    memset(&e, 0, sizeof(e));
    e.value = v;
    e.rip = ~v;
    e.cr3 = v * 3;
    e.kind = LAMINA_EV_MSR_WRITE;
    e.width = 8;
    e.action = LAMINA_ACT_DENIED;
    assert_true(evlog_put(&e));
}

static struct lamina_event out[EVLOG_SLOTS * 2];

static void test_empty(void **unused)
{
    (void)unused;
    uint64_t cur = 0, lost = 99;
    assert_int_equal(evlog_read(&cur, out, 16, &lost), 0);
    assert_int_equal(cur, 0);
    assert_int_equal(lost, 0);
    uint64_t rec, ow;
    evlog_counts(&rec, &ow);
    assert_int_equal(rec, 0);
    assert_int_equal(ow, 0);
}

static void test_read_in_order_once(void **unused)
{
    (void)unused;
    for (uint64_t i = 0; i < 5; i++)
        put(100 + i);
    uint64_t cur = 0, lost;
    assert_int_equal(evlog_read(&cur, out, 3, &lost), 3);
    assert_int_equal(cur, 3);
    assert_int_equal(lost, 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(out[i].seq, i);
        assert_int_equal(out[i].value, 100 + i);
    }
    assert_int_equal(evlog_read(&cur, out, 16, &lost), 2);
    assert_int_equal(out[0].seq, 3);
    assert_int_equal(out[1].seq, 4);
    assert_int_equal(cur, 5);
    /* nothing new: nothing read twice */
    assert_int_equal(evlog_read(&cur, out, 16, &lost), 0);
    assert_int_equal(cur, 5);
    assert_int_equal(lost, 0);
    /* max 0 copies nothing and keeps the cursor */
    cur = 1;
    assert_int_equal(evlog_read(&cur, out, 0, &lost), 0);
    assert_int_equal(cur, 1);
}

static void test_cursor_ahead(void **unused)
{
    (void)unused;
    put(1);
    put(2);
    uint64_t cur = 3, lost;
    assert_int_equal(evlog_read(&cur, out, 16, &lost), -1);
    assert_int_equal(cur, 3);
    cur = UINT64_MAX;
    assert_int_equal(evlog_read(&cur, out, 16, &lost), -1);
    cur = 2;    /* exactly at the head: fine, nothing to read */
    assert_int_equal(evlog_read(&cur, out, 16, &lost), 0);
    assert_int_equal(cur, 2);
}

/* 1500 events in a 1024-slot ring: the first 476 are gone and counted. */
static void test_wraparound(void **unused)
{
    (void)unused;
    const uint64_t n = EVLOG_SLOTS + 476;
    for (uint64_t i = 0; i < n; i++)
        put(i);
    uint64_t rec, ow;
    evlog_counts(&rec, &ow);
    assert_int_equal(rec, n);
    assert_int_equal(ow, 476);

    uint64_t cur = 0, lost;
    assert_int_equal(evlog_read(&cur, out, EVLOG_SLOTS * 2, &lost), EVLOG_SLOTS);
    assert_int_equal(lost, 476);
    assert_int_equal(cur, n);
    for (uint64_t i = 0; i < EVLOG_SLOTS; i++) {
        assert_int_equal(out[i].seq, 476 + i);
        assert_int_equal(out[i].value, 476 + i);
        assert_int_equal(out[i].rip, ~(476 + i));
    }
}

/* A reader part-way through, then the writers lap it. */
static void test_lost_mid_read(void **unused)
{
    (void)unused;
    for (uint64_t i = 0; i < 100; i++)
        put(i);
    uint64_t cur = 0, lost;
    assert_int_equal(evlog_read(&cur, out, 40, &lost), 40);
    assert_int_equal(cur, 40);
    for (uint64_t i = 100; i < 100 + 2000; i++)
        put(i);
    /* head 2100: oldest still there is 2100 - 1024 = 1076; 40..1075 lost */
    assert_int_equal(evlog_read(&cur, out, 10, &lost), 10);
    assert_int_equal(lost, 1076 - 40);
    assert_int_equal(out[0].seq, 1076);
    assert_int_equal(cur, 1086);
    /* read the rest: no further loss */
    assert_int_equal(evlog_read(&cur, out, EVLOG_SLOTS, &lost), 2100 - 1086);
    assert_int_equal(lost, 0);
    assert_int_equal(cur, 2100);
}

/* A writer that claimed its seq and has not published yet: the reader stops
 * in front of it (cursor kept), and reads it once it is there. */
static void test_stalled_writer(void **unused)
{
    (void)unused;
    put(0);
    uint64_t seq;
    void *slot = evlog_test_claim(&seq);
    assert_non_null(slot);
    assert_int_equal(seq, 1);
    put(2);
    put(3);
    uint64_t cur = 0, lost;
    assert_int_equal(evlog_read(&cur, out, 16, &lost), 1);
    assert_int_equal(cur, 1);
    assert_int_equal(lost, 0);
    assert_int_equal(evlog_read(&cur, out, 16, &lost), 0);
    assert_int_equal(cur, 1);

    struct lamina_event e;
    memset(&e, 0, sizeof(e));
    e.value = 1;
    e.rip = ~1ull;
    evlog_test_publish(slot, &e, seq);
    assert_int_equal(evlog_read(&cur, out, 16, &lost), 3);
    assert_int_equal(out[0].seq, 1);
    assert_int_equal(out[0].value, 1);
    assert_int_equal(out[2].seq, 3);
    assert_int_equal(cur, 4);
    assert_int_equal(lost, 0);
}

/* A writer stalled for a whole lap: the writer a lap later finds the slot
 * still odd and drops its own event instead of tearing the record; the
 * reader counts that one lost and does not wait for it. */
static void test_writer_a_lap_behind(void **unused)
{
    (void)unused;
    uint64_t seq0;
    void *slot = evlog_test_claim(&seq0);     /* seq 0, slot 0 */
    assert_non_null(slot);
    for (uint64_t i = 1; i < EVLOG_SLOTS; i++)
        put(i);
    struct lamina_event e;
    memset(&e, 0, sizeof(e));
    e.value = EVLOG_SLOTS;
    assert_false(evlog_put(&e));              /* seq 1024, slot 0: busy */
    assert_int_equal(e.seq, EVLOG_SLOTS);
    put(EVLOG_SLOTS + 1);
    uint64_t rec, ow;
    evlog_counts(&rec, &ow);
    assert_int_equal(rec, EVLOG_SLOTS + 2);
    assert_int_equal(ow, 2 + 1);              /* a lap and one more, plus the drop */

    /* Reader from 1: seq 1 is a lap behind (1025 took its slot), 2..1023 are
     * there, 1024 was dropped, 1025 is there. */
    uint64_t cur = 1, lost;
    assert_int_equal(evlog_read(&cur, out, EVLOG_SLOTS * 2, &lost), EVLOG_SLOTS - 1);
    assert_int_equal(lost, 2);
    assert_int_equal(out[0].seq, 2);
    assert_int_equal(out[EVLOG_SLOTS - 3].seq, EVLOG_SLOTS - 1);
    assert_int_equal(out[EVLOG_SLOTS - 2].seq, EVLOG_SLOTS + 1);
    assert_int_equal(cur, EVLOG_SLOTS + 2);

    /* The stalled writer finally publishes seq 0: no reader is shown it out of
     * place (a reader at 0 is a lap behind: 0 and 1 are counted lost). */
    memset(&e, 0, sizeof(e));
    evlog_test_publish(slot, &e, seq0);
    cur = 0;
    assert_int_equal(evlog_read(&cur, out, EVLOG_SLOTS * 2, &lost), EVLOG_SLOTS - 1);
    assert_int_equal(lost, 2 + 1);
    assert_int_equal(out[0].seq, 2);
}

/* Text form of the log line. */
static void test_format(void **unused)
{
    (void)unused;
    struct lamina_event e;
    memset(&e, 0, sizeof(e));
    e.seq = 12;
    e.cpu = 1;
    e.kind = LAMINA_EV_MSR_WRITE;
    e.index = 0x1d9;
    e.value = 1;
    e.width = 8;
    e.rip = 0xffffffff81000000;
    e.cr3 = 0x1000;
    e.action = LAMINA_ACT_DENIED;
    char b[200];
    int n = evlog_format(&e, b, sizeof(b));
    assert_string_equal(b, "event 12 cpu 1 msr-write 0x1d9 value 0x1 width 8 "
                           "rip 0xffffffff81000000 cr3 0x1000 denied");
    assert_int_equal(n, (int)strlen(b));

    e.kind = LAMINA_EV_VIRT_INSN;
    e.index = LAMINA_INSN_VMXON;
    e.action = LAMINA_ACT_LOGGED;
    evlog_format(&e, b, sizeof(b));
    assert_string_equal(b, "event 12 cpu 1 virt-insn vmxon rip 0xffffffff81000000 "
                           "cr3 0x1000 logged");
    e.index = 200;      /* an instruction this monitor does not name */
    evlog_format(&e, b, sizeof(b));
    assert_string_equal(b, "event 12 cpu 1 virt-insn unknown rip 0xffffffff81000000 "
                           "cr3 0x1000 logged");
    e.index = 27;
    e.kind = LAMINA_EV_MONITOR_MEM;
    e.value = 0x7f001234;
    evlog_format(&e, b, sizeof(b));
    assert_string_equal(b, "event 12 cpu 1 monitor-mem gpa 0x7f001234 rip 0xffffffff81000000 "
                           "cr3 0x1000 logged");
    /* M8: a blocked DMA, as the monitor records it (no instruction: rip, cr3 0). */
    e.kind = LAMINA_EV_DMA_FAULT;
    e.index = 0x0018 | 1u << 24;      /* 00:03.0, unit 0, a read */
    e.value = 0x7f001000;
    e.width = 6;
    e.rip = e.cr3 = 0;
    e.action = LAMINA_ACT_DENIED;
    evlog_format(&e, b, sizeof(b));
    assert_string_equal(b, "event 12 cpu 1 dma-fault 00:03.0 read addr 0x7f001000 reason 0x6 "
                           "unit 0 rip 0x0 cr3 0x0 denied");
    e.index = 0x0a11 | 1u << 16;      /* 0a:02.1, unit 1, a write */
    evlog_format(&e, b, sizeof(b));
    assert_string_equal(b, "event 12 cpu 1 dma-fault 0a:02.1 write addr 0x7f001000 reason 0x6 "
                           "unit 1 rip 0x0 cr3 0x0 denied");
    e.rip = 0xffffffff81000000;
    e.cr3 = 0x1000;
    e.index = 0x1b;
    e.value = 0x7f001234;
    e.width = 8;
    e.kind = 200;
    e.action = 9;
    evlog_format(&e, b, sizeof(b));
    assert_string_equal(b, "event 12 cpu 1 unknown index 0x1b value 0x7f001234 "
                           "rip 0xffffffff81000000 cr3 0x1000 unknown");
    /* truncation: NUL-terminated within the buffer, full length reported */
    char small[20];
    memset(small, 'x', sizeof(small));
    n = evlog_format(&e, small, sizeof(small));
    assert_true(n >= (int)sizeof(small));
    assert_int_equal(strlen(small), sizeof(small) - 1);
}

/* ------------------------------------------------------------ threads */
#define WRITERS 4
#define PER_WRITER 200000

static volatile bool writers_done;

static void *writer(void *arg)
{
    uint64_t id = (uint64_t)(uintptr_t)arg;
    for (uint64_t i = 0; i < PER_WRITER; i++) {
        struct lamina_event e;
        memset(&e, 0, sizeof(e));
        e.value = (id << 32) | i;
        e.rip = ~e.value;
        e.cr3 = e.value * 3;
        e.cpu = (uint16_t)id;
        evlog_put(&e);
    }
    return NULL;
}

static void test_concurrent(void **unused)
{
    (void)unused;
    pthread_t t[WRITERS];
    writers_done = false;
    for (uint64_t i = 0; i < WRITERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer, (void *)(uintptr_t)i), 0);
    uint64_t cur = 0, read = 0, lost_total = 0, lost;
    uint64_t last_per_writer[WRITERS];
    memset(last_per_writer, 0xff, sizeof(last_per_writer));
    bool joined = false;
    for (;;) {
        long n = evlog_read(&cur, out, 64, &lost);
        assert_true(n >= 0);
        lost_total += lost;
        for (long i = 0; i < n; i++) {
            const struct lamina_event *e = &out[i];
            assert_int_equal(e->rip, ~e->value);        /* whole */
            assert_int_equal(e->cr3, e->value * 3);
            assert_int_equal(e->cpu, e->value >> 32);
            /* one writer's events come in its order */
            uint64_t w = e->value >> 32, k = (uint32_t)e->value;
            assert_true(w < WRITERS);
            assert_true(last_per_writer[w] == UINT64_MAX || k > last_per_writer[w]);
            last_per_writer[w] = k;
        }
        read += (uint64_t)n;
        if (joined && n == 0 && lost == 0)
            break;
        if (!joined && read + lost_total > 50000) {
            for (int i = 0; i < WRITERS; i++)
                pthread_join(t[i], NULL);
            joined = true;
        }
    }
    uint64_t rec, ow;
    evlog_counts(&rec, &ow);
    assert_int_equal(rec, (uint64_t)WRITERS * PER_WRITER);
    /* every seq read once or counted lost: the cursor ends at the head */
    assert_int_equal(cur, rec);
    assert_int_equal(read + lost_total, rec);
    assert_true(read >= EVLOG_SLOTS);     /* at least the last lap */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_empty, setup),
        cmocka_unit_test_setup(test_read_in_order_once, setup),
        cmocka_unit_test_setup(test_cursor_ahead, setup),
        cmocka_unit_test_setup(test_wraparound, setup),
        cmocka_unit_test_setup(test_lost_mid_read, setup),
        cmocka_unit_test_setup(test_stalled_writer, setup),
        cmocka_unit_test_setup(test_writer_a_lap_behind, setup),
        cmocka_unit_test_setup(test_format, setup),
        cmocka_unit_test_setup(test_concurrent, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
