# elfutils 0.196 is not served here (Debian lists the identical file but its pool answers 404): the nearest release Debian serves, 0.192, as its orig tarball; 0001-config-eu.am-do-not-force-Werror.patch does not apply to 0.192 and is dropped, and ptest.patch applies with fuzz (other copyright year and AC_PREREQ next to its change), so fuzz is a warning here.
PV = "0.192"
SRC_URI:remove = "https://sourceware.org/elfutils/ftp/${PV}/${BP}.tar.bz2"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/e/elfutils/elfutils_${PV}.orig.tar.bz2 "
SRC_URI[sha256sum] = "616099beae24aba11f9b63d86ca6cc8d566d968b802391334c91df54eab416b4"
SRC_URI:remove = "file://0001-config-eu.am-do-not-force-Werror.patch"
ERROR_QA:remove = "patch-fuzz"
WARN_QA:append = " patch-fuzz"
