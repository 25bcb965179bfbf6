#!/usr/bin/env bash
# `make test-tools`: the tests of the build and test tools themselves
# (tests/tools/test-*.sh), none of which starts an emulator. Each prints
# "tools: PASS/FAIL ..." lines and "tools: NAME: N passed, N failed"; the
# last line is the total, "tools: N passed, N failed". A test that exits
# non-zero without reporting a failure counts as one failure.
set -uo pipefail

dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
total_p=0
total_f=0
for t in "$dir"/test-*.sh; do
    name=$(basename "$t" .sh)
    out=$(bash "$t" 2>&1)
    rc=$?
    printf '%s\n' "$out"
    line=$(grep -E '^tools: [^:]+: [0-9]+ passed, [0-9]+ failed' <<<"$out" | tail -n 1)
    p=$(sed -nE 's/^tools: [^:]+: ([0-9]+) passed, ([0-9]+) failed.*/\1/p' <<<"$line")
    f=$(sed -nE 's/^tools: [^:]+: ([0-9]+) passed, ([0-9]+) failed.*/\2/p' <<<"$line")
    if [ -z "$line" ]; then
        echo "tools: FAIL $name: no summary line (exit status $rc)"
        p=0 f=1
    elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "tools: FAIL $name: exit status $rc with no failure reported"
        f=1
    fi
    total_p=$((total_p + p))
    total_f=$((total_f + f))
done
echo "tools: $total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
