UNIT_TESTS += test_sidedoor
# M7 (no side doors): the exit handlers and hand-off decisions that close
# them, against the fake VMCS and hardware of tests/unit/fake_*.c.
test_sidedoor_SRCS = $(test_exits_SRCS)
