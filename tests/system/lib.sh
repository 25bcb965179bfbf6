# Emulator harness for Lamina's system tests. Source it from bash:
#
#   . tests/system/lib.sh
#   run_bochs NAME CPUS DISK TIMEOUT MARKER_REGEX [FAIL_REGEX]
#   run_qemu  NAME CPUS DISK TIMEOUT MARKER_REGEX [FAIL_REGEX]
#       Boot DISK (a flat FAT image, see tools/mkdisk.sh) under Bochs or QEMU
#       (TCG, never KVM) with OVMF, in the work dir build/system/NAME/. The
#       serial log is polled every second; the emulator is stopped as soon as
#       FAIL_REGEX or MARKER_REGEX (extended regexes, matched against the log
#       with ANSI escapes and CRs removed) appears, or at TIMEOUT seconds.
#       Returns 0 marker seen, 1 fail regex seen, 2 timeout, 3 the emulator
#       ended (or could not start) before either. On non-zero it prints the
#       reason and the last 40 lines of the serial log.
#       LINGER=N (environment): keep the emulator running N more seconds after
#       the marker, e.g. to show that nothing follows a halt.
#       MARKER_COUNT=N (environment): the marker must match N lines (default
#       1), e.g. 2 for a line of the boot that follows a reset.
#       QEMU_EXTRA="ARGS" (environment, QEMU only): more arguments, split at
#       blanks, e.g. "-device intel-iommu -device edu" for the IOMMU tests.
#   expect_line NAME REGEX [WHAT]             a line of the log matches
#   expect_no_line NAME REGEX [WHAT]          no line matches
#   expect_count NAME REGEX OP N [WHAT]       count of matching lines OP N
#                                             (OP: -eq -ne -ge -gt -le -lt)
#   expect_order NAME REGEX1 REGEX2 ...       first matches appear in this order
#   expect_run NAME RC [WANT]                 run_* returned WANT (default 0)
#       Each prints "system: PASS NAME: WHAT" or "system: FAIL NAME: WHAT" (and
#       on failure the last 30 lines of the log) and bumps SYS_PASS/SYS_FAIL.
#
# Files in build/system/NAME/: disk.img (private copy of DISK), com1.raw (what
# the emulator wrote to COM1), serial.log (the same, cleaned: what the regexes
# see), emulator.out (the emulator's stdout/stderr), bochs.log / bx.rc /
# dbg.rc (Bochs), emulator (which Bochs and CPU model ran), cmdline, result.
#
# Two Bochs builds can run the scenarios (BOCHS_FLAVOR):
#   2.7       Debian's package (default): RFB display, internal debugger, no
#             fw_cfg, so OVMF has no ACPI tables. The command is BOCHS.
#   upstream  tools/build-bochs.sh's build (pinned commit, cached outside the
#             tree; built on first use): nogui, no debugger, fw_cfg on, so
#             OVMF gets ACPI tables (MADT, FADT). BOCHS_UPSTREAM_DIR names a
#             build dir (bin/bochs, share/bochs/) to use instead.
# BOCHS_CPU picks the CPU model of either (default corei7_skylake_x).
#
# Environment: BUILD (default build), OVMF_FD, OVMF_CODE_FD, OVMF_VARS_FD, BOCHS,
# BOCHS_FLAVOR, BOCHS_CPU, BOCHS_UPSTREAM_DIR, QEMU, QEMU_CPU, QEMU_FLASH,
# QEMU_DISK (see start_qemu), EMU_MAX (emulators allowed on the whole
# machine at once, default 2), SYSTEM_SLOT_WAIT (seconds to wait for a free
# slot, default 3600).

