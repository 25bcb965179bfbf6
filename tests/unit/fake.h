/* Fakes that stand in for the hardware, so that the monitor's exit handlers
 * run on the host: a VMCS as a table of fields (fake_vmcs.c), and MSRs, CPUID,
 * ports, the TSC, physical memory and halting (fake_hw.c). A test sets the
 * fields and registers an exit would have, calls vmx_exit_handler, and reads
 * back what the handler wrote. */
#ifndef LAMINA_TEST_FAKE_H
#define LAMINA_TEST_FAKE_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/percpu.h"

/* ---------------------------------------------------------------- the VMCS
 * Reading a field no test set and no handler wrote fails the test (a real
 * VMCS has every field, but a handler that reads what it does not need costs
 * a VMREAD on every exit; the tests name each field an exit uses). */
void fake_vmcs_reset(void);
void fake_vmcs_set(uint64_t field, uint64_t value);
uint64_t fake_vmcs_get(uint64_t field);         /* fails the test if never set */
bool fake_vmcs_has(uint64_t field);
unsigned fake_vmcs_reads(uint64_t field);       /* VMREADs of the field since the reset */
unsigned fake_vmcs_writes(uint64_t field);
unsigned fake_vmcs_total_reads(void);
unsigned fake_invept_calls(void);
unsigned fake_invvpid_calls(void);
uint64_t fake_invept_last_type(void);       /* the type operand of the last one (M6) */
uint64_t fake_invvpid_last_type(void);

/* -------------------------------------------------------------- the hardware */
#define FAKE_RAM_SIZE (8u << 20)                /* guest-physical 0 .. 8 MiB */
extern uint8_t *fake_ram;                       /* what phys_ptr() points into */

void fake_hw_reset(void);
/* MSRs: absent ones make rdmsr_safe/wrmsr_safe fail (#GP) and rdmsr/wrmsr fail the test. */
void fake_msr_set(uint32_t msr, uint64_t value);
bool fake_msr_present(uint32_t msr);
uint64_t fake_msr_get(uint32_t msr);
unsigned fake_msr_writes(uint32_t msr);
void fake_msr_refuse_writes(uint32_t msr);      /* wrmsr_safe of it fails */
void fake_cpuid_set(uint32_t leaf, uint32_t sub, uint32_t a, uint32_t b, uint32_t c, uint32_t d);
/* Ports: reads return what was set (0xff.. otherwise); the last write is kept. */
void fake_port_set(uint16_t port, uint32_t value);
unsigned fake_port_writes(uint16_t port);
uint32_t fake_port_last(uint16_t port);
extern uint64_t fake_cr2, fake_dr6, fake_dr0_3, fake_xcr0;
extern uint32_t fake_pkru;                      /* what read_pkru() returns (M6) */
extern uint64_t fake_dr[4];                     /* DR0-DR3 as read_dr() reads them */
extern unsigned fake_wbinvd_calls, fake_xsetbv_calls;

/* The serial log the monitor wrote (core/log.c on port FAKE_LOG_PORT). */
#define FAKE_LOG_PORT 0x3f8
const char *fake_log(void);
void fake_log_clear(void);

/* halt_forever(), vmx_devirt_jump() and the like land here: a test runs a
 * handler inside FAKE_EXPECT_HALT to see it stop the CPU. */
extern jmp_buf fake_halt_jmp;
extern bool fake_halt_armed;
extern unsigned fake_halts;

/* The CPU the handlers run on (this_cpu()). */
extern struct percpu *fake_this_cpu;

#endif
