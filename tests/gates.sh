#!/usr/bin/env bash
# gates.sh BUILD  -  static checks on the built monitor (run after `make all`).
#
# One line per check: "gate: PASS <name>" or "gate: FAIL <name> <detail>",
# followed by indented evidence for failures. Exits 1 if any gate failed.
#   no-vector-code          monitor.elf has no vector/x87 instructions
#   detector-catches-sse    the same detector flags an SSE object built here
#   detector-catches-x87    ... and an x87 object
#   detector-allows-gpr     ... and passes allowed code (xsetbv, movnti, ...)
#   no-uefi-calls           no UEFI symbols (BS/ST/gBS/uefi_call_wrapper/efi_*)
#   monitor-relocs          tools/check-monitor-relocs.sh (RELATIVE only, ...)
#   sbrk-is-monitor-panic   sbrk is defined by the monitor next to lamina_sbrk_panic
#   core-is-vendor-neutral  no file under core/ includes a vmx/ header or the EPT
#                           format (ept/ept.h), no product file outside vmx/
#                           includes a vmx/ header (tests of the backend may),
#                           and no core object refers to a VT-x or EPT symbol
#   layering-detector       the include check flags a core file that breaks the rule
#   core-injects-through-debug  no core file but core/debug.c calls
#                           be_inject_exception (faults must push RF = 1)
#   exit-path-rsb-fill      vmx_exit_entry fills the RSB (32 CALLs: a 16-round loop of
#                           two, with pause/lfence traps, the stack put back) before
#                           its first CALL into C and with no RET before it (M7)
#   rsb-fill-detector       the same check fails on an exit path without the fill
#   deb-package             tools/mkdeb.sh builds the .deb (LAMINA_VERSION), dpkg -c
#                           lists its files, no maintainer script, lintian clean
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: $0 BUILD" >&2; exit 2; }
build=$1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
novec=$root/tools/check-no-vector.sh
relocs=$root/tools/check-monitor-relocs.sh
mon=$build/monitor.elf

failed=0
pass() { echo "gate: PASS $1"; }
fail() {   # fail NAME DETAIL [EVIDENCE...]
    local name=$1 detail=$2; shift 2
    echo "gate: FAIL $name $detail"
    local e; for e in "$@"; do [ -n "$e" ] && printf '%s\n' "$e" | sed 's/^/    /'; done
    failed=1
}

have_mon=1
if [ ! -f "$mon" ]; then
    have_mon=0
    missing="$mon does not exist (run 'make all' first)"
fi

# ------------------------------------------------ a. no vector or x87 code
if [ $have_mon -eq 0 ]; then
    fail no-vector-code "$missing"
elif out=$(MAX_LINES=10 bash "$novec" "$mon" 2>&1); then
    pass no-vector-code
else
    fail no-vector-code "vector/x87 instructions in $mon:" "$out"
fi

# --------------------------------- b. the detector above is able to fail
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lamina-gates.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/sse.c" <<'EOF'
void gate_sse(void) { __asm__ volatile("movaps %xmm0, %xmm1"); }
EOF
cat >"$tmp/x87.c" <<'EOF'
void gate_x87(void) { __asm__ volatile("fninit; fldz; fstp %st(0)"); }
EOF
cat >"$tmp/gpr.c" <<'EOF'
/* Allowed: touches no vector state (xsetbv/xgetbv: the monitor emulates XSETBV). */
void gate_gpr(long *p) {
    __asm__ volatile("xgetbv; xsetbv; movnti %%rax, (%0); sfence; prefetchnta (%0); rep movsb"
                     : : "r"(p) : "rax", "rcx", "rdx", "rsi", "rdi", "memory");
}
EOF
detector_case() {   # NAME SRC EXPECT(flag|clean)
    local name=$1 src=$2 expect=$3 out
    if ! out=$(gcc -O2 -c "$tmp/$src" -o "$tmp/$src.o" 2>&1); then
        fail "$name" "could not compile the probe object" "$out"; return
    fi
    if out=$(bash "$novec" "$tmp/$src.o" 2>&1); then
        [ "$expect" = clean ] && pass "$name" || fail "$name" "detector did not flag $src"
    else
        if [ "$expect" = flag ] && [ -n "$out" ]; then pass "$name"
        else fail "$name" "detector flagged allowed code in $src" "$out"; fi
    fi
}
detector_case detector-catches-sse sse.c flag
detector_case detector-catches-x87 x87.c flag
detector_case detector-allows-gpr gpr.c clean

