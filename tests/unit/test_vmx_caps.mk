UNIT_TESTS += test_vmx_caps
test_vmx_caps_SRCS := vmx/caps.c
