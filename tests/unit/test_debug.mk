UNIT_TESTS += test_debug
# Debug exceptions around what the monitor emulates (M6 item 4): RF in the
# frame of an injected fault, TF single-steps over emulated instructions,
# DR0-DR3 breakpoints on emulated port and memory accesses. Through the
# dispatcher and the whole core, on the fake VMCS.
test_debug_SRCS = $(test_exits_SRCS)
