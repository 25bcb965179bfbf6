UNIT_TESTS += test_init_state
test_init_state_SRCS := vmx/init_state.c vmx/caps.c
