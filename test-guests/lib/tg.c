/* tg: output, check reporting, fault catching and instruction helpers for
 * Lamina's test guests. See tg.h for the interface. */
#include "efi/console.h"
#include "test-guests/lib/tg.h"

/* ---------------------------------------------------------------- state */

static const char *tg_name = "tg";
static uint32_t tg_bsp_apic = 0xffffffffu;
static unsigned int tg_out_mask = TG_OUT_CONSOLE | TG_OUT_SERIAL;
static unsigned int tg_npass, tg_nfail;
static const char *tg_word_pass = "PASS", *tg_word_fail = "FAIL";

bool tg_is_bsp(void)
{
    return tg_apic_id() == tg_bsp_apic;
}

void tg_set_output(unsigned int mask)
{
    tg_out_mask = mask;
}

/* --------------------------------------------------------------- serial */

#define COM1        0x3f8
#define UART_THR    0   /* transmit holding (DLAB 0) */
#define UART_DLL    0   /* divisor low (DLAB 1) */
#define UART_IER    1
#define UART_DLM    1   /* divisor high (DLAB 1) */
#define UART_FCR    2
#define UART_LCR    3
#define UART_MCR    4
#define UART_LSR    5
#define LCR_8N1     0x03
#define LCR_DLAB    0x80
#define LSR_THRE    0x20

static bool serial_present;
static volatile uint32_t serial_lock;

static void serial_init(void)
{
    uint8_t lcr = tg_inb(COM1 + UART_LCR);
    uint8_t lsr = tg_inb(COM1 + UART_LSR);

    if (lcr == 0xff && lsr == 0xff)
        return;                         /* nothing decodes the port */
    serial_present = true;
    /* Already 8 data bits, no parity, 1 stop bit, DLAB clear: the firmware
     * (or a monitor's log) set it up; leave the baud rate alone. */
    if ((lcr & (LCR_DLAB | 0x0f)) == LCR_8N1)
        return;
    tg_outb(COM1 + UART_IER, 0x00);
    tg_outb(COM1 + UART_LCR, LCR_DLAB);
    tg_outb(COM1 + UART_DLL, 1);        /* 115200 = 1.8432 MHz / 16 / 1 */
    tg_outb(COM1 + UART_DLM, 0);
    tg_outb(COM1 + UART_LCR, LCR_8N1);
    tg_outb(COM1 + UART_FCR, 0x07);     /* FIFO on, both cleared */
    tg_outb(COM1 + UART_MCR, 0x03);     /* DTR, RTS */
}

static void serial_putc(char c)
{
    for (uint32_t i = 0; i < 1000000u; i++)
        if (tg_inb(COM1 + UART_LSR) & LSR_THRE)
            break;
    tg_outb(COM1 + UART_THR, (uint8_t)c);
}

static void serial_write(const char *s, size_t len)
{
    while (__atomic_exchange_n(&serial_lock, 1u, __ATOMIC_ACQUIRE))
        __asm__ volatile("pause");
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n')
            serial_putc('\r');
        serial_putc(s[i]);
    }
    __atomic_store_n(&serial_lock, 0u, __ATOMIC_RELEASE);
}

/* -------------------------------------------------------------- console */

/* Text outputs that do not mirror COM1 (efi/console.c), or ConOut. */
#define TG_MAX_CONSOLES 8
static SIMPLE_TEXT_OUTPUT_INTERFACE *tg_consoles[TG_MAX_CONSOLES];
static UINTN tg_nconsoles;

static void console_flush(CHAR16 *buf)
{
    for (UINTN i = 0; i < tg_nconsoles; i++)
        uefi_call_wrapper(tg_consoles[i]->OutputString, 2, tg_consoles[i], buf);
}

