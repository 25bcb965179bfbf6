/* Unit tests for iommu/dmar.c: QEMU's table, real-looking tables with
 * several units, RMRRs and device scopes, and each malformed case with the
 * message that names the table, the entry and the field (VT-d chapter 8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "iommu/dmar.h"
#include "tests/unit/dmar_tb.h"

/* What QEMU 7.2 builds for q35 with -device intel-iommu -device edu (dumped
 * by dma.efi): HAW 39, INTR_REMAP, one DRHD at 0xfed90000 without
 * INCLUDE_PCI_ALL listing the IOAPIC and six PCI endpoints (edu: 00:02.0). */
static const uint8_t qemu_dmar[120] = {
    0x44, 0x4d, 0x41, 0x52, 0x78, 0x00, 0x00, 0x00, 0x01, 0x0d, 0x42, 0x4f,
    0x43, 0x48, 0x53, 0x20, 0x42, 0x58, 0x50, 0x43, 0x20, 0x20, 0x20, 0x20,
    0x01, 0x00, 0x00, 0x00, 0x42, 0x58, 0x50, 0x43, 0x01, 0x00, 0x00, 0x00,
    0x26, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x48, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xd9, 0xfe,
    0x00, 0x00, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00,
    0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00,
    0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x1f, 0x00, 0x01, 0x08, 0x00, 0x00,
    0x00, 0x00, 0x1f, 0x02, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x1f, 0x03,
};

static struct dmar_info info;
static char err[DMAR_ERR_LEN];

static int parse(struct tb *t)
{
    finish(t);
    return dmar_parse(t->b, t->n, &info, err, sizeof(err));
}

/* A client platform: a graphics unit listing 00:02.0, then the unit for
 * everything else (INCLUDE_PCI_ALL) with the IOAPIC and HPET; RMRRs for USB
 * (00:14.0) and graphics; an ATSR; an RHSA. */
static void client(struct tb *t)
{
    header(t, 38, 1);
    size_t a = drhd(t, 0, 0, 0xfed90000);
    scope(t, 1, 0, 0, 2, 0);
    end(t, a);
    a = drhd(t, 1, 0, 0xfed91000);
    scope(t, 3, 2, 0, 0x1e, 7);
    scope(t, 4, 0, 0, 0x1e, 6);
    end(t, a);
    a = rmrr(t, 0x3c000000, 0x3c01ffff);
    scope(t, 1, 0, 0, 0x14, 0);
    end(t, a);
    a = rmrr(t, 0x3d800000, 0x3fffffff);
    scope(t, 1, 0, 0, 2, 0);
    end(t, a);
    a = begin(t, 2);
    u8(t, 1);
    u8(t, 0);
    u16(t, 0);
    end(t, a);
    a = begin(t, 3);
    u32(t, 0);
    u64(t, 0xfed91000);
    u32(t, 0);
    end(t, a);
}

/* ---------------------------------------------------------------- good */

