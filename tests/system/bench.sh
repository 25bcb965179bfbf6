#!/usr/bin/env bash
# `make bench`: boot Lamina + probe.efi under Bochs (1 CPU) and report
# path-length figures from the serial log. With `clock: sync=none` Bochs's
# TSC advances with emulated instructions, so the figures repeat from run to
# run; they are not wall-clock times. No assertions on the values.
#
#   from Lamina's summary line:  hand-off T tsc ticks, EPT page counts, reserved KiB
#   from the probe:              every "probe: BENCH <name> <ticks>" line (CPUID,
#                                a denied and a logged port write, a hypercall)
#
# Environment: BENCH_CPUS (default 1), BENCH_TIMEOUT (default 600), LAMINA_EFI,
# PROBE_EFI, BOCHS_FLAVOR and BOCHS_CPU (lib.sh; figures from different Bochs
# versions or models are not comparable). Work dir: build/system/bench/. Exit 1 if the run did not reach the
# probe's summary line or Lamina printed no summary.
set -uo pipefail

# shellcheck source=tests/system/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

name=bench
cpus=${BENCH_CPUS:-1}
timeout=${BENCH_TIMEOUT:-600}
dir=$(sys_dir "$name")
log=$dir/serial.log
trap sys_on_signal INT TERM HUP

mkdir -p "$dir"
# The probe times a denied and a logged port write and a hypercall too.
conf="${LAMINA_CONF/lamina-system-test/lamina-system-test bench-policy}
io   deny  0x85 write
io   log   0x84 write
log-events none"
if ! lamina_disk "$dir/boot.img" "$conf"; then
    echo "bench: cannot build the disk image" >&2
    exit 1
fi
echo "bench: Bochs $BOCHS_FLAVOR, cpu $BOCHS_CPU, $cpus CPU(s), Lamina + probe (up to ${timeout}s)"
run_bochs "$name" "$cpus" "$dir/boot.img" "$timeout" "$PROBE_SUMMARY" \
    'lamina: fatal|on-error halt|lamina: error: (cannot load guest|lamina\.conf:)'
rc=$?
status=0
[ "$rc" -eq 0 ] || status=1

summary=$(grep -Em1 'lamina: info: summary:' "$log" 2>/dev/null)
field() { # REGEX-with-one-group
    sed -nE "s/.*$1.*/\\1/p" <<<"$summary"
}
echo
echo "bench: run: $(cat "$dir/result" 2>/dev/null) (wall clock, not a figure)"
printf 'bench: %-36s %12s\n' "figure" "value"
if [ -n "$summary" ]; then
    printf 'bench: %-36s %12s\n' "hand-off (tsc ticks)" "$(field 'hand-off ([0-9]+) tsc ticks')"
    printf 'bench: %-36s %12s\n' "cpus virtualized" "$(field 'cpus ([0-9]+) virtualized')"
    printf 'bench: %-36s %12s\n' "ept pages 1g" "$(field 'ept pages 1g=([0-9]+)')"
    printf 'bench: %-36s %12s\n' "ept pages 2m" "$(field ' 2m=([0-9]+)')"
    printf 'bench: %-36s %12s\n' "ept pages 4k" "$(field ' 4k=([0-9]+)')"
    printf 'bench: %-36s %12s\n' "reserved (KiB)" "$(field 'reserved ([0-9]+) KiB')"
else
    echo "bench: no 'lamina: info: summary:' line in $log"
    status=1
fi
nb=0
while read -r bname ticks _; do
    printf 'bench: %-36s %12s\n' "probe $bname (tsc ticks)" "$ticks"
    nb=$((nb + 1))
done < <(sed -nE 's/.*probe: BENCH ([^ ]+) ([0-9]+).*/\1 \2/p' "$log" 2>/dev/null)
[ "$nb" -gt 0 ] || echo "bench: (the probe printed no 'probe: BENCH <name> <ticks>' lines)"
echo "bench: full log: $log"
exit "$status"