static void console_write(const char *s, size_t len)
{
    CHAR16 buf[130];
    size_t n = 0;

    if (ST == NULL || ST->ConOut == NULL)
        return;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            buf[n++] = L'\r';
        buf[n++] = (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\r' || c == '\t'
                       ? (CHAR16)c : L'?';
        if (n >= 128) {
            buf[n] = 0;
            console_flush(buf);
            n = 0;
        }
    }
    if (n > 0) {
        buf[n] = 0;
        console_flush(buf);
    }
}

static void tg_write(const char *s, size_t len)
{
    /* Boot services are not MP-safe: only the BSP may call them (PI spec
     * vol. 2, EFI_MP_SERVICES_PROTOCOL.StartupAllAPs). */
    if ((tg_out_mask & TG_OUT_CONSOLE) && tg_is_bsp())
        console_write(s, len);
    if ((tg_out_mask & TG_OUT_SERIAL) && serial_present)
        serial_write(s, len);
}

/* ------------------------------------------------------------ formatter */

struct fmt_out {
    char  *buf;
    size_t size;
    size_t len;
};

static void fmt_putc(struct fmt_out *o, char c)
{
    if (o->len + 1 < o->size)
        o->buf[o->len++] = c;
}

static void fmt_pad(struct fmt_out *o, char c, int n)
{
    while (n-- > 0)
        fmt_putc(o, c);
}

static void fmt_number(struct fmt_out *o, unsigned long long v, unsigned int base,
                       bool upper, bool negative, int width, bool zero, bool left)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24];
    int n = 0;

    do {
        tmp[n++] = digits[v % base];
        v /= base;
    } while (v != 0);
    int len = n + (negative ? 1 : 0);
    if (!left && !zero)
        fmt_pad(o, ' ', width - len);
    if (negative)
        fmt_putc(o, '-');
    if (!left && zero)
        fmt_pad(o, '0', width - len);
    while (n > 0)
        fmt_putc(o, tmp[--n]);
    if (left)
        fmt_pad(o, ' ', width - len);
}

int tg_vsnprintf(char *buf, size_t size, const char *fmt, __builtin_va_list ap)
{
    struct fmt_out o = { buf, size, 0 };

    if (size == 0)
        return 0;
    for (const char *p = fmt; *p != '\0'; p++) {
        if (*p != '%') {
            fmt_putc(&o, *p);
            continue;
        }
        p++;
        bool left = false, zero = false;
        for (;; p++) {
            if (*p == '-')
                left = true;
            else if (*p == '0')
                zero = true;
            else
                break;
        }
        int width = 0;
        if (*p == '*') {
            width = __builtin_va_arg(ap, int);
            if (width < 0) {
                left = true;
                width = -width;
            }
            p++;
        } else {
            while (*p >= '0' && *p <= '9')
                width = width * 10 + (*p++ - '0');
        }
        int lng = 0;                    /* 0 int, 1 long, 2 long long, 3 size_t */
        if (*p == 'l') {
            lng = 1;
            p++;
            if (*p == 'l') {
                lng = 2;
                p++;
            }
        } else if (*p == 'z') {
            lng = 3;
            p++;
        }
        unsigned long long u;
        long long s;
        switch (*p) {
        case 'd':
        case 'i':
            if (lng == 0)
                s = __builtin_va_arg(ap, int);
            else if (lng == 1)
                s = __builtin_va_arg(ap, long);
            else if (lng == 2)
                s = __builtin_va_arg(ap, long long);
            else
                s = (long long)__builtin_va_arg(ap, size_t);
            u = s < 0 ? 0ull - (unsigned long long)s : (unsigned long long)s;
            fmt_number(&o, u, 10, false, s < 0, width, zero, left);
            break;
        case 'u':
        case 'x':
        case 'X':
            if (lng == 0)
                u = __builtin_va_arg(ap, unsigned int);
            else if (lng == 1)
                u = __builtin_va_arg(ap, unsigned long);
            else if (lng == 2)
                u = __builtin_va_arg(ap, unsigned long long);
            else
                u = __builtin_va_arg(ap, size_t);
            fmt_number(&o, u, *p == 'u' ? 10 : 16, *p == 'X', false, width, zero, left);
            break;
        case 'p':
            fmt_putc(&o, '0');
            fmt_putc(&o, 'x');
            u = (uintptr_t)__builtin_va_arg(ap, void *);
            fmt_number(&o, u, 16, false, false, width > 2 ? width - 2 : 0, zero, left);
            break;
        case 'c': {
            char c = (char)__builtin_va_arg(ap, int);
            if (!left)
                fmt_pad(&o, ' ', width - 1);
            fmt_putc(&o, c);
            if (left)
                fmt_pad(&o, ' ', width - 1);
            break;
        }
        case 's': {
            const char *str = __builtin_va_arg(ap, const char *);
            if (str == NULL)
                str = "(null)";
            int len = 0;
            while (str[len] != '\0')
                len++;
            if (!left)
                fmt_pad(&o, ' ', width - len);
            for (int i = 0; i < len; i++)
                fmt_putc(&o, str[i]);
            if (left)
                fmt_pad(&o, ' ', width - len);
            break;
        }
        case '%':
            fmt_putc(&o, '%');
            break;
        case '\0':
            p--;                        /* a lone '%' at the end */
            break;
        default:                        /* unknown: show it as written */
            fmt_putc(&o, '%');
            fmt_putc(&o, *p);
            break;
        }
    }
    o.buf[o.len] = '\0';
    return (int)o.len;
}

