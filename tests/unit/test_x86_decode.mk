UNIT_TESTS += test_x86_decode
test_x86_decode_SRCS := core/x86_decode.c
