# license.bbclass: every recipe states its license and proves it.
#
# LICENSE is an SPDX license expression (AND, OR, WITH, parentheses);
# LICENSE:<package> narrows it for one package. LIC_FILES_CHKSUM lists the
# files that carry the license text, relative to ${S} (or absolute), each
# with the md5 of the whole file or of lines beginline..endline:
#
#   LIC_FILES_CHKSUM = "file://COPYING;md5=... \
#                       file://zlib.h;beginline=6;endline=23;md5=..."
#
# do_populate_lic fails when a checksum no longer matches the sources, so
# a license change is noticed when a recipe is upgraded, and collects the
# license texts (or the checked lines) into ${LICENSE_DESTDIR}/${PN}, at
# their path in the sources.

LICENSE_DESTDIR = "${WORKDIR}/license-destdir"

python () {
    if (d.getVar('LICENSE') or 'INVALID') == 'INVALID':
        bb.fatal("%s: LICENSE is not set; set it to the SPDX expression of the recipe's license" % d.getVar('FILE'))
}

def rstore_lic_file_entries(d):
    """Parse LIC_FILES_CHKSUM into (path, parameters) pairs."""
    entries = []
    for entry in (d.getVar('LIC_FILES_CHKSUM') or '').split():
        location, _, params = entry.partition(';')
        if not location.startswith('file://'):
            bb.fatal("LIC_FILES_CHKSUM entry %s: only file:// entries are supported" % entry)
        parm = {}
        for item in params.split(';'):
            if item:
                key, _, value = item.partition('=')
                parm[key] = value
        if 'md5' not in parm:
            bb.fatal("LIC_FILES_CHKSUM entry %s has no md5=" % entry)
        entries.append((location[len('file://'):], parm))
    return entries

addtask populate_lic after do_patch before do_build
do_populate_lic[dirs] = "${WORKDIR}"
do_populate_lic[cleandirs] = "${LICENSE_DESTDIR}"
do_populate_lic[sstate-inputdirs] = "${LICENSE_DESTDIR}"
do_populate_lic[sstate-outputdirs] = "${LICENSE_DIRECTORY}"
do_populate_lic[postfuncs] += "rstore_publish_outputs"
do_populate_lic[rstore-builtin] = "populate-lic"
python do_populate_lic() {
    import hashlib
    import os
    pn = d.getVar('PN')
    dest = os.path.join(d.getVar('LICENSE_DESTDIR'), pn)
    bb.utils.mkdirhier(dest)
    problems = []
    for path, parm in rstore_lic_file_entries(d):
        full = os.path.join(d.getVar('S'), path)
        if not os.path.isfile(full):
            problems.append("%s: no such file" % path)
            continue
        with open(full, 'rb') as f:
            lines = f.read().splitlines(keepends=True)
        begin = int(parm.get('beginline') or 1)
        end = int(parm.get('endline') or len(lines))
        text = b''.join(lines[begin - 1:end])
        found = hashlib.md5(text).hexdigest()
        if found != parm['md5']:
            problems.append("%s (lines %d-%d): md5 is %s, LIC_FILES_CHKSUM says %s"
                            % (path, begin, end, found, parm['md5']))
            continue
        # Keep the file's place in the sources: two files may share a name.
        name = os.path.basename(path) if os.path.isabs(path) else os.path.normpath(path)
        if 'beginline' in parm or 'endline' in parm:
            name += '.lines-%d-%d' % (begin, end)
        target = os.path.join(dest, name)
        bb.utils.mkdirhier(os.path.dirname(target))
        with open(target, 'wb') as f:
            f.write(text)
    if problems:
        bb.fatal("%s: the license files do not match LIC_FILES_CHKSUM:\n  %s" % (pn, '\n  '.join(problems)))
    with open(os.path.join(dest, 'recipeinfo'), 'w') as f:
        f.write("LICENSE: %s\nPV: %s\nPR: %s\n" % (d.getVar('LICENSE'), d.getVar('PV'), d.getVar('PR')))
}