int tg_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    int n = tg_vsnprintf(buf, size, fmt, ap);
    __builtin_va_end(ap);
    return n;
}

#define TG_LINE 512

static void tg_vprint(const char *fmt, __builtin_va_list ap)
{
    char buf[TG_LINE];
    int n = tg_vsnprintf(buf, sizeof buf, fmt, ap);
    tg_write(buf, (size_t)n);
}

void tg_print(const char *fmt, ...)
{
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    tg_vprint(fmt, ap);
    __builtin_va_end(ap);
}

/* "<prog>: <word>[ <name>][ <detail>]\n" as one write, so lines from several
 * CPUs do not interleave on the serial port. */
static void tg_report(const char *word, const char *name, const char *fmt,
                      __builtin_va_list *ap)
{
    char buf[TG_LINE];
    int n = tg_snprintf(buf, sizeof buf - 1, "%s: %s", tg_name, word);
    if (name != NULL)
        n += tg_snprintf(buf + n, sizeof buf - 1 - (size_t)n, "%s%s",
                         word[0] != '\0' ? " " : "", name);
    if (fmt != NULL && fmt[0] != '\0') {
        if (n > 0 && buf[n - 1] != ' ')
            buf[n++] = ' ';
        n += tg_vsnprintf(buf + n, sizeof buf - 1 - (size_t)n, fmt, *ap);
    }
    buf[n++] = '\n';
    tg_write(buf, (size_t)n);
}

void tg_note(const char *fmt, ...)
{
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    tg_report("", NULL, fmt, &ap);
    __builtin_va_end(ap);
}

/* --------------------------------------------------------------- checks */

void tg_pass(const char *name)
{
    __atomic_fetch_add(&tg_npass, 1u, __ATOMIC_RELAXED);
    tg_report(tg_word_pass, name, NULL, NULL);
}

void tg_passf(const char *name, const char *fmt, ...)
{
    __builtin_va_list ap;
    __atomic_fetch_add(&tg_npass, 1u, __ATOMIC_RELAXED);
    __builtin_va_start(ap, fmt);
    tg_report(tg_word_pass, name, fmt, &ap);
    __builtin_va_end(ap);
}

void tg_fail(const char *name, const char *fmt, ...)
{
    __builtin_va_list ap;
    __atomic_fetch_add(&tg_nfail, 1u, __ATOMIC_RELAXED);
    __builtin_va_start(ap, fmt);
    tg_report(tg_word_fail, name, fmt, &ap);
    __builtin_va_end(ap);
}

void tg_skip(const char *name, const char *fmt, ...)
{
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    tg_report("SKIP", name, fmt, &ap);
    __builtin_va_end(ap);
}

