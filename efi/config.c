/* lamina.conf parser: see config.h for the format.
 *
 * No libc and no UEFI here: the string helpers below are all it uses.
 * Keys are described by the table keys[]; adding a key means writing a
 * handler and adding one row.
 */
#include "efi/config.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Longest piece of user text quoted in an error message. */
#define QUOTE_MAX 40

/* ---------------------------------------------------------------- bytes */

/* Does the n bytes at a equal the NUL-terminated string b? */
static bool bytes_eq(const char *a, size_t n, const char *b)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (b[i] == '\0' || a[i] != b[i])
            return false;
    }
    return b[n] == '\0';
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

static bool is_printable_ascii(unsigned char ch)
{
    return ch >= 0x20 && ch < 0x7f;
}

/* ------------------------------------------------------------ formatter */

/* A bounded string builder: characters that do not fit are dropped and the
 * buffer stays NUL-terminated. */
struct fmt {
    char *buf;
    size_t cap;
    size_t len;
};

static void fmt_reset(struct fmt *f)
{
    f->len = 0;
    if (f->buf != NULL && f->cap > 0)
        f->buf[0] = '\0';
}

static void fmt_char(struct fmt *f, char ch)
{
    if (f->buf == NULL || f->len + 1 >= f->cap)
        return;
    f->buf[f->len++] = ch;
    f->buf[f->len] = '\0';
}

static void fmt_str(struct fmt *f, const char *s)
{
    while (*s != '\0')
        fmt_char(f, *s++);
}

static void fmt_uint(struct fmt *f, uint64_t v)
{
    char tmp[20];   /* 2^64 - 1 has 20 digits */
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        fmt_char(f, tmp[--n]);
}

static void fmt_hex8(struct fmt *f, uint8_t v)
{
    static const char digits[] = "0123456789abcdef";

    fmt_str(f, "0x");
    fmt_char(f, digits[v >> 4]);
    fmt_char(f, digits[v & 0xf]);
}

/* 'text', with bytes that are not printable ASCII shown as '?' and long text
 * cut to QUOTE_MAX bytes followed by "...". */
static void fmt_quoted(struct fmt *f, const char *text, size_t n)
{
    size_t i;

    fmt_char(f, '\'');
    for (i = 0; i < n && i < QUOTE_MAX; i++) {
        unsigned char ch = (unsigned char)text[i];

        fmt_char(f, is_printable_ascii(ch) ? (char)ch : '?');
    }
    if (n > QUOTE_MAX)
        fmt_str(f, "...");
    fmt_char(f, '\'');
}

/* --------------------------------------------------------------- parser */

struct parser;
typedef int (*key_handler)(struct parser *p, const char *val, size_t n);

#define KEY_REQUIRED  0x1   /* the file must set it */
#define KEY_REPEATS   0x2   /* may appear on several lines */

struct key_desc {
    const char *name;
    key_handler handler;    /* gets the trimmed, non-empty value */
    uint8_t flags;
};

static int set_guest(struct parser *p, const char *val, size_t n);
static int set_options(struct parser *p, const char *val, size_t n);
static int set_serial(struct parser *p, const char *val, size_t n);
static int set_on_error(struct parser *p, const char *val, size_t n);
static int set_log_level(struct parser *p, const char *val, size_t n);
static int set_guest_sha256(struct parser *p, const char *val, size_t n);

static const struct key_desc keys[] = {
    { "guest",        set_guest,        KEY_REQUIRED },
    { "options",      set_options,      0 },
    { "serial",       set_serial,       0 },
    { "on-error",     set_on_error,     0 },
    { "log-level",    set_log_level,    0 },
    { "guest-sha256", set_guest_sha256, 0 },
};

struct parser {
    struct lamina_config *cfg;
    struct fmt err;
    size_t line;                    /* 1-based number of the current line */
    size_t seen[ARRAY_LEN(keys)];   /* line a key was first set on, 0 = never */
};

/* Start an error message about the current line ("lamina.conf:N: ") and
 * return the builder; the caller appends the rest. */
static struct fmt *line_error(struct parser *p)
{
    fmt_reset(&p->err);
    fmt_str(&p->err, CONFIG_FILE_NAME ":");
    fmt_uint(&p->err, p->line);
    fmt_str(&p->err, ": ");
    return &p->err;
}

