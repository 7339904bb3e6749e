# rsync 3.5.0 upstream is not served here: the same version as Debian repacks it (+ds1).
SRC_URI:remove = "https://download.samba.org/pub/${BPN}/src/${BP}.tar.gz"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/r/rsync/rsync_${PV}+ds1.orig.tar.xz "
SRC_URI[sha256sum] = "d5de0c8a95b00e0f50038ba04526bcbd5fe4f3ff97b4035bb97b084398bfbb60"