void tg_set_words(const char *pass, const char *fail)
{
    tg_word_pass = pass;
    tg_word_fail = fail;
}

unsigned int tg_passed(void)
{
    return __atomic_load_n(&tg_npass, __ATOMIC_RELAXED);
}

unsigned int tg_failed(void)
{
    return __atomic_load_n(&tg_nfail, __ATOMIC_RELAXED);
}

unsigned int tg_summary(void)
{
    unsigned int p = tg_passed(), f = tg_failed();
    tg_note("done");
    tg_print("%u passed, %u failed\n", p, f);
    return f;
}

/* ----------------------------------------------------------------- init */

void tg_init(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab, const char *name)
{
    InitializeLib(image, systab);
    if (name != NULL)
        tg_name = name;
    tg_bsp_apic = tg_apic_id();
    serial_init();
    if (serial_present) {
        tg_nconsoles = console_outputs_without_serial(tg_consoles, TG_MAX_CONSOLES);
    } else {
        tg_consoles[0] = ST->ConOut;
        tg_nconsoles = 1;
    }
    tg_note("start");
}

/* --------------------------------------------------------------- faults */

struct __attribute__((packed)) tg_idtr {
    uint16_t limit;
    uint64_t base;
};

int tg_try_raw(void (*fn)(void *), void *arg, struct tg_fault *out);
extern char tg_isr_de[], tg_isr_ud[], tg_isr_ss[], tg_isr_gp[], tg_isr_pf[], tg_isr_ac[];
extern uint64_t tg_fw_idt[256];

#define TG_IDT_MAX 4096     /* 256 gates of 16 bytes */

static uint64_t gate_offset(const uint8_t *g)
{
    return (uint64_t)(g[0] | (g[1] << 8)) | ((uint64_t)(g[6] | (g[7] << 8)) << 16) |
           ((uint64_t)(g[8] | (g[9] << 8) | (g[10] << 16) | ((uint32_t)g[11] << 24)) << 32);
}

/* A 64-bit interrupt gate, DPL 0, IST 0 (SDM 3A 7.14.1, Figure 6-8). */
static void gate_set(uint8_t *g, uint64_t handler, uint16_t cs)
{
    g[0] = (uint8_t)handler;
    g[1] = (uint8_t)(handler >> 8);
    g[2] = (uint8_t)cs;
    g[3] = (uint8_t)(cs >> 8);
    g[4] = 0;                           /* IST 0: stay on the faulting stack */
    g[5] = 0x8e;                        /* present, DPL 0, type 0xE */
    g[6] = (uint8_t)(handler >> 16);
    g[7] = (uint8_t)(handler >> 24);
    g[8] = (uint8_t)(handler >> 32);
    g[9] = (uint8_t)(handler >> 40);
    g[10] = (uint8_t)(handler >> 48);
    g[11] = (uint8_t)(handler >> 56);
    g[12] = g[13] = g[14] = g[15] = 0;
}

