# package.bbclass: splits what do_install put into ${D} into packages.
#
# PACKAGES lists a recipe's packages in priority order: each installed file
# goes to the first package one of whose FILES:<package> patterns (shell
# globs on the installed path; a directory takes everything below it)
# matches. RDEPENDS:<package> names the packages it needs at run time, each
# optionally with a version constraint: "zlib (>= 1.3)".
# ALLOW_EMPTY:<package> = "1" keeps a package that received no files.
# A file that no package takes is an error, so nothing installed is lost.
#
# Recipes put extra packages before the catch-all ${PN} with
# PACKAGE_BEFORE_PN (for example a library package "libfoo").

SOLIBS = ".so.*"
SOLIBSDEV = ".so"
PACKAGE_BEFORE_PN ?= ""
PACKAGES = "${PN}-staticdev ${PN}-dev ${PN}-doc ${PN}-locale ${PACKAGE_BEFORE_PN} ${PN}"

# The full version of this recipe's packages, for exact RDEPENDS.
EXTENDPKGV = "${@'%s:' % d.getVar('PKGE') if d.getVar('PKGE') else ''}${PKGV}-${PKGR}"

FILES:${PN} = "${bindir}/* ${sbindir}/* ${libexecdir}/* ${libdir}/lib*${SOLIBS} \
               ${sysconfdir} ${localstatedir} ${servicedir} \
               ${base_bindir}/* ${base_sbindir}/* ${base_libdir}/*${SOLIBS} \
               ${datadir}/${BPN} ${libdir}/${BPN}"
FILES:${PN}-dev = "${includedir} ${libdir}/lib*${SOLIBSDEV} ${libdir}/*.la \
                   ${base_libdir}/*${SOLIBSDEV} ${libdir}/pkgconfig ${datadir}/pkgconfig \
                   ${datadir}/aclocal ${libdir}/cmake ${datadir}/cmake"
FILES:${PN}-staticdev = "${libdir}/*.a ${base_libdir}/*.a"
FILES:${PN}-doc = "${docdir} ${mandir} ${infodir}"
FILES:${PN}-locale = "${datadir}/locale"

RDEPENDS:${PN}-dev = "${PN} (= ${EXTENDPKGV})"
RDEPENDS:${PN}-staticdev = "${PN}-dev (= ${EXTENDPKGV})"

addtask package after do_install
do_package[dirs] = "${WORKDIR}"
do_package[cleandirs] = "${PKGD} ${PKGDEST}"
do_package[rstore-builtin] = "package"
python do_package() {
    import glob
    import os
    image = d.getVar('D')
    pkgd = d.getVar('PKGD')
    pkgdest = d.getVar('PKGDEST')
    # Split a copy, so that ${D} stays as do_install left it.
    if os.path.isdir(image):
        rstore_copy_tree(image, pkgd)
    for pkg in (d.getVar('PACKAGES') or '').split():
        root = os.path.join(pkgdest, pkg)
        bb.utils.mkdirhier(root)
        for pattern in (d.getVar('FILES:' + pkg) or '').split():
            if not pattern.startswith('/'):
                bb.fatal("FILES:%s: %s is not an absolute path" % (pkg, pattern))
            for path in sorted(glob.glob(glob.escape(pkgd) + pattern)):
                target = os.path.join(root, os.path.relpath(path, pkgd))
                bb.utils.mkdirhier(os.path.dirname(target))
                os.rename(path, target)
    leftovers = []
    for dirpath, dirs, files in os.walk(pkgd):
        links = [name for name in dirs if os.path.islink(os.path.join(dirpath, name))]
        for name in files + links:
            leftovers.append('/' + os.path.relpath(os.path.join(dirpath, name), pkgd))
    if leftovers:
        bb.fatal("%s: these installed files are in no package (add them to a FILES:<package>):\n  %s"
                 % (d.getVar('PN'), '\n  '.join(sorted(leftovers))))
}

# Links this recipe's packages to the recipes providing their RDEPENDS, so
# that an image's recursive walk (do_rootfs[recrdeptask]) reaches every
# package in the run-time closure, not just the ones it names.
addtask package_rdepends after do_package_write_deb before do_build
do_package_rdepends[rdeptask] = "do_package_write_deb"
do_package_rdepends[noexec] = "1"
