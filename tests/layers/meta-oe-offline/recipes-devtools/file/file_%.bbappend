# file 5.48 is wanted from git (GitHub), which is not reachable here, and is in no Debian release: the nearest release Debian serves, 5.47, as its orig tarball (upstream's signed tarball; a git-to-tarball switch).
PV = "5.47"
SRC_URI:remove = "git://github.com/file/file.git;branch=master;protocol=https"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/f/file/file_${PV}.orig.tar.gz "
SRC_URI[sha256sum] = "45672fec165cb4cc1358a2d76b5d57d22876dcb97ab169427ac385cbe1d5597a"
S = "${UNPACKDIR}/file-${PV}"
