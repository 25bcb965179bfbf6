UNIT_TESTS += test_dma
test_dma_SRCS := iommu/dma.c iommu/dmar.c iommu/vtd.c iommu/msg.c tests/unit/fake_vtd.c
