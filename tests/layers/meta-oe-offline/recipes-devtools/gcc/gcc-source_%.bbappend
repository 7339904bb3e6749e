# gcc 16.2.0's upstream tarball is not served here: the same version as Debian repacks it (gcc-16.2.0-dfsg.tar.xz, GFDL manuals removed), which Debian's orig tarball wraps and is unpacked from; 0002-gcc-poison-system-directories.patch is applied without its gcc/doc/invoke.texi part (that manual is a stub there).
BASEURI = "${DEBIAN_ARCHIVE}/pool/main/g/gcc-16/gcc-16_${PV}.orig.tar.gz"
SRC_URI[sha256sum] = "1f12db4797c619339c7285ce109b35888cafad2487a388430e62f03b65e9ed64"
do_unpack[postfuncs] =+ "unpack_debian_gcc_dfsg"
unpack_debian_gcc_dfsg() {
	tar -xJf ${UNPACKDIR}/gcc-16-${PV}/gcc-${PV}-dfsg.tar.xz -C ${UNPACKDIR}
	rm -rf ${UNPACKDIR}/gcc-16-${PV}
}
inherit offline-patch-subset
SRC_URI:remove = "file://0002-gcc-poison-system-directories.patch"
SRC_URI += "file://0002-gcc-poison-system-directories.patch;apply=no"
OFFLINE_PATCH_SUBSET = "0002-gcc-poison-system-directories.patch:gcc/doc/"
