/* The public hypercalls (core/lamina_hypercall.h): argument checking and
 * dispatch. Pure: guest memory is reached through the gwalk_ctx's read
 * callback and env->write_phys, so the checker and the dispatcher run in the
 * host unit tests and the fuzzer as they run in VMX root (core/vcpu.c).
 * Nothing here allocates; the largest object is struct hc_buf on the stack. */
#ifndef LAMINA_HYPERCALL_IMPL_H
#define LAMINA_HYPERCALL_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/bootinfo.h"
#include "core/gwalk.h"
#include "core/lamina_hypercall.h"
#include "core/percpu.h"
#include "core/policy.h"

#define HC_PAGE        4096ull
#define HC_MAX_PAGES   (LAMINA_HC_BUF_MAX / HC_PAGE + 1)    /* an unaligned maximal buffer */

/* Where a hypercall buffer may be: guest-physical memory as the monitor sees it. */
struct hc_mem {
    const struct lamina_memrange *map;  /* the firmware memory map (bootinfo) */
    uint32_t nmap;
    uint64_t mon_base[2], mon_size[2];  /* monitor image and data: never */
    uint64_t phys_limit;                /* the monitor's identity map ends here */
    uint64_t apic_page;                 /* the xAPIC MMIO page: never */
};

/* A checked buffer: the guest-physical page behind each of its pages,
 * translated once (a guest changing its page tables on another CPU meanwhile
 * only changes which checked page the data lands in: never an unchecked one). */
struct hc_buf {
    uint64_t la, len;
    uint32_t npages;
    uint64_t gpa[HC_MAX_PAGES];         /* page-aligned */
};

/* Whether the 4 KiB guest-physical page at `page` may receive hypercall data. */
bool hc_ram_page(const struct hc_mem *m, uint64_t page);

/* Check the guest buffer [la, la+len) for a write by a caller at `cpl`:
 *   len 0, len > LAMINA_HC_BUF_MAX or len < min_len          -> LAMINA_E_RANGE
 *   la+len wraps (64 bits, or 32 with addr32), non-canonical  -> LAMINA_E_FAULT
 *   a page the caller could not write (not present, read-only, supervisor page
 *   at CPL 3, SMAP, reserved bits: exactly gwalk's #PF), a paging structure
 *   the monitor will not read, or a page hc_ram_page refuses  -> LAMINA_E_FAULT
 * LAMINA_OK fills *out; nothing is written to guest memory either way. */
long hc_check_buffer(const struct gwalk_ctx *walk, unsigned cpl, bool addr32,
                     const struct hc_mem *mem, uint64_t la, uint64_t len, uint64_t min_len,
                     struct hc_buf *out);

typedef void (*hc_write_fn)(void *opaque, uint64_t gpa, const void *src, size_t n);

/* Copy n bytes to offset off of a checked buffer, page by page (off + n <= len). */
void hc_buf_write(const struct hc_buf *b, uint64_t off, const void *src, size_t n,
                  hc_write_fn write_phys, void *opaque);

struct hc_env {
    const struct gwalk_ctx *walk;   /* the caller's paging (from its VMCS) */
    unsigned cpl;
    bool addr32;                    /* caller not in 64-bit mode: 32-bit arguments */
    const struct hc_mem *mem;
    const struct lamina_policy *policy;
    uint32_t ncpus;
    const struct percpu *cpus;      /* exit counts for LAMINA_HC_STATS */
    hc_write_fn write_phys;
    void *opaque;
};

/* The registers a hypercall reads and writes (RAX function in, status out). */
struct hc_regs {
    uint64_t rax, rdi, rsi, rdx;
};

/* Run the hypercall in *r (RBX was LAMINA_HC_MAGIC); results per the ABI. */
void hypercall_dispatch(const struct hc_env *env, struct hc_regs *r);

#endif
