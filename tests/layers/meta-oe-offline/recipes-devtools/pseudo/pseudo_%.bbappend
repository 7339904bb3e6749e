# pseudo 1.9.11 is wanted from git (yoctoproject), which is not reachable here (Debian's 1.9.11 answers 404), and the prebuilt glibc 2.33 tarball exists nowhere here: the nearest snapshot Debian serves, 1.9.2+git20250711 (d1db9c2), as its orig tarball (a git-to-tarball switch), without the prebuilt tarball and its older-glibc-symbols.patch.
PV = "1.9.2+git20250711"
SRC_URI:remove = "git://git.yoctoproject.org/pseudo;branch=master;protocol=https;tag=pseudo-${PV}"
SRC_URI:remove = "http://downloads.yoctoproject.org/mirror/sources/pseudo-prebuilt-2.33.tar.xz;subdir=${BB_GIT_DEFAULT_DESTSUFFIX}/prebuilt;name=prebuilt file://older-glibc-symbols.patch"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/p/pseudo/pseudo_1.9.2+git20250711+d1db9c219abf.orig.tar.xz "
SRC_URI[sha256sum] = "4bb3b20e2e487db4d0668f5be7269d6e48556f1c73e1ee37a08ce4e734f30053"
S = "${UNPACKDIR}/pseudo-1.9.2+git20250711+d1db9c219abf"
