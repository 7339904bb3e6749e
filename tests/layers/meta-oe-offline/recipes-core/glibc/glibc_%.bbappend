# glibc 2.44+git is wanted from git (sourceware, release/2.44/master), which is not reachable here: the 2.44 release as Debian's orig tarball (a git-to-tarball switch; later branch commits are missing).
SRC_URI:remove = "${GLIBC_GIT_URI};branch=${SRCBRANCH};name=glibc"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/g/glibc/glibc_2.44.orig.tar.xz "
SRC_URI[sha256sum] = "8c2b75d3118d2bf15fe4687af9f25553588a28de3328393c89a40bba5dfc8a53"
S = "${UNPACKDIR}/glibc-2.44"