SYSTEM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SYSTEM_BUILD=${SYSTEM_BUILD:-$SYSTEM_ROOT/${BUILD:-build}/system}
OVMF_FD=${OVMF_FD:-/usr/share/ovmf/OVMF.fd}
# The same firmware as code and a variable store apart (QEMU_FLASH=1).
OVMF_CODE_FD=${OVMF_CODE_FD:-/usr/share/OVMF/OVMF_CODE.fd}
OVMF_VARS_FD=${OVMF_VARS_FD:-/usr/share/OVMF/OVMF_VARS.fd}
BOCHS=${BOCHS:-bochs}
BOCHS_FLAVOR=${BOCHS_FLAVOR:-upstream}
BOCHS_CPU=${BOCHS_CPU:-corei7_skylake_x}
QEMU=${QEMU:-qemu-system-x86_64}
# qemu64 has no VMX; "-hypervisor" clears CPUID.1:ECX[31], which TCG sets by
# default: the guest then sees what bare metal without VT-x shows (the probe
# decides "no hypervisor present" from that bit).
QEMU_CPU=${QEMU_CPU:-qemu64,-hypervisor}
EMU_MAX=${EMU_MAX:-2}
SYSTEM_SLOT_WAIT=${SYSTEM_SLOT_WAIT:-3600}
SYSTEM_LOCK=${SYSTEM_LOCK:-/tmp/lamina-emulators.lock}
SYS_PASS=${SYS_PASS:-0}
SYS_FAIL=${SYS_FAIL:-0}

# Inputs of the standard scenarios; overridable to test the harness itself.
LAMINA_EFI=${LAMINA_EFI:-$SYSTEM_ROOT/${BUILD:-build}/lamina.efi}
PROBE_EFI=${PROBE_EFI:-$SYSTEM_ROOT/${BUILD:-build}/test-guests/probe.efi}

# The probe's last line: "N passed, N failed"; the same with no failure.
# shellcheck disable=SC2034  # these three are for the scripts sourcing lib.sh
PROBE_SUMMARY='^[0-9]+ passed, [0-9]+ failed'
# shellcheck disable=SC2034
PROBE_CLEAN='^[1-9][0-9]* passed, 0 failed([^0-9]|$)'

# The standard lamina.conf: the probe as guest, log on COM1, boot on error.
# shellcheck disable=SC2034
LAMINA_CONF='guest    \EFI\lamina\probe.efi
options  lamina-system-test
serial   0x3f8
on-error boot'

sys_dir() { printf '%s/%s\n' "$SYSTEM_BUILD" "$1"; }

# Remove ANSI/VT100 escape sequences (OVMF positions its cursor and sets
# colours on the serial console), CRs and other control bytes.
sys_clean() {
    LC_ALL=C sed -e 's|\x1b\[[0-9;?=>]*[ -/]*[@-~]||g' \
        -e 's|\x1b[()][0-9A-Za-z]||g' -e 's|\x1b.||g' -e 's|\r||g' "$@" |
        LC_ALL=C tr -d '\000-\010\013\014\016-\037\177'
}

# Same, as a line-buffered filter (for live output).
sys_clean_stream() {
    LC_ALL=C sed -u -e 's|\x1b\[[0-9;?=>]*[ -/]*[@-~]||g' \
        -e 's|\x1b[()][0-9A-Za-z]||g' -e 's|\x1b.||g' \
        -e 's|[\x01-\x08\x0b-\x1f\x7f]||g'
}

# Number of emulators running on this machine (anyone's).
sys_emulators_running() {
    # ps, not pgrep: pgrep warns about patterns longer than the 15-byte comm.
    # shellcheck disable=SC2009
    ps -e -o comm= | grep -cE '^(bochs|qemu-system)' || true
}

sys_alive() {
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ $st != Z* ]]
}

sys_tail() { # FILE N
    if [ -s "$1" ]; then
        # awk ends every line, the last one too: a log cut off mid-line must
        # not glue the next "system: PASS/FAIL" line to its tail.
        tail -n "$2" "$1" | awk '{ print "    | " $0 }'
    else
        echo "    | (serial log empty)"
    fi
}

