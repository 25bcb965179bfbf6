/* The DMAR parser (iommu/dmar.h). Every multi-byte field is read byte by
 * byte: firmware tables need not be aligned. Section numbers are the VT-d
 * specification's (rev. 4.1). */
#include "iommu/dmar.h"
#include "iommu/msg.h"

#define PAGE 4096ull

struct parse {
    const uint8_t *t;
    uint32_t len;
    struct dmar_info *out;
    struct msg m;
    unsigned entry;         /* index of the structure being read */
    uint32_t off;           /* its offset */
    unsigned type;
};

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

const char *dmar_type_name(unsigned type)
{
    static const char *const names[] = { "DRHD", "RMRR", "ATSR", "RHSA", "ANDD", "SATC", "SIDP" };
    return type < sizeof(names) / sizeof(names[0]) ? names[type] : "unknown type";
}

/* "DMAR: " for the table, "DMAR entry N (TYPE at offset 0x..): " for a structure. */
static struct msg *table_error(struct parse *p)
{
    msg_init(&p->m, p->m.buf, p->m.cap);
    msg_str(&p->m, "DMAR: ");
    return &p->m;
}

static struct msg *entry_error(struct parse *p)
{
    struct msg *m = &p->m;
    msg_init(m, m->buf, m->cap);
    msg_str(m, "DMAR entry ");
    msg_dec(m, p->entry);
    msg_str(m, " (");
    msg_str(m, dmar_type_name(p->type));
    if (p->type > DMAR_TYPE_SIDP) {
        msg_str(m, " ");
        msg_dec(m, p->type);
    }
    msg_str(m, " at offset ");
    msg_hex(m, p->off);
    msg_str(m, "): ");
    return m;
}

static bool above_width(const struct parse *p, uint64_t last)
{
    return p->out->haw < 64 && (last >> p->out->haw) != 0;
}

/* The device scopes in [pos, end) of the current structure (8.3.1). Each is
 * checked; the first DMAR_MAX_SCOPES are kept in keep[]. `allowed` is a
 * bit mask of the scope types this structure may list. Returns the count or -1. */
static int parse_scopes(struct parse *p, uint32_t pos, uint32_t end, unsigned allowed,
                        const char *why, struct dmar_scope *keep)
{
    int n = 0;
    while (pos < end) {
        struct msg *m;
        if (end - pos < 6) {
            m = entry_error(p);
            msg_str(m, "device scope ");
            msg_dec(m, (uint64_t)n);
            msg_str(m, ": ");
            msg_dec(m, end - pos);
            msg_str(m, " bytes left, a scope takes at least 6");
            return -1;
        }
        const uint8_t *s = p->t + pos;
        unsigned type = s[0], slen = s[1];
        if (slen < 8 || slen > end - pos || (slen - 6) % 2) {
            m = entry_error(p);
            msg_str(m, "device scope ");
            msg_dec(m, (uint64_t)n);
            msg_str(m, ": length ");
            msg_dec(m, slen);
            msg_str(m, slen > end - pos ? " runs past the structure"
                                        : " is not 6 plus a path of 2-byte elements");
            return -1;
        }
        if (type < DMAR_SCOPE_ENDPOINT || type > DMAR_SCOPE_ACPI || !(allowed & (1u << type))) {
            m = entry_error(p);
            msg_str(m, "device scope ");
            msg_dec(m, (uint64_t)n);
            msg_str(m, ": type ");
            msg_dec(m, type);
            msg_str(m, type < DMAR_SCOPE_ENDPOINT || type > DMAR_SCOPE_ACPI ? " is unknown" : why);
            return -1;
        }
        for (unsigned i = 6; i < slen; i += 2) {
            if (s[i] > 31 || s[i + 1] > 7) {
                m = entry_error(p);
                msg_str(m, "device scope ");
                msg_dec(m, (uint64_t)n);
                msg_str(m, ": path element ");
                msg_hex(m, (uint64_t)s[i] << 8 | s[i + 1]);
                msg_str(m, " is not a PCI device (0-31) and function (0-7)");
                return -1;
            }
        }
        if (n < DMAR_MAX_SCOPES) {
            struct dmar_scope *k = &keep[n];
            k->type = (uint8_t)type;
            k->enum_id = s[4];
            k->bus = s[5];
            k->npath = (uint8_t)((slen - 6) / 2);
            k->dev = s[6];
            k->fn = s[7];
            k->last_dev = s[slen - 2];
            k->last_fn = s[slen - 1];
        }
        n++;
        pos += slen;
    }
    return n > 255 ? 255 : n;
}

