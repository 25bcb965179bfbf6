/* vmx/init_state.c: the INIT/SIPI guest state, checked value by value against SDM 3A
 * table 9-1 and against the VM-entry guest-state checks (SDM 3C 27.3.1) that apply to
 * an unrestricted guest that is not in IA-32e mode. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vmx/caps.h"
#include "vmx/init_state.h"
#include "vmx/vmx_defs.h"

/* Real Core i7-7800X capabilities (see test_vmx_caps.c). */
static const struct vmx_caps skx = {
    .basic = 0x00da040000000004ull,
    .pin = 0x000000ff00000016ull,
    .proc = 0xfff9fffe0401e172ull,
    .exit = 0x01ffffff00036dffull,
    .entry = 0x0003ffff000011ffull,
    .true_pin = 0x000000ff00000016ull,
    .true_proc = 0xfff9fffe04006172ull,
    .true_exit = 0x01ffffff00036dfbull,
    .true_entry = 0x0003ffff000011fbull,
    .misc = 0x000000007004c1e7ull,
    .cr0_fixed0 = 0x80000021ull,
    .cr0_fixed1 = 0xffffffffull,
    .cr4_fixed0 = 0x00002000ull,
    .cr4_fixed1 = 0x003727ffull,
    .proc2 = 0x025d3fff00000000ull,
    .ept_vpid = 0x00000f0106734141ull,
};

#define SIGNATURE 0x00050654u      /* Skylake-X CPUID.1:EAX */

/* ------------------------------------------------ SDM 3C 27.3.1 as a checker */

struct seg {
    uint64_t sel, base, limit, ar;
};

static const char *get(const struct init_state *s, uint32_t f, uint64_t *v)
{
    return init_state_get(s, f, v) ? NULL : "field missing";
}

#define GET(f, v) do { if (get(s, (f), &(v))) return "missing field " #f; } while (0)
#define REQUIRE(cond, msg) do { if (!(cond)) return (msg); } while (0)

static bool canonical(uint64_t a)
{
    return (uint64_t)(((int64_t)(a << 16)) >> 16) == a;
}

static unsigned ar_type(uint64_t ar) { return ar & VMX_AR_TYPE_MASK; }
static unsigned ar_dpl(uint64_t ar) { return (ar & VMX_AR_DPL_MASK) >> VMX_AR_DPL_SHIFT; }
static bool usable(uint64_t ar) { return !(ar & VMX_AR_UNUSABLE); }

/* SDM 3C 27.3.1.2, "Bit 15 (G)" */
static bool granularity_ok(uint64_t limit, uint64_t ar)
{
    if ((limit & 0xfff) != 0xfff && (ar & VMX_AR_G))
        return false;
    if ((limit & 0xfff00000) && !(ar & VMX_AR_G))
        return false;
    return true;
}

/* Guest-state checks for: unrestricted guest = 1, IA-32e mode guest = 0, load debug
 * controls = 1, load IA32_EFER = 1, no event injection. */
