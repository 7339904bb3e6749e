SUMMARY = "Block-sorting file compressor"
DESCRIPTION = "bzip2 compresses files with the Burrows-Wheeler block-sorting \
algorithm and Huffman coding; libbz2 is the library behind it."
HOMEPAGE = "https://sourceware.org/bzip2/"
SECTION = "console/utils"
LICENSE = "bzip2-1.0.6"
LIC_FILES_CHKSUM = "file://LICENSE;beginline=4;endline=37;md5=600af43c50f1fcb82e32f19b32df4664"

# Debian's bzip2_1.0.8.orig.tar.gz is this file, byte for byte.
SRC_URI = "https://sourceware.org/pub/${BPN}/${BP}.tar.gz"
SRC_URI[sha256sum] = "ab5a03176ee106d3f0fa90e381da478ddae405918153cca248e682cd0c4a2269"
DEBIAN_SOURCE_PACKAGE = "bzip2"

inherit make

# bzip2 ships two Makefiles: Makefile-libbz2_so builds the shared library
# (and a bzip2 linked against it), Makefile the static library and the
# statically linked programs. Its install rule writes absolute symlinks
# into DESTDIR, so do_install is our own.
BZIP2_SHARED = "1"
BZIP2_SHARED:class-native = "0"
EXTRA_OEMAKE = "'CC=${CC}' 'AR=${AR}' 'RANLIB=${RANLIB}' \
                'CFLAGS=${CPPFLAGS} ${CFLAGS} -fPIC -D_FILE_OFFSET_BITS=64' \
                'LDFLAGS=${LDFLAGS}'"

do_compile() {
	if [ "${BZIP2_SHARED}" = "1" ]; then
		oe_runmake -f Makefile-libbz2_so
	fi
	oe_runmake libbz2.a bzip2 bzip2recover
}

do_install() {
	install -d ${D}${bindir} ${D}${libdir} ${D}${includedir} ${D}${mandir}/man1
	if [ "${BZIP2_SHARED}" = "1" ]; then
		install -m 0755 bzip2-shared ${D}${bindir}/bzip2
		install -m 0755 libbz2.so.${PV} ${D}${libdir}/
		ln -sf libbz2.so.${PV} ${D}${libdir}/libbz2.so.1.0
		ln -sf libbz2.so.${PV} ${D}${libdir}/libbz2.so
	else
		install -m 0755 bzip2 ${D}${bindir}/bzip2
	fi
	install -m 0755 bzip2recover bzdiff bzgrep bzmore ${D}${bindir}/
	for link in bunzip2 bzcat; do
		ln -sf bzip2 ${D}${bindir}/$link
	done
	ln -sf bzdiff ${D}${bindir}/bzcmp
	ln -sf bzgrep ${D}${bindir}/bzegrep
	ln -sf bzgrep ${D}${bindir}/bzfgrep
	ln -sf bzmore ${D}${bindir}/bzless
	install -m 0644 bzlib.h ${D}${includedir}/
	install -m 0644 libbz2.a ${D}${libdir}/
	install -m 0644 bzip2.1 bzdiff.1 bzgrep.1 bzmore.1 ${D}${mandir}/man1/
}

PACKAGE_BEFORE_PN = "libbz2"
SUMMARY:libbz2 = "Library for bzip2 compression and decompression"
FILES:libbz2 = "${libdir}/libbz2.so.*"
RDEPENDS:${PN} = "libbz2"
RDEPENDS:${PN}-dev = "libbz2 (= ${EXTENDPKGV})"

BBCLASSEXTEND = "native nativesdk"
