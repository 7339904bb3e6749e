# bison 3.8.2 upstream is not served here: the same version as Debian repacks it (dfsg, GFDL manual removed).
SRC_URI:remove = "${GNU_MIRROR}/bison/bison-${PV}.tar.xz"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/b/bison/bison_${PV}+dfsg.orig.tar.xz "
SRC_URI[sha256sum] = "dff8a3c96dd34121828f62a7fa49e1f7765815b89e59f564e8d2a9e71c177be5"
