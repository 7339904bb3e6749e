# ninja 1.13.2 is wanted from git (GitHub), which is not reachable here: the same release as Debian's orig tarball (a git-to-tarball switch).
SRC_URI:remove = "git://github.com/ninja-build/ninja.git;branch=release;protocol=https;tag=v${PV}"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/n/ninja-build/ninja-build_${PV}.orig.tar.gz "
SRC_URI[sha256sum] = "974d6b2f4eeefa25625d34da3cb36bdcebe7fbce40f4c16ac0835fd1c0cbae17"
S = "${UNPACKDIR}/ninja-${PV}"