static void test_qemu_table(void **state)
{
    (void)state;
    assert_int_equal(dmar_parse(qemu_dmar, sizeof(qemu_dmar), &info, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_int_equal(info.haw, 39);
    assert_int_equal(info.flags, DMAR_FLAG_INTR_REMAP);
    assert_int_equal(info.nunits, 1);
    assert_int_equal(info.nrmrrs, 0);
    assert_int_equal(info.nentries, 1);
    assert_false(info.include_all_seg0);
    const struct dmar_unit *u = &info.unit[0];
    assert_int_equal(u->reg_base, 0xfed90000);
    assert_int_equal(u->reg_size, 4096);
    assert_int_equal(u->segment, 0);
    assert_int_equal(u->nscopes, 7);
    assert_int_equal(u->scope[0].type, DMAR_SCOPE_IOAPIC);
    assert_int_equal(u->scope[0].bus, 0xff);
    assert_int_equal(u->scope[3].type, DMAR_SCOPE_ENDPOINT);
    assert_int_equal(u->scope[3].dev, 2);           /* edu */
    assert_int_equal(u->scope[6].dev, 0x1f);
    assert_int_equal(u->scope[6].fn, 3);
    /* A longer buffer is fine: the header's length counts. */
    uint8_t big[200] = { 0 };
    memcpy(big, qemu_dmar, sizeof(qemu_dmar));
    assert_int_equal(dmar_parse(big, sizeof(big), &info, err, sizeof(err)), 0);
}

static void test_client_table(void **state)
{
    (void)state;
    struct tb t;
    client(&t);
    assert_int_equal(parse(&t), 0);
    assert_int_equal(info.nunits, 2);
    assert_int_equal(info.nrmrrs, 2);
    assert_int_equal(info.natsr, 1);
    assert_int_equal(info.nother, 1);
    assert_int_equal(info.nentries, 6);
    assert_true(info.include_all_seg0);
    assert_int_equal(info.unit[1].flags, DMAR_DRHD_INCLUDE_PCI_ALL);
    assert_int_equal(info.unit[1].entry, 1);
    assert_int_equal(info.unit[1].nscopes, 2);
    assert_int_equal(info.unit[1].scope[1].type, DMAR_SCOPE_HPET);
    assert_int_equal(info.rmrr[0].base, 0x3c000000);
    assert_int_equal(info.rmrr[0].end, 0x3c020000);
    assert_int_equal(info.rmrr[0].scope[0].dev, 0x14);
    assert_int_equal(info.rmrr[1].end, 0x40000000);
    assert_int_equal(info.rmrr[1].entry, 3);
}

/* A server: units on two segments, a register set of 2^2 pages, a device
 * behind a bridge (two path elements), 40 scopes on one unit (8 kept). */
static void test_server_table(void **state)
{
    (void)state;
    struct tb t;
    header(&t, 45, 3);
    size_t a = drhd(&t, 0, 0, 0xc5ffc000);
    t.b[a + 5] = 2;                                 /* Size: 2^2 pages */
    for (int i = 0; i < 40; i++)
        scope(&t, 2, 0, (uint8_t)i, 0, 0);
    end(&t, a);
    a = drhd(&t, 1, 0, 0xfbffc000);
    end(&t, a);
    a = drhd(&t, 0, 1, 0xe0ffc000);
    u8(&t, 1); u8(&t, 10); u16(&t, 0); u8(&t, 0); u8(&t, 0x80);
    u8(&t, 3); u8(&t, 0); u8(&t, 0); u8(&t, 1);    /* 80:03.0, then 00.1 below its bridge */
    end(&t, a);
    if (parse(&t) != 0)
        fail_msg("%s", err);
    assert_int_equal(info.haw, 46);
    assert_int_equal(info.nunits, 3);
    assert_int_equal(info.unit[0].reg_size, 4 * 4096);
    assert_int_equal(info.unit[0].nscopes, 40);
    assert_int_equal(info.unit[0].scope[7].bus, 7);
    assert_int_equal(info.unit[2].segment, 1);
    assert_int_equal(info.unit[2].scope[0].npath, 2);
    assert_int_equal(info.unit[2].scope[0].dev, 3);
    assert_int_equal(info.unit[2].scope[0].last_fn, 1);
}

/* ---------------------------------------------------------------- bad */

static void refused(struct tb *t, const char *want)
{
    memset(&info, 0x5a, sizeof(info));
    int rc = parse(t);
    if (rc != -1 || strcmp(err, want) != 0)
        fail_msg("rc %d, message\n  '%s'\nwant\n  '%s'", rc, err, want);
    /* A refused table leaves nothing half-read. */
    static const struct dmar_info zero;
    assert_memory_equal(&info, &zero, sizeof(info));
}

static void test_refused_header(void **state)
{
    (void)state;
    struct tb t;
    assert_int_equal(dmar_parse(qemu_dmar, 40, &info, err, sizeof(err)), -1);
    assert_string_equal(err, "DMAR: length 40 is below the 48-byte header");
    assert_int_equal(dmar_parse(NULL, 100, &info, err, sizeof(err)), -1);
    assert_string_equal(err, "DMAR: length 0 is below the 48-byte header");
    assert_int_equal(dmar_parse(qemu_dmar, 100, &info, err, sizeof(err)), -1);
    assert_string_equal(err, "DMAR: length 120 runs past the table's memory");

    client(&t);
    memcpy(t.b, "DMAX", 4);
    refused(&t, "DMAR: signature is not 'DMAR'");

    client(&t);
    finish(&t);
    t.b[9] = (uint8_t)(t.b[9] + 1);
    assert_int_equal(dmar_parse(t.b, t.n, &info, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "DMAR: checksum 0x"));
    assert_non_null(strstr(err, " is wrong (the bytes sum to 0x1, not 0)"));

    header(&t, 30, 0);
    refused(&t, "DMAR: host address width 31 bits is outside 32-64");
    header(&t, 64, 0);
    refused(&t, "DMAR: host address width 65 bits is outside 32-64");
    header(&t, 38, 0);
    refused(&t, "DMAR: no remapping unit (DRHD)");
}

static void test_refused_structures(void **state)
{
    (void)state;
    struct tb t;
    header(&t, 38, 0);
    size_t a = drhd(&t, 0, 0, 0xfed90000);
    end(&t, a);
    u16(&t, 1);                                     /* 2 bytes: no room for a header */
    refused(&t, "DMAR: the last 2 bytes are too short for a structure header");

    header(&t, 38, 0);
    a = drhd(&t, 0, 0, 0xfed90000);
    end(&t, a);
    t.b[a + 2] = 200;
    refused(&t, "DMAR entry 0 (DRHD at offset 0x30): length 200 runs past the table");
    t.b[a + 2] = 2;
    refused(&t, "DMAR entry 0 (DRHD at offset 0x30): length 2 is below its own header");

    header(&t, 38, 0);
    a = begin(&t, 0);
    u32(&t, 0);
    end(&t, a);
    refused(&t, "DMAR entry 0 (DRHD at offset 0x30): length 8 is below the 16 bytes of a DRHD");

    header(&t, 38, 0);
    a = drhd(&t, 0, 0, 0xfed90000);
    end(&t, a);
    a = begin(&t, 1);
    u64(&t, 0);
    end(&t, a);
    refused(&t, "DMAR entry 1 (RMRR at offset 0x40): length 12 is below the 24 bytes of an RMRR");

    header(&t, 38, 0);
    a = drhd(&t, 0, 0, 0xfed90000);
    end(&t, a);
    a = begin(&t, 3);
    u32(&t, 0);
    end(&t, a);
    refused(&t, "DMAR entry 1 (RHSA at offset 0x40): length 8 is below the 20 bytes of its fixed part");

    /* An unknown type is checked for its header and skipped. */
    header(&t, 38, 0);
    a = drhd(&t, 0, 0, 0xfed90000);
    end(&t, a);
    a = begin(&t, 0x55);
    u32(&t, 0);
    end(&t, a);
    assert_int_equal(parse(&t), 0);
    assert_int_equal(info.nother, 1);
}

static void test_refused_units(void **state)
{
    (void)state;
    struct tb t;
    header(&t, 38, 0);
    size_t a = drhd(&t, 0, 0, 0xfed90800);
    end(&t, a);
    refused(&t, "DMAR entry 0 (DRHD at offset 0x30): register base 0xfed90800 is not 4 KiB aligned");

    header(&t, 38, 0);
    a = drhd(&t, 0, 0, 0);
    end(&t, a);
    refused(&t, "DMAR entry 0 (DRHD at offset 0x30): register base 0x0 is zero");

    header(&t, 38, 0);
    a = drhd(&t, 0, 0, 1ull << 39);
    end(&t, a);
    refused(&t, "DMAR entry 0 (DRHD at offset 0x30): register base 0x8000000000 is beyond the host "
                "address width of 39 bits");

    header(&t, 38, 0);
    a = drhd(&t, 0, 0, 0xfed90000);
    t.b[a + 5] = 1;                                 /* 8 KiB of registers */
    end(&t, a);
    a = drhd(&t, 0, 0, 0xfed91000);
    end(&t, a);
    refused(&t, "DMAR entry 1 (DRHD at offset 0x40): register base 0xfed91000 overlaps entry 0");

    header(&t, 38, 0);
    a = drhd(&t, 1, 0, 0xfed90000);
    end(&t, a);
    a = drhd(&t, 0, 0, 0xfed91000);
    end(&t, a);
    refused(&t, "DMAR entry 1 (DRHD at offset 0x40): segment 0 follows its INCLUDE_PCI_ALL unit, "
                "entry 0 (that unit must come last)");

    header(&t, 38, 0);
    for (int i = 0; i < DMAR_MAX_UNITS + 1; i++) {
        a = drhd(&t, 0, 0, 0xfe000000 + 0x1000ull * (uint64_t)i);
        end(&t, a);
    }
    refused(&t, "DMAR entry 16 (DRHD at offset 0x130): more than 16 remapping units");
}

static void test_refused_scopes(void **state)
{
    (void)state;
    struct tb t;
    header(&t, 38, 0);
    size_t a = drhd(&t, 1, 0, 0xfed90000);
    scope(&t, 1, 0, 0, 3, 0);
    end(&t, a);
    refused(&t, "DMAR entry 0 (DRHD at offset 0x30): device scope 0: type 1 is a PCI device, which "
                "an INCLUDE_PCI_ALL unit must not list");

    header(&t, 38, 0);
    a = drhd(&t, 0, 0, 0xfed90000);
    scope(&t, 7, 0, 0, 3, 0);
    end(&t, a);
    refused(&t, "DMAR entry 0 (DRHD at offset 0x30): device scope 0: type 7 is unknown");

    header(&t, 38, 0);
    a = drhd(&t, 0, 0, 0xfed90000);
    scope(&t, 1, 0, 0, 3, 0);
    scope(&t, 1, 0, 0, 4, 0);
    t.b[t.n - 7] = 7;                               /* second scope: odd length */
    end(&t, a);
    refused(&t, "DMAR entry 0 (DRHD at offset 0x30): device scope 1: length 7 is not 6 plus a path "
                "of 2-byte elements");

    header(&t, 38, 0);
    a = drhd(&t, 0, 0, 0xfed90000);
    scope(&t, 1, 0, 0, 3, 0);
    t.b[t.n - 7] = 16;                              /* longer than what is left */
    end(&t, a);
    refused(&t, "DMAR entry 0 (DRHD at offset 0x30): device scope 0: length 16 runs past the structure");

    header(&t, 38, 0);
    a = drhd(&t, 0, 0, 0xfed90000);
    scope(&t, 1, 0, 0, 3, 0);
    t.n -= 4;                                       /* 4 bytes of a scope */
    end(&t, a);
    refused(&t, "DMAR entry 0 (DRHD at offset 0x30): device scope 0: 4 bytes left, a scope takes at "
                "least 6");

    header(&t, 38, 0);
    a = drhd(&t, 0, 0, 0xfed90000);
    scope(&t, 1, 0, 0, 32, 0);
    end(&t, a);
    refused(&t, "DMAR entry 0 (DRHD at offset 0x30): device scope 0: path element 0x2000 is not a "
                "PCI device (0-31) and function (0-7)");

    header(&t, 38, 0);
    a = drhd(&t, 0, 0, 0xfed90000);
    u8(&t, 1); u8(&t, 6); u16(&t, 0); u8(&t, 0); u8(&t, 0);      /* no path at all */
    end(&t, a);
    refused(&t, "DMAR entry 0 (DRHD at offset 0x30): device scope 0: length 6 is not 6 plus a path "
                "of 2-byte elements");

    client(&t);
    a = rmrr(&t, 0x50000000, 0x50000fff);
    scope(&t, 3, 0, 0, 0x1e, 7);
    end(&t, a);
    refused(&t, "DMAR entry 6 (RMRR at offset 0xc4): device scope 0: type 3 is not a PCI endpoint "
                "or bridge, which an RMRR must list");
}

static void test_refused_rmrrs(void **state)
{
    (void)state;
    struct tb t;
    client(&t);
    size_t a = rmrr(&t, 0x50000800, 0x50000fff);
    end(&t, a);
    refused(&t, "DMAR entry 6 (RMRR at offset 0xc4): base 0x50000800 is not 4 KiB aligned");

    client(&t);
    a = rmrr(&t, 0x50000000, 0x50000ffe);
    end(&t, a);
    refused(&t, "DMAR entry 6 (RMRR at offset 0xc4): limit 0x50000ffe is not the end of a 4 KiB page");

    client(&t);
    a = rmrr(&t, 0x50001000, 0x50000fff);
    end(&t, a);
    refused(&t, "DMAR entry 6 (RMRR at offset 0xc4): limit 0x50000fff is below base 0x50001000");

    client(&t);
    a = rmrr(&t, 0x3c010000, 0x3c030fff);
    end(&t, a);
    refused(&t, "DMAR entry 6 (RMRR at offset 0xc4): region 0x3c010000-0x3c030fff overlaps entry 2");

    client(&t);
    a = rmrr(&t, 0x7ffffff000, 0x8000000fff);
    end(&t, a);
    refused(&t, "DMAR entry 6 (RMRR at offset 0xc4): limit 0x8000000fff is beyond the host address "
                "width of 39 bits");

    header(&t, 63, 0);
    a = drhd(&t, 0, 0, 0xfed90000);
    end(&t, a);
    a = rmrr(&t, 0xfffffffffffff000ull, 0xffffffffffffffffull);
    end(&t, a);
    refused(&t, "DMAR entry 1 (RMRR at offset 0x40): limit 0xffffffffffffffff ends the address space");
}

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

/* An XSDT with FACP, DMAR, APIC, a zero entry and a second DMAR: both
 * DMARs go, the rest keeps its order, length and checksum are right. */
static void test_unlink_from_xsdt(void **state)
{
    (void)state;
    static uint8_t facp[36] = "FACP", apic[36] = "APIC", dmar2[48] = "DMAR", dmar1[120];
    memcpy(dmar1, qemu_dmar, sizeof(dmar1));
    uint64_t ptrs[] = { (uintptr_t)facp, (uintptr_t)dmar1, (uintptr_t)apic, 0, (uintptr_t)dmar2 };
    uint8_t xsdt[36 + 5 * 8];
    memset(xsdt, 0, sizeof(xsdt));
    memcpy(xsdt, "XSDT", 4);
    xsdt[4] = sizeof(xsdt);
    memcpy(xsdt + 36, ptrs, sizeof(ptrs));
    xsdt[9] = (uint8_t)-sum(xsdt, sizeof(xsdt));
    assert_int_equal(dmar_unlink(xsdt, 8), 2);
    assert_int_equal(xsdt[4], 36 + 3 * 8);
    assert_int_equal(sum(xsdt, xsdt[4]), 0);
    uint64_t left[3];
    memcpy(left, xsdt + 36, sizeof(left));
    assert_int_equal(left[0], (uintptr_t)facp);
    assert_int_equal(left[1], (uintptr_t)apic);
    assert_int_equal(left[2], 0);
    for (size_t i = xsdt[4]; i < sizeof(xsdt); i++)
        assert_int_equal(xsdt[i], 0);
    /* The tables themselves are renamed, their checksums still right. */
    assert_memory_equal(dmar1, "LDMR", 4);
    assert_int_equal(sum(dmar1, sizeof(dmar1)), 0);
    assert_memory_equal(dmar2, "LDMR", 4);
    assert_memory_equal(dmar1 + 4, qemu_dmar + 4, 5);
    assert_memory_equal(dmar1 + 10, qemu_dmar + 10, sizeof(dmar1) - 10);
    assert_memory_equal(facp, "FACP", 4);
    /* Nothing left to remove: unchanged. */
    uint8_t copy[sizeof(xsdt)];
    memcpy(copy, xsdt, sizeof(xsdt));
    assert_int_equal(dmar_unlink(xsdt, 8), 0);
    assert_memory_equal(copy, xsdt, sizeof(xsdt));
    xsdt[4] = 20;
    assert_int_equal(dmar_unlink(xsdt, 8), -1);
    assert_int_equal(dmar_unlink(copy, 5), -1);
}

/* The message buffer: truncated, always terminated, never overrun. */
static void test_small_error_buffer(void **state)
{
    (void)state;
    char small[12];
    memset(small, 'x', sizeof(small));
    assert_int_equal(dmar_parse(qemu_dmar, 10, &info, small, sizeof(small)), -1);
    assert_string_equal(small, "DMAR: lengt");
    assert_int_equal(dmar_parse(qemu_dmar, 10, &info, NULL, 0), -1);
    assert_string_equal(dmar_type_name(1), "RMRR");
    assert_string_equal(dmar_type_name(99), "unknown type");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qemu_table),
        cmocka_unit_test(test_client_table),
        cmocka_unit_test(test_server_table),
        cmocka_unit_test(test_refused_header),
        cmocka_unit_test(test_refused_structures),
        cmocka_unit_test(test_refused_units),
        cmocka_unit_test(test_refused_scopes),
        cmocka_unit_test(test_refused_rmrrs),
        cmocka_unit_test(test_small_error_buffer),
        cmocka_unit_test(test_unlink_from_xsdt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
