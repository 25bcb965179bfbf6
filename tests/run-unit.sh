#!/usr/bin/env bash
# run-unit.sh BIN...  -  run cmocka unit-test binaries and total the results.
#
# Shows each binary's output. Sums cmocka's "[  PASSED  ] N test(s)." and
# "[  FAILED  ] N test(s)" summary lines over all binaries (a binary may run
# several groups). A binary that exits non-zero without reporting a failed test
# (crash, sanitizer report, leak found at exit, missing file, timeout) counts as
# one more failure. Ends with "unit: N passed, N failed"; exits 1 on any failure.
# An exit status of 0 with no summary at all is also counted as a failure.
# With no binaries it reports "unit: 0 passed, 0 failed" and succeeds.
# UNIT_TIMEOUT (seconds, default 120) bounds each binary.
set -uo pipefail

timeout_s=${UNIT_TIMEOUT:-120}
total_pass=0
total_fail=0
total_skip=0
broken=()

if [ $# -eq 0 ]; then
    echo "unit: no test binaries given (no tests/unit/*.mk yet?)"
fi

for bin in "$@"; do
    echo "---- $bin"
    if [ ! -x "$bin" ]; then
        echo "unit: $bin: not found or not executable"
        total_fail=$((total_fail + 1)); broken+=("$bin (missing)")
        continue
    fi
    log=$(mktemp)
    # cmocka writes its summary to stdout/stderr depending on the message
    # output mode; force the plain format and capture both streams.
    CMOCKA_MESSAGE_OUTPUT=STDOUT timeout --signal=KILL "$timeout_s" "$bin" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    read -r p f s seen < <(awk '
        /^\[  PASSED  \] [0-9]+ test\(s\)/ { p += $4; seen = 1 }
        /^\[  FAILED  \] [0-9]+ test\(s\)/ { f += $4; seen = 1 }
        /^\[  SKIPPED \] [0-9]+ test\(s\)/ { s += $4 }
        END { print p + 0, f + 0, s + 0, seen + 0 }' "$log")
    rm -f "$log"
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        case $rc in
            137) why="killed after ${timeout_s}s (timeout)" ;;
            *)   if [ "$rc" -gt 128 ]; then why="killed by signal $((rc - 128))"; else why="exit status $rc"; fi ;;
        esac
        echo "unit: $bin: $why with no failed test reported; counted as 1 failure"
        f=1; broken+=("$bin ($why)")
    elif [ "$rc" -eq 0 ] && [ "$seen" -eq 0 ]; then
        echo "unit: $bin: exited 0 but printed no cmocka summary; counted as 1 failure"
        f=1; broken+=("$bin (no summary)")
    fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    total_skip=$((total_skip + s))
done

echo "----"
for b in ${broken[@]+"${broken[@]}"}; do echo "unit: broken: $b"; done
[ "$total_skip" -gt 0 ] && echo "unit: $total_skip skipped"
echo "unit: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
