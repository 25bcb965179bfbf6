UNIT_TESTS += test_io_string
test_io_string_SRCS := core/io_string.c core/gwalk.c
