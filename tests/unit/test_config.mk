UNIT_TESTS += test_config
test_config_SRCS := efi/config.c core/policy.c