/* The same for errors about the whole file ("lamina.conf: "). */
static struct fmt *file_error(struct parser *p)
{
    fmt_reset(&p->err);
    fmt_str(&p->err, CONFIG_FILE_NAME ": ");
    return &p->err;
}

/* Value of a key whose value is one of names[]: index, or -1 after
 * reporting "bad value 'x' for 'key' (expected a, b or c)". */
static int match_enum(struct parser *p, const char *key, const char *val,
                      size_t n, const char *const *names, size_t count)
{
    struct fmt *f;
    size_t i;

    for (i = 0; i < count; i++) {
        if (bytes_eq(val, n, names[i]))
            return (int)i;
    }
    f = line_error(p);
    fmt_str(f, "bad value ");
    fmt_quoted(f, val, n);
    fmt_str(f, " for '");
    fmt_str(f, key);
    fmt_str(f, "' (expected ");
    for (i = 0; i < count; i++) {
        if (i > 0)
            fmt_str(f, i + 1 == count ? " or " : ", ");
        fmt_str(f, names[i]);
    }
    fmt_char(f, ')');
    return -1;
}

/* Copy a value that has been checked to fit, tabs turned into spaces. */
static void copy_value(char *dst, const char *val, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        dst[i] = val[i] == '\t' ? ' ' : val[i];
    dst[n] = '\0';
}

/* A value the loader passes to UEFI as CHAR16 must be printable ASCII
 * (tabs are allowed and become spaces). */
static int check_ascii(struct parser *p, const char *what, const char *val,
                       size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!is_printable_ascii((unsigned char)val[i]) && val[i] != '\t') {
            fmt_str(line_error(p), what);
            fmt_str(&p->err, " must be ASCII");
            return -1;
        }
    }
    return 0;
}

static int check_length(struct parser *p, const char *what, size_t n,
                        size_t max)
{
    struct fmt *f;

    if (n <= max)
        return 0;
    f = line_error(p);
    fmt_str(f, what);
    fmt_str(f, " too long (");
    fmt_uint(f, n);
    fmt_str(f, " bytes, max ");
    fmt_uint(f, max);
    fmt_char(f, ')');
    return -1;
}

/* ----------------------------------------------------------------- keys */

static int set_guest(struct parser *p, const char *val, size_t n)
{
    static const char bad_chars[] = "\"*:<>?|";
    char *path = p->cfg->guest;
    size_t i, j, comp;

    if (check_length(p, "guest path", n, CONFIG_GUEST_MAX) != 0 ||
        check_ascii(p, "guest path", val, n) != 0)
        return -1;
    copy_value(path, val, n);
    for (i = 0; i < n; i++) {
        if (path[i] == '/')
            path[i] = '\\';
    }

    if (path[0] != '\\') {
        fmt_str(line_error(p), "guest path must start with '\\'");
        return -1;
    }
    for (i = 0; i < n; i++) {
        for (j = 0; bad_chars[j] != '\0'; j++) {
            if (path[i] == bad_chars[j]) {
                struct fmt *f = line_error(p);

                fmt_str(f, "invalid character '");
                fmt_char(f, path[i]);
                fmt_str(f, "' in guest path");
                return -1;
            }
        }
    }
    if (n == 1) {
        fmt_str(line_error(p), "guest path names no file");
        return -1;
    }
    /* Components between backslashes: none empty, none "..". */
    for (comp = 1; comp <= n; comp = i + 1) {
        for (i = comp; i < n && path[i] != '\\'; i++)
            ;
        if (i == comp) {
            fmt_str(line_error(p), "guest path has an empty component");
            return -1;
        }
        if (i - comp == 2 && path[comp] == '.' && path[comp + 1] == '.') {
            fmt_str(line_error(p), "guest path must not contain '..'");
            return -1;
        }
    }
    return 0;
}

static int set_options(struct parser *p, const char *val, size_t n)
{
    if (check_length(p, "options", n, CONFIG_OPTIONS_MAX) != 0 ||
        check_ascii(p, "options", val, n) != 0)
        return -1;
    copy_value(p->cfg->options, val, n);
    p->cfg->has_options = true;
    return 0;
}

static int digit_value(char ch, unsigned base)
{
    int d;

    if (ch >= '0' && ch <= '9')
        d = ch - '0';
    else if (ch >= 'a' && ch <= 'f')
        d = ch - 'a' + 10;
    else if (ch >= 'A' && ch <= 'F')
        d = ch - 'A' + 10;
    else
        return -1;
    return d < (int)base ? d : -1;
}

