# ncurses 6.6 is wanted from git (ncurses-snapshots on GitHub), which is not reachable here: the nearest snapshot Debian serves, 6.6-20251231, as its orig tarball (upstream's signed tarball; a git-to-tarball switch).
SRC_URI:remove = "git://github.com/ThomasDickey/ncurses-snapshots.git;protocol=https;branch=master"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/n/ncurses/ncurses_6.6+20251231.orig.tar.gz "
SRC_URI[sha256sum] = "e280541f4f601b8586bec305976c873fd641607f9bc4254bf661034dcccac4e9"
S = "${UNPACKDIR}/ncurses-6.6-20251231"
