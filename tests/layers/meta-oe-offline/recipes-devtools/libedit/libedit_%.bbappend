# libedit 20260512-3.1 is not served here (Debian lists it but its pool answers 404): the nearest release Debian serves, 20250104-3.1, as its orig tarball.
PV = "20250104-3.1"
SRC_URI:remove = "http://www.thrysoee.dk/editline/${BP}.tar.gz"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/libe/libedit/libedit_3.1-20250104.orig.tar.gz "
SRC_URI[sha256sum] = "23792701694550a53720630cd1cd6167101b5773adddcb4104f7345b73a568ac"
