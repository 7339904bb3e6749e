# p11-kit 0.26.5 is wanted from git with submodules (GitHub), which is not reachable here: the same release as Debian's orig tarball (upstream's signed release tarball; a git-to-tarball switch).
SRC_URI:remove = "gitsm://github.com/p11-glue/p11-kit;branch=master;protocol=https;tag=${PV}"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/p/p11-kit/p11-kit_${PV}.orig.tar.xz "
SRC_URI[sha256sum] = "f2cc09111e44bf3fea58f023180b33acea90aa82d042d6fbb623fbc5ba033bb7"
S = "${UNPACKDIR}/p11-kit-${PV}"