int tg_try(void (*fn)(void *), void *arg, struct tg_fault *out)
{
    static const uint8_t vectors[6] = {
        TG_VEC_DE, TG_VEC_UD, TG_VEC_SS, TG_VEC_GP, TG_VEC_PF, TG_VEC_AC
    };
    uint64_t stubs[6] = {
        (uint64_t)tg_isr_de, (uint64_t)tg_isr_ud, (uint64_t)tg_isr_ss,
        (uint64_t)tg_isr_gp, (uint64_t)tg_isr_pf, (uint64_t)tg_isr_ac
    };
    uint8_t idt[TG_IDT_MAX] __attribute__((aligned(16)));
    struct tg_idtr prev, mine;
    uint16_t cs;

    __asm__ volatile("sidt %0" : "=m"(prev));
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    size_t n = (size_t)prev.limit + 1;
    if (n > TG_IDT_MAX)
        n = TG_IDT_MAX;
    const volatile uint8_t *src = (const volatile uint8_t *)prev.base;
    for (size_t i = 0; i < n; i++)
        idt[i] = src[i];
    size_t need = (TG_VEC_AC + 1) * 16;
    for (size_t i = n; i < need; i++)
        idt[i] = 0;                     /* not present */
    if (n < need)
        n = need;
    for (int i = 0; i < 6; i++)
        gate_set(idt + vectors[i] * 16, stubs[i], cs);

    /* Inside another tg_try the IDT now loaded is tg's own: keep chaining to
     * the one found by the outermost call. */
    uint32_t apic = tg_apic_id() & 0xff;
    uint64_t prev_fw = tg_fw_idt[apic];
    bool nested = prev.limit >= TG_VEC_UD * 16 + 15 &&
                  gate_offset((const uint8_t *)prev.base + TG_VEC_UD * 16) ==
                      (uint64_t)tg_isr_ud;
    if (!nested)
        tg_fw_idt[apic] = prev.base;

    mine.limit = (uint16_t)(n - 1);
    mine.base = (uint64_t)idt;
    __asm__ volatile("lidt %0" : : "m"(mine) : "memory");
    int vec = tg_try_raw(fn, arg, out);
    __asm__ volatile("lidt %0" : : "m"(prev) : "memory");
    tg_fw_idt[apic] = prev_fw;
    return vec;
}

const char *tg_vector_name(int vector)
{
    switch (vector) {
    case -1: return "none";
    case 0:  return "#DE";
    case 1:  return "#DB";
    case 3:  return "#BP";
    case 6:  return "#UD";
    case 7:  return "#NM";
    case 8:  return "#DF";
    case 12: return "#SS";
    case 13: return "#GP";
    case 14: return "#PF";
    case 17: return "#AC";
    case 18: return "#MC";
    default: return "#??";
    }
}

/* -------------------------------------------------- instructions under tg_try */

struct tg_op {
    uint32_t idx;
    uint64_t value;
    uint64_t regs[4];
    uint64_t addr;
    void    *buf;
    size_t   len;
};

static void op_rdmsr(void *p)
{
    struct tg_op *op = p;
    op->value = tg_rdmsr(op->idx);
}

static void op_wrmsr(void *p)
{
    struct tg_op *op = p;
    tg_wrmsr(op->idx, op->value);
}

static void op_xgetbv(void *p)
{
    struct tg_op *op = p;
    op->value = tg_xgetbv(op->idx);
}

static void op_xsetbv(void *p)
{
    struct tg_op *op = p;
    tg_xsetbv(op->idx, op->value);
}

static void op_vmxon(void *p)
{
    struct tg_op *op = p;
    tg_vmxon(op->addr);
}

static void op_vmcall(void *p)
{
    struct tg_op *op = p;
    op->value = tg_vmcall(op->regs[0], op->regs[1], op->regs[2], op->regs[3]);
}

static void op_read(void *p)
{
    struct tg_op *op = p;
    uint8_t *dst = op->buf;
    if (((op->addr | op->len | (uintptr_t)dst) & 7) == 0) {
        for (size_t i = 0; i < op->len; i += 8)
            *(uint64_t *)(dst + i) = *(const volatile uint64_t *)(op->addr + i);
    } else {
        for (size_t i = 0; i < op->len; i++)
            dst[i] = *(const volatile uint8_t *)(op->addr + i);
    }
}

static void op_write(void *p)
{
    struct tg_op *op = p;
    const uint8_t *src = op->buf;
    if (((op->addr | op->len | (uintptr_t)src) & 7) == 0) {
        for (size_t i = 0; i < op->len; i += 8)
            *(volatile uint64_t *)(op->addr + i) = *(const uint64_t *)(src + i);
    } else {
        for (size_t i = 0; i < op->len; i++)
            *(volatile uint8_t *)(op->addr + i) = src[i];
    }
}

