/* Guest state after INIT and SIPI: see vmx/init_state.h. */
#include <stddef.h>
#include "vmx/init_state.h"
#include "vmx/vmx_defs.h"

/* SDM 3A 9.1.1 table 9-1, column "INIT" */
#define INIT_CR0                0x60000010ull   /* CD, NW, ET */
#define INIT_RIP                0xfff0ull
#define INIT_RFLAGS             0x2ull          /* bit 1 is reserved, always 1 */
#define INIT_CS_SELECTOR        0xf000ull
#define INIT_CS_BASE            0xffff0000ull
#define INIT_SEG_LIMIT          0xffffull
#define INIT_DTR_LIMIT          0xffffull
#define INIT_DR6                0xffff0ff0ull
#define INIT_DR7                0x400ull

/* Access rights in the VMCS format (SDM 3C 25.4.1): present, DPL 0, byte granular,
 * 16-bit (D/B = 0), as real mode needs. */
#define AR_CODE  (SEG_TYPE_CODE_XR_ACCESSED | VMX_AR_S | VMX_AR_P)  /* 0x9b */
#define AR_DATA  (SEG_TYPE_DATA_RW_ACCESSED | VMX_AR_S | VMX_AR_P)  /* 0x93 */
#define AR_LDT   (SEG_TYPE_LDT | VMX_AR_P)                          /* 0x82 */
#define AR_TSS   (SEG_TYPE_TSS_BUSY | VMX_AR_P)                     /* 0x8b */

static void put(struct init_state *s, uint32_t field, uint64_t value)
{
    for (unsigned i = 0; i < s->nvmcs; i++) {
        if (s->vmcs[i].field == field) {
            s->vmcs[i].value = value;
            return;
        }
    }
    if (s->nvmcs < INIT_STATE_MAX_FIELDS) {
        s->vmcs[s->nvmcs].field = field;
        s->vmcs[s->nvmcs].value = value;
        s->nvmcs++;
    }
}

static void put_seg(struct init_state *s, uint32_t sel_field, uint32_t limit_field,
                    uint32_t ar_field, uint32_t base_field,
                    uint64_t sel, uint64_t base, uint64_t limit, uint64_t ar)
{
    put(s, sel_field, sel);
    put(s, base_field, base);
    put(s, limit_field, limit);
    put(s, ar_field, ar);
}

