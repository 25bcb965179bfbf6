#!/usr/bin/env bash
# Build the Debian package of Lamina with dpkg-deb from a staged tree (no
# debhelper), then check it:
#
#   tools/mkdeb.sh BUILD VERSION      ->  BUILD/lamina_VERSION_amd64.deb
#
# Contents: tools/stage.sh under /usr, plus /usr/share/doc/lamina/copyright
# and changelog.gz, and the lintian overrides below. No maintainer scripts:
# putting Lamina on the EFI system partition is the user's act
# (lamina-install), never the package's. The package is native (no Debian
# revision); its dates come from the last commit (SOURCE_DATE_EPOCH), so the
# same tree builds the same .deb.
#
# Checks (each failure fails the build):
#   - dpkg -c lists every file named in $want below;
#   - the package has no maintainer scripts;
#   - lintian reports no error and no warning; each override says why.
# The lintian output is kept in BUILD/lamina.lintian.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BUILD VERSION" >&2; exit 2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "$1" && pwd)
version=$2
pkg=lamina
deb=$build/${pkg}_${version}_amd64.deb
work=$build/deb
stage=$work/$pkg
die() { echo "deb: $*" >&2; exit 1; }

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}

rm -rf "$work"
mkdir -p "$stage/DEBIAN" "$work/src/debian"
bash "$root/tools/stage.sh" "$build" "$stage/usr" >/dev/null

# ---- /usr/share/doc/lamina
doc=$stage/usr/share/doc/$pkg
install -d "$doc"
{
    echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
    echo "Upstream-Name: Lamina"
    echo
    echo "Files: *"
    echo "Copyright: $(sed -n 's/^Copyright (c) //p' "$root/LICENSE")"
    echo "License: Expat"
    echo
    echo "License: Expat"
    # The license text after its title and copyright line, indented, with
    # blank lines as " ." (Debian copyright format 1.0).
    sed -n '/^Permission is hereby granted/,$p' "$root/LICENSE" | sed -e 's/^$/./' -e 's/^/ /'
} >"$doc/copyright"
{
    echo "$pkg ($version) unstable; urgency=medium"
    echo
    echo "  * Lamina $version: lamina.efi, lamina-install, lamina-ctl and their manuals."
    echo
    echo " -- Lamina developers <lamina-devel@lamina.invalid>  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$doc/changelog.gz"
chmod 0644 "$doc/copyright" "$doc/changelog.gz"

# ---- lintian overrides: each tag lintian has and why it does not apply
install -d "$stage/usr/share/lintian/overrides"
cat >"$stage/usr/share/lintian/overrides/$pkg" <<'EOF'
# lamina.efi is a UEFI application, not a Windows program: gnu-efi's objcopy
# makes its PE header from an ELF image and sets no DllCharacteristics. The
# firmware relocates it wherever it likes through its .reloc section, and
# NX_COMPAT would promise the firmware that nothing runs from memory the
# image allocates, which the loader does not keep: it copies the monitor
# into pages it allocates (EfiReservedMemoryType) and runs it there.
lamina: portable-executable-missing-security-features ASLR DEP/NX [usr/lib/lamina/lamina.efi]
EOF
chmod 0644 "$stage/usr/share/lintian/overrides/$pkg"

# ---- DEBIAN/control, with the libraries the programs need
cat >"$work/src/debian/control" <<EOF
Source: $pkg

Package: $pkg
Architecture: amd64
EOF
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O "-e$stage/usr/sbin/lamina-install" \
    "-e$stage/usr/bin/lamina-ctl" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || die "dpkg-shlibdeps found no library dependencies"
size=$(du -k -s --apparent-size "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<EOF
Package: $pkg
Version: $version
Architecture: amd64
Maintainer: Lamina developers <lamina-devel@lamina.invalid>
Installed-Size: $size
Depends: $shlibs
Section: admin
Priority: optional
Description: thin VT-x hypervisor that guards one OS (UEFI application)
 Lamina is started by the UEFI firmware from the EFI system partition. It
 virtualizes every processor with Intel VT-x and EPT, turns the running
 firmware into its one pass-through guest and starts the OS loader (shim,
 GRUB, a Linux EFI-stub kernel). It stays resident in memory the OS cannot
 reach, enforces an I/O port and MSR policy and keeps an event log.
 .
 This package holds lamina.efi and two programs: lamina-install puts it on
 the EFI system partition for the loader the machine boots, with a trial
 first boot (BootNext) that falls back to the old boot order by itself, and
 commits or removes it; lamina-ctl reads the monitor's statistics and event
 log. Installing the package changes nothing on the EFI system partition.
EOF
(cd "$stage" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"
find "$stage" -type d -exec chmod 0755 {} +
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "deb: built $deb ($(stat -c %s "$deb") bytes)"

# ---- checks
listing=$(dpkg -c "$deb")
want=(./usr/lib/lamina/lamina.efi ./usr/sbin/lamina-install ./usr/bin/lamina-ctl
      ./usr/share/man/man8/lamina-install.8.gz ./usr/share/man/man1/lamina-ctl.1.gz
      ./usr/share/man/man5/lamina.conf.5.gz ./usr/share/doc/lamina/copyright
      ./usr/share/doc/lamina/changelog.gz)
for f in "${want[@]}"; do
    grep -q " $f\$" <<<"$listing" || die "dpkg -c: $f is missing"
done
echo "deb: dpkg -c lists ${#want[@]} files: ${want[*]}"
scripts=$(dpkg-deb --ctrl-tarfile "$deb" | tar -t | grep -E '(pre|post)(inst|rm)|config$' || true)
[ -z "$scripts" ] || die "maintainer scripts in the package: $scripts"
echo "deb: no maintainer scripts"
if command -v lintian >/dev/null; then
    # Every tag, down to pedantic and experimental ones; errors and
    # warnings fail the build.
    lintian -I -E --pedantic --show-overrides "$deb" >"$build/lamina.lintian" 2>&1 || true
    sed 's/^/deb: lintian: /' "$build/lamina.lintian"
    if grep -qE '^[EW]: ' "$build/lamina.lintian"; then
        die "lintian reports errors or warnings ($build/lamina.lintian)"
    fi
    echo "deb: lintian: no errors, no warnings"
else
    die "lintian is not installed (tools/deps.sh installs it)"
fi
