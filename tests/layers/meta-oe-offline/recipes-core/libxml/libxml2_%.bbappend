# libxml2 2.15.3 is in no Debian release and the W3C test tarball is not served here: the nearest release Debian serves, 2.15.4, as Debian repacks it (dfsg); the test tarball (ptest only) and CVE-2026-11979.patch (2.15.4 has the fix) are dropped.
PV = "2.15.4"
SRC_URI:remove = "${GNOME_MIRROR}/${GNOMEBN}/${@gnome_verdir("${PV}")}/${GNOMEBN}-${PV}.tar.${GNOME_COMPRESS_TYPE};name=archive"
SRC_URI:remove = "http://www.w3.org/XML/Test/xmlts20130923.tar;subdir=${BP};name=testtar"
SRC_URI:remove = "file://CVE-2026-11979.patch"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/libx/libxml2/libxml2_${PV}+dfsg.orig.tar.xz;name=archive "
SRC_URI[archive.sha256sum] = "5868d20db42ee21e4881bc53050c7fa226286a277cb3d0543f76b81f7571e934"