int init_state_build(struct init_state *s, const struct vmx_caps *caps,
                     uint32_t cpu_signature, bool wait_for_sipi)
{
    /* SDM 3C 27.3.1.5: the activity state must be one the processor supports. */
    if (wait_for_sipi && !vmx_wait_for_sipi(caps))
        return -1;

    *s = (struct init_state){ 0 };

    put_seg(s, GUEST_CS_SELECTOR, GUEST_CS_LIMIT, GUEST_CS_AR_BYTES, GUEST_CS_BASE,
            INIT_CS_SELECTOR, INIT_CS_BASE, INIT_SEG_LIMIT, AR_CODE);
    put_seg(s, GUEST_SS_SELECTOR, GUEST_SS_LIMIT, GUEST_SS_AR_BYTES, GUEST_SS_BASE,
            0, 0, INIT_SEG_LIMIT, AR_DATA);
    put_seg(s, GUEST_DS_SELECTOR, GUEST_DS_LIMIT, GUEST_DS_AR_BYTES, GUEST_DS_BASE,
            0, 0, INIT_SEG_LIMIT, AR_DATA);
    put_seg(s, GUEST_ES_SELECTOR, GUEST_ES_LIMIT, GUEST_ES_AR_BYTES, GUEST_ES_BASE,
            0, 0, INIT_SEG_LIMIT, AR_DATA);
    put_seg(s, GUEST_FS_SELECTOR, GUEST_FS_LIMIT, GUEST_FS_AR_BYTES, GUEST_FS_BASE,
            0, 0, INIT_SEG_LIMIT, AR_DATA);
    put_seg(s, GUEST_GS_SELECTOR, GUEST_GS_LIMIT, GUEST_GS_AR_BYTES, GUEST_GS_BASE,
            0, 0, INIT_SEG_LIMIT, AR_DATA);
    /* Table 9-1 gives LDTR and TR "present, R/W" with limit FFFFH. VM entry wants a
     * usable LDTR to be an LDT and TR to be a busy TSS (SDM 3C 27.3.1.2). */
    put_seg(s, GUEST_LDTR_SELECTOR, GUEST_LDTR_LIMIT, GUEST_LDTR_AR_BYTES, GUEST_LDTR_BASE,
            0, 0, INIT_SEG_LIMIT, AR_LDT);
    put_seg(s, GUEST_TR_SELECTOR, GUEST_TR_LIMIT, GUEST_TR_AR_BYTES, GUEST_TR_BASE,
            0, 0, INIT_SEG_LIMIT, AR_TSS);

    put(s, GUEST_GDTR_BASE, 0);
    put(s, GUEST_GDTR_LIMIT, INIT_DTR_LIMIT);
    put(s, GUEST_IDTR_BASE, 0);
    put(s, GUEST_IDTR_LIMIT, INIT_DTR_LIMIT);

    /* The guest sees the INIT values through the read shadows; the real registers
     * keep what VMX operation forces (SDM 3C A.7, A.8), PE/PG exempt (unrestricted). */
    put(s, CR0_READ_SHADOW, INIT_CR0);
    put(s, GUEST_CR0, vmx_fix_cr0(caps, INIT_CR0, true));
    put(s, CR4_READ_SHADOW, 0);
    put(s, GUEST_CR4, vmx_fix_cr4(caps, 0));
    put(s, GUEST_CR3, 0);
    put(s, GUEST_DR7, INIT_DR7);

    put(s, GUEST_RIP, INIT_RIP);
    put(s, GUEST_RSP, 0);
    put(s, GUEST_RFLAGS, INIT_RFLAGS);
    put(s, GUEST_IA32_EFER, 0);

    put(s, GUEST_INTERRUPTIBILITY_INFO, 0);
    put(s, GUEST_PENDING_DBG_EXCEPTIONS, 0);
    put(s, GUEST_ACTIVITY_STATE, wait_for_sipi ? GUEST_ACTIVITY_WAIT_SIPI : GUEST_ACTIVITY_ACTIVE);

    s->gpr[GPR_RDX] = cpu_signature;
    s->dr6 = INIT_DR6;
    return 0;
}

unsigned init_sipi_fields(uint8_t vector, struct vmcs_field_value out[INIT_SIPI_FIELDS])
{
    /* The SIPI vector VV starts the processor in real mode at 000VV000H, i.e.
     * CS = VV00H with base VV000H and IP = 0 (SDM 3A 8.4.3, 10.6.1). */
    out[0] = (struct vmcs_field_value){ GUEST_CS_SELECTOR, (uint64_t)vector << 8 };
    out[1] = (struct vmcs_field_value){ GUEST_CS_BASE, (uint64_t)vector << 12 };
    out[2] = (struct vmcs_field_value){ GUEST_RIP, 0 };
    out[3] = (struct vmcs_field_value){ GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_ACTIVE };
    return INIT_SIPI_FIELDS;
}

void init_state_apply_sipi(struct init_state *s, uint8_t vector)
{
    struct vmcs_field_value f[INIT_SIPI_FIELDS];
    unsigned n = init_sipi_fields(vector, f);

    for (unsigned i = 0; i < n; i++)
        put(s, f[i].field, f[i].value);
}

bool init_state_get(const struct init_state *s, uint32_t field, uint64_t *value)
{
    for (unsigned i = 0; i < s->nvmcs; i++) {
        if (s->vmcs[i].field == field) {
            *value = s->vmcs[i].value;
            return true;
        }
    }
    return false;
}
