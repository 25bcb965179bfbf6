/* The monitor's log: lines "lamina: <level>: <text>" on the serial port chosen in
 * lamina.conf. Safe on any CPU at any time after setup; never allocates. */
#ifndef LAMINA_LOG_H
#define LAMINA_LOG_H

#include <stdint.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3, LOG_FATAL = 4 };

void log_init(uint16_t port, enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print raw text (no prefix): for multi-line dumps, already holding no lock. */
void log_raw(const char *s);

/* Rate limiting for events a guest can trigger at will: the first `burst` messages pass,
 * then one in every 1024, and the number suppressed is reported with the next one. */
struct log_ratelimit {
    uint32_t seen;
    uint32_t burst;
};
int log_ratelimit_pass(struct log_ratelimit *rl, uint32_t *suppressed);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* Dump the 16 general-purpose registers, in the architectural order (rax,
 * rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8-r15), four to a line. */
void log_dump_gprs(const uint64_t gpr[16]);

/* Print a fatal message and stop this CPU (interrupts off, hlt loop). */
void panic(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#endif
