UNIT_TESTS += test_evlog
test_evlog_SRCS := core/evlog.c