# ---------------------------------------------- the monitor's symbol table
syms=""
if [ $have_mon -eq 1 ]; then
    if ! syms=$(nm "$mon" 2>&1) || [ -z "$syms" ]; then
        nm_err="nm found no symbols in $mon: ${syms:-empty}"
        syms=""
    fi
fi

# ---------------------------------------------------- c. never calls UEFI
# gnu-efi's globals and wrappers; the monitor must not reference any of them.
uefi_re='^(BS|ST|RT|gBS|gST|gRT|gImageHandle|uefi_call_wrapper|_?efi_.*|Efi[A-Z].*|InitializeLib|LibLocateProtocol|Print|APrint|AllocatePool|FreePool)$'
if [ $have_mon -eq 0 ]; then
    fail no-uefi-calls "$missing"
elif [ -z "$syms" ]; then
    fail no-uefi-calls "$nm_err"
else
    hits=$(awk -v re="$uefi_re" '{ name = $NF } name ~ re { print }' <<<"$syms")
    if [ -z "$hits" ]; then pass no-uefi-calls
    else fail no-uefi-calls "UEFI symbols in $mon:" "$(head -n 10 <<<"$hits")"; fi
fi

# ------------------------------------------------------ d. relocations
if [ $have_mon -eq 0 ]; then
    fail monitor-relocs "$missing"
elif out=$(bash "$relocs" "$mon" 2>&1); then
    pass monitor-relocs
else
    fail monitor-relocs "(tools/check-monitor-relocs.sh)" "$out"
fi

# ------------------------------ e. sbrk (malloc's only way to memory) panics
if [ $have_mon -eq 0 ]; then
    fail sbrk-is-monitor-panic "$missing"
elif [ -z "$syms" ]; then
    fail sbrk-is-monitor-panic "$nm_err"
else
    sbrk_type=$(awk '$NF == "sbrk" && NF == 3 { print $2; exit }' <<<"$syms")
    panic_type=$(awk '$NF == "lamina_sbrk_panic" && NF == 3 { print $2; exit }' <<<"$syms")
    case $sbrk_type in
        T|t)
            if [ -n "$panic_type" ]; then pass sbrk-is-monitor-panic
            else fail sbrk-is-monitor-panic "sbrk is defined but lamina_sbrk_panic is not in $mon"; fi ;;
        "") fail sbrk-is-monitor-panic "sbrk is not defined in $mon (the monitor must provide a panicking sbrk)" ;;
        *)  fail sbrk-is-monitor-panic "sbrk has nm type '$sbrk_type', expected a text symbol (T/t)" ;;
    esac
fi

