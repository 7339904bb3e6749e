# gmp 6.3.0 upstream is not served here: the same version as Debian repacks it (dfsg).
SRC_URI:remove = "https://gmplib.org/download/${BPN}/${BP}${REVISION}.tar.bz2"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/g/gmp/gmp_${PV}+dfsg.orig.tar.xz "
SRC_URI[sha256sum] = "bd2966e6d277f79328e894a5a9f3ba3fbf2ed2be81def5f48623e30c23fb1572"
S = "${UNPACKDIR}/gmp-${PV}+dfsg"