#define SCOPES_ANY  ((1u << DMAR_SCOPE_ENDPOINT) | (1u << DMAR_SCOPE_BRIDGE) | \
                     (1u << DMAR_SCOPE_IOAPIC) | (1u << DMAR_SCOPE_HPET) | (1u << DMAR_SCOPE_ACPI))
#define SCOPES_PCI  ((1u << DMAR_SCOPE_ENDPOINT) | (1u << DMAR_SCOPE_BRIDGE))

/* 8.3: Type, Length, Flags, Size, Segment, Register Base Address. */
static int parse_drhd(struct parse *p, uint32_t slen)
{
    struct dmar_info *o = p->out;
    const uint8_t *s = p->t + p->off;
    struct msg *m;
    if (slen < 16) {
        m = entry_error(p);
        msg_str(m, "length ");
        msg_dec(m, slen);
        msg_str(m, " is below the 16 bytes of a DRHD");
        return -1;
    }
    if (o->nunits == DMAR_MAX_UNITS) {
        m = entry_error(p);
        msg_str(m, "more than ");
        msg_dec(m, DMAR_MAX_UNITS);
        msg_str(m, " remapping units");
        return -1;
    }
    struct dmar_unit *u = &o->unit[o->nunits];
    u->flags = s[4];
    u->segment = rd16(s + 6);
    u->reg_base = rd64(s + 8);
    unsigned size = s[5] & 0xf;       /* 8.3: bits 3:0, 2^N pages */
    u->reg_size = PAGE << size;
    u->entry = (uint16_t)p->entry;
    u->offset = (uint16_t)p->off;
    if (u->reg_base == 0 || (u->reg_base & (PAGE - 1))) {
        m = entry_error(p);
        msg_str(m, "register base ");
        msg_hex(m, u->reg_base);
        msg_str(m, u->reg_base ? " is not 4 KiB aligned" : " is zero");
        return -1;
    }
    if (u->reg_base + u->reg_size < u->reg_base || above_width(p, u->reg_base + u->reg_size - 1)) {
        m = entry_error(p);
        msg_str(m, "register base ");
        msg_hex(m, u->reg_base);
        msg_str(m, " is beyond the host address width of ");
        msg_dec(m, o->haw);
        msg_str(m, " bits");
        return -1;
    }
    for (unsigned i = 0; i < o->nunits; i++) {
        const struct dmar_unit *v = &o->unit[i];
        if (v->reg_base < u->reg_base + u->reg_size && u->reg_base < v->reg_base + v->reg_size) {
            m = entry_error(p);
            msg_str(m, "register base ");
            msg_hex(m, u->reg_base);
            msg_str(m, " overlaps entry ");
            msg_dec(m, v->entry);
            return -1;
        }
        if (v->segment == u->segment && (v->flags & DMAR_DRHD_INCLUDE_PCI_ALL)) {
            m = entry_error(p);
            msg_str(m, "segment ");
            msg_dec(m, u->segment);
            msg_str(m, " follows its INCLUDE_PCI_ALL unit, entry ");
            msg_dec(m, v->entry);
            msg_str(m, " (that unit must come last)");
            return -1;
        }
    }
    int n = parse_scopes(p, p->off + 16, p->off + slen,
                         (u->flags & DMAR_DRHD_INCLUDE_PCI_ALL)
                             ? (1u << DMAR_SCOPE_IOAPIC) | (1u << DMAR_SCOPE_HPET) | (1u << DMAR_SCOPE_ACPI)
                             : SCOPES_ANY,
                         " is a PCI device, which an INCLUDE_PCI_ALL unit must not list", u->scope);
    if (n < 0)
        return -1;
    u->nscopes = (uint8_t)n;
    if (u->segment == 0 && (u->flags & DMAR_DRHD_INCLUDE_PCI_ALL))
        o->include_all_seg0 = true;
    o->nunits++;
    return 0;
}