int tg_try_rdmsr(uint32_t msr, uint64_t *value, struct tg_fault *out)
{
    struct tg_op op = { .idx = msr };
    int v = tg_try(op_rdmsr, &op, out);
    if (v < 0 && value != NULL)
        *value = op.value;
    return v;
}

int tg_try_wrmsr(uint32_t msr, uint64_t value, struct tg_fault *out)
{
    struct tg_op op = { .idx = msr, .value = value };
    return tg_try(op_wrmsr, &op, out);
}

int tg_try_xgetbv(uint32_t xcr, uint64_t *value, struct tg_fault *out)
{
    struct tg_op op = { .idx = xcr };
    int v = tg_try(op_xgetbv, &op, out);
    if (v < 0 && value != NULL)
        *value = op.value;
    return v;
}

int tg_try_xsetbv(uint32_t xcr, uint64_t value, struct tg_fault *out)
{
    struct tg_op op = { .idx = xcr, .value = value };
    return tg_try(op_xsetbv, &op, out);
}

static uint8_t vmxon_pages[8192];

uint64_t tg_vmxon_region(void)
{
    return ((uint64_t)vmxon_pages + 4095) & ~(uint64_t)4095;
}

int tg_try_vmxon(struct tg_fault *out)
{
    struct tg_op op = { .addr = tg_vmxon_region() };
    return tg_try(op_vmxon, &op, out);
}

int tg_try_vmcall(uint64_t rax, uint64_t rbx, uint64_t rcx, uint64_t rdx,
                  uint64_t *rax_out, struct tg_fault *out)
{
    struct tg_op op = { .regs = { rax, rbx, rcx, rdx } };
    int v = tg_try(op_vmcall, &op, out);
    if (v < 0 && rax_out != NULL)
        *rax_out = op.value;
    return v;
}

int tg_try_read(uint64_t addr, void *buf, size_t len, struct tg_fault *out)
{
    struct tg_op op = { .addr = addr, .buf = buf, .len = len };
    return tg_try(op_read, &op, out);
}

int tg_try_write(uint64_t addr, const void *buf, size_t len, struct tg_fault *out)
{
    struct tg_op op = { .addr = addr, .buf = (void *)buf, .len = len };
    return tg_try(op_write, &op, out);
}

/* --------------------------------------------------------- UEFI helpers */

bool tg_option_given(EFI_HANDLE image, const CHAR16 *word)
{
    EFI_LOADED_IMAGE *li = NULL;
    if (EFI_ERROR(uefi_call_wrapper(BS->HandleProtocol, 3, image, &LoadedImageProtocol,
                                    (void **)&li)) || !li->LoadOptions)
        return false;
    const CHAR16 *o = li->LoadOptions;
    UINTN n = li->LoadOptionsSize / sizeof(CHAR16), w = StrLen(word);
    for (UINTN i = 0; i + w <= n; i++)
        if (CompareMem(o + i, word, w * sizeof(CHAR16)) == 0)
            return true;
    return false;
}

