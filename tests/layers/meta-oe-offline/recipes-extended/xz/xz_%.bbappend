# xz 5.8.3 upstream .tar.gz is not served here: the same version as Debian's .orig.tar.xz.
SRC_URI:remove = "https://github.com/tukaani-project/xz/releases/download/v${PV}/xz-${PV}.tar.gz"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/x/xz-utils/xz-utils_${PV}.orig.tar.xz "
SRC_URI[sha256sum] = "fff1ffcf2b0da84d308a14de513a1aa23d4e9aa3464d17e64b9714bfdd0bbfb6"
