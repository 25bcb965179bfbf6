#!/usr/bin/env bash
# Build Lamina's Linux test guest from Debian packages.
#
#   test-guests/linux/build.sh OUTDIR
#
# Produces OUTDIR/vmlinuz (the EFI-stub kernel of Debian's cloud kernel, the
# package linux-image-cloud-amd64 currently depends on) and OUTDIR/initrd.img
# (gzip'd newc cpio: busybox-static, the workload program, lamina-ctl and /init; no
# kernel modules), and prints the kernel version (also in OUTDIR/version).
#
# The .deb files are kept in LINUX_CACHE (default build/linux-cache) and
# reused while they are still the candidate versions. Downloading needs root
# (apt-get download); with the .debs cached, no root is needed. No mounts,
# no loop devices: dpkg-deb -x, and mkcpio.py for the archive.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
out=$1
cache=${LINUX_CACHE:-$root/${BUILD:-build}/linux-cache}
meta=linux-image-cloud-amd64
CC=${CC:-gcc}

say() { echo "linux-guest: $*"; }
die() { echo "linux-guest: error: $*" >&2; exit 1; }

for tool in apt-cache apt-get dpkg-deb python3 "$CC"; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
# gcc -static needs glibc's static libraries (libc6-dev).
case $("$CC" -print-file-name=libc.a) in
*/*) ;;
*) die "no static libc.a for $CC: install libc6-dev" ;;
esac

apt_update_done=0
apt_update() {
    [ $apt_update_done -eq 0 ] || return 1
    [ "$(id -u)" -eq 0 ] || die "package lists missing or stale; run apt-get update as root"
    say "apt-get update (package lists missing or stale)"
    apt-get update -qq
    apt_update_done=1
}

# The kernel image package the metapackage depends on, e.g.
# linux-image-6.1.0-56-cloud-amd64.
resolve_kernel() {
    apt-cache depends "$meta" 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-.*-cloud-amd64$/ { print $2; exit }'
}
kpkg=$(resolve_kernel || true)
if [ -z "$kpkg" ]; then
    apt_update || true
    kpkg=$(resolve_kernel || true)
fi
[ -n "$kpkg" ] || die "cannot resolve the package $meta depends on (apt-cache depends $meta)"
say "$meta depends on $kpkg"

# Newest cached .deb of PKG, or nothing.
newest_cached() { # PKG
    local f best=
    for f in "$cache/${1}_"*.deb; do
        [ -f "$f" ] || continue
        if [ -z "$best" ] || [ "$f" -nt "$best" ]; then best=$f; fi
    done
    printf '%s\n' "$best"
}

# Cached .deb for PKG when it is the candidate version, else download it.
# Prints the .deb's path.
fetch_deb() { # PKG
    local pkg=$1 uri file
    # --print-uris names the file the candidate version would be saved as
    # (asked from an empty directory: it prints nothing for a file present).
    uri=$(cd "$stage/empty" && apt-get download --print-uris "$pkg" 2>/dev/null | head -n1) || uri=
    file=$(printf '%s\n' "$uri" | awk '{ print $2 }')
    if [ -n "$file" ] && [ -s "$cache/$file" ]; then
        say "cached: $file" >&2
        printf '%s\n' "$cache/$file"
        return 0
    fi
    if [ -z "$file" ]; then
        # apt cannot name the candidate (no lists): use whatever is cached.
        local old
        old=$(newest_cached "$pkg")
        if [ -n "$old" ]; then
            say "cannot ask apt about $pkg; using cached $(basename "$old")" >&2
            printf '%s\n' "$old"
            return 0
        fi
    fi
    [ "$(id -u)" -eq 0 ] || die "$pkg is not in $cache and downloading needs root (apt-get download)"
    say "downloading $pkg" >&2
    local t0=$SECONDS
    # Sandbox user root: _apt cannot write into a root-owned cache dir.
    if ! (cd "$cache" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2); then
        apt_update >&2 || die "apt-get download $pkg failed"
        (cd "$cache" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2) ||
            die "apt-get download $pkg failed"
        uri=$(cd "$stage/empty" && apt-get download --print-uris "$pkg" 2>/dev/null | head -n1) || uri=
        file=$(printf '%s\n' "$uri" | awk '{ print $2 }')
    fi
    local deb=$cache/$file
    [ -n "$file" ] && [ -s "$deb" ] || deb=$(newest_cached "$pkg")
    [ -n "$deb" ] || die "apt-get download $pkg left no .deb in $cache"
    say "downloaded $(basename "$deb") in $((SECONDS - t0)) s" >&2
    printf '%s\n' "$deb"
}

mkdir -p "$cache" "$out"
stage=$(mktemp -d "${TMPDIR:-/tmp}/lamina-linux.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/empty"

kdeb=$(fetch_deb "$kpkg")
bdeb=$(fetch_deb busybox-static)

# Only /boot of the kernel package: the initramfs carries no modules.
mkdir -p "$stage/kernel" "$stage/busybox"
dpkg-deb --fsys-tarfile "$kdeb" | tar -x -C "$stage/kernel" --wildcards './boot/vmlinuz-*'
dpkg-deb -x "$bdeb" "$stage/busybox"

vmlinuz=
for f in "$stage"/kernel/boot/vmlinuz-*; do
    [ -f "$f" ] && vmlinuz=$f
done
[ -n "$vmlinuz" ] || die "no /boot/vmlinuz-* in $(basename "$kdeb")"
kver=${vmlinuz##*/vmlinuz-}
# The EFI stub makes the bzImage a PE/COFF image: "MZ" at 0, PE header at [0x3c].
[ "$(head -c2 "$vmlinuz")" = MZ ] || die "$vmlinuz is not an EFI-stub (PE) image"

busybox=$stage/busybox/bin/busybox
[ -x "$busybox" ] || die "no /bin/busybox in $(basename "$bdeb")"

# The initramfs tree: /init, /bin/busybox with a link per applet, the workload,
# lamina-ctl.
tree=$stage/tree
mkdir -p "$tree"/{bin,dev,proc,sys,tmp,root}
install -m 0755 "$busybox" "$tree/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$tree/bin/$applet"
done
install -m 0755 "$here/init" "$tree/init"
"$CC" -static -O2 -std=gnu11 -Wall -Wextra -Werror -o "$tree/bin/workload" "$here/workload.c"
strip "$tree/bin/workload"
# lamina-ctl includes the public ABI header, core/lamina_hypercall.h.
"$CC" -static -O2 -std=gnu11 -Wall -Wextra -Werror -I"$root" -o "$tree/bin/lamina-ctl" \
    "$here/lamina-ctl.c"
strip "$tree/bin/lamina-ctl"
chmod 1777 "$tree/tmp"

python3 "$here/mkcpio.py" "$stage/initrd.img" "$tree" --node dev/console:c:5:1:600
install -m 0644 "$vmlinuz" "$out/vmlinuz.tmp"
mv -f "$out/vmlinuz.tmp" "$out/vmlinuz"
mv -f "$stage/initrd.img" "$out/initrd.img"
chmod 0644 "$out/initrd.img"
echo "$kver" >"$out/version"

say "vmlinuz    $(stat -c %s "$out/vmlinuz") bytes"
say "initrd.img $(stat -c %s "$out/initrd.img") bytes"
say "kernel $kver"
