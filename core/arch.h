/* x86 instruction wrappers for the monitor, each one instruction. These are the
 * monitor's seam to the hardware: built with LAMINA_UNIT_TEST, the ones an exit
 * handler reaches (MSRs, CPUID, ports, control and debug registers, the TSC,
 * physical memory, halting) are plain functions that tests/unit/fake_hw.c
 * implements, so the handlers run on the host. */
#ifndef LAMINA_ARCH_H
#define LAMINA_ARCH_H

#include <stdint.h>
#include <stdbool.h>

#define MSR_IA32_APIC_BASE         0x01b
#define MSR_IA32_FEATURE_CONTROL   0x03a
#define MSR_IA32_BIOS_UPDT_TRIG    0x079
#define MSR_IA32_BIOS_SIGN_ID      0x08b
#define MSR_IA32_SYSENTER_CS       0x174
#define MSR_IA32_SYSENTER_ESP      0x175
#define MSR_IA32_SYSENTER_EIP      0x176
#define MSR_IA32_DEBUGCTL          0x1d9
#define DEBUGCTL_BTF               (1ull << 1)
#define MSR_IA32_MISC_ENABLE       0x1a0
#define MISC_ENABLE_XD_DISABLE     (1ull << 34)
#define MSR_IA32_PAT               0x277
#define MSR_IA32_PERF_GLOBAL_CTRL  0x38f   /* architectural perfmon v2+ (CPUID.0AH) */
#define MSR_IA32_PEBS_ENABLE       0x3f1
#define MSR_IA32_DS_AREA           0x600
#define MSR_IA32_RTIT_CTL          0x570   /* Intel PT control: hidden from the guest */
#define MSR_X2APIC_ICR             0x830
#define MSR_IA32_XSS               0xda0   /* supervisor state components of XSAVES */
#define MSR_EFER                   0xc0000080
#define MSR_FS_BASE                0xc0000100
#define MSR_GS_BASE                0xc0000101

#define FEATURE_CONTROL_LOCKED        (1ull << 0)
#define FEATURE_CONTROL_VMX_IN_SMX    (1ull << 1)
#define FEATURE_CONTROL_VMX_OUT_SMX   (1ull << 2)

#define APIC_BASE_EXTD  (1ull << 10)
#define APIC_BASE_EN    (1ull << 11)

#define EFER_LME   (1ull << 8)
#define EFER_LMA   (1ull << 10)

#define CR0_PE  (1ull << 0)
#define CR0_NE  (1ull << 5)
#define CR0_NW  (1ull << 29)
#define CR0_CD  (1ull << 30)
#define CR0_PG  (1ull << 31)
#define CR4_PSE     (1ull << 4)
#define CR4_DE      (1ull << 3)
#define CR4_PAE     (1ull << 5)
#define CR4_PGE     (1ull << 7)
#define CR4_SMEP    (1ull << 20)
#define CR4_VMXE    (1ull << 13)
#define CR4_OSXSAVE (1ull << 18)
#define CR4_PKE     (1ull << 22)
#define CR4_PKS     (1ull << 24)
#define MSR_IA32_PKRS 0x6e1

#define RFLAGS_TF  (1ull << 8)
#define RFLAGS_IF  (1ull << 9)
#define RFLAGS_RF  (1ull << 16)

/* Exception vectors (SDM 3A table 7-1). */
#define VECTOR_DB 1
#define VECTOR_UD 6
#define VECTOR_GP 13

#define PAT_DEFAULT 0x0007040600070406ull

#ifdef LAMINA_UNIT_TEST
uint64_t rdmsr(uint32_t msr);
void wrmsr(uint32_t msr, uint64_t v);
void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4]);
uint64_t read_cr0(void);
uint64_t read_cr2(void);
uint64_t read_cr3(void);
uint64_t read_cr4(void);
void write_cr0(uint64_t v);
void write_cr2(uint64_t v);
void write_cr3(uint64_t v);
void write_cr4(uint64_t v);
uint64_t read_dr7(void);
uint64_t read_rflags(void);
void write_rflags(uint64_t v);
uint64_t rdtsc(void);
void outb(uint16_t port, uint8_t v);
uint8_t inb(uint16_t port);
void outw(uint16_t port, uint16_t v);
uint16_t inw(uint16_t port);
void outl(uint16_t port, uint32_t v);
uint32_t inl(uint16_t port);
void wbinvd(void);
void xsetbv(uint32_t xcr, uint64_t v);
uint64_t read_dr6(void);
void write_dr6(uint64_t v);
void write_dr0_3(uint64_t v);
uint64_t read_dr(unsigned n);
void *phys_ptr(uint64_t pa);
void halt_forever(void) __attribute__((noreturn));
uint32_t read_pkru(void);
#else
static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" :: "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

