SUMMARY = "Zstandard: fast real-time compression"
DESCRIPTION = "Zstandard is a lossless compression algorithm with \
zlib-level and better compression ratios at much higher speed; the zstd \
program also reads and writes the gzip and xz formats."
HOMEPAGE = "https://facebook.github.io/zstd/"
SECTION = "console/utils"
LICENSE = "BSD-3-Clause OR GPL-2.0-only"
LIC_FILES_CHKSUM = "file://LICENSE;md5=0822a32f7acdbe013606746641746ee8 \
                    file://COPYING;md5=39bba7d2cf0ba1036f2a6e2be52fe3f0"

# Upstream's release file is
# https://github.com/facebook/zstd/releases/download/v1.5.7/zstd-1.5.7.tar.gz
# (sha256 eb33e51f49a15e023950cd7825ca74a4a2b43db8354825ac24fc1b7ee09e6fa3),
# but every Debian suite carries a repacked tarball (Debian drops the
# Visual Studio project files and CI configuration, hence "+dfsg"). The
# recipe therefore fetches Debian's .orig tarball from the Debian pool,
# with that file's own checksum, so that machines reaching only Debian's
# archive can build it. It unpacks to the same zstd-1.5.7/ directory.
SRC_URI = "https://deb.debian.org/debian/pool/main/libz/libzstd/libzstd_${PV}+dfsg.orig.tar.xz"
SRC_URI[sha256sum] = "0c092ef267edce57ba7f3f2645c861f72eaf5e76273c6c3632869423464b90a5"
DEBIAN_SOURCE_PACKAGE = "libzstd"

DEPENDS = "zlib xz"

inherit make

# zstd's Makefiles add their own flags to CFLAGS, CPPFLAGS and LDFLAGS,
# which they take from the environment; only the tools, the install
# locations and the optional features (fixed, not probed) go on the
# command line.
EXTRA_OEMAKE = "'CC=${CC}' 'AR=${AR}' 'RANLIB=${RANLIB}' \
                'PREFIX=${prefix}' 'LIBDIR=${libdir}' 'INCLUDEDIR=${includedir}' \
                'BINDIR=${bindir}' 'MAN1DIR=${mandir}/man1' \
                HAVE_PTHREAD=1 HAVE_ZLIB=1 HAVE_LZMA=1 HAVE_LZ4=0"

# Native tools: the static library only (see native.bbclass).
ZSTD_LIB_TARGETS = "lib-release"
ZSTD_LIB_TARGETS:class-native = "libzstd.a"
ZSTD_LIB_INSTALL = "install"
ZSTD_LIB_INSTALL:class-native = "install-static install-includes install-pc"

do_compile() {
	oe_runmake -C lib ${ZSTD_LIB_TARGETS}
	oe_runmake -C programs zstd-release
}

do_install() {
	oe_runmake -C lib 'DESTDIR=${D}' ${ZSTD_LIB_INSTALL}
	oe_runmake -C programs 'DESTDIR=${D}' install
}

PACKAGE_BEFORE_PN = "libzstd"
SUMMARY:libzstd = "Zstandard compression library"
FILES:libzstd = "${libdir}/libzstd.so.*"
# The zstd program carries its own copy of the library code; it links
# zlib and liblzma for the gzip and xz formats.
RDEPENDS:${PN} = "zlib liblzma"
RDEPENDS:${PN}-dev = "libzstd (= ${EXTENDPKGV})"

BBCLASSEXTEND = "native nativesdk"
