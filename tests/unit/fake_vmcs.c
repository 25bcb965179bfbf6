/* A VMCS as a table of fields: see tests/unit/fake.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>
#include "tests/unit/fake.h"
#include "vmx/vmx.h"

#define SLOTS 256

static struct {
    uint64_t field, value;
    unsigned reads, writes;
    bool set;
} tbl[SLOTS];
static unsigned nused, total_reads, invept_n, invvpid_n;
static bool quiet;   /* reads by fake_view_check are not the handler's */

void fake_vmcs_reset(void)
{
    memset(tbl, 0, sizeof(tbl));
    nused = total_reads = invept_n = invvpid_n = 0;
}

static int slot(uint64_t field, bool create)
{
    for (unsigned i = 0; i < nused; i++)
        if (tbl[i].field == field)
            return (int)i;
    if (!create)
        return -1;
    if (nused == SLOTS)
        fail_msg("fake VMCS full");
    tbl[nused].field = field;
    return (int)nused++;
}

void fake_vmcs_set(uint64_t field, uint64_t value)
{
    int i = slot(field, true);
    tbl[i].value = value;
    tbl[i].set = true;
}

bool fake_vmcs_has(uint64_t field)
{
    int i = slot(field, false);
    return i >= 0 && tbl[i].set;
}

uint64_t fake_vmcs_get(uint64_t field)
{
    int i = slot(field, false);
    if (i < 0 || !tbl[i].set)
        fail_msg("the test reads VMCS field 0x%lx that nothing set", (unsigned long)field);
    return tbl[i].value;
}

unsigned fake_vmcs_reads(uint64_t field)
{
    int i = slot(field, false);
    return i < 0 ? 0 : tbl[i].reads;
}

unsigned fake_vmcs_writes(uint64_t field)
{
    int i = slot(field, false);
    return i < 0 ? 0 : tbl[i].writes;
}

unsigned fake_vmcs_total_reads(void) { return total_reads; }
unsigned fake_invept_calls(void) { return invept_n; }
unsigned fake_invvpid_calls(void) { return invvpid_n; }

/* As the processor takes a VMWRITE (SDM 3C 25.11.2, appendix B): the
 * exit-information fields are read-only, and a value is cut to the field's
 * width (bits 14:13 of the encoding: 16, 64, 32 bits or natural width). */
enum vmx_result vmwrite(uint64_t field, uint64_t value)
{
    if (((field >> 10) & 3) == 1)
        fail_msg("VMWRITE to the read-only VMCS field 0x%lx", (unsigned long)field);
    switch ((field >> 13) & 3) {
    case 0: value &= 0xffff; break;
    case 2: value &= 0xffffffff; break;
    default: break;
    }
    int i = slot(field, true);
    tbl[i].value = value;
    tbl[i].set = true;
    tbl[i].writes++;
    return VMX_OK;
}

enum vmx_result vmread_checked(uint64_t field, uint64_t *v)
{
    int i = slot(field, true);
    if (!quiet) {
        tbl[i].reads++;
        total_reads++;
    }
    if (!tbl[i].set) {
        *v = 0;
        return VMX_FAIL_VALID;
    }
    *v = tbl[i].value;
    return VMX_OK;
}

uint64_t vmread(uint64_t field)
{
    uint64_t v = 0;
    vmread_checked(field, &v);
    return v;
}

uint64_t vmcs_read(uint64_t field)
{
    uint64_t v;
    if (vmread_checked(field, &v) != VMX_OK)
        fail_msg("a handler read VMCS field 0x%lx, which the test did not set",
                 (unsigned long)field);
    return v;
}

void vmcs_write(uint64_t field, uint64_t value)
{
    vmwrite(field, value);
}

enum vmx_result vmxon(uint64_t pa) { (void)pa; return VMX_OK; }
enum vmx_result vmclear(uint64_t pa) { (void)pa; return VMX_OK; }
enum vmx_result vmptrld(uint64_t pa) { (void)pa; return VMX_OK; }
enum vmx_result vmxoff(void) { return VMX_OK; }

static uint64_t invept_type, invvpid_type;
uint64_t fake_invept_last_type(void) { return invept_type; }
uint64_t fake_invvpid_last_type(void) { return invvpid_type; }

enum vmx_result invept(uint64_t type, uint64_t eptp)
{
    (void)eptp;
    invept_type = type;
    invept_n++;
    return VMX_OK;
}

enum vmx_result invvpid(uint64_t type, uint16_t vpid)
{
    (void)vpid;
    invvpid_type = type;
    invvpid_n++;
    return VMX_OK;
}

uint32_t vmx_instruction_error(void) { return 0; }

void fake_view_check(struct vcpu *v)
{
    struct vcpu fresh = *v;
    fresh.gv_valid = 0;
    quiet = true;
    be_guest_load(&fresh, v->gv_valid);
    quiet = false;
    for (unsigned f = 0; f < GV_COUNT; f++)
        if ((v->gv_valid & GV(f)) && fresh.gv[f] != v->gv[f])
            fail_msg("after the exit the guest view's field %u holds 0x%lx, the VMCS 0x%lx", f,
                     (unsigned long)v->gv[f], (unsigned long)fresh.gv[f]);
}
