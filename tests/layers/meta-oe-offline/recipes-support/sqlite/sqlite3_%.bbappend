# sqlite 3.53.4's amalgamation tarball is not served here: the same version as Debian's orig tarball, the full source tree (which generates the amalgamation when built).
SRC_URI:remove = "http://www.sqlite.org/2026/sqlite-autoconf-${SQLITE_PV}.tar.gz"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/s/sqlite3/sqlite3_${PV}.orig.tar.xz "
SRC_URI[sha256sum] = "05366adc8ee80c6b1faa71285b49d133c2121238ca58934b077fdeb95934abd4"
S = "${UNPACKDIR}/sqlite3-${PV}"
# The full tree has no sqlite3.h (the build generates it): the same license header, in the file it is made from.
LIC_FILES_CHKSUM = "file://src/sqlite.h.in;endline=11;md5=786d3dc581eff03f4fd9e4a77ed00c66"
