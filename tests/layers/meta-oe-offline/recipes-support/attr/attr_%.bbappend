# attr 2.6.0 is not served here (Debian has it only as .tar.xz, and that file answers 404): the nearest release, 2.5.2, as the signed upstream .tar.xz Debian carries.
PV = "2.5.2"
SRC_URI:remove = "${SAVANNAH_GNU_MIRROR}/attr/${BP}.tar.gz"
SRC_URI:prepend = "${SAVANNAH_GNU_MIRROR}/attr/${BP}.tar.xz "
SRC_URI[sha256sum] = "f2e97b0ab7ce293681ab701915766190d607a1dba7fae8a718138150b700a70b"
