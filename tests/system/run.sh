#!/usr/bin/env bash
# Lamina system tests: boot Lamina + test guests under Bochs (VT-x emulated)
# and QEMU TCG (no VT-x) with OVMF and check the serial log.
#
#   tests/system/run.sh [--list] [PATTERN ...]
#
# PATTERNs (or SYSTEM_TESTS="bochs-1cpu qemu-*", space or comma separated) are
# shell globs selecting scenarios by name; default: all. At most SYSTEM_JOBS
# (default 2, never more) scenarios run at once. Each scenario's output is
# printed when it ends; the last line is "system: N passed, N failed", N
# counting checks (system: PASS/FAIL lines).
#
# Adding a scenario: write a function scenario_<name with - as _> and add the
# name to SCENARIOS (longest first: the list is also the start order).
#
# Timeouts: SYSTEM_BOCHS_TIMEOUT (default 600 s), SYSTEM_QEMU_TIMEOUT (60 s).
# Inputs: LAMINA_EFI, PROBE_EFI (default build/lamina.efi and
# build/test-guests/probe.efi). Work dirs: build/system/<name>/.
set -uo pipefail

# shellcheck source=tests/system/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BOCHS_TIMEOUT=${SYSTEM_BOCHS_TIMEOUT:-600}
QEMU_TIMEOUT=${SYSTEM_QEMU_TIMEOUT:-60}
JOBS=${SYSTEM_JOBS:-2}
[ "$JOBS" -ge 1 ] 2>/dev/null || JOBS=2
[ "$JOBS" -le 2 ] || JOBS=2     # 2-core machines: never more than two emulators

SCENARIOS=(bochs-2cpu bochs-1cpu qemu-noVMX-boot qemu-noVMX-halt
    qemu-missing-guest qemu-bad-config)

CONF_OK=$LAMINA_CONF

# ---------------------------------------------------------------- scenarios
# Lamina under Bochs (VT-x, EPT): the probe runs virtualized on N CPUs.
bochs_probe() { # NAME CPUS
    local name=$1 cpus=$2 dir rc
    dir=$(sys_dir "$name")
    lamina_disk "$dir/boot.img" "$CONF_OK" || {
        sys_fail "$name" "setup: building the disk"
        return
    }
    # Stop early only when nothing more can come: the monitor died or Lamina
    # gave up before starting the guest.
    run_bochs "$name" "$cpus" "$dir/boot.img" "$BOCHS_TIMEOUT" "$PROBE_SUMMARY" \
        'lamina: fatal|guest stopped|on-error halt|lamina: error: (cannot load guest|lamina\.conf:)'
    rc=$?
    expect_run "$name" "$rc"
    expect_line "$name" "lamina: info: summary: cpus $cpus virtualized" \
        "summary line: cpus $cpus virtualized"
    expect_order "$name" 'lamina: info: summary:' 'lamina: info: starting guest' \
        'probe: start' 'probe: done'
    expect_no_line "$name" 'probe: FAIL'
    expect_line "$name" "$PROBE_CLEAN" "probe summary: N>0 passed, 0 failed"
    expect_no_line "$name" 'lamina: fatal'
    expect_no_line "$name" 'lamina: error'
    # The probe reads and writes the monitor's reserved pages: each attempt
    # is logged, and the guest carries on.
    expect_line "$name" 'lamina: warn: cpu [0-9]+: guest (read|write) of monitor memory at gpa 0x[0-9a-f]+ .*denied' \
        "monitor-memory accesses logged"
}

scenario_bochs_1cpu() { bochs_probe bochs-1cpu 1; }

scenario_bochs_2cpu() {
    bochs_probe bochs-2cpu 2
    expect_line bochs-2cpu 'probe: PASS ap-cpuid'
}

