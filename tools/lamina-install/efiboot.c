/* UEFI boot-manager data: see efiboot.h. Pure C over byte buffers. */
#include "tools/lamina-install/efiboot.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }

/* ------------------------------------------------------------- text out */

/* A bounded appender: what does not fit is dropped, the text stays terminated. */
struct out {
    char *buf;
    size_t cap, len;
};

static void out_str(struct out *o, const char *s)
{
    while (*s && o->len + 1 < o->cap)
        o->buf[o->len++] = *s++;
    if (o->cap)
        o->buf[o->len] = '\0';
}

static void out_fmt(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_fmt(struct out *o, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    out_str(o, tmp);
}

/* One UCS-2 code unit (BMP; surrogates shown as '?') appended as UTF-8. */
static void out_utf8(struct out *o, uint16_t c)
{
    char u[4] = { 0 };

    if (c < 0x80) {
        u[0] = (char)c;
    } else if (c >= 0xd800 && c <= 0xdfff) {
        u[0] = '?';
    } else if (c < 0x800) {
        u[0] = (char)(0xc0 | c >> 6);
        u[1] = (char)(0x80 | (c & 0x3f));
    } else {
        u[0] = (char)(0xe0 | c >> 12);
        u[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        u[2] = (char)(0x80 | (c & 0x3f));
    }
    /* Whole characters only: never cut a UTF-8 sequence. */
    if (o->len + strlen(u) + 1 <= o->cap)
        out_str(o, u);
}

/* ---------------------------------------------------------------- GUIDs */

void guid_text(const uint8_t g[16], char out[37])
{
    snprintf(out, 37, "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             get32(g), get16(g + 4), get16(g + 6), g[8], g[9], g[10], g[11], g[12], g[13],
             g[14], g[15]);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int guid_parse(const char *t, uint8_t g[16])
{
    /* Text order of the 16 bytes: the first three fields are little endian. */
    static const int order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
    uint8_t b[16];
    int n = 0;

    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (t[i] != '-')
                return -1;
            continue;
        }
        int hi = hexval(t[i]), lo = hi < 0 ? -1 : hexval(t[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        b[n++] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    if (t[36] != '\0')
        return -1;
    for (int i = 0; i < 16; i++)
        g[order[i]] = b[i];
    return 0;
}

/* ---------------------------------------------------------- device paths */

static void hd_text(struct out *o, const struct hd_node *hd)
{
    char g[37];

    if (hd->sig_type == DP_HD_SIG_GUID) {
        guid_text(hd->signature, g);
        out_fmt(o, "HD(%u,GPT,%s,0x%llx,0x%llx)", hd->part_number, g,
                (unsigned long long)hd->part_start, (unsigned long long)hd->part_size);
    } else if (hd->sig_type == DP_HD_SIG_MBR) {
        out_fmt(o, "HD(%u,MBR,0x%08x,0x%llx,0x%llx)", hd->part_number, get32(hd->signature),
                (unsigned long long)hd->part_start, (unsigned long long)hd->part_size);
    } else {
        out_fmt(o, "HD(%u,%u,0,0x%llx,0x%llx)", hd->part_number, hd->mbr_type,
                (unsigned long long)hd->part_start, (unsigned long long)hd->part_size);
    }
}

/* The node at p (len bytes, at least 4) as text, the way the UEFI shell
 * shows the common ones (UEFI 2.10, section 10.6.1.6); others generically. */
static void node_text(struct out *o, const uint8_t *p, uint16_t len)
{
    uint8_t type = p[0], sub = p[1];
    char g[37];

    if (type == DP_TYPE_ACPI && sub == DP_SUB_ACPI_ACPI && len == 12 &&
        (get32(p + 4) == 0x0a0341d0u || get32(p + 4) == 0x0a0841d0u)) {
        out_fmt(o, "PciRoot(0x%x)", get32(p + 8));
    } else if (type == DP_TYPE_HARDWARE && sub == DP_SUB_HW_PCI && len == 6) {
        out_fmt(o, "Pci(0x%x,0x%x)", p[5], p[4]);
    } else if (type == DP_TYPE_MESSAGING && sub == 0x17 && len >= 8) {
        out_fmt(o, "NVMe(0x%x)", get32(p + 4));
    } else if (type == DP_TYPE_MESSAGING && sub == 0x12 && len >= 10) {
        out_fmt(o, "Sata(0x%x,0x%x,0x%x)", get16(p + 4), get16(p + 6), get16(p + 8));
    } else if (type == DP_TYPE_MEDIA && (sub == DP_SUB_MEDIA_FVFILE || sub == DP_SUB_MEDIA_FV) &&
               len == 20) {
        guid_text(p + 4, g);
        out_fmt(o, "%s(%s)", sub == DP_SUB_MEDIA_FV ? "Fv" : "FvFile", g);
    } else {
        out_fmt(o, "Path(%u,%u)", type, sub);
    }
}

int load_option_parse(const uint8_t *buf, size_t len, struct load_option *lo, char *err,
                      size_t errlen)
{
    struct out desc, file, text;
    size_t pos, dp_start, dp_len, i;
    bool seen_file_after_hd = false, ended = false;

    memset(lo, 0, sizeof(*lo));
    set_err(err, errlen, "%s", "");
    desc = (struct out){ lo->description, sizeof(lo->description), 0 };
    file = (struct out){ lo->file, sizeof(lo->file), 0 };
    text = (struct out){ lo->dp_text, sizeof(lo->dp_text), 0 };
    lo->description[0] = lo->file[0] = lo->dp_text[0] = '\0';
    lo->file_ascii = true;

    if (len < 6) {
        set_err(err, errlen, "%zu bytes: shorter than the 6-byte header of a load option", len);
        return -1;
    }
    lo->attributes = get32(buf);
    dp_len = get16(buf + 4);
    /* Description: CHAR16, NUL-terminated. */
    for (pos = 6;; pos += 2) {
        if (pos + 2 > len) {
            set_err(err, errlen, "the description has no terminating NUL");
            return -1;
        }
        uint16_t c = get16(buf + pos);
        if (c == 0)
            break;
        out_utf8(&desc, c);
    }
    dp_start = pos + 2;
    if (dp_len > len - dp_start) {
        set_err(err, errlen, "FilePathListLength %zu runs past the end (%zu bytes left)", dp_len,
                len - dp_start);
        return -1;
    }
    lo->optional = buf + dp_start + dp_len;
    lo->optional_len = len - dp_start - dp_len;

    /* The first device path instance (section 3.1.3: FilePathList[0] is the
     * image; later instances are other data). */
    for (pos = dp_start; pos < dp_start + dp_len;) {
        const uint8_t *p = buf + pos;
        if (dp_start + dp_len - pos < 4) {
            set_err(err, errlen, "device path node at byte %zu is cut short", pos - dp_start);
            return -1;
        }
        uint16_t nlen = get16(p + 2);
        if (nlen < 4 || nlen > dp_start + dp_len - pos) {
            set_err(err, errlen, "device path node at byte %zu: length %u %s", pos - dp_start,
                    nlen, nlen < 4 ? "is below 4" : "runs past FilePathListLength");
            return -1;
        }
        if (p[0] == DP_TYPE_END) {
            ended = true;
            break;
        }
        if (p[0] == DP_TYPE_MEDIA && p[1] == DP_SUB_MEDIA_HD) {
            if (nlen != DP_HD_NODE_LEN) {
                set_err(err, errlen, "HD node of %u bytes (want %d)", nlen, DP_HD_NODE_LEN);
                return -1;
            }
            lo->has_hd = true;
            lo->hd.part_number = get32(p + 4);
            lo->hd.part_start = get64(p + 8);
            lo->hd.part_size = get64(p + 16);
            memcpy(lo->hd.signature, p + 24, 16);
            lo->hd.mbr_type = p[40];
            lo->hd.sig_type = p[41];
            /* A path has one partition; File nodes before it do not count. */
            lo->has_file = false;
            seen_file_after_hd = false;
            file.len = 0;
            lo->file[0] = '\0';
            lo->file_ascii = true;
            if (text.len)
                out_str(&text, "/");
            hd_text(&text, &lo->hd);
        } else if (p[0] == DP_TYPE_MEDIA && p[1] == DP_SUB_MEDIA_FILE) {
            /* PathName: NUL-terminated CHAR16 filling the node. */
            size_t n = (size_t)(nlen - 4) / 2, end = n;
            if ((nlen - 4) % 2 != 0) {
                set_err(err, errlen, "File node of odd length %u", nlen);
                return -1;
            }
            for (i = 0; i < n; i++) {
                if (get16(p + 4 + 2 * i) == 0) {
                    end = i;
                    break;
                }
            }
            if (end == n) {
                set_err(err, errlen, "File node without a terminating NUL");
                return -1;
            }
            if (file.len > 0 && lo->file[file.len - 1] != '\\' &&
                !(end > 0 && (get16(p + 4) == '\\' || get16(p + 4) == '/')))
                out_str(&file, "\\");
            if (text.len)
                out_str(&text, "/");
            for (i = 0; i < end; i++) {
                uint16_t c = get16(p + 4 + 2 * i);
                char ch = c == '/' ? '\\' : (c >= 0x20 && c < 0x7f) ? (char)c : '?';
                char s[2] = { ch, '\0' };
                if (ch == '?' && c != '?')
                    lo->file_ascii = false;
                out_str(&file, s);
                out_str(&text, s);
            }
            lo->has_file = true;
            seen_file_after_hd = lo->has_hd;
        } else {
            if (text.len)
                out_str(&text, "/");
            node_text(&text, p, nlen);
            if (p[0] == DP_TYPE_MEDIA && p[1] == DP_SUB_MEDIA_FVFILE)
                lo->kind = DP_KIND_FIRMWARE;
        }
        pos += nlen;
    }
    if (!ended) {
        set_err(err, errlen, "the device path has no End node");
        return -1;
    }
    if (lo->has_file && file.len >= sizeof(lo->file) - 1) {
        set_err(err, errlen, "file path longer than %d bytes", EFIBOOT_PATH_MAX);
        return -1;
    }
    if (lo->kind != DP_KIND_FIRMWARE) {
        if (lo->has_hd && seen_file_after_hd)
            lo->kind = DP_KIND_FILE_ON_PARTITION;
        else if (lo->has_hd)
            lo->kind = DP_KIND_PARTITION;
        else if (lo->has_file)
            lo->kind = DP_KIND_FILE_ONLY;
        else
            lo->kind = DP_KIND_DEVICE;
    }
    return 0;
}

size_t load_option_build(uint8_t *buf, size_t cap, uint32_t attributes, const char *description,
                         const struct hd_node *hd, const char *file)
{
    size_t dlen = strlen(description), flen = strlen(file), i;
    size_t file_node = 4 + 2 * (flen + 1);
    size_t dp_len = DP_HD_NODE_LEN + file_node + 4;
    size_t total = 6 + 2 * (dlen + 1) + dp_len;
    uint8_t *p;

    if (flen == 0 || file[0] != '\\' || file_node > 0xffff || dp_len > 0xffff || total > cap)
        return 0;
    for (i = 0; i < flen; i++)
        if (file[i] < 0x20 || file[i] >= 0x7f)
            return 0;
    for (i = 0; i < dlen; i++)
        if (description[i] < 0x20 || description[i] >= 0x7f)
            return 0;
    put32(buf, attributes);
    put16(buf + 4, (uint16_t)dp_len);
    p = buf + 6;
    for (i = 0; i <= dlen; i++, p += 2)
        put16(p, (uint16_t)(uint8_t)description[i]);
    /* HD (section 10.3.5.1). */
    p[0] = DP_TYPE_MEDIA;
    p[1] = DP_SUB_MEDIA_HD;
    put16(p + 2, DP_HD_NODE_LEN);
    put32(p + 4, hd->part_number);
    put64(p + 8, hd->part_start);
    put64(p + 16, hd->part_size);
    memcpy(p + 24, hd->signature, 16);
    p[40] = hd->mbr_type;
    p[41] = hd->sig_type;
    p += DP_HD_NODE_LEN;
    /* File (section 10.3.5.4). */
    p[0] = DP_TYPE_MEDIA;
    p[1] = DP_SUB_MEDIA_FILE;
    put16(p + 2, (uint16_t)file_node);
    for (i = 0; i <= flen; i++)
        put16(p + 4 + 2 * i, (uint16_t)(uint8_t)(file[i] == '/' ? '\\' : file[i]));
    p += file_node;
    /* End of the entire path. */
    p[0] = DP_TYPE_END;
    p[1] = DP_SUB_END_ENTIRE;
    put16(p + 2, 4);
    return total;
}

int load_option_options_text(const uint8_t *data, size_t len, char *out, size_t max,
                             char *why, size_t whylen)
{
    size_t i, n;

    out[0] = '\0';
    set_err(why, whylen, "%s", "");
    if (len == 0)
        return 0;
    if (len % 2 != 0) {
        set_err(why, whylen, "%zu bytes of binary data (an odd length: not UCS-2 text)", len);
        return -1;
    }
    n = len / 2;
    for (i = 0; i < n; i++) {
        uint16_t c = get16(data + 2 * i);
        if (c == 0)
            break;
        if (c < 0x20 || c >= 0x7f) {
            set_err(why, whylen, "%zu bytes of binary or non-ASCII data (character %zu is 0x%04x)",
                    len, i, c);
            out[0] = '\0';
            return -1;
        }
        if (c == '#') {
            set_err(why, whylen, "text with '#', which starts a comment in lamina.conf");
            out[0] = '\0';
            return -1;
        }
        if (i + 1 > max) {
            set_err(why, whylen, "text longer than the %zu bytes lamina.conf takes", max);
            out[0] = '\0';
            return -1;
        }
        out[i] = (char)c;
        out[i + 1] = '\0';
    }
    /* After the NUL: only zero bytes (padding), nothing hidden. */
    for (size_t j = i; j < n; j++) {
        if (get16(data + 2 * j) != 0) {
            set_err(why, whylen, "%zu bytes of data with more after the text's NUL", len);
            out[0] = '\0';
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ BootOrder */

int boot_order_parse(const uint8_t *data, size_t len, uint16_t *order, size_t cap)
{
    if (len % 2 != 0 || len / 2 > cap)
        return -1;
    for (size_t i = 0; i < len / 2; i++)
        order[i] = get16(data + 2 * i);
    return (int)(len / 2);
}

size_t boot_order_remove(uint16_t *order, size_t count, uint16_t num)
{
    size_t j = 0;

    for (size_t i = 0; i < count; i++)
        if (order[i] != num)
            order[j++] = order[i];
    return j;
}

bool boot_order_contains(const uint16_t *order, size_t count, uint16_t num)
{
    for (size_t i = 0; i < count; i++)
        if (order[i] == num)
            return true;
    return false;
}

size_t boot_order_prepend(uint16_t *order, size_t count, size_t cap, uint16_t num)
{
    if (!boot_order_contains(order, count, num) && count >= cap)
        return count;
    count = boot_order_remove(order, count, num);
    memmove(order + 1, order, count * sizeof(order[0]));
    order[0] = num;
    return count + 1;
}

size_t boot_order_bytes(const uint16_t *order, size_t count, uint8_t *out, size_t cap)
{
    if (2 * count > cap)
        return 0;
    for (size_t i = 0; i < count; i++)
        put16(out + 2 * i, order[i]);
    return 2 * count;
}

void boot_order_text(const uint16_t *order, size_t count, char *out, size_t cap)
{
    struct out o = { out, cap, 0 };

    if (cap)
        out[0] = '\0';
    if (count == 0) {
        out_str(&o, "(empty)");
        return;
    }
    for (size_t i = 0; i < count; i++)
        out_fmt(&o, "%s%04X", i ? "," : "", order[i]);
}

/* -------------------------------------------------------------- names */

void boot_var_name(uint16_t num, char out[9])
{
    snprintf(out, 9, "Boot%04X", num);
}

bool boot_var_parse(const char *name, uint16_t *num)
{
    unsigned v = 0;

    if (strncmp(name, "Boot", 4) != 0 || strlen(name) != 8)
        return false;
    for (int i = 4; i < 8; i++) {
        char c = name[i];
        if (c >= '0' && c <= '9')
            v = v << 4 | (unsigned)(c - '0');
        else if (c >= 'A' && c <= 'F')
            v = v << 4 | (unsigned)(c - 'A' + 10);
        else
            return false;
    }
    *num = (uint16_t)v;
    return true;
}

int boot_number_free(const uint8_t used[8192])
{
    for (int n = 0; n <= 0xffff; n++)
        if (!(used[n >> 3] & (1u << (n & 7))))
            return n;
    return -1;
}

/* ---------------------------------------------------------- efivarfs */

int efivarfs_decode(const uint8_t *file, size_t len, uint32_t *attrs, const uint8_t **data,
                    size_t *dlen)
{
    if (len < 4)
        return -1;
    *attrs = get32(file);
    *data = file + 4;
    *dlen = len - 4;
    return 0;
}

size_t efivarfs_encode(uint8_t *out, size_t cap, uint32_t attrs, const uint8_t *data, size_t dlen)
{
    if (cap < 4 || dlen > cap - 4)
        return 0;
    put32(out, attrs);
    if (dlen)
        memcpy(out + 4, data, dlen);
    return 4 + dlen;
}

/* ---------------------------------------------------------------- paths */

bool efi_path_equal(const char *a, const char *b)
{
    for (;; a++, b++) {
        char x = *a == '/' ? '\\' : *a, y = *b == '/' ? '\\' : *b;
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return false;
        if (x == '\0')
            return true;
    }
}

/* ------------------------------------------------------------------ PE */

int pe_has_signature(const uint8_t *img, size_t len)
{
    /* PE/COFF: "MZ", e_lfanew at 0x3c, "PE\0\0", the 20-byte COFF header,
     * then the optional header (Microsoft PE format: PE32 magic 0x10b has
     * NumberOfRvaAndSizes at 92, PE32+ 0x20b at 108; the data directories
     * follow it, 8 bytes each; entry 4 is the Certificate Table). */
    if (len < 0x40 || img[0] != 'M' || img[1] != 'Z')
        return -1;
    uint32_t pe = get32(img + 0x3c);
    if (pe > len || len - pe < 24 + 2 || memcmp(img + pe, "PE\0\0", 4) != 0)
        return -1;
    size_t opt = (size_t)pe + 24;
    uint16_t magic = get16(img + opt);
    size_t nrva_off = magic == 0x20b ? 108 : magic == 0x10b ? 92 : 0;
    if (nrva_off == 0 || len - opt < nrva_off + 4)
        return -1;
    uint32_t nrva = get32(img + opt + nrva_off);
    if (nrva <= 4)
        return 0;
    size_t dir = opt + nrva_off + 4 + 4 * 8;
    if (dir > len || len - dir < 8)
        return -1;
    return get32(img + dir + 4) != 0 ? 1 : 0;
}
