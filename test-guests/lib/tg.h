/* tg: the small library shared by Lamina's test guests (GNU-EFI programs).
 *
 * Output:  every line goes to the UEFI console (BSP only) and to COM1 (0x3f8),
 *          so the system tests can read the serial log. APs may print too:
 *          their lines go to COM1 only (UEFI services are BSP-only).
 * Checks:  one line per check, "<prog>: PASS <name>", "<prog>: FAIL <name> <detail>",
 *          "<prog>: SKIP <name> <why>", then tg_summary() prints "<prog>: done"
 *          and "N passed, N failed" alone on a line (the CI reads it).
 * Faults:  tg_try() runs a function that may raise #DE, #UD, #SS, #GP, #PF or #AC
 *          and reports the vector instead of crashing. It works on any CPU
 *          (BSP or an AP inside an MP-services procedure) without set-up.
 *
 * Call tg_init() first, on the BSP.
 */
#ifndef TG_H
#define TG_H

#include <efi.h>
#include <efilib.h>
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

#define TG_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ------------------------------------------------------------------ output */

/* Initialise the library: gnu-efi's InitializeLib, COM1 (only if it does not
 * already look like 8N1), the BSP's identity; prints "<name>: start". */
void tg_init(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab, const char *name);

/* printf-like output of exactly what fmt gives ("\n" ends a line; it is sent
 * as CR LF). Formats: %s %d %i %u %x %X %c %p %%, flags '-' '0', a width,
 * length modifiers l, ll, z. Output longer than 511 bytes is cut. Not for TPL
 * above TPL_NOTIFY on the BSP (ConOut). */
void tg_print(const char *fmt, ...) TG_PRINTF(1, 2);
/* "<prog>: <text>\n" */
void tg_note(const char *fmt, ...) TG_PRINTF(1, 2);
/* The formatter on its own: always NUL-terminates (size > 0); returns the
 * length it wrote (without the NUL). */
int tg_vsnprintf(char *buf, size_t size, const char *fmt, __builtin_va_list ap);
int tg_snprintf(char *buf, size_t size, const char *fmt, ...) TG_PRINTF(3, 4);

/* Where output goes (default both). */
#define TG_OUT_CONSOLE 1u
#define TG_OUT_SERIAL  2u
void tg_set_output(unsigned int mask);

/* ------------------------------------------------------------------ checks */

void tg_pass(const char *name);
void tg_passf(const char *name, const char *fmt, ...) TG_PRINTF(2, 3);
void tg_fail(const char *name, const char *fmt, ...) TG_PRINTF(2, 3);
void tg_skip(const char *name, const char *fmt, ...) TG_PRINTF(2, 3);
/* The words tg_pass/tg_passf and tg_fail print (default "PASS", "FAIL"):
 * hostile.efi reports "BLOCKED" and "ESCAPED". */
void tg_set_words(const char *pass, const char *fail);
unsigned int tg_passed(void);
unsigned int tg_failed(void);
/* Prints "<prog>: done" and then "N passed, N failed"; returns the failures. */
unsigned int tg_summary(void);

/* --------------------------------------------------------------- faults */

#define TG_VEC_DE  0
#define TG_VEC_UD  6
#define TG_VEC_SS 12
#define TG_VEC_GP 13
#define TG_VEC_PF 14
#define TG_VEC_AC 17

struct tg_fault {
    int      vector;        /* -1: fn returned normally */
    uint32_t pad;
    uint64_t error_code;    /* 0 for vectors without one */
    uint64_t rip;           /* the faulting instruction */
    uint64_t cr2;           /* CR2 when the fault was taken (meaningful for #PF) */
    uint64_t rcx, rsi, rdi; /* at the fault: what a REP string instruction had left */
};

/* Run fn(arg) with a private IDT loaded on this CPU: a copy of the IDT this
 * CPU has now, with the fault vectors above pointing at tg's stubs. If fn
 * raises one of them, fn is abandoned and tg_try returns the vector; otherwise
 * it returns -1. The previous IDT is loaded again before returning. Interrupts
 * keep going to the firmware's handlers, and the interrupt flag is left as it
 * is. A fault outside an armed tg_try (or a nested interrupt handler faulting)
 * goes on to the firmware's own handler. out may be NULL. Nesting works.
 * Uses about 4.2 KiB of stack (the IDT copy lives on the caller's stack). */
int tg_try(void (*fn)(void *), void *arg, struct tg_fault *out);

/* Whether the n bytes at a and b are equal. */
bool tg_mem_eq(const void *a, const void *b, size_t n);

/* Name of a vector: "#UD", "#GP", ..., or "none" for -1. */
const char *tg_vector_name(int vector);

/* ---------------------------------------------------------- instructions */

struct tg_cpuid { uint32_t eax, ebx, ecx, edx; };

