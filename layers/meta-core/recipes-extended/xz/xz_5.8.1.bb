SUMMARY = "XZ Utils: LZMA2 compression tools and the liblzma library"
DESCRIPTION = "XZ Utils compress and decompress the .xz and legacy .lzma \
formats with the LZMA2 algorithm; liblzma is the library behind them."
HOMEPAGE = "https://tukaani.org/xz/"
SECTION = "console/utils"

# liblzma and the programs are 0BSD; the xzgrep/xzdiff/xzless/xzmore
# scripts are GPL-2.0-or-later; the getopt_long fallback (not used with
# glibc) is LGPL-2.1-or-later.
LICENSE = "0BSD AND GPL-2.0-or-later AND LGPL-2.1-or-later"
LICENSE:${PN} = "0BSD AND GPL-2.0-or-later"
LICENSE:liblzma = "0BSD"
LIC_FILES_CHKSUM = "file://COPYING;md5=d38d562f6112174de93a9677682231b2 \
                    file://COPYING.0BSD;md5=0672c210ce80c83444339b9aa31fee2f \
                    file://COPYING.GPLv2;md5=b234ee4d69f5fce4486a80fdaf4a4263 \
                    file://COPYING.LGPLv2.1;md5=4fbd65380cdd255951079008b364516c"

# Debian's xz-utils_5.8.1.orig.tar.xz is this release file, byte for byte
# (Debian keeps upstream's signature beside it; it verifies).
SRC_URI = "https://github.com/tukaani-project/xz/releases/download/v${PV}/${BP}.tar.xz"
SRC_URI[sha256sum] = "0b54f79df85912504de0b14aec7971e3f964491af1812d83447005807513cd9e"
DEBIAN_SOURCE_PACKAGE = "xz-utils"

inherit autotools

EXTRA_OECONF = "--disable-nls --enable-threads=posix --enable-sandbox=landlock"
# Native tools: static liblzma (see native.bbclass), no manuals.
EXTRA_OECONF:append:class-native = " --disable-shared --disable-doc"

PACKAGE_BEFORE_PN = "liblzma"
SUMMARY:liblzma = "LZMA2 compression library"
FILES:liblzma = "${libdir}/liblzma.so.*"
RDEPENDS:${PN} = "liblzma"
RDEPENDS:${PN}-dev = "liblzma (= ${EXTENDPKGV})"

BBCLASSEXTEND = "native nativesdk"
