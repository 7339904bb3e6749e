# libidn2 2.3.8 upstream is not served here: the same version as Debian's orig tarball (a snapshot of the v2.3.8 git tag with gnulib, without configure: autoreconf makes it).
SRC_URI:remove = "${GNU_MIRROR}/libidn/${BPN}-${PV}.tar.gz"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/libi/libidn2/libidn2_${PV}.orig.tar.gz "
SRC_URI[sha256sum] = "bbad1678d35d28e2c62e6a2577083829461402d9e47b908791c55314a5cb5e04"
S = "${UNPACKDIR}/libidn2-v${PV}"
