UNIT_TESTS += test_mtrr
test_mtrr_SRCS := ept/mtrr.c
