#!/usr/bin/env bash
# `make run`: boot Lamina + a guest (DEMO_GUEST: linux, the default, or probe)
# under Bochs + OVMF with 2 CPUs and show
# the serial log live, until the guest is done (Lamina's final exit summary
# for Linux, the summary line for the probe) or a Lamina failure,
# Bochs ending, or DEMO_TIMEOUT seconds, default 900). Then stop Bochs and say
# where the logs are. Ctrl-C stops Bochs too.
#
# Environment: DEMO_CPUS (default 2), DEMO_TIMEOUT, LAMINA_EFI, PROBE_EFI,
# OVMF_FD, BOCHS, BOCHS_FLAVOR, BOCHS_CPU (see lib.sh). Work dir: build/system/demo/.
set -uo pipefail

# shellcheck source=tests/system/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

name=demo
cpus=${DEMO_CPUS:-2}
timeout=${DEMO_TIMEOUT:-900}
dir=$(sys_dir "$name")
# Lines after which nothing more will come.
stop_re="$PROBE_SUMMARY|lamina: fatal|on-error halt|lamina: error: (cannot load guest|lamina\\.conf:)"

guest=${DEMO_GUEST:-linux}
mkdir -p "$dir"
rm -f "$dir/boot.img"
case $guest in
linux)
    # Debian's cloud kernel: /init reports, then resets through 0xcf9 (no
    # ACPI under Bochs 2.7) or powers off through ACPI (upstream Bochs),
    # which Lamina traps to print its exit summary.
    linux_disk "$dir/boot.img" \
        "${LINUX_CONF/panic=-1/panic=-1 reboot=pci linux-test-quirks=bochs-xsave-size}"
    built=$?
    stop_re="lamina: info: exits total: |$LINUX_STOP"
    clean_re=$LINUX_CLEAN ;;
probe)
    lamina_disk "$dir/boot.img" "$LAMINA_CONF"
    built=$?
    clean_re=$PROBE_CLEAN ;;
*)
    echo "demo: DEMO_GUEST must be linux or probe" >&2
    exit 2 ;;
esac
if [ "$built" -ne 0 ]; then
    echo "demo: cannot build the disk image" >&2
    exit 1
fi

tail_pid=
finish() { # STATUS MESSAGE
    sys_stop "$EMU_PID"
    [ -n "$tail_pid" ] && wait "$tail_pid" 2>/dev/null
    [ -f "$dir/com1.raw" ] && sys_clean "$dir/com1.raw" >"$dir/serial.log"
    echo
    echo "demo: $2"
    echo "demo: serial log: $dir/serial.log (raw: $dir/com1.raw)"
    echo "demo: Bochs log:  $dir/bochs.log"
    exit "$1"
}
trap 'finish 130 "interrupted"' INT TERM HUP

echo "demo: Lamina + $guest under Bochs $BOCHS_FLAVOR ($cpus CPUs, cpu $BOCHS_CPU, OVMF)"
[ "$BOCHS_FLAVOR" != 2.7 ] || echo "demo: the display is on VNC port 5900 or the next free one"
echo "demo: OVMF takes a few seconds before the first line; Ctrl-C stops"
if ! start_bochs "$name" "$cpus" "$dir/boot.img"; then
    echo "demo: Bochs did not start" >&2
    exit 1
fi

# Stream the log; tail ends by itself when Bochs does (--pid).
tail -n +1 -f --pid="$EMU_PID" "$dir/com1.raw" | sys_clean_stream &
tail_pid=$!

start=$SECONDS
while :; do
    sys_clean "$dir/com1.raw" >"$dir/serial.log"
    if line=$(grep -Em1 -- "$stop_re" "$dir/serial.log"); then
        sleep 1  # let tail print the last lines
        if grep -Eq -- "$clean_re" "$dir/serial.log"; then
            finish 0 "done after $((SECONDS - start))s: $line"
        fi
        finish 1 "stopped after $((SECONDS - start))s at: $line"
    fi
    if ! sys_alive "$EMU_PID"; then
        finish 1 "Bochs ended after $((SECONDS - start))s (see $dir/emulator.out)"
    fi
    if [ $((SECONDS - start)) -ge "$timeout" ]; then
        finish 1 "TIMEOUT after ${timeout}s"
    fi
    sleep 1
done
