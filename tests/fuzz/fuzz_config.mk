FUZZ_TARGETS += fuzz_config
fuzz_config_SRCS := efi/config.c core/policy.c
