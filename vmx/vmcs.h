/* VMX instructions. Each reports failure the SDM way (3C 31.2): CF=1 is
 * VMfailInvalid (no current VMCS), ZF=1 is VMfailValid with the reason in the
 * VM-instruction error field. */
#ifndef LAMINA_VMCS_H
#define LAMINA_VMCS_H

#include <stdint.h>
#include "vmx/vmx_defs.h"

enum vmx_result { VMX_OK = 0, VMX_FAIL_VALID = 1, VMX_FAIL_INVALID = 2 };

#define VMX_RESULT_FROM_FLAGS(cf, zf) ((cf) ? VMX_FAIL_INVALID : (zf) ? VMX_FAIL_VALID : VMX_OK)

/* INVEPT / INVVPID types, SDM 3C 31.3 */
#define INVEPT_SINGLE_CONTEXT  1
#define INVEPT_ALL_CONTEXT     2
#define INVVPID_SINGLE_CONTEXT 1
#define INVVPID_ALL_CONTEXT    2

#ifdef LAMINA_UNIT_TEST
/* tests/unit/fake_vmcs.c: a table of fields stands in for the current VMCS. */
enum vmx_result vmwrite(uint64_t field, uint64_t value);
enum vmx_result vmread_checked(uint64_t field, uint64_t *v);
uint64_t vmread(uint64_t field);
void vmx_insn_failed(const char *insn, uint64_t operand, enum vmx_result r)
    __attribute__((noreturn));
uint64_t vmcs_read(uint64_t field);
void vmcs_write(uint64_t field, uint64_t value);
enum vmx_result vmxon(uint64_t pa);
enum vmx_result vmclear(uint64_t pa);
enum vmx_result vmptrld(uint64_t pa);
enum vmx_result vmxoff(void);
enum vmx_result invept(uint64_t type, uint64_t eptp);
enum vmx_result invvpid(uint64_t type, uint16_t vpid);
uint32_t vmx_instruction_error(void);
#else
static inline enum vmx_result vmwrite(uint64_t field, uint64_t value)
{
    uint8_t cf, zf;
    __asm__ volatile("vmwrite %[v], %[f]; setc %[cf]; setz %[zf]"
                     : [cf] "=q"(cf), [zf] "=q"(zf) : [f] "r"(field), [v] "rm"(value) : "cc", "memory");
    return VMX_RESULT_FROM_FLAGS(cf, zf);
}

static inline enum vmx_result vmread_checked(uint64_t field, uint64_t *v)
{
    uint8_t cf, zf;
    __asm__ volatile("vmread %[f], %[v]; setc %[cf]; setz %[zf]"
                     : [v] "=r"(*v), [cf] "=q"(cf), [zf] "=q"(zf) : [f] "r"(field) : "cc");
    return VMX_RESULT_FROM_FLAGS(cf, zf);
}

/* Unchecked read, for diagnostics only (dumps, the error field itself). */
static inline uint64_t vmread(uint64_t field)
{
    uint64_t v = 0;
    vmread_checked(field, &v);
    return v;
}

/* Report a failed VMX instruction with its VM-instruction error and stop
 * this CPU: the monitor cannot continue with a VMCS it cannot trust. */
void vmx_insn_failed(const char *insn, uint64_t operand, enum vmx_result r)
    __attribute__((noreturn));

/* Checked accessors for the exit paths. VMREAD and VMWRITE fail with CF or
 * ZF set (SDM 3C 31.2): one JBE after the instruction catches both, and the
 * rare failure path runs the instruction again to tell which it was. */
void vmcs_read_failed(uint64_t field) __attribute__((noreturn, cold));
void vmcs_write_failed(uint64_t field, uint64_t value) __attribute__((noreturn, cold));

static inline uint64_t vmcs_read(uint64_t field)
{
    uint64_t v;
    __asm__ goto("vmread %[f], %[v]; jbe %l[fail]"
                 : [v] "=r"(v) : [f] "r"(field) : "cc" : fail);
    return v;
fail:
    vmcs_read_failed(field);
}

static inline void vmcs_write(uint64_t field, uint64_t value)
{
    __asm__ goto("vmwrite %[v], %[f]; jbe %l[fail]"
                 :: [f] "r"(field), [v] "rm"(value) : "cc", "memory" : fail);
    return;
fail:
    vmcs_write_failed(field, value);
}

#define DEFINE_VMX_PA_OP(name, insn) \
    static inline enum vmx_result name(uint64_t pa) \
    { \
        uint8_t cf, zf; \
        __asm__ volatile(insn " %[pa]; setc %[cf]; setz %[zf]" \
                         : [cf] "=q"(cf), [zf] "=q"(zf) : [pa] "m"(pa) : "cc", "memory"); \
        return VMX_RESULT_FROM_FLAGS(cf, zf); \
    }
DEFINE_VMX_PA_OP(vmxon, "vmxon")
DEFINE_VMX_PA_OP(vmclear, "vmclear")
DEFINE_VMX_PA_OP(vmptrld, "vmptrld")

static inline enum vmx_result vmxoff(void)
{
    uint8_t cf, zf;
    __asm__ volatile("vmxoff; setc %[cf]; setz %[zf]" : [cf] "=q"(cf), [zf] "=q"(zf) :: "cc", "memory");
    return VMX_RESULT_FROM_FLAGS(cf, zf);
}

static inline enum vmx_result invept(uint64_t type, uint64_t eptp)
{
    struct { uint64_t eptp, zero; } desc = { eptp, 0 };
    uint8_t cf, zf;
    __asm__ volatile("invept %[d], %[t]; setc %[cf]; setz %[zf]"
                     : [cf] "=q"(cf), [zf] "=q"(zf) : [d] "m"(desc), [t] "r"(type) : "cc", "memory");
    return VMX_RESULT_FROM_FLAGS(cf, zf);
}

static inline enum vmx_result invvpid(uint64_t type, uint16_t vpid)
{
    struct { uint64_t vpid, addr; } desc = { vpid, 0 };
    uint8_t cf, zf;
    __asm__ volatile("invvpid %[d], %[t]; setc %[cf]; setz %[zf]"
                     : [cf] "=q"(cf), [zf] "=q"(zf) : [d] "m"(desc), [t] "r"(type) : "cc", "memory");
    return VMX_RESULT_FROM_FLAGS(cf, zf);
}

/* The VM-instruction error of the current VMCS, for messages (SDM 3C 31.4). */
static inline uint32_t vmx_instruction_error(void)
{
    return (uint32_t)vmread(VM_INSTRUCTION_ERROR);
}

#endif

const char *vmx_error_name(uint32_t err);

#endif
