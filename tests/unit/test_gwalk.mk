UNIT_TESTS += test_gwalk
test_gwalk_SRCS := core/gwalk.c