/* 8.4: Type, Length, Reserved, Segment, Base, Limit (inclusive). */
static int parse_rmrr(struct parse *p, uint32_t slen)
{
    struct dmar_info *o = p->out;
    const uint8_t *s = p->t + p->off;
    struct msg *m;
    if (slen < 24) {
        m = entry_error(p);
        msg_str(m, "length ");
        msg_dec(m, slen);
        msg_str(m, " is below the 24 bytes of an RMRR");
        return -1;
    }
    if (o->nrmrrs == DMAR_MAX_RMRRS) {
        m = entry_error(p);
        msg_str(m, "more than ");
        msg_dec(m, DMAR_MAX_RMRRS);
        msg_str(m, " reserved regions");
        return -1;
    }
    struct dmar_rmrr *r = &o->rmrr[o->nrmrrs];
    r->segment = rd16(s + 6);
    r->base = rd64(s + 8);
    uint64_t limit = rd64(s + 16);
    r->entry = (uint16_t)p->entry;
    r->offset = (uint16_t)p->off;
    if (r->base & (PAGE - 1)) {
        m = entry_error(p);
        msg_str(m, "base ");
        msg_hex(m, r->base);
        msg_str(m, " is not 4 KiB aligned");
        return -1;
    }
    if ((limit & (PAGE - 1)) != PAGE - 1) {
        m = entry_error(p);
        msg_str(m, "limit ");
        msg_hex(m, limit);
        msg_str(m, " is not the end of a 4 KiB page");
        return -1;
    }
    if (limit < r->base) {
        m = entry_error(p);
        msg_str(m, "limit ");
        msg_hex(m, limit);
        msg_str(m, " is below base ");
        msg_hex(m, r->base);
        return -1;
    }
    if (above_width(p, limit)) {
        m = entry_error(p);
        msg_str(m, "limit ");
        msg_hex(m, limit);
        msg_str(m, " is beyond the host address width of ");
        msg_dec(m, o->haw);
        msg_str(m, " bits");
        return -1;
    }
    r->end = limit + 1;     /* limit < 2^64 - 1 here: its low 12 bits are set and haw <= 64 */
    if (r->end == 0) {
        m = entry_error(p);
        msg_str(m, "limit ");
        msg_hex(m, limit);
        msg_str(m, " ends the address space");
        return -1;
    }
    for (unsigned i = 0; i < o->nrmrrs; i++) {
        const struct dmar_rmrr *q = &o->rmrr[i];
        if (q->base < r->end && r->base < q->end) {
            m = entry_error(p);
            msg_str(m, "region ");
            msg_hex(m, r->base);
            msg_str(m, "-");
            msg_hex(m, limit);
            msg_str(m, " overlaps entry ");
            msg_dec(m, q->entry);
            return -1;
        }
    }
    int n = parse_scopes(p, p->off + 24, p->off + slen, SCOPES_PCI,
                         " is not a PCI endpoint or bridge, which an RMRR must list", r->scope);
    if (n < 0)
        return -1;
    r->nscopes = (uint8_t)n;
    o->nrmrrs++;
    return 0;
}

/* The other structures are checked for their fixed part and scopes only. */
static int parse_other(struct parse *p, uint32_t slen)
{
    static const uint8_t min_len[] = { [DMAR_TYPE_ATSR] = 8, [DMAR_TYPE_RHSA] = 20,
                                       [DMAR_TYPE_ANDD] = 8, [DMAR_TYPE_SATC] = 8,
                                       [DMAR_TYPE_SIDP] = 8 };
    unsigned min = p->type < sizeof(min_len) ? min_len[p->type] : 4;
    if (slen < min) {
        struct msg *m = entry_error(p);
        msg_str(m, "length ");
        msg_dec(m, slen);
        msg_str(m, " is below the ");
        msg_dec(m, min);
        msg_str(m, " bytes of its fixed part");
        return -1;
    }
    if (p->type == DMAR_TYPE_ATSR || p->type == DMAR_TYPE_SATC || p->type == DMAR_TYPE_SIDP) {
        struct dmar_scope unused[DMAR_MAX_SCOPES];
        if (parse_scopes(p, p->off + 8, p->off + slen, SCOPES_ANY, "", unused) < 0)
            return -1;
    }
    if (p->type == DMAR_TYPE_ATSR)
        p->out->natsr++;
    else
        p->out->nother++;
    return 0;
}

