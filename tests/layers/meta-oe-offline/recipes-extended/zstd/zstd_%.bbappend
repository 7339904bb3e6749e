# zstd 1.5.7 is wanted from git (GitHub), which is not reachable here: the same release as Debian repacks it (+dfsg; a git-to-tarball switch).
SRC_URI:remove = "git://github.com/facebook/zstd.git;branch=release;protocol=https;tag=v${PV}"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/libz/libzstd/libzstd_${PV}+dfsg.orig.tar.xz "
SRC_URI[sha256sum] = "0c092ef267edce57ba7f3f2645c861f72eaf5e76273c6c3632869423464b90a5"
S = "${UNPACKDIR}/zstd-${PV}"
