# libcap-ng 0.9.5 is wanted from git (GitHub), which is not reachable here, and is in no Debian release: the nearest release Debian serves, 0.9.6, as its orig tarball (a GitHub snapshot; a git-to-tarball switch).
PV = "0.9.6"
SRC_URI:remove = "git://github.com/stevegrubb/libcap-ng.git;protocol=https;branch=master;tag=v${PV}"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/libc/libcap-ng/libcap-ng_${PV}.orig.tar.gz "
SRC_URI[sha256sum] = "63bb2e9c471b9b98514a7a86115d03aeb3d065c1666ca238f5f97156d09247c3"
S = "${UNPACKDIR}/stevegrubb-libcap-ng-c382c64"
