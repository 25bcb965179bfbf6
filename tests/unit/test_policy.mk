UNIT_TESTS += test_policy
test_policy_SRCS := core/policy.c
