UNIT_TESTS += test_install
test_install_SRCS := tools/lamina-install/plan.c tools/lamina-install/ops.c \
	tools/lamina-install/efivars.c tools/lamina-install/efiboot.c tools/lamina-install/disk.c \
	efi/config.c efi/sha256.c core/policy.c
