# package_deb.bbclass: writes each package as a Debian binary package.
#
# The control file is generated from the recipe: Package, Version
# ([PKGE:]PKGV-PKGR), Architecture (DPKG_ARCH), Maintainer, Installed-Size,
# Depends (from RDEPENDS:<package>), Section, Priority, Homepage and
# Description (SUMMARY and DESCRIPTION, per package or for the recipe).
# Files are owned by root and time stamps are clamped to SOURCE_DATE_EPOCH,
# so the same package contents give the same .deb bytes.

inherit package

DEB_DEPLOYDIR = "${WORKDIR}/deploy-debs"
DPKG_ARCH ?= "${@rstore_dpkg_arch(d)}"
DEB_COMPRESSION ?= "xz"

def rstore_dpkg_arch(d):
    """Debian's name for the architecture packages of this recipe run on."""
    if d.getVar('PACKAGE_ARCH') == 'all':
        return 'all'
    names = {
        'x86_64': 'amd64',
        'i586': 'i386',
        'i686': 'i386',
        'aarch64': 'arm64',
        'arm': 'armhf',
        'riscv64': 'riscv64',
        'powerpc64le': 'ppc64el',
    }
    arch = d.getVar('HOST_ARCH')
    return names.get(arch, arch)

def rstore_deb_depends(rdepends):
    """RDEPENDS syntax ("a (>= 1) b") to a Debian Depends field."""
    operators = {'<': '<<', '>': '>>', '=': '=', '<=': '<=', '>=': '>='}
    fields = []
    for name, constraints in bb.utils.explode_dep_versions2(rdepends or '').items():
        if not constraints:
            fields.append(name)
        for constraint in constraints:
            op, _, version = constraint.partition(' ')
            if op not in operators:
                bb.fatal("RDEPENDS entry %s (%s): unknown operator %s" % (name, constraint, op))
            fields.append('%s (%s %s)' % (name, operators[op], version.strip()))
    return ', '.join(fields)

addtask package_write_deb after do_package before do_build
do_package_write_deb[dirs] = "${WORKDIR}"
do_package_write_deb[cleandirs] = "${DEB_DEPLOYDIR} ${WORKDIR}/deb-build"
do_package_write_deb[sstate-inputdirs] = "${DEB_DEPLOYDIR}"
do_package_write_deb[sstate-outputdirs] = "${DEPLOY_DIR_DEB}"
do_package_write_deb[postfuncs] += "rstore_publish_outputs"
do_package_write_deb[rstore-builtin] = "package-deb"
python do_package_write_deb() {
    import os
    import subprocess
    import textwrap
    pkgdest = d.getVar('PKGDEST')
    arch = d.getVar('DPKG_ARCH')
    outdir = os.path.join(d.getVar('DEB_DEPLOYDIR'), d.getVar('PACKAGE_ARCH'))
    bb.utils.mkdirhier(outdir)
    env = {
        'PATH': d.getVar('PATH'),
        'LC_ALL': 'C',
        'SOURCE_DATE_EPOCH': d.getVar('SOURCE_DATE_EPOCH'),
    }
    version = d.getVar('EXTENDPKGV')
    for pkg in (d.getVar('PACKAGES') or '').split():
        root = os.path.join(pkgdest, pkg)
        sizes = []
        for dirpath, dirs, files in os.walk(root):
            for name in files:
                sizes.append(os.lstat(os.path.join(dirpath, name)).st_size)
        if not sizes and d.getVar('ALLOW_EMPTY:' + pkg) != '1':
            bb.note("Not writing %s: it is empty" % pkg)
            continue
        build = os.path.join(d.getVar('WORKDIR'), 'deb-build', pkg)
        if os.path.isdir(root):
            rstore_copy_tree(root, build)
        control_dir = os.path.join(build, 'DEBIAN')
        bb.utils.mkdirhier(control_dir)
        os.chmod(control_dir, 0o755)

        summary = d.getVar('SUMMARY:' + pkg) or d.getVar('SUMMARY')
        description = d.getVar('DESCRIPTION:' + pkg) or d.getVar('DESCRIPTION')
        fields = [
            ('Package', pkg),
            ('Version', version),
            ('Architecture', arch),
            ('Maintainer', d.getVar('MAINTAINER')),
            ('Installed-Size', str(sum((size + 1023) // 1024 for size in sizes))),
            ('Depends', rstore_deb_depends(d.getVar('RDEPENDS:' + pkg))),
            ('Section', d.getVar('SECTION:' + pkg) or d.getVar('SECTION')),
            ('Priority', d.getVar('PRIORITY')),
            ('Homepage', d.getVar('HOMEPAGE')),
            ('Source', d.getVar('BPN')),
        ]
        lines = ['%s: %s' % (key, value) for key, value in fields if value]
        lines.append('Description: %s' % summary)
        paragraphs = [p for p in (description or '').split('\n\n') if p.strip()]
        for index, paragraph in enumerate(paragraphs):
            if index:
                lines.append(' .')
            lines.extend(' ' + line for line in textwrap.wrap(paragraph, 78))
        with open(os.path.join(control_dir, 'control'), 'w') as f:
            f.write('\n'.join(lines) + '\n')

        deb = os.path.join(outdir, '%s_%s_%s.deb' % (pkg, d.getVar('PKGV') + '-' + d.getVar('PKGR'), arch))
        cmd = ['dpkg-deb', '--root-owner-group', '-Z%s' % d.getVar('DEB_COMPRESSION'),
               '--build', build, deb]
        result = subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            bb.fatal("dpkg-deb could not write %s:\n%s" % (os.path.basename(deb), result.stdout))
}
