# rpm 4.20.1 is wanted from git (GitHub, rpm-4.20.x), which is not reachable here: the 4.20.1 release as Debian repacks it (dfsg; a git-to-tarball switch).
SRC_URI:remove = "git://github.com/rpm-software-management/rpm;branch=rpm-4.20.x;protocol=https"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/r/rpm/rpm_${PV}+dfsg.orig.tar.xz "
SRC_URI[sha256sum] = "f4ff67f20e4e56b2713ab24808b036aadaf11a62e2069d23e2846191e009af00"
S = "${UNPACKDIR}/rpm-${PV}"
