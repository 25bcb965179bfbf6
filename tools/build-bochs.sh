#!/usr/bin/env bash
# Build upstream Bochs (a pinned commit, with the VMX fixes Debian's 2.7 lacks
# and the fw_cfg device that gives OVMF ACPI tables) into a cache outside the
# tree, and print the directory that holds it:
#
#   tools/build-bochs.sh                 build unless cached; print the dir
#   tools/build-bochs.sh --print-dir     print the dir it would use (no build)
#   tools/build-bochs.sh --verify-vendor TARBALL
#   tools/build-bochs.sh --verify-archive TARBALL
#       Check a source tarball the way a build does (the vendor copy: its own
#       SHA-256 and the tree's; any other archive, e.g. GitHub's: the tree's
#       only), print "ok" or the refusal, exit 0 or 1. For the tests.
#
# The cache dir, ${LAMINA_CACHE:-/var/cache/lamina}/bochs-<key>/, holds
#   bin/bochs                       the emulator (nogui, no debugger)
#   share/bochs/                    its BIOS and VGA ROM images
#   inputs                          what the key was computed from
#   build.log, build-seconds        the configure/make output, wall time
#   cpu-models                      what `bochs -help cpu` lists
# <key> is a hash of the source tree's content hash, the patches, the
# configure flags, the compiler version and this script itself: change any of
# them and the next
# run builds a new dir from nothing. The build happens in a temporary dir
# next to it, under an flock, and is renamed into place whole: a reader sees
# the complete dir or none, and concurrent runs build it once.
#
# Patches: tools/bochs-patches/*.patch, applied in name order (patch -p1 in
# the tree's top dir) after the hashes are checked. Each fixes an emulator
# defect against the SDM (the header of each says which); the project fixes
# the test platform, not the product, where the two disagree.
#
# Source, in this order:
#   1. BOCHS_TARBALL, if set (checked as a vendor tarball when its SHA-256 is
#      the vendor one, else as an archive);
#   2. ../shared/vendor/bochs-783b58fd6.tar.xz beside the project (the
#      vendor copy: both hashes checked);
#   3. otherwise GitHub's archive of the same commit, downloaded with curl
#      (tree hash checked: GitHub's tarball is not byte-identical).
# A hash that does not match refuses the build and says which.
#
# Environment: LAMINA_CACHE (default /var/cache/lamina as root, else
# ~/.cache/lamina), BOCHS_TARBALL, BOCHS_JOBS (default: nproc).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
self="$root/tools/build-bochs.sh"

BOCHS_COMMIT=783b58fd6d9bae598a07c59719122322fa0edce6
# sha256sum of ../shared/vendor/bochs-783b58fd6.tar.xz (git archive, xz).
VENDOR_SHA256=e1c61d3d16ca5038f48658a43b1c5aa9a20d7697a4a26c7a5cfb99c7feb3a471
VENDOR_TARBALL=$root/../shared/vendor/bochs-783b58fd6.tar.xz
ARCHIVE_URL=https://github.com/bochs-emu/Bochs/archive/$BOCHS_COMMIT.tar.gz
# Content hash of the bochs/ tree at that commit (tree_hash below), less
# bochs/bios/OVMF/RELEASEX64_OVMF.fd, which the vendor copy leaves out.
TREE_SHA256=fc1363cc5b16456923ed9c7ff57c6c75dba26e6b155ca0fcb141bc69482edc2f
TREE_EXCLUDE=bochs/bios/OVMF/RELEASEX64_OVMF.fd
PATCH_DIR=$root/tools/bochs-patches

# What the tests need: x86-64, SMP, VMX with EPT & co (level 2), SVM, AVX and
# EVEX (Skylake-X and later models), PCI (i440FX, which fw_cfg needs); no
# GUI, no debugger (no prompt to answer), no USB, no docs.
CONFIGURE_FLAGS=(--with-nogui --enable-x86-64 --enable-smp --enable-cpu-level=6
    --enable-vmx=2 --enable-svm --enable-avx --enable-evex --enable-pci
    --enable-all-optimizations --enable-x86-debugger --disable-debugger --enable-usb=no --disable-docbook)

