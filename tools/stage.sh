#!/usr/bin/env bash
# Install Lamina's files under a prefix, as `make install` and the Debian
# package (tools/mkdeb.sh) lay them out:
#
#   tools/stage.sh BUILD PREFIX
#
#   PREFIX/lib/lamina/lamina.efi          the UEFI application (copied to the
#                                         ESP by lamina-install, never here)
#   PREFIX/sbin/lamina-install            installs, tries, keeps, removes it
#   PREFIX/bin/lamina-ctl                 asks the running monitor
#   PREFIX/share/man/man{1,5,8}/*.gz      lamina-ctl(1), lamina.conf(5),
#                                         lamina-install(8)
#
# The programs are stripped and the manuals compressed (gzip -9n), as Debian
# policy wants them. lamina-install finds lamina.efi at ../lib/lamina/ from
# its own directory, so any PREFIX works.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BUILD PREFIX" >&2; exit 2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$1
prefix=$2
for f in "$build/lamina.efi" "$build/lamina-install" "$build/lamina-ctl"; do
    [ -f "$f" ] || { echo "stage: missing $f (run make all)" >&2; exit 1; }
done

install -d "$prefix/lib/lamina" "$prefix/sbin" "$prefix/bin" \
    "$prefix/share/man/man1" "$prefix/share/man/man5" "$prefix/share/man/man8"
install -m 0644 "$build/lamina.efi" "$prefix/lib/lamina/lamina.efi"
install -m 0755 "$build/lamina-install" "$prefix/sbin/lamina-install"
install -m 0755 "$build/lamina-ctl" "$prefix/bin/lamina-ctl"
strip --strip-unneeded --remove-section=.comment "$prefix/sbin/lamina-install" \
    "$prefix/bin/lamina-ctl"
for page in lamina-ctl.1 lamina.conf.5 lamina-install.8; do
    gzip -9n <"$root/tools/man/$page" >"$prefix/share/man/man${page##*.}/$page.gz"
    chmod 0644 "$prefix/share/man/man${page##*.}/$page.gz"
done
echo "stage: installed under $prefix"
