UNIT_TESTS += test_tsc
test_tsc_SRCS := core/tsc.c
