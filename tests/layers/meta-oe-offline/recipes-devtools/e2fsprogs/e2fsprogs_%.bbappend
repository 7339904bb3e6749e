# e2fsprogs 1.47.4 is wanted from git (kernel.org), which is not reachable here: the same release as Debian's orig tarball (upstream's signed tarball; a git-to-tarball switch).
SRC_URI:remove = "git://git.kernel.org/pub/scm/fs/ext2/e2fsprogs.git;branch=master;protocol=https;tag=v${PV}"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/e/e2fsprogs/e2fsprogs_${PV}.orig.tar.gz "
SRC_URI[sha256sum] = "2cec05f39c20ee621f14926195664e66e6017190ac8e4bbdb16d86082e43c5da"
S = "${UNPACKDIR}/e2fsprogs-${PV}"
