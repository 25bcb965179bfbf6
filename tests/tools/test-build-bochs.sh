#!/usr/bin/env bash
# Tests of tools/build-bochs.sh's source verification, on local tarballs made
# from the vendor copy (no network): the vendor tarball passes both checks;
# the same tree packed another way (GitHub's layout: another top-level dir
# name, gzip, other files beside bochs/, the OVMF image the vendor copy leaves
# out) passes the tree check and fails the vendor one; a tree that differs by
# one byte, one mode bit, one file more or less, or a symlink is refused.
# Also: the cache dir is keyed by the script's inputs.
#
# Prints "tools: PASS/FAIL build-bochs: ..." per check and "tools:
# build-bochs: N passed, N failed" (tests/tools/run.sh adds up the tools tests).
# Needs ../shared/vendor/bochs-783b58fd6.tar.xz beside the project (or
# BOCHS_VENDOR_TARBALL); without it every check is skipped and reported.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
script=$root/tools/build-bochs.sh
vendor=${BOCHS_VENDOR_TARBALL:-$root/../shared/vendor/bochs-783b58fd6.tar.xz}
commit=783b58fd6d9bae598a07c59719122322fa0edce6
pass=0
fail=0

ok() { echo "tools: PASS build-bochs: $1"; pass=$((pass + 1)); }
bad() { echo "tools: FAIL build-bochs: $1"; fail=$((fail + 1)); }

if [ ! -f "$vendor" ]; then
    echo "tools: FAIL build-bochs: no vendor tarball at $vendor to test with"
    echo "tools: build-bochs: 0 passed, 1 failed"
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect_verdict WHAT KIND TARBALL ok|refused [REGEX in the refusal]
expect_verdict() {
    local what=$1 kind=$2 tarball=$3 want=$4 re=${5:-} out rc
    out=$(bash "$script" "--verify-$kind" "$tarball" 2>&1)
    rc=$?
    if [ "$want" = ok ]; then
        if [ "$rc" -eq 0 ] && [ "$out" = ok ]; then
            ok "$what: accepted"
        else
            bad "$what: wanted acceptance, got rc $rc: $out"
        fi
        return
    fi
    if [ "$rc" -ne 0 ] && grep -q '^build-bochs: REFUSED: ' <<<"$out" &&
        { [ -z "$re" ] || grep -Eq -- "$re" <<<"$out"; }; then
        ok "$what: refused ($(grep -m1 '^build-bochs: REFUSED: ' <<<"$out" | cut -c23-140)...)"
    else
        bad "$what: wanted a refusal${re:+ matching /$re/}, got rc $rc: $out"
    fi
}

# The vendor tree, unpacked once; each case copies it to G (GitHub's layout).
tar -xJf "$vendor" -C "$tmp"
src=$tmp/bochs-783b58fd6
[ -f "$src/bochs/configure" ] || { bad "the vendor tarball unpacks to $src/bochs"; }
G=Bochs-$commit

# fresh: a copy of the vendor tree at $tmp/case/$G; pack NAME [gz]: that
# copy as a tarball (gz: gzip, as GitHub serves it; else plain tar, faster).
fresh() {
    rm -rf "$tmp/case"
    mkdir -p "$tmp/case"
    cp -a "$src" "$tmp/case/$G"
}
pack() { # NAME [gz]
    local out=$tmp/$1.tar z=
    [ "${2:-}" = gz ] && { out=$out.gz; z=-z; }
    tar -c $z -f "$out" -C "$tmp/case" --sort=name --mtime=@0 --owner=0 --group=0 "$G"
    printf '%s\n' "$out"
}

# 1. The vendor tarball: both hashes.
expect_verdict "vendor tarball as vendor" vendor "$vendor" ok
expect_verdict "vendor tarball as archive" archive "$vendor" ok

