#!/usr/bin/env bash
# run-all.sh  -  everything `make test` runs, in order:
#
#   deps    bash tools/deps.sh            (failure stops the run)
#   build   make all linux-guest          (failure stops the run; builds
#                                          upstream Bochs unless cached)
#   unit    make unit                     "unit: N passed, N failed"
#   tools   make test-tools               "tools: N passed, N failed"
#   fuzz    make fuzz-smoke               "fuzz: N passed, N failed" (one per target)
#   gates   make gates                    "gate: PASS ..." / "gate: FAIL ..." lines
#   system  bash tests/system/run.sh      "system: N passed, N failed"
#
# Each stage's output is shown live and kept in build/test-logs/<stage>.log.
# A stage that exits non-zero without reporting a failure, or prints no
# summary, "crashed": it counts as one failure. The last line is the grand
# total alone: "N passed, N failed". Exit status 0 only if nothing failed.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
logs=${BUILD:-build}/test-logs
mkdir -p "$logs"

stages=()
declare -A s_note=() s_time=()
total_pass=0
total_fail=0

# run_stage NAME CMD...: run, show and log the output; sets rc and log.
run_stage() {
    local name=$1 start=$SECONDS
    shift
    log=$logs/$name.log
    echo "==== $name: $*"
    "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    stages+=("$name")
    s_time[$name]=$((SECONDS - start))
}

# record NAME PASS FAIL NOTE
record() {
    s_note[$1]=$4
    total_pass=$((total_pass + $2))
    total_fail=$((total_fail + $3))
}

# A stage that only has to succeed (deps, build).
must_succeed() { # NAME
    if [ "$rc" -eq 0 ]; then
        record "$1" 0 0 "ok"
        return 0
    fi
    record "$1" 0 1 "FAILED (exit status $rc), stopping"
    return 1
}

# A stage with a summary line "PREFIX: N passed, N failed".
counted() { # NAME PREFIX
    local line p f
    line=$(grep -E "^$2: [0-9]+ passed, [0-9]+ failed" "$log" | tail -n 1)
    if [ -z "$line" ]; then
        record "$1" 0 1 "crashed: no '$2: N passed, N failed' line (exit status $rc)"
        return
    fi
    p=$(sed -E 's/^[^:]*: ([0-9]+) passed, ([0-9]+) failed.*/\1/' <<<"$line")
    f=$(sed -E 's/^[^:]*: ([0-9]+) passed, ([0-9]+) failed.*/\2/' <<<"$line")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        record "$1" "$p" 1 "$p passed, 0 failed, but crashed (exit status $rc)"
    else
        record "$1" "$p" "$f" "$p passed, $f failed"
    fi
}

summary() {
    echo "==== summary"
    local s
    for s in "${stages[@]}"; do
        printf 'test: %-7s %s  (%ss, log %s)\n' "$s" "${s_note[$s]}" "${s_time[$s]}" \
            "$logs/$s.log"
    done
    echo "$total_pass passed, $total_fail failed"
    [ "$total_fail" -eq 0 ] && [ "${#stages[@]}" -eq 7 ]
    exit $?
}

run_stage deps bash tools/deps.sh
must_succeed deps || summary

run_stage build make all linux-guest
must_succeed build || summary

run_stage unit make unit
counted unit unit

run_stage tools make test-tools
counted tools tools

run_stage fuzz make fuzz-smoke
counted fuzz fuzz

run_stage gates make gates
gp=$(grep -c '^gate: PASS' "$log") || true
gf=$(grep -c '^gate: FAIL' "$log") || true
if [ $((gp + gf)) -eq 0 ]; then
    record gates 0 1 "crashed: no gate lines (exit status $rc)"
elif [ "$rc" -ne 0 ] && [ "$gf" -eq 0 ]; then
    record gates "$gp" 1 "$gp passed, 0 failed, but crashed (exit status $rc)"
else
    record gates "$gp" "$gf" "$gp passed, $gf failed"
fi

run_stage system bash tests/system/run.sh
counted system system

summary
