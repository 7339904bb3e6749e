# libarchive 3.8.9 is in no Debian release (sid's 3.8.10 answers 404): the nearest release Debian serves, 3.7.4, as its orig tarball (upstream's signed .tar.xz); two patches do not apply to 3.7.4 and are dropped (a backported fix whose code 3.7.4 has in another form, and a change to a test 3.7.4 lacks).
PV = "3.7.4"
SRC_URI:remove = "https://libarchive.org/downloads/libarchive-${PV}.tar.gz"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/liba/libarchive/libarchive_${PV}.orig.tar.xz "
SRC_URI[sha256sum] = "f887755c434a736a609cbd28d87ddbfbe9d6a3bb5b703c22c02f6af80a802735"
SRC_URI:remove = "file://0001-append_filter-Use-last-bidder-for-filter.patch file://0001-test-skip-ppmd8-aes256-streaming-test-when-no-crypto.patch"
# 3.7.4's COPYING differs from 3.8.9's.
LIC_FILES_CHKSUM = "file://COPYING;md5=d499814247adaee08d88080841cb5665"
