# m4 1.4.21 is not served here (Debian has it only as .tar.xz, and that file answers 404): the nearest release, 1.4.19, as the signed upstream .tar.xz Debian carries.
PV = "1.4.19"
SRC_URI:remove = "${GNU_MIRROR}/m4/m4-${PV}.tar.gz"
SRC_URI:prepend = "${GNU_MIRROR}/m4/m4-${PV}.tar.xz "
SRC_URI[sha256sum] = "63aede5c6d33b6d9b13511cd0be2cac046f2e70fd0a07aa9573a04a82783af96"
# 1.4.19's examples/COPYING names other years than 1.4.21's.
LIC_FILES_CHKSUM = "file://COPYING;md5=1ebbd3e34237af26da5dc08a4e440464 \
                    file://examples/COPYING;md5=4031593b2166d6c47cae282d944a7ede"
