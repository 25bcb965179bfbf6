#!/usr/bin/env bash
# The disk of the qemu-install-trial scenario (tests/system/run.sh): a real
# GPT disk with one EFI system partition, as an installed Linux has, built
# without root or loop mounts (sfdisk, mkfs.fat and mtools on image files).
#
#   tests/system/install/image.sh IMG
#
# The ESP (FAT32, partition 1 from 1 MiB) holds:
#   \EFI\BOOT\BOOTX64.EFI    bootentry.efi (test-guests/bootentry.c), which on
#                            the first boot creates the firmware entry
#                            "Linux (test)" for the kernel below, as an OS
#                            installer does, and resets
#   \EFI\BOOT\bootentry.txt  that entry: description, path, options
#   \EFI\linux\vmlinuz       Debian's cloud kernel (make linux-guest)
#   \EFI\linux\initrd.img    the Linux test image's initramfs with a second
#                            archive appended (the kernel unpacks both, the
#                            later one over the earlier): /init from
#                            tests/system/install/init, lamina-install
#                            (static), /usr/lib/lamina/lamina.efi and the
#                            modules efivarfs, fat, vfat, nls_cp437 and
#                            nls_ascii from the same kernel package (the cloud
#                            kernel has them as modules, NVMe built in).
#
# Inputs: BUILD (default build): lamina.efi, lamina-install-static,
# test-guests/bootentry.efi, linux/{vmlinuz,initrd.img,version}, and the
# kernel's .deb in LINUX_CACHE (default BUILD/linux-cache).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
[ $# -eq 1 ] || { echo "usage: $0 IMG" >&2; exit 2; }
img=$1
build=$root/${BUILD:-build}
cache=${LINUX_CACHE:-$build/linux-cache}
die() { echo "install-image: $*" >&2; exit 1; }

# The options the firmware entry hands the kernel (and lamina-install must
# carry into lamina.conf).
KERNEL_OPTIONS='console=ttyS0,115200 initrd=\EFI\linux\initrd.img panic=-1'

for f in "$build/lamina.efi" "$build/lamina-install-static" "$build/test-guests/bootentry.efi" \
    "$build/linux/vmlinuz" "$build/linux/initrd.img" "$build/linux/version"; do
    [ -f "$f" ] || die "missing $f (run make all linux-guest)"
done
kver=$(cat "$build/linux/version")
kdeb=
for f in "$cache/linux-image-${kver}_"*.deb; do
    [ -f "$f" ] && kdeb=$f
done
[ -n "$kdeb" ] || die "no linux-image-${kver}_*.deb in $cache (run make linux-guest)"

work=$(mktemp -d "${TMPDIR:-/tmp}/lamina-install-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

# ---- the second initramfs archive
tree=$work/tree
mkdir -p "$tree"/{usr/sbin,usr/lib/lamina,lib/modules,boot/efi,mnt}
install -m 0755 "$here/init" "$tree/init"
install -m 0755 "$build/lamina-install-static" "$tree/usr/sbin/lamina-install"
install -m 0644 "$build/lamina.efi" "$tree/usr/lib/lamina/lamina.efi"
mods=(fs/efivarfs/efivarfs.ko fs/fat/fat.ko fs/fat/vfat.ko fs/nls/nls_cp437.ko fs/nls/nls_ascii.ko)
dpkg-deb --fsys-tarfile "$kdeb" |
    tar -x -C "$work" "${mods[@]/#/./lib/modules/$kver/kernel/}"
for m in "${mods[@]}"; do
    install -m 0644 "$work/lib/modules/$kver/kernel/$m" "$tree/lib/modules/${m##*/}"
done
python3 "$root/test-guests/linux/mkcpio.py" "$work/extra.img" "$tree"
cat "$build/linux/initrd.img" "$work/extra.img" >"$work/initrd.img"

# ---- the ESP: FAT32 of 62 MiB, 512-byte clusters (FAT32 wants >= 65525)
esp_sectors=$((62 * 2048))
export MTOOLS_SKIP_CHECK=1
rm -f "$work/esp.img"
mkfs.fat -F 32 -s 1 -h 2048 -n ESP -C "$work/esp.img" $((esp_sectors / 2)) >/dev/null
printf 'Linux (test)\n\\EFI\\linux\\vmlinuz\n%s\n' "$KERNEL_OPTIONS" >"$work/bootentry.txt"
mmd -i "$work/esp.img" ::/EFI ::/EFI/BOOT ::/EFI/linux
mcopy -i "$work/esp.img" "$build/test-guests/bootentry.efi" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$work/esp.img" "$work/bootentry.txt" ::/EFI/BOOT/bootentry.txt
mcopy -i "$work/esp.img" "$build/linux/vmlinuz" ::/EFI/linux/vmlinuz
mcopy -i "$work/esp.img" "$work/initrd.img" ::/EFI/linux/initrd.img

# ---- the disk: 64 MiB, GPT, the ESP as partition 1 (fixed GUIDs: the
# same image every run)
mkdir -p "$(dirname "$img")"
rm -f "$img"
truncate -s 64M "$img"
sfdisk --quiet "$img" <<EOF
label: gpt
label-id: 4c414d49-4e41-4449-534b-000000000001
start=2048, size=$esp_sectors, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=4c414d49-4e41-4553-5000-000000000001, name="EFI system partition"
EOF
dd if="$work/esp.img" of="$img" bs=512 seek=2048 conv=notrunc,sparse status=none
echo "install-image: $img: GPT, ESP partition 1 (4c414d49-4e41-4553-5000-000000000001), kernel $kver"
