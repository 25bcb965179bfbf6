#!/usr/bin/env bash
# Tests of tests/system/lib.sh's check helpers that need no emulator.
# Prints "tools: PASS/FAIL harness: ..." per check and "tools: harness: N
# passed, N failed" (tests/tools/run.sh adds up the tools tests).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pass=0
fail=0
ok() { echo "tools: PASS harness: $1"; pass=$((pass + 1)); }
bad() { echo "tools: FAIL harness: $1"; fail=$((fail + 1)); }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A serial log whose last line has no newline (a guest cut off mid-line):
# the tail that a failing check prints must not swallow the start of the
# next check's line, or run.sh, which counts lines starting with
# "system: PASS"/"system: FAIL", would miss that check.
mkdir -p "$tmp/system/s"
printf 'first line\nlast line without newline' >"$tmp/system/s/serial.log"
out=$(SYSTEM_BUILD=$tmp/system bash -c '
    . "$1/tests/system/lib.sh"
    expect_line s "no such line"
    expect_line s "^first line"
    expect_no_line s "^never"' _ "$root")
np=$(grep -c '^system: PASS ' <<<"$out")
nf=$(grep -c '^system: FAIL ' <<<"$out")
if [ "$np" -eq 2 ] && [ "$nf" -eq 1 ]; then
    ok "a failing check's log tail keeps the next check on its own line"
else
    bad "wanted 2 PASS and 1 FAIL lines at line starts, got $np and $nf:"$'\n'"$out"
fi

echo "tools: harness: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
