# libffi 3.8.0 upstream is not served here: the same version as Debian's orig tarball (other bytes than upstream's).
SRC_URI:remove = "${GITHUB_BASE_URI}/download/v${PV}/${BPN}-${PV}.tar.gz"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/libf/libffi/libffi_${PV}.orig.tar.gz "
SRC_URI[sha256sum] = "bf40d752d8f5fd4505bcd1c7d4208ea87fd12c91f087e359651c776748352dc0"
