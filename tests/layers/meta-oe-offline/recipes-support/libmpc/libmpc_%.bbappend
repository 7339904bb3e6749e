# mpc 1.4.1 is in no Debian release: the nearest release Debian serves, 1.3.1, as its orig tarball (mpclib3).
PV = "1.3.1"
SRC_URI:remove = "${GNU_MIRROR}/mpc/mpc-${PV}.tar.xz"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/m/mpclib3/mpclib3_${PV}.orig.tar.gz "
SRC_URI[sha256sum] = "ab642492f5cf882b74aa0cb730cd410a81edcdbec895183ce930e706c1c759b8"