static int set_serial(struct parser *p, const char *val, size_t n)
{
    unsigned base = 10;
    uint32_t v = 0;
    size_t i = 0;
    struct fmt *f;

    if (bytes_eq(val, n, "none")) {
        p->cfg->serial_port = 0;
        return 0;
    }
    if (n > 2 && val[0] == '0' && (val[1] == 'x' || val[1] == 'X')) {
        base = 16;
        i = 2;
    }
    for (; i < n; i++) {
        int d = digit_value(val[i], base);

        if (d < 0) {
            f = line_error(p);
            fmt_str(f, "bad serial port ");
            fmt_quoted(f, val, n);
            fmt_str(f, " (expected 0x-hex, decimal or none)");
            return -1;
        }
        /* Saturate: once above the limit the value only has to stay there,
         * which also keeps huge inputs from overflowing. */
        if (v <= 0xfffff)
            v = v * base + (uint32_t)d;
    }
    if (v == 0 || v > CONFIG_SERIAL_MAX) {
        f = line_error(p);
        fmt_str(f, "serial port ");
        fmt_quoted(f, val, n);
        fmt_str(f, " out of range (1..0xfff8, or none)");
        return -1;
    }
    p->cfg->serial_port = (uint16_t)v;
    return 0;
}

static int set_on_error(struct parser *p, const char *val, size_t n)
{
    /* Indexed by enum on_error. */
    static const char *const names[] = { "boot", "halt" };
    int v = match_enum(p, "on-error", val, n, names, ARRAY_LEN(names));

    if (v < 0)
        return -1;
    p->cfg->on_error = (uint8_t)v;
    return 0;
}

static int set_log_level(struct parser *p, const char *val, size_t n)
{
    /* Indexed by enum config_log_level. */
    static const char *const names[] = { "error", "warn", "info", "debug" };
    int v = match_enum(p, "log-level", val, n, names, ARRAY_LEN(names));

    if (v < 0)
        return -1;
    p->cfg->log_level = (uint8_t)v;
    return 0;
}

/* Exactly 2 * CONFIG_SHA256_LEN hex digits, either case, most significant
 * nibble first: the form sha256sum prints. Characters are checked before
 * the length, so a pasted "digest  file" line names the blank. */
static int set_guest_sha256(struct parser *p, const char *val, size_t n)
{
    uint8_t *out = p->cfg->guest_sha256;
    struct fmt *f;
    size_t i;

    for (i = 0; i < n; i++) {
        if (digit_value(val[i], 16) < 0) {
            char shown = val[i] == '\t' ? ' ' : val[i];   /* tabs count as spaces */

            f = line_error(p);
            fmt_str(f, "invalid character ");
            fmt_quoted(f, &shown, 1);
            fmt_str(f, " in guest-sha256 (expected 64 hex digits)");
            return -1;
        }
    }
    if (n != 2 * CONFIG_SHA256_LEN) {
        f = line_error(p);
        fmt_str(f, "guest-sha256 has ");
        fmt_uint(f, n);
        fmt_str(f, " hex digits (expected 64)");
        return -1;
    }
    for (i = 0; i < CONFIG_SHA256_LEN; i++)
        out[i] = (uint8_t)(digit_value(val[2 * i], 16) << 4 |
                           digit_value(val[2 * i + 1], 16));
    p->cfg->has_guest_sha256 = true;
    return 0;
}

/* ---------------------------------------------------------------- lines */

