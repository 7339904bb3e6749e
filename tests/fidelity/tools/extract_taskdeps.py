#!/usr/bin/env python3
"""Read BitBake sigdata files (written by `bitbake -S none ...`) into taskdeps-<pn>.json.

usage: extract_taskdeps.py <stampsdir> <outdir> <scratchdir> <pn>...

<stampsdir>  the build's stamps dir (build/tmp/stamps or build/tmp-glibc/stamps)
<scratchdir> the folder holding bitbake/, openembedded-core/ and build/; its locations
             are written as ${TOPDIR}, ${COREBASE}, ${BITBAKEDIR}, ${SCRATCH} in the output.

For each <pn> the tasks do_compile and do_install are extracted, or do_rootfs and do_image
for an image (image.bbclass deletes do_compile/do_install).  Sigdata files are zstd
compressed JSON (BitBake >= 1.52, incl. 2.0 and 2.8; sets encoded as {"_set_object": [...]});
older pickle sigdata is handled too.  Only the standard library and the `zstd` command are used;
no BitBake code.  Every task's basehash (from varvals/taskdeps) and taskhash (from
runtaskhashes/file checksums) is recomputed as BitBake's siggen does and must match.
"""
import glob
import hashlib
import json
import os
import pickle
import subprocess
import sys

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def set_decoder(dct):
    if "_set_object" in dct:
        return set(dct["_set_object"])
    return dct


def load_sigdata(path):
    with open(path, "rb") as f:
        head = f.read(4)
    if head == ZSTD_MAGIC:
        raw = subprocess.run(["zstd", "-dcq", path], check=True, stdout=subprocess.PIPE).stdout
        return json.loads(raw.decode("utf-8"), object_hook=set_decoder), "zstd-json"
    with open(path, "rb") as f:
        return pickle.load(f), "pickle"


def plain(obj):
    """sets -> sorted lists, tuples -> lists, recursively"""
    if isinstance(obj, set):
        return sorted(plain(x) for x in obj)
    if isinstance(obj, (list, tuple)):
        return [plain(x) for x in obj]
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    return obj


class Subst:
    def __init__(self, scratch):
        scratch = os.path.realpath(scratch)
        self.pairs = [
            (os.path.join(scratch, "build"), "${TOPDIR}"),
            (os.path.join(scratch, "openembedded-core"), "${COREBASE}"),
            (os.path.join(scratch, "bitbake"), "${BITBAKEDIR}"),
            (scratch, "${SCRATCH}"),
        ]
        self.count = 0

    def __call__(self, obj):
        if isinstance(obj, str):
            for a, b in self.pairs:
                if a in obj:
                    self.count += obj.count(a)
                    obj = obj.replace(a, b)
            return obj
        if isinstance(obj, list):
            return [self(x) for x in obj]
        if isinstance(obj, dict):
            return {self(k): self(v) for k, v in obj.items()}
        return obj


def calc_basehash(sig):
    """BitBake's basehash (siggen.calc_basehash): sha256 over the task's value and, for every
    taskdeps entry in sorted order, its name and str(value)."""
    task = sig["task"]
    data = sig["varvals"][task] or ""
    for dep in sorted(sig["taskdeps"]):
        data += dep
        val = sig["varvals"][dep]
        if val is not None:
            data += str(val)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def calc_taskhash(sig):
    """BitBake's taskhash (siggen.calc_taskhash, same in 2.0, 2.8 and master)."""
    data = sig["basehash"]
    for dep in sig["runtaskdeps"]:
        data += sig["runtaskhashes"][dep]
    for name, cs in sig["file_checksum_values"]:
        if cs:
            if "./" in name:
                data += name
            data += cs
    if "taint" in sig:
        data += sig["taint"][8:] if "nostamp:" in sig["taint"] else sig["taint"]
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def find_sigfile(stamps, pn, task):
    hits = sorted(glob.glob(os.path.join(stamps, "*", pn, "*.%s.sigdata.*" % task)))
    if len(hits) != 1:
        raise SystemExit("%s:%s: expected one sigdata file, found %d: %s" % (pn, task, len(hits), hits))
    return hits[0]


def main():
    if len(sys.argv) < 5:
        raise SystemExit(__doc__)
    stamps, outdir, scratch = sys.argv[1:4]
    pns = sys.argv[4:]
    subst = Subst(scratch)
    os.makedirs(outdir, exist_ok=True)
    kinds = set()
    for pn in pns:
        tasks = ["do_compile", "do_install"]
        if not glob.glob(os.path.join(stamps, "*", pn, "*.do_compile.sigdata.*")):
            tasks = ["do_rootfs", "do_image"]
        out = {"PN": pn, "tasks": {}}
        for task in tasks:
            path = find_sigfile(stamps, pn, task)
            sig, kind = load_sigdata(path)
            kinds.add(kind)
            if sig.get("task", task) != task:
                raise SystemExit("%s: task field is %r" % (path, sig.get("task")))
            if calc_basehash(sig) != sig["basehash"]:
                raise SystemExit("%s: basehash does not recompute from varvals" % path)
            if calc_taskhash(sig) != sig["taskhash"]:
                raise SystemExit("%s: taskhash does not recompute" % path)
            ignore = set(sig["basehash_ignore_vars"])
            taskdeps = sorted(sig["taskdeps"])
            # the values that go into the basehash (calc_basehash skips ignored ones)
            hashed = [v for v in taskdeps if v not in ignore]
            if hashed != taskdeps:
                print("note: %s:%s taskdeps contains ignored vars %s" % (pn, task, sorted(set(taskdeps) - set(hashed))))
            if set(sig["gendeps"]) != set(hashed):
                print("note: %s:%s gendeps keys differ from taskdeps" % (pn, task))
            gendeps = {k: sorted(v) for k, v in sorted(sig["gendeps"].items())}
            varvals = {k: sig["varvals"][k] for k in sorted(sig["varvals"])}
            t = {
                "sigdata_file": os.path.relpath(path, stamps),
                "basehash_vars": hashed,
                "gendeps": gendeps,
                "varvals": plain(varvals),
                "taskhash_ignore_tasks": plain(sig["taskhash_ignore_tasks"]),
                "basehash_ignore_vars": sorted(ignore),
                # BitBake's order (sorted in 2.8 and master, which write pn:task ids;
                # 2.0 writes <recipe file>:task ids sorted by recipe file name)
                "runtaskdeps": list(sig["runtaskdeps"]),
                "file_checksums": [f for f, cs in sig.get("file_checksum_values", [])],
                "basehash": sig["basehash"],
                "taskhash": sig.get("taskhash"),
                "unihash": sig.get("unihash"),
                "n_basehash_vars": len(hashed),
            }
            if "taint" in sig:
                print("note: %s:%s has taint %r" % (pn, task, sig["taint"]))
            out["tasks"][task] = subst(t)
            print("%s:%s %s %d vars, %d runtaskdeps" % (pn, task, kind, len(hashed), len(t["runtaskdeps"])))
        if tasks[0] == "do_rootfs":
            out["note"] = ("recipe has no do_compile/do_install (deleted by image.bbclass); "
                           "do_rootfs and do_image dumped instead")
        with open(os.path.join(outdir, "taskdeps-%s.json" % pn), "w") as f:
            json.dump(out, f, indent=1)
    print("sigdata formats: %s; basehash and taskhash recomputed for every task; "
          "scratch paths substituted: %d" % (sorted(kinds), subst.count))


if __name__ == "__main__":
    main()
