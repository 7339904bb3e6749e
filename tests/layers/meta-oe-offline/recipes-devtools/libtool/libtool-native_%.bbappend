# libtool 2.6.2 upstream is not served here: the same version as Debian's regenerated tarball (other bytes than upstream's).
SRC_URI:remove = "${GNU_MIRROR}/libtool/libtool-${PV}.tar.xz"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/libt/libtool/libtool_${PV}.orig.tar.xz "
SRC_URI[sha256sum] = "24298b805b633bb8c5f25d0b6f7078c85039e690fc1990a273604e5136cf67b3"
