# cmake 4.4.2 is in no Debian release (experimental's 4.4.4 answers 404): the nearest release Debian serves, 4.3.4, as its orig tarball.
PV = "4.3.4"
SRC_URI:remove = "https://cmake.org/files/v${CMAKE_MAJOR_VERSION}/cmake-${PV}.tar.gz"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/c/cmake/cmake_${PV}.orig.tar.gz "
SRC_URI[sha256sum] = "fdeff897b9eb49d764539f2b1edc6eb7e1440df325678a97c1978499e931adda"
# 4.3.4 bundles other releases of libuv and curl, whose license files differ from 4.4.2's.
LIC_FILES_CHKSUM:remove = "file://Utilities/cmlibuv/LICENSE;md5=74b6f2f7818a4e3a80d03556f71b129b file://Utilities/cmcurl/COPYING;md5=0515352b285b9c3f66464b135c9c0fdc"
LIC_FILES_CHKSUM:append = " file://Utilities/cmlibuv/LICENSE;md5=ad93ca1fffe931537fcf64f6fcce084d file://Utilities/cmcurl/COPYING;md5=72f4e9890e99e68d77b7e40703d789b8"
