UNIT_TESTS += test_sha256
test_sha256_SRCS := efi/sha256.c