# ------------------------------------------ f. the core does not know VT-x
# layering_violations DIR: "file: line" for each #include that breaks the split.
layering_violations() {
    local dir=$1
    (cd "$dir" && grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](vmx/[^">]+|ept/ept\.h)[">]' \
        --include='*.[chS]' core 2>/dev/null)
    (cd "$dir" && grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]vmx/[^">]+[">]' \
        --include='*.[chS]' . 2>/dev/null | grep -vE '^\./(vmx|tests)/' | grep -vE '^\./core/')
    return 0
}
# The same on the built objects: core/ calls the backend only through be_*.
backend_symbols_in_core() { # BUILD
    local o
    for o in "$1"/mon/core/*.o; do
        [ -f "$o" ] || continue
        gcc-nm -u "$o" 2>/dev/null |
            awk -v o="$o" '$2 ~ /^(vmx_|vmcs_|vmread|vmwrite|invept|invvpid|ept_)/ { print o ": " $2 }'
    done
}
out=$(layering_violations "$root"; backend_symbols_in_core "$build")
if [ -n "$out" ]; then
    fail core-is-vendor-neutral "backend headers included where they must not be:" "$out"
else
    pass core-is-vendor-neutral
fi
mkdir -p "$tmp/layer/core"
printf '#include "vmx/vmcs.h"\n' >"$tmp/layer/core/bad.c"
printf '#include <ept/ept.h>\n' >"$tmp/layer/core/bad2.c"
mkdir -p "$tmp/layer/build/mon/core"
printf 'void vmx_flush_ept(void); void f(void) { vmx_flush_ept(); }\n' >"$tmp/layer/bad3.c"
gcc -c "$tmp/layer/bad3.c" -o "$tmp/layer/build/mon/core/bad3.c.o" 2>/dev/null
out=$(layering_violations "$tmp/layer"; backend_symbols_in_core "$tmp/layer/build")
if grep -q 'core/bad.c' <<<"$out" && grep -q 'core/bad2.c' <<<"$out" &&
    grep -q 'bad3.c.o: vmx_flush_ept' <<<"$out"; then
    pass layering-detector
else
    fail layering-detector "the check missed a planted violation:" "$out"
fi

# ------------------------- h. the core injects exceptions with their RF (M6)
# core/debug.c's vcpu_inject_exception sets RF for a fault (SDM 3A 18.3.1.1);
# a core file that called be_inject_exception itself would push RF = 0.
direct_injections() { # DIR
    (cd "$1" && grep -HnE '\bbe_inject_exception[[:space:]]*\(' core/*.c 2>/dev/null |
        grep -v '^core/debug\.c:')
    return 0
}
out=$(direct_injections "$root")
mkdir -p "$tmp/inj/core"
printf 'void f(void) { be_inject_exception(v, 13, true, 0); }\n' >"$tmp/inj/core/bad.c"
if [ -n "$out" ]; then
    fail core-injects-through-debug "core files inject without core/debug.c:" "$out"
elif ! direct_injections "$tmp/inj" | grep -q 'core/bad.c'; then
    fail core-injects-through-debug "the check missed a planted direct injection"
else
    pass core-injects-through-debug
fi

# ------------------------------------ i. the exit path fills the RSB (M7)
# rsb_fill_missing FILE: empty if vmx_exit_entry in FILE runs the fill of
# vmx/vmx_asm.S (RSB_FILL) before its call of vmx_exit_handler, else why not.
rsb_fill_missing() {
    local f=$1 body
    body=$(objdump -dr --no-show-raw-insn "$f" 2>/dev/null |
        awk '/^[0-9a-f]+ <vmx_exit_entry>:/ { on = 1; next } on && /^$/ { exit }
             on && /vmx_exit_handler/ { print "HANDLER"; exit } on { print }')
    if [ -z "$body" ]; then echo "no vmx_exit_entry in $f"; return; fi
    grep -q '^HANDLER$' <<<"$body" || { echo "no call of vmx_exit_handler in vmx_exit_entry"; return; }
    grep -qE '\bret' <<<"$body" && { echo "a RET before the fill"; return; }
    local calls
    calls=$(grep -cE '\scall ' <<<"$body")
    [ "$calls" -ge 2 ] || { echo "$calls CALLs before the handler, want the fill's 2 per round"; return; }
    grep -qE 'mov +\$0x10,%eax' <<<"$body" || { echo "no 16-round loop counter"; return; }
    grep -qE '\bpause' <<<"$body" && grep -qE '\blfence' <<<"$body" ||
        { echo "no pause/lfence speculation trap"; return; }
    grep -qE 'add +\$0x100,%rsp' <<<"$body" || { echo "the 256 bytes of return addresses not dropped"; return; }
}
if [ $have_mon -eq 0 ]; then
    fail exit-path-rsb-fill "$missing"
elif why=$(rsb_fill_missing "$mon") && [ -z "$why" ]; then
    pass exit-path-rsb-fill
else
    fail exit-path-rsb-fill "$why"
fi
sed 's/^[[:space:]]*RSB_FILL[[:space:]]*$//' "$root/vmx/vmx_asm.S" >"$tmp/nofill.S"
if gcc -c "$tmp/nofill.S" -o "$tmp/nofill.o" 2>/dev/null &&
    why=$(rsb_fill_missing "$tmp/nofill.o") && [ -n "$why" ] &&
    gcc -c "$root/vmx/vmx_asm.S" -o "$tmp/fill.o" 2>/dev/null &&
    [ -z "$(rsb_fill_missing "$tmp/fill.o")" ]; then
    pass rsb-fill-detector
else
    fail rsb-fill-detector "the check did not tell an exit path without the fill from vmx/vmx_asm.S"
fi

# ------------------------------------------------- g. the Debian package
if [ -z "${LAMINA_VERSION:-}" ]; then
    fail deb-package "LAMINA_VERSION is not set (run through make gates)"
elif out=$(bash "$root/tools/mkdeb.sh" "$build" "$LAMINA_VERSION" 2>&1); then
    pass deb-package
    printf '%s\n' "$out" | grep -E '^deb: (built|dpkg -c|lintian: [A-Z]:)' | sed 's/^/    /'
else
    fail deb-package "tools/mkdeb.sh failed" "$(tail -n 20 <<<"$out")"
fi

exit $failed