# Start the emulator command "$@" in work dir $1 (shifted off) in a session of
# its own, so that stopping it reaches any children. Waits for a free slot
# first: at most EMU_MAX emulators on the machine, counted with ps under a
# lock so that parallel runs of this harness do not both take the last slot.
# Sets EMU_PID (also the process group id).
sys_start() {
    local dir=$1
    shift
    local lockfd waited=0
    EMU_PID=
    exec {lockfd}>>"$SYSTEM_LOCK"
    flock "$lockfd"
    while [ "$(sys_emulators_running)" -ge "$EMU_MAX" ]; do
        if [ "$waited" -eq 0 ]; then
            echo "system: $(basename "$dir"): waiting for a free emulator slot" \
                "($(sys_emulators_running) running)"
        fi
        if [ "$waited" -ge "$SYSTEM_SLOT_WAIT" ]; then
            flock -u "$lockfd"
            exec {lockfd}>&-
            echo "system: $(basename "$dir"): no emulator slot after ${waited}s" >&2
            return 1
        fi
        sleep 2
        waited=$((waited + 2))
    done
    [ "$waited" -gt 0 ] && echo "system: $(basename "$dir"): slot free after ${waited}s"
    printf '%q ' "$@" >"$dir/cmdline"
    echo >>"$dir/cmdline"
    # A background job of a non-interactive shell is not a process group
    # leader, so setsid makes it the leader of a new session without forking:
    # $! is the emulator itself.
    (cd "$dir" && exec setsid "$@") </dev/null >"$dir/emulator.out" 2>&1 &
    EMU_PID=$!
    # Hold the lock until the emulator shows up in ps (or has died).
    for _ in $(seq 50); do
        sys_alive "$EMU_PID" || break
        ps -o comm= -p "$EMU_PID" | grep -qE '^(bochs|qemu-system)' && break
        sleep 0.1
    done
    flock -u "$lockfd"
    exec {lockfd}>&-
    return 0
}

# Stop the emulator started by sys_start (TERM, then KILL after 5 s) and reap it.
sys_stop() {
    local pid=${1:-$EMU_PID}
    [ -n "$pid" ] || return 0
    if sys_alive "$pid"; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 50); do
            sys_alive "$pid" || break
            sleep 0.1
        done
        if sys_alive "$pid"; then
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
        fi
    fi
    # Children left in the group (none expected) go too.
    kill -KILL -- "-$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    [ "$pid" = "${EMU_PID:-}" ] && EMU_PID=
    return 0
}

# For traps: stop the emulator this shell started, then exit.
sys_on_signal() {
    [ -n "${EMU_PID:-}" ] && sys_stop "$EMU_PID"
    exit 143
}

# Fresh work dir for a run; keeps files a scenario put there before (its
# source disk image), drops the previous run's output.
sys_workdir() {
    local dir
    dir=$(sys_dir "$1")
    mkdir -p "$dir"
    rm -f "$dir"/{disk.img,com1.raw,com2.raw,serial.log,emulator.out,bochs.log,bx.rc,dbg.rc,emulator,cmdline,result,ovmf-vars.fd}
    printf '%s\n' "$dir"
}

sys_copy_disk() { # SRC DIR
    if [ ! -f "$1" ]; then
        echo "system: disk image $1 does not exist" >&2
        return 1
    fi
    cp --sparse=always "$1" "$2/disk.img"
}

