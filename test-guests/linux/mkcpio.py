#!/usr/bin/env python3
"""Write a gzip'd "newc" cpio archive (an initramfs) of a directory tree.

    mkcpio.py OUT.gz TREE [--node PATH:c|b:MAJOR:MINOR:MODE ...]

Every entry is owned by root (uid 0, gid 0) and carries the same mtime
(SOURCE_DATE_EPOCH, default 0), so the output depends only on the tree's
contents and no root privileges or mknod are needed: device nodes the tree
cannot hold (e.g. /dev/console, which the kernel opens for init's stdin,
stdout and stderr before any devtmpfs is mounted) are given with --node.

Format: the kernel's Documentation/driver-api/early-userspace/buffer-format.rst
("newc": magic 070701, thirteen 8-digit hex fields, name and data each padded
to a multiple of 4 bytes, ended by the entry "TRAILER!!!").
"""
import argparse
import gzip
import os
import stat
import sys


class Writer:
    def __init__(self, out, mtime):
        self.out = out
        self.mtime = mtime
        self.ino = 1
        self.pos = 0

    def _write(self, data):
        self.out.write(data)
        self.pos += len(data)

    def _pad(self):
        if self.pos % 4:
            self._write(b"\0" * (4 - self.pos % 4))

    def entry(self, name, mode, data=b"", rdev=(0, 0), nlink=1):
        name_b = name.encode() + b"\0"
        fields = [
            self.ino, mode, 0, 0, nlink, self.mtime, len(data),
            0, 0, rdev[0], rdev[1], len(name_b), 0,
        ]
        self.ino += 1
        self._write(b"070701" + b"".join(b"%08x" % f for f in fields))
        self._write(name_b)
        self._pad()
        self._write(data)
        self._pad()

    def trailer(self):
        self.ino = 0
        self.entry("TRAILER!!!", 0, nlink=1)


def parse_node(spec):
    parts = spec.split(":")
    if len(parts) != 5 or parts[1] not in ("c", "b"):
        raise argparse.ArgumentTypeError("--node wants PATH:c|b:MAJOR:MINOR:MODE, got %r" % spec)
    kind = stat.S_IFCHR if parts[1] == "c" else stat.S_IFBLK
    return parts[0].strip("/"), kind | int(parts[4], 8), (int(parts[2]), int(parts[3]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("tree")
    ap.add_argument("--node", action="append", type=parse_node, default=[])
    args = ap.parse_args()

    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    nodes = {path: (mode, rdev) for path, mode, rdev in args.node}

    entries = []            # (archive name, lstat or None, node)
    for root, dirs, files in os.walk(args.tree):
        dirs.sort()
        rel = os.path.relpath(root, args.tree)
        for name in dirs + sorted(files):
            path = os.path.join(root, name)
            arc = os.path.normpath(os.path.join(rel, name))
            entries.append((arc, os.lstat(path), path))
    # Parents before children: sorting by path components does it.
    entries.sort(key=lambda e: e[0].split("/"))
    known = {e[0] for e in entries}
    for path in sorted(nodes):
        parent = os.path.dirname(path)
        if parent and parent not in known:
            sys.exit("mkcpio: --node %s: directory %s is not in the tree" % (path, parent))
        if path in known:
            sys.exit("mkcpio: --node %s: the tree already holds that path" % path)

    tmp = args.out + ".tmp"
    with open(tmp, "wb") as raw:
        # mtime=0 and no file name in the gzip header: reproducible output.
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
            w = Writer(gz, mtime)
            for arc, st, path in entries:
                perm = stat.S_IMODE(st.st_mode)
                if stat.S_ISDIR(st.st_mode):
                    w.entry(arc, stat.S_IFDIR | perm, nlink=2)
                elif stat.S_ISLNK(st.st_mode):
                    w.entry(arc, stat.S_IFLNK | 0o777, os.readlink(path).encode())
                elif stat.S_ISREG(st.st_mode):
                    with open(path, "rb") as f:
                        w.entry(arc, stat.S_IFREG | perm, f.read())
                else:
                    sys.exit("mkcpio: %s: not a directory, symlink or regular file" % path)
                # Device nodes go right after the directory that holds them.
                for node in sorted(nodes):
                    if os.path.dirname(node) == arc:
                        mode, rdev = nodes[node]
                        w.entry(node, mode, rdev=rdev)
            for node in sorted(nodes):
                if os.path.dirname(node) == "":
                    mode, rdev = nodes[node]
                    w.entry(node, mode, rdev=rdev)
            w.trailer()
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