# QEMU TCG has no VMX: Lamina must say so and apply on-error.
scenario_qemu_noVMX_boot() {
    local name=qemu-noVMX-boot dir rc
    dir=$(sys_dir "$name")
    lamina_disk "$dir/boot.img" "$CONF_OK" || {
        sys_fail "$name" "setup: building the disk"
        return
    }
    run_qemu "$name" 1 "$dir/boot.img" "$QEMU_TIMEOUT" "$PROBE_SUMMARY" \
        'lamina: fatal|on-error halt'
    rc=$?
    expect_run "$name" "$rc"
    expect_line "$name" 'lamina: error: vt-x unavailable: .*VMX not supported'
    expect_line "$name" 'lamina: info: on-error boot: starting the guest without the monitor'
    expect_order "$name" 'vt-x unavailable' 'on-error boot' 'probe: start' \
        'probe: no hypervisor present' 'probe: done'
    expect_no_line "$name" 'probe: FAIL'
    expect_line "$name" "$PROBE_CLEAN" "probe summary: N>0 passed, 0 failed"
    expect_no_line "$name" 'lamina: fatal'
}

scenario_qemu_noVMX_halt() {
    local name=qemu-noVMX-halt dir rc
    dir=$(sys_dir "$name")
    lamina_disk "$dir/boot.img" "${CONF_OK/on-error boot/on-error halt}" || {
        sys_fail "$name" "setup: building the disk"
        return
    }
    # Keep running 5 s after the halt line: nothing may follow it.
    LINGER=5 run_qemu "$name" 1 "$dir/boot.img" "$QEMU_TIMEOUT" 'on-error halt' \
        'probe: start|lamina: fatal'
    rc=$?
    expect_run "$name" "$rc"
    expect_line "$name" 'lamina: error: vt-x unavailable: .*VMX not supported'
    expect_line "$name" 'lamina: info: on-error halt: not starting the guest'
    expect_no_line "$name" 'lamina: info: starting guest'
    expect_no_line "$name" 'probe: start'
}

scenario_qemu_missing_guest() {
    local name=qemu-missing-guest dir rc
    dir=$(sys_dir "$name")
    lamina_disk "$dir/boot.img" "${CONF_OK/probe.efi/no-such-guest.efi}" || {
        sys_fail "$name" "setup: building the disk"
        return
    }
    LINGER=3 run_qemu "$name" 1 "$dir/boot.img" "$QEMU_TIMEOUT" 'cannot load guest' \
        'probe: start|lamina: fatal'
    rc=$?
    expect_run "$name" "$rc"
    expect_line "$name" 'lamina: error: cannot load guest \\EFI\\lamina\\no-such-guest\.efi: .+' \
        'cannot load guest names the path and a status'
    expect_no_line "$name" 'probe: start'
}

scenario_qemu_bad_config() {
    local name=qemu-bad-config dir rc
    dir=$(sys_dir "$name")
    lamina_disk "$dir/boot.img" 'guest    \EFI\lamina\probe.efi
options  lamina-system-test
frobnicate 1
on-error boot' || {
        sys_fail "$name" "setup: building the disk"
        return
    }
    LINGER=3 run_qemu "$name" 1 "$dir/boot.img" "$QEMU_TIMEOUT" 'lamina\.conf:' \
        'probe: start|lamina: fatal'
    rc=$?
    expect_run "$name" "$rc"
    expect_line "$name" "lamina: error: lamina\\.conf:3: unknown key 'frobnicate'"
    expect_no_line "$name" 'lamina: info: starting guest'
    expect_no_line "$name" 'probe: start'
}

# ------------------------------------------------------------------ driver
if [ "${1:-}" = --list ]; then
    printf '%s\n' "${SCENARIOS[@]}"
    exit 0
fi

