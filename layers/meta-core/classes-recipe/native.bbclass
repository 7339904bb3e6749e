# native.bbclass: tools built for, and run on, the build machine.
#
# BBCLASSEXTEND = "native" makes a "<name>-native" variant of a recipe.
# It is compiled with the host toolchain for BUILD_ARCH and installed at
# its final place inside the native sysroot (prefix is
# ${STAGING_DIR_NATIVE}/usr), so recipes that list it in DEPENDS find its
# programs on PATH and its headers and libraries through BUILD_CPPFLAGS
# and BUILD_LDFLAGS. A native variant is not packaged.
#
# Native libraries are built static only (recipes select this with
# :class-native overrides): sysroots are per recipe, so the directory a
# shared library is built for is not where its users would find it.

CLASSOVERRIDE = "class-native"
MACHINEOVERRIDES = ""
PACKAGE_ARCH = "${BUILD_ARCH}"

TARGET_ARCH = "${BUILD_ARCH}"
TARGET_VENDOR = "${BUILD_VENDOR}"
TARGET_OS = "${BUILD_OS}"
TARGET_PREFIX = "${BUILD_PREFIX}"
TARGET_CC_ARCH = "${BUILD_CC_ARCH}"
HOST_ARCH = "${BUILD_ARCH}"
HOST_VENDOR = "${BUILD_VENDOR}"
HOST_OS = "${BUILD_OS}"
HOST_PREFIX = "${BUILD_PREFIX}"
HOST_CC_ARCH = "${BUILD_CC_ARCH}"

CPPFLAGS = "${BUILD_CPPFLAGS}"
CFLAGS = "${BUILD_CFLAGS}"
CXXFLAGS = "${BUILD_CXXFLAGS}"
LDFLAGS = "${BUILD_LDFLAGS}"

base_prefix = "${STAGING_DIR_NATIVE}"
prefix = "${STAGING_DIR_NATIVE}${prefix_native}"
exec_prefix = "${STAGING_DIR_NATIVE}${prefix_native}"
bindir = "${STAGING_BINDIR_NATIVE}"
sbindir = "${STAGING_SBINDIR_NATIVE}"
libdir = "${STAGING_LIBDIR_NATIVE}"
base_libdir = "${STAGING_BASE_LIBDIR_NATIVE}"
includedir = "${STAGING_INCDIR_NATIVE}"
datadir = "${STAGING_DATADIR_NATIVE}"
sysconfdir = "${STAGING_ETCDIR_NATIVE}"

# Installed paths are already absolute paths in the native sysroot.
STAGING_DIR_HOST = ""
STAGING_DIR_TARGET = ""
SYSROOT_PREFIX = "${STAGING_DIR_NATIVE}"

PACKAGES = ""
deltask do_package do_package_write_deb do_package_rdepends

# Build dependencies become their -native variants; runtime dependencies
# do not apply (native tools run from the sysroot DEPENDS already fills).
python () {
    for var in ('DEPENDS', 'PROVIDES'):
        names = (d.getVar(var) or '').split()
        d.setVar(var, ' '.join(n if n.endswith('-native') else n + '-native' for n in names))
    d.setVar('RDEPENDS', '')
    d.setVar('RDEPENDS:' + d.getVar('PN'), '')
}
