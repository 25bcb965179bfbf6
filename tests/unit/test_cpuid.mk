UNIT_TESTS += test_cpuid
test_cpuid_SRCS := core/cpuid.c