# Root's default is machine-wide; another user's is their own.
if [ "$(id -u)" -eq 0 ]; then
    cache=${LAMINA_CACHE:-/var/cache/lamina}
else
    cache=${LAMINA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lamina}
fi

say() { echo "build-bochs: $*" >&2; }
die() { say "$*"; exit 1; }

# Content hash of the source tree under DIR (which holds bochs/): SHA-256 of
# the sha256sum lines of every regular file below bochs/ but TREE_EXCLUDE,
# sorted by path, followed by the sorted paths of the executable ones. Any
# symlink or special file fails the hash (git archive of this commit has none).
tree_hash() { # DIR
    local dir=$1 odd
    [ -d "$dir/bochs" ] || { echo "no-bochs-dir"; return 0; }
    odd=$(cd "$dir" && find bochs ! -type f ! -type d -print -quit)
    if [ -n "$odd" ]; then
        echo "not-a-regular-file:$odd"
        return 0
    fi
    (
        cd "$dir"
        find bochs -type f ! -path "$TREE_EXCLUDE" -print0 | LC_ALL=C sort -z |
            xargs -0 -r sha256sum --
        echo "executable:"
        find bochs -type f ! -path "$TREE_EXCLUDE" -perm -u+x -print0 | LC_ALL=C sort -z |
            tr '\0' '\n'
    ) | sha256sum | cut -c1-64
}

# Unpack TARBALL into DEST and check it; KIND vendor (tarball hash too) or
# archive (tree hash only). On success the tree is DEST/src/bochs/.
unpack_verified() { # TARBALL KIND DEST
    local tarball=$1 kind=$2 dest=$3 got top
    [ -f "$tarball" ] || die "no source tarball at $tarball"
    if [ "$kind" = vendor ]; then
        got=$(sha256sum <"$tarball" | cut -c1-64)
        if [ "$got" != "$VENDOR_SHA256" ]; then
            die "REFUSED: $tarball has SHA-256 $got, not the pinned $VENDOR_SHA256"
        fi
    fi
    mkdir -p "$dest/unpack"
    tar -xf "$tarball" -C "$dest/unpack" --no-same-owner ||
        die "REFUSED: $tarball does not unpack"
    # One top-level dir (git archive --prefix, or GitHub's Bochs-<commit>/).
    mapfile -t top < <(find "$dest/unpack" -mindepth 1 -maxdepth 1)
    if [ "${#top[@]}" -ne 1 ] || [ ! -d "${top[0]}/bochs" ]; then
        die "REFUSED: $tarball does not hold one top-level dir with bochs/ in it"
    fi
    got=$(tree_hash "${top[0]}")
    if [ "$got" != "$TREE_SHA256" ]; then
        die "REFUSED: the bochs/ tree in $tarball has content hash $got, not the pinned $TREE_SHA256 (commit $BOCHS_COMMIT)"
    fi
    mv "${top[0]}" "$dest/src"
    rmdir "$dest/unpack"
}

# Where the source comes from: prints "KIND PATH" (PATH may be a URL).
source_of() {
    if [ -n "${BOCHS_TARBALL:-}" ]; then
        if [ -f "$BOCHS_TARBALL" ] &&
            [ "$(sha256sum <"$BOCHS_TARBALL" | cut -c1-64)" = "$VENDOR_SHA256" ]; then
            echo "vendor $BOCHS_TARBALL"
        else
            echo "archive $BOCHS_TARBALL"
        fi
    elif [ -f "$VENDOR_TARBALL" ]; then
        echo "vendor $VENDOR_TARBALL"
    else
        echo "download $ARCHIVE_URL"
    fi
}

compiler_version() { g++ --version 2>/dev/null | head -n 1 || echo none; }

