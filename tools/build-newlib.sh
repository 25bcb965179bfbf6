#!/usr/bin/env bash
# build-newlib.sh OUTDIR
#
# Builds newlib's libc for the monitor (freestanding x86_64, no vector or x87
# state) from Debian's newlib-source tarball with the host gcc/binutils, and
# installs it flat:  OUTDIR/include/*.h  and  OUTDIR/lib/libc.a.
#
# - Everything is compiled with -mgeneral-regs-only (without it, varargs
#   functions such as snprintf save %xmm registers on entry).
# - printf/scanf are integer-only, with long long and C99 formats (%zu %jx
#   %hhu); NOT nano formatted io, which mis-parses %llx.
# - The few float-only sources that gcc refuses to compile with
#   -mgeneral-regs-only (strtod/dtoa family, ecvt, ...) are compiled without
#   it by a compiler wrapper, and their objects are then deleted from libc.a.
# - Finally libc.a is disassembled and must contain no vector/x87 instruction.
#
# Scratch files go to <OUTDIR's parent>/newlib-work (after a good build only
# build.log and float-objs.txt stay). Skips the build if OUTDIR/lib/libc.a is
# newer than this script; concurrent callers are serialised with flock.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
script=$(readlink -f "${BASH_SOURCE[0]}")
tools_dir=$(dirname "$script")
mkdir -p "$1"
out=$(readlink -f "$1")
work=$(dirname "$out")/newlib-work
log=$work/build.log
libc=$out/lib/libc.a

up_to_date() { [ -f "$libc" ] && [ "$libc" -nt "$script" ] && [ -f "$out/include/string.h" ]; }
up_to_date && exit 0

# One build at a time per OUTDIR: a second caller (another make, a helper)
# waits here and then finds the library already built.
exec 9>"$(dirname "$out")/.newlib.lock"
flock 9
up_to_date && exit 0

