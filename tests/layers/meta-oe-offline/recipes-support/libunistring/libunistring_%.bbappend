# libunistring 1.4.2 is not served here (Debian has it only as .tar.xz, and that file answers 404): the nearest release, 1.3, as the signed upstream .tar.xz Debian carries.
PV = "1.3"
SRC_URI:remove = "${GNU_MIRROR}/libunistring/libunistring-${PV}.tar.gz"
SRC_URI:prepend = "${GNU_MIRROR}/libunistring/libunistring-${PV}.tar.xz "
SRC_URI[sha256sum] = "f245786c831d25150f3dfb4317cda1acc5e3f79a5da4ad073ddca58886569527"
# 1.3's manual (whose checksum stands for its license text) differs from 1.4.2's.
LIC_FILES_CHKSUM = "file://COPYING.LIB;md5=6a6a8e020838b23406c81b19c1d46df6 \
                    file://README;beginline=45;endline=65;md5=3a896a943b4da2c551e6be1af27eff8d \
                    file://doc/libunistring.texi;md5=36b7d20daef7fbcc032333ae2429aa94"
