SUMMARY = "Zlib compression library"
DESCRIPTION = "zlib is a general-purpose lossless data compression library \
implementing the deflate format and the zlib and gzip wrappers \
(RFC 1950, 1951 and 1952)."
HOMEPAGE = "https://zlib.net/"
SECTION = "libs"
LICENSE = "Zlib"
LIC_FILES_CHKSUM = "file://zlib.h;beginline=6;endline=23;md5=5377232268e952e9ef63bc555f7aa6c0"

# Upstream's file is https://zlib.net/fossils/zlib-1.3.1.tar.gz (sha256
# 9a93b2b7dfdac77ceba5a558a580e74667dd6fede4585b91eefb60f03b72df23), but no
# Debian suite carries it unchanged: Debian repacks zlib (it drops contrib/
# code, hence "dfsg" in the version). The recipe therefore fetches Debian's
# repacked .orig tarball from the Debian pool, with that file's own
# checksum, so that machines reaching only Debian's archive can build it.
SRC_URI = "https://deb.debian.org/debian/pool/main/z/zlib/zlib_1.3.dfsg+really${PV}.orig.tar.gz"
SRC_URI[sha256sum] = "60dd315c07f616887caa029408308a018ace66e3d142726a97db164b3b8f69fb"
# Debian source package that carries this tarball (scripts/fill-downloads-mirror).
DEBIAN_SOURCE_PACKAGE = "zlib"

# zlib's own configure script (not autoconf): shared and static library
# for the target, static only for the native variant.
ZLIB_LINKAGE = ""
ZLIB_LINKAGE:class-native = "--static"

do_configure() {
	./configure --prefix=${prefix} --libdir=${libdir} --sharedlibdir=${libdir} \
		--includedir=${includedir} ${ZLIB_LINKAGE} \
		|| bbfatal "zlib's configure failed"
	# configure.log starts with the date and time of the run: keep the build
	# directory reproducible (the log is not needed once configure succeeded).
	rm -f configure.log
}

do_compile() {
	oe_runmake
}

do_install() {
	oe_runmake 'DESTDIR=${D}' install
}

BBCLASSEXTEND = "native nativesdk"