# Poll the serial log until marker / fail regex / timeout / emulator exit.
# Needs EMU_PID; leaves the emulator running.
sys_watch() { # NAME TIMEOUT MARKER FAIL
    local name=$1 timeout=$2 marker=$3 fail=$4
    local dir raw log start rc line
    dir=$(sys_dir "$name")
    raw=$dir/com1.raw
    log=$dir/serial.log
    start=$SECONDS
    : >"$log"
    while :; do
        [ -f "$raw" ] && sys_clean "$raw" >"$log"
        if [ -n "$fail" ] && line=$(grep -Em1 -- "$fail" "$log"); then
            rc=1
            break
        fi
        if [ "$(grep -Ec -- "$marker" "$log")" -ge "${MARKER_COUNT:-1}" ]; then
            rc=0
            break
        fi
        if ! sys_alive "$EMU_PID"; then
            # One last look: it may have written the marker and exited.
            [ -f "$raw" ] && sys_clean "$raw" >"$log"
            if [ -n "$fail" ] && line=$(grep -Em1 -- "$fail" "$log"); then
                rc=1
            elif [ "$(grep -Ec -- "$marker" "$log")" -ge "${MARKER_COUNT:-1}" ]; then
                rc=0
            else
                rc=3
            fi
            break
        fi
        if [ $((SECONDS - start)) -ge "$timeout" ]; then
            rc=2
            break
        fi
        sleep 1
    done
    SYS_ELAPSED=$((SECONDS - start))
    if [ "$rc" -eq 0 ] && [ "${LINGER:-0}" -gt 0 ] && sys_alive "$EMU_PID"; then
        sleep "$LINGER"
    fi
    sys_stop "$EMU_PID"
    [ -f "$raw" ] && sys_clean "$raw" >"$log"
    case $rc in
    0) echo "marker after ${SYS_ELAPSED}s" >"$dir/result" ;;
    1)
        echo "FAIL-REGEX seen after ${SYS_ELAPSED}s: $line" | tee "$dir/result"
        ;;
    2) echo "TIMEOUT after ${SYS_ELAPSED}s" | tee "$dir/result" ;;
    3)
        echo "EMULATOR ENDED after ${SYS_ELAPSED}s without the marker" | tee "$dir/result"
        tail -n 5 "$dir/emulator.out" 2>/dev/null | sed 's/^/    emulator: /'
        ;;
    esac
    if [ "$rc" -ne 0 ]; then
        echo "    last 40 lines of $log:"
        sys_tail "$log" 40
    fi
    return "$rc"
}

# Check BOCHS_FLAVOR and, for upstream, find (or build) the build dir:
# sets BOCHS_UPSTREAM_DIR. run.sh calls it before its scenarios, so that a
# build happens once and its failure is reported once.
sys_bochs_resolve() {
    case $BOCHS_FLAVOR in
    2.7) return 0 ;;
    upstream) ;;
    *)
        echo "system: BOCHS_FLAVOR must be 2.7 or upstream, not '$BOCHS_FLAVOR'" >&2
        return 1
        ;;
    esac
    if [ -z "${BOCHS_UPSTREAM_DIR:-}" ]; then
        BOCHS_UPSTREAM_DIR=$(bash "$SYSTEM_ROOT/tools/build-bochs.sh") || {
            echo "system: upstream Bochs could not be built (tools/build-bochs.sh)" >&2
            return 1
        }
    fi
    if [ ! -x "$BOCHS_UPSTREAM_DIR/bin/bochs" ]; then
        echo "system: no upstream Bochs at $BOCHS_UPSTREAM_DIR/bin/bochs" >&2
        return 1
    fi
    export BOCHS_UPSTREAM_DIR
}

# Generate a bochsrc for DIR: the shared template, then the flavor's part.
sys_bochsrc() { # DIR CPUS
    sed -e "s|@OVMF@|$OVMF_FD|g" -e "s|@CPUS@|$2|g" -e "s|@DISK@|disk.img|g" \
        -e "s|@COM1@|com1.raw|g" -e "s|@COM2@|com2.raw|g" -e "s|@LOG@|bochs.log|g" \
        -e "s|@CPU@|$BOCHS_CPU|g" -e "s|@BXSHARE@|${BOCHS_UPSTREAM_DIR:-}/share/bochs|g" \
        "$SYSTEM_ROOT/tests/system/bochsrc.in" \
        "$SYSTEM_ROOT/tests/system/bochsrc.$BOCHS_FLAVOR.in" >"$1/bx.rc"
    # Debian's Bochs has the internal debugger, which waits for a command at
    # the first instruction: "c" continues.
    [ "$BOCHS_FLAVOR" != 2.7 ] || echo c >"$1/dbg.rc"
}

