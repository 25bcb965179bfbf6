/* lamina.conf parser: see config.h for the format.
 *
 * No libc and no UEFI here: the string helpers below are all it uses.
 * Keys are described by the table keys[]; adding a key means writing a
 * handler and adding one row.
 */
#include "core/bootinfo.h"
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

/* v as 0x-hex, lower case, no leading zeros. */
static void fmt_hex(struct fmt *f, uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    int shift = 28;

    fmt_str(f, "0x");
    while (shift > 0 && (v >> shift) == 0)
        shift -= 4;
    for (; shift >= 0; shift -= 4)
        fmt_char(f, digits[(v >> shift) & 0xf]);
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
static int set_dma_protection(struct parser *p, const char *val, size_t n);
static int set_io(struct parser *p, const char *val, size_t n);
static int set_msr(struct parser *p, const char *val, size_t n);
static int set_stealth(struct parser *p, const char *val, size_t n);
static int set_serial_exclusive(struct parser *p, const char *val, size_t n);
static int set_hypercall_user(struct parser *p, const char *val, size_t n);
static int set_sleep(struct parser *p, const char *val, size_t n);
static int set_log_events(struct parser *p, const char *val, size_t n);
static int set_init_emulation(struct parser *p, const char *val, size_t n);
static int set_on_triple_fault(struct parser *p, const char *val, size_t n);

static const struct key_desc keys[] = {
    { "guest",            set_guest,            KEY_REQUIRED },
    { "options",          set_options,          0 },
    { "serial",           set_serial,           0 },
    { "on-error",         set_on_error,         0 },
    { "log-level",        set_log_level,        0 },
    { "guest-sha256",     set_guest_sha256,     0 },
    { "dma-protection",   set_dma_protection,   0 },
    { "io",               set_io,               KEY_REPEATS },
    { "msr",              set_msr,              KEY_REPEATS },
    { "stealth",          set_stealth,          0 },
    { "serial-exclusive", set_serial_exclusive, 0 },
    { "hypercall-user",   set_hypercall_user,   0 },
    { "sleep",            set_sleep,            0 },
    { "log-events",       set_log_events,       0 },
    { "init-emulation",   set_init_emulation,   0 },
    { "on-triple-fault",  set_on_triple_fault,  0 },
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

/* " (expected a, b or c)" */
static void fmt_choices(struct fmt *f, const char *const *names, size_t count)
{
    size_t i;

    fmt_str(f, " (expected ");
    for (i = 0; i < count; i++) {
        if (i > 0)
            fmt_str(f, i + 1 == count ? " or " : ", ");
        fmt_str(f, names[i]);
    }
    fmt_char(f, ')');
}

/* Index of the word val[0..n) in names[], or -1. */
static int find_name(const char *val, size_t n, const char *const *names,
                     size_t count)
{
    size_t i;

    for (i = 0; i < count; i++) {
        if (bytes_eq(val, n, names[i]))
            return (int)i;
    }
    return -1;
}

/* Value of a key whose value is one of names[]: index, or -1 after
 * reporting "bad value 'x' for 'key' (expected a, b or c)". */
static int match_enum(struct parser *p, const char *key, const char *val,
                      size_t n, const char *const *names, size_t count)
{
    struct fmt *f;
    int i = find_name(val, n, names, count);

    if (i >= 0)
        return i;
    f = line_error(p);
    fmt_str(f, "bad value ");
    fmt_quoted(f, val, n);
    fmt_str(f, " for '");
    fmt_str(f, key);
    fmt_str(f, "'");
    fmt_choices(f, names, count);
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

/* Numbers are decimal or 0x-hex (either case). Values saturate at
 * NUMBER_SAT, above every limit checked (the largest is 0xffffffff), so a long
 * run of digits cannot wrap into range. False if no digits or a bad one. */
#define NUMBER_SAT 0x100000000ull

static bool parse_number(const char *s, size_t n, uint64_t *out)
{
    unsigned base = 10;
    uint64_t v = 0;
    size_t i = 0;

    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        i = 2;
    }
    if (n == 0)
        return false;
    for (; i < n; i++) {
        int d = digit_value(s[i], base);

        if (d < 0)
            return false;
        v = v * base + (uint64_t)d;
        if (v > NUMBER_SAT)
            v = NUMBER_SAT;
    }
    *out = v;
    return true;
}

static int set_serial(struct parser *p, const char *val, size_t n)
{
    uint64_t v;
    struct fmt *f;

    if (bytes_eq(val, n, "none")) {
        p->cfg->serial_port = 0;
        return 0;
    }
    if (!parse_number(val, n, &v)) {
        f = line_error(p);
        fmt_str(f, "bad serial port ");
        fmt_quoted(f, val, n);
        fmt_str(f, " (expected 0x-hex, decimal or none)");
        return -1;
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

static int set_dma_protection(struct parser *p, const char *val, size_t n)
{
    /* Indexed by enum lamina_dma_mode (core/bootinfo.h). */
    static const char *const names[] = { "auto", "required", "off" };
    int v = match_enum(p, "dma-protection", val, n, names, ARRAY_LEN(names));

    if (v < 0)
        return -1;
    p->cfg->dma_protection = (uint8_t)v;
    return 0;
}

/* ---------------------------------------------------------- policy keys */

/* yes | no keys, stored as 1 | 0. */
static int set_flag(struct parser *p, const char *key, uint8_t *out,
                    const char *val, size_t n)
{
    static const char *const names[] = { "yes", "no" };
    int v = match_enum(p, key, val, n, names, ARRAY_LEN(names));

    if (v < 0)
        return -1;
    *out = v == 0;
    return 0;
}

static int set_stealth(struct parser *p, const char *val, size_t n)
{
    return set_flag(p, "stealth", &p->cfg->policy.stealth, val, n);
}

static int set_serial_exclusive(struct parser *p, const char *val, size_t n)
{
    return set_flag(p, "serial-exclusive", &p->cfg->policy.serial_exclusive, val, n);
}

static int set_hypercall_user(struct parser *p, const char *val, size_t n)
{
    /* Indexed by POLICY_HCUSER_*. */
    static const char *const names[] = { "no", "yes", "full" };
    int v = match_enum(p, "hypercall-user", val, n, names, ARRAY_LEN(names));

    if (v < 0)
        return -1;
    p->cfg->policy.hypercall_user = (uint8_t)v;
    return 0;
}

/* sleep refuse: S1-S4 refused (core/sleep.c). "resume" (re-entering VMX at
 * wake through a monitor trampoline) is not built: said at load. */
static int set_sleep(struct parser *p, const char *val, size_t n)
{
    static const char *const names[] = { "refuse", "resume" };
    int v = match_enum(p, "sleep", val, n, names, ARRAY_LEN(names));

    if (v < 0)
        return -1;
    if (v == 1) {
        fmt_str(line_error(p), "sleep resume is not built in this version (only refuse: "
                "S1-S4 requests are refused and the OS sees an immediate wake)");
        return -1;
    }
    return 0;
}

static int set_init_emulation(struct parser *p, const char *val, size_t n)
{
    uint8_t on = 0;
    int rc = set_flag(p, "init-emulation", &on, val, n);
    p->cfg->init_emulation = on;
    return rc;
}

static int set_on_triple_fault(struct parser *p, const char *val, size_t n)
{
    /* Indexed by LAMINA_TRIPLE_FAULT_*. */
    static const char *const names[] = { "reset", "stop" };
    int v = match_enum(p, "on-triple-fault", val, n, names, ARRAY_LEN(names));

    if (v < 0)
        return -1;
    p->cfg->on_triple_fault = (uint8_t)v;
    return 0;
}

static int set_log_events(struct parser *p, const char *val, size_t n)
{
    /* After "none", indexed by core/log.h's level + 1. */
    static const char *const names[] = { "none", "error", "warn", "info", "debug" };
    int v = match_enum(p, "log-events", val, n, names, ARRAY_LEN(names));

    if (v < 0)
        return -1;
    p->cfg->policy.event_level = v == 0 ? POLICY_EVENTS_NONE : (uint8_t)(v - 1);
    return 0;
}

static const char *const space_names[] = { "io", "msr" };     /* enum policy_space */
static const char *const action_names[] = { "log", "deny", "lock" };
static const uint8_t action_values[] = { POLICY_LOG, POLICY_DENY, POLICY_LOCK };
static const char *const dir_names[] = { "read", "write", "rw" };
static const uint8_t dir_values[] = { POLICY_READ, POLICY_WRITE, POLICY_RW };

static const char *action_name(uint8_t action)
{
    size_t i;

    for (i = 0; i < ARRAY_LEN(action_values); i++) {
        if (action_values[i] == action)
            return action_names[i];
    }
    return "?";
}

/* The next blank-separated word of val[*pos..n): false when there is none. */
static bool next_word(const char *val, size_t n, size_t *pos,
                      const char **word, size_t *wlen)
{
    size_t i = *pos, start;

    while (i < n && is_blank(val[i]))
        i++;
    if (i == n)
        return false;
    for (start = i; i < n && !is_blank(val[i]); i++)
        ;
    *word = val + start;
    *wlen = i - start;
    *pos = i;
    return true;
}

/* Would policy_lookup() be unable to choose between a and b for some access?
 * That is when both cover it and neither is more specific (core/policy.c:
 * narrower first, then one-direction before rw). Different actions then make
 * the outcome depend on rule order, which the file does not promise. */
static bool rules_contradict(const struct policy_rule *a, const struct policy_rule *b)
{
    return a->space == b->space && a->action != b->action &&
           a->first <= b->last && b->first <= a->last && (a->dir & b->dir) != 0 &&
           a->last - a->first == b->last - b->first &&
           (a->dir == POLICY_RW) == (b->dir == POLICY_RW);
}

/* Add each MSR of a lock rule to lock_msr[] once, in rule order. */
static int add_locks(struct parser *p, const struct policy_rule *r)
{
    struct lamina_policy *pol = &p->cfg->policy;
    uint32_t msr = r->first;

    for (;;) {
        if (policy_lock_slot(pol, msr) < 0) {
            if (pol->nlocks == POLICY_MAX_LOCKS) {
                struct fmt *f = line_error(p);

                fmt_str(f, "too many locked MSRs (max ");
                fmt_uint(f, POLICY_MAX_LOCKS);
                fmt_str(f, " in all lock rules)");
                return -1;
            }
            pol->lock_msr[pol->nlocks++] = msr;
        }
        if (msr == r->last)
            return 0;
        msr++;
    }
}

/*   io  <action> <first>[-<last>] [read|write|rw]
 *   msr <action> <first>[-<last>] [read|write|rw]  */
static int set_rule(struct parser *p, enum policy_space space, const char *val, size_t n)
{
    static const char usage[] = " <action> <first>[-<last>] [read|write|rw])";
    struct lamina_policy *pol = &p->cfg->policy;
    const char *word, *range = NULL;
    size_t wlen, rlen = 0, pos = 0, dash;
    uint64_t first, last;
    struct policy_rule r = { 0 };
    struct fmt *f;
    uint32_t i;
    int k;

    r.space = (uint8_t)space;
    r.line = (uint32_t)p->line;

    next_word(val, n, &pos, &word, &wlen);  /* the value is not empty */
    k = find_name(word, wlen, action_names, ARRAY_LEN(action_names));
    if (k < 0) {
        f = line_error(p);
        fmt_str(f, "unknown action ");
        fmt_quoted(f, word, wlen);
        fmt_choices(f, action_names, ARRAY_LEN(action_names));
        return -1;
    }
    r.action = action_values[k];
    if (r.action == POLICY_LOCK && space == POLICY_IO) {
        fmt_str(line_error(p), "lock applies to MSRs only (io takes log or deny)");
        return -1;
    }

    if (!next_word(val, n, &pos, &range, &rlen)) {
        f = line_error(p);
        fmt_str(f, "missing range (expected ");
        fmt_str(f, space_names[space]);
        fmt_str(f, usage);
        return -1;
    }
    for (dash = 0; dash < rlen && range[dash] != '-'; dash++)
        ;
    if (!parse_number(range, dash, &first) ||
        (dash < rlen && !parse_number(range + dash + 1, rlen - dash - 1, &last))) {
        f = line_error(p);
        fmt_str(f, "bad range ");
        fmt_quoted(f, range, rlen);
        fmt_str(f, " (expected <first>[-<last>], decimal or 0x-hex)");
        return -1;
    }
    if (dash == rlen)
        last = first;
    if (first > last) {
        f = line_error(p);
        fmt_str(f, "bad range ");
        fmt_quoted(f, range, rlen);
        fmt_str(f, ": first is above last");
        return -1;
    }

    r.dir = r.action == POLICY_LOCK ? POLICY_WRITE : POLICY_RW;
    if (next_word(val, n, &pos, &word, &wlen)) {
        k = find_name(word, wlen, dir_names, ARRAY_LEN(dir_names));
        if (k < 0) {
            f = line_error(p);
            fmt_str(f, "unknown direction ");
            fmt_quoted(f, word, wlen);
            fmt_choices(f, dir_names, ARRAY_LEN(dir_names));
            return -1;
        }
        if (r.action == POLICY_LOCK && dir_values[k] != POLICY_WRITE) {
            f = line_error(p);
            fmt_str(f, "lock takes only the write direction, not ");
            fmt_quoted(f, word, wlen);
            return -1;
        }
        r.dir = dir_values[k];
        if (next_word(val, n, &pos, &word, &wlen)) {
            f = line_error(p);
            fmt_str(f, "unexpected ");
            fmt_quoted(f, word, wlen);
            fmt_str(f, " after the direction");
            return -1;
        }
    }

    if (space == POLICY_IO && last > 0xffff) {
        f = line_error(p);
        fmt_str(f, "port range ");
        fmt_quoted(f, range, rlen);
        fmt_str(f, " goes above 0xffff");
        return -1;
    }
    /* Both ends coverable and no wider than one window: the range cannot
     * straddle the gap between the two (SDM 3C 25.6.9). */
    if (space == POLICY_MSR &&
        (first > 0xffffffffu || last > 0xffffffffu ||
         !policy_msr_coverable((uint32_t)first) || !policy_msr_coverable((uint32_t)last) ||
         last - first > 0x1fff)) {
        f = line_error(p);
        fmt_str(f, "MSR range ");
        fmt_quoted(f, range, rlen);
        fmt_str(f, " is not covered by the MSR bitmap (0-0x1fff, 0xc0000000-0xc0001fff)");
        return -1;
    }
    r.first = (uint32_t)first;
    r.last = (uint32_t)last;
    if (space == POLICY_MSR && r.action != POLICY_LOG) {
        /* Log rules record the RDMSR/WRMSR instructions; deny and lock
         * promise the value, which other instructions change unseen. */
        uint32_t m;
        const char *why = policy_msr_bypassed(r.first, r.last, &m);
        if (why) {
            f = line_error(p);
            fmt_str(f, action_name(r.action));
            fmt_str(f, " cannot be kept for MSR ");
            fmt_hex(f, m);
            fmt_str(f, ": ");
            fmt_str(f, why);
            fmt_str(f, " (only log rules may name it)");
            return -1;
        }
    }

    if (pol->nrules == POLICY_MAX_RULES) {
        f = line_error(p);
        fmt_str(f, "too many io/msr rules (max ");
        fmt_uint(f, POLICY_MAX_RULES);
        fmt_char(f, ')');
        return -1;
    }
    for (i = 0; i < pol->nrules; i++) {
        const struct policy_rule *o = &pol->rule[i];

        if (!rules_contradict(&r, o))
            continue;
        f = line_error(p);
        fmt_str(f, space_names[space]);
        fmt_str(f, " rule contradicts line ");
        fmt_uint(f, o->line);
        fmt_str(f, ": ");
        fmt_str(f, action_name(r.action));
        fmt_str(f, " vs ");
        fmt_str(f, action_name(o->action));
        fmt_str(f, space == POLICY_IO ? " for port " : " for MSR ");
        fmt_hex(f, r.first > o->first ? r.first : o->first);
        fmt_str(f, ", equally specific");
        return -1;
    }
    if (r.action == POLICY_LOCK && add_locks(p, &r) != 0)
        return -1;
    pol->rule[pol->nrules++] = r;
    return 0;
}

static int set_io(struct parser *p, const char *val, size_t n)
{
    return set_rule(p, POLICY_IO, val, n);
}

static int set_msr(struct parser *p, const char *val, size_t n)
{
    return set_rule(p, POLICY_MSR, val, n);
}

/* The line a key was first set on, 0 if never. */
static size_t key_line(const struct parser *p, const char *name)
{
    size_t k, n;

    for (n = 0; name[n] != '\0'; n++)
        ;
    for (k = 0; k < ARRAY_LEN(keys); k++) {
        if (bytes_eq(name, n, keys[k].name))
            return p->seen[k];
    }
    return 0;
}

/* Checks that need the whole file: key order must not matter. */
static int check_policy(struct parser *p)
{
    const struct lamina_config *c = p->cfg;
    uint32_t port = c->serial_port, i;
    struct fmt *f;

    if (!c->policy.serial_exclusive)
        return 0;
    if (port == 0) {
        p->line = key_line(p, "serial-exclusive");
        f = line_error(p);
        fmt_str(f, "serial-exclusive yes needs a serial port (serial is none on line ");
        fmt_uint(f, key_line(p, "serial"));
        fmt_char(f, ')');
        return -1;
    }
    for (i = 0; i < c->policy.nrules; i++) {
        const struct policy_rule *r = &c->policy.rule[i];

        if (r->space != POLICY_IO || r->last < port || r->first > port + 7)
            continue;
        p->line = r->line;
        f = line_error(p);
        fmt_str(f, "io rule covers the exclusive serial port ");
        fmt_hex(f, port);
        fmt_char(f, '-');
        fmt_hex(f, port + 7);
        fmt_str(f, " (the monitor owns it)");
        return -1;
    }
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
    c->init_emulation = false;
    c->on_triple_fault = LAMINA_TRIPLE_FAULT_RESET;
    c->log_level = CONFIG_LOG_INFO;
    c->has_options = false;
    c->has_guest_sha256 = false;
    c->dma_protection = LAMINA_DMA_AUTO;
    for (i = 0; i < sizeof(c->guest_sha256); i++)
        c->guest_sha256[i] = 0;
    for (i = 0; i < sizeof(c->policy); i++)
        ((uint8_t *)&c->policy)[i] = 0;
    c->policy.event_level = CONFIG_LOG_INFO;
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
    if (check_policy(&p) != 0) {
        config_defaults(c);
        return -1;
    }
    return 0;
}
