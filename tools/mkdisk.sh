#!/usr/bin/env bash
# Build a flat FAT16 disk image (no partition table) that OVMF boots from,
# without root and without loop mounts: mkfs.fat + mtools.
#
#   tools/mkdisk.sh IMG [--size-blocks N] SRC:DEST ...
#
#   IMG             image to create (overwritten)
#   --size-blocks N size in blocks of 516096 bytes (16 heads x 63 sectors x 512,
#                   the geometry Bochs derives from the size; default 100 = 49 MiB)
#   SRC:DEST        copy host file SRC to DEST on the image; DEST may be written
#                   with / or \ (e.g. '\EFI\BOOT\BOOTX64.EFI'); missing
#                   directories are created. Split at the last ':'.
set -euo pipefail

usage() {
    echo "usage: $0 IMG [--size-blocks N] SRC:DEST ..." >&2
    exit 2
}

[ $# -ge 1 ] || usage
img=$1
shift
blocks=100
files=()
while [ $# -gt 0 ]; do
    case $1 in
    --size-blocks)
        [ $# -ge 2 ] || usage
        blocks=$2
        shift 2
        ;;
    --size-blocks=*)
        blocks=${1#*=}
        shift
        ;;
    -h | --help)
        usage
        ;;
    *:*)
        files+=("$1")
        shift
        ;;
    *)
        echo "mkdisk: '$1' is not SRC:DEST" >&2
        usage
        ;;
    esac
done
case $blocks in
'' | *[!0-9]*)
    echo "mkdisk: --size-blocks wants a number, got '$blocks'" >&2
    exit 2
    ;;
esac
# FAT16 needs at least 4085 clusters; with its default cluster size
# mkfs.fat refuses anything below 17 blocks (8.4 MiB).
if [ "$blocks" -lt 17 ]; then
    echo "mkdisk: --size-blocks $blocks is too small for FAT16 (min 17)" >&2
    exit 2
fi

for f in "${files[@]}"; do
    src=${f%:*}
    if [ ! -f "$src" ]; then
        echo "mkdisk: no such file: $src" >&2
        exit 1
    fi
done

# The image is a "superfloppy": mtools would otherwise check that the size
# matches a floppy geometry.
export MTOOLS_SKIP_CHECK=1

rm -f "$img"
# Sparse: an image costs disk space only for the blocks written.
truncate -s $((blocks * 516096)) "$img"
mkfs.fat -F 16 -n LAMINA -g 16/63 "$img" >/dev/null

declare -A made=()
for f in "${files[@]}"; do
    src=${f%:*}
    dest=${f##*:}
    dest=${dest//\\//}           # backslashes -> slashes
    dest=/${dest#/}              # always absolute
    dir=${dest%/*}
    # Create each missing parent directory, outermost first.
    path=
    IFS=/ read -r -a parts <<<"${dir#/}"
    for part in "${parts[@]}"; do
        [ -n "$part" ] || continue
        path=$path/$part
        if [ -z "${made[$path]:-}" ]; then
            mmd -i "$img" "::$path" 2>/dev/null || true
            made[$path]=1
        fi
    done
    mcopy -o -i "$img" "$src" "::$dest"
done
