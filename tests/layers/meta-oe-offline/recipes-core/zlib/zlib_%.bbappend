# zlib 1.3.2 upstream is not served here: the same version as Debian repacks it (dfsg).
SRC_URI:remove = "https://zlib.net/${BP}.tar.gz"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/z/zlib/zlib_1.3.dfsg+really${PV}.orig.tar.gz "
SRC_URI[sha256sum] = "7b6903eb019983987b7112eccf90f1703f1c6c0e0cede36564bf611d19ca579d"
S = "${UNPACKDIR}/zlib-1.3.dfsg+really${PV}"