static const char *check_guest_state(const struct init_state *s, const struct vmx_caps *c)
{
    uint64_t cr0, cr4, cr3, dr7, efer, rip, rflags, act, intr, pend;
    struct seg cs, ss, ds, es, fs, gs, tr, ldtr;
    uint64_t gdtr_base, gdtr_limit, idtr_base, idtr_limit;

    GET(GUEST_CR0, cr0); GET(GUEST_CR4, cr4); GET(GUEST_CR3, cr3); GET(GUEST_DR7, dr7);
    GET(GUEST_IA32_EFER, efer); GET(GUEST_RIP, rip); GET(GUEST_RFLAGS, rflags);
    GET(GUEST_ACTIVITY_STATE, act); GET(GUEST_INTERRUPTIBILITY_INFO, intr);
    GET(GUEST_PENDING_DBG_EXCEPTIONS, pend);
#define GETSEG(S, v) do { GET(GUEST_##S##_SELECTOR, v.sel); GET(GUEST_##S##_BASE, v.base); \
                          GET(GUEST_##S##_LIMIT, v.limit); GET(GUEST_##S##_AR_BYTES, v.ar); } while (0)
    GETSEG(CS, cs); GETSEG(SS, ss); GETSEG(DS, ds); GETSEG(ES, es);
    GETSEG(FS, fs); GETSEG(GS, gs); GETSEG(TR, tr); GETSEG(LDTR, ldtr);
    GET(GUEST_GDTR_BASE, gdtr_base); GET(GUEST_GDTR_LIMIT, gdtr_limit);
    GET(GUEST_IDTR_BASE, idtr_base); GET(GUEST_IDTR_LIMIT, idtr_limit);

    /* 26.3.1.1 control registers, debug registers, MSRs */
    uint64_t fixed0 = c->cr0_fixed0 & ~(1ull | (1ull << 31));   /* PE/PG exempt: UG */
    REQUIRE((cr0 & fixed0) == fixed0, "CR0 fixed-1 bit clear");
    REQUIRE((cr0 & ~c->cr0_fixed1) == 0, "CR0 fixed-0 bit set");
    REQUIRE(!(cr0 & (1ull << 31)) || (cr0 & 1), "CR0.PG without CR0.PE");
    REQUIRE((cr4 & c->cr4_fixed0) == c->cr4_fixed0, "CR4 fixed-1 bit clear");
    REQUIRE((cr4 & ~c->cr4_fixed1) == 0, "CR4 fixed-0 bit set");
    REQUIRE(!(cr4 & (1ull << 17)), "CR4.PCIDE outside IA-32e mode");
    REQUIRE((cr3 >> 46) == 0, "CR3 beyond the physical-address width");
    REQUIRE((dr7 >> 32) == 0, "DR7 bits 63:32 set");
    REQUIRE((efer & ~((1ull << 0) | (1ull << 8) | (1ull << 10) | (1ull << 11))) == 0,
            "IA32_EFER reserved bit set");
    REQUIRE(!(efer & (1ull << 10)), "IA32_EFER.LMA differs from IA-32e mode guest (0)");
    REQUIRE(!(cr0 & (1ull << 31)) || !!(efer & (1ull << 10)) == !!(efer & (1ull << 8)),
            "IA32_EFER.LMA != LME with paging");

    /* 26.3.1.4 RIP and RFLAGS (here first: the VM flag decides virtual-8086 checks) */
    REQUIRE((rip >> 32) == 0, "RIP bits 63:32 set outside IA-32e mode");
    REQUIRE((rflags & ~0x3fffffull) == 0 && (rflags & ((1 << 15) | (1 << 5) | (1 << 3))) == 0,
            "RFLAGS reserved bit set");
    REQUIRE(rflags & 2, "RFLAGS bit 1 clear");
    REQUIRE(!(rflags & (1 << 17)) || (cr0 & 1), "RFLAGS.VM with CR0.PE = 0");
    REQUIRE(!(rflags & (1 << 17)), "virtual-8086 guest (not expected here)");

    /* 26.3.1.2 segment registers: selectors */
    REQUIRE(!(tr.sel & 4), "TR selector TI set");
    REQUIRE(!usable(ldtr.ar) || !(ldtr.sel & 4), "LDTR selector TI set");
    /* bases */
    REQUIRE(canonical(tr.base) && canonical(fs.base) && canonical(gs.base), "base not canonical");
    REQUIRE(!usable(ldtr.ar) || canonical(ldtr.base), "LDTR base not canonical");
    REQUIRE((cs.base >> 32) == 0, "CS base bits 63:32 set");
    REQUIRE(!usable(ss.ar) || (ss.base >> 32) == 0, "SS base bits 63:32 set");
    REQUIRE(!usable(ds.ar) || (ds.base >> 32) == 0, "DS base bits 63:32 set");
    REQUIRE(!usable(es.ar) || (es.base >> 32) == 0, "ES base bits 63:32 set");

    /* access rights: CS */
    unsigned cst = ar_type(cs.ar);
    REQUIRE(cst == 3 || cst == 9 || cst == 11 || cst == 13 || cst == 15, "CS type");
    REQUIRE(cs.ar & VMX_AR_S, "CS.S clear");
    if (cst == 3)
        REQUIRE(ar_dpl(cs.ar) == 0, "CS type 3 with DPL != 0");
    if (cst == 9 || cst == 11)
        REQUIRE(ar_dpl(cs.ar) == ar_dpl(ss.ar), "CS DPL != SS DPL (non-conforming)");
    if (cst == 13 || cst == 15)
        REQUIRE(ar_dpl(cs.ar) <= ar_dpl(ss.ar), "CS DPL > SS DPL (conforming)");
    REQUIRE(cs.ar & VMX_AR_P, "CS not present");
    REQUIRE(!(cs.ar & VMX_AR_RESERVED_11_8), "CS AR bits 11:8 set");
    REQUIRE(granularity_ok(cs.limit, cs.ar), "CS G inconsistent with limit");
    REQUIRE(!(cs.ar & VMX_AR_RESERVED_31_17), "CS AR bits 31:17 set");
    REQUIRE(!(cs.ar & VMX_AR_UNUSABLE), "CS unusable");   /* CS can't be unusable in practice */

    /* SS */
    if (usable(ss.ar)) {
        REQUIRE(ar_type(ss.ar) == 3 || ar_type(ss.ar) == 7, "SS type");
        REQUIRE(ss.ar & VMX_AR_S, "SS.S clear");
        REQUIRE(ss.ar & VMX_AR_P, "SS not present");
        REQUIRE(!(ss.ar & VMX_AR_RESERVED_11_8), "SS AR bits 11:8 set");
        REQUIRE(granularity_ok(ss.limit, ss.ar), "SS G inconsistent with limit");
        REQUIRE(!(ss.ar & VMX_AR_RESERVED_31_17), "SS AR bits 31:17 set");
    }
    if (cst == 3 || !(cr0 & 1))
        REQUIRE(ar_dpl(ss.ar) == 0, "SS DPL != 0 (CS type 3 or CR0.PE = 0)");

    /* DS ES FS GS */
    const struct seg *data[] = { &ds, &es, &fs, &gs };
    for (size_t i = 0; i < 4; i++) {
        uint64_t ar = data[i]->ar;
        if (!usable(ar))
            continue;
        REQUIRE(ar & VMX_AR_TYPE_ACCESSED, "data segment not accessed");
        REQUIRE(!(ar & VMX_AR_TYPE_CODE) || (ar & VMX_AR_TYPE_WRITABLE), "code segment not readable");
        REQUIRE(ar & VMX_AR_S, "data segment S clear");
        REQUIRE(ar & VMX_AR_P, "data segment not present");
        REQUIRE(!(ar & VMX_AR_RESERVED_11_8), "data segment AR bits 11:8 set");
        REQUIRE(granularity_ok(data[i]->limit, ar), "data segment G inconsistent with limit");
        REQUIRE(!(ar & VMX_AR_RESERVED_31_17), "data segment AR bits 31:17 set");
    }

    /* TR */
    REQUIRE(ar_type(tr.ar) == 3 || ar_type(tr.ar) == 11, "TR type not busy TSS");
    REQUIRE(!(tr.ar & VMX_AR_S), "TR.S set");
    REQUIRE(tr.ar & VMX_AR_P, "TR not present");
    REQUIRE(!(tr.ar & VMX_AR_RESERVED_11_8), "TR AR bits 11:8 set");
    REQUIRE(granularity_ok(tr.limit, tr.ar), "TR G inconsistent with limit");
    REQUIRE(!(tr.ar & VMX_AR_UNUSABLE), "TR unusable");
    REQUIRE(!(tr.ar & VMX_AR_RESERVED_31_17), "TR AR bits 31:17 set");

    /* LDTR */
    if (usable(ldtr.ar)) {
        REQUIRE(ar_type(ldtr.ar) == 2, "LDTR type not LDT");
        REQUIRE(!(ldtr.ar & VMX_AR_S), "LDTR.S set");
        REQUIRE(ldtr.ar & VMX_AR_P, "LDTR not present");
        REQUIRE(!(ldtr.ar & VMX_AR_RESERVED_11_8), "LDTR AR bits 11:8 set");
        REQUIRE(granularity_ok(ldtr.limit, ldtr.ar), "LDTR G inconsistent with limit");
        REQUIRE(!(ldtr.ar & VMX_AR_RESERVED_31_17), "LDTR AR bits 31:17 set");
    }

    /* 26.3.1.3 descriptor-table registers */
    REQUIRE(canonical(gdtr_base) && canonical(idtr_base), "GDTR/IDTR base not canonical");
    REQUIRE((gdtr_limit >> 16) == 0 && (idtr_limit >> 16) == 0, "GDTR/IDTR limit bits 31:16 set");

    /* 26.3.1.5 non-register state */
    REQUIRE(act <= 3, "activity state out of range");
    REQUIRE(act != GUEST_ACTIVITY_HLT || (c->misc & VMX_MISC_ACTIVITY_HLT), "HLT unsupported");
    REQUIRE(act != GUEST_ACTIVITY_SHUTDOWN || (c->misc & VMX_MISC_ACTIVITY_SHUTDOWN),
            "shutdown unsupported");
    REQUIRE(act != GUEST_ACTIVITY_WAIT_SIPI || (c->misc & VMX_MISC_ACTIVITY_WAIT_SIPI),
            "wait-for-SIPI unsupported");
    REQUIRE(act != GUEST_ACTIVITY_HLT || ar_dpl(ss.ar) == 0, "HLT with SS.DPL != 0");
    REQUIRE((intr & ~0x1full) == 0, "interruptibility reserved bits set");
    REQUIRE((intr & 3) != 3, "blocking by STI and by MOV SS");
    REQUIRE(!(intr & GUEST_INTR_STATE_STI) || (rflags & (1 << 9)), "STI blocking with IF = 0");
    REQUIRE(act == GUEST_ACTIVITY_ACTIVE || !(intr & 3), "STI/MOV-SS blocking when not active");
    REQUIRE((pend & ~(0xfull | (1ull << 12) | (1ull << 14) | (1ull << 16))) == 0,
            "pending debug exceptions reserved bits set");
    if ((intr & 3) || act == GUEST_ACTIVITY_HLT)
        REQUIRE(!!(pend & GUEST_PENDING_DBG_BS) == !!(rflags & (1 << 8)),
                "pending BS inconsistent with RFLAGS.TF");
    return NULL;
}

static void build(struct init_state *s, bool wait_for_sipi)
{
    assert_int_equal(init_state_build(s, &skx, SIGNATURE, wait_for_sipi), 0);
}

static uint64_t val(const struct init_state *s, uint32_t field)
{
    uint64_t v = 0xbad;
    assert_true(init_state_get(s, field, &v));
    return v;
}

static void set(struct init_state *s, uint32_t field, uint64_t v)
{
    for (unsigned i = 0; i < s->nvmcs; i++)
        if (s->vmcs[i].field == field) {
            s->vmcs[i].value = v;
            return;
        }
    fail_msg("field 0x%x not in state", field);
}

static void assert_entry_ok(const struct init_state *s)
{
    const char *why = check_guest_state(s, &skx);
    if (why)
        fail_msg("VM-entry check failed: %s", why);
}

/* ------------------------------------------------------------------- tests */

static void test_init_key_values(void **state)
{
    (void)state;
    struct init_state s;
    build(&s, true);

    /* SDM 3A table 9-1 */
    assert_int_equal(val(&s, GUEST_RIP), 0xfff0);
    assert_int_equal(val(&s, GUEST_RFLAGS), 0x2);
    assert_int_equal(val(&s, GUEST_CS_SELECTOR), 0xf000);
    assert_int_equal(val(&s, GUEST_CS_BASE), 0xffff0000);
    assert_int_equal(val(&s, GUEST_CS_LIMIT), 0xffff);
    assert_int_equal(val(&s, GUEST_CS_AR_BYTES), 0x9b);
    /* first fetch at FFFFFFF0H */
    assert_int_equal(val(&s, GUEST_CS_BASE) + val(&s, GUEST_RIP), 0xfffffff0ull);

    const uint32_t data_sel[] = { GUEST_SS_SELECTOR, GUEST_DS_SELECTOR, GUEST_ES_SELECTOR,
                                  GUEST_FS_SELECTOR, GUEST_GS_SELECTOR };
    for (size_t i = 0; i < 5; i++) {
        uint32_t sel = data_sel[i];
        uint32_t base = sel - GUEST_ES_SELECTOR + GUEST_ES_BASE;
        uint32_t limit = sel - GUEST_ES_SELECTOR + GUEST_ES_LIMIT;
        uint32_t ar = sel - GUEST_ES_SELECTOR + GUEST_ES_AR_BYTES;
        assert_int_equal(val(&s, sel), 0);
        assert_int_equal(val(&s, base), 0);
        assert_int_equal(val(&s, limit), 0xffff);
        assert_int_equal(val(&s, ar), 0x93);
    }
    assert_int_equal(val(&s, GUEST_LDTR_SELECTOR), 0);
    assert_int_equal(val(&s, GUEST_LDTR_BASE), 0);
    assert_int_equal(val(&s, GUEST_LDTR_LIMIT), 0xffff);
    assert_int_equal(val(&s, GUEST_LDTR_AR_BYTES), 0x82);
    assert_int_equal(val(&s, GUEST_TR_SELECTOR), 0);
    assert_int_equal(val(&s, GUEST_TR_BASE), 0);
    assert_int_equal(val(&s, GUEST_TR_LIMIT), 0xffff);
    assert_int_equal(val(&s, GUEST_TR_AR_BYTES), 0x8b);
    assert_int_equal(val(&s, GUEST_GDTR_BASE), 0);
    assert_int_equal(val(&s, GUEST_GDTR_LIMIT), 0xffff);
    assert_int_equal(val(&s, GUEST_IDTR_BASE), 0);
    assert_int_equal(val(&s, GUEST_IDTR_LIMIT), 0xffff);

    /* control registers: the guest's view in the shadows, the VMX-legal value real */
    assert_int_equal(val(&s, CR0_READ_SHADOW), 0x60000010);
    assert_int_equal(val(&s, GUEST_CR0), 0x60000030);       /* + NE (fixed0), no PE/PG */
    assert_int_equal(val(&s, CR4_READ_SHADOW), 0);
    assert_int_equal(val(&s, GUEST_CR4), 0x2000);           /* VMXE */
    assert_int_equal(val(&s, GUEST_CR3), 0);
    /* what differs between shadow and real is covered by the host-owned masks */
    assert_int_equal((val(&s, GUEST_CR0) ^ val(&s, CR0_READ_SHADOW)) &
                     ~vmx_cr0_host_owned(&skx, true), 0);
    assert_int_equal((val(&s, GUEST_CR4) ^ val(&s, CR4_READ_SHADOW)) &
                     ~vmx_cr4_host_owned(&skx), 0);

    assert_int_equal(val(&s, GUEST_DR7), 0x400);
    assert_int_equal(val(&s, GUEST_IA32_EFER), 0);
    assert_int_equal(val(&s, GUEST_RSP), 0);
    assert_int_equal(val(&s, GUEST_INTERRUPTIBILITY_INFO), 0);
    assert_int_equal(val(&s, GUEST_PENDING_DBG_EXCEPTIONS), 0);
    assert_int_equal(val(&s, GUEST_ACTIVITY_STATE), GUEST_ACTIVITY_WAIT_SIPI);

    /* registers outside the VMCS */
    for (int i = 0; i < 16; i++)
        assert_int_equal(s.gpr[i], i == GPR_RDX ? SIGNATURE : 0);
    assert_int_equal(s.cr2, 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(s.dr[i], 0);
    assert_int_equal(s.dr6, 0xffff0ff0);
}

static void test_init_real_mode_segments(void **state)
{
    (void)state;
    struct init_state s;
    build(&s, true);
    /* 16-bit, byte-granular, present, DPL 0, not 64-bit: real-address mode */
    const uint32_t ars[] = { GUEST_ES_AR_BYTES, GUEST_CS_AR_BYTES, GUEST_SS_AR_BYTES,
                             GUEST_DS_AR_BYTES, GUEST_FS_AR_BYTES, GUEST_GS_AR_BYTES };
    for (size_t i = 0; i < 6; i++) {
        uint64_t ar = val(&s, ars[i]);
        assert_false(ar & (VMX_AR_DB | VMX_AR_L | VMX_AR_G | VMX_AR_UNUSABLE | VMX_AR_DPL_MASK));
        assert_true(ar & VMX_AR_P);
        assert_true(ar & VMX_AR_S);
    }
    assert_false(val(&s, GUEST_CR0) & 1);                 /* PE = 0 */
    assert_false(val(&s, GUEST_CR0) & (1ull << 31));      /* PG = 0 */
}

static void test_init_field_table(void **state)
{
    (void)state;
    struct init_state s;
    build(&s, true);
    assert_int_equal(s.nvmcs, 49);
    assert_true(s.nvmcs <= INIT_STATE_MAX_FIELDS);
    for (unsigned i = 0; i < s.nvmcs; i++) {
        uint32_t f = s.vmcs[i].field;
        /* guest-state fields, plus the two read shadows (control fields) */
        if (f == CR0_READ_SHADOW || f == CR4_READ_SHADOW)
            assert_int_equal(VMCS_FIELD_TYPE(f), VMCS_FIELD_TYPE_CONTROL);
        else
            assert_int_equal(VMCS_FIELD_TYPE(f), VMCS_FIELD_TYPE_GUEST);
        /* each value fits its field's width */
        switch (VMCS_FIELD_WIDTH(f)) {
        case VMCS_FIELD_WIDTH_16: assert_true(s.vmcs[i].value <= 0xffff); break;
        case VMCS_FIELD_WIDTH_32: assert_true(s.vmcs[i].value <= 0xffffffffull); break;
        default: break;
        }
        for (unsigned j = i + 1; j < s.nvmcs; j++)
            assert_int_not_equal(f, s.vmcs[j].field);
    }
    uint64_t v;
    assert_false(init_state_get(&s, GUEST_IA32_PAT, &v));      /* INIT keeps MSRs */
    assert_false(init_state_get(&s, GUEST_IA32_DEBUGCTL, &v));
    assert_false(init_state_get(&s, GUEST_SYSENTER_CS, &v));
    assert_false(init_state_get(&s, VM_ENTRY_CONTROLS, &v));   /* the caller's */
}

static void test_init_passes_entry_checks(void **state)
{
    (void)state;
    struct init_state s;
    build(&s, true);
    assert_entry_ok(&s);
    build(&s, false);
    assert_entry_ok(&s);
}

static void test_init_active_when_not_waiting(void **state)
{
    (void)state;
    struct init_state s;
    build(&s, false);
    assert_int_equal(val(&s, GUEST_ACTIVITY_STATE), GUEST_ACTIVITY_ACTIVE);
}

static void test_init_wait_for_sipi_unsupported(void **state)
{
    (void)state;
    struct init_state s;
    struct vmx_caps c = skx;
    c.misc &= ~VMX_MISC_ACTIVITY_WAIT_SIPI;
    assert_int_equal(init_state_build(&s, &c, SIGNATURE, true), -1);
    assert_int_equal(init_state_build(&s, &c, SIGNATURE, false), 0);
    assert_int_equal(val(&s, GUEST_ACTIVITY_STATE), GUEST_ACTIVITY_ACTIVE);
}

static void test_init_cr_follow_caps(void **state)
{
    (void)state;
    /* a CPU whose fixed bits differ (made up): the real CR0/CR4 follow, shadows don't */
    struct vmx_caps c = skx;
    struct init_state s;
    c.cr0_fixed0 = 0x80000023ull;       /* + MP */
    c.cr4_fixed0 = 0x00002020ull;       /* + PAE */
    assert_int_equal(init_state_build(&s, &c, SIGNATURE, true), 0);
    assert_int_equal(val(&s, GUEST_CR0), 0x60000032);
    assert_int_equal(val(&s, GUEST_CR4), 0x2020);
    assert_int_equal(val(&s, CR0_READ_SHADOW), 0x60000010);
    assert_int_equal(val(&s, CR4_READ_SHADOW), 0);
    assert_null(check_guest_state(&s, &c));
}

static void test_sipi_vectors(void **state)
{
    (void)state;
    const uint8_t vectors[] = { 0x00, 0x08, 0x9f, 0xff };
    for (size_t k = 0; k < sizeof(vectors) / sizeof(vectors[0]); k++) {
        uint8_t v = vectors[k];
        struct init_state before, s;
        build(&before, true);
        s = before;
        init_state_apply_sipi(&s, v);

        assert_int_equal(s.nvmcs, before.nvmcs);
        assert_int_equal(val(&s, GUEST_CS_SELECTOR), (uint64_t)v << 8);
        assert_int_equal(val(&s, GUEST_CS_BASE), (uint64_t)v << 12);
        assert_int_equal(val(&s, GUEST_RIP), 0);
        assert_int_equal(val(&s, GUEST_ACTIVITY_STATE), GUEST_ACTIVITY_ACTIVE);
        /* execution starts at physical 000VV000H */
        assert_int_equal(val(&s, GUEST_CS_BASE) + val(&s, GUEST_RIP), (uint64_t)v * 0x1000);
        /* real-mode consistency: base = selector * 16 */
        assert_int_equal(val(&s, GUEST_CS_BASE), val(&s, GUEST_CS_SELECTOR) << 4);
        assert_int_equal(val(&s, GUEST_CS_LIMIT), 0xffff);
        assert_int_equal(val(&s, GUEST_CS_AR_BYTES), 0x9b);

        /* nothing else changes */
        for (unsigned i = 0; i < s.nvmcs; i++) {
            uint32_t f = s.vmcs[i].field;
            if (f == GUEST_CS_SELECTOR || f == GUEST_CS_BASE || f == GUEST_RIP ||
                f == GUEST_ACTIVITY_STATE)
                continue;
            assert_int_equal(s.vmcs[i].field, before.vmcs[i].field);
            assert_int_equal(s.vmcs[i].value, before.vmcs[i].value);
        }
        assert_memory_equal(s.gpr, before.gpr, sizeof(s.gpr));
        assert_int_equal(s.dr6, before.dr6);

        const char *why = check_guest_state(&s, &skx);
        if (why)
            fail_msg("vector 0x%02x: VM-entry check failed: %s", v, why);
    }
}

static void test_sipi_fields(void **state)
{
    (void)state;
    struct vmcs_field_value f[INIT_SIPI_FIELDS];
    memset(f, 0xa5, sizeof(f));
    assert_int_equal(init_sipi_fields(0x9f, f), 4);
    bool seen[4] = { false };
    for (int i = 0; i < 4; i++) {
        switch (f[i].field) {
        case GUEST_CS_SELECTOR: assert_int_equal(f[i].value, 0x9f00); seen[0] = true; break;
        case GUEST_CS_BASE: assert_int_equal(f[i].value, 0x9f000); seen[1] = true; break;
        case GUEST_RIP: assert_int_equal(f[i].value, 0); seen[2] = true; break;
        case GUEST_ACTIVITY_STATE: assert_int_equal(f[i].value, 0); seen[3] = true; break;
        default: fail_msg("unexpected field 0x%x", f[i].field);
        }
    }
    for (int i = 0; i < 4; i++)
        assert_true(seen[i]);
}

/* The checker itself must be able to fail: each mutation breaks one SDM rule. */
static void test_checker_rejects_bad_states(void **state)
{
    (void)state;
    static const struct { uint32_t field; uint64_t value; const char *why;
                          uint32_t field2; uint64_t value2; } bad[] = {
        { GUEST_SS_AR_BYTES, 0xf3, "CS DPL != SS DPL (non-conforming)", 0, 0 },
        /* CS and SS both DPL 3: consistent with each other, but real mode needs SS.DPL 0 */
        { GUEST_SS_AR_BYTES, 0xf3, "SS DPL != 0 (CS type 3 or CR0.PE = 0)",
          GUEST_CS_AR_BYTES, 0xfb },
        /* conforming code: DPL may be below SS's, not above */
        { GUEST_CS_AR_BYTES, 0xff, "CS DPL > SS DPL (conforming)", 0, 0 },
        { GUEST_SS_AR_BYTES, 0x9b, "SS type", 0, 0 },
        { GUEST_CS_AR_BYTES, 0x93 | (3 << 5), "CS type 3 with DPL != 0", 0, 0 },
        { GUEST_CS_AR_BYTES, 0x91, "CS type", 0, 0 },
        { GUEST_CS_AR_BYTES, 0x19b, "CS AR bits 11:8 set", 0, 0 },
        { GUEST_CS_AR_BYTES, 0x8b, "CS.S clear", 0, 0 },
        { GUEST_CS_AR_BYTES, 0x1b, "CS not present", 0, 0 },
        { GUEST_CS_LIMIT, 0x1fffff, "CS G inconsistent with limit", 0, 0 },
        { GUEST_DS_AR_BYTES, 0x92, "data segment not accessed", 0, 0 },
        { GUEST_DS_AR_BYTES, 0x99, "code segment not readable", 0, 0 },
        { GUEST_ES_AR_BYTES, 0x13, "data segment not present", 0, 0 },
        { GUEST_FS_AR_BYTES, 0x40093, "data segment AR bits 31:17 set", 0, 0 },
        { GUEST_TR_AR_BYTES, 0x1008b, "TR unusable", 0, 0 },
        { GUEST_TR_AR_BYTES, 0x89, "TR type not busy TSS", 0, 0 },
        { GUEST_TR_AR_BYTES, 0x9b, "TR.S set", 0, 0 },
        { GUEST_TR_SELECTOR, 0x4, "TR selector TI set", 0, 0 },
        { GUEST_LDTR_AR_BYTES, 0x83, "LDTR type not LDT", 0, 0 },
        { GUEST_LDTR_AR_BYTES, 0x02, "LDTR not present", 0, 0 },
        { GUEST_GDTR_LIMIT, 0x10000, "GDTR/IDTR limit bits 31:16 set", 0, 0 },
        { GUEST_FS_BASE, 0x0000800000000000ull, "base not canonical", 0, 0 },
        { GUEST_CS_BASE, 0x100000000ull, "CS base bits 63:32 set", 0, 0 },
        { GUEST_RFLAGS, 0x0, "RFLAGS bit 1 clear", 0, 0 },
        { GUEST_RFLAGS, 0x20002, "RFLAGS.VM with CR0.PE = 0", 0, 0 },
        { GUEST_RFLAGS, 0x8002, "RFLAGS reserved bit set", 0, 0 },
        { GUEST_RIP, 0x100000000ull, "RIP bits 63:32 set outside IA-32e mode", 0, 0 },
        { GUEST_CR0, 0x60000010, "CR0 fixed-1 bit clear", 0, 0 },
        { GUEST_CR0, 0xe0000030, "CR0.PG without CR0.PE", 0, 0 },
        { GUEST_CR4, 0x0, "CR4 fixed-1 bit clear", 0, 0 },
        { GUEST_CR4, 0x2000 | (1ull << 22), "CR4 fixed-0 bit set", 0, 0 },
        { GUEST_CR4, 0x2000 | (1ull << 17), "CR4.PCIDE outside IA-32e mode", 0, 0 },
        { GUEST_DR7, 0x100000400ull, "DR7 bits 63:32 set", 0, 0 },
        { GUEST_IA32_EFER, 0x500, "IA32_EFER.LMA differs from IA-32e mode guest (0)", 0, 0 },
        { GUEST_IA32_EFER, 0x2, "IA32_EFER reserved bit set", 0, 0 },
        { GUEST_ACTIVITY_STATE, 4, "activity state out of range", 0, 0 },
        { GUEST_INTERRUPTIBILITY_INFO, 3, "blocking by STI and by MOV SS", 0, 0 },
        { GUEST_INTERRUPTIBILITY_INFO, 1, "STI blocking with IF = 0", 0, 0 },
        { GUEST_INTERRUPTIBILITY_INFO, 0x20, "interruptibility reserved bits set", 0, 0 },
        { GUEST_PENDING_DBG_EXCEPTIONS, 0x10, "pending debug exceptions reserved bits set", 0, 0 },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct init_state s;
        build(&s, false);
        set(&s, bad[i].field, bad[i].value);
        if (bad[i].field2)
            set(&s, bad[i].field2, bad[i].value2);
        const char *why = check_guest_state(&s, &skx);
        if (!why || strcmp(why, bad[i].why) != 0)
            fail_msg("mutation %zu (field 0x%x = 0x%llx): expected \"%s\", got \"%s\"", i,
                     bad[i].field, (unsigned long long)bad[i].value, bad[i].why,
                     why ? why : "(accepted)");
    }
    /* wait-for-SIPI on a CPU without it */
    struct init_state s;
    struct vmx_caps c = skx;
    build(&s, true);
    c.misc &= ~VMX_MISC_ACTIVITY_WAIT_SIPI;
    assert_string_equal(check_guest_state(&s, &c), "wait-for-SIPI unsupported");
}

static void test_get_missing_field(void **state)
{
    (void)state;
    struct init_state s;
    uint64_t v = 42;
    build(&s, true);
    assert_false(init_state_get(&s, HOST_RIP, &v));
    assert_int_equal(v, 42);
    s.nvmcs = 0;
    assert_false(init_state_get(&s, GUEST_RIP, &v));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_key_values),
        cmocka_unit_test(test_init_real_mode_segments),
        cmocka_unit_test(test_init_field_table),
        cmocka_unit_test(test_init_passes_entry_checks),
        cmocka_unit_test(test_init_active_when_not_waiting),
        cmocka_unit_test(test_init_wait_for_sipi_unsupported),
        cmocka_unit_test(test_init_cr_follow_caps),
        cmocka_unit_test(test_sipi_vectors),
        cmocka_unit_test(test_sipi_fields),
        cmocka_unit_test(test_checker_rejects_bad_states),
        cmocka_unit_test(test_get_missing_field),
    };
    return cmocka_run_group_tests_name("init_state", tests, NULL, NULL);
}