shopt -s nullglob
tarballs=(/usr/src/newlib/newlib-*.tar.*)
shopt -u nullglob
if [ ${#tarballs[@]} -eq 0 ]; then
    echo "build-newlib: no /usr/src/newlib/newlib-*.tar.* (install Debian package newlib-source)" >&2
    exit 1
fi
tarball=$(printf '%s\n' "${tarballs[@]}" | sort -V | tail -n 1)   # newest version

for tool in gcc ar ranlib as ld nm objdump objcopy readelf make tar xz; do
    command -v "$tool" >/dev/null || { echo "build-newlib: $tool not found" >&2; exit 1; }
done

rm -rf "$work"
mkdir -p "$work"/src "$work"/obj "$work"/stage
: >"$log"

fail() {
    echo "build-newlib: FAILED: $*" >&2
    echo "build-newlib: last lines of $log:" >&2
    tail -n 40 "$log" >&2
    exit 1
}

start=$(date +%s)
echo "  newlib   $(basename "$tarball") -> $out (log: $log)"

# ------------------------------------------------------------------ source
tar -xf "$tarball" -C "$work/src" >>"$log" 2>&1 || fail "unpacking $tarball"
srcdir=$(find "$work/src" -mindepth 2 -maxdepth 2 -name configure -printf '%h\n' | head -n 1)
[ -n "$srcdir" ] && [ -d "$srcdir/newlib" ] || fail "no newlib tree with a top-level configure in $tarball"

# ---------------------------------------------------------- compiler wrapper
# Compiles with the flags as given. If gcc rejects a source only because it
# needs SSE/x87 registers (which -mgeneral-regs-only forbids), the source is
# recompiled without -mgeneral-regs-only and its object recorded in
# float-objs.txt, so that it can be removed from libc.a afterwards.
cat >"$work/cc-wrap" <<'EOF'
#!/usr/bin/env bash
set -uo pipefail
err=$(mktemp)
trap 'rm -f "$err"' EXIT
if gcc "$@" 2>"$err"; then cat "$err" >&2; exit 0; fi
if ! grep -qE '(SSE|x87) register (return|argument)|with (SSE|x87) disabled|(SSE|x87) disabled' "$err"; then
    cat "$err" >&2; exit 1
fi
obj=""; src=""; prev=""; args=()
for a in "$@"; do
    [ "$prev" = -o ] && obj=$a
    case $a in *.c|*.S|*.s) src=$a ;; esac
    [ "$a" = -mgeneral-regs-only ] || args+=("$a")
    prev=$a
done
[ -n "$obj" ] || obj=$(basename "${src%.*}").o
echo "cc-wrap: $PWD/$obj needs SSE/x87: built without -mgeneral-regs-only, to be dropped" >&2
gcc "${args[@]}" || exit 1
echo "$PWD/$obj" >>"$LAMINA_FLOAT_OBJS"
EOF
chmod +x "$work/cc-wrap"
export LAMINA_FLOAT_OBJS=$work/float-objs.txt
: >"$LAMINA_FLOAT_OBJS"

# ----------------------------------------------------------------- configure
tflags="-O2 -fpic -ffreestanding -fno-stack-protector -mno-red-zone -mgeneral-regs-only"
tflags+=" -fno-asynchronous-unwind-tables -fno-unwind-tables"
tflags+=" -Wa,--noexecstack"     # newlib assembles its .S files with CFLAGS
(
    cd "$work/obj"
    "$srcdir/configure" \
        --target=x86_64-elf --prefix="$work/stage" --disable-multilib \
        --disable-newlib-io-float --enable-newlib-io-long-long \
        --enable-newlib-io-c99-formats --enable-newlib-reent-small \
        --disable-newlib-multithread --disable-newlib-wide-orient \
        --enable-lite-exit \
        CC_FOR_TARGET="$work/cc-wrap" \
        AR_FOR_TARGET=ar RANLIB_FOR_TARGET=ranlib AS_FOR_TARGET=as \
        LD_FOR_TARGET=ld NM_FOR_TARGET=nm OBJDUMP_FOR_TARGET=objdump \
        OBJCOPY_FOR_TARGET=objcopy STRIP_FOR_TARGET=strip READELF_FOR_TARGET=readelf \
        CFLAGS_FOR_TARGET="$tflags" CCASFLAGS_FOR_TARGET="$tflags" \
        MAKEINFO=true
) >>"$log" 2>&1 || fail "configure"

# --------------------------------------------------------------------- build
make -C "$work/obj" -j2 MAKEINFO=true all-target-newlib >>"$log" 2>&1 || fail "make all-target-newlib"
make -C "$work/obj" -j1 MAKEINFO=true install-target-newlib >>"$log" 2>&1 || fail "make install-target-newlib"

sysroot=$work/stage/x86_64-elf
[ -f "$sysroot/lib/libc.a" ] && [ -f "$sysroot/include/string.h" ] || fail "install did not produce $sysroot/{lib/libc.a,include/string.h}"

# ---------------------------------------------- drop the float-only objects
# libc.a is flat (members are named by object basename) and also takes some
# objects from the libm tree (s_copysign, s_frexp, ...). A recorded object is
# dropped only if the libc.a member of that name is byte-identical to it, so a
# same-named object that compiled fine elsewhere is never removed by mistake.
members=$(ar t "$sysroot/lib/libc.a")
drop=()
while read -r f; do
    [ -f "$f" ] || continue
    b=$(basename "$f")
    grep -qxF "$b" <<<"$members" || continue
    if ar p "$sysroot/lib/libc.a" "$b" | cmp -s - "$f"; then
        drop+=("$b")
    else
        echo "note: $f is float-only but libc.a member $b differs; kept" >>"$log"
    fi
done < <(sort -u "$LAMINA_FLOAT_OBJS")
if [ ${#drop[@]} -gt 0 ]; then
    echo "dropping from libc.a: ${drop[*]}" >>"$log"
    ar d "$sysroot/lib/libc.a" "${drop[@]}" >>"$log" 2>&1 || fail "ar d"
    ranlib "$sysroot/lib/libc.a"
fi

# ------------------------------------------------- no vector or x87 code left
if ! bad=$(bash "$tools_dir/check-no-vector.sh" "$sysroot/lib/libc.a" 2>&1); then
    echo "build-newlib: FAILED: libc.a contains vector/x87 instructions:" >&2
    printf '%s\n' "$bad" >&2
    exit 1
fi

# ------------------------------------------------------------ flat install
# libc.a goes in last, so an interrupted copy never looks up to date.
rm -rf "$out/include" "$out/lib"
mkdir -p "$out/lib"
cp -a "$sysroot/include" "$out/include"
cp "$sysroot/lib/libc.a" "$out/lib/libc.a.tmp"
mv "$out/lib/libc.a.tmp" "$libc"

# The tree is rebuilt from scratch every time: keep only the log.
rm -rf "$work/src" "$work/obj" "$work/stage" "$work/cc-wrap"

secs=$(( $(date +%s) - start ))
echo "  newlib   built $libc ($(stat -c %s "$libc") bytes, ${#drop[@]} float-only objects dropped) in ${secs}s"
