# popt 1.19 upstream is not served here: the same version as Debian repacks it (dfsg).
SRC_URI:remove = "http://ftp.rpm.org/popt/releases/popt-1.x/${BP}.tar.gz"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/p/popt/popt_${PV}+dfsg.orig.tar.xz "
SRC_URI[sha256sum] = "4cd0cd2963d0c4078f65949599d97135c15ee6c09cf3a36a9a1b2753025bb06b"