static inline struct tg_cpuid tg_cpuid(uint32_t leaf, uint32_t subleaf)
{
    struct tg_cpuid r;
    __asm__ volatile("cpuid"
                     : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
                     : "a"(leaf), "c"(subleaf));
    return r;
}

static inline uint64_t tg_rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

static inline void tg_wrmsr(uint32_t msr, uint64_t value)
{
    __asm__ volatile("wrmsr"
                     :
                     : "c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32))
                     : "memory");
}

static inline uint64_t tg_xgetbv(uint32_t xcr)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(xcr));
    return ((uint64_t)hi << 32) | lo;
}

static inline void tg_xsetbv(uint32_t xcr, uint64_t value)
{
    __asm__ volatile("xsetbv"
                     :
                     : "c"(xcr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32))
                     : "memory");
}

/* VMXON takes a memory operand holding the physical address of a 4 KiB
 * aligned VMXON region (SDM 3C, "VMXON Region" and the VMXON reference page). */
static inline void tg_vmxon(uint64_t region_pa)
{
    __asm__ volatile("vmxon %0" : : "m"(region_pa) : "cc", "memory");
}

/* VMCALL with RAX, RBX, RCX, RDX as given; returns RAX afterwards. */
static inline uint64_t tg_vmcall(uint64_t rax, uint64_t rbx, uint64_t rcx, uint64_t rdx)
{
    __asm__ volatile("vmcall"
                     : "+a"(rax), "+b"(rbx), "+c"(rcx), "+d"(rdx)
                     :
                     : "memory", "cc");
    return rax;
}

/* A Lamina hypercall (core/lamina_hypercall.h): RAX function, RBX magic,
 * RDI/RSI/RDX arguments in, status and results out in the same registers. */
struct tg_hc { uint64_t rax, rdi, rsi, rdx; };
static inline struct tg_hc tg_hypercall(uint64_t fn, uint64_t magic, uint64_t a1, uint64_t a2,
                                        uint64_t a3)
{
    struct tg_hc r = { fn, a1, a2, a3 };
    __asm__ volatile("vmcall"
                     : "+a"(r.rax), "+D"(r.rdi), "+S"(r.rsi), "+d"(r.rdx), "+b"(magic)
                     :
                     : "rcx", "memory", "cc");
    return r;
}

static inline uint64_t tg_read_cr0(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr0, %0" : "=r"(v));
    return v;
}

static inline uint64_t tg_read_cr4(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr4, %0" : "=r"(v));
    return v;
}

static inline void tg_write_cr4(uint64_t v)
{
    __asm__ volatile("mov %0, %%cr4" : : "r"(v) : "memory");
}

