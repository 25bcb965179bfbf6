FUZZ_TARGETS += fuzz_dmar
fuzz_dmar_SRCS := iommu/dmar.c iommu/msg.c