# Start Bochs (BOCHS_FLAVOR) on a private copy of DISK; sets EMU_PID. For
# demo.sh, bench.sh and run_bochs.
start_bochs() { # NAME CPUS DISK
    local dir
    dir=$(sys_workdir "$1")
    sys_bochs_resolve || return 1
    sys_copy_disk "$3" "$dir" || return 1
    sys_bochsrc "$dir" "$2"
    : >"$dir/com1.raw"
    : >"$dir/com2.raw"
    # -unlock: a killed run leaves a lock on the disk image.
    if [ "$BOCHS_FLAVOR" = upstream ]; then
        echo "bochs upstream $BOCHS_UPSTREAM_DIR, cpu $BOCHS_CPU" >"$dir/emulator"
        sys_start "$dir" "$BOCHS_UPSTREAM_DIR/bin/bochs" -q -f bx.rc -unlock
    else
        echo "bochs 2.7 ($BOCHS), cpu $BOCHS_CPU" >"$dir/emulator"
        sys_start "$dir" "$BOCHS" -q -f bx.rc -rc dbg.rc -unlock
    fi
}

# QEMU_FLASH=1: OVMF_CODE and a private copy of OVMF_VARS (ovmf-vars.fd in
# the work dir) as flash instead of -bios, and the guest may reboot: UEFI
# variables persist across the reboots of one run. QEMU_DISK=nvme: the disk
# on an NVMe controller (Debian's cloud kernel has no AHCI built in).
start_qemu() { # NAME CPUS DISK
    local dir fw disk reboot=(-no-reboot) extra=()
    read -r -a extra <<<"${QEMU_EXTRA:-}"
    dir=$(sys_workdir "$1")
    sys_copy_disk "$3" "$dir" || return 1
    : >"$dir/com1.raw"
    fw=(-bios "$OVMF_FD")
    if [ "${QEMU_FLASH:-0}" = 1 ]; then
        cp "$OVMF_VARS_FD" "$dir/ovmf-vars.fd" || return 1
        fw=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_CODE_FD"
            -drive if=pflash,format=raw,unit=1,file=ovmf-vars.fd)
        reboot=()
    fi
    disk=(-drive format=raw,file=disk.img)
    [ "${QEMU_DISK:-}" = nvme ] &&
        disk=(-drive if=none,id=disk0,format=raw,file=disk.img -device nvme,drive=disk0,serial=lamina0)
    # TCG only: never -enable-kvm (the host's /dev/kvm is paravirtual, no VMX).
    # -no-reboot: a triple fault ends the run instead of rebooting forever.
    sys_start "$dir" "$QEMU" -machine q35 -m 512 -smp "$2" -cpu "$QEMU_CPU" \
        "${fw[@]}" "${disk[@]}" \
        -nographic -serial file:com1.raw -monitor none -net none "${reboot[@]}" "${extra[@]}"
}

run_bochs() { # NAME CPUS DISK TIMEOUT MARKER [FAIL]
    local try rc
    for try in 1 2 3; do
        if ! start_bochs "$1" "$2" "$3"; then
            echo "EMULATOR ENDED: Bochs could not be started" | tee "$(sys_dir "$1")/result"
            return 3
        fi
        sys_watch "$1" "$4" "$5" "${6:-}"
        rc=$?
        # Bochs 2.7's display server (RFB, the only one Debian's build has)
        # can fail to bind while an earlier run's socket lingers: that run
        # never started, so start it again. (Upstream's nogui has no socket.)
        grep -q 'RFB could not bind' "$(sys_dir "$1")/emulator.out" 2>/dev/null || return "$rc"
        echo "system: $1: Bochs could not open its RFB port (try $try), starting again"
        sleep 5
    done
    return "$rc"
}