patterns=("$@")
if [ ${#patterns[@]} -eq 0 ] && [ -n "${SYSTEM_TESTS:-}" ]; then
    read -r -a patterns <<<"${SYSTEM_TESTS//,/ }"
fi
[ ${#patterns[@]} -gt 0 ] || patterns=('*')

selected=()
for s in "${SCENARIOS[@]}"; do
    for p in "${patterns[@]}"; do
        # shellcheck disable=SC2053
        if [[ $s == $p ]]; then
            selected+=("$s")
            break
        fi
    done
done
for p in "${patterns[@]}"; do
    hit=0
    for s in "${SCENARIOS[@]}"; do
        # shellcheck disable=SC2053
        [[ $s == $p ]] && hit=1
    done
    [ $hit -eq 1 ] || echo "system: warning: no scenario matches '$p' (see --list)" >&2
done
if [ ${#selected[@]} -eq 0 ]; then
    echo "system: no scenarios selected"
    echo "system: 0 passed, 0 failed"
    exit 1
fi

mkdir -p "$SYSTEM_BUILD"
echo "system: running ${selected[*]} (at most $JOBS at a time)"

declare -A pid_of=() started=() npass=() nfail=() took=()

run_one() { # NAME: runs in a subshell; output goes to build/system/NAME.out
    local fn=scenario_${1//-/_}
    SYS_PASS=0 SYS_FAIL=0
    trap sys_on_signal TERM HUP
    "$fn"
}

finish() { # NAME EXIT_STATUS
    local name=$1 st=$2 out p f
    out=$SYSTEM_BUILD/$name.out
    p=$(grep -c '^system: PASS ' "$out" 2>/dev/null) || true
    f=$(grep -c '^system: FAIL ' "$out" 2>/dev/null) || true
    if [ "$st" -ne 0 ]; then
        echo "system: FAIL $name: scenario script exited with status $st" >>"$out"
        f=$((f + 1))
    elif [ $((p + f)) -eq 0 ]; then
        echo "system: FAIL $name: the scenario ran no checks" >>"$out"
        f=1
    fi
    npass[$name]=$p
    nfail[$name]=$f
    took[$name]=$((SECONDS - started[$name]))
    echo "---- $name (${took[$name]}s) ----"
    cat "$out"
}

# Interrupted: stop the scenarios (each stops its emulator), then give up.
on_interrupt() {
    trap - INT TERM HUP
    echo "system: interrupted, stopping ${!pid_of[*]}" >&2
    for n in "${!pid_of[@]}"; do
        kill -TERM "${pid_of[$n]}" 2>/dev/null
    done
    wait
    exit 130
}
trap on_interrupt INT TERM HUP

running=0
for name in "${selected[@]}"; do
    while [ "$running" -ge "$JOBS" ]; do
        done_pid=
        wait -n -p done_pid
        st=$?
        for n in "${!pid_of[@]}"; do
            if [ "${pid_of[$n]}" = "$done_pid" ]; then
                finish "$n" "$st"
                unset "pid_of[$n]"
            fi
        done
        running=$((running - 1))
    done
    mkdir -p "$(sys_dir "$name")"
    started[$name]=$SECONDS
    echo "system: start $name"
    run_one "$name" >"$SYSTEM_BUILD/$name.out" 2>&1 &
    pid_of[$name]=$!
    running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
    done_pid=
    wait -n -p done_pid
    st=$?
    for n in "${!pid_of[@]}"; do
        if [ "${pid_of[$n]}" = "$done_pid" ]; then
            finish "$n" "$st"
            unset "pid_of[$n]"
        fi
    done
    running=$((running - 1))
done

echo "---- summary ----"
total_p=0
total_f=0
for name in "${selected[@]}"; do
    if [ "${nfail[$name]}" -eq 0 ]; then verdict=PASS; else verdict=FAIL; fi
    printf 'system: scenario %-20s %s  %2d passed, %d failed  %4ss  %s\n' "$name" "$verdict" \
        "${npass[$name]}" "${nfail[$name]}" "${took[$name]}" \
        "$(cat "$(sys_dir "$name")/result" 2>/dev/null)"
    total_p=$((total_p + npass[$name]))
    total_f=$((total_f + nfail[$name]))
done
echo "system: $total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
