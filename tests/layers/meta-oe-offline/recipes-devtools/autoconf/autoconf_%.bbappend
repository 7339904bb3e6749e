# autoconf 2.73 is not served here (Debian has it only as .tar.xz, and that file answers 404): the nearest release, 2.72, as the upstream .tar.xz Debian carries.
PV = "2.72"
SRC_URI:remove = "${GNU_MIRROR}/autoconf/${BP}.tar.gz"
SRC_URI:prepend = "${GNU_MIRROR}/autoconf/${BP}.tar.xz "
SRC_URI[sha256sum] = "ba885c1319578d6c94d46e9b0dceb4014caafe2490e437a0dbca3f270a223f5a"
# 2.72's autoreconf lacks --exclude, which autotools.bbclass and libtool pass (2.73 has it).
FILESEXTRAPATHS:prepend := "${THISDIR}/files:"
SRC_URI += "file://autoreconf-exclude-option.patch"
# 2.72's COPYING (GPL-2.0 text) differs from 2.73's in the FSF's address line.
LIC_FILES_CHKSUM = "file://COPYING;md5=cc3f3a7596cb558bbd9eb7fbaa3ef16c \
                    file://COPYINGv3;md5=1ebbd3e34237af26da5dc08a4e440464"
