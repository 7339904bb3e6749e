# binutils 2.47 is wanted from git (sourceware, binutils-2_47-branch), which is not reachable here: the 2.47 release as Debian's orig tarball (a git-to-tarball switch; later branch commits are missing); 0008-Use-libtool-2.4.patch is applied without its libbacktrace/ part (not in the release) and its "#line"-only hunks (the release's ld/configure has other line numbers).
SRC_URI:remove = "${BINUTILS_GIT_URI}"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/b/binutils/binutils_${PV}.orig.tar.xz "
SRC_URI[sha256sum] = "ce42ea86f13688adadca942b375224775b98265c3a6f4a04b0ea898a06c65efb"
S = "${UNPACKDIR}/binutils-${PV}"
inherit offline-patch-subset
SRC_URI:remove = "file://0008-Use-libtool-2.4.patch"
SRC_URI += "file://0008-Use-libtool-2.4.patch;apply=no"
OFFLINE_PATCH_SUBSET = "0008-Use-libtool-2.4.patch:libbacktrace/"
