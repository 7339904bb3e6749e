# linux 7.2 is not served here (Debian has only DFSG repacks of 7.2.x point releases, most answering 404): the nearest, 7.2.6, as Debian repacks it.
PV = "7.2.6"
SRC_URI:remove = "${KERNELORG_MIRROR}/linux/kernel/v${HEADER_FETCH_VER}/linux-${PV}.tar.${KORG_ARCHIVE_COMPRESSION}"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/l/linux/linux_${PV}.orig.tar.xz "
SRC_URI[sha256sum] = "1819c494eeda2be08fdca1b4d4d8d669e5a4215395595503502aeb78d019882a"