# 2. Re-packed GitHub-style, with what GitHub's archive has and the vendor
# copy lacks: the OVMF image left out of the hash, and files beside bochs/.
fresh
mkdir -p "$tmp/case/$G/.github/workflows"
echo "name: ci" >"$tmp/case/$G/.github/workflows/ci.yml"
head -c 4096 /dev/urandom >"$tmp/case/$G/bochs/bios/OVMF/RELEASEX64_OVMF.fd"
touch -d @12345 "$tmp/case/$G/bochs/configure"   # times are not content
t=$(pack github-layout gz)
expect_verdict "same tree, GitHub layout (gzip, other prefix, extra files)" archive "$t" ok
expect_verdict "same tree re-packed, checked as the vendor tarball" vendor "$t" refused \
    'has SHA-256 [0-9a-f]{64}, not the pinned'

# 3. One byte different in one source file.
fresh
f=$tmp/case/$G/bochs/cpu/vmx.cc
printf '%s' "$(head -c 1 "$f" | tr 'a-z/#' 'b-za*%')" | dd of="$f" bs=1 count=1 conv=notrunc status=none
cmp -s "$f" "$src/bochs/cpu/vmx.cc" && bad "setup: the byte did not change"
t=$(pack one-byte)
expect_verdict "one byte changed in bochs/cpu/vmx.cc" archive "$t" refused 'content hash [0-9a-f]{64}, not the pinned'

# 4. One byte appended to the last file.
fresh
printf 'x' >>"$tmp/case/$G/bochs/plugin.h"
t=$(pack one-byte-more)
expect_verdict "one byte appended to bochs/plugin.h" archive "$t" refused 'content hash'

# 5. The executable bit of configure dropped.
fresh
chmod -x "$tmp/case/$G/bochs/configure"
t=$(pack mode)
expect_verdict "configure no longer executable" archive "$t" refused 'content hash'

# 6. A file added, a file removed, a file renamed.
fresh
echo 'int x;' >"$tmp/case/$G/bochs/cpu/extra.cc"
t=$(pack added)
expect_verdict "one file added under bochs/" archive "$t" refused 'content hash'
fresh
rm "$tmp/case/$G/bochs/cpu/apic.cc"
t=$(pack removed)
expect_verdict "one file removed" archive "$t" refused 'content hash'
fresh
mv "$tmp/case/$G/bochs/cpu/apic.cc" "$tmp/case/$G/bochs/cpu/apic2.cc"
t=$(pack renamed)
expect_verdict "one file renamed" archive "$t" refused 'content hash'

# 7. A symlink in the tree (a git archive of this commit has none).
fresh
ln -s /etc/passwd "$tmp/case/$G/bochs/cpu/link.cc"
t=$(pack symlink)
expect_verdict "a symlink added" archive "$t" refused 'not-a-regular-file'

# 8. Not one top-level dir, and not a tarball at all.
fresh
echo stray >"$tmp/case/stray.txt"
tar -czf "$tmp/two-tops.tar.gz" -C "$tmp/case" "$G" stray.txt
expect_verdict "two top-level entries" archive "$tmp/two-tops.tar.gz" refused 'one top-level dir'
head -c 1000 /dev/urandom >"$tmp/noise.tar.gz"
expect_verdict "random bytes" archive "$tmp/noise.tar.gz" refused 'does not unpack'

# 9. The cache key: the same inputs give the same dir; another cache root
# moves it; the script's own content is part of the key.
d1=$(LAMINA_CACHE=$tmp/c1 bash "$script" --print-dir)
d2=$(LAMINA_CACHE=$tmp/c1 bash "$script" --print-dir)
d3=$(LAMINA_CACHE=$tmp/c2 bash "$script" --print-dir)
mkdir -p "$tmp/tools" && cp "$script" "$tmp/tools/build-bochs.sh" && echo '# changed' >>"$tmp/tools/build-bochs.sh"
d4=$(LAMINA_CACHE=$tmp/c1 bash "$tmp/tools/build-bochs.sh" --print-dir)
if [ "$d1" = "$d2" ] && [[ $d1 == "$tmp/c1/bochs-"* ]] && [ "$d3" = "$tmp/c2/${d1##*/}" ] &&
    [ "$d4" != "$d1" ]; then
    ok "cache key: stable, under LAMINA_CACHE, changes with the script ($d1, $d4)"
else
    bad "cache key: d1=$d1 d2=$d2 d3=$d3 d4=$d4"
fi

echo "tools: build-bochs: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