/* One line, line end removed. */
static int parse_line(struct parser *p, const char *s, size_t n)
{
    size_t i, end, key, key_end, val;
    size_t k;
    bool nul = false;
    int ctrl = -1;
    struct fmt *f;

    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch == 0)
            nul = true;
        else if (ctrl < 0 && ((ch < 0x20 && ch != '\t') || ch == 0x7f))
            ctrl = ch;
    }
    if (nul) {
        fmt_str(line_error(p),
                "NUL byte in file (UTF-16? save it as ASCII or UTF-8)");
        return -1;
    }
    if (n > CONFIG_LINE_MAX) {
        f = line_error(p);
        fmt_str(f, "line too long (");
        fmt_uint(f, n);
        fmt_str(f, " bytes, max ");
        fmt_uint(f, CONFIG_LINE_MAX);
        fmt_char(f, ')');
        return -1;
    }
    if (ctrl >= 0) {
        f = line_error(p);
        fmt_str(f, "control character ");
        fmt_hex8(f, (uint8_t)ctrl);
        return -1;
    }

    /* Strip the comment, then the blanks around key and value. */
    for (end = 0; end < n && s[end] != '#'; end++)
        ;
    while (end > 0 && is_blank(s[end - 1]))
        end--;
    for (key = 0; key < end && is_blank(s[key]); key++)
        ;
    if (key == end)
        return 0;   /* blank or comment-only line */
    for (key_end = key; key_end < end && !is_blank(s[key_end]); key_end++)
        ;
    for (val = key_end; val < end && is_blank(s[val]); val++)
        ;

    for (k = 0; k < ARRAY_LEN(keys); k++) {
        if (bytes_eq(s + key, key_end - key, keys[k].name))
            break;
    }
    if (k == ARRAY_LEN(keys)) {
        f = line_error(p);
        fmt_str(f, "unknown key ");
        fmt_quoted(f, s + key, key_end - key);
        return -1;
    }
    if (val == end) {
        f = line_error(p);
        fmt_str(f, "missing value for '");
        fmt_str(f, keys[k].name);
        fmt_char(f, '\'');
        return -1;
    }
    if (p->seen[k] != 0 && !(keys[k].flags & KEY_REPEATS)) {
        f = line_error(p);
        fmt_str(f, "duplicate key '");
        fmt_str(f, keys[k].name);
        fmt_str(f, "' (first set on line ");
        fmt_uint(f, p->seen[k]);
        fmt_char(f, ')');
        return -1;
    }
    if (keys[k].handler(p, s + val, end - val) != 0)
        return -1;
    if (p->seen[k] == 0)
        p->seen[k] = p->line;
    return 0;
}

/* ------------------------------------------------------------------ API */

void config_defaults(struct lamina_config *c)
{
    size_t i;

    for (i = 0; i < sizeof(c->guest); i++)
        c->guest[i] = '\0';
    for (i = 0; i < sizeof(c->options); i++)
        c->options[i] = '\0';
    c->serial_port = CONFIG_SERIAL_DEFAULT;
    c->on_error = ON_ERROR_BOOT;
    c->log_level = CONFIG_LOG_INFO;
    c->has_options = false;
    c->has_guest_sha256 = false;
    for (i = 0; i < sizeof(c->guest_sha256); i++)
        c->guest_sha256[i] = 0;
}

int config_parse(const char *text, size_t len, struct lamina_config *c,
                 char *err, size_t errlen)
{
    const unsigned char *u = (const unsigned char *)text;
    struct parser p;
    size_t pos = 0, k;

    p.cfg = c;
    p.err.buf = err;
    p.err.cap = errlen;
    fmt_reset(&p.err);
    p.line = 0;
    for (k = 0; k < ARRAY_LEN(keys); k++)
        p.seen[k] = 0;

    if (c == NULL) {
        fmt_str(file_error(&p), "no config structure");
        return -1;
    }
    config_defaults(c);
    if (text == NULL)
        len = 0;

    /* Byte order marks: FF FE or FE FF is UTF-16 (or UTF-32), EF BB BF is
     * UTF-8 and harmless. */
    if (len >= 2 && ((u[0] == 0xff && u[1] == 0xfe) ||
                     (u[0] == 0xfe && u[1] == 0xff))) {
        fmt_str(file_error(&p),
                "file is UTF-16 (byte order mark); save it as ASCII or UTF-8");
        return -1;
    }
    if (len >= 3 && u[0] == 0xef && u[1] == 0xbb && u[2] == 0xbf)
        pos = 3;

    while (pos < len) {
        size_t start = pos, end = pos;

        while (end < len && text[end] != '\n')
            end++;
        pos = end < len ? end + 1 : end;
        if (end > start && text[end - 1] == '\r')
            end--;  /* CRLF */
        p.line++;
        if (parse_line(&p, text + start, end - start) != 0) {
            config_defaults(c);
            return -1;
        }
    }

    for (k = 0; k < ARRAY_LEN(keys); k++) {
        if ((keys[k].flags & KEY_REQUIRED) && p.seen[k] == 0) {
            struct fmt *f = file_error(&p);

            fmt_str(f, "missing required key '");
            fmt_str(f, keys[k].name);
            fmt_char(f, '\'');
            config_defaults(c);
            return -1;
        }
    }
    return 0;
}
