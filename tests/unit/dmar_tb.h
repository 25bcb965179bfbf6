/* Building DMAR tables byte by byte for the unit tests (VT-d 8.1-8.4). */
#ifndef DMAR_TB_H
#define DMAR_TB_H

#include <stdint.h>
#include <string.h>

struct tb { uint8_t b[8192]; size_t n; };

static inline void u8(struct tb *t, uint8_t v) { t->b[t->n++] = v; }
static inline void u16(struct tb *t, uint16_t v) { u8(t, (uint8_t)v); u8(t, (uint8_t)(v >> 8)); }
static inline void u32(struct tb *t, uint32_t v) { u16(t, (uint16_t)v); u16(t, (uint16_t)(v >> 16)); }
static inline void u64(struct tb *t, uint64_t v) { u32(t, (uint32_t)v); u32(t, (uint32_t)(v >> 32)); }

static inline void header(struct tb *t, uint8_t haw_field, uint8_t flags)
{
    memset(t, 0, sizeof(*t));
    memcpy(t->b, "DMAR", 4);
    t->b[8] = 1;
    memcpy(t->b + 10, "LAMINA", 6);
    t->n = 36;
    u8(t, haw_field);
    u8(t, flags);
    t->n = 48;
}

static inline size_t begin(struct tb *t, uint16_t type)
{
    size_t at = t->n;
    u16(t, type);
    u16(t, 0);
    return at;
}

static inline void end(struct tb *t, size_t at)
{
    t->b[at + 2] = (uint8_t)(t->n - at);
    t->b[at + 3] = (uint8_t)((t->n - at) >> 8);
}

static inline size_t drhd(struct tb *t, uint8_t flags, uint16_t seg, uint64_t base)
{
    size_t at = begin(t, 0);
    u8(t, flags);
    u8(t, 0);
    u16(t, seg);
    u64(t, base);
    return at;
}

static inline size_t rmrr(struct tb *t, uint64_t base, uint64_t limit)
{
    size_t at = begin(t, 1);
    u16(t, 0);
    u16(t, 0);
    u64(t, base);
    u64(t, limit);
    return at;
}

/* A scope with one path element (or two: a device behind a bridge). */
static inline void scope(struct tb *t, uint8_t type, uint8_t id, uint8_t bus, uint8_t dev, uint8_t fn)
{
    u8(t, type);
    u8(t, 8);
    u16(t, 0);
    u8(t, id);
    u8(t, bus);
    u8(t, dev);
    u8(t, fn);
}

static inline void finish(struct tb *t)
{
    t->b[4] = (uint8_t)t->n;
    t->b[5] = (uint8_t)(t->n >> 8);
    t->b[9] = 0;
    uint8_t s = 0;
    for (size_t i = 0; i < t->n; i++)
        s = (uint8_t)(s + t->b[i]);
    t->b[9] = (uint8_t)-s;
}

#endif
