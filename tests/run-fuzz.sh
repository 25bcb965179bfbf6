#!/usr/bin/env bash
# run-fuzz.sh smoke|long BIN...  -  run libFuzzer targets (built by the Makefile
# from tests/fuzz/fuzz_<name>.c) and count one check per target.
#
#   smoke  FUZZ_RUNS inputs (default 1000000, ~20 s for fuzz_config) from a fixed seed (-seed=1) and the
#          seed corpus only, capped at FUZZ_SMOKE_SECONDS (default 60): the same
#          inputs on every run, so a failure here is reproducible.
#   long   FUZZ_SECONDS (default 300) each (-max_total_time), random seed; new
#          inputs are kept in build/fuzz/corpus/<target> for the next run.
#
# Seeds are read from tests/fuzz/corpus/<target>/ and a libFuzzer dictionary
# from tests/fuzz/<target>.dict, each when it exists. A crash,
# sanitizer report, failed invariant, timeout or leak leaves the input in
# build/fuzz/artifacts/ and counts the target as failed. Ends with
# "fuzz: N passed, N failed"; exits 1 on any failure.
set -uo pipefail

mode=${1:-}
shift || true
case $mode in smoke|long) ;; *) echo "usage: $0 smoke|long BIN..." >&2; exit 2 ;; esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD:-build}
runs=${FUZZ_RUNS:-1000000}
smoke_s=${FUZZ_SMOKE_SECONDS:-60}
long_s=${FUZZ_SECONDS:-300}
pass=0
fail=0

for bin in "$@"; do
    name=$(basename "$bin")
    echo "---- $name ($mode)"
    if [ ! -x "$bin" ]; then
        echo "fuzz: $name: $bin not found or not executable"
        fail=$((fail + 1))
        continue
    fi
    seeds=()
    [ -d "$root/tests/fuzz/corpus/$name" ] && seeds=("$root/tests/fuzz/corpus/$name")
    dict=()
    [ -f "$root/tests/fuzz/$name.dict" ] && dict=(-dict="$root/tests/fuzz/$name.dict")
    artifacts=$build/fuzz/artifacts
    mkdir -p "$artifacts"
    if [ "$mode" = smoke ]; then
        # A fresh working corpus: libFuzzer writes new inputs to the first
        # directory, and earlier runs must not change what this one tries.
        work=$build/fuzz/smoke-corpus/$name
        rm -rf "$work"
        mkdir -p "$work"
        opts=(-seed=1 -runs="$runs" -max_total_time="$smoke_s")
    else
        work=$build/fuzz/corpus/$name
        mkdir -p "$work"
        opts=(-max_total_time="$long_s")
    fi
    log=$build/fuzz/$name.log
    echo "$bin ${opts[*]} ${dict[*]+${dict[*]}} $work ${seeds[*]+${seeds[*]}} (log $log)"
    "$bin" "${opts[@]}" ${dict[@]+"${dict[@]}"} -timeout=10 -max_len=4096 \
        -print_final_stats=1 -artifact_prefix="$artifacts/$name-" \
        "$work" ${seeds[@]+"${seeds[@]}"} >"$log" 2>&1
    rc=$?
    # The report of a failure (stack, sanitizer, invariant) sits at the end.
    if [ "$rc" -eq 0 ]; then
        grep -E '^(Done|stat::|INFO: seed corpus)' "$log"
        echo "fuzz: $name: ok"
        pass=$((pass + 1))
    else
        grep -v '^#[0-9]' "$log" | tail -n 60
        echo "fuzz: $name: FAILED (exit status $rc); input saved under $artifacts/$name-*"
        fail=$((fail + 1))
    fi
done

echo "----"
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
