#!/usr/bin/env bash
# check-monitor-relocs.sh ELF
#
# The monitor is a static PIE (ld -pie --no-dynamic-linker) that the loader
# copies to reserved pages and relocates itself, applying R_X86_64_RELATIVE
# only. Fails (exit 1) naming the problem if ELF
#   - is not ET_DYN (a position-dependent image cannot be moved),
#   - has a loaded (SHF_ALLOC) relocation of any other type,
#   - has undefined symbols (strong or weak: a weak undefined symbol resolves
#     to a link-time constant that is wrong once the image is moved),
#   - has a PT_INTERP segment (nothing will act as its dynamic linker).
# Exits 0 silently otherwise. Non-alloc relocation sections (ld --emit-relocs)
# are not loaded and are ignored.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 ELF" >&2; exit 2; }
elf=$1
me=check-monitor-relocs
[ -f "$elf" ] || { echo "$me: $elf: no such file" >&2; exit 1; }
hdr=$(LC_ALL=C readelf -h -W "$elf" 2>&1) || { echo "$me: $elf: not an ELF file" >&2; exit 1; }

problems=()

etype=$(awk -F: '/^ *Type:/ { sub(/^ +/, "", $2); print $2 }' <<<"$hdr")
case $etype in
    DYN*) ;;
    *) problems+=("ELF type is '$etype', expected DYN (link with -pie --no-dynamic-linker)") ;;
esac

# Relocation sections that are loaded (flag A).
alloc_rel=$(LC_ALL=C readelf -S -W "$elf" | sed -n 's/^ *\[ *[0-9]*\] *//p' |
    awk '($2 == "RELA" || $2 == "REL") && $7 ~ /A/ { print $1 }')

bad_relocs=$(LC_ALL=C readelf -r -W "$elf" | awk -v secs="$alloc_rel" '
    BEGIN { n = split(secs, s, "\n"); for (i = 1; i <= n; i++) alloc[s[i]] = 1 }
    /^Relocation section / { name = $3; gsub(/\047/, "", name); cur = (name in alloc); next }
    cur && /^[0-9a-f]+ +[0-9a-f]+ +R_/ && $3 != "R_X86_64_RELATIVE" { print "  " name ": " $0 }
')
if [ -n "$bad_relocs" ]; then
    count=$(wc -l <<<"$bad_relocs")
    types=$(awk '{ print $4 }' <<<"$bad_relocs" | sort | uniq -c |
        awk '{ printf "%s%s x%s", sep, $2, $1; sep = ", " }')
    msg="$count dynamic relocation(s) other than R_X86_64_RELATIVE ($types):"
    msg+=$'\n'$(head -n 20 <<<"$bad_relocs")
    if [ "$count" -gt 20 ]; then msg+=$'\n'"  ... $((count - 20)) more"; fi
    problems+=("$msg")
fi

# Undefined global/weak symbols in .symtab and .dynsym. (Entry 0 is the null
# symbol; LOCAL UND entries are leftovers of ld --emit-relocs, not references.)
undef=$(LC_ALL=C readelf -s -W "$elf" |
    awk '$7 == "UND" && $8 != "" && $5 != "LOCAL" { print "  " $5 " " $8 }' | sort -u)
if [ -n "$undef" ]; then
    problems+=("undefined symbol(s):
$undef")
fi

phdrs=$(LC_ALL=C readelf -l -W "$elf" 2>&1 || true)
if grep -qE '^ +INTERP ' <<<"$phdrs"; then
    problems+=("has a PT_INTERP segment (link with --no-dynamic-linker)")
fi

[ ${#problems[@]} -eq 0 ] && exit 0
echo "$me: $elf is not a self-relocatable static PIE:" >&2
for p in "${problems[@]}"; do echo "$me: $p" >&2; done
exit 1
