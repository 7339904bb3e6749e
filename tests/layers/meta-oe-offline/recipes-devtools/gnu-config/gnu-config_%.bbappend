# config.git is not reachable here and gnu-config has no release tarballs: the newest config.guess and config.sub at hand, from Debian's libtool 2.6.2 tarball (build-aux, 2026-05-17).
SRC_URI:remove = "git://git.savannah.gnu.org/git/config.git;protocol=https;branch=master"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/libt/libtool/libtool_2.6.2.orig.tar.xz;subdir=libtool "
SRC_URI[sha256sum] = "24298b805b633bb8c5f25d0b6f7078c85039e690fc1990a273604e5136cf67b3"
S = "${UNPACKDIR}/libtool/libtool-2.6.2/build-aux"
