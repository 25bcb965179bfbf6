UNIT_TESTS += test_iommu
test_iommu_SRCS := iommu/iommu.c iommu/dma.c iommu/dmar.c iommu/vtd.c iommu/msg.c tests/unit/fake_vtd.c
