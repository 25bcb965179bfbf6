#!/usr/bin/env bash
# check-no-vector.sh FILE...  (object, archive or ELF executable)
#
# Disassembles FILE and fails if any instruction touches vector or x87 state:
# %xmm/%ymm/%zmm/%mm/%st/%k operands, x87 mnemonics (every x86 mnemonic that
# starts with "f"), emms/femms, wait, vzeroupper/vzeroall, ldmxcsr/stmxcsr,
# xsave*/xrstor*. xsetbv/xgetbv are allowed (the monitor emulates XSETBV) and so
# are movnti/prefetch*/sfence/lfence/mfence/clflush, which touch no vector state.
#
# Prints the offending lines (at most MAX_LINES, default 10, prefixed "  ") and
# exits 1; exits 0 silently when clean; exits 2 if objdump fails.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 FILE..." >&2; exit 2; }
max=${MAX_LINES:-10}
OBJDUMP=${OBJDUMP:-objdump}

rc=0
for f in "$@"; do
    [ -f "$f" ] || { echo "check-no-vector: $f: no such file" >&2; exit 2; }
    # objdump -d only decodes executable sections; --no-show-raw-insn keeps
    # lines to "addr:<TAB>insn" and drops byte-only continuation lines.
    if ! dis=$("$OBJDUMP" -d --no-show-raw-insn -w "$f" 2>&1); then
        echo "check-no-vector: objdump failed on $f:" >&2
        printf '%s\n' "$dis" | tail -5 >&2
        exit 2
    fi
    bad=$(printf '%s\n' "$dis" | awk -F'\t' -v max="$max" '
        / file format / { obj = $0; sub(/:? +file format.*/, "", obj); next }
        /^[0-9a-f]+ <.*>:$/ { sym = $0; sub(/^[0-9a-f]+ /, "", sym); sub(/:$/, "", sym); next }
        /^ *[0-9a-f]+:\t/ {
            insn = $2
            # Drop prefixes objdump prints before the mnemonic.
            while (insn ~ /^(rep|repz|repnz|repe|repne|lock|data16|data32|addr32|notrack|bnd|cs|ds|es|fs|gs|ss|xacquire|xrelease) /)
                sub(/^[a-z0-9]+ +/, "", insn)
            split(insn, w, /[ ,]+/); m = w[1]
            hit = 0
            if (insn ~ /%[xyz]mm[0-9]/ || insn ~ /%mm[0-7]/ || insn ~ /%k[0-7]/ || insn ~ /%st([^a-z0-9]|$)/) hit = 1
            if (m ~ /^f/) hit = 1                      # all x87 ops, fxsave/fxrstor, femms
            if (m ~ /^(emms|wait|vzeroupper|vzeroall|v?ldmxcsr|v?stmxcsr)$/) hit = 1
            if (m ~ /^(xsave|xrstor)/) hit = 1          # xsave*, xrstor*; xsetbv/xgetbv allowed
            if (hit) {
                n++
                if (n <= max) printf "  %s %s %s\n", obj, sym, $0
            }
        }
        END { if (n > max) printf "  ... %d more\n", n - max; exit (n > 0) }
    ') || { rc=1; printf '%s\n' "$bad"; }
done
exit $rc
