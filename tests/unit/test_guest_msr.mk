UNIT_TESTS += test_guest_msr
test_guest_msr_SRCS := core/guest_msr.c
