# gawk 5.4.1 is in no Debian release: the nearest release Debian serves, 5.3.2, as its orig tarball.
PV = "5.3.2"
SRC_URI:remove = "${GNU_MIRROR}/gawk/gawk-${PV}.tar.xz"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/g/gawk/gawk_${PV}.orig.tar.xz "
SRC_URI[sha256sum] = "3b2a95bc6de68e2dc833ce547e366d62001274f8b892c6424f34f70d321cda70"