#define DEFINE_CR_ACCESSORS(n) \
    static inline uint64_t read_cr##n(void) \
    { uint64_t v; __asm__ volatile("mov %%cr" #n ", %0" : "=r"(v)); return v; } \
    static inline void write_cr##n(uint64_t v) \
    { __asm__ volatile("mov %0, %%cr" #n :: "r"(v) : "memory"); }
DEFINE_CR_ACCESSORS(0)
DEFINE_CR_ACCESSORS(2)
DEFINE_CR_ACCESSORS(3)
DEFINE_CR_ACCESSORS(4)

static inline uint64_t read_dr7(void)
{
    uint64_t v;
    __asm__ volatile("mov %%dr7, %0" : "=r"(v));
    return v;
}

static inline uint64_t read_rflags(void)
{
    uint64_t v;
    __asm__ volatile("pushfq; popq %0" : "=r"(v));
    return v;
}

static inline void write_rflags(uint64_t v)
{
    __asm__ volatile("pushq %0; popfq" :: "r"(v) : "memory", "cc");
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline __attribute__((noreturn)) void halt_forever(void)
{
    for (;;)
        __asm__ volatile("cli; hlt" ::: "memory");
}


static inline void wbinvd(void) { __asm__ volatile("wbinvd" ::: "memory"); }

static inline void xsetbv(uint32_t xcr, uint64_t v)
{
    __asm__ volatile("xsetbv" :: "c"(xcr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline uint64_t read_dr6(void)
{
    uint64_t v;
    __asm__ volatile("mov %%dr6, %0" : "=r"(v));
    return v;
}

static inline void write_dr6(uint64_t v) { __asm__ volatile("mov %0, %%dr6" :: "r"(v)); }

/* DR0-DR3 (n 0-3): the guest's, which the monitor never changes. */
static inline uint64_t read_dr(unsigned n)
{
    uint64_t v = 0;
    switch (n) {
    case 0: __asm__ volatile("mov %%dr0, %0" : "=r"(v)); break;
    case 1: __asm__ volatile("mov %%dr1, %0" : "=r"(v)); break;
    case 2: __asm__ volatile("mov %%dr2, %0" : "=r"(v)); break;
    case 3: __asm__ volatile("mov %%dr3, %0" : "=r"(v)); break;
    }
    return v;
}

/* DR0-DR3 all set to v (the INIT state clears them). */
static inline void write_dr0_3(uint64_t v)
{
    __asm__ volatile("mov %0, %%dr0; mov %0, %%dr1; mov %0, %%dr2; mov %0, %%dr3" :: "r"(v));
}

/* The monitor's identity map: physical address pa is at virtual address pa. */
static inline void *phys_ptr(uint64_t pa) { return (void *)(uintptr_t)pa; }

/* The guest's PKRU, live in the processor (the monitor does not switch it).
 * RDPKRU needs CR4.PKE in VMX root too: set for the read only. Called only
 * when the guest has CR4.PKE, so the processor has PKU (SDM 3A 2.5). */
static inline uint32_t read_pkru(void)
{
    uint64_t cr4 = read_cr4();
    uint32_t eax, edx;
    if (!(cr4 & CR4_PKE))
        write_cr4(cr4 | CR4_PKE);
    __asm__ volatile("rdpkru" : "=a"(eax), "=d"(edx) : "c"(0));
    if (!(cr4 & CR4_PKE))
        write_cr4(cr4);
    return eax;
}
#endif

struct __attribute__((packed)) dtr {
    uint16_t limit;
    uint64_t base;
};

static inline void sgdt(struct dtr *d) { __asm__ volatile("sgdt %0" : "=m"(*d)); }
static inline void sidt(struct dtr *d) { __asm__ volatile("sidt %0" : "=m"(*d)); }
static inline void lgdt(const struct dtr *d) { __asm__ volatile("lgdt %0" :: "m"(*d)); }
static inline void lidt(const struct dtr *d) { __asm__ volatile("lidt %0" :: "m"(*d)); }

#define DEFINE_SEG_READER(s) \
    static inline uint16_t read_##s(void) \
    { uint16_t v; __asm__ volatile("mov %%" #s ", %0" : "=r"(v)); return v; }
DEFINE_SEG_READER(cs)
DEFINE_SEG_READER(ss)
DEFINE_SEG_READER(ds)
DEFINE_SEG_READER(es)
DEFINE_SEG_READER(fs)
DEFINE_SEG_READER(gs)

static inline uint16_t read_tr(void) { uint16_t v; __asm__ volatile("str %0" : "=r"(v)); return v; }
static inline uint16_t read_ldtr(void) { uint16_t v; __asm__ volatile("sldt %0" : "=r"(v)); return v; }

static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }

/* Fault-tolerant MSR access (core/fixup.S): 0 on success, -1 if the instruction raised #GP. */
int rdmsr_safe(uint32_t msr, uint64_t *v);
int wrmsr_safe(uint32_t msr, uint64_t v);

#endif
