# offline-patch-subset: applies part of a recipe's patch, for a substituted source that
# lacks some of the files the patch changes (a release tarball without a directory of the
# git tree, Debian's DFSG repack without the GFDL manuals) or whose generated files differ
# in their "#line N" markers only.
#
#     OFFLINE_PATCH_SUBSET = "NAME:PREFIX[,PREFIX...] ..."
#
# For each NAME (a patch the .bbappend lists in SRC_URI with ;apply=no, in place of the
# recipe's entry), the file sections whose path starts with a PREFIX are left out, and so
# are hunks that change nothing but "#line" markers; the rest is applied with patch -p1
# before the recipe's other patches, and must apply cleanly.

OFFLINE_PATCH_SUBSET ??= ""

python offline_patch_subset() {
    import re, subprocess
    s = d.getVar('S')
    unpackdir = d.getVar('UNPACKDIR')
    for spec in (d.getVar('OFFLINE_PATCH_SUBSET') or '').split():
        name, _, prefixes = spec.partition(':')
        prefixes = tuple(p for p in prefixes.split(',') if p)
        with open(os.path.join(unpackdir, name), encoding='utf-8', errors='surrogateescape') as f:
            text = f.read()
        kept = []
        for section in re.split(r'(?m)^(?=diff --git )', text):
            m = re.match(r'diff --git a/(\S+) b/', section)
            if m and m.group(1).startswith(prefixes):
                bb.note('%s: leaving out %s' % (name, m.group(1)))
                continue
            parts = re.split(r'(?m)^(?=@@ )', section)
            out = [parts[0]]
            for hunk in parts[1:]:
                changes = [l for l in hunk.splitlines()[1:] if l[:1] in '+-']
                if changes and all(re.match(r'[-+]#line ', l) for l in changes):
                    bb.note('%s: leaving out a #line-only hunk of %s' % (name, m.group(1) if m else '?'))
                    continue
                out.append(hunk)
            if m and len(out) == 1:
                continue
            kept.append(''.join(out))
        subset = os.path.join(d.getVar('WORKDIR'), 'offline-subset-' + name)
        with open(subset, 'w', encoding='utf-8', errors='surrogateescape') as f:
            f.write(''.join(kept))
        bb.note('Applying the subset of %s' % name)
        subprocess.run(['patch', '-p1', '--forward', '--no-backup-if-mismatch', '-i', subset],
                       cwd=s, check=True)
}
do_patch[prefuncs] += "offline_patch_subset"
