UNIT_TESTS += test_metal_exits
# M6: exits where the guest must not tell the monitor from bare metal (every
# unconditional exit, resets, CR0/CR4, TSC deadline), through the harness of
# tests/unit/exit_harness.h; the same sources as test_exits.
test_metal_exits_SRCS = $(test_exits_SRCS)