static void clear(struct dmar_info *o)
{
    uint8_t *b = (uint8_t *)o;
    for (size_t i = 0; i < sizeof(*o); i++)
        b[i] = 0;
}

static int parse(const void *table, size_t len, struct dmar_info *out, char *err, size_t errlen)
{
    struct parse p = { .t = table, .out = out };
    struct msg *m;
    msg_init(&p.m, err, errlen);
    if (!out)
        return -1;
    clear(out);
    if (!table || len < DMAR_HEADER_LEN) {
        m = table_error(&p);
        msg_str(m, "length ");
        msg_dec(m, table ? len : 0);
        msg_str(m, " is below the 48-byte header");
        return -1;
    }
    const uint8_t *t = table;
    if (t[0] != 'D' || t[1] != 'M' || t[2] != 'A' || t[3] != 'R') {
        msg_str(table_error(&p), "signature is not 'DMAR'");
        return -1;
    }
    uint32_t tlen = rd32(t + 4);
    if (tlen < DMAR_HEADER_LEN || tlen > len || tlen > 0xffff) {
        m = table_error(&p);
        msg_str(m, "length ");
        msg_dec(m, tlen);
        msg_str(m, tlen < DMAR_HEADER_LEN ? " is below the 48-byte header"
                   : tlen > len ? " runs past the table's memory"
                                : " is above the 64 KiB a DMAR can hold");
        return -1;
    }
    p.len = tlen;
    uint8_t sum = 0;
    for (uint32_t i = 0; i < tlen; i++)
        sum = (uint8_t)(sum + t[i]);
    if (sum) {
        m = table_error(&p);
        msg_str(m, "checksum ");
        msg_hex(m, t[9]);
        msg_str(m, " is wrong (the bytes sum to ");
        msg_hex(m, sum);
        msg_str(m, ", not 0)");
        return -1;
    }
    out->haw = (uint8_t)(t[36] + 1);        /* 8.1: the field is N, the width N + 1 */
    out->flags = t[37];
    if (out->haw < 32 || out->haw > 64) {
        m = table_error(&p);
        msg_str(m, "host address width ");
        msg_dec(m, (uint64_t)t[36] + 1);
        msg_str(m, " bits is outside 32-64");
        return -1;
    }
    for (p.off = DMAR_HEADER_LEN; p.off < tlen; p.entry++) {
        p.type = 0xffff;
        if (tlen - p.off < 4) {
            m = table_error(&p);
            msg_str(m, "the last ");
            msg_dec(m, tlen - p.off);
            msg_str(m, " bytes are too short for a structure header");
            return -1;
        }
        p.type = rd16(t + p.off);
        uint32_t slen = rd16(t + p.off + 2);
        if (slen < 4 || slen > tlen - p.off) {
            m = entry_error(&p);
            msg_str(m, "length ");
            msg_dec(m, slen);
            msg_str(m, slen < 4 ? " is below its own header" : " runs past the table");
            return -1;
        }
        int rc = p.type == DMAR_TYPE_DRHD ? parse_drhd(&p, slen)
               : p.type == DMAR_TYPE_RMRR ? parse_rmrr(&p, slen)
                                          : parse_other(&p, slen);
        if (rc)
            return -1;
        if (p.entry == 0xffff) {
            msg_str(table_error(&p), "more than 65535 structures");
            return -1;
        }
        p.off += slen;
    }
    out->nentries = (uint16_t)p.entry;
    if (out->nunits == 0) {
        msg_str(table_error(&p), "no remapping unit (DRHD)");
        return -1;
    }
    return 0;
}

int dmar_parse(const void *table, size_t len, struct dmar_info *out, char *err, size_t errlen)
{
    int rc = parse(table, len, out, err, errlen);
    if (rc && out)
        clear(out);     /* a refused table leaves nothing half-read */
    return rc;
}
