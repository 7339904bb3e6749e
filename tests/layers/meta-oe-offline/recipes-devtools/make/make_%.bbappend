# make 4.4.1 upstream is not served here: the same version as Debian repacks it (make-dfsg, GFDL manual removed).
SRC_URI:remove = "${GNU_MIRROR}/make/make-${PV}.tar.gz"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/m/make-dfsg/make-dfsg_${PV}.orig.tar.xz "
SRC_URI[sha256sum] = "3b16b00ea1079af9f8096bbc71ff7cc00c249fc6a862003da3c42308a0adb0fe"
