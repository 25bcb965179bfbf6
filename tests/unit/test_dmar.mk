UNIT_TESTS += test_dmar
test_dmar_SRCS := iommu/dmar.c iommu/dmar_unlink.c iommu/msg.c
