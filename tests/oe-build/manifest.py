#!/usr/bin/env python3
"""Write a manifest of a directory tree, one JSON object per line, sorted by path:
{"path", "type": "dir"|"file"|"symlink", "mode": "0755", and for files "size" and
"sha256", for symlinks "target"}. Paths of the build that made the tree are replaced by
placeholders before hashing (--replace PATH=NAME, longest first), so trees built in two
build directories, or by BitBake and by rstore, compare equal when only those paths
differ; a file whose bytes changed this way is marked "normalised": true.

Usage: manifest.py DIR [--replace PATH=NAME ...] > out.jsonl
"""
import argparse
import hashlib
import json
import os
import stat
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("--replace", action="append", default=[], metavar="PATH=NAME")
    args = ap.parse_args()
    pairs = []
    for r in args.replace:
        path, _, name = r.partition("=")
        if not path or not name:
            ap.error(f"--replace wants PATH=NAME, got {r!r}")
        pairs.append((path.encode(), name.encode()))
    pairs.sort(key=lambda p: -len(p[0]))
    out = []
    for dirpath, dirnames, filenames in os.walk(args.root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, args.root)
            st = os.lstat(full)
            entry = {"path": rel, "mode": "%04o" % stat.S_IMODE(st.st_mode)}
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(full).encode()
                for p, n in pairs:
                    target = target.replace(p, n)
                entry.update(type="symlink", target=target.decode("utf-8", "surrogateescape"))
                del entry["mode"]
            elif stat.S_ISDIR(st.st_mode):
                entry["type"] = "dir"
            elif stat.S_ISREG(st.st_mode):
                data = open(full, "rb").read()
                norm = data
                for p, n in pairs:
                    norm = norm.replace(p, n)
                entry.update(type="file", size=len(norm), sha256=hashlib.sha256(norm).hexdigest())
                if norm != data:
                    entry["normalised"] = True
            else:
                entry["type"] = "special"
            out.append(entry)
    out.sort(key=lambda e: e["path"])
    for e in out:
        sys.stdout.write(json.dumps(e, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