run_qemu() { # NAME CPUS DISK TIMEOUT MARKER [FAIL]
    if ! start_qemu "$1" "$2" "$3"; then
        echo "EMULATOR ENDED: QEMU could not be started" | tee "$(sys_dir "$1")/result"
        return 3
    fi
    sys_watch "$1" "$4" "$5" "${6:-}"
}

# ------------------------------------------------------------------ checks
sys_pass() { # NAME WHAT
    echo "system: PASS $1: $2"
    SYS_PASS=$((SYS_PASS + 1))
}

sys_fail() { # NAME WHAT
    local log
    log="$(sys_dir "$1")/serial.log"
    echo "system: FAIL $1: $2"
    echo "    last 30 lines of $log:"
    sys_tail "$log" 30
    SYS_FAIL=$((SYS_FAIL + 1))
}

sys_count() { # NAME REGEX
    local log
    log="$(sys_dir "$1")/serial.log"
    [ -f "$log" ] || { echo 0; return; }
    grep -Ec -- "$2" "$log" || true
}

expect_line() { # NAME REGEX [WHAT]
    if [ "$(sys_count "$1" "$2")" -gt 0 ]; then
        sys_pass "$1" "${3:-line /$2/}"
    else
        sys_fail "$1" "${3:-line /$2/} (not found)"
    fi
}

expect_no_line() { # NAME REGEX [WHAT]
    local log line
    log="$(sys_dir "$1")/serial.log"
    if [ -f "$log" ] && line=$(grep -Em1 -- "$2" "$log"); then
        sys_fail "$1" "${3:-no line /$2/} (found: $line)"
    else
        sys_pass "$1" "${3:-no line /$2/}"
    fi
}

expect_count() { # NAME REGEX OP N [WHAT]
    local n
    n=$(sys_count "$1" "$2")
    case $3 in
    -eq | -ne | -ge | -gt | -le | -lt) ;;
    *)
        sys_fail "$1" "expect_count: bad operator '$3'"
        return
        ;;
    esac
    if test "$n" "$3" "$4"; then
        sys_pass "$1" "${5:-count /$2/ $3 $4} ($n)"
    else
        sys_fail "$1" "${5:-count /$2/ $3 $4} (count is $n)"
    fi
}

# The first line matching each regex exists and they come in the given order.
expect_order() { # NAME REGEX...
    local name=$1 log prev='' n re what
    shift
    log="$(sys_dir "$name")/serial.log"
    what="order:"
    for re in "$@"; do
        what="$what${prev:+ <} /$re/"
        prev=1
    done
    prev=0
    for re in "$@"; do
        n=$(grep -Enm1 -- "$re" "$log" 2>/dev/null | cut -d: -f1)
        if [ -z "$n" ]; then
            sys_fail "$name" "$what (/$re/ not found)"
            return
        fi
        if [ "$n" -le "$prev" ]; then
            sys_fail "$name" "$what (/$re/ first at log line $n, not after line $prev)"
            return
        fi
        prev=$n
    done
    sys_pass "$name" "$what"
}

# The lines matching REGEX in run A's serial log and in run B's are the same,
# in the same order: a differential test (natively against under Lamina). A
# difference fails with the unified diff of those lines.
expect_same_lines() { # NAME_A NAME_B REGEX WHAT
    local a b d
    a="$(sys_dir "$1")/serial.log"
    b="$(sys_dir "$2")/serial.log"
    if [ "$(grep -Ec -- "$3" "$a" 2>/dev/null)" -eq 0 ]; then
        sys_fail "$1" "$4: no line /$3/ to compare"
    elif d=$(diff -u --label "$2" --label "$1" <(grep -E -- "$3" "$b") <(grep -E -- "$3" "$a")); then
        sys_pass "$1" "$4: $(grep -Ec -- "$3" "$a") lines the same"
    else
        sys_fail "$1" "$4 differ:"
        printf '%s\n' "$d" | sed 's/^/    /'
    fi
}

