FUZZ_TARGETS += fuzz_efiboot
fuzz_efiboot_SRCS := tools/lamina-install/efiboot.c tools/lamina-install/disk.c
