#ifndef LAMINA_EPT_MEMTYPE_H
#define LAMINA_EPT_MEMTYPE_H

#include <stdbool.h>
#include <stdint.h>

/* Table pages kept for splitting large EPT leaves when the MTRRs change. */
#define EPT_RESERVE_PAGES 32

bool memtype_is_mtrr_msr(uint32_t msr);
void memtype_trap_mtrrs(uint8_t *msr_bitmap);
void memtype_mtrr_written(uint32_t cpu, uint32_t msr, uint64_t value);

#endif