static inline uint8_t tg_inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline void tg_outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint16_t tg_inw(uint16_t port)
{
    uint16_t v;
    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint32_t tg_inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

/* Initial APIC ID of this CPU (CPUID.1:EBX[31:24]). */
static inline uint32_t tg_apic_id(void)
{
    return tg_cpuid(1, 0).ebx >> 24;
}

/* True on the CPU that called tg_init. */
bool tg_is_bsp(void);

/* The same instructions run under tg_try: each returns the vector raised or -1. */
int tg_try_rdmsr(uint32_t msr, uint64_t *value, struct tg_fault *out);
int tg_try_wrmsr(uint32_t msr, uint64_t value, struct tg_fault *out);
int tg_try_xgetbv(uint32_t xcr, uint64_t *value, struct tg_fault *out);
int tg_try_xsetbv(uint32_t xcr, uint64_t value, struct tg_fault *out);
/* VMXON on tg's own zeroed, 4 KiB aligned region (tg_vmxon_region()). */
int tg_try_vmxon(struct tg_fault *out);
/* VMCALL; *rax_out (may be NULL) gets RAX if it returns. */
int tg_try_vmcall(uint64_t rax, uint64_t rbx, uint64_t rcx, uint64_t rdx,
                  uint64_t *rax_out, struct tg_fault *out);
/* Copy len bytes from/to a physical (= identity-mapped) address, 8 bytes at a
 * time where aligned. On a fault the copy stops part-way. */
int tg_try_read(uint64_t addr, void *buf, size_t len, struct tg_fault *out);
int tg_try_write(uint64_t addr, const void *buf, size_t len, struct tg_fault *out);

/* Physical address of a zeroed, 4 KiB aligned page for VMXON. */
uint64_t tg_vmxon_region(void);

/* ------------------------------------------------------------- CPL 3 */

/* What tg_user_call runs at CPL 3 and what it saw. */
struct tg_user_ctx {
    uint64_t rip, rsp;          /* in: user code and stack (user-accessible pages) */
    uint64_t cs, ss;            /* set by tg_user_call */
    uint64_t rax, rbx, rcx, rdx, rsi, rdi;  /* in: loaded at CPL 3; out: at the return */
    uint64_t vector;            /* out: -1 back through int $0xf0, else the exception */
    uint64_t error, fault_rip, cr2;
    uint64_t krsp, kss;         /* private */
};

/* Run user code at CPL 3 (BSP only, interrupts held off meanwhile). The code
 * returns with `int $0xf0`; any exception also comes back. Returns -1 or the
 * exception vector (also in c->vector), or -2 if the GDT is too big to copy.
 * The caller maps c->rip and c->rsp user-accessible in the current page
 * tables (firmware maps everything supervisor-only). Uses a private GDT (the
 * firmware's plus user code/data and a TSS), a private IDT and TSS.RSP0. */
int tg_user_call(struct tg_user_ctx *c);

/* User code for tg_user_call: VMCALL, then int $0xf0. */
extern const char tg_user_vmcall[], tg_user_vmcall_end[];

/* ------------------------------------------------------- UEFI helpers */

/* Whether the LoadOptions the image was started with contain `word`. */
bool tg_option_given(EFI_HANDLE image, const CHAR16 *word);

struct tg_region {
    uint64_t base;
    uint64_t pages;
};

/* EfiReservedMemoryType ranges that start below the end of RAM, clipped to
 * it (the monitor's pages are among them). Returns the count (at most max),
 * or -1 if the memory map could not be read; *ram_end_out gets the end of RAM. */
int tg_reserved_regions(struct tg_region *out, int max, uint64_t *ram_end_out);

/* ---------------------------------------------------------------- ACPI */

/* The XSDT the firmware's ACPI 2.0+ RSDP points at, or NULL (no RSDP of
 * revision 2 or later). Writable: a test may edit it. */
uint8_t *tg_acpi_xsdt(void);
/* Whether the len bytes at p add up to 0 modulo 256 (an ACPI checksum). */
bool tg_acpi_sum_ok(const uint8_t *p, uint32_t len);
/* The first table in the XSDT with signature sig (4 bytes) and, if checked,
 * a zero checksum over its length; NULL if none. */
const uint8_t *tg_acpi_table(const char *sig, bool checked);

/* ----------------------------------------------------- EFI MP services */

/* PI spec 1.7 vol. 2, 13.4: EFI_MP_SERVICES_PROTOCOL (gnu-efi lacks it). */
#define TG_MP_SERVICES_GUID \
    { 0x3fdda605, 0xa76e, 0x4f46, { 0xad, 0x29, 0x12, 0xf4, 0x53, 0x1b, 0x3d, 0x08 } }

typedef VOID (EFIAPI *TG_AP_PROCEDURE)(VOID *arg);

typedef struct {
    UINT32 Package, Core, Thread;
} TG_CPU_PHYSICAL_LOCATION;

/* Large enough for the PI 1.7 extended form too. */
typedef struct {
    UINT64 ProcessorId;
    UINT32 StatusFlag;          /* bit 0 BSP, bit 1 enabled, bit 2 healthy */
    TG_CPU_PHYSICAL_LOCATION Location;
    UINT32 ExtendedInformation[6];
} TG_PROCESSOR_INFORMATION;

typedef struct _TG_MP_SERVICES TG_MP_SERVICES;
struct _TG_MP_SERVICES {
    EFI_STATUS (EFIAPI *GetNumberOfProcessors)(TG_MP_SERVICES *self, UINTN *count,
                                               UINTN *enabled);
    EFI_STATUS (EFIAPI *GetProcessorInfo)(TG_MP_SERVICES *self, UINTN cpu,
                                          TG_PROCESSOR_INFORMATION *info);
    EFI_STATUS (EFIAPI *StartupAllAPs)(TG_MP_SERVICES *self, TG_AP_PROCEDURE proc,
                                       BOOLEAN single_thread, EFI_EVENT wait_event,
                                       UINTN timeout_us, VOID *arg, UINTN **failed_cpus);
    EFI_STATUS (EFIAPI *StartupThisAP)(TG_MP_SERVICES *self, TG_AP_PROCEDURE proc,
                                       UINTN cpu, EFI_EVENT wait_event, UINTN timeout_us,
                                       VOID *arg, BOOLEAN *finished);
    EFI_STATUS (EFIAPI *SwitchBSP)(TG_MP_SERVICES *self, UINTN cpu, BOOLEAN enable_old);
    EFI_STATUS (EFIAPI *EnableDisableAP)(TG_MP_SERVICES *self, UINTN cpu, BOOLEAN enable,
                                         UINT32 *health);
    EFI_STATUS (EFIAPI *WhoAmI)(TG_MP_SERVICES *self, UINTN *cpu);
};

/* The MP services protocol, or NULL if the firmware has none. */
TG_MP_SERVICES *tg_mp_services(void);

#endif