int tg_reserved_regions(struct tg_region *out, int max, uint64_t *ram_end_out)
{
    UINTN size = 0, key, dsize;
    UINT32 dver;
    EFI_MEMORY_DESCRIPTOR *map = NULL;
    EFI_STATUS st;

    st = uefi_call_wrapper(BS->GetMemoryMap, 5, &size, map, &key, &dsize, &dver);
    if (st != EFI_BUFFER_TOO_SMALL)
        return -1;
    for (int tries = 0; tries < 4; tries++) {
        size += 4 * dsize + 512;        /* AllocatePool may add descriptors */
        st = uefi_call_wrapper(BS->AllocatePool, 3, EfiLoaderData, size, (void **)&map);
        if (EFI_ERROR(st))
            return -1;
        st = uefi_call_wrapper(BS->GetMemoryMap, 5, &size, map, &key, &dsize, &dver);
        if (st == EFI_SUCCESS)
            break;
        uefi_call_wrapper(BS->FreePool, 1, map);
        map = NULL;
        if (st != EFI_BUFFER_TOO_SMALL)
            return -1;
    }
    if (map == NULL)
        return -1;

    uint64_t ram_end = 0;
    UINTN n = size / dsize;
    for (UINTN i = 0; i < n; i++) {
        EFI_MEMORY_DESCRIPTOR *d = (EFI_MEMORY_DESCRIPTOR *)((uint8_t *)map + i * dsize);
        switch (d->Type) {
        case EfiLoaderCode:
        case EfiLoaderData:
        case EfiBootServicesCode:
        case EfiBootServicesData:
        case EfiRuntimeServicesCode:
        case EfiRuntimeServicesData:
        case EfiConventionalMemory:
        case EfiACPIReclaimMemory:
        case EfiACPIMemoryNVS: {
            uint64_t end = d->PhysicalStart + d->NumberOfPages * 4096ull;
            if (end > ram_end)
                ram_end = end;
            break;
        }
        default:
            break;
        }
    }
    int count = 0;
    for (UINTN i = 0; i < n && count < max; i++) {
        EFI_MEMORY_DESCRIPTOR *d = (EFI_MEMORY_DESCRIPTOR *)((uint8_t *)map + i * dsize);
        if (d->Type != EfiReservedMemoryType || d->NumberOfPages == 0 ||
            d->PhysicalStart >= ram_end)
            continue;
        uint64_t pages = d->NumberOfPages;
        if (d->PhysicalStart + pages * 4096ull > ram_end)
            pages = (ram_end - d->PhysicalStart) / 4096ull;
        if (pages == 0)
            continue;
        out[count].base = d->PhysicalStart;
        out[count].pages = pages;
        count++;
    }
    uefi_call_wrapper(BS->FreePool, 1, map);
    *ram_end_out = ram_end;
    return count;
}

/* ---------------------------------------------------------- MP services */

TG_MP_SERVICES *tg_mp_services(void)
{
    static EFI_GUID guid = TG_MP_SERVICES_GUID;
    static TG_MP_SERVICES *mp;
    static bool looked;

    if (!looked) {
        void *iface = NULL;
        looked = true;
        if (!EFI_ERROR(uefi_call_wrapper(BS->LocateProtocol, 3, &guid, NULL, &iface)))
            mp = iface;
    }
    return mp;
}

bool tg_mem_eq(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return false;
    return true;
}

/* ----------------------------------------------------------------- ACPI */

uint8_t *tg_acpi_xsdt(void)
{
    static EFI_GUID acpi20 = ACPI_20_TABLE_GUID;
    const uint8_t *rsdp = NULL;
    for (UINTN i = 0; i < ST->NumberOfTableEntries; i++)
        if (!CompareGuid(&ST->ConfigurationTable[i].VendorGuid, &acpi20))
            rsdp = ST->ConfigurationTable[i].VendorTable;
    if (!rsdp || rsdp[15] < 2)             /* ACPI 6.5 5.2.5.3: XsdtAddress at 24 */
        return NULL;
    return (uint8_t *)(uintptr_t) * (const uint64_t *)(rsdp + 24);
}

bool tg_acpi_sum_ok(const uint8_t *p, uint32_t len)
{
    uint8_t s = 0;
    for (uint32_t i = 0; i < len; i++)
        s = (uint8_t)(s + p[i]);
    return s == 0;
}

const uint8_t *tg_acpi_table(const char *sig, bool checked)
{
    const uint8_t *xsdt = tg_acpi_xsdt();
    if (!xsdt)
        return NULL;
    uint32_t len = *(const uint32_t *)(xsdt + 4);
    for (uint32_t off = 36; off + 8 <= len; off += 8) {
        const uint8_t *t = (const uint8_t *)(uintptr_t) * (const uint64_t *)(xsdt + off);
        if (t && tg_mem_eq(t, sig, 4) &&
            (!checked || tg_acpi_sum_ok(t, *(const uint32_t *)(t + 4))))
            return t;
    }
    return NULL;
}