# The inputs the cache key is made of, one per line.
inputs() {
    echo "bochs-commit $BOCHS_COMMIT"
    echo "tree-sha256 $TREE_SHA256"
    local p
    for p in "$PATCH_DIR"/*.patch; do
        [ -f "$p" ] && echo "patch $(basename "$p") $(sha256sum <"$p" | cut -c1-64)"
    done
    echo "configure ${CONFIGURE_FLAGS[*]}"
    echo "compiler $(compiler_version)"
    echo "script-sha256 $(sha256sum <"$self" | cut -c1-64)"
}

cache_dir() {
    printf '%s/bochs-%s\n' "$cache" "$(inputs | sha256sum | cut -c1-16)"
}

case ${1:-} in
--print-dir)
    cache_dir
    exit 0
    ;;
--verify-vendor | --verify-archive)
    [ $# -eq 2 ] || die "usage: $0 $1 TARBALL"
    kind=${1#--verify-}
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    # A subshell: die exits it, not the trap's shell.
    if (unpack_verified "$2" "$kind" "$tmp"); then
        echo ok
        exit 0
    fi
    exit 1
    ;;
--tree-hash)
    # Print the content hash of the bochs/ tree under DIR (to pin a new commit).
    [ $# -eq 2 ] || die "usage: $0 --tree-hash DIR"
    tree_hash "$2"
    exit 0
    ;;
"") ;;
*) die "unknown option $1 (see the header of $0)" ;;
esac

out=$(cache_dir)
if [ -x "$out/bin/bochs" ]; then
    echo "$out"
    exit 0
fi

mkdir -p "$cache" || die "cannot create the cache dir $cache (set LAMINA_CACHE)"
exec {lockfd}>>"$out.lock"
if ! flock -n "$lockfd"; then
    say "another build of $out is under way, waiting for it"
    flock "$lockfd"
fi
if [ -x "$out/bin/bochs" ]; then # built by the run we waited for
    echo "$out"
    exit 0
fi

command -v g++ >/dev/null || die "no C++ compiler (g++): run tools/deps.sh"
# Under the lock, a build dir of this key is a killed run's leftover.
rm -rf "$out".build.*
work=$(mktemp -d "$out.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$SECONDS
read -r kind src < <(source_of)
if [ "$kind" = download ]; then
    say "no vendor tarball at $VENDOR_TARBALL: downloading $src"
    command -v curl >/dev/null || die "no curl to download $src: run tools/deps.sh"
    curl -fsSL --retry 3 -o "$work/bochs.tar.gz" "$src" || die "download of $src failed"
    src=$work/bochs.tar.gz
    kind=archive
fi
say "source: $src ($kind), checking its hashes"
unpack_verified "$src" "$kind" "$work"

for p in "$PATCH_DIR"/*.patch; do
    [ -f "$p" ] || continue
    say "applying $(basename "$p")"
    patch -d "$work/src" -p1 --quiet --forward <"$p" >"$work/patch.log" 2>&1 ||
        { sed 's/^/    | /' "$work/patch.log" >&2; die "patch $(basename "$p") does not apply"; }
done

say "building into $out (log: $work/build.log while it runs; about 5 minutes on 2 cores)"
jobs=${BOCHS_JOBS:-$(nproc)}
if ! (cd "$work/src/bochs" &&
    ./configure --prefix=/usr/local "${CONFIGURE_FLAGS[@]}" &&
    make -j"$jobs") >"$work/build.log" 2>&1; then
    tail -n 30 "$work/build.log" | sed 's/^/    | /' >&2
    die "the build failed (log above)"
fi

stage=$work/out
mkdir -p "$stage/bin" "$stage/share/bochs"
install -m 755 "$work/src/bochs/bochs" "$stage/bin/bochs"
# The ROM images a bochsrc may name: the legacy BIOS, the i440FX BIOS and the
# LGPL VGA BIOS (the tests boot Debian's OVMF as the system ROM).
for f in BIOS-bochs-latest BIOS-bochs-legacy i440fx/i440fx.bin \
    VGABIOS-lgpl/VGABIOS-lgpl-latest.bin VGABIOS-lgpl/VGABIOS-lgpl-latest-cirrus.bin; do
    install -m 644 "$work/src/bochs/bios/$f" "$stage/share/bochs/"
done
cp "$work/build.log" "$stage/build.log"
inputs >"$stage/inputs"
echo $((SECONDS - start)) >"$stage/build-seconds"
# The CPU models this build offers (bochs -help cpu), for the record.
timeout 20 "$stage/bin/bochs" -help cpu </dev/null >"$stage/cpu-models" 2>&1 || true
mv -T "$stage" "$out"
say "built $out in $((SECONDS - start))s"
echo "$out"
