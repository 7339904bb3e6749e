# nativesdk.bbclass: programs for the SDK, the toolkit a developer installs
# on another machine to build for this distribution.
#
# BBCLASSEXTEND = "nativesdk" makes a "nativesdk-<name>" variant of a
# recipe. It is built with the host toolchain for SDK_ARCH, installed
# under SDKPATHNATIVE (the SDK's fixed install location, recorded as the
# programs' run-time library path) and packaged like a target recipe, with
# every package name and dependency given the nativesdk- prefix.

CLASSOVERRIDE = "class-nativesdk"
MACHINEOVERRIDES = ""
PN := "nativesdk-${@rstore_base_name(d.getVar('PN'), d)}"
PACKAGE_ARCH = "${SDK_ARCH}-${SDKPKGSUFFIX}"

TARGET_ARCH = "${SDK_ARCH}"
TARGET_VENDOR = "${SDK_VENDOR}"
TARGET_OS = "${SDK_OS}"
TARGET_PREFIX = "${SDK_PREFIX}"
TARGET_CC_ARCH = "${SDK_CC_ARCH}"
HOST_ARCH = "${SDK_ARCH}"
HOST_VENDOR = "${SDK_VENDOR}"
HOST_OS = "${SDK_OS}"
HOST_PREFIX = "${SDK_PREFIX}"
HOST_CC_ARCH = "${SDK_CC_ARCH}"

base_prefix = "${SDKPATHNATIVE}"
prefix = "${SDKPATHNATIVE}${prefix_nativesdk}"
exec_prefix = "${SDKPATHNATIVE}${prefix_nativesdk}"
TARGET_LDFLAGS:append = " -Wl,-rpath,${libdir}"

python () {
    prefix = 'nativesdk-'

    def sdk_name(name):
        if name.startswith(prefix) or name.endswith('-native') or name.startswith('virtual/'):
            return name
        return prefix + name

    # Packages the recipe names literally (say "libfoo") get the prefix, and
    # so do the per-package variables that go with them.
    packages = []
    for pkg in (d.getVar('PACKAGES') or '').split():
        renamed = sdk_name(pkg)
        if renamed != pkg:
            for var in ('FILES', 'RDEPENDS', 'RRECOMMENDS', 'RPROVIDES', 'ALLOW_EMPTY',
                        'SUMMARY', 'DESCRIPTION', 'LICENSE', 'SECTION'):
                if d.getVar('%s:%s' % (var, pkg), False) is not None:
                    d.renameVar('%s:%s' % (var, pkg), '%s:%s' % (var, renamed))
        packages.append(renamed)
    d.setVar('PACKAGES', ' '.join(packages))

    for var in ['DEPENDS', 'PROVIDES'] + ['RDEPENDS:' + pkg for pkg in packages]:
        value = d.getVar(var)
        if not value:
            continue
        deps = bb.utils.explode_dep_versions2(value)
        mapped = {sdk_name(name): constraints for name, constraints in deps.items()}
        d.setVar(var, bb.utils.join_deps(mapped, commasep=False))
}
