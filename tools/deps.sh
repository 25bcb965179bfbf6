#!/usr/bin/env bash
# Make sure the Debian packages Lamina builds and tests with are installed.
# As root: installs what is missing with apt-get. Otherwise: prints the command.
set -euo pipefail
pkgs=(gcc make binutils gnu-efi newlib-source ovmf qemu-system-x86 bochs bochsbios
      mtools dosfstools vgabios libcmocka-dev clang llvm xz-utils python3
      libc6-dev libclang-rt-dev g++ curl ca-certificates patch dpkg-dev fdisk lintian)
# g++, patch: upstream Bochs (tools/build-bochs.sh); curl, ca-certificates: its
# source download where ../shared/vendor/ is absent; dpkg-dev, fdisk, lintian:
# make deb and the install test.
# libclang-rt-dev: clang's sanitizer and libFuzzer runtimes (make fuzz); only a
# recommendation of clang, which --no-install-recommends below leaves out.
# dpkg-dev: dpkg-buildflags, for the hardened Linux tools (lamina-install),
# and dpkg-shlibdeps, for make deb; lintian checks that package.
# fdisk (sfdisk): the GPT disk of the qemu-install-trial system test.
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "lamina: missing Debian packages: ${missing[*]}" >&2
    echo "lamina: install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "lamina: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
