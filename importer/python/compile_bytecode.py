"""Compile Python modules into a bytecode cache for the paths they have elsewhere.

    python3 -c "$(cat compile_bytecode.py)" PREFIX HOST_DIR INSIDE_DIR [HOST_DIR INSIDE_DIR ...]

rstore runs this on the host before the first task that runs with BitBake: every
regular `*.py` file under HOST_DIR is compiled (never run) into PREFIX, at the place
where an interpreter whose `sys.pycache_prefix` is PREFIX looks for the bytecode of the
same file seen at INSIDE_DIR (the task sandbox's path). Entries already up to date (the
source's size and mtime, as Python checks them on import) are left alone. Symbolic
links are not followed. Prints how many files it compiled and kept.
"""

import importlib.util
import marshal
import os
import stat
import sys
import warnings


def up_to_date(cfile, st):
    try:
        with open(cfile, "rb") as f:
            head = f.read(16)
    except OSError:
        return False
    return (
        len(head) == 16
        and head[:4] == importlib.util.MAGIC_NUMBER
        and int.from_bytes(head[4:8], "little") == 0
        and int.from_bytes(head[8:12], "little") == int(st.st_mtime) & 0xFFFFFFFF
        and int.from_bytes(head[12:16], "little") == st.st_size & 0xFFFFFFFF
    )


def compile_one(src, dfile, cfile):
    """Compile `src` (opened without following a link) as `dfile`, into `cfile`."""
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return False
        with os.fdopen(fd, "rb", closefd=False) as f:
            source = f.read()
    finally:
        os.close(fd)
    try:
        code = compile(source, dfile, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        # Left to the importer, which reports it where it matters.
        return False
    data = bytearray(importlib.util.MAGIC_NUMBER)
    data += (0).to_bytes(4, "little")
    data += (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
    data += (st.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    data += marshal.dumps(code)
    os.makedirs(os.path.dirname(cfile), exist_ok=True)
    tmp = "%s.%d.tmp" % (cfile, os.getpid())
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, cfile)
    return True


def main():
    warnings.simplefilter("ignore")
    prefix = os.path.abspath(sys.argv[1])
    sys.pycache_prefix = prefix
    pairs = sys.argv[2:]
    compiled = kept = 0
    for host, inside in zip(pairs[::2], pairs[1::2]):
        for root, dirs, files in os.walk(host):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
            for name in sorted(files):
                if not name.endswith(".py"):
                    continue
                src = os.path.join(root, name)
                try:
                    st = os.lstat(src)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                dfile = os.path.join(inside, os.path.relpath(src, host))
                cfile = importlib.util.cache_from_source(dfile)
                if not cfile.startswith(prefix + os.sep):
                    continue
                if up_to_date(cfile, st):
                    kept += 1
                    continue
                try:
                    compiled += compile_one(src, dfile, cfile)
                except OSError:
                    pass
    print("%d compiled, %d up to date" % (compiled, kept))


main()
