/* Direct register access and cache write-back for identity-mapped callers
 * (iommu/hw.c). */
#ifndef LAMINA_IOMMU_HW_H
#define LAMINA_IOMMU_HW_H

#include "iommu/vtd.h"

extern const struct vtd_hw vtd_hw_direct;

#endif
