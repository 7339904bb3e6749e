# m4 1.4.21 is not served here (Debian has it only as .tar.xz, and that file answers 404): the nearest release, 1.4.19, as the signed upstream .tar.xz Debian carries.
PV = "1.4.19"
SRC_URI:remove = "${GNU_MIRROR}/m4/m4-${PV}.tar.gz"
SRC_URI:prepend = "${GNU_MIRROR}/m4/m4-${PV}.tar.xz "
SRC_URI[sha256sum] = "63aede5c6d33b6d9b13511cd0be2cac046f2e70fd0a07aa9573a04a82783af96"