expect_run() { # NAME RC [WANT]
    local want=${3:-0} result
    result=$(cat "$(sys_dir "$1")/result" 2>/dev/null)
    if [ "$2" -eq "$want" ]; then
        sys_pass "$1" "emulator run ended as expected (${result:-rc $2})"
    else
        sys_fail "$1" "emulator run: ${result:-rc $2} (wanted rc $want)"
    fi
}

# ------------------------------------------------------------- disk images
# Disk of BLOCKS x 516096 bytes with Lamina as the default boot program,
# lamina.conf beside it holding CONF, and the SRC:DEST files; every source
# must exist (make all, make linux-guest).
lamina_disk_with() { # IMG CONF BLOCKS SRC:DEST...
    local img=$1 conf=$2 blocks=$3 f
    shift 3
    for f in "$LAMINA_EFI" "${@%%:*}"; do
        if [ ! -f "$f" ]; then
            echo "system: missing $f (run make all linux-guest)" >&2
            return 1
        fi
    done
    mkdir -p "$(dirname "$img")"
    # Bochs 2.7 keeps an INIT pending after its VM exit, so an AP that takes
    # one never runs again: there the monitor must emulate INIT IPIs.
    if [ "$BOCHS_FLAVOR" = 2.7 ] && ! grep -q '^init-emulation' <<<"$conf"; then
        conf="$conf"$'\ninit-emulation yes'
    fi
    printf '%s\n' "$conf" >"$img.conf"
    bash "$SYSTEM_ROOT/tools/mkdisk.sh" "$img" --size-blocks "$blocks" \
        "$LAMINA_EFI:/EFI/BOOT/BOOTX64.EFI" "$img.conf:/EFI/BOOT/lamina.conf" "$@"
}

# The probe at \EFI\lamina\probe.efi; extra SRC:DEST pairs appended.
lamina_disk() { # IMG CONF [SRC:DEST ...]
    local img=$1 conf=$2
    shift 2
    lamina_disk_with "$img" "$conf" 40 "$PROBE_EFI:/EFI/lamina/probe.efi" "$@"
}

# ------------------------------------------------------------ Linux guest
# Debian's cloud kernel with a busybox initramfs (test-guests/linux/), booted
# by Lamina through the kernel's EFI stub. The stub resolves initrd= on the
# volume it was loaded from, from its root.
LINUX_DIR=${LINUX_DIR:-$SYSTEM_ROOT/${BUILD:-build}/linux}
# hypercall-user: /init runs lamina-ctl, a ring-3 program.
LINUX_CONF='guest    \EFI\linux\vmlinuz
options  console=ttyS0,115200 initrd=\EFI\linux\initrd.img panic=-1
serial   0x3f8
on-error boot
hypercall-user yes
msr  lock  0xc0000082
io   log   0x70-0x71'
# /init's last line: "N passed, N failed" alone.
LINUX_CLEAN='^[1-9][0-9]* passed, 0 failed$'
# Nothing more can come after these: stop at once.
LINUX_STOP='lamina: fatal|on-error halt|guest stopped|lamina: error: (cannot load guest|lamina\.conf:)|Kernel panic|returned: '

# The kernel and the initramfs (about 16 MiB together: 60 blocks is 30 MiB);
# CONF defaults to LINUX_CONF. The version file is read by the checks.
linux_disk() { # IMG [CONF]
    if [ ! -f "$LINUX_DIR/version" ]; then
        echo "system: missing $LINUX_DIR/version (run make linux-guest)" >&2
        return 1
    fi
    lamina_disk_with "$1" "${2:-$LINUX_CONF}" 60 \
        "$LINUX_DIR/vmlinuz:/EFI/linux/vmlinuz" "$LINUX_DIR/initrd.img:/EFI/linux/initrd.img"
}
