UNIT_TESTS += test_efiboot
test_efiboot_SRCS := tools/lamina-install/efiboot.c tools/lamina-install/disk.c
