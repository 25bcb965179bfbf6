UNIT_TESTS += test_apic
test_apic_SRCS := core/apic.c
