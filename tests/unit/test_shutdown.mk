UNIT_TESTS += test_shutdown
test_shutdown_SRCS := core/shutdown.c
