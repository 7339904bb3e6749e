# lzlib 1.16 is not served here (Debian has it only as .tar.xz, and that file answers 404): the nearest release Debian serves, 1.15, as its orig tarball.
PV = "1.15"
SRC_URI:remove = "${SAVANNAH_GNU_MIRROR}/lzip/lzlib/lzlib-${PV}.tar.gz"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/l/lzlib/lzlib_${PV}.orig.tar.xz "
SRC_URI[sha256sum] = "1bbeee856e6d769283e713be792c6399677d3346e566aca74070f772c47d48e4"
