/* iommu/msg.h: the bounded message builder. */
#include "iommu/msg.h"

void msg_init(struct msg *m, char *buf, size_t cap)
{
    m->buf = buf;
    m->cap = cap;
    m->len = 0;
    if (buf && cap)
        buf[0] = '\0';
}

static void msg_char(struct msg *m, char c)
{
    if (!m->buf || m->len + 1 >= m->cap)
        return;
    m->buf[m->len++] = c;
    m->buf[m->len] = '\0';
}

void msg_str(struct msg *m, const char *s)
{
    while (*s)
        msg_char(m, *s++);
}

void msg_dec(struct msg *m, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        msg_char(m, tmp[--n]);
}

void msg_hex(struct msg *m, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    int shift = 60;
    msg_str(m, "0x");
    while (shift > 0 && !(v >> shift))
        shift -= 4;
    for (; shift >= 0; shift -= 4)
        msg_char(m, digits[(v >> shift) & 0xf]);
}
