# pkgconf 3.0.5 is in no Debian release (sid's 2.5.1 answers 404): the nearest release Debian serves, 1.8.1, as its orig tarball.
PV = "1.8.1"
SRC_URI:remove = "https://distfiles.ariadne.space/pkgconf/pkgconf-${PV}.tar.xz"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/p/pkgconf/pkgconf_${PV}.orig.tar.xz "
SRC_URI[sha256sum] = "644361ada2942be05655d4452eb018791647c31bba429b287f1f68deb2dc6840"
# 1.8.1's COPYING names other years than 3.0.5's.
LIC_FILES_CHKSUM = "file://COPYING;md5=2214222ec1a820bd6cc75167a56925e0"
