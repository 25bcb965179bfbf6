/* Serial log of the monitor: a polled 16550 UART, one spinlock so lines from
 * different CPUs never interleave. Formatting uses newlib's integer-only
 * vsniprintf on a stack buffer: no FILE, no heap. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "core/arch.h"
#include "core/log.h"
#include "core/spinlock.h"

#define UART_THR 0
#define UART_LSR 5
#define LSR_THRE 0x20
#define UART_SPIN_LIMIT 100000   /* give up on a byte rather than hang on a dead port */

static uint16_t log_port;
static enum log_level log_threshold = LOG_INFO;
static struct spinlock log_lock;

static const char *const level_names[] = {
    [LOG_ERROR] = "error", [LOG_WARN] = "warn", [LOG_INFO] = "info",
    [LOG_DEBUG] = "debug", [LOG_FATAL] = "fatal",
};

void log_init(uint16_t port, enum log_level level)
{
    log_port = port;
    log_threshold = level;
}

static void uart_putc(char c)
{
    if (!log_port)
        return;
    for (int i = 0; i < UART_SPIN_LIMIT; i++) {
        if (inb(log_port + UART_LSR) & LSR_THRE) {
            outb(log_port + UART_THR, (uint8_t)c);
            return;
        }
        cpu_relax();
    }
}

static void uart_puts(const char *s)
{
    for (; *s; s++) {
        if (*s == '\n')
            uart_putc('\r');
        uart_putc(*s);
    }
}

void log_raw(const char *s)
{
    spin_lock(&log_lock);
    uart_puts(s);
    spin_unlock(&log_lock);
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    char line[256];
    int n = sniprintf(line, sizeof(line), "lamina: %s: ", level_names[level]);
    vsniprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    size_t len = strlen(line);
    line[len] = '\n';
    line[len + 1] = '\0';
    log_raw(line);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level > log_threshold && level != LOG_FATAL)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}

void log_dump_gprs(const uint64_t gpr[16])
{
    static const char *const names[16] = {
        "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
        "r8 ", "r9 ", "r10", "r11", "r12", "r13", "r14", "r15",
    };
    char line[160];
    for (int i = 0; i < 16; i += 4) {
        sniprintf(line, sizeof(line), "  %s %016lx %s %016lx %s %016lx %s %016lx\n",
                  names[i], gpr[i], names[i + 1], gpr[i + 1], names[i + 2], gpr[i + 2],
                  names[i + 3], gpr[i + 3]);
        log_raw(line);
    }
}

int log_ratelimit_pass(struct log_ratelimit *rl, uint32_t *suppressed)
{
    uint32_t n = __atomic_fetch_add(&rl->seen, 1, __ATOMIC_RELAXED);
    if (n < rl->burst) {
        *suppressed = 0;
        return 1;
    }
    if ((n - rl->burst) % 1024 == 1023) {
        *suppressed = 1023;
        return 1;
    }
    return 0;
}

void panic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(LOG_FATAL, fmt, ap);
    va_end(ap);
    halt_forever();
}
