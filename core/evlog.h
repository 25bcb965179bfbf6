/* The event log: a fixed ring of struct lamina_event in monitor memory,
 * shared by all CPUs. Writers never block and never allocate: each claims a
 * sequence number with one atomic add and overwrites the oldest slot when the
 * ring is full. Readers (the READ_LOG hypercall) copy with a cursor and are
 * told how many events they lost. The monitor records an event with
 * vcpu_event (core/vcpu.c), which also prints it on the log port at the
 * policy's event level, rate-limited. Pure: the unit tests link it alone. */
#ifndef LAMINA_EVLOG_H
#define LAMINA_EVLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/lamina_hypercall.h"

#define EVLOG_SLOTS 1024     /* a power of two */

/* Copy up to `max` events with seq >= *cursor into out, oldest first.
 * Returns the number copied; *cursor becomes the seq after the last one
 * copied; *lost counts the events between the old cursor and the first one
 * still in the ring. A cursor beyond the newest event is -1 (nothing copied). */
long evlog_read(uint64_t *cursor, struct lamina_event *out, size_t max, uint64_t *lost);

/* Events ever recorded, and how many of them the ring has overwritten. */
void evlog_counts(uint64_t *recorded, uint64_t *overwritten);

/* The ring itself, for evlog_record and the unit tests: store *e (seq is
 * assigned here, every other field is the caller's). False when the event
 * had to be dropped (see core/evlog.c); it then counts as overwritten. */
bool evlog_put(struct lamina_event *e);

/* One event as the text of its log line ("event 12 cpu 0 msr-write 0x1d9
 * value 0x1 width 8 rip 0x... cr3 0x... denied"); snprintf's return value. */
int evlog_format(const struct lamina_event *e, char *buf, size_t size);

/* core/vcpu.c: record one event and print it at the policy's event level,
 * rate-limited; rip and cr3 are where the guest was (vcpu_event fills them
 * from the exit; a blocked DMA, iommu/iommu.c, passes 0). */
void evlog_record(uint16_t cpu, uint8_t kind, uint8_t action, uint32_t index, uint64_t value,
                  uint8_t width, uint64_t rip, uint64_t cr3);

#ifdef LAMINA_UNIT_TEST
void evlog_reset(void);     /* empty the ring again */
/* A writer stopped between its two steps: claim a seq (NULL: dropped) ... */
void *evlog_test_claim(uint64_t *seq);
/* ... and publish its record later. */
void evlog_test_publish(void *slot, struct lamina_event *e, uint64_t seq);
#endif

#endif
