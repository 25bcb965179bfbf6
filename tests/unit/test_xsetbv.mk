UNIT_TESTS += test_xsetbv
test_xsetbv_SRCS := core/xsetbv.c
