UNIT_TESTS += test_vtd
test_vtd_SRCS := iommu/vtd.c iommu/msg.c tests/unit/fake_vtd.c
